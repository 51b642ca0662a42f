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
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

import dataset
import networks
import runs
from evaluation import classification


def logit(p: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p)


def fuse_logits(video_logits: np.ndarray, audio_logits: np.ndarray, method: int) -> tuple[np.ndarray, np.ndarray]:
    """Late fusion of two models' logits (n, 4).

    Returns:
        (probabilities, argmax scores): method 1 gives sigmoid(z_v) * sigmoid(z_a); method 2 gives
        sigmoid((z_v + z_a) / 2). Both take the confusion matrix's argmax from (z_v + z_a) / 2, as the
        original's Archi9Prediction and Archi3Prediction did.
    """
    if method not in networks.LATE_FUSION:
        raise ValueError(f"late fusion is method 1 or 2, not {method}")
    mean = 0.5 * np.asarray(video_logits, np.float64) + 0.5 * np.asarray(audio_logits, np.float64)
    if method == 1:
        return classification.sigmoid(video_logits) * classification.sigmoid(audio_logits), mean
    return classification.sigmoid(mean), mean


def fuse_probabilities(video: np.ndarray, audio: np.ndarray, method: int) -> np.ndarray:
    """Late fusion of per-second probabilities (seconds, 4) of a video and an audio spotting run.

    The spotting outputs are probabilities, so method 2 recovers the logits first (clipped at 1e-7).
    Where the two differ in length (a frame more in one stream), the common length is kept.
    """
    length = min(len(video), len(audio))
    video, audio = np.asarray(video[:length], np.float64), np.asarray(audio[:length], np.float64)
    if method == 1:
        return (video * audio).astype(np.float32)
    if method == 2:
        return classification.sigmoid(0.5 * logit(video) + 0.5 * logit(audio)).astype(np.float32)
    raise ValueError(f"late fusion is method 1 or 2, not {method}")


def load_predictions(run: str | Path, list_name: str | None = None) -> tuple[dict, Path]:
    """The saved test logits of a run folder (`predictions_<list>.npz`), as plain arrays."""
    run = Path(run)
    if list_name is None:
        list_name = runs.read_args(run, required=False).get("testing")
        if list_name is None:
            found = sorted(run.glob(runs.predictions_file(run, "*").name))
            if len(found) != 1:
                raise dataset.DataError(run, "cannot tell which predictions_<list>.npz to use; give --testing")
            list_name = runs.predictions_list_name(found[0])
    path = runs.predictions_file(run, list_name)
    if not path.is_file():
        raise dataset.DataError(path, "no saved predictions (train the run to the end, or run "
                                      "ClassificationMinuteBased.py --mode predict --model RUN)")
    try:
        with np.load(path, allow_pickle=False) as saved:
            return {key: saved[key] for key in saved.files}, path
    except (OSError, ValueError) as exc:  # not an .npz of plain arrays
        raise dataset.DataError(path, f"unreadable saved predictions ({exc})") from None


# What the two runs of a late fusion must share (args.json): the chunk length and the three lists.
SHARED_SETTINGS = ("WindowSize", "featurePerSec", "training", "validation", "testing")


def check_pair(video_run: str | Path, audio_run: str | Path) -> None:
    """Late fusion combines a video-only and an audio-only run trained on the same chunks: the first must be
    a VideoNetwork run, the second an AudioNetwork run, with the same T and the same game lists.

    Raises:
        dataset.DataError: one line naming the run and what does not fit.
    """
    if Path(video_run).resolve() == Path(audio_run).resolve():
        raise dataset.DataError(audio_run, "is the video run too: late fusion needs a video and an audio run")
    recorded = {}
    for run, wanted, flag in ((video_run, "VideoNetwork", "--video_run"), (audio_run, "AudioNetwork", "--audio_run")):
        args = runs.read_args(run)
        try:
            architecture = networks.resolve_architecture(str(args.get("architecture")))
        except ValueError:
            architecture = args.get("architecture")
        if architecture != wanted:
            raise dataset.DataError(run, f"was trained with --architecture {architecture}; {flag} needs a run of {wanted}")
        recorded[flag] = args
    for key in SHARED_SETTINGS:
        video_value, audio_value = (recorded[flag].get(key) for flag in ("--video_run", "--audio_run"))
        if key in ("training", "validation", "testing"):
            video_value, audio_value = (Path(v).stem if v else v for v in (video_value, audio_value))
        elif video_value is not None and audio_value is not None:
            video_value, audio_value = float(video_value), float(audio_value)
        if video_value != audio_value:
            raise dataset.DataError(audio_run, f"has --{key} {recorded['--audio_run'].get(key)}, the video run "
                                               f"{recorded['--video_run'].get(key)}: late fusion needs the same")


def late_fusion(video_run: str | Path, audio_run: str | Path, method: int, list_name: str | None = None) -> dict:
    """Combine the saved test logits of a video run and an audio run (`check_pair`); return the report."""
    check_pair(video_run, audio_run)
    video, video_path = load_predictions(video_run, list_name)
    audio, audio_path = load_predictions(audio_run, list_name)
    for key in ("games", "halves", "half_id", "start", "labels"):
        if video[key].shape != audio[key].shape or not np.array_equal(video[key], audio[key]):
            raise dataset.DataError(audio_path, f"does not score the same chunks as {video_path} ('{key}' differs)")
    probabilities, argmax_scores = fuse_logits(video["logits"], audio["logits"], method)
    report = classification.classification_report(video["labels"], probabilities, argmax_scores)
    report["method"] = method
    report["runs"] = {"video": str(video_run), "audio": str(audio_run)}
    return report


def describe_methods() -> str:
    lines = ["The paper's seven audio-video fusion methods:"]
    for method in networks.METHODS.values():
        lines.append(f"  {method.number}. {method.name:<17} {method.where}\n     {'':<17} run: {method.command}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=runs.HelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the seven methods and exit")
    parser.add_argument("--method", type=int, choices=networks.LATE_FUSION, help="1: product of probabilities; 2: mean of logits")
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
    try:
        report = late_fusion(args.video_run, args.audio_run, args.method, args.testing)
    except dataset.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return runs.EXIT_BAD_INPUT
    print(classification.format_classification_report(
        report, f"method {args.method} ({networks.METHODS[args.method].name})"))
    if args.output:
        try:
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            dataset.write_json_atomic(args.output, report)
        except OSError as exc:
            print(f"error: {exc.filename or args.output}: {exc.strerror or exc}", file=sys.stderr)
            return runs.EXIT_WRITE_FAILED
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
