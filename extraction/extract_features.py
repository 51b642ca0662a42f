"""Extract the features the models read from match videos: `{half}_VGGish.npy` and `{half}_ResNET_TF2.npy`.

    .venv/bin/python -m extraction.extract_features --game "/data/SoccerNet/england_epl/2014-2015/<game>" \\
        --vggish_weights vggish_audioset_weights_without_fc2.h5 --resnet_weights imagenet
    .venv/bin/python -m extraction.extract_features --games listgame_Test_100.npy --SoccerNet_path /data/SoccerNet \\
        --features audio --vggish_weights vggish_model.ckpt

Audio: the authors' VGGish extraction (extraction/audio_features.py): 512 values per half second, float64, cut to the
number of video features of the half (`{half}_ResNET_PCA512.npy` if the folder has it, as the authors, else
`{half}_ResNET_TF2.npy`, else the frame count the video gives). Video: SoccerNet's ResNET_TF2 extraction
(extraction/video_features.py): ResNet-152 `avg_pool`, 2 frames per second, float32.

Inputs per half: `{half}_HQ.mkv` in a game folder (its start and duration come from the game's
`video.ini`, as the authors and SoccerNet read them; a missing video.ini is an error unless
`--no_video_ini`, which takes the whole file), else `{half}.mkv` (SoccerNet's LQ videos, already cut: no
video.ini needed), else `{half}_HQ.wav` / `{half}.wav` (audio only); or any file per half with
`--video1/--video2`. Outputs go beside the input (or to `--output` for `--video1/--video2`). Everything is checked (files, streams, video.ini,
weights) before anything is written; files are written atomically, and halves whose outputs exist are
skipped unless `--overwrite`. `--random_weights` (tests only) runs the networks untrained and says so.
"""
from __future__ import annotations

import argparse
import logging
from typing import Sequence

from base import errors
from extraction import jobs
from runtime import cli, process

log = logging.getLogger("extract_features")


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=cli.HelpFormatter)
    source = parser.add_argument_group("input (one of)")
    source.add_argument("--game", default=None, help="a game folder with 1_HQ.mkv and 2_HQ.mkv (or 1.mkv, 2.mkv, .wav)")
    source.add_argument("--games", default=None, help="a game list (.npy or text) of folders under --SoccerNet_path")
    source.add_argument("--SoccerNet_path", default=None,
                        help="data root of the --games entries (default: the folder of the list)")
    source.add_argument("--video1", default=None, help="any media file for half 1 (outputs go beside it)")
    source.add_argument("--video2", default=None, help="any media file for half 2 (outputs go beside it)")
    parser.add_argument("--video_ini", default=None,
                        help="the video.ini of --video1/--video2 (default: the one beside the file)")
    parser.add_argument("--output", default=None,
                        help="folder of the feature files of --video1/--video2 (default: beside each file)")
    parser.add_argument("--no_video_ini", action="store_true",
                        help="no video.ini: start at 0 s and take the whole file (not what the authors did)")
    parser.add_argument("--features", nargs="+", choices=jobs.FEATURE_KINDS, default=list(jobs.FEATURE_KINDS),
                        help="which features to extract")
    parser.add_argument("--vggish_weights", default=None,
                        help="VGGish weights: the Keras port's vggish_audioset_weights_without_fc2.h5 or "
                             "Google's vggish_model.ckpt")
    parser.add_argument("--resnet_weights", default="imagenet",
                        help="ResNet-152 weights: imagenet (Keras downloads them) or a .h5 / .weights.h5 file")
    parser.add_argument("--random_weights", action="store_true",
                        help="untrained networks, for tests only (the output says so)")
    parser.add_argument("--precision", choices=jobs.PRECISIONS, default="float32",
                        help="the networks' arithmetic; bfloat16 writes the same dtypes")
    parser.add_argument("--correct_last_group", action="store_true",
                        help="give every half second its own VGGish row instead of reproducing the authors' "
                             "misplaced last group of 60")
    parser.add_argument("--channel_order", choices=jobs.CHANNEL_ORDERS, default="bgr",
                        help="colour order fed to ResNet: bgr reproduces SoccerNet (OpenCV's BGR frames), rgb is "
                             "what the ImageNet weights expect")
    parser.add_argument("--audio_batch", type=int, default=256, help="half-second chunks per VGGish call")
    parser.add_argument("--frame_batch", type=int, default=jobs.FRAME_BATCH, help="frames per ResNet call")
    parser.add_argument("--overwrite", action="store_true", help="rewrite feature files that exist")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    cli.add_process_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sources = [bool(args.game), bool(args.games), bool(args.video1 or args.video2)]
    if sum(sources) != 1:
        parser.error("give one input: --game, --games or --video1/--video2")
    if args.output and not (args.video1 or args.video2):
        parser.error("--output goes with --video1/--video2 (a game folder holds its own features)")
    if args.video_ini and not (args.video1 or args.video2):
        parser.error("--video_ini goes with --video1/--video2 (a game folder holds its video.ini)")
    if "audio" in args.features and not args.vggish_weights and not args.random_weights:
        parser.error("--vggish_weights is needed for audio features (or --random_weights, tests only)")
    if args.audio_batch < 1 or args.frame_batch < 1:
        parser.error("--audio_batch and --frame_batch must be positive")
    args.features = [kind for kind in jobs.FEATURE_KINDS if kind in args.features]
    process.setup_process(args)
    def work() -> int:
        halves = jobs.find_jobs(args)
        todo = jobs.pending(halves, args.overwrite)
        if not todo:
            print(f"nothing to do: the features of {len(halves)} halves exist (--overwrite rewrites them)")
            return 0
        process.start_tensorflow()  # then the networks' modules, which import TensorFlow
        from extraction import features

        return features.extract(args, todo)

    return errors.run_command(work, write_failed=lambda exc: f"{exc.filename}: {exc.strerror or exc}; finished "
                                                             "halves are kept")


if __name__ == "__main__":
    raise SystemExit(main())
