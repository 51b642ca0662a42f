"""The training command line's vocabulary, without TensorFlow: what ClassificationMinuteBased.py's parser
offers and checks before TensorFlow starts (its `--GPU` and allocator settings must act first)."""
from __future__ import annotations

from base import precision
from runtime import model_flags

PRECISIONS = precision.choices(keras_words=True)  # float32, mixed_bfloat16, mixed_float16
# `--distribute`: one device, every local device (`tf.distribute.MirroredStrategy`), or one process per
# machine (`tf.distribute.MultiWorkerMirroredStrategy`); `training.distribution` makes them.
DISTRIBUTE = ("none", "mirrored", "multiworker")
# The flags that --mode predict takes from the run (given, each must agree with it).
PREDICT_RUN_FLAGS = model_flags.MODEL_FLAGS + ("testing", "SoccerNet_path")
# The flags of how a run runs, not of what it computes: on --resume, the command line's, not the run's.
MACHINE_FLAGS = ("no_progress", "distribute", "replicas", "memory_budget", "join_timeout")


def parse_micro_batch(text: str) -> int | str:
    """`--micro_batch`: "auto", or a number of chunks (0: the whole step)."""
    if text == "auto":
        return text
    value = int(text)
    if value < 0:
        raise ValueError("must be auto, 0 or a positive number of chunks")
    return value
