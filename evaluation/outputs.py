"""The on-disk layout of the spotting outputs, and their single owner: ClassificationSecondBased.py (and
spot_video.py) write them, compute_mAP.py reads them. Also the SoccerNet results_spotting.json files:
made from candidate spots in a class set's labels, written (one file, or a zip of `<game>/<name>` files as
the official evaluator and the challenge server take them), read back per second or per official frame.
No TensorFlow.
"""
from __future__ import annotations

import json
import logging
import math
import os
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np

import dataset
from base import files, labels
from base.classes import NAMES, V1, ClassSet, class_set, of_width
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
#   <dir>/<game>/<prefix>_Half_<h>.npy                          per-second probabilities (seconds, 1 + C)
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


def read_prediction_file(path: str | os.PathLike, classes: ClassSet | str | None = V1) -> np.ndarray:
    """One per-second prediction array (seconds, 1 + C) of probabilities, checked.

    Args:
        classes: the class set whose width the array must have (v1: 4 columns, v2: 18); None: any class
            set's width (`base.classes.of_width` then names it).

    Raises:
        DataError: missing file, not a numeric 2-D array of the class set's width, no rows, values outside
            [0, 1] or NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "prediction file not found")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:  # EOFError: a zero-byte or truncated file
        raise DataError(path, f"not a numeric .npy array ({exc})") from None
    if classes is None:
        widths = sorted({class_set(name).num_classes for name in NAMES})
        if array.ndim != 2 or array.shape[1] not in widths or array.dtype.kind not in "fiu":
            raise DataError(path, f"expected a numeric array (seconds, {' or '.join(map(str, widths))}), "
                                  f"got {array.dtype} {array.shape}")
    else:
        expected = class_set(classes)
        if array.ndim != 2 or array.shape[1] != expected.num_classes or array.dtype.kind not in "fiu":
            known = _width_name(array)
            raise DataError(path, f"expected a numeric array (seconds, {expected.num_classes}), got {array.dtype} "
                                  f"{array.shape}" + (f": the {known} classes' width, not the {expected.name} ones'"
                                                      if known and known != expected.name else ""))
    if not array.shape[0]:
        raise DataError(path, "no rows: a half of zero seconds")
    if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
        raise DataError(path, "expected probabilities in [0, 1] (found values outside, NaN or infinity)")
    return array


def _width_name(array: np.ndarray) -> str | None:
    """The name of the class set a 2-D array's width matches, or None."""
    try:
        return of_width(array.shape[1]).name if array.ndim == 2 else None
    except ValueError:
        return None


def load_spotting_outputs(list_path: str | os.PathLike, predictions_dir: str | os.PathLike, prefix: str,
                          classes: ClassSet | str | None = V1) -> list[np.ndarray]:
    """The prediction arrays of every half of a game list, in the order of `truth.load_ground_truth`
    (compute_mAP.py's `load_predictions` before; fusion.py's `load_predictions` reads chunk logits).

    Args:
        classes: the class set of the arrays; None: the class set of the first file's width, which every
            other file must have (`prediction_class_set` names it).

    Raises:
        DataError: a missing or bad prediction file, or one of another width (the message names it).
    """
    arrays = []
    for game in dataset.read_game_list(list_path):
        for half in dataset.HALVES:
            path = prediction_file(predictions_dir, game, prefix, half)
            arrays.append(read_prediction_file(path, classes))
            if classes is None:  # the first file sets the class set of the others
                classes = of_width(arrays[0].shape[1])
    return arrays


def prediction_class_set(arrays: list[np.ndarray]) -> ClassSet | None:
    """The class set of prediction arrays read by `load_spotting_outputs` (None when there are none)."""
    return of_width(arrays[0].shape[1]) if arrays else None


# ------------------------------------------------------------------------------------------------
# SoccerNet results_spotting.json


