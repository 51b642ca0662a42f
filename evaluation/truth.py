"""The ground truth of the spotting evaluation: the event seconds of every half of a game list, per event class
of a class set (`base.classes`: card, subs, goal for v1; the 17 SoccerNet-v2 classes for v2), from the label
files (`labels.read_labels`), and, beside them, whether each event is shown (SoccerNet-v2's `visibility`),
which the official metric splits its figures by. No TensorFlow.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

import dataset
from base import labels
from base.classes import V1, ClassSet, class_set
from evaluation.candidates import SOCCERNET_FRAMERATE, SOCCERNET_LAST_FRAME


def _resolved_flags(seconds: np.ndarray, shown: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The shown flags of one half and class, sorted like `seconds[order]`, where events sharing a frame of
    the official metric (0.5 s, clipped to its 2-hour vectors) all take the flag of the last of them in the
    file: the package's `label2vector` (SoccerNet/Evaluation/ActionSpotting.py) writes one value per frame,
    a later annotation overwriting an earlier one."""
    frames = np.minimum(np.floor(SOCCERNET_FRAMERATE * seconds), SOCCERNET_LAST_FRAME).astype(np.int64)
    last = {}
    for index, frame in enumerate(frames):  # file order: the last one wins
        last[int(frame)] = bool(shown[index])
    return np.array([last[int(f)] for f in frames[order]], bool)


def ground_truth_of_events(events: Sequence[labels.Event], classes: ClassSet | str = V1, *,
                           with_visibility: bool = False):
    """Event seconds per half and class: {1: (C arrays), 2: (...)}, each a sorted float64 array (stable: equal
    times keep the file order).

    With `with_visibility`, also {1: (C bool arrays), 2: ...}, parallel to the seconds: True for a shown
    event; events of a class in the same official frame take the flag of the last of them in the file (see
    `_resolved_flags`). Returns (seconds, flags) then."""
    count = len(class_set(classes).event_classes)
    seconds_out, flags_out = {}, {}
    for half in dataset.HALVES:
        seconds_out[half], flags_out[half] = [], []
        for c in range(1, count + 1):
            chosen = [e for e in events if e.half == half and e.label == c]  # file order
            seconds = np.array([e.seconds for e in chosen], np.float64)
            order = np.argsort(seconds, kind="stable")
            seconds_out[half].append(seconds[order])
            flags_out[half].append(_resolved_flags(seconds, np.array([e.visible for e in chosen], bool), order))
        seconds_out[half], flags_out[half] = tuple(seconds_out[half]), tuple(flags_out[half])
    return (seconds_out, flags_out) if with_visibility else seconds_out


def load_ground_truth(list_path: str | os.PathLike, data_root: str | os.PathLike | None = None,
                      label_file: str | None = None, classes: ClassSet | str = V1, *, with_visibility: bool = False):
    """Ground truth of every half of a game list, in list order (game by game, half 1 then 2).

    Args:
        list_path: the game list (`listgame_Test_100.npy` or a text list).
        data_root: folder of the game folders; default the list's folder.
        label_file: the label file of each game; None: the class set's (`Labels.json` for v1,
            `Labels-v2.json` for v2). v1 reads `Labels-v2.json` too (v2 labels folded into its three classes).
        classes: the class set (`base.classes`), or its name.
        with_visibility: also return the shown flags.

    Returns:
        Per half, a tuple of C sorted float64 arrays (the class set's event classes in order) of event
        times in seconds from the half start (`labels.read_labels`). With `with_visibility`, the pair
        (that list, per half a tuple of C bool arrays parallel to it: True for a shown event, False for
        SoccerNet-v2's "not shown"; see `ground_truth_of_events`).

    Raises:
        DataError: a missing list or label file, or bad labels.
    """
    classes = class_set(classes)
    label_file = classes.label_file if label_file is None else label_file
    root = dataset.data_root_for(list_path, data_root)
    halves, flags = [], []
    for game in dataset.read_game_list(list_path):
        by_half, shown = ground_truth_of_events(labels.read_labels(root / game / label_file, classes), classes,
                                                with_visibility=True)
        halves += [by_half[h] for h in dataset.HALVES]
        flags += [shown[h] for h in dataset.HALVES]
    return (halves, flags) if with_visibility else halves
