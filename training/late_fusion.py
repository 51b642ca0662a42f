"""Late fusion (the paper's methods 1 and 2) of a video-only and an audio-only model trained apart.

Methods 1 and 2 have no network of their own: they combine the test logits that a video run and an audio
run saved (`predictions_<test list>.npz`, `rundir.save_predictions`), once both are checked to score the
same chunks, and report as the training does (AP per class, mAP, the confusion matrix as the paper's
Table 3). The original did this with `--mode other` and the classes `Archi9Prediction` (method 1) and
`Archi3Prediction` (method 2), reading logits from hard-coded paths. For spotting, `fuse_probabilities`
combines the per-second outputs of a video and an audio run (used by ClassificationSecondBased.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from base import classes, errors
from evaluation.classification import classification_report, sigmoid
from networks.names import LATE_FUSION, METHODS, resolve_architecture
from runtime import rundir


def logit(p: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p)


def fuse_logits(video_logits: np.ndarray, audio_logits: np.ndarray, method: int) -> tuple[np.ndarray, np.ndarray]:
    """Late fusion of two models' logits (n, 1 + C).

    Returns:
        (probabilities, argmax scores): method 1 gives sigmoid(z_v) * sigmoid(z_a); method 2 gives
        sigmoid((z_v + z_a) / 2). Both take the confusion matrix's argmax from (z_v + z_a) / 2, as the
        original's Archi9Prediction and Archi3Prediction did.
    """
    if method not in LATE_FUSION:
        raise ValueError(f"late fusion is method 1 or 2, not {method}")
    mean = 0.5 * np.asarray(video_logits, np.float64) + 0.5 * np.asarray(audio_logits, np.float64)
    if method == 1:
        return sigmoid(video_logits) * sigmoid(audio_logits), mean
    return sigmoid(mean), mean


def fuse_probabilities(video: np.ndarray, audio: np.ndarray, method: int) -> np.ndarray:
    """Late fusion of per-second probabilities (seconds, 1 + C) of a video and an audio spotting run.

    The spotting outputs are probabilities, so method 2 recovers the logits first (clipped at 1e-7).
    Where the two differ in length (a frame more in one stream), the common length is kept.
    """
    length = min(len(video), len(audio))
    video, audio = np.asarray(video[:length], np.float64), np.asarray(audio[:length], np.float64)
    if method == 1:
        return (video * audio).astype(np.float32)
    if method == 2:
        return sigmoid(0.5 * logit(video) + 0.5 * logit(audio)).astype(np.float32)
    raise ValueError(f"late fusion is method 1 or 2, not {method}")


def load_run_logits(run: str | Path, list_name: str | None = None) -> tuple[dict, Path]:
    """The saved test logits of a run folder (`predictions_<list>.npz`, `rundir.read_predictions`), as plain
    arrays, and the file; the list is the run's --testing unless given."""
    run = Path(run)
    if list_name is None:
        list_name = rundir.read_args(run, required=False).get("testing")
        if list_name is None:
            found = sorted(run.glob(rundir.predictions_file(run, "*").name))
            if len(found) != 1:
                raise errors.DataError(run, "cannot tell which predictions_<list>.npz to use; give --testing")
            list_name = rundir.predictions_list_name(found[0])
    path = rundir.predictions_file(run, list_name)
    return rundir.read_predictions(path), path


# What the two runs of a late fusion must share (args.json): the chunk length, the three lists, the class set.
SHARED_SETTINGS = ("WindowSize", "featurePerSec", "training", "validation", "testing", "classes")


def check_pair(video_run: str | Path, audio_run: str | Path) -> None:
    """Late fusion combines a video-only and an audio-only run trained on the same chunks: the first must be
    a VideoNetwork run, the second an AudioNetwork run, with the same T, game lists and class set.

    Raises:
        errors.DataError: one line naming the run and what does not fit.
    """
    if Path(video_run).resolve() == Path(audio_run).resolve():
        raise errors.DataError(audio_run, "is the video run too: late fusion needs a video and an audio run")
    recorded = {}
    for run, wanted, flag in ((video_run, "VideoNetwork", "--video_run"), (audio_run, "AudioNetwork", "--audio_run")):
        args = rundir.read_args(run)
        try:
            architecture = resolve_architecture(str(args.get("architecture")))
        except ValueError:
            architecture = args.get("architecture")
        if architecture != wanted:
            raise errors.DataError(run, f"was trained with --architecture {architecture}; {flag} needs a run of {wanted}")
        recorded[flag] = args
    for key in SHARED_SETTINGS:
        video_value, audio_value = (recorded[flag].get(key) for flag in ("--video_run", "--audio_run"))
        if key == "classes":  # runs from before class sets are v1
            video_value, audio_value = (v or classes.DEFAULT for v in (video_value, audio_value))
        elif key in ("training", "validation", "testing"):
            video_value, audio_value = (Path(v).stem if v else v for v in (video_value, audio_value))
        elif video_value is not None and audio_value is not None:
            video_value, audio_value = float(video_value), float(audio_value)
        if video_value != audio_value:
            raise errors.DataError(audio_run, f"has --{key} {recorded['--audio_run'].get(key)}, the video run "
                                               f"{recorded['--video_run'].get(key)}: late fusion needs the same")


def late_fusion(video_run: str | Path, audio_run: str | Path, method: int, list_name: str | None = None) -> dict:
    """Combine the saved test logits of a video run and an audio run (`check_pair`); return the report."""
    check_pair(video_run, audio_run)
    video, video_path = load_run_logits(video_run, list_name)
    audio, audio_path = load_run_logits(audio_run, list_name)
    for key in rundir.CHUNK_KEYS:
        if video[key].shape != audio[key].shape or not np.array_equal(video[key], audio[key]):
            raise errors.DataError(audio_path, f"does not score the same chunks as {video_path} ('{key}' differs)")
    probabilities, argmax_scores = fuse_logits(video["logits"], audio["logits"], method)
    report = classification_report(video["labels"], probabilities, argmax_scores)
    report["method"] = method
    report["runs"] = {"video": str(video_run), "audio": str(audio_run)}
    return report


def describe_methods() -> str:
    lines = ["The paper's seven audio-video fusion methods:"]
    for method in METHODS.values():
        lines.append(f"  {method.number}. {method.name:<17} {method.where}\n     {'':<17} run: {method.command}")
    return "\n".join(lines)
