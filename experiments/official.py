"""The official SoccerNet evaluator on a game list's results_spotting.json files, for the demo and the
reproduction to print beside this project's figures (`SoccerNet.Evaluation.ActionSpotting.evaluate`, the
installed `soccernet` package's).

The package finds its games by walking the label folder it is given (its `dataset=None` mode), so the label
files of the listed games are linked into a scratch folder of their own first: exactly the listed games are
scored, whatever else the data root holds.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import dataset
from base.classes import ClassSet
from evaluation.outputs import RESULTS_SPOTTING

OFFICIAL_METRICS = ("loose", "tight", "at1", "at2", "at3", "at4", "at5")


def official_scores(list_path: str | os.PathLike, predictions: str | os.PathLike, spotted: ClassSet,
                    metric: str = "loose", data_root: str | os.PathLike | None = None) -> dict:
    """The package's figures for the listed games: `a_mAP`, `a_mAP_per_class` and, for a version-2 class
    set, `a_mAP_visible`, `a_mAP_unshown` and their per-class lists (its `evaluate`'s dictionary).

    Args:
        list_path: the game list.
        predictions: the folder of `<game>/results_spotting.json` (a ClassificationSecondBased.py
            `results_spotting_<prefix>` folder, or compute_mAP.py's --write_json one).
        spotted: the class set (its label file, package version and labels).
        metric: one of `OFFICIAL_METRICS`.
    """
    from SoccerNet.Evaluation.ActionSpotting import evaluate

    if metric not in OFFICIAL_METRICS:
        raise ValueError(f"unknown official metric {metric!r}; valid: {', '.join(OFFICIAL_METRICS)}")
    root = dataset.data_root_for(list_path, data_root)
    games = dataset.read_game_list(list_path)
    dictionary = {label: c for c, label in enumerate(spotted.soccernet_labels)}
    with tempfile.TemporaryDirectory(prefix="official-labels-") as scratch:
        for game in games:
            folder = Path(scratch) / game
            folder.mkdir(parents=True)
            os.symlink((root / game / spotted.label_file).resolve(), folder / spotted.label_file)
        with contextlib.redirect_stderr(io.StringIO()):  # its tqdm bars
            return evaluate(SoccerNet_path=scratch, Predictions_path=str(predictions),
                            prediction_file=RESULTS_SPOTTING, version=spotted.version, metric=metric,
                            label_files=spotted.label_file, dataset=None, EVENT_DICTIONARY=dictionary)
