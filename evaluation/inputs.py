"""What a compute_mAP.py run reads, all of it read and checked before TensorFlow starts and before
anything is written (`read_inputs`): the flags that go together, the thresholds of an earlier run
(`--thresholds_from`), each model's predictions (or results_spotting.json files, in folders or a zip), whose
width names the class set when `--classes` does not, the ground truth, the chance baseline's training labels,
the spots to plot and the grid. No TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import dataset
from base import files
from base.classes import LABEL_FILES, V1, ClassSet, class_set
from base.errors import DataError
from evaluation import truth
from evaluation.candidates import DEFAULT_THRESHOLDS, SOCCERNET_FRAMERATE, SPOTS, check_metrics, delta_sets
from evaluation.outputs import (RESULTS_SPOTTING, is_results_zip, load_results_spotting, load_spotting_outputs,
                                open_results_zip, prediction_class_set, read_results_spotting,
                                read_results_spotting_zip, results_spotting_dir)
from evaluation.plots import games_to_plot

log = logging.getLogger(__name__)

# What the report says about the best thresholds (results.json's settings and each model's report).
CHOSEN_HERE = "chosen on these games (the paper's setting)"
PREFIX_FIELD = "{prefix}"  # in --results_spotting ZIP and --zip, each model's prefix


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
    spot_plots: list[tuple]  # (prefix, game, where the JSON is, its spots or None: read when plotted)
    methods: tuple[str, ...]
    thresholds: tuple[float, ...]
    sets: dict[str, tuple[int, ...]]  # {name: deltas}, the first the one of the main tables
    models: list[Model]
    classes: ClassSet = V1
    label_file: str = V1.label_file
    # --thresholds_from: {prefix: {metric: {method: (threshold, its Average-mAP there)}}}; None: chosen here
    chosen: dict[str, dict[str, dict[str, tuple[float, float]]]] | None = None
    thresholds_note: str = CHOSEN_HERE
    # per half, per class, whether each event of `ground_truth` is shown (SoccerNet-v2's `visibility`)
    visibility: list[tuple[np.ndarray, ...]] | None = None


def read_inputs(args: argparse.Namespace) -> Inputs:
    """Read and check every input of a run (compute_mAP.py's arguments).

    Raises:
        DataError, ValueError: bad input (a missing or malformed file, flags that contradict each other).
    """
    output = Path(args.output)
    metric_names = check_metrics(args.metric)
    started = time.perf_counter()
    check_flags(args)
    if args.results_spotting:
        methods, thresholds = (SPOTS,), tuple(args.thresholds or (0.0,))
    else:
        methods, thresholds = tuple(dict.fromkeys(args.methods)), tuple(args.thresholds or DEFAULT_THRESHOLDS)
    chosen, their_classes = None, {}
    if args.thresholds_from:  # checked before any other work
        chosen, their_classes = read_thresholds_from(args.thresholds_from, args.prefix, methods, metric_names)
        extra = {t for by_metric in chosen.values() for by_method in by_metric.values() for t, _ in by_method.values()}
        thresholds += tuple(sorted(extra - set(thresholds), reverse=True))  # in the grid, so in grid.csv
    if args.deltas:
        delta_sets(args.deltas)  # a bad --deltas is refused before the predictions are read
    explicit = class_set(args.classes) if args.classes else None
    if explicit is not None:
        check_label_file(args.label_file, explicit)
    models, classes = _read_models(args, metric_names, explicit)
    for prefix, theirs in their_classes.items():  # the earlier run scored the same classes
        if theirs is not None and list(theirs) != list(classes.event_classes):
            raise DataError(args.thresholds_from, f"--thresholds_from: model '{prefix}' was scored on {len(theirs)} "
                                                  f"classes, this run on the {len(classes.event_classes)} of "
                                                  f"{classes.name}")
    label_file = check_label_file(args.label_file, classes)
    sets = delta_sets(args.deltas or (["loose"] if classes is V1 else ["both"]))
    ground_truth, visibility = truth.load_ground_truth(args.testing, args.SoccerNet_path, label_file, classes,
                                                       with_visibility=True)
    log.info("ground truth: %d halves from %s (%s classes, %s)", len(ground_truth), args.testing, classes.name,
             label_file)
    for model in models:
        if model.predictions is not None:
            warn_events_past_predictions(model.prefix, model.predictions, ground_truth, args.testing)
    chance_truth = (truth.load_ground_truth(args.chance, args.SoccerNet_path, label_file, classes)
                    if args.chance else None)
    spot_plots = _spot_plot_inputs(args, output, classes) if args.plot_spots else []
    note = CHOSEN_HERE if chosen is None else f"from {args.thresholds_from}"
    return Inputs(started, metric_names, ground_truth, chance_truth, spot_plots, methods, thresholds, sets, models,
                  classes, label_file, chosen, note, visibility)


def warn_events_past_predictions(prefix: str, predictions: list[np.ndarray], ground_truth: list[tuple[np.ndarray, ...]],
                                 list_path: str) -> None:
    """A warning for each half whose annotations lie far (`dataset.LATE_EVENT_SECONDS`) past the end of a
    model's per-second predictions: predictions cut short, or labels of another video. Scored as they are."""
    games = None
    for number, (array, events) in enumerate(zip(predictions, ground_truth)):
        last = max((float(np.max(times)) for times in events if len(times)), default=0.0)
        if last > len(array) + dataset.LATE_EVENT_SECONDS:
            games = games or dataset.read_game_list(list_path)  # for the names, read when one is warned of
            log.warning("%s half %d: an annotation at %g s, more than %g s past the end of %s's %d s of predictions",
                        games[number // 2], number % 2 + 1, last, dataset.LATE_EVENT_SECONDS, prefix, len(array))


def check_label_file(label_file: str | None, classes: ClassSet) -> str:
    """`--label_file`, or the class set's own when not given; one the class set cannot read is refused.

    Raises:
        DataError: v1 labels (Labels.json) for the v2 classes.
    """
    label_file = label_file or classes.label_file
    if label_file in LABEL_FILES and label_file not in classes.label_files:
        raise DataError("--label_file", f"the {classes.name} classes are read from {classes.label_file}, "
                                        f"not from {label_file}")
    return label_file


def check_flags(args: argparse.Namespace) -> None:
    """The flags that go together, before any file is read.

    Raises:
        DataError: naming the flag, or an output that cannot be written.
    """
    several = len(args.prefix) > 1
    repeated = [prefix for number, prefix in enumerate(args.prefix) if prefix in args.prefix[:number]]
    if repeated:
        raise DataError("--prefix", f"{repeated[0]!r} is given twice")
    # Where the outputs go, before any work: the folder, and its parent where they are staged.
    files.check_output_folder(args.output, "--output")
    files.check_output_folder(Path(args.output).absolute().parent, "--output")
    if args.zip:
        if not args.write_json or args.results_spotting:
            raise DataError("--zip", "goes with --write_json, which writes the best spots of .npy predictions")
        if not is_results_zip(args.zip):
            raise DataError("--zip", f"expected a file name ending in .zip, got '{args.zip}'")
        if several and PREFIX_FIELD not in args.zip:
            raise DataError("--zip", f"several models (--prefix) need {PREFIX_FIELD} in the zip's name")
        for prefix in args.prefix:
            files.check_output_file(args.zip.replace(PREFIX_FIELD, prefix), "--zip")
    if args.results_spotting and is_results_zip(args.results_spotting) and several \
            and PREFIX_FIELD not in args.results_spotting:
        raise DataError("--results_spotting", f"several models (--prefix) need {PREFIX_FIELD} in the zip's path")


def read_thresholds_from(path: str, prefixes, methods, metrics) -> tuple[dict, dict]:
    """`--thresholds_from`: each model's, metric's and method's best threshold in the results.json of an
    earlier compute_mAP.py run (on other games, e.g. the validation list), with its Average-mAP there.

    Returns:
        ({prefix: {metric: {method: (threshold, Average-mAP)}}}, {prefix: the event classes it was scored
        on, or None where the file does not say}).

    Raises:
        DataError: a missing file, not such a results.json, or one without a model, metric or method asked.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(file, "--thresholds_from: file not found")
    try:
        content = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(file, f"--thresholds_from: invalid JSON ({exc})") from None
    models = content.get("models") if isinstance(content, dict) else None
    if not isinstance(models, dict):
        raise DataError(file, "--thresholds_from: not a results.json of compute_mAP.py (no 'models')")
    chosen, their_classes = {}, {}
    for prefix in prefixes:
        report = models.get(prefix)
        if not isinstance(report, dict):
            raise DataError(file, f"--thresholds_from: no model '{prefix}' (it has {', '.join(sorted(models))})")
        chosen[prefix] = {}
        for metric in metrics:
            best = report.get(metric, {}).get("best", {}) if isinstance(report.get(metric), dict) else {}
            chosen[prefix][metric] = {}
            for method in methods:
                entry = best.get(method) if isinstance(best, dict) else None
                try:
                    threshold, score = float(entry["threshold"]), float(entry["average_mAP"])
                except (KeyError, TypeError, ValueError):
                    raise DataError(file, f"--thresholds_from: model '{prefix}' has no best threshold of method "
                                          f"'{method}' for the {metric} metric") from None
                if not 0 <= threshold <= 1:
                    raise DataError(file, f"--thresholds_from: model '{prefix}': threshold {threshold} not in [0, 1]")
                chosen[prefix][metric][method] = (threshold, score)
        their_classes[prefix] = report.get("classes")
    return chosen, their_classes


def _read_models(args, metric_names, explicit: ClassSet | None) -> tuple[list[Model], ClassSet]:
    """Each model's predictions or spots, and the class set: `--classes`, else the prediction arrays' width
    (every model's the same), else v1."""
    models, classes, first = [], explicit, None
    several = len(args.prefix) > 1
    for prefix in args.prefix:
        if args.results_spotting:  # read once per model: the spots at each metric's resolution
            classes = classes or V1
            source = json_source(Path(args.predictions), prefix, args.results_spotting, args.testing, several)
            name = RESULTS_SPOTTING if is_results_zip(source) else args.results_spotting
            models.append(Model(prefix, None, {
                metric: load_results_spotting(args.testing, source, name, json_rate(metric), classes)
                for metric in metric_names}))
            continue
        predictions = load_spotting_outputs(args.testing, args.predictions, prefix, explicit)
        found = prediction_class_set(predictions)
        if classes is None and found is not None:
            classes, first = found, prefix
            log.info("classes: %s (the width of %s's predictions)", found.name, prefix)
        elif found is not None and found is not classes:  # only when inferred: --classes is checked per file
            game = dataset.read_game_list(args.testing)[0]
            raise DataError(Path(args.predictions) / game / f"{prefix}_Half_1.npy",
                            f"(seconds, {found.num_classes}) arrays of the {found.name} classes, but {first}'s are "
                            f"of the {classes.name} classes")
        models.append(Model(prefix, predictions, None))
    return models, classes or V1


def json_rate(metric: str) -> int:
    """Positions per second at which a metric scores results_spotting.json files."""
    return 1 if metric == "paper" else SOCCERNET_FRAMERATE


def json_source(predictions: Path, prefix: str, name: str, list_path: str, several: bool = False) -> Path:
    """Where a model's results_spotting.json files are. A zip (NAME ends in .zip, `{prefix}` replaced by
    the model's): the path as given, else under `predictions`. Else the folder `<predictions>/<prefix>`,
    else `<predictions>/results_spotting_<prefix>` (ClassificationSecondBased.py's layout)."""
    if is_results_zip(name):
        given = Path(name.replace(PREFIX_FIELD, prefix))
        return given if given.is_file() or given.is_absolute() or not (predictions / given).is_file() \
            else predictions / given
    return json_folder(predictions, prefix, name, list_path)


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


def _spot_plot_inputs(args, output: Path, classes: ClassSet) -> list[tuple]:
    """`--plot_spots`: per model and chosen game, (prefix, game, where its JSON is, its spots or None). Files
    this run writes (`--write_json`) are read when plotted; all others are read (so checked) here, first."""
    games = dataset.read_game_list(args.testing)
    chosen = [g for g in games if g in games_to_plot(args.plot_spots, games, args.testing, "--plot_spots")]
    later = bool(args.write_json and not args.results_spotting)
    inputs = []
    for prefix in args.prefix:
        if args.results_spotting and is_results_zip(args.results_spotting):
            source = json_source(Path(args.predictions), prefix, args.results_spotting, args.testing)
            with open_results_zip(source) as archive:
                inputs += [(prefix, game, source / game / RESULTS_SPOTTING,
                            read_results_spotting_zip(archive, source, game, classes=classes)) for game in chosen]
            continue
        if args.results_spotting:
            folder = json_folder(Path(args.predictions), prefix, args.results_spotting, args.testing)
            name = args.results_spotting
        else:
            folder = results_spotting_dir(output if later else args.predictions, prefix)
            name = RESULTS_SPOTTING
        for game in chosen:
            path = folder / game / name
            inputs.append((prefix, game, path, None if later else read_results_spotting(path, classes=classes)))
    return inputs