def results_spotting_json(probabilities_by_half: dict[int, np.ndarray], method: str, threshold: float,
                          game: str, classes: ClassSet | str | None = None) -> dict:
    """A SoccerNet `results_spotting.json` object of one game's candidate spots.

    Args:
        probabilities_by_half: {half: (seconds, 1 + C) array}.
        method, threshold: the candidate method and threshold (`candidates`).
        game: the game path (`UrlLocal`).
        classes: the class set of the arrays; None: the one of their width (`base.classes.of_width`).

    Returns:
        {"UrlLocal": game, "predictions": [{"gameTime": "H - MM:SS", "label": the class set's package
        label ("card"|"subs"|"soccer" for v1, the 17 official names for v2), "position": milliseconds,
        "half": "H", "confidence": score}, ...]} with every candidate (half by half, class by class, in
        time order), all values strings as the official tools write them. The confidence is the exact
        float (repr), so the package reads back the very score.

    Raises:
        ValueError: an unknown method, or arrays not of the class set's width.
    """
    check_methods([method])
    arrays = {half: np.asarray(p) for half, p in probabilities_by_half.items()}
    if classes is None:
        classes = of_width(next(iter(arrays.values())).shape[1]) if arrays else V1
    classes = class_set(classes)
    for half, p in arrays.items():
        if p.ndim != 2 or p.shape[1] != classes.num_classes:
            raise ValueError(f"half {half}: expected (seconds, {classes.num_classes}) for the {classes.name} "
                             f"classes, got {p.shape}")
    predictions = []
    for half in sorted(arrays):
        p = arrays[half]
        for c, label in enumerate(classes.soccernet_labels):
            seconds, scores = candidates(p[:, c + 1], threshold, method)
            for second, value in zip(seconds.tolist(), scores.tolist()):
                predictions.append({"gameTime": labels.seconds_to_game_time(half, second), "label": label,
                                    "position": str(second * 1000), "half": str(half),
                                    "confidence": repr(float(value))})
    return {"UrlLocal": game, "predictions": predictions}


def write_results_spotting(path: str | os.PathLike, content: dict) -> None:
    """Write a results_spotting.json object atomically (temporary file, then rename)."""
    files.write_json_atomic(path, content)


def results_zip_member(game: str, name: str = RESULTS_SPOTTING) -> str:
    """The member of a game's JSON file in a zip: `<game>/<name>`, as the package's `LoadJsonFromZip`
    (`SoccerNet/Evaluation/utils.py`) and the challenge server look it up."""
    return f"{game}/{name}"


def write_results_spotting_zip(path: str | os.PathLike, contents: Iterable[tuple[str, dict]],
                               name: str = RESULTS_SPOTTING) -> Path:
    """A zip of `<game>/<name>` JSON files, one per (game, results_spotting.json object), written atomically
    (whole or absent). Members are deflated, in the given order, dated 1980-01-01 (the same content gives
    the same bytes).

    Raises:
        ValueError: a game given twice.
    """
    members = [(results_zip_member(game, name), json.dumps(content, indent=2) + "\n") for game, content in contents]
    seen = [member for member, _ in members]
    if len(set(seen)) != len(seen):
        raise ValueError(f"{path}: a game is given twice")

    def write(temporary: Path) -> None:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member, text in members:
                info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, text.encode("utf-8"))

    return files.write_atomic(path, write)


def is_results_zip(name: str | os.PathLike) -> bool:
    """Whether a `--results_spotting` value names a zip of JSON files (it ends in .zip)."""
    return str(name).lower().endswith(".zip")


def read_results_spotting(path: str | os.PathLike, rate: int = 1,
                          classes: ClassSet | str | None = V1) -> dict[int, np.ndarray]:
    """Per-position score arrays of a results_spotting.json file, to score it with this pipeline.

    Args:
        rate: positions per second of the arrays. 1 (the paper's metric, per second): a spot's position
            is floored to its second, and two spots of a class in the same second keep the higher
            confidence (a warning counts them). `SOCCERNET_FRAMERATE` (2, the official metric's frames):
            the official reader's rule, frame = int(2 * position / 1000) clipped to the last frame of its
            2-hour vectors, a later spot of a class in the same frame replacing the earlier one.
        classes: the class set (default v1): a label is its class by `ClassSet.spotted_label_class`.

    Returns:
        {1: array, 2: array}, each (positions, 1 + C) float64 with the confidence of the spot at that
        position in columns 1..C and -1 where there is none (evaluate them with method "spots"). A half's
        array ends at its last spot. Positions, halves and confidences may be strings (as the official
        tools write them) or numbers. Labels: the class set's package labels or label-file names (v1 also
        by the original's substring rule); others are skipped, with a warning.

    Raises:
        DataError: a missing or malformed file.
    """
    path = Path(path)
    _check_rate(rate)
    return spots_of_predictions(files.read_json_list(path, "predictions", "results_spotting file"), path, rate,
                                classes)


