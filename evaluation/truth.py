"""The ground truth of the spotting evaluation: the event seconds of every half of a game list, per class
(card, subs, goal), from the label files (`labels.read_labels`). No TensorFlow.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

import dataset
from base import classes, labels


def ground_truth_of_events(events: Sequence[labels.Event]) -> dict[int, tuple[np.ndarray, ...]]:
    """Event seconds per half and class: {1: (card, subs, goal), 2: (...)}, each a sorted float64 array."""
    out = {}
    for half in dataset.HALVES:
        out[half] = tuple(np.sort(np.array([e.seconds for e in events if e.half == half and e.label == c],
                                           np.float64)) for c in (1, 2, 3))
    return out


def load_ground_truth(list_path: str | os.PathLike, data_root: str | os.PathLike | None = None,
                      label_file: str = classes.V1_LABEL_FILE) -> list[tuple[np.ndarray, ...]]:
    """Ground truth of every half of a game list, in list order (game by game, half 1 then 2).

    Args:
        list_path: the game list (`listgame_Test_100.npy` or a text list).
        data_root: folder of the game folders; default the list's folder.
        label_file: `Labels.json` (v1) or `Labels-v2.json` (v2 labels mapped to the three classes).

    Returns:
        Per half, a tuple of three sorted float64 arrays (card, subs, goal) of event times in seconds
        from the half start (`labels.read_labels`).

    Raises:
        DataError: a missing list or label file, or bad labels.
    """
    root = dataset.data_root_for(list_path, data_root)
    halves = []
    for game in dataset.read_game_list(list_path):
        by_half = ground_truth_of_events(labels.read_labels(root / game / label_file))
        halves += [by_half[h] for h in dataset.HALVES]
    return halves
