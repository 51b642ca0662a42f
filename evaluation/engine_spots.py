"""The vectorised engine, part 1: the candidate spots of every (method, threshold, class column) of a group
of halves at once, in TensorFlow, identical to `candidates.candidates` column by column (which still
handles the rare columns where the original's start/end pairing can misalign).

Spots are kept as flat tensors in the base order (method, threshold, class, half, second): cfg = method * T
+ threshold, col = class * H + half. Values below every threshold are dropped first (they can neither
be spots nor split or end a segment differently than the column ends do). The hot, purely tensor parts are
tf.functions with fixed signatures (traced once per process and precision); the glue stays eager.
TensorFlow is imported here: the caller starts it first (`runtime.process.start_tensorflow`, compute_mAP.py's main).
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from evaluation.candidates import HALF_WINDOW, candidates, threshold_in_precision

SECOND_SPAN = 1 << 24  # seconds per column (or ground-truth row) in the composite sort and search keys


def work_dtype(dtype) -> np.dtype:
    """float32 when the array's values and thresholds (rounded to its precision) are exact in float32."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype in (np.dtype(np.float16), np.dtype(np.float32)) else np.dtype(np.float64)


class _Layout:
    """The class columns of a group of halves (one dtype) in one flat vector of the working precision.
    Local column i is global column `columns[i]` = class * halves + half; local columns are in global order."""

    def __init__(self, predictions: list[np.ndarray], halves: list[int], thresholds: tuple[float, ...]):
        H = len(predictions)
        dtype = predictions[halves[0]].dtype
        self.work = work_dtype(dtype)
        self.classes = predictions[halves[0]].shape[1] - 1  # event classes: the columns after the background
        sources = [(h, c) for c in range(self.classes) for h in halves]
        self.columns = np.array([c * H + h for h, c in sources], np.int64)
        self.col_len = np.array([len(predictions[h]) for h, _ in sources], np.int64)
        self.col_off = np.concatenate([[0], np.cumsum(self.col_len)]).astype(np.int64)
        self.values = np.concatenate([np.asarray(predictions[h][:, c + 1], self.work) for h, c in sources])
        if len(self.values) >= 1 << 31:
            raise ValueError("too many seconds for one evaluation (2^31)")
        # The thresholds as this dtype's comparisons see them (exact in the working precision).
        self.rounded = np.array([threshold_in_precision(t, dtype) for t in thresholds], np.float64)
        keep = min(min(thresholds), float(self.rounded.min()))
        keep_work = self.work.type(keep)
        if float(keep_work) > keep:
            keep_work = np.nextafter(keep_work, self.work.type(-np.inf))
        self.keep = keep_work  # every value that can matter is >= keep (in the working precision)


# The compiled pieces of the grid: each builder makes its tf.function once per process (and value dtype).


@functools.cache
def _segment_marks_fn(dtype_name: str):
    """(q, thresholds below each value, run starts, run ends, thresholds) -> threshold index, kept index of
    the first and of the last second of every segment above a threshold, in (threshold, second) order."""
    dtype, spec = tf.as_dtype(dtype_name), tf.TensorSpec

    signature = [spec([None], dtype), spec([None], tf.int32), spec([None], tf.bool), spec([None], tf.bool),
                 spec([None], dtype)]

    @tf.function(autograph=False, input_signature=signature)
    def segment_marks(q, below, new_run, run_end, theta):
        # A value starts a segment at the thresholds in [previous value, value), ends one at those in
        # [next value, value) (no previous/next value at a run's ends): only values with a threshold in one
        # of these intervals take part in the (threshold, value) step.
        zero = tf.zeros([1], tf.int32)
        below_before = tf.where(new_run, 0, tf.concat([zero, below[:-1]], 0))
        below_after = tf.where(run_end, 0, tf.concat([below[1:], zero], 0))
        index = tf.cast(tf.reshape(tf.where((below > below_before) | (below > below_after)), [-1]), tf.int32)
        lowest = tf.fill([1], tf.constant(-np.inf, dtype))
        before = tf.where(new_run, lowest, tf.concat([lowest, q[:-1]], 0))
        after = tf.where(run_end, lowest, tf.concat([q[1:], lowest], 0))
        q_c = tf.gather(q, index)[None, :]
        before, after = tf.gather(before, index)[None, :], tf.gather(after, index)[None, :]
        above = q_c > theta[:, None]
        is_first = above & (before <= theta[:, None])
        is_last = above & (after <= theta[:, None])
        marks = tf.cast(tf.where(is_first | is_last), tf.int32)  # row-major: first, last, first, last...
        flat = marks[:, 0] * tf.shape(index)[0] + marks[:, 1]
        first_flag = tf.gather(tf.reshape(is_first, [-1]), flat)
        last_flag = tf.gather(tf.reshape(is_last, [-1]), flat)
        th = tf.boolean_mask(marks[:, 0], first_flag)
        first = tf.gather(index, tf.boolean_mask(marks[:, 1], first_flag))
        last = tf.gather(index, tf.boolean_mask(marks[:, 1], last_flag))
        return th, first, last

    return segment_marks


