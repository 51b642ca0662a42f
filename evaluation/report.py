"""What the spotting evaluation reports: the Average-mAP of each metric (the paper's mean over delta, the
package's area under the curve), the summary of a grid (best threshold per method), the grid and summary
CSV files and the text tables. Class names come from the evaluated class set (`base.classes`). For a
version-2 class set the official metric also reports its figures on the shown and on the unshown actions,
as the package's `average_mAP` (SoccerNet/Evaluation/ActionSpotting.py). No TensorFlow.
"""
from __future__ import annotations

import csv
import io
import logging

import numpy as np

from base.classes import V1, ClassSet, class_set
from evaluation.candidates import SPOTS

log = logging.getLogger(__name__)

VISIBILITY_PARTS = ("shown", "unshown")
# The package's `average_mAP` multiplies the unshown Average-mAP (not its per-class values) by 17/13 when
# it averages over more than one delta; a single delta returns the mAP unscaled.
UNSHOWN_SCALE = (17, 13)


def delta_average(values: np.ndarray, deltas: tuple[int, ...], metric: str) -> float:
    """Average-mAP of one curve over delta: the paper's plain mean (in the given order, as the original's
    `sum(...)/len(...)`), or the package's trapezoid area over ascending delta / (number of intervals)."""
    values = [float(v) for v in values]
    if metric == "paper":
        return sum(values) / len(values)
    curve = [values[i] for i in np.argsort(np.asarray(deltas), kind="stable")]
    if len(curve) == 1:
        return curve[0]
    integral = 0.0
    for i in range(len(curve) - 1):
        integral += (curve[i] + curve[i + 1]) / 2
    return integral / (len(curve) - 1)


def _averages(ap: np.ndarray, deltas, metric: str):
    """(mAP per delta, Average-mAP, per-class Average-AP) of an AP array (methods, thresholds, deltas, classes).
    The class axis made contiguous first: NumPy's mean sums a contiguous row pairwise (in blocks of 8), a
    strided one otherwise, and the package's `np.mean` of one class vector is the contiguous sum."""
    ap = np.ascontiguousarray(ap)
    mean_ap = ap.mean(axis=-1)
    M, T, D, C = ap.shape
    average = np.array([[delta_average(mean_ap[m, t], deltas, metric) for t in range(T)] for m in range(M)])
    average_ap = np.array([[[delta_average(ap[m, t, :, c], deltas, metric) for c in range(C)] for t in range(T)]
                           for m in range(M)])
    return mean_ap, average.reshape(M, T), average_ap.reshape(M, T, C)


