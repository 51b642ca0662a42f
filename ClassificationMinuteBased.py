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
`test_report.json`, `predictions_<test list>.npz` (test logits, for late fusion with fusion.py), and,
while it trains, `checkpoint/` (the state needed by `--resume`; removed when the run finishes unless
`--keep_checkpoint`). The folder's layout is `runs.py`'s.
"""
from __future__ import annotations

import argparse
import csv
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import dataset
import distribution
import networks
import runs
from evaluation import classification

log = logging.getLogger("ClassificationMinuteBased")
TOP = Path(__file__).resolve().parent


# ------------------------------------------------------------------------------------------------
# Command line


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=runs.HelpFormatter)
    original = parser.add_argument_group("flags of the original script")
    original.add_argument("--architecture", type=runs.argument_type(networks.resolve_architecture, "architecture"),
                          help=f"network: {', '.join(networks.ARCHITECTURE_NAMES)}, or the paper's method number "
                               "3..7 (required to train; taken from the run with --resume or --mode predict)")
    original.add_argument("--training", default=str(TOP / "listgame_Train_300.npy"), help="training game list")
    original.add_argument("--validation", default=str(TOP / "listgame_Valid_100.npy"), help="validation game list")
    original.add_argument("--testing", default=str(TOP / "listgame_Test_100.npy"), help="test game list")
    original.add_argument("--featuresVideo", default="ResNET",
                          help="video features {half}_<name>[_PCA512].npy; 'none' for no video files")
    original.add_argument("--featuresAudio", default="VGGish",
                          help="audio features {half}_<name>.npy; 'none' for no audio files")
    original.add_argument("--PCA", action="store_true", help="read the video features' _PCA512 files")
    original.add_argument("--network", type=runs.argument_type(networks.resolve_pooling, "pooling"), default="RVLAD",
                          help=f"pooling: {', '.join(networks.POOLINGS)}")
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
    runs.add_process_arguments(original)
    original.add_argument("--mode", choices=["train", "predict"], default="train",
                          help="train (then test), or predict: test a trained --model and save its logits")
    new = parser.add_argument_group("flags of this implementation")
    new.add_argument("--SoccerNet_path", default=None,
                     help="data root of the game folders (default: the folder of each list file)")
    new.add_argument("--seed", type=int, default=1234, help="random seed (weights, dropout, shuffling)")
    new.add_argument("--bn_mode", choices=networks.BN_MODES, default="batch",
                     help="batch: batch norm always uses the batch's statistics, as the original (also at "
                          "test time); moving: moving averages updated in training and used at inference")
    new.add_argument("--micro_batch", type=runs.argument_type(distribution.parse_micro_batch, "micro-batch"),
                     default="auto",
                     help="chunks per forward/backward piece (per replica); gradients of the pieces are summed so "
                          "one optimizer step still covers --batch_size halves. auto: the whole step where its "
                          "estimated memory fits the device, else the largest piece that fits; 0: whole steps")
    new.add_argument("--memory_budget", type=float, default=0, metavar="GIB",
                     help="--micro_batch auto plans for this much memory per replica (0: what the device has)")
    new.add_argument("--precision", choices=PRECISIONS, default="float32",
                     help="Keras's dtype policy in training: products in bfloat16 or float16, weights, logits and "
                          "the loss in float32 (float16 with dynamic loss scaling); float32 as the original")
    runs.add_xla_descriptor_argument(new)
    new.add_argument("--dropout", type=float, default=0.4,
                     help="dropout rate in training (the original's keep_prob 0.6); 0 for none")
    new.add_argument("--distribute", choices=distribution.DISTRIBUTE, default="none",
                     help="none: one device; mirrored: every local GPU (without one, --replicas logical CPU "
                          "devices); multiworker: one process per machine, the cluster given by TF_CONFIG "
                          "(README: multi-node training)")
    new.add_argument("--replicas", type=int, default=0,
                     help="--distribute mirrored: replicas (0: every GPU, or 2 logical CPU devices without one)")
    new.add_argument("--no_sync_bn", action="store_true",
                     help="under --distribute, batch-norm statistics of each replica's share (default: of all "
                          "replicas' chunks together, as one device)")
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
    new.add_argument("--keep_checkpoint", action="store_true",
                     help="keep checkpoint/ (the resume states, 6x the weights with Adam's moments) when the run "
                          "finishes; by default a finished run keeps only its best model, reports and logits")
    new.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def peak_memory_gb() -> float:
    """The process's peak resident memory so far (host RAM; on a GPU the device's is TensorFlow's)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def features_or_none(name: str | None) -> str | None:
    return None if name is None or name.lower() in ("", "none") else name


# ------------------------------------------------------------------------------------------------
# The learning-rate schedule and early stopping (the authors' trainer.py, `train`), as a small state
# machine


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
# State files of the run folder


