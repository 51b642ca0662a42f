"""Spot a match video: one command from a video file per half to a trained model's spots.

    .venv/bin/python -m extraction.spot_video --model runs/<run> --video1 first_half.mkv --video2 second_half.mkv \\
        --game_dir my_game --vggish_weights vggish_audioset_weights_without_fc2.h5 \\
        --resnet_weights imagenet --pca resnet_pca.npz
    .venv/bin/python -m extraction.spot_video --model runs/<run> --game /data/SoccerNet/<league>/<season>/<game> ...

The model must have been trained on the features these steps make: `--featuresVideo ResNET_TF2`
(SoccerNet v2 publishes them, with their own PCA, for every SoccerNet game; `extraction.extract_features`
and `extraction.fit_pca` make them for other games) and VGGish audio. Steps, each the project's own tool:
1. `python -m extraction.extract_features`: the streams the model reads, the authors' VGGish audio features
   (`{half}_VGGish.npy`) and SoccerNet's ResNet-152 video features (`{half}_ResNET_TF2.npy`), into the
   game folder (`--game`, a SoccerNet game folder with `1_HQ.mkv`, `2_HQ.mkv` and `video.ini`) or into
   `--game_dir` (for `--video1/--video2`, any video files; without a video.ini the whole files are used);
2. for a model trained on PCA-reduced video features (`--PCA`, as the paper), the PCA of `python -m
   extraction.fit_pca --save` (`--pca FILE.npz`, fitted on training games' ResNET_TF2 features) gives
   `{half}_ResNET_TF2_PCA512.npy`; a model trained on the 2048-d features needs none;
3. `ClassificationSecondBased.py --game`: the per-second probabilities (`<output_dir>/<game>/<prefix>_Half_{1,2}.npy`),
   the SoccerNet `results_spotting.json` and a timeline plot.
Everything is checked (the run, the weights, the PCA, the media) before anything is written; feature
files that exist are reused (`--overwrite` redoes them). Exit codes as the scripts: 2 for bad input.
"""
from __future__ import annotations

import argparse
import gc
import logging
from pathlib import Path
from typing import Sequence

import dataset
from base import errors, files
from evaluation import outputs
from extraction import jobs
from extraction.jobs import AUDIO_NAME, VIDEO_NAME
from extraction.pca import apply_pca, load_pca
from networks import names
from runtime import cli, process, rundir

log = logging.getLogger("spot_video")
TOP = Path(__file__).resolve().parent.parent  # the repository's folder
HERE = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=cli.HelpFormatter)
    parser.add_argument("--model", required=True, help="run folder of ClassificationMinuteBased.py (or its .keras file)")
    source = parser.add_argument_group("the match (one of)")
    source.add_argument("--game", default=None, help="a game folder with 1_HQ.mkv, 2_HQ.mkv and video.ini "
                                                     "(or 1.mkv, 2.mkv); the features are written there")
    source.add_argument("--video1", default=None, help="any video file of the first half")
    source.add_argument("--video2", default=None, help="any video file of the second half")
    parser.add_argument("--game_dir", default=None,
                        help="with --video1/--video2: the folder of the game's features (its name names the game)")
    parser.add_argument("--video_ini", default=None,
                        help="with --video1/--video2: a video.ini giving each half's start and duration "
                             "(default: the whole files)")
    parser.add_argument("--vggish_weights", default=None, help="VGGish weights (see extract_features.py)")
    parser.add_argument("--resnet_weights", default="imagenet", help="ResNet-152 weights (see extract_features.py)")
    parser.add_argument("--random_weights", action="store_true",
                        help="untrained extraction networks, for tests only (the output says so)")
    parser.add_argument("--pca", default=None,
                        help="a PCA saved by fit_pca.py --save (2048 -> 512), for a model trained with --PCA")
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                        help="arithmetic of the extraction networks and of the model")
    parser.add_argument("--output_dir", default="predictions", help="folder of the per-game prediction folders")
    parser.add_argument("--overwrite", action="store_true", help="extract (and spot) again what exists")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    cli.add_process_arguments(parser, gpu=False)
    return parser


