"""The training command line's vocabulary, without TensorFlow: what ClassificationMinuteBased.py's parser
offers and checks before TensorFlow starts (its `--GPU` and allocator settings must act first)."""
from __future__ import annotations

import math

from base import precision
from runtime import model_flags

PRECISIONS = precision.choices(keras_words=True)  # float32, mixed_bfloat16, mixed_float16
# `--distribute`: one device, every local device (`tf.distribute.MirroredStrategy`), or one process per
# machine (`tf.distribute.MultiWorkerMirroredStrategy`); `training.distribution` makes them.
DISTRIBUTE = ("none", "mirrored", "multiworker")
# The flags that --mode predict takes from the run (given, each must agree with it).
PREDICT_RUN_FLAGS = model_flags.MODEL_FLAGS + ("testing", "SoccerNet_path")
# The flags of how a run runs, not of what it computes: on --resume, the command line's, not the run's.
MACHINE_FLAGS = ("no_progress", "distribute", "replicas", "memory_budget", "join_timeout", "heartbeat_timeout")


def parse_micro_batch(text: str) -> int | str:
    """`--micro_batch`: "auto", or a number of chunks (0: the whole step)."""
    if text == "auto":
        return text
    value = int(text)
    if value < 0:
        raise ValueError("must be auto, 0 or a positive number of chunks")
    return value


# Flags whose numbers must be in range, checked before anything starts: flag -> (lowest, lowest allowed or not).
# None (a --mode predict flag left to the run) is not checked.
NUMBER_RANGES = {
    "WindowSize": (0.0, False), "featurePerSec": (0, False), "VLAD_k": (0, False), "LR": (0.0, False),
    "batch_size": (0, False), "max_epoch": (0, False), "min_LR": (0.0, True), "memory_budget": (0.0, True),
    "lr_patience": (0, True), "stop_patience": (0, True), "replicas": (0, True), "join_timeout": (0.0, False),
    "heartbeat_timeout": (0.0, False),
}


def number_problem(args) -> str | None:
    """The first numeric flag of `args` that is not a finite number in its range, as a usage error's
    message (e.g. "--LR must be a finite number above 0, not nan"); None when all are."""
    for flag, (lowest, allowed) in NUMBER_RANGES.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if not math.isfinite(value) or value < lowest or (value == lowest and not allowed):
            kind = "a whole number" if isinstance(value, int) else "a finite number"
            bound = f"{'at least' if allowed else 'above'} {lowest:g}"
            return f"--{flag} must be {kind} {bound}, not {value:g}"
    return None