def metric_summary(ap: np.ndarray, methods, thresholds, deltas, metric: str, classes: ClassSet | str = V1,
                   split: dict | None = None) -> dict:
    """ap: (methods, thresholds, deltas, classes) -> the JSON block of one metric. `split`: {"shown": ap,
    "unshown": ap} of the official metric on a version-2 class set, added as `AP_shown`, `mAP_shown`,
    `average_mAP_shown`, `average_AP_shown` (and `_unshown`), also in `best`."""
    names = class_set(classes).event_classes
    mean_ap, average, average_ap = _averages(ap, deltas, metric)
    block = {
        "average": ("mean of mAP over delta" if metric == "paper"
                    else "area under the mAP-delta curve (trapezoids over ascending delta) / number of intervals"),
        "AP": {m: ap[i].tolist() for i, m in enumerate(methods)},
        "mAP": {m: mean_ap[i].tolist() for i, m in enumerate(methods)},
        "average_mAP": {m: average[i].tolist() for i, m in enumerate(methods)},
        "average_AP": {m: average_ap[i].tolist() for i, m in enumerate(methods)},
        "best": {},
    }
    for i, m in enumerate(methods):
        t = int(np.argmax(average[i]))  # the first (highest in the default order) on ties
        block["best"][m] = {
            "threshold": thresholds[t], "threshold_index": t, "average_mAP": float(average[i, t]),
            "average_AP": {name: float(average_ap[i, t, c]) for c, name in enumerate(names)},
            "mAP": mean_ap[i, t].tolist(),
            "AP": {name: ap[i, t, :, c].tolist() for c, name in enumerate(names)},
        }
    for part in VISIBILITY_PARTS if split else ():
        part_ap = np.asarray(split[part], np.float64)
        part_mean, part_average, part_average_ap = _averages(part_ap, deltas, metric)
        if part == "unshown" and len(deltas) > 1:
            part_average = part_average * UNSHOWN_SCALE[0] / UNSHOWN_SCALE[1]
        block[f"AP_{part}"] = {m: part_ap[i].tolist() for i, m in enumerate(methods)}
        block[f"mAP_{part}"] = {m: part_mean[i].tolist() for i, m in enumerate(methods)}
        block[f"average_mAP_{part}"] = {m: part_average[i].tolist() for i, m in enumerate(methods)}
        block[f"average_AP_{part}"] = {m: part_average_ap[i].tolist() for i, m in enumerate(methods)}
        for i, m in enumerate(methods):
            best, t = block["best"][m], block["best"][m]["threshold_index"]
            best[f"average_mAP_{part}"] = float(part_average[i, t])
            best[f"average_AP_{part}"] = {name: float(part_average_ap[i, t, c]) for c, name in enumerate(names)}
            best[f"mAP_{part}"] = part_mean[i, t].tolist()
            best[f"AP_{part}"] = {name: part_ap[i, t, :, c].tolist() for c, name in enumerate(names)}
    if split:
        block["unshown_scale"] = (f"average_mAP_unshown x {UNSHOWN_SCALE[0]}/{UNSHOWN_SCALE[1]} over more than one "
                                  "delta, as the package (not the per-class values, not a single delta)")
    return block


def grid_report(methods, thresholds, deltas, metrics, halves, events, events_soccernet, counts, aps,
                classes: ClassSet | str = V1, split: dict | None = None, split_events: dict | None = None) -> dict:
    """The JSON-able report of a grid evaluation (see `engine.evaluate`), from the AP arrays of each metric
    (`aps[metric]`: (methods, thresholds, deltas, classes)) and the candidate counts.

    `split`: the official metric's AP arrays on the shown and the unshown actions ({"shown": ap, "unshown":
    ap}, version-2 class sets), `split_events` their event counts ({"shown": {class: n}, "unshown": ...}),
    reported as `events_soccernet_shown` and `events_soccernet_unshown`. A class without ground-truth events
    keeps AP 0 in the paper's metric (counted in its mAP), with a warning naming it."""
    classes = class_set(classes)
    report = {
        "methods": list(methods), "thresholds": list(thresholds), "deltas": list(deltas),
        "classes": list(classes.event_classes), "class_set": classes.name, "metrics": list(metrics),
        "headline": metrics[0], "halves": halves, "events": events,
        "spots": {m: np.asarray(counts[i]).tolist() for i, m in enumerate(methods)},
    }
    if events_soccernet is not None:
        report["events_soccernet"] = events_soccernet
    for part in VISIBILITY_PARTS if split_events else ():
        report[f"events_soccernet_{part}"] = split_events[part]
    missing = [name for name in classes.event_classes if not events.get(name)]
    if "paper" in metrics and missing and halves:
        log.warning("paper metric: no ground-truth events of %s in the %d halves evaluated: AP 0 (counted in the "
                    "mAP)", ", ".join(missing), halves)
    for metric in metrics:
        report[metric] = metric_summary(np.asarray(aps[metric], np.float64), methods, thresholds, deltas, metric,
                                        classes, split if metric == "soccernet" else None)
    return report


# ------------------------------------------------------------------------------------------------
# Output files


