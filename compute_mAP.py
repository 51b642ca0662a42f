"""Spotting evaluation: candidate spots from per-second probabilities, scored by the paper's tolerance mAP
and by the official SoccerNet metric, over the whole grid of methods, thresholds and tolerances.

    .venv/bin/python compute_mAP.py --testing listgame_Test_100.npy --SoccerNet_path data/SoccerNet \\
        --predictions predictions --prefix VLAD-Archi5-20sec-Spotting VLAD-Archi1-20sec-Spotting \\
        --output results/spotting

Reproduces `compute_mAP.py` of Vanderplaetse & Dupont, "Improved Soccer Action Spotting Using Both Audio
and Video Streams" (CVPRW 2020), which produced the paper's spotting numbers (its functions
`get_spot_from_argmax`, `get_spot_from_Center`, `get_spot_from_NMS`, `mAP`, `computeAP`):

- Candidates, per class column p[0..n-1] of a prediction file and threshold theta, with p[-1] = p[n] = 0:
  segment starts are the j with p[j-1] < theta <= p[j], segment ends (exclusive) the j with
  p[j-1] > theta >= p[j], the i-th start paired with the i-th end. "argmax" (segment maximum) spots the
  first maximum of the segment; "center" spots floor((start + end) / 2) with the probability there;
  "nms" spots every i with 30 < i < n - 30, p[i] >= max(p[i+1:i+30]), p[i] > max(p[i-30:i]) and
  p[i] > theta (a fixed 60 s window). One spot per second and class.
- The paper's metric: per half and class, spots with a score > 0 in descending score; each takes the
  first not yet matched ground-truth event t in time order with t - delta/2 <= s < t + delta/2.
  All halves pooled per class, 11-point interpolated AP; mAP = mean over card, subs, goal;
  Average-mAP = plain mean of the mAP over delta = 60, 55, ..., 5 s.
- The official metric of the `soccernet` package (`SoccerNet.Evaluation.ActionSpotting.evaluate`,
  version 1), computed on the same candidate spots: per half, each event in time order takes the
  unmatched spot of highest score within |s - t| <= delta/2 (at 2 frames per second, frames clipped to
  the package's 2-hour vectors); precision and recall at 200 confidence thresholds, its 11-point AP;
  Average-mAP = area under the mAP-delta curve (trapezoids over ascending delta, divided by the number
  of intervals).

Order among equal scores (both implementations, as the original's stable sorts): within a half, earlier
second first; pooled over halves, list order of the halves (game by game, half 1 then 2), then second.

Reproduction notes and defined behaviour where the original fails:
- The segment methods compare in two precisions, as the original's `get_spot_from_argmax` and
  `get_spot_from_Center` did: their `np.insert(p, 0, 0)` keeps the array's dtype, so the tests on p[j-1]
  (`< theta`, `> theta`) see theta rounded to the array's precision, while `np.append(p, 0)` adds an
  int64 zero and is float64, so the tests on p[j] (`>= theta`, `<= theta`) see theta exactly. For a
  float32 array this matters only where a probability equals float32(theta) for a theta that float32
  cannot represent (all default thresholds but 0.25, 0.5 and 0.75): at 0.2 (float32 rounds it up) such a
  value neither ends a segment nor starts one; at 0.95 (rounded down) it neither starts one nor, after
  a value above, lets a new one start. For a float64 array both sides compare exactly. NMS's
  `p[i] > theta` compares in float64, as NumPy 1.x (the authors' environment) did for two scalars.
- A probability exactly equal to the threshold can misalign starts and ends (quirk 6). The pairing
  is kept; where the original crashes, the result is defined: unpaired starts or ends are ignored, and
  an argmax pair whose end is not after its start gives no spot (a center pair still gives one).
- A class without ground-truth events has AP 0 (the original divides by zero when it has spots).
- The ground truth is per second (int of the event time) and is not clipped to the prediction length;
  predictions shorter or longer than the half, and empty halves, are valid input. Event times come from
  `dataset.read_labels` (the annotation's `position` in milliseconds when present, else `gameTime`; the
  original used `gameTime` only, SoccerNet v1 labels have no `position`).
- Method "spots" scores arrays that already hold spots (`read_results_spotting`: -1 where none), every
  second with a score >= threshold; it lets other tools' results_spotting.json files be scored here:
  the official metric at the package's 0.5 s frames (as its reader: frame = int(2 * position / 1000),
  a later spot in the same frame replacing the earlier one), the paper's per second (spots floored
  to the second, two in the same second of a class merged into the higher, with a warning).

The vectorised implementation (`evaluate`) runs in TensorFlow over the whole grid (methods x thresholds
x deltas x halves x classes), on a GPU when TensorFlow sees one. `evaluate_loop` is the plain loop version
of the paper's metric, kept as the reference for the tests; both give identical numbers.
"""
from __future__ import annotations

import argparse
import csv
import functools
import io
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

import dataset
import runs
from dataset import EVENT_CLASSES, DataError

log = logging.getLogger("compute_mAP")
TOP = Path(__file__).resolve().parent

# The candidate-spot methods (segment maximum, segment centre, NMS), named as the authors' functions.
CANDIDATE_METHODS = ("argmax", "center", "nms")
# Extra method for arrays that already hold spots (read from results_spotting.json files): every second
# with a score >= threshold is a candidate; -1 marks "no spot".
SPOTS = "spots"
ALL_METHODS = CANDIDATE_METHODS + (SPOTS,)
DEFAULT_THRESHOLDS = tuple(t / 100 for t in range(95, 0, -5))  # 0.95, 0.90, ..., 0.05 (original THRESHOLD_RANGE)
DEFAULT_DELTAS = tuple(range(60, 0, -5))  # 60, 55, ..., 5 seconds (original DELTA_RANGE): the loose set
TIGHT_DELTAS = (1, 2, 3, 4, 5)  # SoccerNet v2's tight Average-mAP (tolerances 1 to 5 s)
DELTA_SETS = {"loose": DEFAULT_DELTAS, "tight": TIGHT_DELTAS}
SOCCERNET_LABELS = ("card", "subs", "soccer")  # labels of the soccernet package's version-1 dictionary
METRICS = ("paper", "soccernet")
NMS_WINDOW = 60  # seconds, fixed in the original (get_spot_from_NMS)
RECALL_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# The soccernet package: 2 frames per second, label vectors of 120 minutes, 200 confidence thresholds.
SOCCERNET_FRAMERATE = 2
SOCCERNET_LAST_FRAME = 120 * 60 * SOCCERNET_FRAMERATE - 1
SOCCERNET_CONFIDENCES = np.linspace(0, 1, 200)
RESULTS_SPOTTING = "results_spotting.json"
# What ClassificationSecondBased.py writes into results_spotting.json by default: every candidate of the
# segment-centre method above a low threshold, each with its confidence. The official evaluator sweeps
# its own confidence thresholds, so it needs all candidates (a high threshold here under-reports it).
# Not 0: a segment starts where p[j-1] < theta, so the segment methods find nothing at theta = 0.
JSON_METHOD, JSON_THRESHOLD = "center", 0.01

_HALF_WINDOW = NMS_WINDOW // 2
_SECOND_SPAN = 1 << 24  # seconds per ground-truth row in the composite search keys
_BIG = 1 << 60


# ------------------------------------------------------------------------------------------------
# Chunk classification (the training script's validation and test metrics, and late fusion's)

# TF1's tf.metrics.auc default, used by the authors' trainer for every AP of the classification task.
PR_AUC_THRESHOLDS = 200


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def pr_auc(labels: np.ndarray, scores: np.ndarray, num_thresholds: int = PR_AUC_THRESHOLDS) -> float:
    """Area under the precision-recall curve exactly as TF1's `tf.metrics.auc(curve='PR')`, which the
    authors' `trainer.py` (`validate`, `test`) streams over all chunks of a split.

    Thresholds -1e-7, j/(n-1) for j = 1..n-2, 1 + 1e-7; counts TP, FP, FN of `score > threshold` in
    float32; recall (TP + 1e-6) / (TP + FN + 1e-6), precision (TP + 1e-6) / (TP + FP + 1e-6); the
    trapezoid sum over consecutive thresholds. (Keras's `AUC(curve="PR")` interpolates differently.)

    Args:
        labels: (n,) 0/1 ground truth.
        scores: (n,) probabilities.
    """
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, np.float32).ravel()
    epsilon = 1e-7
    thresholds = np.array([-epsilon] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
                          + [1.0 + epsilon], np.float32)
    positives = np.sort(scores[labels])
    negatives = np.sort(scores[~labels])
    tp = (len(positives) - np.searchsorted(positives, thresholds, side="right")).astype(np.float32)
    fp = (len(negatives) - np.searchsorted(negatives, thresholds, side="right")).astype(np.float32)
    fn = np.float32(len(positives)) - tp
    small = np.float32(1e-6)
    recall = (tp + small) / (tp + fn + small)
    precision = (tp + small) / (tp + fp + small)
    return float(np.sum((recall[:-1] - recall[1:]) * (precision[:-1] + precision[1:]) / np.float32(2)))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts of (ground truth, predicted) class pairs, rows ground truth as the paper's Table 3.

    Both sides are argmax over the 4 columns (the first maximum), as the original's
    `confusion_matrix(argmax(logits), argmax(labels))` (which put predictions in rows).
    """
    truth = np.argmax(labels, axis=1)
    guess = np.argmax(predicted, axis=1)
    matrix = np.zeros((dataset.NUM_CLASSES, dataset.NUM_CLASSES), np.int64)
    np.add.at(matrix, (truth, guess), 1)
    return matrix


def classification_report(labels: np.ndarray, probabilities: np.ndarray,
                          argmax_scores: np.ndarray | None = None, loss: float | None = None) -> dict:
    """AP (PR-AUC) per class including background, mAP over card/subs/goal, confusion, accuracies.

    Args:
        labels: (n, 4) multi-label targets.
        probabilities: (n, 4) sigmoid outputs.
        argmax_scores: what the confusion matrix takes the argmax of (default `probabilities`).
        loss: recorded as is.
    """
    ap = [pr_auc(labels[:, c], probabilities[:, c]) for c in range(dataset.NUM_CLASSES)]
    matrix = confusion_matrix(labels, probabilities if argmax_scores is None else argmax_scores)
    rows = matrix.sum(axis=1)
    accuracy = [float(matrix[c, c] / rows[c]) if rows[c] else 0.0 for c in range(dataset.NUM_CLASSES)]
    report = {"AP": dict(zip(dataset.CLASSES, ap)), "mAP": float(np.mean(ap[1:])),
              "accuracy": dict(zip(dataset.CLASSES, accuracy)), "accuracy_average": float(np.mean(accuracy)),
              "confusion_matrix": matrix.tolist(), "chunks": int(len(labels)),
              "events": {name: int(labels[:, c].sum()) for c, name in enumerate(dataset.CLASSES)}}
    if loss is not None:
        report["loss"] = float(loss)
    return report


def format_classification_report(report: dict, title: str = "test") -> str:
    """The report as text: AP per class, mAP, and the confusion matrix laid out as the paper's Table 3."""
    titles = dataset.CLASS_TITLES
    lines = [f"{title}: mAP {100 * report['mAP']:.1f} % over {report['chunks']} chunks "
             f"(AP: " + ", ".join(f"{n} {100 * report['AP'][c]:.1f}" for n, c in zip(titles, dataset.CLASSES))
             + ")",
             "confusion matrix (rows: ground truth, columns: predicted)",
             f"{'':<12}" + "".join(f"{n:>12}" for n in titles)]
    for name, row in zip(titles, report["confusion_matrix"]):
        lines.append(f"{name:<12}" + "".join(f"{v:>12}" for v in row))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Arguments of the spotting evaluation


