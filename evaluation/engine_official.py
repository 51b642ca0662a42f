"""The vectorised engine, part 3: the official metric's pieces after the matching, as the soccernet package
computes them (SoccerNet/Evaluation/ActionSpotting.py): its event frames and their visibility
(`label2vector`), the `closest` value of every detection (`evaluate`'s closest arrays), and the AP from
the detections and true positives at its 200 confidence thresholds (`compute_precision_recall_curve`,
`compute_mAP`), on all detections and, for a version-2 class set, on those whose closest action is shown
and on those whose closest action is unshown.

The counting runs on the array module `xp` (`backend.ops`: NumPy or TensorFlow).
"""
from __future__ import annotations

import functools

import numpy as np

from evaluation.candidates import SOCCERNET_CONFIDENCES, SOCCERNET_FRAMERATE, SOCCERNET_LAST_FRAME
from evaluation.engine_spots import SECOND_SPAN


def official_rows(ground_truth, visibility, classes: int):
    """The package's event frames per row (class * halves + half, the columns' order): the distinct frames
    floor(2 * seconds), clipped to its last frame, sorted; and per frame its value, +1 shown, -1 not shown.

    `label2vector` writes one value per frame, a later annotation overwriting an earlier one; the flags of
    `truth.load_ground_truth` are already resolved so (every event of a frame holds the frame's flag), and
    here the last event of each frame in the sorted order gives its value."""
    frames, values = [], []
    for c in range(classes):
        for gt, shown in zip(ground_truth, visibility):
            f = np.minimum(np.floor(SOCCERNET_FRAMERATE * gt[c]).astype(np.int64), SOCCERNET_LAST_FRAME)
            distinct, last = np.unique(f[::-1], return_index=True)  # first in the reversed = last in order
            frames.append(distinct)
            values.append(np.where(np.asarray(shown[c], bool)[::-1][last], 1, -1).astype(np.int64))
    return frames, values


def closest_values(frames: list[np.ndarray], values: list[np.ndarray], row: np.ndarray,
                   frame: np.ndarray) -> np.ndarray:
    """The package's `closest` value (+1 or -1) of detections at `frame` of rows `row`.

    As `evaluate` builds its closest arrays: -1 everywhere in a row without events; otherwise event i
    (frames f_1 < ... < f_k) owns the frames from (f_(i-1) + f_i) // 2 up to (f_i + f_(i+1)) // 2, the first
    from frame 0, the last to the vector's end, and each frame holds its owner's value. So the owner of
    frame x is the number of boundaries (f_(i-1) + f_i) // 2 <= x (searchsorted, side right)."""
    counts = np.array([len(f) for f in frames], np.int64)
    event_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    bounds = [(f[:-1] + f[1:]) // 2 for f in frames]
    bound_counts = np.array([len(b) for b in bounds], np.int64)
    bound_start = np.concatenate([[0], np.cumsum(bound_counts)[:-1]]).astype(np.int64)
    keys = np.concatenate([b + r * SECOND_SPAN for r, b in enumerate(bounds)] + [np.zeros(0, np.int64)])
    every = np.concatenate(values + [np.zeros(0, np.int64)])
    row, frame = np.asarray(row, np.int64), np.asarray(frame, np.int64)
    owner = np.searchsorted(keys, row * SECOND_SPAN + frame, side="right") - bound_start[row]
    has = counts[row] > 0
    out = np.full(len(row), -1, np.int64)
    out[has] = every[event_start[row[has]] + owner[has]]
    return out


@functools.cache
def _soccernet_counts_fn(xp):
    """Detections and true positives per (group, delta, confidence bin), see `soccernet_ap`."""
    spec = xp.TensorSpec
    bins = len(SOCCERNET_CONFIDENCES) + 1

    signature = [spec([None], xp.bool), spec([None], xp.int64), spec([None, None], xp.bool), spec([None], xp.float64),
                 spec([None], xp.int64), spec([None], xp.float64), spec([], xp.int64)]

    @xp.function(autograph=False, input_signature=signature)
    def soccernet_counts(chosen, relevant, tp, score, group, confidences, groups):
        D = xp.shape(tp, out_type=xp.int64)[1]
        b = xp.searchsorted(confidences, score, side="right", out_type=xp.int64)  # thresholds <= score
        segment = xp.where(chosen, group * bins + b, groups * bins)
        count = xp.math.unsorted_segment_sum(xp.ones_like(b), segment, groups * bins + 1)
        hits = xp.where(tp)
        entry = xp.gather(relevant, hits[:, 0])
        segment = (xp.gather(group, entry) * D + hits[:, 1]) * bins + xp.gather(b, entry)
        true_count = xp.math.unsorted_segment_sum(xp.ones_like(segment), segment, groups * D * bins)
        return count, true_count

    return soccernet_counts


def soccernet_ap(xp, chosen, relevant, tp, score, group, positives, G, D):
    """The package's AP (`compute_precision_recall_curve`, `compute_mAP`): precision and recall at 200
    confidence thresholds (detections with score >= threshold), then for j = 0, 0.1, ..., 1 the highest
    precision at recall >= j (0 if none), summed and / 11. Precision and recall as its `np.nan_to_num` of
    the quotients: 0 / 0 is 0 (no detection; or a class without events), x / 0 the largest float.

    Args:
        chosen: (spots,) the detections counted; relevant, tp: the spots that can match and their true
            positives per delta (only those of chosen spots may be True); group: per spot, (method,
            threshold, class); positives: the events per class (C = len(positives)); G groups, D deltas.
    """
    bins = len(SOCCERNET_CONFIDENCES) + 1
    count, true_count = _soccernet_counts_fn(xp)(chosen, relevant, tp, score, group,
                                               xp.constant(SOCCERNET_CONFIDENCES), xp.constant(G, xp.int64))
    count = np.asarray(count)[:-1].reshape(G, bins)
    true_count = np.asarray(true_count).reshape(G, D, bins)
    # Detections at threshold index i: those with more than i thresholds <= score.
    detections = np.cumsum(count[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.float64)  # (G, 200)
    true_pos = np.cumsum(true_count[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:].astype(np.float64)
    n_gt = np.asarray(positives)[np.arange(G) % len(positives)].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(true_pos / detections[:, None, :])
        recall = np.nan_to_num(true_pos / n_gt[:, None, None])
    ap = np.zeros((G, D))
    for j in np.arange(11) / 10:
        ap = ap + np.where(recall >= j, precision, -np.inf).max(axis=2, initial=-np.inf).clip(min=0.0)
    return ap / 11