def _class_names(results: dict[str, dict]) -> list[str]:
    """The event classes shared by every report (one CSV header)."""
    names = [list(r["classes"]) for r in results.values()]
    if any(n != names[0] for n in names):
        raise ValueError("the reports differ in their classes: one CSV file per class set")
    return names[0] if names else list(V1.event_classes)


def _has_split(results: dict[str, dict]) -> bool:
    return any("average_mAP_shown" in r.get("soccernet", {}) for r in results.values())


def grid_csv(results: dict[str, dict]) -> str:
    """The full grid, one row per (model, metric, method, threshold, delta); with the official metric's
    shown/unshown split (version-2 class sets) also `mAP_shown` and `mAP_unshown` (empty for the paper's)."""
    names, split = _class_names(results), _has_split(results)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "metric", "method", "threshold", "delta"] + [f"AP_{c}" for c in names] + ["mAP"]
                    + ([f"mAP_{part}" for part in VISIBILITY_PARTS] if split else []))
    for model, report in results.items():
        for metric in report["metrics"]:
            block = report[metric]
            for m in report["methods"]:
                for t, threshold in enumerate(report["thresholds"]):
                    for d, delta in enumerate(report["deltas"]):
                        extra = ([block[f"mAP_{part}"][m][t][d] if f"mAP_{part}" in block else ""
                                  for part in VISIBILITY_PARTS] if split else [])
                        writer.writerow([model, metric, m, threshold, delta] + block["AP"][m][t][d]
                                        + [block["mAP"][m][t][d]] + extra)
    return out.getvalue()


def summary_csv(results: dict[str, dict]) -> str:
    """Average-mAP per (model, metric, method, threshold), with the per-class averages; with the official
    metric's shown/unshown split also `average_mAP_shown`, `average_mAP_unshown` and their per-class
    `average_AP_shown_<class>`, `average_AP_unshown_<class>` (empty for the paper's metric)."""
    names, split = _class_names(results), _has_split(results)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["model", "metric", "method", "threshold", "average_mAP"] + [f"average_AP_{c}" for c in names] + ["best"]
    if split:
        header += [f"average_mAP_{part}" for part in VISIBILITY_PARTS]
        header += [f"average_AP_{part}_{c}" for part in VISIBILITY_PARTS for c in names]
    writer.writerow(header)
    for model, report in results.items():
        for metric in report["metrics"]:
            block = report[metric]
            for m in report["methods"]:
                for t, threshold in enumerate(report["thresholds"]):
                    row = ([model, metric, m, threshold, block["average_mAP"][m][t]] + block["average_AP"][m][t]
                           + [int(block["best"][m]["threshold_index"] == t)])
                    if split:
                        has = "average_mAP_shown" in block
                        row += [block[f"average_mAP_{part}"][m][t] if has else "" for part in VISIBILITY_PARTS]
                        for part in VISIBILITY_PARTS:
                            row += block[f"average_AP_{part}"][m][t] if has else [""] * len(names)
                    writer.writerow(row)
    return out.getvalue()


# ------------------------------------------------------------------------------------------------
# Text tables

WIDE = 4  # more event classes than this: the per-class APs in a table of their own (classes x methods)


