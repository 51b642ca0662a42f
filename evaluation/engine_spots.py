"""The vectorised engine, part 1: the candidate spots of every (method, threshold, class column) of a group
of halves at once, on the array module `xp` (`backend.ops`: NumPy or TensorFlow), identical to
`candidates.candidates` column by column (which still handles the rare columns where the original's
start/end pairing can misalign).

Spots are kept as flat tensors in the base order (method, threshold, class, half, second): cfg = method * T
+ threshold, col = class * H + half. Values below every threshold are dropped first (they can neither
be spots nor split or end a segment differently than the column ends do). The hot, purely tensor parts are
functions with fixed signatures (tf.functions on TensorFlow, traced once per process and precision); the
glue stays eager. This module never imports TensorFlow itself.
"""
from __future__ import annotations

import functools

import numpy as np

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


# The compiled pieces of the grid: each builder makes its function once per process, array module and value dtype.


@functools.cache
def _segment_marks_fn(xp, dtype_name: str):
    """(q, thresholds below each value, run starts, run ends, thresholds) -> threshold index, kept index of
    the first and of the last second of every segment above a threshold, in (threshold, second) order."""
    dtype, spec = xp.as_dtype(dtype_name), xp.TensorSpec

    signature = [spec([None], dtype), spec([None], xp.int32), spec([None], xp.bool), spec([None], xp.bool),
                 spec([None], dtype)]

    @xp.function(autograph=False, input_signature=signature)
    def segment_marks(q, below, new_run, run_end, theta):
        # A value starts a segment at the thresholds in [previous value, value), ends one at those in
        # [next value, value) (no previous/next value at a run's ends): only values with a threshold in one
        # of these intervals take part in the (threshold, value) step.
        zero = xp.zeros([1], xp.int32)
        below_before = xp.where(new_run, 0, xp.concat([zero, below[:-1]], 0))
        below_after = xp.where(run_end, 0, xp.concat([below[1:], zero], 0))
        index = xp.cast(xp.reshape(xp.where((below > below_before) | (below > below_after)), [-1]), xp.int32)
        lowest = xp.fill([1], xp.constant(-np.inf, dtype))
        before = xp.where(new_run, lowest, xp.concat([lowest, q[:-1]], 0))
        after = xp.where(run_end, lowest, xp.concat([q[1:], lowest], 0))
        q_c = xp.gather(q, index)[None, :]
        before, after = xp.gather(before, index)[None, :], xp.gather(after, index)[None, :]
        above = q_c > theta[:, None]
        is_first = above & (before <= theta[:, None])
        is_last = above & (after <= theta[:, None])
        marks = xp.cast(xp.where(is_first | is_last), xp.int32)  # row-major: first, last, first, last...
        flat = marks[:, 0] * xp.shape(index)[0] + marks[:, 1]
        first_flag = xp.gather(xp.reshape(is_first, [-1]), flat)
        last_flag = xp.gather(xp.reshape(is_last, [-1]), flat)
        th = xp.boolean_mask(marks[:, 0], first_flag)
        first = xp.gather(index, xp.boolean_mask(marks[:, 1], first_flag))
        last = xp.gather(index, xp.boolean_mask(marks[:, 1], last_flag))
        return th, first, last

    return segment_marks


@functools.cache
def _nms_fn(xp, dtype_name: str):
    """(flat values, kept positions, kept values, their seconds, 30 < second < n - 30, thresholds) ->
    threshold index and kept index of every NMS spot, in (threshold, second) order."""
    dtype, spec = xp.as_dtype(dtype_name), xp.TensorSpec

    signature = [spec([None], dtype), spec([None], xp.int32), spec([None], dtype), spec([None], xp.int32),
                 spec([None], xp.bool), spec([None], xp.float64)]

    @xp.function(autograph=False, input_signature=signature)
    def nms(values, kept, q, pos, inside, thresholds):
        lowest = xp.constant(-np.inf, dtype)
        lowest_1 = xp.fill([1], lowest)
        # A peak is at least a local maximum: >= the next second, > the previous one (kept or not).
        next_to = (kept[1:] - kept[:-1] == 1) & (pos[1:] > 0)
        following = xp.where(xp.concat([next_to, [False]], 0), xp.concat([q[1:], lowest_1], 0), lowest)
        preceding = xp.where(xp.concat([[False], next_to], 0), xp.concat([lowest_1, q[:-1]], 0), lowest)
        candidate = (q >= following) & (q > preceding) & (xp.cast(q, xp.float64) > xp.reduce_min(thresholds))
        index = xp.cast(xp.reshape(xp.where(candidate), [-1]), xp.int32)
        index = xp.boolean_mask(index, xp.gather(inside, xp.gather(kept, index)))
        span = values  # span[j] = max(values[j : j + 2^k]), padded at the end; k = 4: 16-wide windows
        for k in range(4):
            width = 1 << k
            span = xp.maximum(span, xp.concat([span[width:], xp.fill([width], lowest)], 0))
        m16 = xp.concat([span, xp.fill([16], lowest)], 0)
        at = xp.gather(kept, index)
        back = at - HALF_WINDOW  # max(p[i-30:i]): two 16-wide windows
        before = xp.maximum(xp.gather(m16, back), xp.gather(m16, back + 14))
        ahead = at + 1  # max(p[i+1:i+30]), 29 values
        after = xp.maximum(xp.gather(m16, ahead), xp.gather(m16, ahead + 13))
        qc = xp.gather(q, index)
        peaks = xp.boolean_mask(index, (qc >= after) & (qc > before))
        peak_q = xp.cast(xp.gather(q, peaks), xp.float64)
        hit = xp.cast(xp.where(peak_q[None, :] > thresholds[:, None]), xp.int32)  # float64, as NumPy 1.x
        return hit[:, 0], xp.gather(peaks, hit[:, 1])

    return nms


