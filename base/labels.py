"""The label files of a game (`Labels.json`, `Labels-v2.json`) read into events of a class set: the one
owner of their format (`gameTime` "H - MM:SS", `label`, optional `position` in milliseconds and
`visibility`). No numpy, no TensorFlow.
"""
from __future__ import annotations

import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from base.classes import LABEL_FILES, ClassSet, class_set
from base.errors import DataError
from base.files import read_json_list

log = logging.getLogger("dataset")

HALVES = (1, 2)
_GAMETIME = re.compile(r"^\s*(\d)\s*-\s*(\d{1,3}):(\d{2})\s*$")
NOT_SHOWN = "not shown"  # SoccerNet-v2's `visibility` of an action that happens off screen


@dataclass(frozen=True)
class Event:
    """One annotated action: half (1 or 2), time in seconds from the half start, class 1..C of its class set,
    the label as written, and whether it is shown (SoccerNet-v2's `visibility`; v1 actions are all shown)."""

    half: int
    seconds: float
    label: int
    name: str = ""
    visible: bool = True


def parse_game_time(game_time: str, path: str | os.PathLike = "<labels>") -> tuple[int, int, int]:
    """Parse `"H - MM:SS"` into (half, minute, second), as the original (half first, then MM:SS)."""
    match = _GAMETIME.match(str(game_time))
    if not match:
        raise DataError(path, f"bad gameTime '{game_time}', expected 'H - MM:SS'")
    half, minute, second = (int(g) for g in match.groups())
    if half not in HALVES or second >= 60:
        raise DataError(path, f"bad gameTime '{game_time}', expected half 1 or 2 and seconds below 60")
    return half, minute, second


def seconds_to_game_time(half: int, seconds: float) -> str:
    """`"H - MM:SS"` for a time in seconds from the start of the half (the inverse of `parse_game_time`)."""
    whole = int(math.floor(seconds))
    return f"{half} - {whole // 60:02d}:{whole % 60:02d}"


def read_labels(path: str | os.PathLike, classes: ClassSet | str | None = None,
                unknown: Counter | None = None) -> list[Event]:
    """Read the events of a game from a label file, in the classes of a class set (`base.classes`).

    The file's name says its version: `Labels-v2.json` is read by exact v2 label names, any other name as
    v1 labels. A label the class set does not know is skipped with one warning per file naming the file
    and each such label with its count (and added to `unknown`, when given, for a split's summary). When an
    annotation has `position` (milliseconds from the half start) it gives the time; otherwise `gameTime`
    does (to the second). `visibility` "not shown" marks the event unshown.

    Args:
        path: the label file.
        classes: the class set (default v1).
        unknown: a Counter of skipped labels to add to.

    Raises:
        DataError: missing file, invalid JSON, no `annotations` list, a bad `gameTime` or `position`, or a
            label file the class set cannot read (v1 labels for the v2 classes).
    """
    path = Path(path)
    classes = class_set(classes)
    label_file = path.name if path.name in LABEL_FILES else classes.label_file  # other names: the set's own
    if label_file not in classes.label_files:
        raise DataError(path, f"the {classes.name} classes are read from {classes.label_file}, not from {label_file}")
    annotations = read_json_list(path, "annotations", "label file")
    events, skipped = [], Counter()
    for number, annotation in enumerate(annotations, 1):
        if not isinstance(annotation, dict) or "gameTime" not in annotation or "label" not in annotation:
            raise DataError(path, f"annotation {number} lacks 'gameTime' or 'label'")
        label = str(annotation["label"])
        half, minute, second = parse_game_time(annotation["gameTime"], path)
        seconds: float = 60 * minute + second
        if "position" in annotation:
            try:
                seconds = int(annotation["position"]) / 1000.0
            except (TypeError, ValueError):
                raise DataError(path, f"annotation {number} has a bad position "
                                      f"'{annotation['position']}' (milliseconds expected)") from None
            if seconds < 0:
                raise DataError(path, f"annotation {number} has a negative position")
        cls = classes.class_of(label, label_file)
        if cls == 0:
            skipped[label] += 1
            continue
        events.append(Event(half, seconds, cls, label, annotation.get("visibility") != NOT_SHOWN))
    if skipped:
        log.warning("%s: %d annotations skipped, labels not in the %s classes: %s", path, sum(skipped.values()),
                    classes.name, ", ".join(f"'{label}' x{n}" for label, n in sorted(skipped.items())))
        if unknown is not None:
            unknown.update(skipped)
    return events
