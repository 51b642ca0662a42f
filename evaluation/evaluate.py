"""What compute_mAP.py runs once its arguments are parsed and checked, its inputs read (`inputs.read_inputs`)
and TensorFlow started (`run`): each model's predictions (or results_spotting.json files) scored over the
grid, the chance baseline, and the output files (results.json, grid.csv, summary.csv, the plots, the best
spots as results_spotting.json files and, with --zip, their zip). With --thresholds_from, each method's best
threshold is the earlier run's, not the one chosen on these games. The engine on the array module
`args.backend` names (`backend`).
"""
from __future__ import annotations

import argparse
import functools
import logging
import shutil
import time
from pathlib import Path
from typing import Sequence

import numpy as np

import dataset
from base import files, labels as label_files
from base.classes import V1, ClassSet
from evaluation.candidates import SOCCERNET_FRAMERATE, SPOTS
from evaluation.engine import evaluate
from evaluation.inputs import PREFIX_FIELD, Inputs, json_rate
from evaluation.outputs import (EVALUATION_RESULTS, prediction_file, read_prediction_file, read_results_spotting,
                                results_spotting_dir, results_spotting_file, results_spotting_json,
                                write_results_spotting, write_results_spotting_zip)
from evaluation.plots import plot_results, plot_spots, spots_plot_file
from evaluation.report import format_comparison, format_report, grid_csv, summary_csv

log = logging.getLogger(__name__)


