"""What a compute_mAP.py run reads, all of it read and checked before TensorFlow starts and before
anything is written (`read_inputs`): the ground truth, the chance baseline's training labels, the spots
to plot, the grid, and each model's predictions (or results_spotting.json files). No TensorFlow.
"""
from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import dataset
from base.errors import DataError
from evaluation.candidates import (DEFAULT_THRESHOLDS, SOCCERNET_FRAMERATE,
                                   SPOTS, check_metrics, delta_sets)
from evaluation.outputs import (RESULTS_SPOTTING, load_results_spotting,
                                load_spotting_outputs, read_results_spotting,
                                results_spotting_dir)
from evaluation.plots import games_to_plot
from evaluation.truth import load_ground_truth

log = logging.getLogger(__name__)


@dataclass
class Model:
    """One model of the command line (a --prefix): its per-second predictions, or (--results_spotting)
    its spots read at each metric's resolution ({metric: arrays}, `json_rate`)."""

    prefix: str
    predictions: list[np.ndarray] | None
    spots: dict[str, list[np.ndarray]] | None


@dataclass
class Inputs:
    """Everything `evaluate.run` scores and draws, read and checked."""

    started: float  # time.perf_counter() when the reading began (the run's printed duration counts from it)
    metric_names: tuple[str, ...]
    ground_truth: list[tuple[np.ndarray, ...]]
    chance_truth: list[tuple[np.ndarray, ...]] | None
    spot_plots: list[tuple]  # (prefix, game, JSON file, its spots or None: read when plotted)
    methods: tuple[str, ...]
    thresholds: tuple[float, ...]
    sets: dict[str, tuple[int, ...]]  # {name: deltas}, the first the one of the main tables
    models: list[Model]


def read_inputs(args: argparse.Namespace) -> Inputs:
    """Read and check every input of a run (compute_mAP.py's arguments).

    Raises:
        DataError, ValueError: bad input (a missing or malformed file, a bad --deltas).
    """
    output = Path(args.output)
    metric_names = check_metrics(args.metric)
    started = time.perf_counter()
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
    models = []
    for prefix in args.prefix:
        if args.results_spotting:  # read once per model: the spots at each metric's resolution
            folder = json_folder(Path(args.predictions), prefix, args.results_spotting, args.testing)
            models.append(Model(prefix, None, {
                metric: load_results_spotting(args.testing, folder, args.results_spotting, json_rate(metric))
                for metric in metric_names}))
        else:
            models.append(Model(prefix, load_spotting_outputs(args.testing, args.predictions, prefix), None))
    return Inputs(started, metric_names, ground_truth, chance_truth, spot_plots, methods, thresholds, sets, models)


def json_rate(metric: str) -> int:
    """Positions per second at which a metric scores results_spotting.json files."""
    return 1 if metric == "paper" else SOCCERNET_FRAMERATE


def json_folder(predictions: Path, prefix: str, name: str, list_path: str) -> Path:
    """The folder of a model's results_spotting.json files: `<predictions>/<prefix>`, else
    `<predictions>/results_spotting_<prefix>` (ClassificationSecondBased.py's layout)."""
    direct = predictions / prefix
    if direct.is_dir():
        return direct
    fallback = results_spotting_dir(predictions, prefix)
    if fallback.is_dir():
        return fallback
    game = dataset.read_game_list(list_path)[0]
    raise DataError(direct / game / name, "results_spotting file not found")


def _spot_plot_inputs(args, output: Path) -> list[tuple]:
    """`--plot_spots`: per model and chosen game, (prefix, game, JSON file, its spots or None). Files this
    run writes (`--write_json`) are read when plotted; all others are read (so checked) here, first."""
    games = dataset.read_game_list(args.testing)
    chosen = [g for g in games if g in games_to_plot(args.plot_spots, games, args.testing, "--plot_spots")]
    later = bool(args.write_json and not args.results_spotting)
    inputs = []
    for prefix in args.prefix:
        if args.results_spotting:
            folder = json_folder(Path(args.predictions), prefix, args.results_spotting, args.testing)
            name = args.results_spotting
        else:
            folder = results_spotting_dir(output if later else args.predictions, prefix)
            name = RESULTS_SPOTTING
        for game in chosen:
            path = folder / game / name
            inputs.append((prefix, game, path, None if later else read_results_spotting(path)))
    return inputs
