"""The vectorised engine, part 2: the greedy matching of the spots to the events and both metrics' APs over
the whole grid (methods x thresholds x deltas x halves x classes) at once (`evaluate`), in NumPy or in
TensorFlow (a GPU when it sees one; `backend`), for the C event classes of a class set (`base.classes`).
Its paper numbers are identical to `reference.evaluate_loop`'s, its official ones to the soccernet package's
`evaluate` with the class set's version (1 for v1, 2 for v2, with the shown/unshown split of
`engine_official`) on the same spots.

The array module `xp` is an argument (`backend.ops`): this module never imports TensorFlow itself.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from base.classes import V1, ClassSet, class_set
from evaluation.backend import cells, choose, ops
from evaluation.candidates import (CANDIDATE_METHODS, DEFAULT_DELTAS, DEFAULT_THRESHOLDS, RECALL_LEVELS,
                                   SOCCERNET_FRAMERATE, SOCCERNET_LAST_FRAME, check_deltas, check_ground_truth,
                                   check_methods, check_metrics, check_predictions, check_thresholds, check_visibility)
from evaluation.engine_official import closest_values, official_rows, soccernet_ap
from evaluation.engine_spots import SECOND_SPAN, extract_spots, work_dtype
from evaluation.report import VISIBILITY_PARTS, grid_report

_BIG = 1 << 60

# The compiled pieces: each builder makes its function once per process and array module (`backend`).


@functools.cache
def _match_fn(xp):
    """The greedy matching steps (see `_match`)."""
    spec = xp.TensorSpec

    signature = [spec([None], xp.int64), spec([None], xp.int64), spec([None], xp.float64), spec([None], xp.int64),
                 spec([None], xp.int64), spec([None], xp.int64), spec([None], xp.float64), spec([None], xp.float64),
                 spec([], xp.bool), spec([], xp.int64)]

    @xp.function(autograph=False, input_signature=signature)
    def match(lo, hi, events, row_start, rank, group_half, base, half, closed, steps):
        def step(g, matched):
            sub = xp.reshape(xp.where((lo <= g) & (hi > g)), [-1])
            before = xp.gather(matched, sub)
            event = xp.gather(events, xp.gather(row_start, sub) + g)[:, None]
            spot = xp.gather(base, sub)[:, None]
            # paper: t - d/2 <= s < t + d/2; soccernet (closed): t - d <= f <= t + d
            inside = (event - half[None, :] <= spot) & ((spot < event + half[None, :])
                                                         | (closed & (spot <= event + half[None, :])))
            eligible = inside & ~before
            ranks = xp.where(eligible, xp.gather(rank, sub)[:, None], xp.constant(_BIG, xp.int64))
            _, ids = xp.unique(xp.gather(group_half, sub), out_idx=xp.int64)
            best = xp.math.segment_min(ranks, ids)
            taken = eligible & (ranks == xp.gather(best, ids))
            return g + 1, xp.tensor_scatter_nd_update(matched, sub[:, None], before | taken)

        matched = xp.zeros([xp.shape(lo)[0], xp.shape(half)[0]], xp.bool)
        return xp.while_loop(lambda g, _: g < steps, step, (xp.constant(0, xp.int64), matched))[1]

    return match


@functools.cache
def _paper_table_fn(xp):
    """Highest precision of the true positives per (group, delta, recall level slot), see `_paper_ap`."""
    spec = xp.TensorSpec
    slots = len(RECALL_LEVELS) + 1

    signature = [spec([None], xp.int64), spec([None, None], xp.bool), spec([None], xp.int64), spec([None], xp.int64),
                 spec([None], xp.int64), spec([None], xp.int64), spec([], xp.int64)]

    @xp.function(autograph=False, input_signature=signature)
    def paper_table(relevant, tp, group, rank, group_start, positives, groups):
        D = xp.shape(tp, out_type=xp.int64)[1]
        # The relevant spots in pooled order (group, descending score); their rank counts all spots.
        position = xp.gather(rank, relevant)
        order = xp.argsort(position, stable=True)
        tp_b = xp.gather(tp, order)
        position = xp.gather(position, order)
        groups_b = xp.gather(group, xp.gather(relevant, order))
        cumulative = xp.cumsum(xp.cast(tp_b, xp.int64), axis=0)
        first = xp.searchsorted(groups_b, groups_b, side="left", out_type=xp.int64)
        before = xp.where((first > 0)[:, None], xp.gather(cumulative, xp.maximum(first - 1, 0)),
                          xp.zeros([1, 1], xp.int64))
        c = cumulative - before  # (spots, deltas): true positives so far in the group
        k = (position - xp.gather(group_start, groups_b) + 1)[:, None]  # detections so far
        p_class = xp.gather(positives, groups_b % xp.shape(positives, out_type=xp.int64)[0])[:, None]
        precision = xp.cast(c, xp.float64) / xp.cast(k, xp.float64)
        # Recall c/P >= r for the levels r = q/10 exactly when 10 c >= q P (no rounding question).
        level = xp.where(p_class > 0, xp.minimum(10 * c // xp.maximum(p_class, 1), 10) + 1, xp.ones_like(c))
        segment = (groups_b[:, None] * D + xp.range(D)[None, :]) * slots + level
        segment = xp.where(tp_b, segment, groups * D * slots)  # false positives: a discarded slot
        return xp.math.unsorted_segment_max(xp.reshape(precision, [-1]), xp.reshape(segment, [-1]),
                                            groups * D * slots + 1)

    return paper_table


class _Windows:
    """A metric's tolerance windows: which events each spot may take, per delta.

    paper: t - d/2 <= s < t + d/2 (seconds; the original's float arithmetic);
    soccernet: |f_spot - f_event| <= d frames, i.e. |s - t| <= d/2 seconds (2 frames per second)."""

    def __init__(self, metric: str, deltas: tuple[int, ...]):
        self.closed = metric != "paper"
        self.half = np.asarray(deltas, np.float64) / (1 if self.closed else 2)
        self.widest = float(self.half.max())
        # searchsorted sides of the widest window's lower and upper ends (events t with lo <= t < hi)
        self.sides = ("left", "right") if self.closed else ("right", "right")


def _row_keys(rows: list[np.ndarray]):
    """The per-row sorted values flattened, composite search keys (row * span + value), each row's start,
    and the largest row."""
    counts = np.array([len(r) for r in rows], np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    values = np.concatenate([np.asarray(r, np.float64) for r in rows]) if rows else np.zeros(0)
    keys = values + np.repeat(np.arange(len(rows), dtype=np.float64), counts) * float(SECOND_SPAN)
    return values, keys, starts, int(counts.max(initial=0))


def _near_mask(rows: list[np.ndarray], low: np.ndarray, high: np.ndarray, col_off: np.ndarray) -> np.ndarray:
    """Flat bool mask over every (column, second): True where some event of that column's row has the
    second in [low, high) (per event, integer bounds, clipped to the column). Spots elsewhere cannot match."""
    total = int(col_off[-1])
    diff = np.zeros(total + 1, np.int32)
    row = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    length = np.diff(col_off)[row]
    lo = np.clip(low, 0, length)
    hi = np.clip(high, 0, length)
    keep = hi > lo
    np.add.at(diff, col_off[row][keep] + lo[keep], 1)
    np.add.at(diff, col_off[row][keep] + hi[keep], -1)
    return np.cumsum(diff[:-1]) > 0


def _match(xp, windows: _Windows, rows, relevant, rank, group_half, col, base):
    """Greedy matching of all (configuration, half) at once, for every delta.

    Spots of a (configuration, half) go in ascending `rank` (descending score, then time). The paper's rule
    (each spot takes the first free event of its window, in time order) and the package's (each event, in
    time order, takes the free spot of highest score in its window) come to the same sequential rule, run
    event by event: event g goes to the spot of lowest rank among those that hold g in their window and
    have no event yet. (For the paper's rule, by induction on g: the first spot in score order that holds g
    and is still free reaches g with every earlier event of its window taken, so it takes g.)

    Args:
        windows: the metric's windows.
        rows: per row (class * halves + half), the sorted event times (seconds or frames).
        relevant: (spots,) global indices of the spots that can take an event; `base` their time.

    Returns:
        (relevant spots, deltas) bool: the spot is a true positive at that delta.
    """
    values, keys, starts, steps = _row_keys(rows)
    if int(relevant.shape[0]) == 0 or steps == 0:
        return xp.zeros([int(relevant.shape[0]), len(windows.half)], xp.bool)
    r_col = xp.gather(col, relevant)
    row_start = xp.gather(xp.constant(starts), r_col)
    key0 = xp.cast(r_col, xp.float64) * float(SECOND_SPAN) + base
    keys_t = xp.constant(keys)
    lo = xp.searchsorted(keys_t, key0 - windows.widest, side=windows.sides[0], out_type=xp.int64) - row_start
    hi = xp.searchsorted(keys_t, key0 + windows.widest, side=windows.sides[1], out_type=xp.int64) - row_start
    return _match_fn(xp)(lo, hi, xp.constant(values), row_start, xp.gather(rank, relevant),
                       xp.gather(group_half, relevant), base, xp.constant(windows.half),
                       xp.constant(windows.closed), xp.constant(steps, xp.int64))


def evaluate(predictions: Sequence[np.ndarray], ground_truth, *, methods: Sequence[str] = CANDIDATE_METHODS,
             thresholds: Sequence[float] = DEFAULT_THRESHOLDS, deltas: Sequence[int] = DEFAULT_DELTAS,
             metric: str = "both", spot_rate: int = 1, classes: ClassSet | str = V1, visibility=None,
             backend: str | None = None) -> dict:
    """Candidate spots and their scores over the whole grid, vectorised (NumPy or TensorFlow).

    Args:
        predictions: per half, a (seconds, 1 + C) array (the background, then the class set's C event
            classes: card, subs, goal for v1), as ClassificationSecondBased.py writes them (or arrays of
            spots for method "spots").
        ground_truth: per half (same order), C arrays of event seconds, as `truth.load_ground_truth`
            returns them.
        methods: candidate methods, from "argmax", "center", "nms" (and "spots").
        thresholds: candidate thresholds in [0, 1].
        deltas: tolerances in whole seconds.
        metric: "paper", "soccernet" or "both".
        spot_rate: positions per second of the arrays: 1, or 2 (the official metric's frames, for arrays of
            spots read at that rate by `outputs.read_results_spotting`; metric "soccernet" only).
        classes: the class set (`base.classes`), or its name; default v1.
        visibility: per half, C bool arrays parallel to the ground truth, True for a shown event
            (`truth.load_ground_truth(..., with_visibility=True)`); None: all shown. Used by the official
            metric of a version-2 class set only.
        backend: "numpy", "tensorflow" or "auto" (None: $SOCCERNET_EVAL_BACKEND, else auto), as
            `backend.choose`; the numbers are the same on both.

    Equal scores keep the original's stable order: within a half the earlier second first, pooled over
    halves the earlier half in list order first. Numbers are identical to `reference.evaluate_loop` (paper)
    and to the soccernet package's `evaluate(version=classes.version)` on the same spots (soccernet).

    Returns:
        A JSON-able dict: the grid (`methods`, `thresholds`, `deltas`, `classes`), `class_set`, `halves`,
        `events` (ground-truth counts per class), `spots` (candidate counts [method][threshold][class]), and
        per metric (`paper`, `soccernet`): `AP` [method][threshold][delta][class], `mAP`
        [method][threshold][delta], `average_mAP` [method][threshold], `average_AP`
        [method][threshold][class], and `best` per method (the threshold of highest Average-mAP, the
        first one on ties, with its numbers). For a version-2 class set, the `soccernet` block also has
        the package's shown and unshown figures (`AP_shown`, `mAP_shown`, `average_mAP_shown`,
        `average_AP_shown`, the same with `_unshown`, and in `best`; see `report.metric_summary`), and the
        report `events_soccernet_shown`, `events_soccernet_unshown`.

    Raises:
        ValueError: bad arguments or arrays.
    """
    classes = class_set(classes)
    names = classes.event_classes
    methods, thresholds, deltas = check_methods(methods), check_thresholds(thresholds), check_deltas(deltas)
    metrics = check_metrics(metric)
    if spot_rate not in (1, SOCCERNET_FRAMERATE) or (spot_rate != 1 and metrics != ("soccernet",)):
        raise ValueError(f"spot_rate {spot_rate}: 1, or {SOCCERNET_FRAMERATE} with the soccernet metric only "
                         "(the paper's metric is per second)")
    per_frame = SOCCERNET_FRAMERATE // spot_rate  # frames per array position
    predictions = check_predictions(predictions, classes)
    ground_truth = check_ground_truth(ground_truth, len(predictions), classes)
    visibility = check_visibility(visibility, ground_truth)
    xp = ops(choose(backend, cells(predictions, len(methods), len(thresholds))))
    H, T, D, C = len(predictions), len(thresholds), len(deltas), len(names)
    G = len(methods) * T * C
    cfg, col, sec, score = extract_spots(predictions, methods, thresholds, xp)
    n = int(score.shape[0])
    group = cfg * C + col // H  # (method, threshold, class): the pooled AP groups
    group_half = cfg * (C * H) + col  # (method, threshold, class, half): the matching groups
    counts = np.asarray(xp.math.unsorted_segment_sum(xp.ones([n], xp.int64), group, G)).reshape(len(methods), T, C)
    # Pooled order: by group, then descending score, ties in the base order (half, then second). Within a
    # (group, half) this is also the matching order, so the position in it serves as the rank.
    order_b = _pooled_order(xp, group, score, all(work_dtype(p.dtype) == np.float32 for p in predictions))
    rank = xp.math.invert_permutation(order_b)
    group_start = np.concatenate([[0], np.cumsum(counts.reshape(-1))[:-1]]).astype(np.int64)
    lengths = np.array([len(p) for p in predictions], np.int64)
    col_off = np.concatenate([[0], np.cumsum(np.tile(lengths, C))]).astype(np.int64)
    flat = xp.gather(xp.constant(col_off), col) + sec  # (column, second) in the flat layout
    widest = max(deltas)
    shape = (len(methods), T, C, D)
    results, split, split_events = {}, None, None
    paper_gt = [np.floor(gt[c]).astype(np.int64) for c in range(C) for gt in ground_truth]  # rows = columns
    events = {name: int(sum(len(s) for s in paper_gt[c * H:(c + 1) * H])) for c, name in enumerate(names)}
    if "paper" in metrics:
        every = np.concatenate(paper_gt) if paper_gt else np.zeros(0, np.int64)
        near = _near_mask(paper_gt, every - widest // 2, every + (widest + 1) // 2, col_off)  # t-d/2 <= s < t+d/2
        relevant = xp.reshape(xp.where((score > 0) & xp.gather(xp.constant(near), flat)), [-1])
        tp = _match(xp, _Windows("paper", deltas), paper_gt, relevant, rank, group_half, col,
                    xp.cast(xp.gather(sec, relevant), xp.float64))
        results["paper"] = _paper_ap(xp, relevant, tp, group, rank, group_start,
                                     np.array([events[name] for name in names], np.int64), G, D).reshape(
            shape).transpose(0, 1, 3, 2)
    events_soccernet = None
    if "soccernet" in metrics:
        frames_gt, values_gt = official_rows(ground_truth, visibility, C)  # rows = columns
        events_soccernet = {name: int(sum(len(f) for f in frames_gt[c * H:(c + 1) * H]))
                            for c, name in enumerate(names)}
        every = np.concatenate(frames_gt) if frames_gt else np.zeros(0, np.int64)
        near = _near_mask(frames_gt, -((widest - every) // per_frame), (every + widest) // per_frame + 1,
                          col_off)  # |per_frame * s - f| <= d
        frame = xp.minimum(sec * per_frame, SOCCERNET_LAST_FRAME)
        # Frames clipped to the last one overwrite each other (the later spot wins, as in the JSON order).
        clipped = sec * per_frame >= SOCCERNET_LAST_FRAME
        later_clipped = xp.concat([clipped[1:] & (group_half[1:] == group_half[:-1]), [False]], 0)
        chosen = (score >= 0) & ~(clipped & later_clipped)
        relevant = xp.reshape(xp.where(chosen & (xp.gather(xp.constant(near), flat) | clipped)), [-1])
        tp = _match(xp, _Windows("soccernet", deltas), frames_gt, relevant, rank, group_half, col,
                    xp.cast(xp.gather(frame, relevant), xp.float64))
        results["soccernet"] = soccernet_ap(xp, chosen, relevant, tp, score, group,
                                            np.array([events_soccernet[name] for name in names]),
                                            G, D).reshape(shape).transpose(0, 1, 3, 2)
        if classes.version == 2:
            split, split_events = _visibility_split(xp, frames_gt, values_gt, col, frame, chosen, relevant, tp, score,
                                                    group, names, H, G, D, shape)
    return grid_report(methods, thresholds, deltas, metrics, H, events, events_soccernet, counts, results, classes,
                       split, split_events)


def _visibility_split(xp, frames_gt, values_gt, col, frame, chosen, relevant, tp, score, group, names, H, G, D, shape):
    """The package's shown and unshown APs (`compute_precision_recall_curve`): the detections whose
    `closest` value is +1 (kept where > 0.5), resp. -1 (kept where < -0.5), with their true positives
    whatever event they matched; recall over the shown, resp. unshown, event frames. A detection in a half
    without events of its class has closest -1: an unshown detection."""
    C = len(names)
    value = xp.constant(closest_values(frames_gt, values_gt, np.asarray(col), np.asarray(frame)))
    split, split_events = {}, {}
    for part, sign in zip(VISIBILITY_PARTS, (1, -1)):
        mask = value == sign
        positives = np.array([sum(int((v == sign).sum()) for v in values_gt[c * H:(c + 1) * H]) for c in range(C)],
                             np.int64)
        split[part] = soccernet_ap(xp, chosen & mask, relevant, tp & xp.gather(mask, relevant)[:, None], score, group,
                                   positives, G, D).reshape(shape).transpose(0, 1, 3, 2)
        split_events[part] = {name: int(positives[c]) for c, name in enumerate(names)}
    return split, split_events


def _pooled_order(xp, group, score, float32_scores: bool):
    """Permutation sorting the spots by (group, descending score), stable. One sort of a packed int64 key
    when the scores are float32 values; else a stable sort by score, then by (group, score rank)."""
    n = int(score.shape[0])
    if n == 0:
        return xp.zeros([0], xp.int64)
    if float32_scores:
        bits = xp.cast(xp.bitcast(xp.cast(score, xp.float32) + 0.0, xp.int32), xp.int64)
        order = xp.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)  # increasing with the score
        key = group * (1 << 33) + ((1 << 31) - 1 - order)
        return xp.cast(xp.argsort(key, stable=True), xp.int64)
    by_score = xp.cast(xp.argsort(score, direction="DESCENDING", stable=True), xp.int64)
    rank = xp.math.invert_permutation(by_score)
    return xp.cast(xp.argsort(group * n + rank, stable=True), xp.int64)


def _paper_ap(xp, relevant, tp, group, rank, group_start, positives, G, D):
    """11-point AP per (group, delta) from the true positives: AP at recall level r is the highest
    precision among detections with recall >= r (only true positives can hold it: a false positive has
    the recall and a lower precision than the true positive before it), 0 if none."""
    slots = len(RECALL_LEVELS) + 1
    table = np.full((G, D, slots), -np.inf)
    if int(relevant.shape[0]):
        best = np.asarray(_paper_table_fn(xp)(relevant, tp, group, rank, xp.constant(group_start),
                                              xp.constant(positives), xp.constant(G, xp.int64)))
        table = best[:-1].reshape(G, D, slots)
    reach = np.maximum.accumulate(table[:, :, ::-1], axis=2)[:, :, ::-1]  # best over levels >= index
    values = np.maximum(reach[:, :, 1:], 0.0)  # level q + 1 and above, for recall level q
    ap = np.zeros((G, D))
    for q in range(len(RECALL_LEVELS)):  # summed in order, as the original's sum(AP_r)
        ap = ap + values[:, :, q]
    return ap / len(RECALL_LEVELS)
