"""The paper's metric by plain loops, as the original's `mAP` and `computeAP`: the reference the vectorised
engine (`engine.evaluate`) is tested against, number for number. No TensorFlow.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from base.classes import V1, ClassSet, class_set
from evaluation.candidates import (CANDIDATE_METHODS, DEFAULT_DELTAS, DEFAULT_THRESHOLDS, RECALL_LEVELS, candidates,
                                   check_deltas, check_ground_truth, check_methods, check_predictions, check_thresholds)
from evaluation.report import grid_report


def _spotted_loop(predictions, method, threshold, count: int):
    """Per half and class (`count` classes): [(second, score)] with score > 0, in descending score (stable),
    as `mAP()`; and the number of candidates per class (before the score filter)."""
    spotted = []
    counts = [0] * count
    for p in predictions:
        per_class = []
        for c in range(count):
            seconds, scores = candidates(p[:, c + 1], threshold, method)
            counts[c] += len(seconds)
            spot_list = [(int(s), float(v)) for s, v in zip(seconds, scores) if v > 0]
            spot_list.sort(key=lambda x: x[1], reverse=True)  # stable: equal scores keep second order
            per_class.append(spot_list)
        spotted.append(per_class)
    return spotted, counts


def _ap_loop(spotted, ground_truth, c: int, delta: int) -> float:
    """11-point interpolated AP of class c at tolerance delta, as the original's `computeAP`."""
    positives = 0
    all_spots = []
    for half_spots, gt in zip(spotted, ground_truth):
        events = gt[c]
        taken = [False] * len(events)
        positives += len(events)
        for second, score in half_spots[c]:
            found = False
            for j, t in enumerate(events):  # the first free event in time order, not the nearest
                if not taken[j] and t - delta / 2 <= second < t + delta / 2:
                    taken[j] = found = True
                    break
            all_spots.append((second, score, found))
    all_spots.sort(key=lambda x: x[1], reverse=True)  # stable: equal scores keep half order
    precision, recall = [1.0], [0.0]
    tp = fp = 0
    for _, _, found in all_spots:
        tp, fp = tp + found, fp + (not found)
        precision.append(tp / (tp + fp))
        recall.append(tp / positives if positives else 0.0)  # no events: recall 0 (AP 0), no crash
    precision.append(0.0)
    recall.append(1.0)
    interpolated = list(precision)
    for i in range(len(interpolated) - 2, -1, -1):
        interpolated[i] = max(interpolated[i], interpolated[i + 1])
    values, i = [], 0
    for r in RECALL_LEVELS:
        while not (recall[i] <= r <= recall[i + 1]):
            i += 1
        values.append(interpolated[i + 1])
    return sum(values) / len(RECALL_LEVELS)


def evaluate_loop(predictions: Sequence[np.ndarray], ground_truth, *, methods: Sequence[str] = CANDIDATE_METHODS,
                  thresholds: Sequence[float] = DEFAULT_THRESHOLDS, deltas: Sequence[int] = DEFAULT_DELTAS,
                  classes: ClassSet | str = V1) -> dict:
    """The paper's metric by plain loops (reference for the tests); same output as
    `engine.evaluate(..., metric="paper", classes=classes)`, number for number. Predictions are (seconds,
    1 + C) arrays and the ground truth C arrays per half, C the class set's event classes."""
    classes = class_set(classes)
    C = len(classes.event_classes)
    methods, thresholds, deltas = check_methods(methods), check_thresholds(thresholds), check_deltas(deltas)
    predictions = check_predictions(predictions, classes)
    ground_truth = check_ground_truth(ground_truth, len(predictions), classes)
    gt_seconds = [tuple(np.floor(s).astype(np.int64).tolist() for s in gt) for gt in ground_truth]
    ap = np.zeros((len(methods), len(thresholds), len(deltas), C))
    counts = np.zeros((len(methods), len(thresholds), C), np.int64)
    for mi, method in enumerate(methods):
        for ti, threshold in enumerate(thresholds):
            spotted, counts[mi, ti] = _spotted_loop(predictions, method, threshold, C)
            for di, delta in enumerate(deltas):
                for c in range(C):
                    ap[mi, ti, di, c] = _ap_loop(spotted, gt_seconds, c, delta)
    events = {name: int(sum(len(gt[c]) for gt in gt_seconds)) for c, name in enumerate(classes.event_classes)}
    return grid_report(methods, thresholds, deltas, ("paper",), len(predictions), events, None, counts,
                       {"paper": ap}, classes)
