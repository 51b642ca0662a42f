"""The training loop of the authors' trainer.py: a model built (or resumed from the run's checkpoint),
epochs of optimizer steps, validation after each, the schedule's actions (save the best, divide the
learning rate and restore the best, stop), metrics.csv, TensorBoard scalars and the resume state after
every epoch, and at the end the test of the best model.

Each epoch shuffles the training halves and takes all chunks of `--batch_size` halves per step
(`batch_plans.half_batches`); the validation and test pass one half per batch, as the original.
"""
from __future__ import annotations

import contextlib
import logging
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

import dataset
from base import fault_hook, files, precision
from evaluation.classification import classification_report, sigmoid
from networks.architectures import build_model
from networks.precision import precision_scope
from runtime import process, rundir
from training import batch_plans, distribution
from training.data import TrainingData, describe, largest_step
from training.evaluate import evaluate_run, write_scalars
from training.schedule import Schedule
from training.trainer import NonFiniteLoss, Trainer

log = logging.getLogger(__name__)


def peak_memory_gb() -> float:
    """The process's peak resident memory so far (host RAM; on a GPU the device's is TensorFlow's)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def gpu_peak_text() -> str:
    """", GPU peak X GB" (TensorFlow's allocator peak so far in this process, the largest over its GPUs), or ""."""
    peaks = [tf.config.experimental.get_memory_info(d.name)["peak"] for d in tf.config.list_logical_devices("GPU")]
    return f", GPU peak {max(peaks) / 2 ** 30:.1f} GB" if peaks else ""


@dataclass
class TrainingState:
    """What changes from epoch to epoch: the model and optimizer (in the trainer), the schedule, the
    shuffling generator, and the next epoch."""

    trainer: Trainer
    schedule: Schedule
    rng: np.random.Generator
    start_epoch: int = 0
    micro_batch: int = 0  # chunks per piece (per replica); 0: whole steps


def resolve_micro_batch(args, model, index: dataset.WindowIndex, replicas) -> int:
    """--micro_batch as chunks per piece and replica (0: whole steps), choosing for `auto` from the step's
    memory estimate (`distribution.step_memory`) and the device's memory (or --memory_budget)."""
    if args.micro_batch != "auto":
        return int(args.micro_batch)
    count = 1 if replicas is None else replicas.count
    share = -(-largest_step(index, args.batch_size) // count)
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
    keras.backend.clear_session()  # stable layer names from one run to the next in a process
    process.warn_slow_bfloat16(args.precision, log)
    keras.utils.set_random_seed(args.seed)
    dims = data.dims
    with replicas.strategy.scope() if replicas is not None else contextlib.nullcontext():
        # The layers take the policy of --precision (saved with the model); the logits layer is float32.
        with precision_scope(args.precision):
            model = build_model(args.architecture, num_frames=data.frames, video_dim=dims.get("video", 512),
                                audio_dim=dims.get("audio", 512), pooling=args.network, vlad_k=args.VLAD_k,
                                bn_mode=args.bn_mode, honour_pooling=args.honour_pooling,
                                framewise_fusion=args.framewise_fusion, keep_prob=1.0 - args.dropout,
                                classes=data.splits["training"].classes.name)
        log.info("%s with %s: %s trainable parameters%s", args.architecture, args.network,
                 f"{sum(int(np.prod(v.shape)) for v in model.trainable_variables):,}",
                 "" if args.precision == "float32" else f", {args.precision} policy")
        trainer = Trainer(model, args.LR, replicas, loss_scaling=precision.canonical(args.precision) == "float16")
    current = TrainingState(trainer, Schedule(lr=args.LR, lr_patience=args.lr_patience,
                                              stop_patience=args.stop_patience, min_lr=args.min_LR),
                            np.random.default_rng(args.seed),
                            micro_batch=resolve_micro_batch(args, model, data.indexes["training"], replicas))
    (run / rundir.CHECKPOINT_DIR).mkdir(exist_ok=True)
    if state is not None:
        rundir.load_state(run / rundir.CHECKPOINT_DIR / state["state_file"], model, current.trainer.optimizer)
        current.schedule = Schedule(**state["schedule"])
        current.rng.bit_generator.state = state["rng"]
        # A run that had stopped early has only its test left.
        current.start_epoch = args.max_epoch if state.get("stopped") else state["epoch"] + 1
        log.info("resumed %s after epoch %d (best mAP %.4f at epoch %d, LR %g)", run, state["epoch"] + 1,
                 current.schedule.best, current.schedule.best_epoch + 1, current.schedule.lr)
    rundir.truncate_csv(run / rundir.METRICS_CSV, current.start_epoch)  # rows of epochs that will run again
    current.trainer.set_learning_rate(current.schedule.lr)
    return current


def run_epoch(args, epoch: int, current: TrainingState, data: TrainingData, run: Path, writers: dict) -> list[str]:
    """Train one epoch, validate, apply the schedule's actions, log, and write the resume state.
    Returns the schedule's actions."""
    trainer, schedule = current.trainer, current.schedule
    checkpoint = run / rundir.CHECKPOINT_DIR
    began = time.perf_counter()
    lr = schedule.lr
    steps = batch_plans.half_batches(data.indexes["training"], args.batch_size, current.rng)
    with tqdm(total=len(steps), desc=f"epoch {epoch + 1} steps", unit="step", leave=False,
              disable=process.progress_off(args.no_progress), dynamic_ncols=True) as bar:
        try:
            logits, labels, train_loss = trainer.train_epoch(data.splits["training"], data.indexes["training"],
                                                             steps, current.micro_batch, bar)
        except NonFiniteLoss as exc:
            exc.epoch = epoch + 1
            raise
    fault_hook.fault_point("validate")
    train_report = classification_report(labels, sigmoid(logits), loss=train_loss)
    valid_logits, valid_loss = trainer.predict_halves(data.splits["validation"], data.indexes["validation"])
    valid_report = classification_report(data.indexes["validation"].labels, sigmoid(valid_logits), loss=valid_loss)
    actions = schedule.update(valid_report["mAP"])
    if "save" in actions:
        rundir.save_state(checkpoint / rundir.BEST_STATE, trainer.model, trainer.optimizer)
        files.write_atomic(run / rundir.BEST_MODEL, trainer.model.save)
    if "decay" in actions:  # restore the best weights and optimizer state, then the new rate
        rundir.load_state(checkpoint / rundir.BEST_STATE, trainer.model, trainer.optimizer)
        trainer.set_learning_rate(schedule.lr)
    write_scalars(writers["training"], epoch + 1, train_report, lr)  # 1-based epochs, as metrics.csv and train.log
    write_scalars(writers["validation"], epoch + 1, valid_report, lr)
    seconds = time.perf_counter() - began
    spotted = data.splits["validation"].classes
    ap = [valid_report["AP"][name] for name in spotted.event_classes]
    values = {"epoch": epoch + 1, "learning_rate": lr, "train_loss": round(train_loss, 6),
              "train_mAP": round(train_report["mAP"], 6), "valid_loss": round(valid_loss, 6),
              "valid_mAP": round(valid_report["mAP"], 6),
              **{f"valid_AP_{n}": round(a, 6) for n, a in zip(spotted.identifiers[1:], ap)},
              "best_mAP": round(schedule.best, 6), "best_epoch": schedule.best_epoch + 1,
              "bad_epochs": schedule.counter, "action": "+".join(actions), "seconds": round(seconds, 2)}
    rundir.append_csv(run / rundir.METRICS_CSV, {field: values[field] for field in rundir.csv_fields(spotted)})
    per_class = (" ".join(f"{n} {100 * a:.1f}" for n, a in zip(spotted.event_classes, ap)) if len(ap) <= 3
                 else f"{len(ap)} classes")  # v1: (card 52.6 subs 73.2 goal 33.1)
    log.info("epoch %d/%d lr %.0e | train loss %.2f mAP %.1f | valid mAP %.1f (%s)"
             " | best %.1f @%d, bad %d%s | %.0f s, peak memory %.1f GB%s", epoch + 1, args.max_epoch, lr, train_loss,
             100 * train_report["mAP"], 100 * valid_report["mAP"], per_class,
             100 * schedule.best, schedule.best_epoch + 1, schedule.counter,
             "".join(f", {a}" for a in actions if a != "save") + (", saved" if "save" in actions else ""),
             seconds, peak_memory_gb(), gpu_peak_text())
    # The state after this epoch, for --resume: the arrays first, then the JSON that points at them.
    state_file = rundir.last_state_file(epoch + 1)
    rundir.save_state(checkpoint / state_file, trainer.model, trainer.optimizer)
    files.write_json_atomic(checkpoint / rundir.STATE_FILE, {
        "epoch": epoch, "state_file": state_file, "schedule": schedule.to_json(),
        "rng": current.rng.bit_generator.state, "stopped": "stop" in actions})
    for old in checkpoint.glob(rundir.LAST_STATES):
        if old.name != state_file:
            old.unlink()
    return actions


def train(args, run: Path, data: TrainingData, state: dict | None = None,
          after_epoch: Callable[[int], None] | None = None, replicas=None) -> dict:
    """Train from scratch (or from the resume `state`), then test the best model.

    Args:
        data: the opened training and validation data (`training.data.open_training_data`).
        after_epoch: called with the epoch number (0-based) once its resume state is written (tests use it
            to interrupt a run).
        replicas: the `distribution.Replicas` of --distribute (None: one device).
    """
    describe(data)
    current = build_or_resume(args, run, data, state, replicas)
    writers = {name: tf.summary.create_file_writer(str(run / name)) for name in rundir.TENSORBOARD_SPLITS}
    schedule, stopped = current.schedule, False
    epochs = tqdm(range(current.start_epoch, args.max_epoch), desc="epochs", unit="epoch",
                  initial=current.start_epoch, total=args.max_epoch, disable=process.progress_off(args.no_progress),
                  dynamic_ncols=True)
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
        rundir.load_state(run / rundir.CHECKPOINT_DIR / rundir.BEST_STATE, current.trainer.model, current.trainer.optimizer)
    if replicas is not None:  # the same on every worker of a run in step
        log.info("weights fingerprint %s (best model)", current.trainer.fingerprint())
    report = evaluate_run(current.trainer, args, run, writers["testing"], schedule.best_epoch + 1, data.testing)
    for writer in writers.values():
        writer.close()
    if not args.keep_checkpoint:  # finished: what resume needs is no longer needed
        shutil.rmtree(run / rundir.CHECKPOINT_DIR, ignore_errors=True)
    return report
