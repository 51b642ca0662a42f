"""Sliding-window spotting: per-second class probabilities over every half of the listed games.

    .venv/bin/python ClassificationSecondBased.py --model Model/vlad-archi5-20sec_<date> \\
        --testing listgame_Test_100.npy --output VLAD-Archi5-20sec-Spotting --output_dir predictions

As the authors' `ClassificationSecondBased.py` (and SoccerNet's): each half is padded with copies of its
first and last frame, and a window of the model's length T slides over it with a stride of one second,
so window i covers seconds [i - T/2, i + T/2); the model's sigmoid outputs give, per half, an array of
shape (floor(frames / 2), 1 + C) (the background and the model's C classes: card, subs, goal for v1,
SoccerNet-v2's 17 for v2), saved as
`<output_dir>/<game>/<output>_Half_<h>.npy`, which compute_mAP.py reads.

The model is a run folder of ClassificationMinuteBased.py (its `best_model.keras` and `args.json`), not
a hard-coded checkpoint: window size, features and architecture come from the run. The original flags
are still accepted; one that contradicts the run is an error. In the original's batch-norm mode
(`batch`, statistics of the evaluated batch) each half is cut into four consecutive parts, as the
authors' script did; in `moving` mode the batch size does not change the result (`--batch_size`). For
the LOUPE poolings each frame's projection on the clusters (in `moving` mode its whole soft assignment)
is computed once per half and the windows are gathered and pooled in the graph (networks/sliding.py;
the same outputs as window by window, which `--window_by_window` restores).

Also: `--combine 1|2` fuses the per-second outputs of a video run and an audio run (late fusion
methods 1 and 2, fusion.py) into a new output; a SoccerNet `results_spotting.json` per game (from a
candidate method and threshold), which the official evaluator reads; a timeline plot for the first
`--plot_games` games (or the games it names). Games whose outputs exist are skipped unless `--redo`; files are written
atomically.

This script reads and checks its flags and sets the process up; the work is the spotting library's
(spotting/games.py: the games and their outputs; spotting/spot.py: the model over the windows, imported
once TensorFlow is started; spotting/combine.py: `--combine`).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

from base import classes, errors, files, precision
from evaluation import candidates, outputs
from networks import names
from runtime import cli, process

log = logging.getLogger("ClassificationSecondBased")
TOP = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=cli.HelpFormatter)
    original = parser.add_argument_group("flags of the original script (model flags default to the run's)")
    original.add_argument("--testing", default=str(TOP / "listgame_Test_100.npy"), help="game list to spot")
    original.add_argument("--featuresVideo", default=None, help="video features (default: the run's)")
    original.add_argument("--featuresAudio", default=None, help="audio features (default: the run's)")
    original.add_argument("--architecture", default=None, help="must match the run's architecture")
    original.add_argument("--network", default=None, help="must match the run's pooling")
    original.add_argument("--VLAD_k", type=int, default=None, help="must match the run's clusters")
    original.add_argument("--WindowSize", type=float, default=None, help="must match the run's window (seconds)")
    original.add_argument("--featurePerSec", type=int, default=None, help="must match the run's features per second")
    original.add_argument("--PCA", action="store_true", default=None, help="must match the run's --PCA")
    original.add_argument("--output", default=None,
                          help="prefix of the prediction files <output>_Half_<h>.npy (default: the run's name)")
    original.add_argument("--tflog", default=None, help="accepted for compatibility (unused)")
    cli.add_process_arguments(original)
    new = parser.add_argument_group("flags of this implementation")
    new.add_argument("--model", default=None, help="run folder of ClassificationMinuteBased.py (or its .keras file)")
    new.add_argument("--classes", choices=classes.NAMES, default=None,
                     help="must match the model's class set (v1 or v2; default the model's): outputs have 1 + C columns")
    new.add_argument("--game", default=None, metavar="FOLDER",
                     help="spot one game folder of your own instead of a list: its two halves' feature files "
                          "(labels not needed; a Labels.json, if present, is drawn on the timeline plot)")
    new.add_argument("--SoccerNet_path", default=None, help="data root (default: the folder of the list file)")
    new.add_argument("--output_dir", default="predictions", help="folder of the per-game prediction folders")
    new.add_argument("--batch_size", type=int, default=256, help="windows per batch in moving batch-norm mode")
    new.add_argument("--precision", choices=precision.choices("float32", "bfloat16"), default="float32",
                     help="bfloat16: run the model under Keras's mixed_bfloat16 policy (faster only where the "
                          "processor has bfloat16 instructions: avx512_bf16, amx_bf16, or a GPU)")
    cli.add_xla_descriptor_argument(new)
    new.add_argument("--window_by_window", action="store_true",
                     help="run the model on each window copied through the input pipeline (as the original) "
                          "instead of doing each frame's per-frame work once (LOUPE poolings, networks/sliding.py; "
                          "the same outputs, faster)")
    new.add_argument("--redo", action="store_true", help="spot games whose outputs already exist")
    new.add_argument("--shard", type=cli.argument_type(parse_shard, "shard"), default=None, metavar="I/N",
                     help="spot only the I-th of N disjoint parts of the list (games I, I+N, I+2N, ... counting "
                          "from 1), so that N processes or machines share a list; together they write exactly "
                          "the files of one unsharded run")
    new.add_argument("--combine", type=int, choices=names.LATE_FUSION, default=None,
                     help="instead of a model: fuse --video_output and --audio_output by late fusion method 1 or 2")
    new.add_argument("--video_output", default=None, help="--combine: prefix of a video run's outputs")
    new.add_argument("--audio_output", default=None, help="--combine: prefix of an audio run's outputs")
    new.add_argument("--json_method", default=outputs.JSON_METHOD, choices=candidates.CANDIDATE_METHODS,
                     help="candidate method of the results_spotting.json files")
    new.add_argument("--json_threshold", type=candidates.threshold_argument,
                     default=outputs.JSON_THRESHOLD,
                     help="the files hold every candidate above this threshold, with its confidence, for the "
                          "official evaluator's own threshold sweep (a high one, such as 0.5, under-reports it)")
    new.add_argument("--no_json", action="store_true", help="do not write results_spotting.json files")
    new.add_argument("--zip", default=None, metavar="FILE",
                     help="also write FILE.zip of every game's <game>/results_spotting.json (the form the official "
                          "evaluator and the challenge server take)")
    new.add_argument("--plot_games", nargs="+", default=["1"], metavar="N_OR_GAME",
                     help="timeline plots: a number N (the first N games of the list) or game names "
                          "(league/season/game) from the list")
    new.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` with 1 <= I <= N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"{text!r} is not I/N (e.g. 1/4)") from None
    if not 1 <= index <= count:
        raise ValueError(f"{text}: I must be between 1 and N")
    return index, count


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.combine is None and not args.model:
        parser.error("--model is needed (or --combine with --video_output and --audio_output)")
    if args.output is not None and cli.path_in_name(args.output):
        parser.error(f"--output is the prefix of file names, not a path: {args.output!r}")
    if args.batch_size < 1:
        parser.error(f"--batch_size must be a whole number above 0, not {args.batch_size}")
    if args.game and args.shard:
        parser.error("--shard splits a list (--testing); --game spots one game")
    if args.zip and (args.no_json or args.shard):
        parser.error("--zip packs the JSON files of the whole list: not with --no_json or --shard (spot the shards, "
                     "then run once more with --zip: finished games are not spotted again)")
    if not args.no_json and args.json_threshold == 0 and args.json_method != "nms":
        parser.error(f"--json_threshold 0 gives no {args.json_method} candidates (a segment starts where "
                     "p[j-1] < threshold); use a small positive threshold")
    process.setup_process(args)
    # The library after the process set-up; TensorFlow (its GPU settings first, its CUDA start-up lines
    # on a machine without NVIDIA's driver dropped) only when there are games to spot with a model.
    from spotting import combine, games

    def work() -> int:
        files.check_output_folder(args.output_dir, "--output_dir")
        games.check_zip(args)
        if args.combine is not None:
            return combine.combine(args) or games.write_zip(args, args.output, games.games_of(args)[0])
        job = games.prepare(args)
        if job.pending:
            process.start_tensorflow()
            from spotting import spot

            spot.spot(args, job)
        return games.report(args, job) or games.write_zip(args, job.prefix, job.games)

    return errors.run_command(work, write_failed=lambda exc: f"{exc.filename}: {exc.strerror or exc}; finished games "
                                                             "are kept")


if __name__ == "__main__":
    raise SystemExit(main())
