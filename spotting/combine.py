"""`ClassificationSecondBased.py --combine 1|2`: the per-second outputs of a video run and an audio run
fused by late fusion method 1 or 2 (training.late_fusion) into a new output, written as a model's (no
TensorFlow)."""
from __future__ import annotations

import functools

from tqdm import tqdm

import dataset
from base import classes, errors
from evaluation import outputs, plots
from runtime import process
from spotting import games as spotting_games
from training.late_fusion import fuse_probabilities


def combine(args) -> int:
    """Fuse `--video_output` and `--audio_output` into `--output` for every game of the run. Returns the
    exit code (0).

    Raises:
        errors.DataError: a prefix is missing, or an output file is missing or unreadable.
    """
    if not (args.video_output and args.audio_output and args.output):
        raise errors.DataError("--combine", "needs --video_output, --audio_output and --output prefixes")
    games, root, _ = spotting_games.games_of(args)
    plotted = spotting_games.plotted_games(args, games)
    for game in tqdm(games, desc=f"late fusion {args.combine}", unit="game", disable=process.progress_off(args.no_progress)):
        if not args.redo and spotting_games.game_done(args, game, args.output):
            continue
        fused = {}
        for half in dataset.HALVES:
            paths = [outputs.prediction_file(args.output_dir, game, prefix, half)
                     for prefix in (args.video_output, args.audio_output)]
            video, audio = (outputs.read_prediction_file(path, None) for path in paths)  # either class set
            if video.shape[1] != audio.shape[1]:
                raise errors.DataError(paths[1], f"has {audio.shape[1]} columns, {paths[0]} {video.shape[1]}: "
                                                 "late fusion needs two outputs of the same class set")
            fused[half] = fuse_probabilities(video, audio, args.combine)
        spotted = classes.of_width(fused[dataset.HALVES[0]].shape[1])
        plot = None if game not in plotted else functools.partial(
            plots.plot_spots, outputs.timeline_file(args.output_dir, game, args.output), game, None, fused,
            spotting_games.game_events(root, game, spotted), f"{args.output} (late fusion method {args.combine})",
            plots.TIMELINE_LOOK)
        spotting_games.write_game_outputs(args, game, args.output, fused, spotted, plot)
    print(f"{args.output}: method {args.combine} of {args.video_output} and {args.audio_output} for "
          f"{len(games)} games in {args.output_dir}" + spotting_games.json_note(args, args.output))
    return 0
