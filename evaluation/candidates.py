"""The grid of the spotting evaluation: its candidate methods, thresholds, tolerances and metrics, the
checks of its arguments, and the candidate spots of one class column (`candidates`, the NumPy reference
of the original's `get_spot_from_argmax`, `get_spot_from_Center`, `get_spot_from_NMS` + `format_spot`;
the rules are in the package docstring). No TensorFlow.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from base.classes import V1, ClassSet, class_set
from runtime import cli

# The candidate-spot methods (segment maximum, segment centre, NMS), named as the authors' functions.
CANDIDATE_METHODS = ("argmax", "center", "nms")
# Extra method for arrays that already hold spots (read from results_spotting.json files): every second
# with a score >= threshold is a candidate; -1 marks "no spot".
SPOTS = "spots"
ALL_METHODS = CANDIDATE_METHODS + (SPOTS,)
DEFAULT_THRESHOLDS = tuple(t / 100 for t in range(95, 0, -5))  # 0.95, 0.90, ..., 0.05 (original THRESHOLD_RANGE)
DEFAULT_DELTAS = tuple(range(60, 0, -5))  # 60, 55, ..., 5 seconds (original DELTA_RANGE): the loose set
TIGHT_DELTAS = (1, 2, 3, 4, 5)  # SoccerNet v2's tight Average-mAP (tolerances 1 to 5 s)
# The soccernet package's `metric` names: "loose", "tight", and "at1".."at5", one tolerance each (its
# `average_mAP` returns the mAP at that delta, no averaging; so does `report.delta_average`).
DELTA_SETS = {"loose": DEFAULT_DELTAS, "tight": TIGHT_DELTAS, **{f"at{d}": (d,) for d in TIGHT_DELTAS}}
METRICS = ("paper", "soccernet")
NMS_WINDOW = 60  # seconds, fixed in the original (get_spot_from_NMS)
RECALL_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# The soccernet package: 2 frames per second, label vectors of 120 minutes, 200 confidence thresholds.
SOCCERNET_FRAMERATE = 2
SOCCERNET_LAST_FRAME = 120 * 60 * SOCCERNET_FRAMERATE - 1
SOCCERNET_CONFIDENCES = np.linspace(0, 1, 200)

HALF_WINDOW = NMS_WINDOW // 2  # seconds on each side of an NMS peak


# ------------------------------------------------------------------------------------------------
# Arguments of the spotting evaluation


def check_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """The candidate methods, each known and given once."""
    methods = tuple(methods)
    if not methods:
        raise ValueError("no candidate method given")
    for method in methods:
        if method not in ALL_METHODS:
            raise ValueError(f"unknown method '{method}', expected one of {', '.join(ALL_METHODS)}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"a method is repeated in {methods}")
    return methods


def check_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    """The candidate thresholds as floats, each in [0, 1]."""
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


def check_deltas(deltas: Sequence[int]) -> tuple[int, ...]:
    """The tolerances as whole seconds in 1..3600."""
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


def check_metrics(metric: str) -> tuple[str, ...]:
    """"paper", "soccernet" or "both" -> the metrics, the headline one first."""
    if metric == "both":
        return METRICS
    if metric in METRICS:
        return (metric,)
    raise ValueError(f"unknown metric '{metric}', expected paper, soccernet or both")


def check_predictions(predictions: Sequence[np.ndarray], classes: ClassSet | str = V1) -> list[np.ndarray]:
    """Per half, a (seconds, 1 + C) array of finite numbers (the background and the class set's C classes)."""
    width = class_set(classes).num_classes
    arrays = []
    for i, p in enumerate(predictions):
        p = np.asarray(p)
        if p.ndim != 2 or p.shape[1] != width:
            raise ValueError(f"prediction {i}: expected shape (seconds, {width}), got {p.shape}")
        if p.dtype.kind not in "fiub":
            raise ValueError(f"prediction {i}: expected numbers, got {p.dtype}")
        if p.dtype.kind == "f" and not np.isfinite(p).all():
            raise ValueError(f"prediction {i}: contains NaN or infinity")
        arrays.append(p)
    return arrays


def check_ground_truth(ground_truth, halves: int, classes: ClassSet | str = V1) -> list[tuple[np.ndarray, ...]]:
    """One ground truth per prediction array: C arrays of event seconds (finite, >= 0), sorted (stably)."""
    count = len(class_set(classes).event_classes)
    if len(ground_truth) != halves:
        raise ValueError(f"{halves} prediction arrays but {len(ground_truth)} ground-truth halves")
    out = []
    for i, gt in enumerate(ground_truth):
        if len(gt) != count:
            raise ValueError(f"ground truth {i}: expected {count} arrays of event seconds, got {len(gt)}")
        arrays = tuple(np.sort(np.asarray(seconds, np.float64).reshape(-1), kind="stable") for seconds in gt)
        for seconds in arrays:
            if not np.isfinite(seconds).all() or (seconds < 0).any():
                raise ValueError(f"ground truth {i}: event times must be finite and >= 0")
        out.append(arrays)
    return out


def check_visibility(visibility, ground_truth: list[tuple[np.ndarray, ...]]) -> list[tuple[np.ndarray, ...]]:
    """Per half and class, bool flags parallel to the (sorted) event seconds: True for a shown event. None:
    every event shown. The flags must follow the ground truth's sorted order (`truth.load_ground_truth`'s)."""
    if visibility is None:
        return [tuple(np.ones(len(s), bool) for s in gt) for gt in ground_truth]
    if len(visibility) != len(ground_truth):
        raise ValueError(f"{len(ground_truth)} ground-truth halves but {len(visibility)} visibility halves")
    out = []
    for i, (flags, gt) in enumerate(zip(visibility, ground_truth)):
        if len(flags) != len(gt):
            raise ValueError(f"visibility {i}: expected {len(gt)} arrays of flags, got {len(flags)}")
        arrays = tuple(np.asarray(f, bool).reshape(-1) for f in flags)
        if any(len(f) != len(s) for f, s in zip(arrays, gt)):
            raise ValueError(f"visibility {i}: one flag per event expected")
        out.append(arrays)
    return out


# The command line's --thresholds and --deltas (compute_mAP.py; --json_threshold of ClassificationSecondBased.py)


def _one_delta(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"delta {text} is not a whole number of seconds") from None
    return check_deltas([value])[0]


threshold_argument = cli.argument_type(lambda text: check_thresholds([text])[0], "threshold")


def _delta_token(text: str):
    return text if text in DELTA_SETS or text == "both" else _one_delta(text)


delta_argument = cli.argument_type(_delta_token, "delta")


def delta_sets(tokens: Sequence) -> dict[str, tuple[int, ...]]:
    """`--deltas`: whole seconds, or "loose" (60, 55, ..., 5), "tight" (1..5), "at1".."at5" (one delta, the
    package's metrics of those names), "both" (the loose set, and the tight Average-mAP beside it).
    Returns {name: deltas}, the first the one of the main tables."""
    named = [t for t in tokens if isinstance(t, str)]
    if named and len(tokens) > 1:
        raise ValueError(f"--deltas takes whole seconds, or one of {', '.join(DELTA_SETS)}, both")
    if not named:
        return {"given": tuple(tokens)}
    if named[0] == "both":
        return {"loose": DEFAULT_DELTAS, "tight": TIGHT_DELTAS}
    return {named[0]: DELTA_SETS[named[0]]}


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
        if n >= 2 * HALF_WINDOW + 2:
            from numpy.lib.stride_tricks import sliding_window_view

            before = sliding_window_view(p, HALF_WINDOW).max(axis=1)  # before[j] = max(p[j:j+30])
            after = sliding_window_view(p, HALF_WINDOW - 1).max(axis=1)  # after[j] = max(p[j:j+29])
            for i in range(HALF_WINDOW + 1, n - HALF_WINDOW):  # 30 < i < n - 30
                if p[i] >= after[i + 1] and p[i] > before[i - HALF_WINDOW] and float(p[i]) > threshold:
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
