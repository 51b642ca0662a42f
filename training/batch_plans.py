"""Batch plans: which chunks each optimizer step, micro-batch or evaluation batch takes (numpy; the tf.data
pipeline that reads them is `training.pipeline`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

import dataset


def half_batches(index: dataset.WindowIndex, halves_per_batch: int, rng: np.random.Generator | None = None,
                 half_order: Sequence[int] | None = None) -> list[np.ndarray]:
    """The original's training batches: all chunks of `halves_per_batch` halves at a time (the original's
    `ftpdataset.py`, `prepareNewEpoch` / `getTrainingBatch`).

    Args:
        index: chunk index of the training split.
        halves_per_batch: halves per optimizer step (`--batch_size`, 60 in the paper).
        rng: shuffles the halves (each epoch) when given.
        half_order: an explicit order of halves (overrides rng).

    Returns:
        One array of index positions per step, chunks of each half in time order.
    """
    halves = np.unique(index.half_id) if half_order is None else np.asarray(half_order)
    if half_order is None and rng is not None:
        halves = rng.permutation(halves)
    by_half = {h: index.windows_of_half(h) for h in np.unique(index.half_id)}
    return [np.concatenate([by_half.get(h, np.empty(0, np.int64)) for h in halves[b:b + halves_per_batch]])
            for b in range(0, len(halves), halves_per_batch)]


def split_batch(positions: np.ndarray, micro_batch: int | None) -> list[np.ndarray]:
    """Cut one step's positions into consecutive micro-batches of at most micro_batch windows."""
    if not micro_batch or len(positions) <= micro_batch:
        return [positions]
    return [positions[i:i + micro_batch] for i in range(0, len(positions), micro_batch)]


def shuffled_batches(n: int, batch_size: int, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Batches of batch_size positions out of range(n), shuffled when rng is given."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]