def state_variables(model, optimizer) -> dict:
    """Every variable of the model and the optimizer (weights, batch-norm statistics, dropout generator
    states, Adam moments, step and learning rate) by a stable name: "model/<path>", "optimizer/<path>"
    (the layers are named and the session cleared before each build, so the paths are the same in every
    build of the same run)."""
    named = {f"model/{v.path}": v for v in model.variables}
    named.update({f"optimizer/{v.path}": v for v in optimizer.variables})
    if len(named) != len(model.variables) + len(optimizer.variables):
        raise ValueError("two variables share a path: the state could not be matched by name")
    return named


def save_state(path: Path, model, optimizer) -> None:
    """All model and optimizer variables as one .npz of plain arrays keyed by name, written atomically."""
    arrays = {name: np.asarray(v.numpy()) for name, v in state_variables(model, optimizer).items()}
    dataset.write_atomic(path, lambda temporary: np.savez(temporary, **arrays))


def load_state(path: Path, model, optimizer) -> None:
    """Assign the variables saved by `save_state`, matched by name (never by position: several NetVLAD
    variables share a shape). The optimizer's learning rate is restored too: set the schedule's
    afterwards.

    Raises:
        dataset.DataError: the file is not such a state, or its names or shapes are not this model's.
    """
    variables = state_variables(model, optimizer)
    try:
        saved = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise dataset.DataError(path, f"not a saved state ({exc})") from None
    with saved:
        missing = sorted(set(variables) - set(saved.files))
        unexpected = sorted(set(saved.files) - set(variables))
        if missing or unexpected:
            detail = "; ".join(f"{kind} {names[0]!r}" + (f" and {len(names) - 1} more" if len(names) > 1 else "")
                               for kind, names in (("missing", missing), ("unexpected", unexpected)) if names)
            raise dataset.DataError(path, f"saved state does not match this model's variables ({detail})")
        arrays = {name: saved[name] for name in variables}
    for name, variable in variables.items():
        if tuple(arrays[name].shape) != tuple(variable.shape):
            raise dataset.DataError(path, f"saved state does not match this model: {name!r} has shape "
                                          f"{tuple(arrays[name].shape)}, the model's {tuple(variable.shape)}")
    for name, variable in variables.items():
        variable.assign(arrays[name])


def write_scalars(writer, step: int, report: dict, lr: float | None = None) -> None:
    """The original's TensorBoard scalars: learning_rate, loss, accuracy/*, AP/* (tags "AP/1_cards", ...)."""
    import tensorflow as tf

    with writer.as_default(step=step):
        if lr is not None:
            tf.summary.scalar("learning_rate", lr)
        if "loss" in report:
            tf.summary.scalar("loss", report["loss"])
        tf.summary.scalar("accuracy/average", report["accuracy_average"])
        tf.summary.scalar("AP/mean", report["mAP"])
        for c, (name, title) in enumerate(zip(dataset.CLASSES, dataset.CLASS_TITLES)):
            tf.summary.scalar(f"accuracy/{c}_{title}", report["accuracy"][name])
            tf.summary.scalar(f"AP/{c}_{title}", report["AP"][name])
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

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    dataset.write_atomic(path, write)


def save_predictions(path: Path, split: dataset.Split, index: dataset.WindowIndex, logits: np.ndarray) -> None:
    """Test logits with what identifies each chunk, for late fusion (fusion.py). Plain arrays only."""
    arrays = dict(logits=logits.astype(np.float32), labels=index.labels, half_id=index.half_id, start=index.start,
                  games=np.array([h.game for h in split.halves]),
                  halves=np.array([h.half for h in split.halves], np.int32))
    dataset.write_atomic(path, lambda temporary: np.savez(temporary, **arrays))


# ------------------------------------------------------------------------------------------------
# Evaluation and training


def chunk_losses(labels, logits):
    """The original's loss per chunk: sigmoid cross-entropy summed over the 4 classes (a step's loss is
    the mean of these over its chunks)."""
    import tensorflow as tf

    return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=1)


class NonFiniteLoss(Exception):
    """A training step's loss was NaN or infinite (the step had already been applied)."""

    def __init__(self, step: int, epoch: int | None = None):
        super().__init__(step, epoch)
        self.step, self.epoch = step, epoch

    def __str__(self) -> str:
        return f"non-finite loss at epoch {self.epoch}, step {self.step}"