@functools.cache
def _nms_fn(dtype_name: str):
    """(flat values, kept positions, kept values, their seconds, 30 < second < n - 30, thresholds) ->
    threshold index and kept index of every NMS spot, in (threshold, second) order."""
    dtype, spec = tf.as_dtype(dtype_name), tf.TensorSpec

    signature = [spec([None], dtype), spec([None], tf.int32), spec([None], dtype), spec([None], tf.int32),
                 spec([None], tf.bool), spec([None], tf.float64)]

    @tf.function(autograph=False, input_signature=signature)
    def nms(values, kept, q, pos, inside, thresholds):
        lowest = tf.constant(-np.inf, dtype)
        lowest_1 = tf.fill([1], lowest)
        # A peak is at least a local maximum: >= the next second, > the previous one (kept or not).
        next_to = (kept[1:] - kept[:-1] == 1) & (pos[1:] > 0)
        following = tf.where(tf.concat([next_to, [False]], 0), tf.concat([q[1:], lowest_1], 0), lowest)
        preceding = tf.where(tf.concat([[False], next_to], 0), tf.concat([lowest_1, q[:-1]], 0), lowest)
        candidate = (q >= following) & (q > preceding) & (tf.cast(q, tf.float64) > tf.reduce_min(thresholds))
        index = tf.cast(tf.reshape(tf.where(candidate), [-1]), tf.int32)
        index = tf.boolean_mask(index, tf.gather(inside, tf.gather(kept, index)))
        span = values  # span[j] = max(values[j : j + 2^k]), padded at the end; k = 4: 16-wide windows
        for k in range(4):
            width = 1 << k
            span = tf.maximum(span, tf.concat([span[width:], tf.fill([width], lowest)], 0))
        m16 = tf.concat([span, tf.fill([16], lowest)], 0)
        at = tf.gather(kept, index)
        back = at - HALF_WINDOW  # max(p[i-30:i]): two 16-wide windows
        before = tf.maximum(tf.gather(m16, back), tf.gather(m16, back + 14))
        ahead = at + 1  # max(p[i+1:i+30]), 29 values
        after = tf.maximum(tf.gather(m16, ahead), tf.gather(m16, ahead + 13))
        qc = tf.gather(q, index)
        peaks = tf.boolean_mask(index, (qc >= after) & (qc > before))
        peak_q = tf.cast(tf.gather(q, peaks), tf.float64)
        hit = tf.cast(tf.where(peak_q[None, :] > thresholds[:, None]), tf.int32)  # float64, as NumPy 1.x
        return hit[:, 0], tf.gather(peaks, hit[:, 1])

    return nms


def _empty_spots():
    return (tf.zeros([0], tf.int64), tf.zeros([0], tf.int64), tf.zeros([0], tf.int64), tf.zeros([0], tf.float64))


def extract_spots(predictions, methods, thresholds):
    """Candidate spots of every (method, threshold, class column), in the base order (method, threshold,
    class, half, second); the arrays are (seconds, 1 + C), all of the same C. Returns tensors cfg (method * T + threshold), col (class * H + half), sec, score."""
    groups: dict[np.dtype, list[int]] = {}
    for h, p in enumerate(predictions):
        groups.setdefault(p.dtype, []).append(h)
    parts = [_extract_group(predictions, halves, methods, thresholds) for halves in groups.values()]
    parts = [p for p in parts if int(p[0].shape[0])]
    if not parts:
        return _empty_spots()
    cfg, col, sec, score = (tf.concat([p[i] for p in parts], 0) for i in range(4))
    if len(parts) > 1 or any(p[4] for p in parts):  # merge groups / reference columns into the base order
        columns = (predictions[0].shape[1] - 1) * len(predictions)
        order = tf.argsort((cfg * columns + col) * SECOND_SPAN + sec, stable=True)
        cfg, col, sec, score = (tf.gather(x, order) for x in (cfg, col, sec, score))
    return cfg, col, sec, score


