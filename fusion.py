"""The seven audio-video fusion methods of the paper, and late fusion (methods 1 and 2) of trained runs.

    .venv/bin/python fusion.py --list
    .venv/bin/python fusion.py --method 2 --video_run Model/video_<date> --audio_run Model/audio_<date>

Methods 1 and 2 combine a video-only and an audio-only model trained apart, so they have no network of
their own: they read the test logits that ClassificationMinuteBased.py saved in each run folder
(`predictions_<test list>.npz`, written at the end of training or by `--mode predict`), check that both
runs scored the same chunks, combine them, and report as the training script does (AP per class, mAP,
the confusion matrix as the paper's Table 3). The original did this with `--mode other` and the classes
`Archi9Prediction` (method 1) and `Archi3Prediction` (method 2), reading logits from hard-coded paths.
Methods 3 to 7 are trained end to end: pass their class name or number to
`ClassificationMinuteBased.py --architecture`. For spotting, `fuse_probabilities` combines the
per-second outputs of a video and an audio run (used by ClassificationSecondBased.py).

This file is the command line; the work is `training.late_fusion`'s.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from base import errors, files
from evaluation.classification import format_classification_report
from networks.names import LATE_FUSION, METHODS
from runtime import cli
from training.late_fusion import describe_methods, late_fusion


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=cli.HelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the seven methods and exit")
    parser.add_argument("--method", type=int, choices=LATE_FUSION, help="1: product of probabilities; 2: mean of logits")
    parser.add_argument("--video_run", help="run folder of a trained VideoNetwork")
    parser.add_argument("--audio_run", help="run folder of a trained AudioNetwork")
    parser.add_argument("--testing", default=None,
                        help="the list the runs were tested on (default: the video run's --testing)")
    parser.add_argument("--output", default=None, help="write the report as JSON here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(describe_methods())
        return 0
    if args.method is None or not args.video_run or not args.audio_run:
        parser.error("--method, --video_run and --audio_run are needed (or --list)")
    def work() -> None:
        if args.output:
            files.check_output_file(args.output, "--output")
        report = late_fusion(args.video_run, args.audio_run, args.method, args.testing)
        print(format_classification_report(report, f"method {args.method} ({METHODS[args.method].name})"))
        if args.output:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            files.write_json_atomic(args.output, report)

    def failed_write(exc: OSError) -> str:
        where = exc.filename or ("standard output" if isinstance(exc, BrokenPipeError) else args.output)
        return f"{where}: {exc.strerror or exc}"

    return errors.run_command(work, write_failed=failed_write)


if __name__ == "__main__":
    raise SystemExit(main())