class Evaluator:
    """Logits and the original's loss of a model on whole halves; no optimizer state.

    With `replicas` (a `distribution.Replicas`, the model built in its strategy's scope), each half is
    shared among the replicas and the logits are gathered from all of them (so every process of a
    multi-worker run sees all of them); batch norm is synchronised when `replicas.sync_batch_norm`."""

    def __init__(self, model, replicas=None):
        import tensorflow as tf

        self.tf = tf
        self.model = model
        self.replicas = replicas
        self.streams = tuple(model.input.keys()) if isinstance(model.input, dict) else ("video",)
        logits_of = networks.logits_function(model)
        # One trace for every batch size (see networks.input_signature): a resumed run runs the same graph.
        self.signature = [networks.input_signature(model), tf.TensorSpec([None, dataset.NUM_CLASSES], tf.float32)]

        def evaluate_replica(inputs, labels):
            # Under a strategy, the model itself: a nested compiled function cannot hold the all-reduces
            # of synchronised batch norm.
            logits = logits_of(inputs) if replicas is None else tf.cast(model(inputs, training=False), tf.float32)
            return logits, chunk_losses(labels, logits)

        if replicas is None:
            self._evaluate = tf.function(evaluate_replica, input_signature=self.signature)
            return
        for layer in model._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, networks.BatchNorm):
                layer.synchronized = replicas.sync_batch_norm  # read when the step functions are traced
        strategy = replicas.strategy

        @tf.function(reduce_retracing=True)
        def evaluate(inputs, labels):
            logits, losses = strategy.run(evaluate_replica, args=(inputs, labels))
            return strategy.gather(logits, axis=0), strategy.gather(losses, axis=0)

        self._evaluate = evaluate

    def _distributed_batches(self, split: dataset.Split, index: dataset.WindowIndex,
                             plans: list[list[np.ndarray]]):
        """For each group of per-replica shares (one global batch), the distributed (inputs, labels) of
        this process's replicas, read through one pipeline in order."""
        local = self.replicas.local_ids
        position = {replica: number for number, replica in enumerate(local)}
        data = iter(dataset.make_dataset(split, index, [shares[r] for shares in plans for r in local],
                                         streams=self.streams))
        for _ in plans:
            elements = [next(data) for _ in local]
            yield self.replicas.strategy.experimental_distribute_values_from_function(
                lambda context: elements[position[context.replica_id_in_sync_group]])

    def predict_halves(self, split: dataset.Split, index: dataset.WindowIndex) -> tuple[np.ndarray, float]:
        """Logits of every chunk, one half per batch (as the original evaluated), and the original's
        loss scalar (sum over halves of the half's mean loss)."""
        batches = [b for b in dataset.half_batches(index, 1) if len(b)]
        logits = []
        loss_sum = 0.0
        if self.replicas is not None:
            plans = [np.array_split(b, self.replicas.count) for b in batches]
            elements = self._distributed_batches(split, index, plans)
        else:
            elements = dataset.make_dataset(split, index, batches, streams=self.streams)
        for inputs, target in elements:
            out, losses = self._evaluate(inputs, target)
            logits.append(out.numpy())
            loss_sum += float(np.mean(losses.numpy()))
        order = np.concatenate(batches)
        result = np.empty((len(index), dataset.NUM_CLASSES), np.float32)
        result[order] = np.concatenate(logits)
        return result, loss_sum