def _methods(methods: Sequence[str]) -> tuple[str, ...]:
    methods = tuple(methods)
    if not methods:
        raise ValueError("no candidate method given")
    for method in methods:
        if method not in ALL_METHODS:
            raise ValueError(f"unknown method '{method}', expected one of {', '.join(ALL_METHODS)}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"a method is repeated in {methods}")
    return methods


def _thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    try:
        thresholds = tuple(float(t) for t in thresholds)
    except (TypeError, ValueError):
        raise ValueError(f"thresholds {list(thresholds)} are not numbers") from None
    if not thresholds:
        raise ValueError("no threshold given")
    for t in thresholds:
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"threshold {t} is outside [0, 1]")
    return thresholds


def _deltas(deltas: Sequence[int]) -> tuple[int, ...]:
    out = []
    for d in deltas:
        if isinstance(d, (float, np.floating)) and not float(d).is_integer():
            raise ValueError(f"delta {d} is not a whole number of seconds")
        d = int(d)
        if not 1 <= d <= 3600:
            raise ValueError(f"delta {d} is outside 1..3600 seconds")
        out.append(d)
    if not out:
        raise ValueError("no delta given")
    return tuple(out)


def _metrics(metric: str) -> tuple[str, ...]:
    if metric == "both":
        return METRICS
    if metric in METRICS:
        return (metric,)
    raise ValueError(f"unknown metric '{metric}', expected paper, soccernet or both")


def _check_predictions(predictions: Sequence[np.ndarray]) -> list[np.ndarray]:
    arrays = []
    for i, p in enumerate(predictions):
        p = np.asarray(p)
        if p.ndim != 2 or p.shape[1] != len(dataset.CLASSES):
            raise ValueError(f"prediction {i}: expected shape (seconds, 4), got {p.shape}")
        if p.dtype.kind not in "fiub":
            raise ValueError(f"prediction {i}: expected numbers, got {p.dtype}")
        if p.dtype.kind == "f" and not np.isfinite(p).all():
            raise ValueError(f"prediction {i}: contains NaN or infinity")
        arrays.append(p)
    return arrays


def _check_ground_truth(ground_truth, halves: int) -> list[tuple[np.ndarray, ...]]:
    if len(ground_truth) != halves:
        raise ValueError(f"{halves} prediction arrays but {len(ground_truth)} ground-truth halves")
    out = []
    for i, gt in enumerate(ground_truth):
        if len(gt) != len(EVENT_CLASSES):
            raise ValueError(f"ground truth {i}: expected {len(EVENT_CLASSES)} arrays of event seconds, got {len(gt)}")
        arrays = tuple(np.sort(np.asarray(seconds, np.float64).reshape(-1)) for seconds in gt)
        for seconds in arrays:
            if not np.isfinite(seconds).all() or (seconds < 0).any():
                raise ValueError(f"ground truth {i}: event times must be finite and >= 0")
        out.append(arrays)
    return out


# ------------------------------------------------------------------------------------------------
# Candidate spots (the reference, NumPy)


