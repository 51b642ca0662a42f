"""Train and test the chunk classifier of the paper (video, audio or audio-video fusion).

    .venv/bin/python ClassificationMinuteBased.py --architecture AudioVideoArchi5 \\
        --training listgame_Train_300.npy --validation listgame_Valid_100.npy \\
        --testing listgame_Test_100.npy --featuresVideo ResNET --featuresAudio VGGish --PCA \\
        --network RVLAD --VLAD_k 64 --WindowSize 60 --tflog Model --outputPrefix rvlad-archi5-60sec

The recipe of the authors' code (Vanderplaetse & Dupont 2020, `ClassificationMinuteBased.py` and
`trainer.py`; the SoccerNet baseline's `Trainer.py`): each half is cut into non-overlapping chunks of
`--WindowSize` seconds; each epoch shuffles the training halves and takes all chunks of
`--batch_size` (60) halves per optimizer step; the loss is the sigmoid cross-entropy summed over the
4 classes and averaged over the step's chunks; Adam (learning rate 0.01, epsilon 1e-8); dropout 0.4.
After each epoch the validation mAP (mean PR-AUC of card, subs and goal, computed as TF1's
`tf.metrics.auc`) decides: a strictly better score saves the best model; after more than 10 epochs
without improvement while the learning rate is above 1e-4, the learning rate is divided by 10 and the
best weights and optimizer state are restored; after more than 30, training stops; at most 200 epochs.
The best model is then tested.

Outputs, in a run folder `<tflog>/<outputPrefix>_<date>_<time>`: `args.json` (arguments, versions),
`best_model.keras` (loadable by ClassificationSecondBased.py without repeating the architecture flags),
TensorBoard scalars per split (`training/`, `validation/`, `testing/`), `metrics.csv`, `train.log`,
`test_report.json`, `predictions_<test list>.npz` (test logits, for late fusion with fusion.py), and
`checkpoint/` (the state needed by `--resume`).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import dataset

log = logging.getLogger("ClassificationMinuteBased")
TOP = Path(__file__).resolve().parent

# Names kept here so that argument parsing does not import TensorFlow (--GPU must act before it).
ARCHITECTURE_NAMES = ("VideoNetwork", "AudioNetwork", "AudioVideoArchi4", "AudioVideoArchi5",
                      "AudioVideoArchi6", "AudioVideoArchi7", "AudioVideoArchi8")
LATE_FUSION_NAMES = ("Archi9Prediction", "Archi3Prediction")
POOLING_NAMES = ("CNN", "FC", "MAX", "AVERAGE", "RVLAD", "VLAD", "SOFTDBOW", "NETFV")
CLASS_TAGS = ("0_background", "1_cards", "2_subs", "3_goals")
PR_AUC_THRESHOLDS = 200


# ------------------------------------------------------------------------------------------------
# Command line


def architecture_name(value: str) -> str:
    """`--architecture`: an original class name, or a paper method number 3..7."""
    text = value.strip()
    number = text.lower().replace("method", "").strip(" _")
    if number.isdigit() and 3 <= int(number) <= 7:
        return ARCHITECTURE_NAMES[int(number) - 1]
    if text in ARCHITECTURE_NAMES:
        return text
    if text in LATE_FUSION_NAMES or number in ("1", "2"):
        raise argparse.ArgumentTypeError(
            f"'{value}' is a late-fusion method (1 or 2) that combines two trained single-stream runs: "
            "use fusion.py --method 1|2 --video_run RUN --audio_run RUN")
    raise argparse.ArgumentTypeError(f"unknown architecture '{value}'; valid: {', '.join(ARCHITECTURE_NAMES)}"
                                     f" or a method number 3..7")


def pooling_name(value: str) -> str:
    if value.upper() not in POOLING_NAMES:
        raise argparse.ArgumentTypeError(f"unknown pooling '{value}'; valid: {', '.join(POOLING_NAMES)}")
    return value.upper()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    original = parser.add_argument_group("flags of the original script")
    original.add_argument("--architecture", type=architecture_name,
                          help=f"network: {', '.join(ARCHITECTURE_NAMES)}, or the paper's method number 3..7 "
                               "(required to train; taken from the run with --resume or --mode predict)")
    original.add_argument("--training", default=str(TOP / "listgame_Train_300.npy"), help="training game list")
    original.add_argument("--validation", default=str(TOP / "listgame_Valid_100.npy"), help="validation game list")
    original.add_argument("--testing", default=str(TOP / "listgame_Test_100.npy"), help="test game list")
    original.add_argument("--featuresVideo", default="ResNET",
                          help="video features {half}_<name>[_PCA512].npy; 'none' for no video files")
    original.add_argument("--featuresAudio", default="VGGish",
                          help="audio features {half}_<name>.npy; 'none' for no audio files")
    original.add_argument("--PCA", action="store_true", help="read the video features' _PCA512 files")
    original.add_argument("--network", type=pooling_name, default="RVLAD",
                          help=f"pooling: {', '.join(POOLING_NAMES)}")
    original.add_argument("--VLAD_k", type=int, default=64, help="clusters of the VLAD-type poolings")
    original.add_argument("--WindowSize", type=float, default=60, help="chunk length T in seconds")
    original.add_argument("--featurePerSec", type=int, default=2, help="features per second")
    original.add_argument("--LR", type=float, default=0.01, help="initial Adam learning rate")
    original.add_argument("--batch_size", type=int, default=60, help="halves per optimizer step (all their chunks)")
    original.add_argument("--max_epoch", type=int, default=200, help="maximum number of epochs")
    original.add_argument("--tflog", default="Model", help="folder of the run folders")
    original.add_argument("--outputPrefix", default="", help="prefix of the run folder's name")
    original.add_argument("--formatdataset", type=int, default=0,
                          help="accepted for compatibility: windows are read by index, no chunk cache is built")
    original.add_argument("--GPU", type=int, default=-1, help="GPU to use (sets CUDA_VISIBLE_DEVICES); -1: default")
    original.add_argument("--loglevel", default="INFO", help="logging level")
    original.add_argument("--mode", choices=["train", "predict"], default="train",
                          help="train (then test), or predict: test a trained --model and save its logits")
    new = parser.add_argument_group("flags of this implementation")
    new.add_argument("--SoccerNet_path", default=None,
                     help="data root of the game folders (default: the folder of each list file)")
    new.add_argument("--seed", type=int, default=1234, help="random seed (weights, dropout, shuffling)")
    new.add_argument("--bn_mode", choices=["batch", "moving"], default="batch",
                     help="batch: batch norm always uses the batch's statistics, as the original (also at "
                          "test time); moving: moving averages updated in training and used at inference")
    new.add_argument("--micro_batch", type=int, default=256,
                     help="chunks per forward/backward piece; gradients of the pieces are summed so one "
                          "optimizer step still covers --batch_size halves (0: whole step at once)")
    new.add_argument("--resume", default=None, help="continue an interrupted run from its run folder")
    new.add_argument("--model", default=None, help="--mode predict: a run folder or a .keras file")
    new.add_argument("--honour_pooling", action="store_true",
                     help="AudioVideoArchi4/6/7/8 use --network (the original always builds NetRVLAD)")
    new.add_argument("--framewise_fusion", action="store_true",
                     help="methods 6/7 pair each video frame with its audio frame (the original concatenates "
                          "along time and regroups)")
    new.add_argument("--lr_patience", type=int, default=10, help="bad epochs (more than) before dividing the LR by 10")
    new.add_argument("--stop_patience", type=int, default=30, help="bad epochs (more than) before stopping")
    new.add_argument("--min_LR", type=float, default=1e-4, help="the LR is divided only while above this")
    new.add_argument("--deterministic", action="store_true", help="TensorFlow deterministic ops (slower)")
    new.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def features_or_none(name: str | None) -> str | None:
    return None if name is None or name.lower() in ("", "none") else name


# ------------------------------------------------------------------------------------------------
# Metrics (pure numpy)


def pr_auc(labels: np.ndarray, scores: np.ndarray, num_thresholds: int = PR_AUC_THRESHOLDS) -> float:
    """Area under the precision-recall curve exactly as TF1's `tf.metrics.auc(curve='PR')` (spec 8.1).

    Thresholds -1e-7, j/(n-1) for j = 1..n-2, 1 + 1e-7; counts TP, FP, FN of `score > threshold` in
    float32; recall (TP + 1e-6) / (TP + FN + 1e-6), precision (TP + 1e-6) / (TP + FP + 1e-6); the
    trapezoid sum over consecutive thresholds. (Keras's `AUC(curve="PR")` interpolates differently.)

    Args:
        labels: (n,) 0/1 ground truth.
        scores: (n,) probabilities.
    """
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, np.float32).ravel()
    epsilon = 1e-7
    thresholds = np.array([-epsilon] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
                          + [1.0 + epsilon], np.float32)
    positives = np.sort(scores[labels])
    negatives = np.sort(scores[~labels])
    tp = (len(positives) - np.searchsorted(positives, thresholds, side="right")).astype(np.float32)
    fp = (len(negatives) - np.searchsorted(negatives, thresholds, side="right")).astype(np.float32)
    fn = np.float32(len(positives)) - tp
    small = np.float32(1e-6)
    recall = (tp + small) / (tp + fn + small)
    precision = (tp + small) / (tp + fp + small)
    return float(np.sum((recall[:-1] - recall[1:]) * (precision[:-1] + precision[1:]) / np.float32(2)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts of (ground truth, predicted) class pairs, rows ground truth as the paper's Table 3.

    Both sides are argmax over the 4 columns (the first maximum), as the original's
    `confusion_matrix(argmax(logits), argmax(labels))` (which put predictions in rows).
    """
    truth = np.argmax(labels, axis=1)
    guess = np.argmax(predicted, axis=1)
    matrix = np.zeros((dataset.NUM_CLASSES, dataset.NUM_CLASSES), np.int64)
    np.add.at(matrix, (truth, guess), 1)
    return matrix


def classification_report(labels: np.ndarray, probabilities: np.ndarray,
                          argmax_scores: np.ndarray | None = None, loss: float | None = None) -> dict:
    """AP (PR-AUC) per class including background, mAP over card/subs/goal, confusion, accuracies.

    Args:
        labels: (n, 4) multi-label targets.
        probabilities: (n, 4) sigmoid outputs.
        argmax_scores: what the confusion matrix takes the argmax of (default `probabilities`).
        loss: recorded as is.
    """
    ap = [pr_auc(labels[:, c], probabilities[:, c]) for c in range(dataset.NUM_CLASSES)]
    matrix = confusion_matrix(labels, probabilities if argmax_scores is None else argmax_scores)
    rows = matrix.sum(axis=1)
    accuracy = [float(matrix[c, c] / rows[c]) if rows[c] else 0.0 for c in range(dataset.NUM_CLASSES)]
    report = {"AP": dict(zip(dataset.CLASSES, ap)), "mAP": float(np.mean(ap[1:])),
              "accuracy": dict(zip(dataset.CLASSES, accuracy)), "accuracy_average": float(np.mean(accuracy)),
              "confusion_matrix": matrix.tolist(), "chunks": int(len(labels)),
              "events": {name: int(labels[:, c].sum()) for c, name in enumerate(dataset.CLASSES)}}
    if loss is not None:
        report["loss"] = float(loss)
    return report


def format_report(report: dict, title: str = "test") -> str:
    """The report as text: AP per class, mAP, and the confusion matrix laid out as the paper's Table 3."""
    names = ("background", "cards", "subs", "goals")
    lines = [f"{title}: mAP {100 * report['mAP']:.1f} % over {report['chunks']} chunks "
             f"(AP: " + ", ".join(f"{n} {100 * report['AP'][c]:.1f}" for n, c in zip(names, dataset.CLASSES))
             + ")",
             "confusion matrix (rows: ground truth, columns: predicted)",
             f"{'':<12}" + "".join(f"{n:>12}" for n in names)]
    for name, row in zip(names, report["confusion_matrix"]):
        lines.append(f"{name:<12}" + "".join(f"{v:>12}" for v in row))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# The learning-rate schedule and early stopping (spec 3.5), as a small state machine


@dataclass
class Schedule:
    """Model selection, learning-rate steps and early stopping on the validation mAP.

    After each epoch, `update(score)` returns the actions to take, in order: "save" (strictly better
    than the best so far), then "decay" (more than `lr_patience` epochs without improvement while the
    learning rate is above `min_lr`: divide it by 10 and restore the best weights and optimizer
    state) or "stop" (more than `stop_patience` epochs without improvement).
    """

    lr: float = 0.01
    lr_patience: int = 10
    stop_patience: int = 30
    min_lr: float = 1e-4
    best: float = 0.0
    best_epoch: int = -1
    counter: int = 0
    epoch: int = -1

    def update(self, score: float) -> list[str]:
        self.epoch += 1
        actions = []
        if score > self.best:
            self.best, self.best_epoch, self.counter = score, self.epoch, 0
            actions.append("save")
        else:
            self.counter += 1
        if self.counter > self.lr_patience and self.lr > self.min_lr:
            self.lr /= 10.0
            self.counter = 0
            actions.append("decay")
        elif self.counter > self.stop_patience:
            actions.append("stop")
        return actions

    def to_json(self) -> dict:
        return dict(self.__dict__)


# ------------------------------------------------------------------------------------------------
# Run folder, logging, state


class TqdmHandler(logging.StreamHandler):
    """Log lines that do not break the progress bars."""

    def emit(self, record):
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must not raise
            self.handleError(record)


def setup_logging(level: str, log_file: Path | None = None) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_soccernet", False):
            root.removeHandler(handler)
            handler.close()
    handlers = [TqdmHandler()]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler._soccernet = True
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(level.upper())


def versions() -> dict:
    import keras
    import tensorflow as tf

    commit = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=TOP, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "git_commit": commit}