def _empty_spots(xp):
    return (xp.zeros([0], xp.int64), xp.zeros([0], xp.int64), xp.zeros([0], xp.int64), xp.zeros([0], xp.float64))


def extract_spots(predictions, methods, thresholds, xp):
    """Candidate spots of every (method, threshold, class column), in the base order (method, threshold,
    class, half, second); the arrays are (seconds, 1 + C), all of the same C. Returns tensors cfg (method * T + threshold), col (class * H + half), sec, score."""
    groups: dict[np.dtype, list[int]] = {}
    for h, p in enumerate(predictions):
        groups.setdefault(p.dtype, []).append(h)
    parts = [_extract_group(xp, predictions, halves, methods, thresholds) for halves in groups.values()]
    parts = [p for p in parts if int(p[0].shape[0])]
    if not parts:
        return _empty_spots(xp)
    cfg, col, sec, score = (xp.concat([p[i] for p in parts], 0) for i in range(4))
    if len(parts) > 1 or any(p[4] for p in parts):  # merge groups / reference columns into the base order
        columns = (predictions[0].shape[1] - 1) * len(predictions)
        order = xp.argsort((cfg * columns + col) * SECOND_SPAN + sec, stable=True)
        cfg, col, sec, score = (xp.gather(x, order) for x in (cfg, col, sec, score))
    return cfg, col, sec, score


def _extract_group(xp, predictions, halves, methods, thresholds):
    """`extract_spots` for halves of one dtype; the fifth item tells whether reference spots were added."""
    T = len(thresholds)
    layout = _Layout(predictions, halves, thresholds)
    values = xp.constant(layout.values)
    kept = xp.cast(xp.reshape(xp.where(values >= layout.keep), [-1]), xp.int32)  # flat positions, sorted
    if int(kept.shape[0]) == 0:
        return _empty_spots(xp) + (False,)
    q = xp.gather(values, kept)
    # Per position: global column << 32 | second, one gather for both.
    second = np.arange(len(layout.values), dtype=np.int64) - np.repeat(layout.col_off[:-1], layout.col_len)
    packed = xp.constant(np.repeat(layout.columns, layout.col_len) << 32 | second)
    where_k = xp.gather(packed, kept)
    pos = xp.cast(where_k & 0xFFFFFFFF, xp.int32)
    run_end = xp.concat([(kept[1:] - kept[:-1] != 1) | (pos[1:] == 0), [True]], 0)  # last of a run of seconds
    new_run = xp.concat([[True], run_end[:-1]], 0)
    pieces, fallback, segments = [], [], None
    for mi, method in enumerate(methods):
        if method in ("argmax", "center"):
            if segments is None:
                segments = _segments(xp, layout, q, where_k, new_run, run_end, "argmax" in methods)
            th, first, last, top, bad = segments
            if method == "center":
                start = xp.gather(where_k, first)
                sec = (start + xp.gather(where_k, last) + 1) // 2 & 0xFFFFFFFF  # same column: add the seconds
                score = xp.gather(values, xp.gather(kept, first) + xp.cast(sec - (start & 0xFFFFFFFF), xp.int32))
                s_col = xp.bitwise.right_shift(start, 32)
            else:
                at = xp.gather(where_k, top)
                sec, s_col = at & 0xFFFFFFFF, xp.bitwise.right_shift(at, 32)
                score = xp.gather(q, top)
            if bad:
                table = np.zeros((T, layout.classes * len(predictions)), bool)
                for t_index, c in bad:
                    table[t_index, c] = True
                good = ~xp.gather_nd(xp.constant(table), xp.stack([xp.cast(th, xp.int64), s_col], 1))
                th, s_col, sec, score = (xp.boolean_mask(x, good) for x in (th, s_col, sec, score))
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
            th, index = _nms_fn(xp, np.dtype(layout.work).name)(values, kept, q, pos, xp.constant(inside),
                                                            xp.constant(np.asarray(thresholds, np.float64)))
            at = xp.gather(where_k, index)
            pieces.append((th, xp.bitwise.right_shift(at, 32), at & 0xFFFFFFFF, xp.gather(q, index), mi))
        else:  # SPOTS, compared in the array's precision like the reference
            hit = xp.cast(xp.where(q[None, :] >= xp.constant(layout.rounded.astype(layout.work))[:, None]), xp.int32)
            at = xp.gather(where_k, hit[:, 1])
            pieces.append((hit[:, 0], xp.bitwise.right_shift(at, 32), at & 0xFFFFFFFF, xp.gather(q, hit[:, 1]), mi))
    out = [(xp.cast(th, xp.int64) + mi * T, c, s, xp.cast(v, xp.float64)) for th, c, s, v, mi in pieces]
    out += [tuple(xp.constant(x) for x in f) for f in fallback]
    cfg, out_col, sec, score = (xp.concat([p[i] for p in out], 0) for i in range(4))
    return cfg, out_col, sec, score, bool(fallback)


