"""The on-disk layout of the spotting outputs, and their single owner: ClassificationSecondBased.py (and
spot_video.py) write them, compute_mAP.py reads them. Also the SoccerNet results_spotting.json files:
made from candidate spots, written, read back per second or per official frame. No TensorFlow.
"""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np

import dataset
from base import classes, files, labels
from base.errors import DataError
from evaluation.candidates import SOCCERNET_FRAMERATE, SOCCERNET_LAST_FRAME, candidates, check_methods

log = logging.getLogger(__name__)

RESULTS_SPOTTING = "results_spotting.json"
# What compute_mAP.py writes in its --output folder: every model's grid, summaries and best settings.
EVALUATION_RESULTS = "results.json"
# What ClassificationSecondBased.py writes into results_spotting.json by default: every candidate of the
# segment-centre method above a low threshold, each with its confidence. The official evaluator sweeps
# its own confidence thresholds, so it needs all candidates (a high threshold here under-reports it).
# Not 0: a segment starts where p[j-1] < theta, so the segment methods find nothing at theta = 0.
JSON_METHOD, JSON_THRESHOLD = "center", 0.01


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
    if array.ndim != 2 or array.shape[1] != classes.V1.num_classes or array.dtype.kind not in "fiu":
        raise DataError(path, f"expected a numeric array (seconds, {classes.V1.num_classes}), "
                              f"got {array.dtype} {array.shape}")
    if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
        raise DataError(path, "expected probabilities in [0, 1] (found values outside, NaN or infinity)")
    return array


def load_spotting_outputs(list_path: str | os.PathLike, predictions_dir: str | os.PathLike,
                          prefix: str) -> list[np.ndarray]:
    """The prediction arrays of every half of a game list, in the order of `truth.load_ground_truth`
    (compute_mAP.py's `load_predictions` before; fusion.py's `load_predictions` reads chunk logits).

    Raises:
        DataError: a missing or bad prediction file (the message names it).
    """
    return [read_prediction_file(prediction_file(predictions_dir, game, prefix, half))
            for game in dataset.read_game_list(list_path) for half in dataset.HALVES]


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
    check_methods([method])
    predictions = []
    for half in sorted(probabilities_by_half):
        p = np.asarray(probabilities_by_half[half])
        for c, label in enumerate(classes.V1.soccernet_labels):
            seconds, scores = candidates(p[:, c + 1], threshold, method)
            for second, value in zip(seconds.tolist(), scores.tolist()):
                predictions.append({"gameTime": labels.seconds_to_game_time(half, second), "label": label,
                                    "position": str(second * 1000), "half": str(half),
                                    "confidence": repr(float(value))})
    return {"UrlLocal": game, "predictions": predictions}


def write_results_spotting(path: str | os.PathLike, content: dict) -> None:
    """Write a results_spotting.json object atomically (temporary file, then rename)."""
    files.write_json_atomic(path, content)


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
    items = files.read_json_list(path, "predictions", "results_spotting file")
    spots: dict[int, list[tuple[int, int, float]]] = {h: [] for h in dataset.HALVES}
    skipped = 0
    for number, item in enumerate(items, 1):
        try:
            label = str(item["label"])
            confidence = float(item["confidence"])
            if "position" in item:
                milliseconds = int(float(item["position"]))
                index = int(rate * (milliseconds / 1000))
                half = int(item["half"]) if "half" in item else labels.parse_game_time(item["gameTime"], path)[0]
            else:
                half, minute, sec = labels.parse_game_time(item["gameTime"], path)
                milliseconds, index = 1000 * (60 * minute + sec), rate * (60 * minute + sec)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise DataError(path, f"prediction {number} is malformed ({exc!r})") from None
        if half not in dataset.HALVES or milliseconds < 0 or not math.isfinite(confidence):
            raise DataError(path, f"prediction {number}: bad half, position or confidence")
        cls = classes.V1.spotted_label_class(label)
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
        array = np.full((length, classes.V1.num_classes), -1.0)
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


def read_evaluation_results(output: str | os.PathLike) -> dict:
    """The `EVALUATION_RESULTS` that compute_mAP.py wrote in `output`."""
    return json.loads((Path(output) / EVALUATION_RESULTS).read_text(encoding="utf-8"))