def new_run_dir(tflog: str, prefix: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    base = Path(tflog) / (f"{prefix}_{stamp}" if prefix else stamp)
    run, number = base, 1
    while run.exists():
        number += 1
        run = base.with_name(f"{base.name}_{number}")
    run.mkdir(parents=True)
    return run


def save_state(path: Path, model, optimizer) -> None:
    """All model and optimizer variables (weights, batch-norm statistics, dropout generator states,
    Adam moments and step) as one .npz of plain arrays, written atomically."""
    arrays = {f"model/{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
    arrays.update({f"optimizer/{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})
    arrays["names"] = np.array([v.path for v in model.variables] + [v.path for v in optimizer.variables])
    arrays["shapes"] = np.array([str(tuple(v.shape)) for v in model.variables + optimizer.variables])
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(temporary, path)


def load_state(path: Path, model, optimizer) -> None:
    """Assign the variables saved by `save_state` (the optimizer's learning rate is restored too:
    set the schedule's afterwards)."""
    with np.load(path, allow_pickle=False) as saved:
        shapes = [str(tuple(v.shape)) for v in model.variables + optimizer.variables]
        if saved["shapes"].tolist() != shapes:  # names can differ between builds; shapes cannot
            raise dataset.DataError(path, "saved state does not match this model's variables")
        for i, variable in enumerate(model.variables):
            variable.assign(saved[f"model/{i:04d}"])
        for i, variable in enumerate(optimizer.variables):
            variable.assign(saved[f"optimizer/{i:04d}"])


# ------------------------------------------------------------------------------------------------
# Training and evaluation


class Trainer:
    """The model, Adam, gradient accumulation over micro-batches, and the compiled step functions."""

    def __init__(self, model, learning_rate: float):
        import keras
        import tensorflow as tf

        self.tf = tf
        self.model = model
        self.streams = tuple(model.input.keys()) if isinstance(model.input, dict) else ("video",)
        self.optimizer = keras.optimizers.Adam(learning_rate=learning_rate, epsilon=1e-8)
        self.optimizer.build(model.trainable_variables)
        self.accumulators = [tf.Variable(tf.zeros_like(v), trainable=False) for v in model.trainable_variables]

        @tf.function(reduce_retracing=True)
        def accumulate(inputs, labels, scale):
            with tf.GradientTape() as tape:
                logits = tf.cast(self.model(inputs, training=True), tf.float32)
                # Sigmoid cross-entropy summed over the 4 classes, then summed over the piece's chunks;
                # `scale` (1 / chunks of the whole step) turns the sum over the pieces into the step's mean.
                per_chunk = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits),
                                          axis=1)
                loss = tf.reduce_sum(per_chunk) * scale
            gradients = tape.gradient(loss, self.model.trainable_variables)
            for accumulator, gradient in zip(self.accumulators, gradients):
                accumulator.assign_add(gradient)
            return logits, tf.reduce_sum(per_chunk)

        @tf.function
        def apply():
            self.optimizer.apply_gradients(zip([a.value() for a in self.accumulators],
                                               self.model.trainable_variables))
            for accumulator in self.accumulators:
                accumulator.assign(tf.zeros_like(accumulator))

        @tf.function(reduce_retracing=True)
        def predict(inputs):
            return tf.cast(self.model(inputs, training=False), tf.float32)

        self._accumulate, self._apply, self._predict = accumulate, apply, predict

    def set_learning_rate(self, value: float) -> None:
        self.optimizer.learning_rate.assign(value)

    def train_epoch(self, split: dataset.Split, index: dataset.WindowIndex, steps: list[np.ndarray],
                    micro_batch: int, progress) -> tuple[np.ndarray, np.ndarray, float]:
        """One epoch of optimizer steps. Returns the epoch's chunk logits and labels (from the forward
        passes, dropout active, in step order) and the original's loss scalar (sum of step means)."""
        pieces, scales = [], []
        for step in steps:
            for piece in dataset.split_batch(step, micro_batch):
                pieces.append(piece)
                scales.append(1.0 / len(step))
        data = iter(dataset.make_dataset(split, index, pieces, streams=self.streams))
        logits, labels, loss_sum = [], [], 0.0
        position = 0
        for step in steps:
            step_loss = 0.0
            for piece in dataset.split_batch(step, micro_batch):
                inputs, target = next(data)
                piece_logits, piece_loss = self._accumulate(inputs, target, self.tf.constant(scales[position],
                                                                                          self.tf.float32))
                position += 1
                logits.append(piece_logits.numpy())
                labels.append(target.numpy())
                step_loss += float(piece_loss)
            self._apply()
            loss_sum += step_loss / len(step)
            progress.update(1)
            progress.set_postfix(loss=f"{step_loss / len(step):.3f}")
        return np.concatenate(logits), np.concatenate(labels), loss_sum

    def predict_halves(self, split: dataset.Split, index: dataset.WindowIndex) -> tuple[np.ndarray, float]:
        """Logits of every chunk, one half per batch (as the original evaluated), and the original's
        loss scalar (sum over halves of the half's mean loss)."""
        batches = [b for b in dataset.half_batches(index, 1) if len(b)]
        logits = []
        loss_sum = 0.0
        for inputs, target in dataset.make_dataset(split, index, batches, streams=self.streams):
            out = self._predict(inputs).numpy()
            logits.append(out)
            target = target.numpy()
            per_chunk = np.sum(np.maximum(out, 0) - out * target + np.log1p(np.exp(-np.abs(out))), axis=1)
            loss_sum += float(per_chunk.mean())
        order = np.concatenate(batches)
        result = np.empty((len(index), dataset.NUM_CLASSES), np.float32)
        result[order] = np.concatenate(logits)
        return result, loss_sum


def write_scalars(writer, step: int, report: dict, lr: float | None = None) -> None:
    """The original's TensorBoard scalars: learning_rate, loss, accuracy/*, AP/*."""
    import tensorflow as tf

    with writer.as_default(step=step):
        if lr is not None:
            tf.summary.scalar("learning_rate", lr)
        if "loss" in report:
            tf.summary.scalar("loss", report["loss"])
        tf.summary.scalar("accuracy/average", report["accuracy_average"])
        tf.summary.scalar("AP/mean", report["mAP"])
        for tag, name in zip(CLASS_TAGS, dataset.CLASSES):
            tf.summary.scalar(f"accuracy/{tag}", report["accuracy"][name])
            tf.summary.scalar(f"AP/{tag}", report["AP"][name])
    writer.flush()


CSV_FIELDS = ["epoch", "learning_rate", "train_loss", "train_mAP", "valid_loss", "valid_mAP",
              "valid_AP_card", "valid_AP_subs", "valid_AP_goal", "best_mAP", "best_epoch", "bad_epochs",
              "action", "seconds"]


def append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def truncate_csv(path: Path, epochs: int) -> None:
    """Keep the rows of the first `epochs` epochs (a run killed after logging an epoch but before
    its checkpoint replays that epoch on --resume)."""
    if not path.exists():
        return
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if int(row["epoch"]) <= epochs]
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)