def read_results_spotting_zip(archive: zipfile.ZipFile, where: str | os.PathLike, game: str,
                              name: str = RESULTS_SPOTTING, rate: int = 1,
                              classes: ClassSet | str | None = V1) -> dict[int, np.ndarray]:
    """`read_results_spotting` of the member `<game>/<name>` of an open zip (read in memory, nothing
    extracted); `where` is the zip's path, for the messages."""
    _check_rate(rate)
    member = results_zip_member(game, name)
    label = f"{where}:{member}"
    try:
        text = archive.read(member).decode("utf-8")
    except KeyError:
        raise DataError(where, f"no member '{member}' (results_spotting file of game '{game}')") from None
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(label, f"cannot be read ({exc})") from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(label, f"invalid JSON ({exc})") from None
    items = content.get("predictions") if isinstance(content, dict) else None
    if not isinstance(items, list):
        raise DataError(label, "no 'predictions' list")
    return spots_of_predictions(items, label, rate, classes)


def open_results_zip(path: str | os.PathLike) -> zipfile.ZipFile:
    """An open zip of JSON files (the caller closes it), or DataError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "results_spotting zip not found")
    try:
        return zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(path, f"not a zip file ({exc})") from None


def _check_rate(rate: int) -> None:
    if rate not in (1, SOCCERNET_FRAMERATE):
        raise ValueError(f"rate must be 1 or {SOCCERNET_FRAMERATE} positions per second, not {rate}")


def spots_of_predictions(items: list, where: str | os.PathLike, rate: int = 1,
                         classes: ClassSet | str | None = V1) -> dict[int, np.ndarray]:
    """The arrays of `read_results_spotting` from the `predictions` list of a results_spotting.json
    object; `where` names its file in the messages."""
    classes = class_set(classes)
    spots: dict[int, list[tuple[int, int, float]]] = {h: [] for h in dataset.HALVES}
    skipped = 0
    for number, item in enumerate(items, 1):
        try:
            label = str(item["label"])
            confidence = float(item["confidence"])
            if "position" in item:
                milliseconds = int(float(item["position"]))
                index = int(rate * (milliseconds / 1000))
                half = int(item["half"]) if "half" in item else labels.parse_game_time(item["gameTime"], where)[0]
            else:
                half, minute, sec = labels.parse_game_time(item["gameTime"], where)
                milliseconds, index = 1000 * (60 * minute + sec), rate * (60 * minute + sec)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise DataError(where, f"prediction {number} is malformed ({exc!r})") from None
        if half not in dataset.HALVES or milliseconds < 0 or not math.isfinite(confidence):
            raise DataError(where, f"prediction {number}: bad half, position or confidence")
        if not 0.0 <= confidence <= 1.0:
            raise DataError(where, f"prediction {number}: confidence {confidence:g} outside [0, 1]")
        cls = classes.spotted_label_class(label)
        if cls == 0:
            skipped += 1
            continue
        if rate == SOCCERNET_FRAMERATE:
            index = min(index, SOCCERNET_LAST_FRAME)
        spots[half].append((index, cls, confidence))
    if skipped:
        log.warning("%s: %d predictions with labels outside the %s classes skipped", where, skipped, classes.name)
    out, merged = {}, 0
    for half, items_half in spots.items():
        length = max((s for s, _, _ in items_half), default=-1) + 1
        array = np.full((length, classes.num_classes), -1.0)
        for index, cls, confidence in items_half:
            if rate == 1:
                merged += array[index, cls] >= 0
                array[index, cls] = max(array[index, cls], confidence)
            else:
                array[index, cls] = confidence
        out[half] = array
    if merged:
        log.warning("%s: %d spots share their second with another spot of their class: the paper's metric (per "
                    "second) keeps the higher confidence (the official metric scores them at 0.5 s)", where, merged)
    return out


def load_results_spotting(list_path: str | os.PathLike, folder: str | os.PathLike,
                          name: str = RESULTS_SPOTTING, rate: int = 1,
                          classes: ClassSet | str | None = V1) -> list[np.ndarray]:
    """`read_results_spotting` of `<folder>/<game>/<name>` for every game of a list, per half in list order;
    when `folder` is a zip file (`is_results_zip`), of its members `<game>/<name>` instead."""
    games = dataset.read_game_list(list_path)
    arrays = []
    if is_results_zip(folder):
        with open_results_zip(folder) as archive:
            for game in games:
                by_half = read_results_spotting_zip(archive, folder, game, name, rate, classes)
                arrays += [by_half[h] for h in dataset.HALVES]
        return arrays
    for game in games:
        by_half = read_results_spotting(Path(folder) / game / name, rate, classes)
        arrays += [by_half[h] for h in dataset.HALVES]
    return arrays


def read_evaluation_results(output: str | os.PathLike) -> dict:
    """The `EVALUATION_RESULTS` that compute_mAP.py wrote in `output`."""
    return json.loads((Path(output) / EVALUATION_RESULTS).read_text(encoding="utf-8"))