def _extract_group(predictions, halves, methods, thresholds):
    """`extract_spots` for halves of one dtype; the fifth item tells whether reference spots were added."""
    T = len(thresholds)
    layout = _Layout(predictions, halves, thresholds)
    values = tf.constant(layout.values)
    kept = tf.cast(tf.reshape(tf.where(values >= layout.keep), [-1]), tf.int32)  # flat positions, sorted
    if int(kept.shape[0]) == 0:
        return _empty_spots() + (False,)
    q = tf.gather(values, kept)
    # Per position: global column << 32 | second, one gather for both.
    second = np.arange(len(layout.values), dtype=np.int64) - np.repeat(layout.col_off[:-1], layout.col_len)
    packed = tf.constant(np.repeat(layout.columns, layout.col_len) << 32 | second)
    where_k = tf.gather(packed, kept)
    pos = tf.cast(where_k & 0xFFFFFFFF, tf.int32)
    run_end = tf.concat([(kept[1:] - kept[:-1] != 1) | (pos[1:] == 0), [True]], 0)  # last of a run of seconds
    new_run = tf.concat([[True], run_end[:-1]], 0)
    pieces, fallback, segments = [], [], None
    for mi, method in enumerate(methods):
        if method in ("argmax", "center"):
            if segments is None:
                segments = _segments(layout, q, where_k, new_run, run_end, "argmax" in methods)
            th, first, last, top, bad = segments
            if method == "center":
                start = tf.gather(where_k, first)
                sec = (start + tf.gather(where_k, last) + 1) // 2 & 0xFFFFFFFF  # same column: add the seconds
                score = tf.gather(values, tf.gather(kept, first) + tf.cast(sec - (start & 0xFFFFFFFF), tf.int32))
                s_col = tf.bitwise.right_shift(start, 32)
            else:
                at = tf.gather(where_k, top)
                sec, s_col = at & 0xFFFFFFFF, tf.bitwise.right_shift(at, 32)
                score = tf.gather(q, top)
            if bad:
                table = np.zeros((T, layout.classes * len(predictions)), bool)
                for t_index, c in bad:
                    table[t_index, c] = True
                good = ~tf.gather_nd(tf.constant(table), tf.stack([tf.cast(th, tf.int64), s_col], 1))
                th, s_col, sec, score = (tf.boolean_mask(x, good) for x in (th, s_col, sec, score))
                for t_index, c in bad:
                    cls, h = divmod(c, len(predictions))
                    seconds, scores = candidates(predictions[h][:, cls + 1], thresholds[t_index], method)
                    fallback.append((np.full(len(seconds), mi * T + t_index, np.int64),
                                     np.full(len(seconds), c, np.int64), seconds, scores))
            pieces.append((th, s_col, sec, score, mi))
        elif method == "nms":
            inside = np.zeros(len(layout.values), bool)  # 30 < second < n - 30
            for off, n in zip(layout.col_off[:-1], layout.col_len):
                if n > 2 * HALF_WINDOW + 1:
                    inside[off + HALF_WINDOW + 1:off + n - HALF_WINDOW] = True
            th, index = _nms_fn(np.dtype(layout.work).name)(values, kept, q, pos, tf.constant(inside),
                                                            tf.constant(np.asarray(thresholds, np.float64)))
            at = tf.gather(where_k, index)
            pieces.append((th, tf.bitwise.right_shift(at, 32), at & 0xFFFFFFFF, tf.gather(q, index), mi))
        else:  # SPOTS, compared in the array's precision like the reference
            hit = tf.cast(tf.where(q[None, :] >= tf.constant(layout.rounded.astype(layout.work))[:, None]), tf.int32)
            at = tf.gather(where_k, hit[:, 1])
            pieces.append((hit[:, 0], tf.bitwise.right_shift(at, 32), at & 0xFFFFFFFF, tf.gather(q, hit[:, 1]), mi))
    out = [(tf.cast(th, tf.int64) + mi * T, c, s, tf.cast(v, tf.float64)) for th, c, s, v, mi in pieces]
    out += [tuple(tf.constant(x) for x in f) for f in fallback]
    cfg, out_col, sec, score = (tf.concat([p[i] for p in out], 0) for i in range(4))
    return cfg, out_col, sec, score, bool(fallback)