def save_predictions(path: Path, split: dataset.Split, index: dataset.WindowIndex, logits: np.ndarray) -> None:
    """Test logits with what identifies each chunk, for late fusion (fusion.py). Plain arrays only."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        np.savez(handle, logits=logits.astype(np.float32), labels=index.labels, half_id=index.half_id,
                 start=index.start, games=np.array([h.game for h in split.halves]),
                 halves=np.array([h.half for h in split.halves], np.int32))
    os.replace(temporary, path)


def predictions_path(run: Path, list_path: str | Path) -> Path:
    return run / f"predictions_{Path(list_path).stem}.npz"


def open_split(args, list_path: str) -> dataset.Split:
    return dataset.Split(list_path, data_root=args.SoccerNet_path,
                         video_features=features_or_none(args.featuresVideo),
                         audio_features=features_or_none(args.featuresAudio), pca=args.PCA, fps=args.featurePerSec)


def build_model(args, num_frames: int, dims: dict[str, int]):
    import networks

    return networks.build_model(args.architecture, num_frames=num_frames, video_dim=dims.get("video", 512),
                                audio_dim=dims.get("audio", 512), pooling=args.network, vlad_k=args.VLAD_k,
                                bn_mode=args.bn_mode, honour_pooling=args.honour_pooling,
                                framewise_fusion=args.framewise_fusion)


def test_run(trainer: Trainer, args, run: Path, writer=None, step: int = 0) -> dict:
    """Test the current weights on --testing; save the report and the logits; print the report."""
    split = open_split(args, args.testing)
    index = split.chunk_index(args.WindowSize)
    logits, loss = trainer.predict_halves(split, index)
    report = classification_report(index.labels, sigmoid(logits), loss=loss)
    dataset.write_json_atomic(run / "test_report.json", report)
    save_predictions(predictions_path(run, args.testing), split, index, logits)
    if writer is not None:
        write_scalars(writer, step, report)
    log.info("\n%s", format_report(report, f"test ({Path(args.testing).name})"))
    return report


# Called after each epoch's checkpoint is written; tests replace it to simulate an interruption.
_after_epoch: Callable[[int], None] = lambda epoch: None  # noqa: E731


def train(args, run: Path, resume: bool) -> dict:
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    import networks

    splits = {name: open_split(args, getattr(args, name)) for name in ("training", "validation")}
    indexes = {name: split.chunk_index(args.WindowSize) for name, split in splits.items()}
    frames = indexes["training"].frames
    dims = {stream: splits["training"].dim(stream) for stream in splits["training"].streams}
    needed = networks.streams_of(args.architecture)
    missing = [s for s in needed if s not in dims]
    if missing:
        raise dataset.DataError(args.training, f"{args.architecture} needs {' and '.join(missing)} features, "
                                               f"but --features{missing[0].capitalize()} is none")
    for name, index in indexes.items():
        log.info("%s: %d halves, %d chunks of %d frames (%s)", name, len(splits[name].halves), len(index),
                 frames, ", ".join(f"{dataset.CLASSES[c]} {int(index.labels[:, c].sum())}"
                                   for c in range(1, dataset.NUM_CLASSES)))

    keras.backend.clear_session()  # stable layer names from one run to the next in a process
    keras.utils.set_random_seed(args.seed)
    model = build_model(args, frames, dims)
    log.info("%s with %s: %s trainable parameters", args.architecture, args.network,
             f"{sum(int(np.prod(v.shape)) for v in model.trainable_variables):,}")
    trainer = Trainer(model, args.LR)
    schedule = Schedule(lr=args.LR, lr_patience=args.lr_patience, stop_patience=args.stop_patience,
                        min_lr=args.min_LR)
    rng = np.random.default_rng(args.seed)
    checkpoint = run / "checkpoint"
    checkpoint.mkdir(exist_ok=True)
    start_epoch = 0
    if resume:
        state = json.loads((checkpoint / "state.json").read_text())
        load_state(checkpoint / state["state_file"], model, trainer.optimizer)
        schedule = Schedule(**state["schedule"])
        rng.bit_generator.state = state["rng"]
        start_epoch = state["epoch"] + 1
        if state.get("stopped"):
            start_epoch = args.max_epoch  # it had stopped early: only the test is left
        truncate_csv(run / "metrics.csv", start_epoch)
        log.info("resumed %s after epoch %d (best mAP %.4f at epoch %d, LR %g)", run, state["epoch"] + 1,
                 schedule.best, schedule.best_epoch + 1, schedule.lr)
    trainer.set_learning_rate(schedule.lr)
    writers = {name: tf.summary.create_file_writer(str(run / name)) for name in ("training", "validation", "testing")}

    stopped = False
    epochs = tqdm(range(start_epoch, args.max_epoch), desc="epochs", unit="epoch", initial=start_epoch,
                  total=args.max_epoch, disable=args.no_progress, dynamic_ncols=True)
    for epoch in epochs:
        began = time.perf_counter()
        lr = schedule.lr
        steps = dataset.half_batches(indexes["training"], args.batch_size, rng)
        with tqdm(total=len(steps), desc=f"epoch {epoch + 1} steps", unit="step", leave=False,
                  disable=args.no_progress, dynamic_ncols=True) as bar:
            logits, labels, train_loss = trainer.train_epoch(splits["training"], indexes["training"], steps,
                                                             args.micro_batch or 10 ** 9, bar)
        train_report = classification_report(labels, sigmoid(logits), loss=train_loss)
        valid_logits, valid_loss = trainer.predict_halves(splits["validation"], indexes["validation"])
        valid_report = classification_report(indexes["validation"].labels, sigmoid(valid_logits), loss=valid_loss)
        actions = schedule.update(valid_report["mAP"])
        if "save" in actions:
            save_state(checkpoint / "best_state.npz", model, trainer.optimizer)
            temporary = run / ".best_model.tmp.keras"
            model.save(temporary)
            os.replace(temporary, run / "best_model.keras")
        if "decay" in actions:  # restore the best weights and optimizer state, then the new rate
            load_state(checkpoint / "best_state.npz", model, trainer.optimizer)
            trainer.set_learning_rate(schedule.lr)
        write_scalars(writers["training"], epoch, train_report, lr)
        write_scalars(writers["validation"], epoch, valid_report, lr)
        seconds = time.perf_counter() - began
        ap = valid_report["AP"]
        append_csv(run / "metrics.csv", {
            "epoch": epoch + 1, "learning_rate": lr, "train_loss": round(train_loss, 6),
            "train_mAP": round(train_report["mAP"], 6), "valid_loss": round(valid_loss, 6),
            "valid_mAP": round(valid_report["mAP"], 6), "valid_AP_card": round(ap["card"], 6),
            "valid_AP_subs": round(ap["subs"], 6), "valid_AP_goal": round(ap["goal"], 6),
            "best_mAP": round(schedule.best, 6), "best_epoch": schedule.best_epoch + 1,
            "bad_epochs": schedule.counter, "action": "+".join(actions), "seconds": round(seconds, 2)})
        log.info("epoch %d/%d lr %.0e | train loss %.2f mAP %.1f | valid mAP %.1f (card %.1f subs %.1f goal %.1f)"
                 " | best %.1f @%d, bad %d%s | %.0f s", epoch + 1, args.max_epoch, lr, train_loss,
                 100 * train_report["mAP"], 100 * valid_report["mAP"], 100 * ap["card"], 100 * ap["subs"],
                 100 * ap["goal"], 100 * schedule.best, schedule.best_epoch + 1, schedule.counter,
                 "".join(f", {a}" for a in actions if a != "save") + (", saved" if "save" in actions else ""),
                 seconds)
        epochs.set_postfix(valid_mAP=f"{100 * valid_report['mAP']:.1f}", best=f"{100 * schedule.best:.1f}")
        # The state after this epoch, for --resume: the arrays first, then the JSON that points at them.
        state_file = f"last_state_{epoch + 1:03d}.npz"
        save_state(checkpoint / state_file, model, trainer.optimizer)
        dataset.write_json_atomic(checkpoint / "state.json", {
            "epoch": epoch, "state_file": state_file, "schedule": schedule.to_json(),
            "rng": rng.bit_generator.state, "stopped": "stop" in actions})
        for old in checkpoint.glob("last_state_*.npz"):
            if old.name != state_file:
                old.unlink()
        _after_epoch(epoch)
        if "stop" in actions:
            stopped = True
            break
    epochs.close()
    log.info("training %s after %d epochs; best validation mAP %.1f %% at epoch %d",
             "stopped early" if stopped else "ended", schedule.epoch + 1, 100 * schedule.best,
             schedule.best_epoch + 1)
    if schedule.best_epoch >= 0:
        load_state(checkpoint / "best_state.npz", model, trainer.optimizer)
    report = test_run(trainer, args, run, writers["testing"], schedule.best_epoch)
    for writer in writers.values():
        writer.close()
    return report


def predict(args) -> dict:
    """--mode predict: test a trained model on --testing and save its logits beside it."""
    import keras

    import networks  # noqa: F401  (registers the custom layers)

    if not args.model:
        raise dataset.DataError("--model", "--mode predict needs --model RUN_FOLDER or a .keras file")
    path = Path(args.model)
    model_file = path / "best_model.keras" if path.is_dir() else path
    if not model_file.is_file():
        raise dataset.DataError(model_file, "model file not found")
    model = keras.models.load_model(model_file)
    trainer = Trainer(model, args.LR)
    return test_run(trainer, args, model_file.parent)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mode == "train" and not args.resume and not args.architecture:
        parser.error("--architecture is required to train")
    if args.resume:  # continue with the arguments the run was started with
        run = Path(args.resume)
        try:
            recorded = json.loads((run / "args.json").read_text())["args"]
            json.loads((run / "checkpoint" / "state.json").read_text())
        except (OSError, KeyError, json.JSONDecodeError) as exc:
            print(f"error: {run}: not a resumable run folder ({exc})", file=sys.stderr)
            return 2
        args = argparse.Namespace(**{**recorded, "resume": str(run), "no_progress": args.no_progress})
    if args.GPU >= 0:
        os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.GPU)
    if args.WindowSize * args.featurePerSec != int(args.WindowSize * args.featurePerSec):
        parser.error("--WindowSize times --featurePerSec must be a whole number of frames")
    dataset.tune_allocator()
    setup_logging(args.loglevel)
    import tensorflow as tf

    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    if args.formatdataset:
        log.info("--formatdataset: no chunk cache is needed here (windows are read by index)")
    try:
        if args.mode == "predict":
            predict(args)
            return 0
        run = Path(args.resume) if args.resume else new_run_dir(args.tflog, args.outputPrefix)
        setup_logging(args.loglevel, run / "train.log")
        if not args.resume:
            dataset.write_json_atomic(run / "args.json", {"args": vars(args), "versions": versions(),
                                                          "command": sys.argv if argv is None else list(argv)})
        log.info("run folder %s", run)
        log.info("arguments: %s", " ".join(f"--{k} {v}" for k, v in sorted(vars(args).items())))
        train(args, run, resume=bool(args.resume))
    except dataset.DataError as exc:
        log.debug("bad input", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
