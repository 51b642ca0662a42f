"""The tf.data input pipeline of training and spotting: batches of window positions gathered from the
memory-mapped halves (`dataset.Split.gather`) on demand, a bounded number of them ahead.

The original (Vanderplaetse & Dupont 2020, `ftpdataset.py`; SoccerNet's `Dataset.py`) materialised
every chunk in memory before training; here a batch exists only from its gather until its step is done,
with the same contents in the same order.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

import dataset

# Bytes of gathered batches the input pipeline may hold ahead of the one in use (in flight and prefetched).
# Small batches get the full depth (2 gathered in parallel, 2 prefetched); batches so large that even one
# more would pass this bound (whole steps of thousands of chunks) are gathered one at a time, on demand.
PIPELINE_BYTES = 2 ** 30


def fixed_options() -> tf.data.Options:
    """The pipeline's options: tf.data's autotuning off. The pipeline's depth is fixed (`pipeline_depth`),
    so autotuning has nothing to tune, and its background thread stalled the loop: on an AMD EPYC with
    AVX-512 (2 cores, TensorFlow 2.21) one pass over a half's four batches of 675 windows took exactly
    5.12 s in 1 to 5 of every 6 to 10 passes, float32 or bfloat16 (against 4.5 and 3.1 s), the period its
    optimisation loop reaches by doubling 10 ms; with it off, none in 24 passes."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def pipeline_depth(batch_bytes: float, parallel: int = 2, prefetch: int = 2,
                   bound: float = PIPELINE_BYTES) -> tuple[int, int]:
    """(parallel gathers, prefetched batches) of `make_dataset` for batches of `batch_bytes` at most: as
    asked where `parallel + prefetch` batches fit `bound`, fewer where they do not, (0, 0) (on demand,
    nothing held ahead) where not even one does."""
    ahead = min(parallel + prefetch, int(bound // max(batch_bytes, 1.0)))
    if ahead >= parallel + prefetch:
        return parallel, prefetch
    workers = min(parallel, ahead)
    return workers, max(0, ahead - workers)


def make_dataset(split: dataset.Split, index: dataset.WindowIndex, batches: Sequence[np.ndarray], *,
                 streams: Sequence[str] | None = None, prefetch: int = 2, parallel: int = 2,
                 bound: float = PIPELINE_BYTES):
    """A tf.data pipeline over precomputed batches of window positions.

    Each element is gathered from the memory-mapped halves after batching (`Split.gather`: one copy per
    run of adjacent windows), so no chunk or window is materialised before it is needed. Elements are
    `(inputs, labels)` with `inputs = {"video": (b, N, dim), "audio": (b, N, dim)}` (`streams`, by
    default all the split has) and labels (b, 1 + C), or `inputs` alone when the index has no labels.
    Order is kept. At most `bound` bytes of batches are held ahead of the one in use (`pipeline_depth`).
    tf.data's autotuning is off (`fixed_options`).
    """
    batches = [np.asarray(b, np.int64) for b in batches]
    streams = tuple(split.streams if streams is None else streams)
    has_labels = index.labels is not None
    largest = max((len(b) for b in batches), default=0)
    parallel, prefetch = pipeline_depth(4.0 * largest * index.frames * sum(split.dim(s) for s in streams),
                                        parallel, prefetch, bound)

    def gather(batch_number):
        arrays = split.gather(index, batches[int(batch_number)], streams)
        return tuple(arrays[s] for s in streams) + ((arrays["labels"],) if has_labels else ())

    out_types = [tf.float32] * (len(streams) + has_labels)

    def tf_gather(batch_number):
        tensors = tf.numpy_function(gather, [batch_number], out_types, stateful=False)
        for stream, tensor in zip(streams, tensors):
            tensor.set_shape([None, index.frames, split.dim(stream)])
        inputs = dict(zip(streams, tensors))
        if has_labels:
            tensors[-1].set_shape([None, index.labels.shape[1]])
            return inputs, tensors[-1]
        return inputs

    elements = tf.data.Dataset.range(len(batches)).with_options(fixed_options())
    if not parallel:
        return elements.map(tf_gather)  # on demand: each batch gathered when the loop asks for it
    elements = elements.map(tf_gather, num_parallel_calls=parallel, deterministic=True)
    return elements.prefetch(prefetch) if prefetch else elements