def _segments(layout, q, where_k, new_run, run_end, with_maximum: bool):
    """Segments above each threshold among the kept values (a value at or below every threshold ends
    them, as do the column ends): (threshold index, kept index of the first and last second, kept index
    of the first maximum), and the (threshold index, global column) pairs holding a value equal to the
    threshold, where the original's pairing can misalign and the reference takes over."""
    rounded = layout.rounded
    distinct = np.unique(rounded)
    below = tf.searchsorted(tf.constant(distinct.astype(layout.work)), q, side="left")  # thresholds < value
    # Values equal to a threshold (rare): the smallest threshold >= value is the value.
    padded = tf.constant(np.append(distinct, np.inf).astype(layout.work))
    equal = tf.reshape(tf.where(tf.gather(padded, below) == q), [-1])
    bad = set()
    if int(equal.shape[0]):
        for value, at in zip(tf.gather(q, equal).numpy(), tf.gather(where_k, equal).numpy()):
            bad.update((int(t), int(at >> 32)) for t in np.flatnonzero(rounded == float(value)))
    # At a threshold <= 0 the virtual p[-1] = 0 is not below it: no start at a column's first second.
    # Rare enough to leave to the reference, column by column.
    for t in np.flatnonzero(rounded <= 0):
        bad.update((int(t), int(c)) for c, n in zip(layout.columns, layout.col_len) if n > 0)
    th, first, last = _segment_marks_fn(np.dtype(layout.work).name)(q, below, new_run, run_end,
                                                                    tf.constant(rounded.astype(layout.work)))
    top = _first_maximum(q, first, last) if with_maximum else None
    return th, first, last, top, sorted(bad)


def _first_maximum(q, first, last):
    """Kept index of the first maximum of q over each [first, last]: range maxima of the packed key
    (value order, -index), so that the larger key is the larger value, then the earlier index; a sparse
    table (level k holds the maxima over [l, l + 2^k)), each range read at its own level."""
    n = int(q.shape[0])
    if int(first.shape[0]) == 0:
        return tf.zeros([0], tf.int32)
    if q.dtype == tf.float32:  # order-preserving integer of a float32
        bits = tf.cast(tf.bitcast(q + 0.0, tf.int32), tf.int64)
        order = tf.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)
    else:
        distinct = tf.unique(tf.sort(q))[0]
        order = tf.searchsorted(distinct, q, side="left", out_type=tf.int64)
    key = order * (1 << 32) + ((1 << 32) - 1 - tf.range(n, dtype=tf.int64))
    # floor(log2(length)) from the float64 exponent (exact for integers below 2^53).
    level = tf.cast(tf.bitwise.right_shift(tf.bitcast(tf.cast(last - first + 1, tf.float64), tf.int64), 52) - 1023,
                    tf.int32)
    top = int(tf.reduce_max(level))
    levels = [key]
    floor = tf.reduce_min(key)
    for k in range(1, top + 1):
        width = 1 << (k - 1)
        previous = levels[-1]
        levels.append(tf.maximum(previous, tf.concat([previous[width:], tf.fill([width], floor)], 0)))
    # Queries grouped by level (no stacked table).
    ids = tf.dynamic_partition(tf.range(tf.shape(first)[0]), level, top + 1)
    starts = tf.dynamic_partition(first, level, top + 1)
    ends = tf.dynamic_partition(last, level, top + 1)
    best = [tf.maximum(tf.gather(levels[k], starts[k]), tf.gather(levels[k], ends[k] - (1 << k) + 1))
            for k in range(top + 1)]
    best = tf.dynamic_stitch(ids, best)
    return tf.cast((1 << 32) - 1 - (best & ((1 << 32) - 1)), tf.int32)