def format_report(model: str, report: dict) -> str:
    """Text tables of one model: per metric, Average-mAP per method at its best threshold and at 0.5, the
    per-class APs (averaged over delta) at the best threshold, and the mAP for each delta; for the official
    metric on a version-2 class set also the shown and unshown Average-mAP."""
    lines = [f"== {model}: {report['halves']} halves; events "
             + ", ".join(f"{c} {n}" for c, n in report["events"].items()) + " =="]
    names = report["classes"]
    if report.get("class_set", "v1") != "v1" and "tight" in report and "soccernet" in report["tight"]:
        tight = report["tight"]["soccernet"]["best"]  # SoccerNet-v2's headline, as its challenge reports it
        lines.append("headline: the official tight Average-mAP (deltas 1-5 s), each method at its best t: " + ", ".join(
            f"{m} {100 * tight[m]['average_mAP']:.2f}" for m in report["methods"]))
    wide = len(names) > WIDE
    thresholds = report["thresholds"]
    at_half = thresholds.index(0.5) if 0.5 in thresholds else None
    deltas = report["deltas"]
    for metric in report["metrics"]:
        block = report[metric]
        headline = " (headline)" if metric == report["headline"] else ""
        lines.append(f"{metric} metric{headline}; Average-mAP = {block['average']}")
        split = "average_mAP_shown" in block
        lines.append(f"  {'method':<8}{'best t':>8}{'Avg-mAP':>9}{'@0.50':>8}"
                     + ("".join(f"{part:>9}" for part in VISIBILITY_PARTS) if split else "")
                     + ("   (%, at the best t)" if wide else
                        "".join(f"{'AP ' + c:>9}" for c in names) + "   (%, APs averaged over delta at the best t)"))
        for m in report["methods"]:
            best = block["best"][m]
            half_value = f"{100 * block['average_mAP'][m][at_half]:8.1f}" if at_half is not None else f"{'-':>8}"
            lines.append(f"  {m:<8}{best['threshold']:8.2f}{100 * best['average_mAP']:9.1f}{half_value}"
                         + ("".join(f"{100 * best[f'average_mAP_{part}']:9.1f}" for part in VISIBILITY_PARTS)
                            if split else "")
                         + ("" if wide else "".join(f"{100 * best['average_AP'][c]:9.1f}" for c in names)))
        if wide:
            methods = report["methods"]
            lines.append(f"  {'AP (%) averaged over delta at the best t':<42}" + "".join(f"{m:>9}" for m in methods)
                         + ("".join(f"{m + ' shown/unshown':>22}" for m in methods) if split else ""))
            for c in names:
                best = [block["best"][m] for m in methods]
                lines.append(f"  {c:<42}" + "".join(f"{100 * b['average_AP'][c]:9.1f}" for b in best)
                             + ("".join(f"{100 * b['average_AP_shown'][c]:16.1f} /"
                                        f"{100 * b['average_AP_unshown'][c]:5.1f}" for b in best) if split else ""))
        lines.append(f"  mAP (%) per delta at the best t: {'delta':<6}" + "".join(f"{d:>6}" for d in deltas))
        for m in report["methods"]:
            lines.append(f"  {'':<33}{m:<6}" + "".join(f"{100 * v:6.1f}" for v in block["best"][m]["mAP"]))
        if "tight" in report:
            tight = report["tight"][metric]["best"]
            lines.append(f"  tight Average-mAP (deltas {report['tight']['deltas'][0]}-{report['tight']['deltas'][-1]} s), "
                         "each method at its best t: " + ", ".join(
                             f"{m} {100 * tight[m]['average_mAP']:.1f} (t {tight[m]['threshold']:.2f})"
                             for m in report["methods"]))
    return "\n".join(lines)


def format_comparison(results: dict[str, dict], chance: dict | None = None) -> str:
    """One table of all models: Average-mAP (%) per method at its best threshold, per metric; the chance
    baseline (one value: its spots are the same for every method) as the last row."""
    first = next(iter(results.values()))
    lines = ["== comparison: Average-mAP (%) at each method's best threshold =="]
    for metric in first["metrics"]:
        lines.append(f"{metric} metric")
        lines.append(f"  {'model':<40}" + "".join(f"{m:>10}" for m in first["methods"]))
        for model, report in results.items():
            lines.append(f"  {model:<40}" + "".join(f"{100 * report[metric]['best'][m]['average_mAP']:10.1f}"
                                                   for m in report["methods"]))
        if chance is not None:
            value = 100 * chance[metric]["best"][SPOTS]["average_mAP"]
            lines.append(f"  {'chance (uniform, training frequencies)':<40}" + f"{value:10.1f}" * len(first["methods"]))
    return "\n".join(lines)
