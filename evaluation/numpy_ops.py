"""The few TensorFlow operations the vectorised engine uses (`engine_spots`, `engine`, `engine_official`),
under TensorFlow's names and with its semantics, in NumPy: the engine runs on either module unchanged
(`backend.ops`), so that a small evaluation need not start TensorFlow (seconds of import and first-call
tracing around a fraction of a second of work). Only what the engine calls is here, and only in the forms
it calls them (1-D searches and gathers, stable sorts, sorted segment ids for `math.segment_min`); the
tests run the engine on both modules and compare every number.
"""
from __future__ import annotations

import numpy as np

int32, int64, float32, float64 = np.int32, np.int64, np.float32, np.float64
bool = np.bool_  # noqa: A001  (TensorFlow's name)


class TensorSpec:
    """An input signature entry: `function` converts each argument to its dtype, as a tf.function does."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, np.dtype(dtype)


def function(autograph: bool = False, input_signature=None):
    def wrap(body):
        def call(*args):
            if input_signature is not None:
                args = [np.asarray(a, spec.dtype) for a, spec in zip(args, input_signature)]
            return body(*args)

        return call

    return wrap


def as_dtype(name):
    return np.dtype(name)


def constant(value, dtype=None):
    return np.asarray(value, dtype)


def cast(x, dtype):
    return np.asarray(x).astype(dtype, copy=False)  # arrays here are never written to after they are made


def bitcast(x, dtype):
    return np.ascontiguousarray(x).view(dtype)


def zeros(shape, dtype=np.float32):
    return np.zeros(tuple(int(s) for s in shape), dtype)


def ones(shape, dtype=np.float32):
    return np.ones(tuple(int(s) for s in shape), dtype)


def ones_like(x):
    return np.ones_like(x)


def fill(dims, value):
    return np.full(tuple(int(d) for d in dims), value)


def range(limit, dtype=None):  # noqa: A001
    return np.arange(limit, dtype=dtype)


def shape(x, out_type=np.int32):
    return np.array(np.shape(x), out_type)


def reshape(x, new_shape):
    return np.reshape(x, new_shape)


def concat(values, axis):
    return np.concatenate(values, axis)


def stack(values, axis=0):
    return np.stack(values, axis)


def gather(params, indices):
    return np.take(params, indices, axis=0)


def gather_nd(params, indices):
    return np.asarray(params)[tuple(np.asarray(indices).T)]


def boolean_mask(x, mask):
    return np.asarray(x)[np.asarray(mask)]


def where(condition, x=None, y=None):
    """One argument: the (n, rank) int64 indices of the True entries, row-major; three: elementwise choice."""
    if x is None:
        condition = np.asarray(condition)
        if condition.ndim == 1:
            return np.flatnonzero(condition).astype(np.int64, copy=False)[:, None]
        return np.argwhere(condition).astype(np.int64, copy=False)
    return np.where(condition, x, y)


def maximum(x, y):
    return np.maximum(x, y)


def minimum(x, y):
    return np.minimum(x, y)


def reduce_min(x):
    return np.min(x)


def reduce_max(x):
    return np.max(x)


def cumsum(x, axis=0):
    return np.cumsum(x, axis)


def sort(x):
    return np.sort(x, kind="stable")


def argsort(values, direction="ASCENDING", stable=False):
    """Stable in both directions (TensorFlow's descending sort keeps equal values in index order too)."""
    values = np.asarray(values)
    key = -values if direction == "DESCENDING" else values
    return np.argsort(key, kind="stable").astype(np.int32)


def searchsorted(sorted_sequence, values, side="left", out_type=np.int32):
    return np.searchsorted(sorted_sequence, values, side=side).astype(out_type)


def unique(x, out_idx=np.int32):
    """The distinct values in order of first occurrence, and each entry's index into them."""
    x = np.asarray(x)
    distinct, first, inverse = np.unique(x, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    return x[first[order]], position[inverse.reshape(-1)].astype(out_idx)


def tensor_scatter_nd_update(tensor, indices, updates):
    out = np.array(tensor, copy=True)
    out[np.asarray(indices)[:, 0]] = updates
    return out


def dynamic_partition(data, partitions, num_partitions):
    data, partitions = np.asarray(data), np.asarray(partitions)
    small = partitions.astype(np.int16) if num_partitions <= 1 << 15 else partitions  # NumPy's radix sort
    order = np.argsort(small, kind="stable")
    ends = np.cumsum(np.bincount(partitions, minlength=num_partitions))[:-1]
    return np.split(data[order], ends)


def dynamic_stitch(indices, data):
    size = max((int(np.max(i)) + 1 for i in indices if len(i)), default=0)
    first = np.asarray(data[0])
    out = np.zeros((size,) + first.shape[1:], first.dtype)
    for i, d in zip(indices, data):
        out[np.asarray(i)] = d
    return out


def while_loop(cond, body, loop_vars):
    loop_vars = tuple(loop_vars)
    while cond(*loop_vars):
        loop_vars = tuple(body(*loop_vars))
    return loop_vars


class math:  # noqa: N801  (TensorFlow's tf.math)
    @staticmethod
    def unsorted_segment_sum(data, segment_ids, num_segments):
        data = np.asarray(data)
        out = np.zeros((int(num_segments),) + data.shape[1:], data.dtype)
        np.add.at(out, np.asarray(segment_ids), data)
        return out

    @staticmethod
    def unsorted_segment_max(data, segment_ids, num_segments):
        """Empty segments hold the type's lowest value, as TensorFlow's."""
        data = np.asarray(data)
        out = np.full((int(num_segments),) + data.shape[1:], np.finfo(data.dtype).min, data.dtype)
        np.maximum.at(out, np.asarray(segment_ids), data)
        return out

    @staticmethod
    def segment_min(data, segment_ids):
        """Sorted segment ids; every id from 0 to the largest is present (as `unique`'s indices are)."""
        data, segment_ids = np.asarray(data), np.asarray(segment_ids)
        if len(segment_ids) == 0:
            return np.zeros((0,) + data.shape[1:], data.dtype)
        starts = np.flatnonzero(np.concatenate([[True], segment_ids[1:] != segment_ids[:-1]]))
        return np.minimum.reduceat(data, starts, axis=0)

    @staticmethod
    def invert_permutation(x):
        x = np.asarray(x)
        out = np.empty_like(x)
        out[x] = np.arange(len(x), dtype=x.dtype)
        return out


class bitwise:  # noqa: N801  (TensorFlow's tf.bitwise)
    @staticmethod
    def right_shift(x, y):
        return np.right_shift(x, y)