def threshold_in_precision(threshold: float, dtype) -> float:
    """The threshold rounded to a `dtype` array's precision: what the original's tests on p[j-1] (and the
    "spots" method) compare with."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return float(np.asarray(threshold, dtype=dtype))
    return float(threshold)


def candidates(probabilities_1d: np.ndarray, threshold: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Candidate spots of one class column, as the original's `get_spot_from_*` + `format_spot`.

    Args:
        probabilities_1d: (seconds,) per-second probabilities of one class (any float dtype; the segment
            comparisons run in its precision, see the module docstring).
        threshold: theta.
        method: "argmax" (segment maximum), "center" (segment centre), "nms" (60 s window), or "spots"
            (the array already holds spots: every second with a value >= threshold, -1 meaning none).

    Returns:
        (seconds int64, scores float64), one spot per second (a later spot at the same second
        overwrites an earlier one, as `format_spot`), sorted by second. Scores are not filtered here:
        the paper's metric drops scores <= 0, the official metric scores < 0.
    """
    p = np.asarray(probabilities_1d)
    if p.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {p.shape}")
    if p.dtype.kind not in "f":
        p = p.astype(np.float64)
    n = len(p)
    spots: dict[int, float] = {}
    if method == SPOTS:
        for i in np.flatnonzero(p >= threshold):
            spots[int(i)] = float(p[i])
    elif method == "nms":
        if n >= 2 * _HALF_WINDOW + 2:
            from numpy.lib.stride_tricks import sliding_window_view

            before = sliding_window_view(p, _HALF_WINDOW).max(axis=1)  # before[j] = max(p[j:j+30])
            after = sliding_window_view(p, _HALF_WINDOW - 1).max(axis=1)  # after[j] = max(p[j:j+29])
            for i in range(_HALF_WINDOW + 1, n - _HALF_WINDOW):  # 30 < i < n - 30
                if p[i] >= after[i + 1] and p[i] > before[i - _HALF_WINDOW] and float(p[i]) > threshold:
                    spots[i] = float(p[i])
    elif method in ("argmax", "center"):
        # The original's two shifted copies compare in two precisions: `np.insert(p, 0, 0)` keeps p's
        # dtype, so the tests on p[j-1] see the threshold rounded to it; `np.append(p, 0)` concatenates an
        # int64 zero and becomes float64, so the tests on p[j] see the exact threshold.
        theta_previous = np.asarray(threshold, dtype=p.dtype)
        previous = np.insert(p, 0, 0)  # p[j-1], with p[-1] = 0
        current = np.append(p, 0).astype(np.float64)  # p[j], with p[n] = 0
        theta_current = float(threshold)
        starts = np.flatnonzero((previous < theta_previous) & (current >= theta_current))
        ends = np.flatnonzero((previous > theta_previous) & (current <= theta_current))
        for start, end in zip(starts, ends):  # the i-th start with the i-th end, as the original
            if method == "argmax":
                if end <= start:  # the original crashes (argmax of an empty slice)
                    continue
                second = int(start + np.argmax(p[start:end]))
            else:
                second = int((start + end) // 2)
                if second >= n:  # only for negative values, which probabilities never are
                    continue
            spots[second] = float(p[second])
    else:
        raise ValueError(f"unknown method '{method}', expected one of {', '.join(ALL_METHODS)}")
    seconds = np.array(sorted(spots), np.int64)
    return seconds, np.array([spots[int(s)] for s in seconds], np.float64)


# ------------------------------------------------------------------------------------------------
# Ground truth and prediction files


def ground_truth_of_events(events: Sequence[dataset.Event]) -> dict[int, tuple[np.ndarray, ...]]:
    """Event seconds per half and class: {1: (card, subs, goal), 2: (...)}, each a sorted float64 array."""
    out = {}
    for half in dataset.HALVES:
        out[half] = tuple(np.sort(np.array([e.seconds for e in events if e.half == half and e.label == c],
                                           np.float64)) for c in (1, 2, 3))
    return out


def load_ground_truth(list_path: str | os.PathLike, data_root: str | os.PathLike | None = None,
                      label_file: str = dataset.V1_LABEL_FILE) -> list[tuple[np.ndarray, ...]]:
    """Ground truth of every half of a game list, in list order (game by game, half 1 then 2).

    Args:
        list_path: the game list (`listgame_Test_100.npy` or a text list).
        data_root: folder of the game folders; default the list's folder.
        label_file: `Labels.json` (v1) or `Labels-v2.json` (v2 labels mapped to the three classes).

    Returns:
        Per half, a tuple of three sorted float64 arrays (card, subs, goal) of event times in seconds
        from the half start (`dataset.read_labels`).

    Raises:
        DataError: a missing list or label file, or bad labels.
    """
    root = dataset.data_root_for(list_path, data_root)
    halves = []
    for game in dataset.read_game_list(list_path):
        by_half = ground_truth_of_events(dataset.read_labels(root / game / label_file))
        halves += [by_half[h] for h in dataset.HALVES]
    return halves


# The spotting-output layout, written by ClassificationSecondBased.py and read here:
#   <dir>/<game>/<prefix>_Half_<h>.npy                          per-second probabilities (seconds, 4)
#   <dir>/<game>/<prefix>_timeline.png                          the timeline plot of a game
#   <dir>/results_spotting_<prefix>/<game>/results_spotting.json  the SoccerNet JSON of a game


def prediction_file(predictions_dir: str | os.PathLike, game: str, prefix: str, half: int) -> Path:
    """`<predictions_dir>/<game>/<prefix>_Half_<half>.npy`: one half's per-second probabilities."""
    return Path(predictions_dir) / game / f"{prefix}_Half_{half}.npy"


def timeline_file(predictions_dir: str | os.PathLike, game: str, prefix: str) -> Path:
    """`<predictions_dir>/<game>/<prefix>_timeline.png`: a game's timeline plot."""
    return Path(predictions_dir) / game / f"{prefix}_timeline.png"


def results_spotting_dir(predictions_dir: str | os.PathLike, prefix: str) -> Path:
    """`<predictions_dir>/results_spotting_<prefix>`: the folder of one model's SoccerNet JSON files, laid
    out `<game>/results_spotting.json` as the official evaluator reads them."""
    return Path(predictions_dir) / f"results_spotting_{prefix}"


def results_spotting_file(predictions_dir: str | os.PathLike, prefix: str, game: str) -> Path:
    return results_spotting_dir(predictions_dir, prefix) / game / RESULTS_SPOTTING


def game_outputs_done(predictions_dir: str | os.PathLike, game: str, prefix: str, with_json: bool = True) -> bool:
    """Whether a game's spotting outputs are all there (the JSON file is written last)."""
    done = all(prediction_file(predictions_dir, game, prefix, h).is_file() for h in dataset.HALVES)
    return done and (not with_json or results_spotting_file(predictions_dir, prefix, game).is_file())


def read_prediction_file(path: str | os.PathLike) -> np.ndarray:
    """One per-second prediction array (seconds, 4) of probabilities, checked.

    Raises:
        DataError: missing file, not a numeric 2-D array with 4 columns, values outside [0, 1] or NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "prediction file not found")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(path, f"not a numeric .npy array ({exc})") from None
    if array.ndim != 2 or array.shape[1] != len(dataset.CLASSES) or array.dtype.kind not in "fiu":
        raise DataError(path, f"expected a numeric array (seconds, {len(dataset.CLASSES)}), "
                              f"got {array.dtype} {array.shape}")
    if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
        raise DataError(path, "expected probabilities in [0, 1] (found values outside, NaN or infinity)")
    return array


def load_predictions(list_path: str | os.PathLike, predictions_dir: str | os.PathLike, prefix: str) -> list[np.ndarray]:
    """The prediction arrays of every half of a game list, in the order of `load_ground_truth`.

    Raises:
        DataError: a missing or bad prediction file (the message names it).
    """
    return [read_prediction_file(prediction_file(predictions_dir, game, prefix, half))
            for game in dataset.read_game_list(list_path) for half in dataset.HALVES]


# ------------------------------------------------------------------------------------------------
# The loop implementation of the paper's metric (reference)


def _spotted_loop(predictions, method, threshold):
    """Per half and class: [(second, score)] with score > 0, in descending score (stable), as `mAP()`;
    and the number of candidates per class (before the score filter)."""
    spotted = []
    counts = [0] * len(EVENT_CLASSES)
    for p in predictions:
        per_class = []
        for c in range(len(EVENT_CLASSES)):
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
                  thresholds: Sequence[float] = DEFAULT_THRESHOLDS, deltas: Sequence[int] = DEFAULT_DELTAS) -> dict:
    """The paper's metric by plain loops (reference for the tests); same output as
    `evaluate(..., metric="paper")`, number for number."""
    methods, thresholds, deltas = _methods(methods), _thresholds(thresholds), _deltas(deltas)
    predictions = _check_predictions(predictions)
    ground_truth = _check_ground_truth(ground_truth, len(predictions))
    gt_seconds = [tuple(np.floor(s).astype(np.int64).tolist() for s in gt) for gt in ground_truth]
    ap = np.zeros((len(methods), len(thresholds), len(deltas), len(EVENT_CLASSES)))
    counts = np.zeros((len(methods), len(thresholds), len(EVENT_CLASSES)), np.int64)
    for mi, method in enumerate(methods):
        for ti, threshold in enumerate(thresholds):
            spotted, counts[mi, ti] = _spotted_loop(predictions, method, threshold)
            for di, delta in enumerate(deltas):
                for c in range(len(EVENT_CLASSES)):
                    ap[mi, ti, di, c] = _ap_loop(spotted, gt_seconds, c, delta)
    events = {name: int(sum(len(gt[c]) for gt in gt_seconds)) for c, name in enumerate(EVENT_CLASSES)}
    return _report(methods, thresholds, deltas, ("paper",), len(predictions), events, None, counts,
                   {"paper": ap})


# ------------------------------------------------------------------------------------------------
# The vectorised implementation (TensorFlow)
#
# Spots are kept as flat tensors in the base order (method, threshold, class, half, second): cfg = method * T
# + threshold, col = class * H + half. Values below every threshold are dropped first (they can neither
# be spots nor split or end a segment differently than the column ends do). The hot, purely tensor parts are
# tf.functions with fixed signatures (traced once per process and precision); the glue stays eager.


def _work_dtype(dtype) -> np.dtype:
    """float32 when the array's values and thresholds (rounded to its precision) are exact in float32."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype in (np.dtype(np.float16), np.dtype(np.float32)) else np.dtype(np.float64)


class _Layout:
    """The class columns of a group of halves (one dtype) in one flat vector of the working precision.
    Local column i is global column `columns[i]` = class * halves + half; local columns are in global order."""

    def __init__(self, predictions: list[np.ndarray], halves: list[int], thresholds: tuple[float, ...]):
        H = len(predictions)
        dtype = predictions[halves[0]].dtype
        self.work = _work_dtype(dtype)
        sources = [(h, c) for c in range(len(EVENT_CLASSES)) for h in halves]
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


@functools.cache
def _tf():
    return runs.start_tensorflow()  # GPU memory on demand, so the evaluator can run beside a training


# The compiled pieces of the grid: each builder makes its tf.function once per process (and value dtype).


@functools.cache
def _segment_marks_fn(dtype_name: str):
    """(q, thresholds below each value, run starts, run ends, thresholds) -> threshold index, kept index of
    the first and of the last second of every segment above a threshold, in (threshold, second) order."""
    tf = _tf()
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
    tf = _tf()
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
        back = at - _HALF_WINDOW  # max(p[i-30:i]): two 16-wide windows
        before = tf.maximum(tf.gather(m16, back), tf.gather(m16, back + 14))
        ahead = at + 1  # max(p[i+1:i+30]), 29 values
        after = tf.maximum(tf.gather(m16, ahead), tf.gather(m16, ahead + 13))
        qc = tf.gather(q, index)
        peaks = tf.boolean_mask(index, (qc >= after) & (qc > before))
        peak_q = tf.cast(tf.gather(q, peaks), tf.float64)
        hit = tf.cast(tf.where(peak_q[None, :] > thresholds[:, None]), tf.int32)  # float64, as NumPy 1.x
        return hit[:, 0], tf.gather(peaks, hit[:, 1])

    return nms


@functools.cache
def _match_fn():
    """The greedy matching steps (see `_match`)."""
    tf = _tf()
    spec = tf.TensorSpec

    signature = [spec([None], tf.int64), spec([None], tf.int64), spec([None], tf.float64), spec([None], tf.int64),
                 spec([None], tf.int64), spec([None], tf.int64), spec([None], tf.float64), spec([None], tf.float64),
                 spec([], tf.bool), spec([], tf.int64)]

    @tf.function(autograph=False, input_signature=signature)
    def match(lo, hi, events, row_start, rank, group_half, base, half, closed, steps):
        def step(g, matched):
            sub = tf.reshape(tf.where((lo <= g) & (hi > g)), [-1])
            before = tf.gather(matched, sub)
            event = tf.gather(events, tf.gather(row_start, sub) + g)[:, None]
            spot = tf.gather(base, sub)[:, None]
            # paper: t - d/2 <= s < t + d/2; soccernet (closed): t - d <= f <= t + d
            inside = (event - half[None, :] <= spot) & ((spot < event + half[None, :])
                                                         | (closed & (spot <= event + half[None, :])))
            eligible = inside & ~before
            ranks = tf.where(eligible, tf.gather(rank, sub)[:, None], tf.constant(_BIG, tf.int64))
            _, ids = tf.unique(tf.gather(group_half, sub), out_idx=tf.int64)
            best = tf.math.segment_min(ranks, ids)
            taken = eligible & (ranks == tf.gather(best, ids))
            return g + 1, tf.tensor_scatter_nd_update(matched, sub[:, None], before | taken)

        matched = tf.zeros([tf.shape(lo)[0], tf.shape(half)[0]], tf.bool)
        return tf.while_loop(lambda g, _: g < steps, step, (tf.constant(0, tf.int64), matched))[1]

    return match


@functools.cache
def _paper_table_fn():
    """Highest precision of the true positives per (group, delta, recall level slot), see `_paper_ap`."""
    tf = _tf()
    spec = tf.TensorSpec
    slots = len(RECALL_LEVELS) + 1

    signature = [spec([None], tf.int64), spec([None, None], tf.bool), spec([None], tf.int64), spec([None], tf.int64),
                 spec([None], tf.int64), spec([None], tf.int64), spec([], tf.int64)]

    @tf.function(autograph=False, input_signature=signature)
    def paper_table(relevant, tp, group, rank, group_start, positives, groups):
        D = tf.shape(tp, out_type=tf.int64)[1]
        # The relevant spots in pooled order (group, descending score); their rank counts all spots.
        position = tf.gather(rank, relevant)
        order = tf.argsort(position, stable=True)
        tp_b = tf.gather(tp, order)
        position = tf.gather(position, order)
        groups_b = tf.gather(group, tf.gather(relevant, order))
        cumulative = tf.cumsum(tf.cast(tp_b, tf.int64), axis=0)
        first = tf.searchsorted(groups_b, groups_b, side="left", out_type=tf.int64)
        before = tf.where((first > 0)[:, None], tf.gather(cumulative, tf.maximum(first - 1, 0)),
                          tf.zeros([1, 1], tf.int64))
        c = cumulative - before  # (spots, deltas): true positives so far in the group
        k = (position - tf.gather(group_start, groups_b) + 1)[:, None]  # detections so far
        p_class = tf.gather(positives, groups_b % len(EVENT_CLASSES))[:, None]
        precision = tf.cast(c, tf.float64) / tf.cast(k, tf.float64)
        # Recall c/P >= r for the levels r = q/10 exactly when 10 c >= q P (no rounding question).
        level = tf.where(p_class > 0, tf.minimum(10 * c // tf.maximum(p_class, 1), 10) + 1, tf.ones_like(c))
        segment = (groups_b[:, None] * D + tf.range(D)[None, :]) * slots + level
        segment = tf.where(tp_b, segment, groups * D * slots)  # false positives: a discarded slot
        return tf.math.unsorted_segment_max(tf.reshape(precision, [-1]), tf.reshape(segment, [-1]),
                                            groups * D * slots + 1)

    return paper_table


@functools.cache
def _soccernet_counts_fn():
    """Detections and true positives per (group, delta, confidence bin), see `_soccernet_ap`."""
    tf = _tf()
    spec = tf.TensorSpec
    bins = len(SOCCERNET_CONFIDENCES) + 1

    signature = [spec([None], tf.bool), spec([None], tf.int64), spec([None, None], tf.bool), spec([None], tf.float64),
                 spec([None], tf.int64), spec([None], tf.float64), spec([], tf.int64)]

    @tf.function(autograph=False, input_signature=signature)
    def soccernet_counts(chosen, relevant, tp, score, group, confidences, groups):
        D = tf.shape(tp, out_type=tf.int64)[1]
        b = tf.searchsorted(confidences, score, side="right", out_type=tf.int64)  # thresholds <= score
        segment = tf.where(chosen, group * bins + b, groups * bins)
        count = tf.math.unsorted_segment_sum(tf.ones_like(b), segment, groups * bins + 1)
        hits = tf.where(tp)
        entry = tf.gather(relevant, hits[:, 0])
        segment = (tf.gather(group, entry) * D + hits[:, 1]) * bins + tf.gather(b, entry)
        true_count = tf.math.unsorted_segment_sum(tf.ones_like(segment), segment, groups * D * bins)
        return count, true_count

    return soccernet_counts


def _empty_spots(tf):
    return (tf.zeros([0], tf.int64), tf.zeros([0], tf.int64), tf.zeros([0], tf.int64), tf.zeros([0], tf.float64))


def _extract_spots(tf, predictions, methods, thresholds):
    """Candidate spots of every (method, threshold, class column), in the base order (method, threshold,
    class, half, second). Returns tensors cfg (method * T + threshold), col (class * H + half), sec, score."""
    groups: dict[np.dtype, list[int]] = {}
    for h, p in enumerate(predictions):
        groups.setdefault(p.dtype, []).append(h)
    parts = [_extract_group(tf, predictions, halves, methods, thresholds) for halves in groups.values()]
    parts = [p for p in parts if int(p[0].shape[0])]
    if not parts:
        return _empty_spots(tf)
    cfg, col, sec, score = (tf.concat([p[i] for p in parts], 0) for i in range(4))
    if len(parts) > 1 or any(p[4] for p in parts):  # merge groups / reference columns into the base order
        columns = len(EVENT_CLASSES) * len(predictions)
        order = tf.argsort((cfg * columns + col) * _SECOND_SPAN + sec, stable=True)
        cfg, col, sec, score = (tf.gather(x, order) for x in (cfg, col, sec, score))
    return cfg, col, sec, score


def _extract_group(tf, predictions, halves, methods, thresholds):
    """`_extract_spots` for halves of one dtype; the fifth item tells whether reference spots were added."""
    T = len(thresholds)
    layout = _Layout(predictions, halves, thresholds)
    values = tf.constant(layout.values)
    kept = tf.cast(tf.reshape(tf.where(values >= layout.keep), [-1]), tf.int32)  # flat positions, sorted
    if int(kept.shape[0]) == 0:
        return _empty_spots(tf) + (False,)
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
                segments = _segments(tf, layout, q, where_k, new_run, run_end, "argmax" in methods)
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
                table = np.zeros((T, len(EVENT_CLASSES) * len(predictions)), bool)
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
                if n > 2 * _HALF_WINDOW + 1:
                    inside[off + _HALF_WINDOW + 1:off + n - _HALF_WINDOW] = True
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


def _segments(tf, layout, q, where_k, new_run, run_end, with_maximum: bool):
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
    top = _first_maximum(tf, q, first, last) if with_maximum else None
    return th, first, last, top, sorted(bad)


def _first_maximum(tf, q, first, last):
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
    keys = values + np.repeat(np.arange(len(rows), dtype=np.float64), counts) * float(_SECOND_SPAN)
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


def _match(tf, windows: _Windows, rows, relevant, rank, group_half, col, base):
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
        return tf.zeros([int(relevant.shape[0]), len(windows.half)], tf.bool)
    r_col = tf.gather(col, relevant)
    row_start = tf.gather(tf.constant(starts), r_col)
    key0 = tf.cast(r_col, tf.float64) * float(_SECOND_SPAN) + base
    keys_t = tf.constant(keys)
    lo = tf.searchsorted(keys_t, key0 - windows.widest, side=windows.sides[0], out_type=tf.int64) - row_start
    hi = tf.searchsorted(keys_t, key0 + windows.widest, side=windows.sides[1], out_type=tf.int64) - row_start
    return _match_fn()(lo, hi, tf.constant(values), row_start, tf.gather(rank, relevant),
                              tf.gather(group_half, relevant), base, tf.constant(windows.half),
                              tf.constant(windows.closed), tf.constant(steps, tf.int64))


def evaluate(predictions: Sequence[np.ndarray], ground_truth, *, methods: Sequence[str] = CANDIDATE_METHODS,
             thresholds: Sequence[float] = DEFAULT_THRESHOLDS, deltas: Sequence[int] = DEFAULT_DELTAS,
             metric: str = "both", spot_rate: int = 1) -> dict:
    """Candidate spots and their scores over the whole grid, vectorised in TensorFlow.

    Args:
        predictions: per half, a (seconds, 4) array (background, card, subs, goal), as
            ClassificationSecondBased.py writes them (or arrays of spots for method "spots").
        ground_truth: per half (same order), three arrays of event seconds (card, subs, goal), as
            `load_ground_truth` returns them.
        methods: candidate methods, from "argmax", "center", "nms" (and "spots").
        thresholds: candidate thresholds in [0, 1].
        deltas: tolerances in whole seconds.
        metric: "paper", "soccernet" or "both".
        spot_rate: positions per second of the arrays: 1, or 2 (the official metric's frames, for arrays of
            spots read at that rate by `read_results_spotting`; metric "soccernet" only).

    Equal scores keep the original's stable order: within a half the earlier second first, pooled over
    halves the earlier half in list order first. Numbers are identical to `evaluate_loop` (paper) and to
    the soccernet package's `evaluate(version=1)` on the same spots (soccernet).

    Returns:
        A JSON-able dict: the grid (`methods`, `thresholds`, `deltas`, `classes`), `halves`, `events`
        (ground-truth counts per class), `spots` (candidate counts [method][threshold][class]), and per
        metric (`paper`, `soccernet`): `AP` [method][threshold][delta][class], `mAP`
        [method][threshold][delta], `average_mAP` [method][threshold], `average_AP`
        [method][threshold][class], and `best` per method (the threshold of highest Average-mAP, the
        first one on ties, with its numbers).

    Raises:
        ValueError: bad arguments or arrays.
    """
    methods, thresholds, deltas = _methods(methods), _thresholds(thresholds), _deltas(deltas)
    metrics = _metrics(metric)
    if spot_rate not in (1, SOCCERNET_FRAMERATE) or (spot_rate != 1 and metrics != ("soccernet",)):
        raise ValueError(f"spot_rate {spot_rate}: 1, or {SOCCERNET_FRAMERATE} with the soccernet metric only "
                         "(the paper's metric is per second)")
    per_frame = SOCCERNET_FRAMERATE // spot_rate  # frames per array position
    predictions = _check_predictions(predictions)
    ground_truth = _check_ground_truth(ground_truth, len(predictions))
    tf = _tf()
    H, T, D, C = len(predictions), len(thresholds), len(deltas), len(EVENT_CLASSES)
    G = len(methods) * T * C
    cfg, col, sec, score = _extract_spots(tf, predictions, methods, thresholds)
    n = int(score.shape[0])
    group = cfg * C + col // H  # (method, threshold, class): the pooled AP groups
    group_half = cfg * (C * H) + col  # (method, threshold, class, half): the matching groups
    counts = tf.math.unsorted_segment_sum(tf.ones([n], tf.int64), group, G).numpy().reshape(len(methods), T, C)
    # Pooled order: by group, then descending score, ties in the base order (half, then second). Within a
    # (group, half) this is also the matching order, so the position in it serves as the rank.
    order_b = _pooled_order(tf, group, score, all(_work_dtype(p.dtype) == np.float32 for p in predictions))
    rank = tf.math.invert_permutation(order_b)
    group_start = np.concatenate([[0], np.cumsum(counts.reshape(-1))[:-1]]).astype(np.int64)
    lengths = np.array([len(p) for p in predictions], np.int64)
    col_off = np.concatenate([[0], np.cumsum(np.tile(lengths, C))]).astype(np.int64)
    flat = tf.gather(tf.constant(col_off), col) + sec  # (column, second) in the flat layout
    widest = max(deltas)
    results = {}
    paper_gt = [np.floor(gt[c]).astype(np.int64) for c in range(C) for gt in ground_truth]  # rows = columns
    events = {name: int(sum(len(s) for s in paper_gt[c * H:(c + 1) * H])) for c, name in enumerate(EVENT_CLASSES)}
    if "paper" in metrics:
        every = np.concatenate(paper_gt) if paper_gt else np.zeros(0, np.int64)
        near = _near_mask(paper_gt, every - widest // 2, every + (widest + 1) // 2, col_off)  # t-d/2 <= s < t+d/2
        relevant = tf.reshape(tf.where((score > 0) & tf.gather(tf.constant(near), flat)), [-1])
        tp = _match(tf, _Windows("paper", deltas), paper_gt, relevant, rank, group_half, col,
                    tf.cast(tf.gather(sec, relevant), tf.float64))
        results["paper"] = _paper_ap(tf, relevant, tp, group, rank, group_start,
                                     np.array([events[name] for name in EVENT_CLASSES], np.int64), G, D).reshape(
            len(methods), T, C, D).transpose(0, 1, 3, 2)
    events_soccernet = None
    if "soccernet" in metrics:
        frames_gt = [np.unique(np.minimum(np.floor(SOCCERNET_FRAMERATE * gt[c]).astype(np.int64),
                                          SOCCERNET_LAST_FRAME)) for c in range(C) for gt in ground_truth]
        events_soccernet = {name: int(sum(len(f) for f in frames_gt[c * H:(c + 1) * H]))
                            for c, name in enumerate(EVENT_CLASSES)}
        every = np.concatenate(frames_gt) if frames_gt else np.zeros(0, np.int64)
        near = _near_mask(frames_gt, -((widest - every) // per_frame), (every + widest) // per_frame + 1,
                          col_off)  # |per_frame * s - f| <= d
        frame = tf.minimum(sec * per_frame, SOCCERNET_LAST_FRAME)
        # Frames clipped to the last one overwrite each other (the later spot wins, as in the JSON order).
        clipped = sec * per_frame >= SOCCERNET_LAST_FRAME
        later_clipped = tf.concat([clipped[1:] & (group_half[1:] == group_half[:-1]), [False]], 0)
        chosen = (score >= 0) & ~(clipped & later_clipped)
        relevant = tf.reshape(tf.where(chosen & (tf.gather(tf.constant(near), flat) | clipped)), [-1])
        tp = _match(tf, _Windows("soccernet", deltas), frames_gt, relevant, rank, group_half, col,
                    tf.cast(tf.gather(frame, relevant), tf.float64))
        results["soccernet"] = _soccernet_ap(tf, chosen, relevant, tp, score, group,
                                             np.array([events_soccernet[name] for name in EVENT_CLASSES]), G, D).reshape(
            len(methods), T, C, D).transpose(0, 1, 3, 2)
    return _report(methods, thresholds, deltas, metrics, H, events, events_soccernet, counts, results)


def _pooled_order(tf, group, score, float32_scores: bool):
    """Permutation sorting the spots by (group, descending score), stable. One sort of a packed int64 key
    when the scores are float32 values; else a stable sort by score, then by (group, score rank)."""
    n = int(score.shape[0])
    if n == 0:
        return tf.zeros([0], tf.int64)
    if float32_scores:
        bits = tf.cast(tf.bitcast(tf.cast(score, tf.float32) + 0.0, tf.int32), tf.int64)
        order = tf.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)  # increasing with the score
        key = group * (1 << 33) + ((1 << 31) - 1 - order)
        return tf.cast(tf.argsort(key, stable=True), tf.int64)
    by_score = tf.cast(tf.argsort(score, direction="DESCENDING", stable=True), tf.int64)
    rank = tf.math.invert_permutation(by_score)
    return tf.cast(tf.argsort(group * n + rank, stable=True), tf.int64)


def _paper_ap(tf, relevant, tp, group, rank, group_start, positives, G, D):
    """11-point AP per (group, delta) from the true positives: AP at recall level r is the highest
    precision among detections with recall >= r (only true positives can hold it: a false positive has
    the recall and a lower precision than the true positive before it), 0 if none."""
    slots = len(RECALL_LEVELS) + 1
    table = np.full((G, D, slots), -np.inf)
    if int(relevant.shape[0]):
        best = _paper_table_fn()(relevant, tp, group, rank, tf.constant(group_start), tf.constant(positives),
                                        tf.constant(G, tf.int64)).numpy()
        table = best[:-1].reshape(G, D, slots)
    reach = np.maximum.accumulate(table[:, :, ::-1], axis=2)[:, :, ::-1]  # best over levels >= index
    values = np.maximum(reach[:, :, 1:], 0.0)  # level q + 1 and above, for recall level q
    ap = np.zeros((G, D))
    for q in range(len(RECALL_LEVELS)):  # summed in order, as the original's sum(AP_r)
        ap = ap + values[:, :, q]
    return ap / len(RECALL_LEVELS)


def _soccernet_ap(tf, chosen, relevant, tp, score, group, positives, G, D):
    """The package's AP: precision and recall at 200 confidence thresholds (detections with score >=
    threshold), then for j = 0, 0.1, ..., 1 the highest precision at recall >= j, summed and / 11."""
    bins = len(SOCCERNET_CONFIDENCES) + 1
    count, true_count = _soccernet_counts_fn()(chosen, relevant, tp, score, group,
                                                      tf.constant(SOCCERNET_CONFIDENCES), tf.constant(G, tf.int64))
    count = count.numpy()[:-1].reshape(G, bins)
    true_count = true_count.numpy().reshape(G, D, bins)
    # Detections at threshold index i: those with more than i thresholds <= score.
    detections = np.cumsum(count[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.float64)  # (G, 200)
    true_pos = np.cumsum(true_count[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:].astype(np.float64)
    n_gt = positives[np.arange(G) % len(EVENT_CLASSES)].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(true_pos / detections[:, None, :])
        recall = np.nan_to_num(true_pos / n_gt[:, None, None])
    ap = np.zeros((G, D))
    for j in np.arange(11) / 10:
        ap = ap + np.where(recall >= j, precision, -np.inf).max(axis=2, initial=-np.inf).clip(min=0.0)
    return ap / 11


# ------------------------------------------------------------------------------------------------
# Summaries


def _average(values: np.ndarray, deltas: tuple[int, ...], metric: str) -> float:
    """Average-mAP of one curve over delta: the paper's plain mean (in the given order, as the original's
    `sum(...)/len(...)`), or the package's trapezoid area over ascending delta / (number of intervals)."""
    values = [float(v) for v in values]
    if metric == "paper":
        return sum(values) / len(values)
    curve = [values[i] for i in np.argsort(np.asarray(deltas), kind="stable")]
    if len(curve) == 1:
        return curve[0]
    integral = 0.0
    for i in range(len(curve) - 1):
        integral += (curve[i] + curve[i + 1]) / 2
    return integral / (len(curve) - 1)


def _metric_summary(ap: np.ndarray, methods, thresholds, deltas, metric: str) -> dict:
    """ap: (methods, thresholds, deltas, classes) -> the JSON block of one metric."""
    mean_ap = ap.mean(axis=-1)
    M, T, D, C = ap.shape
    average = np.array([[_average(mean_ap[m, t], deltas, metric) for t in range(T)] for m in range(M)])
    average_ap = np.array([[[_average(ap[m, t, :, c], deltas, metric) for c in range(C)] for t in range(T)]
                           for m in range(M)])
    block = {
        "average": ("mean of mAP over delta" if metric == "paper"
                    else "area under the mAP-delta curve (trapezoids over ascending delta) / number of intervals"),
        "AP": {m: ap[i].tolist() for i, m in enumerate(methods)},
        "mAP": {m: mean_ap[i].tolist() for i, m in enumerate(methods)},
        "average_mAP": {m: average[i].tolist() for i, m in enumerate(methods)},
        "average_AP": {m: average_ap[i].tolist() for i, m in enumerate(methods)},
        "best": {},
    }
    for i, m in enumerate(methods):
        t = int(np.argmax(average[i]))  # the first (highest in the default order) on ties
        block["best"][m] = {
            "threshold": thresholds[t], "threshold_index": t, "average_mAP": float(average[i, t]),
            "average_AP": {name: float(average_ap[i, t, c]) for c, name in enumerate(EVENT_CLASSES)},
            "mAP": mean_ap[i, t].tolist(),
            "AP": {name: ap[i, t, :, c].tolist() for c, name in enumerate(EVENT_CLASSES)},
        }
    return block


def _report(methods, thresholds, deltas, metrics, halves, events, events_soccernet, counts, aps) -> dict:
    report = {
        "methods": list(methods), "thresholds": list(thresholds), "deltas": list(deltas),
        "classes": list(EVENT_CLASSES), "metrics": list(metrics), "headline": metrics[0], "halves": halves,
        "events": events,
        "spots": {m: np.asarray(counts[i]).tolist() for i, m in enumerate(methods)},
    }
    if events_soccernet is not None:
        report["events_soccernet"] = events_soccernet
    for metric in metrics:
        report[metric] = _metric_summary(np.asarray(aps[metric], np.float64), methods, thresholds, deltas, metric)
    return report


# ------------------------------------------------------------------------------------------------
# SoccerNet results_spotting.json


def results_spotting_json(probabilities_by_half: dict[int, np.ndarray], method: str, threshold: float,
                          game: str) -> dict:
    """A SoccerNet `results_spotting.json` object of one game's candidate spots.

    Args:
        probabilities_by_half: {half: (seconds, 4) array}.
        method, threshold: the candidate method and threshold (`candidates`).
        game: the game path (`UrlLocal`).

    Returns:
        {"UrlLocal": game, "predictions": [{"gameTime": "H - MM:SS", "label": "card"|"subs"|"soccer",
        "position": milliseconds, "half": "H", "confidence": score}, ...]} with every candidate (half by
        half, class by class, in time order), all values strings as the official tools write them. The
        confidence is the exact float (repr), so the package reads back the very score.
    """
    _methods([method])
    predictions = []
    for half in sorted(probabilities_by_half):
        p = np.asarray(probabilities_by_half[half])
        for c, label in enumerate(SOCCERNET_LABELS):
            seconds, scores = candidates(p[:, c + 1], threshold, method)
            for second, value in zip(seconds.tolist(), scores.tolist()):
                predictions.append({"gameTime": dataset.seconds_to_game_time(half, second), "label": label,
                                    "position": str(second * 1000), "half": str(half),
                                    "confidence": repr(float(value))})
    return {"UrlLocal": game, "predictions": predictions}


def write_results_spotting(path: str | os.PathLike, content: dict) -> None:
    """Write a results_spotting.json object atomically (temporary file, then rename)."""
    dataset.write_json_atomic(path, content)


_LABEL_CLASS = {label: c + 1 for c, label in enumerate(SOCCERNET_LABELS)}


def _label_class(label: str) -> int:
    if label in _LABEL_CLASS:
        return _LABEL_CLASS[label]
    if label in dataset.V2_TO_CLASS:
        return dataset.V2_TO_CLASS[label]
    return dataset.v1_class(label)


def read_results_spotting(path: str | os.PathLike, rate: int = 1) -> dict[int, np.ndarray]:
    """Per-position score arrays of a results_spotting.json file, to score it with this pipeline.

    Args:
        rate: positions per second of the arrays. 1 (the paper's metric, per second): a spot's position
            is floored to its second, and two spots of a class in the same second keep the higher
            confidence (a warning counts them). `SOCCERNET_FRAMERATE` (2, the official metric's frames):
            the official reader's rule, frame = int(2 * position / 1000) clipped to the last frame of its
            2-hour vectors, a later spot of a class in the same frame replacing the earlier one.

    Returns:
        {1: array, 2: array}, each (positions, 4) float64 with the confidence of the spot at that
        position in columns 1..3 (card, subs, goal) and -1 where there is none (evaluate them with method
        "spots"). A half's array ends at its last spot. Labels: card/subs/soccer, v1 names (by the
        original's substring rule) or v2 names; others are skipped.

    Raises:
        DataError: a missing or malformed file.
    """
    if rate not in (1, SOCCERNET_FRAMERATE):
        raise ValueError(f"rate must be 1 or {SOCCERNET_FRAMERATE} positions per second, not {rate}")
    path = Path(path)
    items = dataset.read_json_list(path, "predictions", "results_spotting file")
    spots: dict[int, list[tuple[int, int, float]]] = {h: [] for h in dataset.HALVES}
    skipped = 0
    for number, item in enumerate(items, 1):
        try:
            label = str(item["label"])
            confidence = float(item["confidence"])
            if "position" in item:
                milliseconds = int(float(item["position"]))
                index = int(rate * (milliseconds / 1000))
                half = int(item["half"]) if "half" in item else dataset.parse_game_time(item["gameTime"], path)[0]
            else:
                half, minute, sec = dataset.parse_game_time(item["gameTime"], path)
                milliseconds, index = 1000 * (60 * minute + sec), rate * (60 * minute + sec)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise DataError(path, f"prediction {number} is malformed ({exc!r})") from None
        if half not in dataset.HALVES or milliseconds < 0 or not math.isfinite(confidence):
            raise DataError(path, f"prediction {number}: bad half, position or confidence")
        cls = _label_class(label)
        if cls == 0:
            skipped += 1
            continue
        if rate == SOCCERNET_FRAMERATE:
            index = min(index, SOCCERNET_LAST_FRAME)
        spots[half].append((index, cls, confidence))
    if skipped:
        log.warning("%s: %d predictions with labels outside card/subs/goal skipped", path, skipped)
    out, merged = {}, 0
    for half, items_half in spots.items():
        length = max((s for s, _, _ in items_half), default=-1) + 1
        array = np.full((length, len(dataset.CLASSES)), -1.0)
        for index, cls, confidence in items_half:
            if rate == 1:
                merged += array[index, cls] >= 0
                array[index, cls] = max(array[index, cls], confidence)
            else:
                array[index, cls] = confidence
        out[half] = array
    if merged:
        log.warning("%s: %d spots share their second with another spot of their class: the paper's metric (per "
                    "second) keeps the higher confidence (the official metric scores them at 0.5 s)", path, merged)
    return out


def load_results_spotting(list_path: str | os.PathLike, folder: str | os.PathLike,
                          name: str = RESULTS_SPOTTING, rate: int = 1) -> list[np.ndarray]:
    """`read_results_spotting` of `<folder>/<game>/<name>` for every game of a list, per half in list order."""
    arrays = []
    for game in dataset.read_game_list(list_path):
        by_half = read_results_spotting(Path(folder) / game / name, rate)
        arrays += [by_half[h] for h in dataset.HALVES]
    return arrays


# ------------------------------------------------------------------------------------------------
# Output files


def grid_csv(results: dict[str, dict]) -> str:
    """The full grid, one row per (model, metric, method, threshold, delta)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "metric", "method", "threshold", "delta"] + [f"AP_{c}" for c in EVENT_CLASSES] + ["mAP"])
    for model, report in results.items():
        for metric in report["metrics"]:
            block = report[metric]
            for m in report["methods"]:
                for t, threshold in enumerate(report["thresholds"]):
                    for d, delta in enumerate(report["deltas"]):
                        writer.writerow([model, metric, m, threshold, delta] + block["AP"][m][t][d]
                                        + [block["mAP"][m][t][d]])
    return out.getvalue()


def summary_csv(results: dict[str, dict]) -> str:
    """Average-mAP per (model, metric, method, threshold), with the per-class averages."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "metric", "method", "threshold", "average_mAP"] + [f"average_AP_{c}" for c in EVENT_CLASSES]
                    + ["best"])
    for model, report in results.items():
        for metric in report["metrics"]:
            block = report[metric]
            for m in report["methods"]:
                for t, threshold in enumerate(report["thresholds"]):
                    writer.writerow([model, metric, m, threshold, block["average_mAP"][m][t]]
                                    + block["average_AP"][m][t] + [int(block["best"][m]["threshold_index"] == t)])
    return out.getvalue()


def _line_figure(path: Path, curves: list[tuple[np.ndarray, np.ndarray, str, str, str]], xlabel: str, ylabel: str,
                 title: str) -> Path:
    """One PNG of lines (x, y, line style, colour, label), legend on the right; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for x, y, style, colour, label in curves:
        ax.plot(x, y, style, color=colour, marker="o", ms=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    try:
        dataset.write_atomic(path, lambda temporary: fig.savefig(temporary, format="png", dpi=120,
                                                                 bbox_inches="tight"))
    finally:
        plt.close(fig)
    return path


def games_to_plot(choice: Sequence[str], games: list[str], list_path, flag: str = "--plot_games") -> set[str]:
    """`--plot_games`, `--plot_spots`: one number N (the first N games) or names of games of the list."""
    if len(choice) == 1 and choice[0].isdigit():
        return set(games[:int(choice[0])])
    unknown = [g for g in choice if g not in games]
    if unknown:
        raise dataset.DataError(list_path, f"{flag}: '{unknown[0]}' is not a game of this list")
    return set(choice)


CLASS_COLOURS = {1: "tab:orange", 2: "tab:green", 3: "tab:red"}  # card, subs, goal in every plot


def spots_plot_file(output: str | os.PathLike, prefix: str, game: str) -> Path:
    """`<output>/spots_<prefix>/<game>.png`: the spots of one game (`plot_spots`)."""
    return Path(output) / f"spots_{prefix}" / f"{game}.png"


def plot_spots(path: Path, game: str, spots: dict[int, np.ndarray], probabilities: dict[int, np.ndarray] | None,
               events: Sequence[dataset.Event], title: str) -> Path:
    """One game's spots for error analysis: per half, each class's spots (stems at their confidence),
    its per-second probabilities when given (thin lines), and the annotated events (dashed); written
    atomically.

    Args:
        spots: {half: (positions, 4) array of `read_results_spotting` at rate 1, -1 where no spot}.
        probabilities: {half: (seconds, 4)} per-second outputs, or None.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 1, figsize=(12, 5.5), sharey=True)
    for axis, half in zip(axes, dataset.HALVES):
        for c, colour in CLASS_COLOURS.items():
            name = dataset.CLASSES[c]
            if probabilities is not None and half in probabilities:
                p = probabilities[half][:, c]
                axis.plot(np.arange(len(p)) / 60.0, p, color=colour, lw=0.6, alpha=0.6)
            array = spots.get(half, np.zeros((0, 4)))
            where = np.flatnonzero(array[:, c] >= 0) if len(array) else np.zeros(0, np.int64)
            if len(where):
                axis.vlines(where / 60.0, 0, array[where, c], color=colour, lw=1.4)
                axis.plot(where / 60.0, array[where, c], "o", color=colour, ms=4, label=f"{name} spots ({len(where)})")
            for event in events:
                if event.half == half and event.label == c:
                    axis.axvline(event.seconds / 60.0, color=colour, ls="--", lw=1.0, alpha=0.9)
        axis.set_ylim(0, 1.05)
        axis.set_ylabel(f"half {half}: confidence")
        axis.grid(alpha=0.3)
        axis.legend(loc="upper right", ncol=3, fontsize=7)
    axes[-1].set_xlabel("minutes from the start of the half (stems: spots; lines: probabilities; dashed: annotated "
                        "events)")
    figure.suptitle(f"{title}\n{game}", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        dataset.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    finally:
        plt.close(figure)
    return path


def plot_results(results: dict[str, dict], output: Path, metric: str) -> list[Path]:
    """The paper's Figure 2 (mAP against delta, each method at its best threshold, all models) and the
    Average-mAP against the threshold, for one metric. Returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"argmax": "-", "center": "--", "nms": ":", SPOTS: "-."}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    by_delta, by_threshold = [], []
    for i, (model, report) in enumerate(results.items()):
        colour = colours[i % len(colours)]
        deltas, thresholds = np.asarray(report["deltas"]), np.asarray(report["thresholds"])
        d_order, t_order = np.argsort(deltas), np.argsort(thresholds)
        for m in report["methods"]:
            best = report[metric]["best"][m]
            by_delta.append((deltas[d_order], 100 * np.asarray(best["mAP"])[d_order], styles.get(m, "-"), colour,
                             f"{model} {m} (t={best['threshold']:.2f}, Avg {100 * best['average_mAP']:.1f}%)"))
            by_threshold.append((thresholds[t_order], 100 * np.asarray(report[metric]["average_mAP"][m])[t_order],
                                 styles.get(m, "-"), colour, f"{model} {m}"))
    return [_line_figure(output / f"mAP_vs_delta_{metric}.png", by_delta, "tolerance delta (s)", "mAP (%)",
                         f"mAP against delta ({metric} metric, each method at its best threshold)"),
            _line_figure(output / f"average_mAP_vs_threshold_{metric}.png", by_threshold, "threshold",
                         "Average-mAP (%)", f"Average-mAP against the candidate threshold ({metric} metric)")]


def format_report(model: str, report: dict) -> str:
    """Text tables of one model: per metric, Average-mAP per method at its best threshold and at 0.5, the
    per-class APs (averaged over delta) at the best threshold, and the mAP for each delta."""
    lines = [f"== {model}: {report['halves']} halves; events "
             + ", ".join(f"{c} {n}" for c, n in report["events"].items()) + " =="]
    thresholds = report["thresholds"]
    at_half = thresholds.index(0.5) if 0.5 in thresholds else None
    deltas = report["deltas"]
    for metric in report["metrics"]:
        block = report[metric]
        headline = " (headline)" if metric == report["headline"] else ""
        lines.append(f"{metric} metric{headline}; Average-mAP = {block['average']}")
        lines.append(f"  {'method':<8}{'best t':>8}{'Avg-mAP':>9}{'@0.50':>8}"
                     + "".join(f"{'AP ' + c:>9}" for c in EVENT_CLASSES) + "   (%, APs averaged over delta at the best t)")
        for m in report["methods"]:
            best = block["best"][m]
            half_value = f"{100 * block['average_mAP'][m][at_half]:8.1f}" if at_half is not None else f"{'-':>8}"
            lines.append(f"  {m:<8}{best['threshold']:8.2f}{100 * best['average_mAP']:9.1f}{half_value}"
                         + "".join(f"{100 * best['average_AP'][c]:9.1f}" for c in EVENT_CLASSES))
        lines.append(f"  mAP (%) per delta at the best t: {'delta':<6}" + "".join(f"{d:>6}" for d in deltas))
        for m in report["methods"]:
            lines.append(f"  {'':<33}{m:<6}" + "".join(f"{100 * v:6.1f}" for v in block["best"][m]["mAP"]))
        if "tight" in report:
            tight = report["tight"][metric]["best"]
            lines.append(f"  tight Average-mAP (deltas {report['tight']['deltas'][0]}-{report['tight']['deltas'][-1]} s), "
                         "each method at its best t: " + ", ".join(
                             f"{m} {100 * tight[m]['average_mAP']:.1f} (t {tight[m]['threshold']:.2f})"
                             for m in report["methods"]))
    return "\n".join(lines)


def format_comparison(results: dict[str, dict], chance: dict | None = None) -> str:
    """One table of all models: Average-mAP (%) per method at its best threshold, per metric; the chance
    baseline (one value: its spots are the same for every method) as the last row."""
    first = next(iter(results.values()))
    lines = ["== comparison: Average-mAP (%) at each method's best threshold =="]
    for metric in first["metrics"]:
        lines.append(f"{metric} metric")
        lines.append(f"  {'model':<40}" + "".join(f"{m:>10}" for m in first["methods"]))
        for model, report in results.items():
            lines.append(f"  {model:<40}" + "".join(f"{100 * report[metric]['best'][m]['average_mAP']:10.1f}"
                                                   for m in report["methods"]))
        if chance is not None:
            value = 100 * chance[metric]["best"][SPOTS]["average_mAP"]
            lines.append(f"  {'chance (uniform, training frequencies)':<40}" + f"{value:10.1f}" * len(first["methods"]))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Command line


def _one_delta(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"delta {text} is not a whole number of seconds") from None
    return _deltas([value])[0]


threshold_argument = runs.argument_type(lambda text: _thresholds([text])[0], "threshold")
def _delta_token(text: str):
    return text if text in DELTA_SETS or text == "both" else _one_delta(text)


_delta_arg = runs.argument_type(_delta_token, "delta")


def delta_sets(tokens: Sequence) -> dict[str, tuple[int, ...]]:
    """`--deltas`: whole seconds, or "loose" (60, 55, ..., 5), "tight" (1..5), "both" (the loose set, and
    the tight Average-mAP beside it). Returns {name: deltas}, the first the one of the main tables."""
    named = [t for t in tokens if isinstance(t, str)]
    if named and len(tokens) > 1:
        raise ValueError("--deltas takes whole seconds, or one of loose, tight, both")
    if not named:
        return {"given": tuple(tokens)}
    if named[0] == "both":
        return {"loose": DEFAULT_DELTAS, "tight": TIGHT_DELTAS}
    return {named[0]: DELTA_SETS[named[0]]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=runs.HelpFormatter,
        epilog="Prediction files: <predictions>/<game>/<prefix>_Half_<h>.npy, (seconds, 4) probabilities. "
               "With --results_spotting NAME: <predictions>/<prefix>/<game>/NAME (or "
               "<predictions>/results_spotting_<prefix>/<game>/NAME, ClassificationSecondBased.py's layout), "
               "scored as given (method 'spots', threshold 0 unless --thresholds).")
    parser.add_argument("--testing", default=str(TOP / "listgame_Test_100.npy"), help="game list of the evaluated halves")
    parser.add_argument("--SoccerNet_path", default=None,
                        help="data root holding <game>/Labels.json (default: the folder of the list file)")
    parser.add_argument("--label_file", default=dataset.V1_LABEL_FILE, help="label file name in each game folder")
    parser.add_argument("--predictions", default="predictions", help="folder of the per-game prediction folders")
    parser.add_argument("--prefix", nargs="+", default=["VLAD-Archi5-20sec-Spotting"],
                        help="one or more prediction prefixes (models) to evaluate and compare: the --output "
                             "of ClassificationSecondBased.py (the original's PREDICTIONS_FILENAMES)")
    parser.add_argument("--methods", nargs="+", choices=CANDIDATE_METHODS, default=list(CANDIDATE_METHODS),
                        help="candidate methods: segment maximum, segment centre, NMS (60 s window)")
    parser.add_argument("--thresholds", nargs="+", type=threshold_argument, default=None,
                        help="candidate thresholds in [0, 1] (default 0.95, 0.90, ..., 0.05; 0 with "
                             "--results_spotting)")
    parser.add_argument("--deltas", nargs="+", type=_delta_arg, default=["loose"],
                        help="tolerances delta in whole seconds, or loose (60, 55, ..., 5: the paper's), tight "
                             "(1..5: SoccerNet v2's tight Average-mAP) or both (loose, with tight beside it)")
    parser.add_argument("--chance", default=None, metavar="TRAINING_LIST",
                        help="add a chance baseline: per half and class, spots at a uniform cadence, as many as "
                             "the class's mean count per half in this list's labels")
    parser.add_argument("--metric", choices=("paper", "soccernet", "both"), default="both",
                        help="the paper's metric, the official SoccerNet one, or both (the paper's is the headline)")
    parser.add_argument("--output", default="ResultSpottingPlotting2",
                        help="folder for results.json, grid.csv, summary.csv and the plots")
    parser.add_argument("--results_spotting", default=None, metavar="NAME",
                        help="score SoccerNet JSON files named NAME (e.g. results_spotting.json) instead of .npy "
                             "(default: the .npy prediction files)")
    parser.add_argument("--write_json", action="store_true",
                        help="write <output>/results_spotting_<prefix>/<game>/results_spotting.json with each "
                             "model's best method and threshold (headline metric), for the official evaluator")
    parser.add_argument("--no_plots", action="store_true", help="do not draw the PNG plots")
    parser.add_argument("--plot_spots", nargs="+", default=None, metavar="N_OR_GAME",
                        help="per-game plots of each model's results_spotting.json spots over its probabilities and "
                             "the annotations, <output>/spots_<prefix>/<game>.png: a number N (the first N games) "
                             "or game names of --testing (the JSON files scored, those of --write_json, else "
                             "ClassificationSecondBased.py's)")
    runs.add_process_arguments(parser, gpu=False)
    return parser


def _json_folder(predictions: Path, prefix: str, name: str, list_path: str) -> Path:
    direct = predictions / prefix
    if direct.is_dir():
        return direct
    fallback = results_spotting_dir(predictions, prefix)
    if fallback.is_dir():
        return fallback
    game = dataset.read_game_list(list_path)[0]
    raise DataError(direct / game / name, "results_spotting file not found")


def run(args: argparse.Namespace) -> dict[str, dict]:
    """Evaluate every model of the command line; write the output files; return {model: report}."""
    output = Path(args.output)
    metric_names = _metrics(args.metric)
    start = time.perf_counter()
    ground_truth = load_ground_truth(args.testing, args.SoccerNet_path, args.label_file)
    log.info("ground truth: %d halves from %s", len(ground_truth), args.testing)
    # All input is read or checked before anything is written.
    chance_truth = load_ground_truth(args.chance, args.SoccerNet_path, args.label_file) if args.chance else None
    spot_plots = _spot_plot_inputs(args, output) if args.plot_spots else []
    if args.results_spotting:
        methods, thresholds = (SPOTS,), tuple(args.thresholds or (0.0,))
    else:
        methods, thresholds = tuple(dict.fromkeys(args.methods)), tuple(args.thresholds or DEFAULT_THRESHOLDS)
    sets = delta_sets(args.deltas)
    deltas = next(iter(sets.values()))
    results, lengths, best_json = {}, None, []
    for prefix in args.prefix:
        began = time.perf_counter()
        if args.results_spotting:  # read once per model: the spots at each metric's resolution
            folder = _json_folder(Path(args.predictions), prefix, args.results_spotting, args.testing)
            predictions = None
            spots = {metric: load_results_spotting(args.testing, folder, args.results_spotting, _json_rate(metric))
                     for metric in metric_names}
        else:
            predictions = load_predictions(args.testing, args.predictions, prefix)
        for name, chosen in sets.items():
            if args.results_spotting:
                report = _evaluate_json(spots, ground_truth, thresholds, metric_names, chosen)
            else:
                report = evaluate(predictions, ground_truth, methods=methods, thresholds=thresholds, deltas=chosen,
                                  metric=args.metric)
            if prefix not in results:
                results[prefix] = report
                if lengths is None:  # of the halves in seconds, for the chance baseline
                    lengths = [len(p) for p in predictions] if predictions is not None else \
                        [len(p) for p in spots["paper"]] if "paper" in spots else \
                        [-(-len(p) // SOCCERNET_FRAMERATE) for p in spots["soccernet"]]
            else:  # the tight Average-mAP beside the loose one
                results[prefix][name] = {"deltas": list(chosen), **{m: report[m] for m in metric_names}}
        log.info("%s: %d configurations x %d deltas evaluated in %.2f s", prefix, len(methods) * len(thresholds),
                 sum(len(d) for d in sets.values()), time.perf_counter() - began)
        if args.write_json and not args.results_spotting:
            best_json.append((prefix, predictions))
    chance = None
    if chance_truth is not None:
        # A JSON file's halves end at their last spot: at least as long as their last event, then.
        lengths = [max(n, 1 + int(max((float(t) for c in gt for t in c), default=0)))
                   for n, gt in zip(lengths, ground_truth)]
        chance = evaluate(chance_spots(chance_truth, lengths), ground_truth, methods=(SPOTS,), thresholds=(0.0,),
                          deltas=deltas, metric=args.metric)
        chance["training_list"] = str(args.chance)
    for prefix, predictions in best_json:
        _write_best_json(args, prefix, predictions, results[prefix], output)
    output.mkdir(parents=True, exist_ok=True)
    settings = {"testing": str(args.testing), "SoccerNet_path": args.SoccerNet_path,
                "predictions": str(args.predictions), "results_spotting": args.results_spotting,
                "label_file": args.label_file}
    dataset.write_json_atomic(output / "results.json", {"settings": settings, "models": results,
                                                          **({"chance": chance} if chance else {})})
    dataset.write_text_atomic(output / "grid.csv", grid_csv(results))
    dataset.write_text_atomic(output / "summary.csv", summary_csv(results))
    if not args.no_plots:
        for metric in metric_names:
            plot_results(results, output, metric)
    plotted = _plot_spots(args, spot_plots)
    for prefix, report in results.items():
        print(format_report(prefix, report))
    if len(results) > 1 or chance:
        print(format_comparison(results, chance))
    print(f"written: {output / 'results.json'}, grid.csv, summary.csv"
          + ("" if args.no_plots else ", plots") + (f", {len(plotted)} spot plots" if plotted else "")
          + f" ({time.perf_counter() - start:.1f} s)")
    return results


def chance_spots(training_truth, lengths: Sequence[int]) -> list[np.ndarray]:
    """The chance baseline's spot arrays for halves of these lengths: per class, round(m) spots at a
    uniform cadence (at ((i + 1/2) n / round(m)) for i < round(m)), m the class's mean count of events per
    half in `training_truth` (`load_ground_truth` of a training list), all with confidence 1."""
    C = len(EVENT_CLASSES)
    means = [float(np.mean([len(gt[c]) for gt in training_truth])) if training_truth else 0.0 for c in range(C)]
    arrays = []
    for n in lengths:
        array = np.full((n, C + 1), -1.0)
        for c, mean in enumerate(means):
            count = int(round(mean))
            if n and count:
                array[((np.arange(count) + 0.5) * n / count).astype(np.int64), c + 1] = 1.0
        arrays.append(array)
    return arrays


def _spot_plot_inputs(args, output: Path) -> list[tuple]:
    """`--plot_spots`: per model and chosen game, (prefix, game, JSON file, its spots or None). Files this
    run writes (`--write_json`) are read when plotted; all others are read (so checked) here, first."""
    games = dataset.read_game_list(args.testing)
    chosen = [g for g in games if g in games_to_plot(args.plot_spots, games, args.testing, "--plot_spots")]
    later = bool(args.write_json and not args.results_spotting)
    inputs = []
    for prefix in args.prefix:
        if args.results_spotting:
            folder = _json_folder(Path(args.predictions), prefix, args.results_spotting, args.testing)
            name = args.results_spotting
        else:
            folder = results_spotting_dir(output if later else args.predictions, prefix)
            name = RESULTS_SPOTTING
        for game in chosen:
            path = folder / game / name
            inputs.append((prefix, game, path, None if later else read_results_spotting(path)))
    return inputs


def _plot_spots(args, inputs: list[tuple]) -> list[Path]:
    """Each model's spots of the chosen games over its probabilities and the annotations."""
    root = dataset.data_root_for(args.testing, args.SoccerNet_path)
    written = []
    for prefix, game, path, spots in inputs:
        spots = spots if spots is not None else read_results_spotting(path)
        files = [prediction_file(args.predictions, game, prefix, h) for h in dataset.HALVES]
        probabilities = ({h: read_prediction_file(f) for h, f in zip(dataset.HALVES, files)}
                         if all(f.is_file() for f in files) else None)
        labels = root / game / args.label_file
        events = dataset.read_labels(labels) if labels.is_file() else []
        written.append(plot_spots(spots_plot_file(args.output, prefix, game), game, spots, probabilities, events,
                                  f"{prefix}: the spots of its {path.name}"))
    return written


def _json_rate(metric: str) -> int:
    """Positions per second at which a metric scores results_spotting.json files."""
    return 1 if metric == "paper" else SOCCERNET_FRAMERATE


def _evaluate_json(spots: dict[str, list[np.ndarray]], ground_truth, thresholds, metric_names, deltas) -> dict:
    """Score results_spotting.json files: the paper's metric per second, the official one at its 0.5 s
    frames (as the package reads the files), each on the spots read at its own resolution
    (`spots[metric]`, `load_results_spotting` at `_json_rate(metric)`)."""
    reports = {}
    for metric in metric_names:
        reports[metric] = evaluate(spots[metric], ground_truth, methods=(SPOTS,), thresholds=thresholds,
                                   deltas=deltas, metric=metric, spot_rate=_json_rate(metric))
    report = dict(reports[metric_names[0]])
    report["metrics"] = list(metric_names)
    for metric in metric_names[1:]:
        report[metric] = reports[metric][metric]
    if "soccernet" in reports:
        report["events_soccernet"] = reports["soccernet"]["events_soccernet"]
        report["spot_resolution"] = {metric: f"{1 / _json_rate(metric):g} s" for metric in metric_names}
    return report


def _write_best_json(args, prefix: str, predictions: list[np.ndarray], report: dict, output: Path) -> None:
    block = report[report["headline"]]
    method = max(report["methods"], key=lambda m: block["best"][m]["average_mAP"])
    threshold = block["best"][method]["threshold"]
    folder = results_spotting_dir(output, prefix)
    for i, game in enumerate(dataset.read_game_list(args.testing)):
        target = results_spotting_file(output, prefix, game)
        target.parent.mkdir(parents=True, exist_ok=True)
        by_half = {h: predictions[2 * i + h - 1] for h in dataset.HALVES}
        write_results_spotting(target, results_spotting_json(by_half, method, threshold, game))
    log.info("%s: results_spotting.json files (%s, threshold %.2f) under %s", prefix, method, threshold, folder)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs.setup_logging(args.loglevel)
    log.info("arguments: %s", vars(args))
    try:
        run(args)
    except (DataError, ValueError) as exc:  # bad input: one line, exit code 2
        log.debug("bad input", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return runs.EXIT_BAD_INPUT
    except OSError as exc:
        log.debug("write failed", exc_info=True)
        print(f"error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return runs.EXIT_WRITE_FAILED
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