def _segments(xp, layout, q, where_k, new_run, run_end, with_maximum: bool):
    """Segments above each threshold among the kept values (a value at or below every threshold ends
    them, as do the column ends): (threshold index, kept index of the first and last second, kept index
    of the first maximum), and the (threshold index, global column) pairs holding a value equal to the
    threshold, where the original's pairing can misalign and the reference takes over."""
    rounded = layout.rounded
    distinct = np.unique(rounded)
    below = xp.searchsorted(xp.constant(distinct.astype(layout.work)), q, side="left")  # thresholds < value
    # Values equal to a threshold (rare): the smallest threshold >= value is the value.
    padded = xp.constant(np.append(distinct, np.inf).astype(layout.work))
    equal = xp.reshape(xp.where(xp.gather(padded, below) == q), [-1])
    bad = set()
    if int(equal.shape[0]):
        for value, at in zip(np.asarray(xp.gather(q, equal)), np.asarray(xp.gather(where_k, equal))):
            bad.update((int(t), int(at >> 32)) for t in np.flatnonzero(rounded == float(value)))
    # At a threshold <= 0 the virtual p[-1] = 0 is not below it: no start at a column's first second.
    # Rare enough to leave to the reference, column by column.
    for t in np.flatnonzero(rounded <= 0):
        bad.update((int(t), int(c)) for c, n in zip(layout.columns, layout.col_len) if n > 0)
    if len(rounded) * int(q.shape[0]) >= 1 << 31:  # the (threshold, value) marks are indexed in int32
        raise ValueError("too many thresholds x seconds above the lowest threshold for one evaluation (2^31)")
    th, first, last = _segment_marks_fn(xp, np.dtype(layout.work).name)(q, below, new_run, run_end,
                                                                    xp.constant(rounded.astype(layout.work)))
    top = _first_maximum(xp, q, first, last) if with_maximum else None
    return th, first, last, top, sorted(bad)


def _first_maximum(xp, q, first, last):
    """Kept index of the first maximum of q over each [first, last]: range maxima of the packed key
    (value order, -index), so that the larger key is the larger value, then the earlier index; a sparse
    table (level k holds the maxima over [l, l + 2^k)), each range read at its own level."""
    n = int(q.shape[0])
    if int(first.shape[0]) == 0:
        return xp.zeros([0], xp.int32)
    if q.dtype == xp.float32:  # order-preserving integer of a float32
        bits = xp.cast(xp.bitcast(q + 0.0, xp.int32), xp.int64)
        order = xp.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)
    else:
        distinct = xp.unique(xp.sort(q))[0]
        order = xp.searchsorted(distinct, q, side="left", out_type=xp.int64)
    key = order * (1 << 32) + ((1 << 32) - 1 - xp.range(n, dtype=xp.int64))
    # floor(log2(length)) from the float64 exponent (exact for integers below 2^53).
    level = xp.cast(xp.bitwise.right_shift(xp.bitcast(xp.cast(last - first + 1, xp.float64), xp.int64), 52) - 1023,
                    xp.int32)
    top = int(xp.reduce_max(level))
    levels = [key]
    floor = xp.reduce_min(key)
    for k in range(1, top + 1):
        width = 1 << (k - 1)
        previous = levels[-1]
        levels.append(xp.maximum(previous, xp.concat([previous[width:], xp.fill([width], floor)], 0)))
    # Queries grouped by level (no stacked table).
    ids = xp.dynamic_partition(xp.range(xp.shape(first)[0]), level, top + 1)
    starts = xp.dynamic_partition(first, level, top + 1)
    ends = xp.dynamic_partition(last, level, top + 1)
    best = [xp.maximum(xp.gather(levels[k], starts[k]), xp.gather(levels[k], ends[k] - (1 << k) + 1))
            for k in range(top + 1)]
    best = xp.dynamic_stitch(ids, best)
    return xp.cast((1 << 32) - 1 - (best & ((1 << 32) - 1)), xp.int32)