def plan(args) -> tuple[dict, tuple[str, ...], Path, object]:
    """The run's settings, the streams its model reads, the game folder and the PCA (None when the model
    needs none); checks the weights."""
    model_file = rundir.model_file(args.model)
    settings = rundir.read_args(model_file.parent)
    streams = names.streams_of(settings.get("architecture", "VideoNetwork"))
    game_dir = Path(args.game) if args.game else Path(args.game_dir)
    if "audio" in streams and not (args.vggish_weights or args.random_weights):
        raise errors.DataError("--vggish_weights", f"the model of {model_file.parent} reads audio features: give "
                                                    "the VGGish weights file")
    video = settings.get("featuresVideo", "ResNET")
    if "video" in streams and video != VIDEO_NAME:
        raise errors.DataError(model_file.parent, f"its model was trained on {video} video features; the features "
                                f"extracted from a video are {VIDEO_NAME} (SoccerNet v2's): train "
                                f"with --featuresVideo {VIDEO_NAME}")
    check_inputs(args, streams, model_file.parent, game_dir)
    pca = None
    if "video" in streams and settings.get("PCA", True):
        if not args.pca:
            raise errors.DataError("--pca", f"the model of {model_file.parent} reads PCA-reduced video features: "
                                             "give a PCA saved by fit_pca.py --save")
        pca = load_pca(args.pca, dim=dataset.KNOWN_DIMS["ResNET"])
    check_spotting_files(args, settings, streams, model_file.parent, game_dir, pca is not None)
    return settings, streams, game_dir, pca


def check_spotting_files(args, settings: dict, streams: Sequence[str], run: Path, game_dir: Path,
                         reduce: bool) -> None:
    """Every feature file the spotting will read is made by the steps or is in the game folder already.

    The spotting opens both of the run's feature files of each half whatever streams its model reads
    (`dataset.Split` cuts the two to one length, as in training): an audio model trained with the default
    data flags reads `{half}_ResNET_PCA512.npy` too, which no step here makes. Both halves are spotted, so a
    half without its video (`--video2` left out) needs its files in the game folder."""
    halves = dataset.HALVES if args.game else [half for half, p in ((1, args.video1), (2, args.video2)) if p]
    video, audio = settings.get("featuresVideo", "ResNET"), settings.get("featuresAudio", AUDIO_NAME)
    for half in dataset.HALVES:
        made = set()
        if half in halves:
            made |= {dataset.feature_file(game_dir, half, AUDIO_NAME)} if "audio" in streams else set()
            made |= {dataset.feature_file(game_dir, half, VIDEO_NAME)} if "video" in streams else set()
            made |= {dataset.feature_file(game_dir, half, VIDEO_NAME, pca=True)} if reduce else set()
        for name, pca in ((video, settings.get("PCA", True)), (audio, False)):
            if name in (None, "none"):
                continue
            needed = dataset.feature_file(game_dir, half, name, pca=pca)
            if needed in made or needed.is_file():
                continue
            if half not in halves:
                raise errors.DataError(f"--video{half}", f"the spotting reads both halves and {game_dir} has no "
                                                         f"{needed.name}: give the video of half {half}")
            raise errors.DataError(needed, f"feature file not found: spotting with the model of {run} reads it "
                                           f"(the run's {video} video and {audio} audio features are opened "
                                           "whatever streams the model uses), and spot_video extracts only "
                                           f"{' + '.join(streams)} features: make it first (extract_features, "
                                           "fit_pca)")


