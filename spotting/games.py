"""What a spotting run spots and where its outputs go (no TensorFlow).

The games are those of a list (`--testing`, or its `--shard` part) or the one game folder of `--game`.
Each half's windows, one per second, are spotted in batches (`windows_of_half`: the original's four
consecutive parts in `batch` batch-norm mode); each game's per-half arrays are written where
compute_mAP.py reads them, `<output_dir>/<game>/<output>_Half_<h>.npy`, then its SoccerNet
`results_spotting.json` (last: it marks the game done); a timeline plot for the games `--plot_games`
names.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import dataset
from base import classes, errors, files, labels
from evaluation import outputs, plots
from runtime import model_flags, rundir

log = logging.getLogger("ClassificationSecondBased")


# ------------------------------------------------------------------------------------------------
# Windows


def windows_of_half(n_windows: int, bn_mode: str, batch_size: int) -> list[np.ndarray]:
    """Batches of the windows of one half: the original's four consecutive parts in `batch` mode
    ([0, n//4), [n//4, 2n//4), [2n//4, 3n//4), [3n//4, n)), else batches of batch_size."""
    if bn_mode == "batch":
        bounds = [0, n_windows // 4, 2 * n_windows // 4, 3 * n_windows // 4, n_windows]
        return [np.arange(bounds[i], bounds[i + 1]) for i in range(4) if bounds[i + 1] > bounds[i]]
    return [np.arange(b, min(b + batch_size, n_windows)) for b in range(0, n_windows, batch_size)]


# ------------------------------------------------------------------------------------------------
# Outputs


def write_game_outputs(args, game: str, prefix: str, probabilities: dict[int, np.ndarray],
                       spotted: classes.ClassSet, plot: Callable[[], object] | None = None) -> None:
    """A game's files, where compute_mAP.py reads them: its timeline plot first (`plot`, for the plotted
    games), then the per-half arrays, then its results_spotting.json. The last of them marks the game done
    (`game_done`), so a process killed at any point leaves a game that a rerun spots again whole."""
    if plot is not None:
        plot()
    for half, array in probabilities.items():
        path = outputs.prediction_file(args.output_dir, game, prefix, half)
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_npy_atomic(path, array.astype(np.float32))
    if not args.no_json:
        target = outputs.results_spotting_file(args.output_dir, prefix, game)
        target.parent.mkdir(parents=True, exist_ok=True)
        outputs.write_results_spotting(target, outputs.results_spotting_json(
            probabilities, args.json_method, args.json_threshold, game, classes=spotted))


def check_zip(args) -> None:
    """`--zip FILE`: refused before any work when FILE is a folder or its folder does not exist."""
    if not getattr(args, "zip", None):
        return
    target = Path(args.zip)
    if target.is_dir():
        raise errors.DataError(args.zip, "--zip: is a folder, not a zip file to write")
    if not target.parent.is_dir():
        raise errors.DataError(args.zip, "--zip: its folder does not exist")


def write_zip(args, prefix: str, games: list[str]) -> int:
    """`--zip FILE`: the games' results_spotting.json files in one zip, `<game>/results_spotting.json` (written
    whole or not at all). Returns the exit code (0)."""
    if not getattr(args, "zip", None):
        return 0
    contents = [(game, json.loads(outputs.results_spotting_file(args.output_dir, prefix, game).read_text("utf-8")))
                for game in games]
    outputs.write_results_spotting_zip(args.zip, contents)
    print(f"{args.zip}: the results_spotting.json of {len(games)} game{'' if len(games) == 1 else 's'} "
          f"({prefix})")
    return 0


def game_done(args, game: str, prefix: str) -> bool:
    return outputs.game_outputs_done(args.output_dir, game, prefix, with_json=not args.no_json)


def json_note(args, prefix: str) -> str:
    """Where the results_spotting.json files are, and what they hold."""
    if args.no_json:
        return ""
    return (f"; SoccerNet JSON ({args.json_method} candidates above {args.json_threshold:g}, with their "
            f"confidences) in {outputs.results_spotting_dir(args.output_dir, prefix)}")


def game_events(root: Path, game: str, spotted: classes.ClassSet) -> list[labels.Event]:
    """The annotations of a game for its timeline plot: the first of the class set's label files it has, or
    none."""
    for name in spotted.label_files:
        if (root / game / name).is_file():
            return labels.read_labels(root / game / name, spotted)
    return []


# ------------------------------------------------------------------------------------------------
# The games of a run


def games_of(args) -> tuple[list[str], Path, Path]:
    """The games to spot: those of --testing (its --shard part), or the one --game folder. Returns
    (games, data root, the path that names them in messages)."""
    if args.game:
        folder = Path(args.game).resolve()
        if not folder.is_dir():
            raise errors.DataError(args.game, "game folder not found")
        return [folder.name], folder.parent, Path(args.game)
    games = dataset.read_game_list(args.testing)
    if args.shard is not None:
        index, count = args.shard
        games = games[index - 1::count]
    return games, dataset.data_root_for(args.testing, args.SoccerNet_path), Path(args.testing)


def plotted_games(args, games: list[str]) -> set[str]:
    """The games of this run to draw timelines of (`--plot_games` counts in the whole list)."""
    if args.game:
        return set(games)
    return plots.games_to_plot(args.plot_games, dataset.read_game_list(args.testing), args.testing) & set(games)


@dataclass
class Job:
    """A spotting run: the model, its settings, the games and those of them still to spot."""

    model_file: Path
    settings: dict  # the model flags, from the command line and the run (model_flags.resolve_settings)
    prefix: str  # of the output files, <prefix>_Half_<h>.npy
    games: list[str]
    root: Path  # the data root
    source: Path  # the list (or game folder) that names the games in messages
    pending: list[str]  # the games to spot: all with --redo, else those whose outputs are not all there
    plotted: set[str]


def prepare(args) -> Job:
    """The job of `args` (a model's spotting run); logs how many games are left to spot."""
    model_file = rundir.model_file(args.model)
    recorded = rundir.read_args(model_file.parent, required=False)
    settings = model_flags.resolve_settings(args, recorded, model_file)
    prefix = args.output or model_file.parent.name
    games, root, source = games_of(args)
    pending = [g for g in games if args.redo or not game_done(args, g, prefix)]
    plotted = plotted_games(args, games)
    log.info("%s: %d game%s, %d to spot (%d done)", source, len(games), "" if len(games) == 1 else "s", len(pending),
             len(games) - len(pending))
    return Job(model_file, settings, prefix, games, root, source, pending, plotted)


def report(args, job: Job) -> int:
    """Print where the job's outputs are. Returns the exit code (0)."""
    games, prefix = job.games, job.prefix
    print(f"{prefix}: per-second probabilities of {len(games)} game{'' if len(games) == 1 else 's'} in "
          f"{args.output_dir}" + json_note(args, prefix))
    if args.game:
        print(f"  {outputs.prediction_file(args.output_dir, games[0], prefix, 1).parent}/{prefix}_Half_{{1,2}}.npy, "
              f"timeline {outputs.timeline_file(args.output_dir, games[0], prefix)}")
    return 0