def run(args: argparse.Namespace, inputs: Inputs) -> dict[str, dict]:
    """Evaluate every model of the command line (`inputs`, read by `read_inputs`); write the output files;
    return {model: report}."""
    output = Path(args.output)
    metric_names, ground_truth, classes = inputs.metric_names, inputs.ground_truth, inputs.classes
    visibility = inputs.visibility
    methods, thresholds, sets = inputs.methods, inputs.thresholds, inputs.sets
    deltas = next(iter(sets.values()))
    results, lengths, best_json = {}, None, []
    for model in inputs.models:
        began = time.perf_counter()
        prefix, predictions, spots = model.prefix, model.predictions, model.spots
        for name, chosen in sets.items():
            grid = functools.partial(_score, args, model, ground_truth, visibility, classes, deltas=chosen)
            report = grid(methods, thresholds, metric_names)
            if inputs.chosen is not None:
                _thresholds_from(report, inputs.chosen[prefix], grid)
            report["best_thresholds"] = inputs.thresholds_note
            if classes is not V1 and "soccernet" in report["metrics"]:  # v2's headline: the official metric
                report["headline"] = "soccernet"
                report["metrics"] = ["soccernet"] + [m for m in report["metrics"] if m != "soccernet"]
            if prefix not in results:
                results[prefix] = report
                if lengths is None:  # of the halves in seconds, for the chance baseline
                    lengths = [len(p) for p in predictions] if predictions is not None else \
                        [len(p) for p in spots["paper"]] if "paper" in spots else \
                        [-(-len(p) // SOCCERNET_FRAMERATE) for p in spots["soccernet"]]
            else:  # the tight Average-mAP beside the loose one
                results[prefix][name] = {"deltas": list(chosen), **{m: report[m] for m in metric_names}}
        log.info("%s: %d configurations x %d deltas evaluated in %.2f s", prefix, len(methods) * len(thresholds),
                 sum(len(d) for d in sets.values()), time.perf_counter() - began)
        if args.write_json and not args.results_spotting:
            best_json.append((prefix, predictions, inputs.chosen[prefix] if inputs.chosen else None))
    chance = None
    if inputs.chance_truth is not None:
        # A JSON file's halves end at their last spot: at least as long as their last event, then.
        lengths = [max(n, 1 + int(max((float(t) for c in gt for t in c), default=0)))
                   for n, gt in zip(lengths, ground_truth)]
        chance = evaluate(chance_spots(inputs.chance_truth, lengths, classes), ground_truth, methods=(SPOTS,),
                          thresholds=(0.0,), deltas=deltas, metric=args.metric, classes=classes,
                          visibility=visibility, backend=args.backend)
        chance["training_list"] = str(args.chance)
    # Every file is written into a staging folder and then moved into --output, results.json last (the
    # marker of a complete evaluation): a killed evaluation leaves no half of one, and two evaluations into
    # one folder leave the files of one of them.
    stage = files.staging_folder(output)
    try:
        plotted = _write_outputs(args, inputs, results, chance, best_json, stage)
        files.publish(stage, output, EVALUATION_RESULTS)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    for prefix, report in results.items():
        print(format_report(prefix, report))
        print(f"  best thresholds: {inputs.thresholds_note}")
    if len(results) > 1 or chance:
        print(format_comparison(results, chance))
    print(f"written: {output / EVALUATION_RESULTS}, grid.csv, summary.csv"
          + ("" if args.no_plots else ", plots") + (f", {len(plotted)} spot plots" if plotted else "")
          + f" ({time.perf_counter() - inputs.started:.1f} s)")
    return results


def _write_outputs(args, inputs: Inputs, results: dict, chance: dict | None, best_json: list, output: Path) -> list:
    """The evaluation's files in `output` (the staging folder): the best JSON files, results.json, the CSV
    files, the plots. Returns the spot plots drawn."""
    classes, metric_names = inputs.classes, inputs.metric_names
    for prefix, predictions, chosen in best_json:
        _write_best_json(args, prefix, predictions, results[prefix], output, classes, chosen)
    settings = {"testing": str(args.testing), "SoccerNet_path": args.SoccerNet_path,
                "predictions": str(args.predictions), "results_spotting": args.results_spotting,
                "label_file": inputs.label_file, "classes": classes.name, "best_thresholds": inputs.thresholds_note}
    files.write_json_atomic(output / EVALUATION_RESULTS, {"settings": settings, "models": results,
                                                          **({"chance": chance} if chance else {})})
    files.write_text_atomic(output / "grid.csv", grid_csv(results))
    files.write_text_atomic(output / "summary.csv", summary_csv(results))
    if not args.no_plots:
        for metric in metric_names:
            plot_results(results, output, metric, classes)
    return _plot_spots(args, inputs.spot_plots, classes, inputs.label_file, output)


def chance_spots(training_truth, lengths: Sequence[int], classes: ClassSet = V1) -> list[np.ndarray]:
    """The chance baseline's spot arrays (positions, 1 + C) for halves of these lengths: per class, round(m)
    spots at a uniform cadence (at ((i + 1/2) n / round(m)) for i < round(m)), m the class's mean count of
    events per half in `training_truth` (`truth.load_ground_truth` of a training list), all with confidence 1."""
    C = len(classes.event_classes)
    means = [float(np.mean([len(gt[c]) for gt in training_truth])) if training_truth else 0.0 for c in range(C)]
    arrays = []
    for n in lengths:
        array = np.full((n, C + 1), -1.0)
        for c, mean in enumerate(means):
            count = int(round(mean))
            if n and count:
                array[((np.arange(count) + 0.5) * n / count).astype(np.int64), c + 1] = 1.0
        arrays.append(array)
    return arrays


def _plot_spots(args, spot_plots: list[tuple], classes: ClassSet, label_file: str, output: Path) -> list[Path]:
    """Each model's spots of the chosen games over its probabilities and the annotations."""
    root = dataset.data_root_for(args.testing, args.SoccerNet_path)
    written = []
    for prefix, game, path, spots in spot_plots:
        if path.is_relative_to(args.output) and (output / path.relative_to(args.output)).is_file():
            path = output / path.relative_to(args.output)  # a JSON file of --write_json, not yet published
        spots = spots if spots is not None else read_results_spotting(path, classes=classes)
        files = [prediction_file(args.predictions, game, prefix, h) for h in dataset.HALVES]
        probabilities = ({h: read_prediction_file(f, classes) for h, f in zip(dataset.HALVES, files)}
                         if all(f.is_file() for f in files) else None)
        labels = root / game / label_file
        events = label_files.read_labels(labels, classes) if labels.is_file() else []
        written.append(plot_spots(spots_plot_file(output, prefix, game), game, spots, probabilities, events,
                                  f"{prefix}: the spots of its {path.name}", classes=classes))
    return written


def _score(args, model, ground_truth, visibility, classes: ClassSet, methods, thresholds, metrics, deltas) -> dict:
    """One model's grid report over these methods, thresholds, metrics and deltas: its .npy predictions by
    `engine.evaluate`, or its JSON spots (`_evaluate_json`)."""
    if args.results_spotting:
        return _evaluate_json(model.spots, ground_truth, visibility, thresholds, metrics, deltas, classes,
                              args.backend)
    return evaluate(model.predictions, ground_truth, methods=methods, thresholds=thresholds, deltas=deltas,
                    metric=metrics[0] if len(metrics) == 1 else args.metric, classes=classes,
                    visibility=visibility, backend=args.backend)


def _evaluate_json(spots: dict[str, list[np.ndarray]], ground_truth, visibility, thresholds, metric_names, deltas,
                   classes: ClassSet = V1, backend: str | None = None) -> dict:
    """Score results_spotting.json files: the paper's metric per second, the official one at its 0.5 s
    frames (as the package reads the files), each on the spots read at its own resolution
    (`spots[metric]`, `load_results_spotting` at `json_rate(metric)`)."""
    reports = {}
    for metric in metric_names:
        reports[metric] = evaluate(spots[metric], ground_truth, methods=(SPOTS,), thresholds=thresholds,
                                   deltas=deltas, metric=metric, spot_rate=json_rate(metric), classes=classes,
                                   visibility=visibility, backend=backend)
    report = dict(reports[metric_names[0]])
    report["metrics"] = list(metric_names)
    for metric in metric_names[1:]:
        report[metric] = reports[metric][metric]
    if "soccernet" in reports:
        report["events_soccernet"] = reports["soccernet"]["events_soccernet"]
        report["spot_resolution"] = {metric: f"{1 / json_rate(metric):g} s" for metric in metric_names}
    return report


def _thresholds_from(report: dict, chosen: dict[str, dict[str, tuple[float, float]]], grid) -> None:
    """Replace each metric's and method's best entry of `report` by the entry at the threshold of an earlier
    run (`chosen[metric][method]`), scored by `grid(methods, thresholds, metrics)` (`_score`) on these games: the
    engine's own entry of a one-threshold grid (so every field it reports), its `threshold_index` the
    threshold's place in this run's grid (which holds it, `inputs.read_inputs`)."""
    for metric, by_method in chosen.items():
        for method, (threshold, _) in by_method.items():
            one = grid((method,), (threshold,), (metric,))[metric]["best"][method]
            report[metric]["best"][method] = {**one, "threshold_index": report["thresholds"].index(threshold)}


def _write_best_json(args, prefix: str, predictions: list[np.ndarray], report: dict, output: Path,
                     classes: ClassSet = V1, chosen: dict | None = None) -> None:
    """The best spots of a model as results_spotting.json files (and, with --zip, their zip): the method of
    highest Average-mAP by the headline metric (on these games, or in the --thresholds_from run), at its
    best threshold."""
    headline = report["headline"]
    block = report[headline]
    if chosen is None:
        method = max(report["methods"], key=lambda m: block["best"][m]["average_mAP"])
    else:
        method = max(report["methods"], key=lambda m: chosen[headline][m][1])
    threshold = block["best"][method]["threshold"]
    contents = []
    for i, game in enumerate(dataset.read_game_list(args.testing)):
        target = results_spotting_file(output, prefix, game)
        target.parent.mkdir(parents=True, exist_ok=True)
        by_half = {h: predictions[2 * i + h - 1] for h in dataset.HALVES}
        content = results_spotting_json(by_half, method, threshold, game, classes)
        write_results_spotting(target, content)
        contents.append((game, content))
    log.info("%s: results_spotting.json files (%s, threshold %.2f) under %s", prefix, method, threshold,
             results_spotting_dir(args.output, prefix))
    if args.zip:
        archive = Path(args.zip.replace(PREFIX_FIELD, prefix))
        archive.parent.mkdir(parents=True, exist_ok=True)
        write_results_spotting_zip(archive, contents)
        print(f"written: {archive} ({len(contents)} games, {method}, threshold {threshold:.2f})")