def check_inputs(args, streams: Sequence[str], run: Path, game_dir: Path) -> None:
    """Before any extraction: the output folders can be written (`base.files.check_output_folder`), and each
    half's media holds every stream the model reads (a .wav has no video, a silent video no audio), unless
    that half's feature file is in the game folder already (and is not to be redone)."""
    if args.game_dir:
        files.check_output_folder(args.game_dir, "--game_dir")
    files.check_output_folder(args.output_dir, "--output_dir")
    if args.game:
        if not game_dir.is_dir():
            raise errors.DataError(game_dir, "game folder not found")
        halves = [(half, jobs._half_file(game_dir, half)) for half in dataset.HALVES]
    else:
        halves = [(half, Path(p)) for half, p in ((1, args.video1), (2, args.video2)) if p]
    for half, path in halves:
        held = jobs.media_streams(path)
        for stream in streams:
            name = AUDIO_NAME if stream == "audio" else VIDEO_NAME
            if stream not in held and (args.overwrite or not dataset.feature_file(game_dir, half, name).is_file()):
                raise errors.DataError(path, f"no {stream} stream, and the model of {run} reads {stream} features "
                                             f"({' + '.join(streams)})")


def extraction_argv(args, streams: Sequence[str]) -> list[str]:
    argv = ["--game", args.game] if args.game else \
        [*(["--video1", args.video1] if args.video1 else []), *(["--video2", args.video2] if args.video2 else []),
         "--output", args.game_dir] + (["--video_ini", args.video_ini] if args.video_ini else ["--no_video_ini"])
    argv += ["--features", *streams, "--resnet_weights", args.resnet_weights, "--precision", args.precision,
             "--loglevel", args.loglevel]
    argv += ["--vggish_weights", args.vggish_weights] if args.vggish_weights else []
    argv += ["--random_weights"] * args.random_weights + ["--overwrite"] * args.overwrite
    return argv + ["--no_progress"] * args.no_progress


def reduce_video(args, game_dir: Path, pca) -> None:
    """`{half}_ResNET_TF2_PCA512.npy` from `{half}_ResNET_TF2.npy` with the saved PCA."""
    split = dataset.Split(game_dir, data_root=game_dir.parent, games=[game_dir.name],
                          video_features=VIDEO_NAME, audio_features=None, pca=False, label_file=None)
    written = apply_pca(pca, split, overwrite=args.overwrite, progress=not args.no_progress)
    log.info("PCA of %s: %d file%s written", args.pca, len(written), "" if len(written) == 1 else "s")


def spotting_argv(args, game_dir: Path) -> list[str]:
    argv = ["--model", args.model, "--game", str(game_dir),
            "--output_dir", args.output_dir, "--precision", args.precision, "--loglevel", args.loglevel]
    return argv + ["--redo"] * args.overwrite + ["--no_progress"] * args.no_progress


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.game) == bool(args.video1 or args.video2):
        parser.error("give --game, or --video1/--video2 (with --game_dir)")
    if (args.video1 or args.video2) and not args.game_dir:
        parser.error("--video1/--video2 need --game_dir, the folder of the game's features")
    if args.game and (args.game_dir or args.video_ini):
        parser.error("--game_dir and --video_ini go with --video1/--video2 (a game folder holds its own)")
    process.setup_process(args)
    planned = []
    code = errors.run_command(lambda: planned.extend(plan(args)))
    if code:
        return code
    settings, streams, game_dir, pca = planned
    print(f"== 1/3: features of {game_dir} ({' + '.join(streams)}) ==", flush=True)
    code = process.run_script(HERE / "extract_features.py", extraction_argv(args, streams))
    if code:
        return code
    gc.collect()  # the extraction's models (ResNet-152: 0.23 GB) sit in reference cycles until collected
    if pca is not None:
        print(f"== 2/3: PCA of the video features ({args.pca}) ==", flush=True)
        code = errors.run_command(lambda: reduce_video(args, game_dir, pca))
        if code:
            return code
    print(f"== 3/3: spotting with {args.model} ==", flush=True)
    code = process.run_script(TOP / "ClassificationSecondBased.py", spotting_argv(args, game_dir))
    if code:
        return code
    prefix = rundir.model_file(args.model).parent.name
    game = game_dir.resolve().name
    print(f"spots of {game}: {outputs.results_spotting_file(args.output_dir, prefix, game)}; timeline "
          f"{outputs.timeline_file(args.output_dir, game, prefix)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
