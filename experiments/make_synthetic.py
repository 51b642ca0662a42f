"""A synthetic SoccerNet, v1 or v2 classes: the real layout, file names, shapes and labels, with event signatures.

    python -m experiments.make_synthetic --output data/synthetic --games 30 10 10
    python -m experiments.make_synthetic --output data/synthetic_v2 --classes v2 --games 6 2 2 --half_minutes 10

The command line of the generator experiments/synthetic.py (what it writes and how: its docstring;
`--classes v2` writes SoccerNet-v2's 17 classes in Labels-v2.json, experiments/synthetic_v2.py). A
set made with the same settings is kept (`--force` remakes it); the settings are checked and the disk
space counted before anything is written.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Sequence

from base import errors, files
from base.classes import NAMES as CLASS_SET_NAMES
from base.errors import DataError
from experiments.synthetic import RAW_VIDEO_DIM, SyntheticConfig, check_config, disk_bytes, ensure, generate, list_names
from runtime import cli, process


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=cli.HelpFormatter)
    parser.add_argument("--output", default="data/synthetic", help="root folder of the data set")
    parser.add_argument("--games", type=int, nargs=3, default=[30, 10, 10], metavar=("TRAIN", "VALID", "TEST"),
                        help="games per split: the first N of each official list")
    parser.add_argument("--full", action="store_true",
                        help="full scale: 300 / 100 / 100 games of 45-minute halves (about "
                             f"{disk_bytes(SyntheticConfig(games=(300, 100, 100))) / 1e9:.1f} GB)")
    parser.add_argument("--half_minutes", type=float, default=45.0, help="minutes per half before stoppage")
    parser.add_argument("--stoppage", type=float, nargs=2, default=[1.0, 5.0], metavar=("MIN", "MAX"),
                        help="stoppage time per half, uniform in [MIN, MAX] minutes")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--classes", choices=CLASS_SET_NAMES, default="v1",
                        help="class set of the labels: v1 (Labels.json: card, subs, goal) or v2 (Labels-v2.json: "
                             "SoccerNet-v2's 17 actions, with visibility, at v2-like rates)")
    parser.add_argument("--video_features", default="ResNET",
                        help="name of the video features in the file names (ResNET_TF2: SoccerNet v2's, what "
                             "extract_features.py makes from a video; train with --featuresVideo ResNET_TF2)")
    parser.add_argument("--raw_video", action="store_true",
                        help=f"also write {{1,2}}_ResNET.npy ({RAW_VIDEO_DIM}-d), for the PCA path")
    parser.add_argument("--video_strength", type=float, default=1.0,
                        help="how distinct the event shots are on video (0: no video signature)")
    parser.add_argument("--audio_strength", type=float, default=1.0,
                        help="loudness of the event sounds (0: no audio signature)")
    parser.add_argument("--confounders", type=float, default=1.0,
                        help="rate of near misses, fouls, injuries, crowd surges and chants")
    parser.add_argument("--noise", type=float, default=1.0, help="scale of the frame noise in both streams")
    parser.add_argument("--event_rate", type=float, default=1.0,
                        help="multiplier of the SoccerNet event rates (more events in short test halves)")
    parser.add_argument("--force", action="store_true", help="regenerate even if the settings are unchanged")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def config_from_args(args: argparse.Namespace) -> SyntheticConfig:
    games = (300, 100, 100) if args.full else tuple(args.games)
    return SyntheticConfig(games=games, half_minutes=45.0 if args.full else args.half_minutes,
                           stoppage_minutes=tuple(args.stoppage), seed=args.seed, raw_video=args.raw_video,
                           video_features=args.video_features, video_strength=args.video_strength, audio_strength=args.audio_strength,
                           confounders=args.confounders, noise=args.noise, event_rate=args.event_rate,
                           classes=args.classes)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    process.setup_logging("INFO")
    config = config_from_args(args)
    root = Path(args.output)

    def work() -> None:
        # Every setting and the output folder, and the disk space, before anything is written.
        check_config(config)
        files.check_output_folder(root, "--output")
        free = shutil.disk_usage(root.parent if root.parent.exists() else Path.cwd()).free
        if disk_bytes(config) > free:
            raise DataError(root, f"about {disk_bytes(config) / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free")
        if args.force:
            generate(root, config, progress=not args.quiet)
        else:
            ensure(root, config, progress=not args.quiet)
        print(f"{root}: {sum(config.games)} games ({', '.join(list_names(config).values())}), "
              f"about {disk_bytes(config) / 1e9:.2f} GB")

    return errors.run_command(work, bad_input=(DataError, ValueError))

if __name__ == "__main__":
    raise SystemExit(main())