class Trainer(Evaluator):
    """The model, Adam, gradient accumulation over micro-batches, and the compiled step functions."""

    def __init__(self, model, learning_rate: float, replicas=None, loss_scaling: bool = False):
        """Under `replicas`, call it in the strategy's scope (the optimizer's variables are mirrored, each
        replica accumulates its own gradients, and Keras's optimizer sums them over the replicas).
        `loss_scaling`: Keras's dynamic loss scale (for float16 products), a step whose gradients are
        not finite skipped and the scale halved."""
        import keras

        from networks import optimizer

        super().__init__(model, replicas)
        tf = self.tf
        # The original's Adam (TF1 defaults, epsilon 1e-8), its update one fused kernel per variable.
        self.optimizer = optimizer.original_adam(learning_rate)
        if loss_scaling:
            self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
        self.optimizer.build(model.trainable_variables)
        scale_loss = self.optimizer.scale_loss if loss_scaling else (lambda loss: loss)
        per_replica = {} if replicas is None else dict(synchronization=tf.VariableSynchronization.ON_READ,
                                                       aggregation=tf.VariableAggregation.SUM)
        self.accumulators = [tf.Variable(tf.zeros_like(v), trainable=False, **per_replica)
                             for v in model.trainable_variables]

        def forward_backward(inputs, labels, scale):
            with tf.GradientTape() as tape:
                logits = tf.cast(self.model(inputs, training=True), tf.float32)
                per_chunk = chunk_losses(labels, logits)
                # `scale` (1 / chunks of the whole step) turns the sum over the pieces into the step's mean.
                loss = scale_loss(tf.reduce_sum(per_chunk) * scale)
            return logits, tf.reduce_sum(per_chunk), tape.gradient(loss, self.model.trainable_variables)

        def accumulate(inputs, labels, scale):
            logits, loss, gradients = forward_backward(inputs, labels, scale)
            for accumulator, gradient in zip(self.accumulators, gradients):
                accumulator.assign_add(gradient)
            return logits, loss

        def whole_step(inputs, labels, scale):
            # A step in one piece: its gradients straight to the optimizer, no accumulator pass (the same
            # numbers: 0 + g is g).
            logits, loss, gradients = forward_backward(inputs, labels, scale)
            self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))
            return logits, loss

        def apply():
            # Under a strategy: in each replica, its own sums (read_value: value() of a per-replica variable
            # fails across workers); the optimizer all-reduces them.
            sums = [a.value() if replicas is None else a.read_value() for a in self.accumulators]
            self.optimizer.apply_gradients(zip(sums, self.model.trainable_variables))
            for accumulator in self.accumulators:
                accumulator.assign(tf.zeros_like(accumulator))

        if replicas is None:
            signature = self.signature + [tf.TensorSpec([], tf.float32)]
            self._accumulate = tf.function(accumulate, input_signature=signature)
            self._whole_step = tf.function(whole_step, input_signature=signature)
            self._apply = tf.function(apply)
            return
        strategy = replicas.strategy

        @tf.function(reduce_retracing=True)
        def accumulate_distributed(inputs, labels, scale):
            logits, loss = strategy.run(accumulate, args=(inputs, labels, scale))
            return strategy.gather(logits, axis=0), strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)

        @tf.function
        def apply_distributed():
            strategy.run(apply)

        self._accumulate, self._apply = accumulate_distributed, apply_distributed

    def set_learning_rate(self, value: float) -> None:
        self.optimizer.learning_rate.assign(value)

    def train_epoch(self, split: dataset.Split, index: dataset.WindowIndex, steps: list[np.ndarray],
                    micro_batch: int, progress) -> tuple[np.ndarray, np.ndarray, float]:
        """One epoch of optimizer steps. Returns the epoch's chunk logits and labels (from the forward
        passes, dropout active, in step order) and the original's loss scalar (sum of step means).
        `micro_batch`: chunks per piece (per replica under distribution); 0 for whole steps."""
        if self.replicas is not None:
            return self._train_epoch_distributed(split, index, steps, micro_batch, progress)
        micro_batch = micro_batch or 10 ** 9
        pieces, scales = [], []
        for step in steps:
            for piece in dataset.split_batch(step, micro_batch):
                pieces.append(piece)
                scales.append(1.0 / len(step))
        data = iter(dataset.make_dataset(split, index, pieces, streams=self.streams))
        logits, labels, loss_sum = [], [], 0.0
        position = 0
        for number, step in enumerate(steps, 1):
            step_loss = 0.0
            count = len(dataset.split_batch(step, micro_batch))
            run = self._whole_step if count == 1 else self._accumulate
            for _ in range(count):
                inputs, target = next(data)
                piece_logits, piece_loss = run(inputs, target, self.tf.constant(scales[position], self.tf.float32))
                position += 1
                logits.append(piece_logits.numpy())
                labels.append(target.numpy())
                step_loss += float(piece_loss)
            loss_sum += self._end_step(number, step_loss / len(step), progress, applied=count == 1)
        return np.concatenate(logits), np.concatenate(labels), loss_sum

    def _end_step(self, number: int, step_loss: float, progress, applied: bool = False) -> float:
        """Apply the step's summed gradients (unless the step `applied` them itself), stop on a non-finite
        loss, and report the step's mean loss."""
        if not applied:
            self._apply()
        if not np.isfinite(step_loss):
            raise NonFiniteLoss(number)
        dataset.fault_point("step")
        progress.update(1)
        progress.set_postfix(loss=f"{step_loss:.3f}")
        return step_loss

    def _train_epoch_distributed(self, split, index, steps, micro_batch, progress):
        """`train_epoch` under a strategy: each piece of a step (`distribution.step_plan`) is shared among
        the replicas; every replica adds the gradient of its share's summed loss times 1 / (chunks of the
        whole step), so the optimizer's sum over replicas is the gradient of the step's mean loss, as on
        one device. Logits are gathered from every replica; the loss is all-reduced."""
        import distribution

        plans = [distribution.step_plan(step, micro_batch, self.replicas.count) for step in steps]
        elements = self._distributed_batches(split, index, [shares for plan in plans for shares in plan])
        logits, labels, loss_sum = [], [], 0.0
        for number, (step, plan) in enumerate(zip(steps, plans), 1):
            scale = self.tf.constant(1.0 / len(step), self.tf.float32)
            step_loss = 0.0
            for shares in plan:
                inputs, target = next(elements)
                piece_logits, piece_loss = self._accumulate(inputs, target, scale)
                logits.append(piece_logits.numpy())
                labels.append(index.labels[np.concatenate(shares)])
                step_loss += float(piece_loss)
            loss_sum += self._end_step(number, step_loss / len(step), progress)
        return np.concatenate(logits), np.concatenate(labels), loss_sum

    def fingerprint(self) -> str:
        """A digest of every model variable's bytes: the same on every worker of a run that is in step."""
        import hashlib

        digest = hashlib.sha256()
        for variable in self.model.variables:
            digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
        return digest.hexdigest()[:16]


def open_split(args, list_path: str) -> dataset.Split:
    return dataset.Split(list_path, data_root=args.SoccerNet_path,
                         video_features=features_or_none(args.featuresVideo),
                         audio_features=features_or_none(args.featuresAudio), pca=args.PCA, fps=args.featurePerSec)


