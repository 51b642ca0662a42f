"""What the spotting evaluation reports: the Average-mAP of each metric (the paper's mean over delta, the
package's area under the curve), the summary of a grid (best threshold per method), the grid and summary
CSV files and the text tables. No TensorFlow.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from base.classes import V1
from evaluation.candidates import SPOTS


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


def metric_summary(ap: np.ndarray, methods, thresholds, deltas, metric: str) -> dict:
    """ap: (methods, thresholds, deltas, classes) -> the JSON block of one metric."""
    mean_ap = ap.mean(axis=-1)
    M, T, D, C = ap.shape
    average = np.array([[delta_average(mean_ap[m, t], deltas, metric) for t in range(T)] for m in range(M)])
    average_ap = np.array([[[delta_average(ap[m, t, :, c], deltas, metric) for c in range(C)] for t in range(T)]
                           for m in range(M)])
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
            "average_AP": {name: float(average_ap[i, t, c]) for c, name in enumerate(V1.event_classes)},
            "mAP": mean_ap[i, t].tolist(),
            "AP": {name: ap[i, t, :, c].tolist() for c, name in enumerate(V1.event_classes)},
        }
    return block


def grid_report(methods, thresholds, deltas, metrics, halves, events, events_soccernet, counts, aps) -> dict:
    """The JSON-able report of a grid evaluation (see `engine.evaluate`), from the AP arrays of each metric
    (`aps[metric]`: (methods, thresholds, deltas, classes)) and the candidate counts."""
    report = {
        "methods": list(methods), "thresholds": list(thresholds), "deltas": list(deltas),
        "classes": list(V1.event_classes), "metrics": list(metrics), "headline": metrics[0], "halves": halves,
        "events": events,
        "spots": {m: np.asarray(counts[i]).tolist() for i, m in enumerate(methods)},
    }
    if events_soccernet is not None:
        report["events_soccernet"] = events_soccernet
    for metric in metrics:
        report[metric] = metric_summary(np.asarray(aps[metric], np.float64), methods, thresholds, deltas, metric)
    return report


# ------------------------------------------------------------------------------------------------
# Output files


def grid_csv(results: dict[str, dict]) -> str:
    """The full grid, one row per (model, metric, method, threshold, delta)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "metric", "method", "threshold", "delta"] + [f"AP_{c}" for c in V1.event_classes] + ["mAP"])
    for model, report in results.items():
        for metric in report["metrics"]:
            block = report[metric]
            for m in report["methods"]:
                for t, threshold in enumerate(report["thresholds"]):
                    for d, delta in enumerate(report["deltas"]):
                        writer.writerow([model, metric, m, threshold, delta] + block["AP"][m][t][d]
                                        + [block["mAP"][m][t][d]])
    return out.getvalue()


def summary_csv(results: dict[str, dict]) -> str:
    """Average-mAP per (model, metric, method, threshold), with the per-class averages."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "metric", "method", "threshold", "average_mAP"] + [f"average_AP_{c}" for c in V1.event_classes]
                    + ["best"])
    for model, report in results.items():
        for metric in report["metrics"]:
            block = report[metric]
            for m in report["methods"]:
                for t, threshold in enumerate(report["thresholds"]):
                    writer.writerow([model, metric, m, threshold, block["average_mAP"][m][t]]
                                    + block["average_AP"][m][t] + [int(block["best"][m]["threshold_index"] == t)])
    return out.getvalue()


# ------------------------------------------------------------------------------------------------
# Text tables


def format_report(model: str, report: dict) -> str:
    """Text tables of one model: per metric, Average-mAP per method at its best threshold and at 0.5, the
    per-class APs (averaged over delta) at the best threshold, and the mAP for each delta."""
    lines = [f"== {model}: {report['halves']} halves; events "
             + ", ".join(f"{c} {n}" for c, n in report["events"].items()) + " =="]
    thresholds = report["thresholds"]
    at_half = thresholds.index(0.5) if 0.5 in thresholds else None
    deltas = report["deltas"]
    for metric in report["metrics"]:
        block = report[metric]
        headline = " (headline)" if metric == report["headline"] else ""
        lines.append(f"{metric} metric{headline}; Average-mAP = {block['average']}")
        lines.append(f"  {'method':<8}{'best t':>8}{'Avg-mAP':>9}{'@0.50':>8}"
                     + "".join(f"{'AP ' + c:>9}" for c in V1.event_classes) + "   (%, APs averaged over delta at the best t)")
        for m in report["methods"]:
            best = block["best"][m]
            half_value = f"{100 * block['average_mAP'][m][at_half]:8.1f}" if at_half is not None else f"{'-':>8}"
            lines.append(f"  {m:<8}{best['threshold']:8.2f}{100 * best['average_mAP']:9.1f}{half_value}"
                         + "".join(f"{100 * best['average_AP'][c]:9.1f}" for c in V1.event_classes))
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