def test_run(evaluator: Evaluator, args, run: Path, writer=None, step: int = 0,
             split: dataset.Split | None = None, report_file: Path | None = None) -> dict:
    """Test the current weights on --testing (`split`, when already opened); save the report (to
    `report_file`, default the run's test_report.json) and the logits; print the report on stdout."""
    split = split or open_split(args, args.testing)
    index = split.chunk_index(args.WindowSize)
    logits, loss = evaluator.predict_halves(split, index)
    report = classification.classification_report(index.labels, classification.sigmoid(logits), loss=loss)
    report_file = report_file or run / runs.TEST_REPORT
    dataset.write_json_atomic(report_file, report)
    save_predictions(runs.predictions_file(run, args.testing), split, index, logits)
    if writer is not None:
        write_scalars(writer, step, report)
    text = classification.format_classification_report(report, f"test ({Path(args.testing).name})")
    log.debug("\n%s", text)
    log.info("test on %s: mAP %.1f %%, report in %s", Path(args.testing).name, 100 * report["mAP"], report_file)
    print(text, flush=True)
    return report


@dataclass
class TrainingData:
    """The training and validation splits and their chunk indexes, and the test split."""

    splits: dict[str, dataset.Split]
    indexes: dict[str, dataset.WindowIndex]
    testing: dataset.Split

    @property
    def frames(self) -> int:
        return self.indexes["training"].frames

    @property
    def dims(self) -> dict[str, int]:
        training = self.splits["training"]
        return {stream: training.dim(stream) for stream in training.streams}


def open_training_data(args) -> TrainingData:
    """Open and check the training, validation and test lists and their files (DataError on bad input),
    before anything is written."""
    splits = {name: open_split(args, getattr(args, name)) for name in ("training", "validation")}
    testing = open_split(args, args.testing)  # tested at the end: checked now
    testing.release()
    data = TrainingData(splits, {name: split.chunk_index(args.WindowSize) for name, split in splits.items()},
                        testing)
    missing = [s for s in networks.streams_of(args.architecture) if s not in data.dims]
    if missing:
        raise dataset.DataError(args.training, f"{args.architecture} needs {' and '.join(missing)} features, "
                                               f"but --features{missing[0].capitalize()} is none")
    return data


def describe(data: TrainingData) -> None:
    for name, index in data.indexes.items():
        log.info("%s: %d halves, %d chunks of %d frames (%s)", name, len(data.splits[name].halves), len(index),
                 data.frames, ", ".join(f"{name} {int(index.labels[:, c].sum())}"
                                        for c, name in enumerate(dataset.CLASSES) if c))


@dataclass
class TrainingState:
    """What changes from epoch to epoch: the model and optimizer (in the trainer), the schedule, the
    shuffling generator, and the next epoch."""

    trainer: Trainer
    schedule: Schedule
    rng: np.random.Generator
    start_epoch: int = 0
    micro_batch: int = 0  # chunks per piece (per replica); 0: whole steps


def largest_step(index: dataset.WindowIndex, halves_per_step: int) -> int:
    """The most chunks a training step can hold: those of the `halves_per_step` longest halves."""
    counts = np.sort(np.bincount(index.half_id))[::-1]
    return int(counts[:halves_per_step].sum())


def resolve_micro_batch(args, model, index: dataset.WindowIndex, replicas) -> int:
    """--micro_batch as chunks per piece and replica (0: whole steps), choosing for `auto` from the step's
    memory estimate (`distribution.step_memory`) and the device's memory (or --memory_budget)."""
    import distribution

    if args.micro_batch != "auto":
        return int(args.micro_batch)
    count = 1 if replicas is None else replicas.count
    share = -(-largest_step(index, args.batch_size) // count)
    import tensorflow as tf

    devices = replicas.devices if replicas is not None else tuple(
        d.name for d in tf.config.list_logical_devices("GPU")[:1])
    on_gpu = any("GPU" in d.upper() for d in devices)
    if args.memory_budget:
        budget, where = args.memory_budget * 2 ** 30, "--memory_budget"
    else:
        budget, where = distribution.available_memory(devices if on_gpu else
                                                      (replicas.devices if replicas is not None else ()))
    micro, message = distribution.choose_micro_batch(distribution.step_memory(model), share, budget, where, on_gpu)
    log.info("%s", message)
    return micro


def build_or_resume(args, run: Path, data: TrainingData, state: dict | None, replicas=None) -> TrainingState:
    """A new model, optimizer and schedule, or those of the resume state (`state`, read once by main);
    under `replicas`, made in the strategy's scope."""
    import contextlib

    import keras

    keras.backend.clear_session()  # stable layer names from one run to the next in a process
    keras.utils.set_random_seed(args.seed)
    dims = data.dims
    previous_policy = keras.mixed_precision.global_policy()
    with replicas.strategy.scope() if replicas is not None else contextlib.nullcontext():
        # The layers take the policy of --precision (saved with the model); the logits layer is float32.
        keras.mixed_precision.set_global_policy(args.precision)
        try:
            model = networks.build_model(args.architecture, num_frames=data.frames, video_dim=dims.get("video", 512),
                                         audio_dim=dims.get("audio", 512), pooling=args.network, vlad_k=args.VLAD_k,
                                         bn_mode=args.bn_mode, honour_pooling=args.honour_pooling,
                                         framewise_fusion=args.framewise_fusion, keep_prob=1.0 - args.dropout)
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
        log.info("%s with %s: %s trainable parameters%s", args.architecture, args.network,
                 f"{sum(int(np.prod(v.shape)) for v in model.trainable_variables):,}",
                 "" if args.precision == "float32" else f", {args.precision} policy")
        trainer = Trainer(model, args.LR, replicas, loss_scaling=args.precision == "mixed_float16")
    current = TrainingState(trainer, Schedule(lr=args.LR, lr_patience=args.lr_patience,
                                              stop_patience=args.stop_patience, min_lr=args.min_LR),
                            np.random.default_rng(args.seed),
                            micro_batch=resolve_micro_batch(args, model, data.indexes["training"], replicas))
    (run / runs.CHECKPOINT_DIR).mkdir(exist_ok=True)
    if state is not None:
        load_state(run / runs.CHECKPOINT_DIR / state["state_file"], model, current.trainer.optimizer)
        current.schedule = Schedule(**state["schedule"])
        current.rng.bit_generator.state = state["rng"]
        # A run that had stopped early has only its test left.
        current.start_epoch = args.max_epoch if state.get("stopped") else state["epoch"] + 1
        log.info("resumed %s after epoch %d (best mAP %.4f at epoch %d, LR %g)", run, state["epoch"] + 1,
                 current.schedule.best, current.schedule.best_epoch + 1, current.schedule.lr)
    truncate_csv(run / runs.METRICS_CSV, current.start_epoch)  # rows of epochs that will run again
    current.trainer.set_learning_rate(current.schedule.lr)
    return current


def run_epoch(args, epoch: int, current: TrainingState, data: TrainingData, run: Path, writers: dict) -> list[str]:
    """Train one epoch, validate, apply the schedule's actions, log, and write the resume state.
    Returns the schedule's actions."""
    from tqdm import tqdm

    trainer, schedule = current.trainer, current.schedule
    checkpoint = run / runs.CHECKPOINT_DIR
    began = time.perf_counter()
    lr = schedule.lr
    steps = dataset.half_batches(data.indexes["training"], args.batch_size, current.rng)
    with tqdm(total=len(steps), desc=f"epoch {epoch + 1} steps", unit="step", leave=False,
              disable=runs.progress_off(args.no_progress), dynamic_ncols=True) as bar:
        try:
            logits, labels, train_loss = trainer.train_epoch(data.splits["training"], data.indexes["training"],
                                                             steps, current.micro_batch, bar)
        except NonFiniteLoss as exc:
            exc.epoch = epoch + 1
            raise
    dataset.fault_point("validate")
    train_report = classification.classification_report(labels, classification.sigmoid(logits), loss=train_loss)
    valid_logits, valid_loss = trainer.predict_halves(data.splits["validation"], data.indexes["validation"])
    valid_report = classification.classification_report(data.indexes["validation"].labels,
                                                        classification.sigmoid(valid_logits), loss=valid_loss)
    actions = schedule.update(valid_report["mAP"])
    if "save" in actions:
        save_state(checkpoint / runs.BEST_STATE, trainer.model, trainer.optimizer)
        dataset.write_atomic(run / runs.BEST_MODEL, trainer.model.save)
    if "decay" in actions:  # restore the best weights and optimizer state, then the new rate
        load_state(checkpoint / runs.BEST_STATE, trainer.model, trainer.optimizer)
        trainer.set_learning_rate(schedule.lr)
    write_scalars(writers["training"], epoch + 1, train_report, lr)  # 1-based epochs, as metrics.csv and train.log
    write_scalars(writers["validation"], epoch + 1, valid_report, lr)
    seconds = time.perf_counter() - began
    ap = valid_report["AP"]
    append_csv(run / runs.METRICS_CSV, {
        "epoch": epoch + 1, "learning_rate": lr, "train_loss": round(train_loss, 6),
        "train_mAP": round(train_report["mAP"], 6), "valid_loss": round(valid_loss, 6),
        "valid_mAP": round(valid_report["mAP"], 6), "valid_AP_card": round(ap["card"], 6),
        "valid_AP_subs": round(ap["subs"], 6), "valid_AP_goal": round(ap["goal"], 6),
        "best_mAP": round(schedule.best, 6), "best_epoch": schedule.best_epoch + 1,
        "bad_epochs": schedule.counter, "action": "+".join(actions), "seconds": round(seconds, 2)})
    log.info("epoch %d/%d lr %.0e | train loss %.2f mAP %.1f | valid mAP %.1f (card %.1f subs %.1f goal %.1f)"
             " | best %.1f @%d, bad %d%s | %.0f s, peak memory %.1f GB", epoch + 1, args.max_epoch, lr, train_loss,
             100 * train_report["mAP"], 100 * valid_report["mAP"], 100 * ap["card"], 100 * ap["subs"],
             100 * ap["goal"], 100 * schedule.best, schedule.best_epoch + 1, schedule.counter,
             "".join(f", {a}" for a in actions if a != "save") + (", saved" if "save" in actions else ""),
             seconds, peak_memory_gb())
    # The state after this epoch, for --resume: the arrays first, then the JSON that points at them.
    state_file = runs.last_state_file(epoch + 1)
    save_state(checkpoint / state_file, trainer.model, trainer.optimizer)
    dataset.write_json_atomic(checkpoint / runs.STATE_FILE, {
        "epoch": epoch, "state_file": state_file, "schedule": schedule.to_json(),
        "rng": current.rng.bit_generator.state, "stopped": "stop" in actions})
    for old in checkpoint.glob(runs.LAST_STATES):
        if old.name != state_file:
            old.unlink()
    return actions


def train(args, run: Path, data: TrainingData, state: dict | None = None,
          after_epoch: Callable[[int], None] | None = None, replicas=None) -> dict:
    """Train from scratch (or from the resume `state`), then test the best model.

    Args:
        data: the opened training and validation data (`open_training_data`).
        after_epoch: called with the epoch number (0-based) once its resume state is written (tests use it
            to interrupt a run).
        replicas: the `distribution.Replicas` of --distribute (None: one device).
    """
    import tensorflow as tf
    from tqdm import tqdm

    describe(data)
    current = build_or_resume(args, run, data, state, replicas)
    writers = {name: tf.summary.create_file_writer(str(run / name)) for name in runs.TENSORBOARD_SPLITS}
    schedule, stopped = current.schedule, False
    epochs = tqdm(range(current.start_epoch, args.max_epoch), desc="epochs", unit="epoch",
                  initial=current.start_epoch, total=args.max_epoch, disable=runs.progress_off(args.no_progress), dynamic_ncols=True)
    for epoch in epochs:
        actions = run_epoch(args, epoch, current, data, run, writers)
        epochs.set_postfix(best=f"{100 * schedule.best:.1f}")
        if after_epoch is not None:
            after_epoch(epoch)
        if "stop" in actions:
            stopped = True
            break
    epochs.close()
    log.info("training %s after %d epochs; best validation mAP %.1f %% at epoch %d",
             "stopped early" if stopped else "ended", schedule.epoch + 1, 100 * schedule.best,
             schedule.best_epoch + 1)
    if schedule.best_epoch >= 0:
        load_state(run / runs.CHECKPOINT_DIR / runs.BEST_STATE, current.trainer.model, current.trainer.optimizer)
    if replicas is not None:  # the same on every worker of a run in step
        log.info("weights fingerprint %s (best model)", current.trainer.fingerprint())
    report = test_run(current.trainer, args, run, writers["testing"], schedule.best_epoch + 1, data.testing)
    for writer in writers.values():
        writer.close()
    if not args.keep_checkpoint:  # finished: what resume needs is no longer needed
        shutil.rmtree(run / runs.CHECKPOINT_DIR, ignore_errors=True)
    return report


# The flags that --mode predict takes from the run (given, each must agree with it).
PREDICT_RUN_FLAGS = runs.MODEL_FLAGS + ("testing", "SoccerNet_path")


def predict_arguments(args, parser: argparse.ArgumentParser):
    """--mode predict: the model and its settings. Model and data flags come from the run's args.json
    (`runs.resolve_settings`: a given flag must agree with the run); --testing and --SoccerNet_path
    default to the run's. A bare .keras file without args.json takes the flags given, else the defaults.

    Returns:
        (model, model file, the arguments to test with, where the report goes).
    """
    if not args.model:
        raise dataset.DataError("--model", "--mode predict needs --model RUN_FOLDER or a .keras file")
    model_file = runs.model_file(args.model)
    recorded = runs.read_args(model_file.parent, required=False)
    settings = runs.resolve_settings(args, recorded, model_file)
    model, _ = runs.load_model(model_file)
    config, frames = runs.model_config(model, model_file, settings)
    defaults = vars(parser.parse_args([]))
    testing = args.testing or recorded.get("testing") or defaults["testing"]
    values = {**vars(args), **settings, "architecture": config["architecture"],
              "WindowSize": frames / settings["featurePerSec"], "testing": testing,
              "SoccerNet_path": args.SoccerNet_path if args.SoccerNet_path is not None
              else recorded.get("SoccerNet_path")}
    tested = argparse.Namespace(**values)
    # test_report.json is the finished run's test on its own list and data root (reproduce.py reads it, and
    # it marks the run finished): anything else goes to test_report_<list>.json.
    own = runs.is_finished(model_file.parent) and (
        args.SoccerNet_path is None or args.SoccerNet_path == recorded.get("SoccerNet_path"))
    report = runs.test_report_file(model_file.parent, testing, recorded.get("testing") if own else None)
    return model, model_file, tested, report


def predict(args, parser: argparse.ArgumentParser) -> dict:
    """--mode predict: test a trained model on --testing (default the run's list) and save the report and
    the logits beside it (test_report.json for the run's own list, test_report_<list>.json for another)."""
    model, model_file, tested, report_file = predict_arguments(args, parser)
    log.info("model %s: %s, T = %g s; testing %s", model_file, tested.architecture, tested.WindowSize, tested.testing)
    return test_run(Evaluator(model), tested, model_file.parent, report_file=report_file)


def main(argv: Sequence[str] | None = None, after_epoch: Callable[[int], None] | None = None) -> int:
    """The command line. `after_epoch` is passed to `train` (a test hook)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mode == "predict":  # the model and data flags not given are the run's: None until resolved
        parser.set_defaults(**{flag: None for flag in PREDICT_RUN_FLAGS})
        args = parser.parse_args(argv)
        parser = build_parser()
    if args.mode == "predict" and args.resume:
        parser.error("--mode predict tests a trained --model; --resume continues a training: give one of them")
    if args.mode == "predict" and args.distribute != "none":
        parser.error("--distribute is for training; --mode predict runs on one device")
    if not 0.0 <= args.dropout < 1.0:
        parser.error("--dropout must be in [0, 1)")
    if args.mode == "train" and not args.resume and not args.architecture:
        parser.error("--architecture is required to train")
    state = None
    if args.resume:  # continue with the arguments the run was started with
        run = Path(args.resume)
        try:
            recorded = runs.read_args(run)
            # A run killed in its first epoch has no state yet: it starts again in its folder.
            state = runs.read_state(run) if runs.has_state(run) else None
        except dataset.DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return runs.EXIT_BAD_INPUT
        if state is None and runs.is_finished(run):
            print(f"{run}: finished already ({runs.TEST_REPORT}); nothing to resume")
            return 0
        # Flags added since the run started take their defaults; how to run it (devices, memory) is this
        # command line's.
        args = argparse.Namespace(**{**vars(parser.parse_args([])), **recorded, "resume": str(run),
                                     **{flag: getattr(args, flag) for flag in MACHINE_FLAGS}})
    if args.distribute == "multiworker":
        try:
            distribution.read_tf_config()
        except dataset.DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return runs.EXIT_BAD_INPUT
    if args.mode == "train" and args.WindowSize * args.featurePerSec != int(args.WindowSize * args.featurePerSec):
        parser.error("--WindowSize times --featurePerSec must be a whole number of frames")
    runs.setup_process(args)
    tf = runs.start_tensorflow()
    networks.set_xla_descriptor(args.xla_descriptor)
    run, chief = None, True
    try:
        distribution.configure_devices(args.distribute, args.replicas)
        replicas = distribution.make_replicas(args.distribute, args.replicas, not args.no_sync_bn)
        if args.deterministic:
            tf.config.experimental.enable_op_determinism()
        if args.formatdataset:
            log.info("--formatdataset: no chunk cache is needed here (windows are read by index)")
        if replicas is not None:
            log.info("%s", replicas.describe())
            chief = replicas.chief
        if args.mode == "predict":
            predict(args, parser)
            return 0
        data = open_training_data(args)  # all input checked before the run folder exists
        if chief:
            run = Path(args.resume) if args.resume else runs.new_run_dir(args.tflog, args.outputPrefix)
            runs.setup_logging(args.loglevel, run / runs.TRAIN_LOG)
            if not args.resume:
                dataset.write_json_atomic(run / runs.ARGS_FILE, {"args": vars(args), "versions": runs.versions(),
                                                                 "command": sys.argv if argv is None else list(argv)})
        else:  # another worker of the run: the same work, its files in a private folder removed at the end
            run = worker_scratch(args.resume)
        log.info("run folder %s", run)
        log.info("arguments: %s", " ".join(f"--{k} {v}" for k, v in sorted(vars(args).items())))
        train(args, run, data, state, after_epoch, replicas)
    except dataset.DataError as exc:
        log.debug("bad input", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return runs.EXIT_BAD_INPUT
    except NonFiniteLoss as exc:
        log.debug("non-finite loss", exc_info=True)
        print(f"error: {run}: {exc}; training stopped, the last good checkpoint and best model are kept",
              file=sys.stderr)
        return runs.EXIT_NON_FINITE
    except OSError as exc:
        log.debug("write failed", exc_info=True)
        print(f"error: {exc.filename or run}: {exc.strerror or exc}; the previous checkpoint and best model are "
              "kept", file=sys.stderr)
        return runs.EXIT_WRITE_FAILED
    finally:
        if not chief and run is not None:
            shutil.rmtree(run, ignore_errors=True)
    return 0


# The flags of how a run runs, not of what it computes: on --resume, the command line's, not the run's.
MACHINE_FLAGS = ("no_progress", "distribute", "replicas", "memory_budget")


def worker_scratch(resume: str | None) -> Path:
    """The folder where a worker other than the chief keeps its copy of the run's state (the chief's run
    folder is the only one written; a worker needs its own best state for the learning-rate steps). On
    --resume it starts from a copy of the run's checkpoint/ (a shared file system, or a copy of the run
    folder at the same path on each machine)."""
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="soccernet-worker-"))
    if resume:
        source = Path(resume) / runs.CHECKPOINT_DIR
        if source.is_dir():
            shutil.copytree(source, scratch / runs.CHECKPOINT_DIR)
    return scratch

if __name__ == "__main__":
    raise SystemExit(main())
