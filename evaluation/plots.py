"""The figures of the evaluation: one game's spots, probabilities and annotations (`plot_spots`, also the
spotting script's timeline), and the result curves (the paper's Figure 2, with SoccerNet-v2's tight deltas
when scored; Average-mAP against the threshold). Each class has one colour in every figure (`class_colours`:
v1's three as before, up to 18 told apart for v2); a game of more than three classes is drawn as a grid of
per-class panels. Legends sit outside the axes, and show each line as it is drawn. Matplotlib (Agg) is
imported when a figure is drawn, so that the modules and scripts that import this one start without it. No
TensorFlow.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

import dataset
from base import errors, files, labels
from base.classes import V1, ClassSet, class_set, of_width
from evaluation.candidates import SPOTS

LEGEND_HANDLE = 4.0  # legend line length (font sizes): long enough to show dashes and dots as drawn


def _pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _line_figure(path: Path, curves: list[tuple], xlabel: str, ylabel: str, title: str,
                 log_x: bool = False) -> Path:
    """One PNG of lines (x, y, line style, colour, label[, marker]), legend outside on the right (hiding no
    data, its lines long enough to show their style); written atomically. `log_x`: a logarithmic x axis
    with plain tick labels at the curves' x values (tight and loose deltas together)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for x, y, style, colour, label, *marker in curves:
        ax.plot(x, y, style, color=colour, marker=marker[0] if marker else "o", ms=3, label=label)
    if log_x:  # ticks 1..5, then every 10 s (and 15): the loose deltas' labels would overlap on a log axis
        values = sorted({float(v) for curve in curves for v in curve[0]})
        ticks = [v for v in values if v <= 5 or v % 10 == 0 or v == 15 or v == values[-1]]
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=7)
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), handlelength=LEGEND_HANDLE)
    return _save_png(plt, fig, path, 120)


def games_to_plot(choice: Sequence[str], games: list[str], list_path, flag: str = "--plot_games") -> set[str]:
    """`--plot_games`, `--plot_spots`: one number N (the first N games) or names of games of the list."""
    if len(choice) == 1 and choice[0].isdigit():
        return set(games[:int(choice[0])])
    unknown = [g for g in choice if g not in games]
    if unknown:
        raise errors.DataError(list_path, f"{flag}: '{unknown[0]}' is not a game of this list")
    return set(choice)


CLASS_COLOURS = {1: "tab:orange", 2: "tab:green", 3: "tab:red"}  # v1: card, subs, goal in every plot
# More classes (v2's 17): matplotlib's tab20 without its two greys, its nine dark tones first, then their
# light tones, so that the two tones of a hue are nine classes apart. Fixed: a class keeps its colour.
MANY_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
                "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")


def class_colours(classes: ClassSet | str | None = V1) -> dict[int, str]:
    """{class 1..C: colour} of a class set, the same in every figure: v1's `CLASS_COLOURS`, else
    `MANY_COLOURS` in class order.

    Raises:
        ValueError: more classes than colours.
    """
    classes = class_set(classes)
    if len(classes.event_classes) <= len(CLASS_COLOURS):
        return {c: CLASS_COLOURS[c] for c in range(1, classes.num_classes)}
    if len(classes.event_classes) > len(MANY_COLOURS):
        raise ValueError(f"{len(classes.event_classes)} classes, colours for {len(MANY_COLOURS)}")
    return {c: MANY_COLOURS[c - 1] for c in range(1, classes.num_classes)}


def spots_plot_file(output: str | os.PathLike, prefix: str, game: str) -> Path:
    """`<output>/spots_<prefix>/<game>.png`: the spots of one game (`plot_spots`)."""
    return Path(output) / f"spots_{prefix}" / f"{game}.png"


@dataclass(frozen=True)
class GameLook:
    """How `plot_spots` draws a game: the spot plot's look (`SPOTS_LOOK`, compute_mAP.py --plot_spots) or
    the timeline's (`TIMELINE_LOOK`, ClassificationSecondBased.py --plot_games)."""

    quantity: str  # what the y axis shows, per half
    top: float  # upper limit of the y axis
    line_width: float  # of the per-second probabilities
    line_alpha: float | None
    line_labels: bool  # the probability lines name their class in the legend
    event_width: float  # of the annotated events (dashed)
    event_alpha: float
    legend_size: int
    legend_each_half: bool  # a legend in each half's axes, else in the first only
    by_class: bool  # each class's lines, spots and events together, else all lines first, then all events
    xlabel: str


SPOTS_LOOK = GameLook(quantity="confidence", top=1.05, line_width=0.6, line_alpha=0.6, line_labels=False,
                      event_width=1.0, event_alpha=0.9, legend_size=7, legend_each_half=True, by_class=True,
                      xlabel="minutes from the start of the half (stems: spots; lines: probabilities; dashed: "
                             "annotated events)")
TIMELINE_LOOK = GameLook(quantity="probability", top=1.02, line_width=0.9, line_alpha=None, line_labels=True,
                         event_width=1.2, event_alpha=0.8, legend_size=8, legend_each_half=False, by_class=False,
                         xlabel="minutes from the start of the half (dashed: annotated events)")


def plot_spots(path: Path, game: str, spots: dict[int, np.ndarray] | None,
               probabilities: dict[int, np.ndarray] | None, events: Sequence[labels.Event], title: str,
               look: GameLook = SPOTS_LOOK, classes: ClassSet | str | None = None) -> Path:
    """One game over both halves: each class's spots (stems at their confidence), its per-second
    probabilities (lines) and the annotated events (dashed), each when given; written atomically. The one
    figure of a game: compute_mAP.py's spot plots (for error analysis) and, with `TIMELINE_LOOK` and no
    spots, ClassificationSecondBased.py's timeline plots. Three classes (v1): one panel per half, all
    classes in each; more (v2): a grid of one panel per class, half 2 after half 1.

    Args:
        spots: {half: (positions, 1 + C) array of `outputs.read_results_spotting` at rate 1, -1 where no
            spot}, or None.
        probabilities: {half: (seconds, 1 + C)} per-second outputs, or None.
        events: the annotations (`labels.read_labels` in the same class set).
        look: `SPOTS_LOOK` or `TIMELINE_LOOK`.
        classes: the class set; None: the one of the arrays' width (v1 without arrays).
    """
    if classes is None:
        arrays = [a for group in (probabilities, spots) if group for a in group.values() if np.ndim(a) == 2]
        classes = of_width(arrays[0].shape[1]) if arrays else V1
    classes = class_set(classes)
    plt = _pyplot()
    if len(classes.event_classes) <= len(CLASS_COLOURS):
        figure = _halves_figure(plt, spots, probabilities, events, look, classes)
    else:
        figure = _class_grid_figure(plt, spots, probabilities, events, look, classes)
    figure.suptitle(f"{title}\n{game}", fontsize=9)
    figure.tight_layout()  # after the title, which it leaves room for
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save_png(plt, figure, path, 110)


def _save_png(plt, figure, path: Path, dpi: int) -> Path:
    """Write a figure as a PNG file, whole or not at all (`files.write_atomic`), and close it."""
    try:
        files.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=dpi,
                                                                  bbox_inches="tight"))
    finally:
        plt.close(figure)
    return path


def _spot_positions(spots, half: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions, confidences) of class c's spots in a half."""
    array = spots.get(half) if spots is not None else None
    if array is None or not len(array):
        return np.zeros(0, np.int64), np.zeros(0)
    where = np.flatnonzero(array[:, c] >= 0)
    return where, array[where, c]


def _event_proxy(plt, look: GameLook):
    """A legend entry drawn as the annotated events are (dashed, grey)."""
    return plt.Line2D([], [], color="0.35", ls="--", lw=look.event_width, alpha=look.event_alpha,
                      label="annotated events")


def _halves_figure(plt, spots, probabilities, events, look: GameLook, classes: ClassSet):
    """v1's figure: one panel per half, the three classes in each; legends outside on the right."""
    colours = class_colours(classes)
    figure, axes = plt.subplots(2, 1, figsize=(12, 5.5), sharey=True)
    for axis, half in zip(axes, dataset.HALVES):
        for c, colour in colours.items():
            name = classes.classes[c]
            if probabilities is not None and half in probabilities:
                p = probabilities[half][:, c]
                axis.plot(np.arange(len(p)) / 60.0, p, color=colour, lw=look.line_width, alpha=look.line_alpha,
                          label=name if look.line_labels else None)
            where, values = _spot_positions(spots, half, c)
            if len(where):
                axis.vlines(where / 60.0, 0, values, color=colour, lw=1.4)
                axis.plot(where / 60.0, values, "o", color=colour, ms=4, label=f"{name} spots ({len(where)})")
            if look.by_class:
                _draw_events(axis, [e for e in events if e.half == half and e.label == c], look, colours)
        if not look.by_class:
            _draw_events(axis, [e for e in events if e.half == half], look, colours)
        axis.set_ylim(0, look.top)
        axis.set_ylabel(f"half {half}: {look.quantity}")
        axis.grid(alpha=0.3)
        if look.legend_each_half or half == dataset.HALVES[0]:
            handles, _ = axis.get_legend_handles_labels()
            axis.legend(handles=handles + [_event_proxy(plt, look)], loc="upper left", bbox_to_anchor=(1.005, 1),
                        fontsize=look.legend_size, handlelength=LEGEND_HANDLE)
    axes[-1].set_xlabel(look.xlabel)
    return figure


def _class_grid_figure(plt, spots, probabilities, events, look: GameLook, classes: ClassSet, columns: int = 3):
    """More classes: a grid of one panel per class, the game's time on x (half 2 after half 1, a grey line
    between them), one legend above the grid for the line styles."""
    colours = class_colours(classes)
    C = len(classes.event_classes)
    rows = math.ceil(C / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 1.9 * rows + 0.8), sharey=True,
                                squeeze=False)
    # half 1's length (minutes): the longest of its probabilities, spots and events, so half 2 starts after it
    ends = [len(probabilities[1]) if probabilities and 1 in probabilities else 0,
            len(spots[1]) if spots and 1 in spots else 0] + [e.seconds + 1 for e in events if e.half == 1]
    offset = {1: 0.0, 2: max(ends, default=0) / 60.0 + 1.0}
    for index, axis in enumerate(axes.flat):
        c = index + 1
        if c > C:
            axis.set_visible(False)
            continue
        colour, count = colours[c], 0
        for half in dataset.HALVES:
            if probabilities is not None and half in probabilities:
                p = probabilities[half][:, c]
                axis.plot(offset[half] + np.arange(len(p)) / 60.0, p, color=colour, lw=look.line_width,
                          alpha=look.line_alpha)
            where, values = _spot_positions(spots, half, c)
            count += len(where)
            if len(where):
                axis.vlines(offset[half] + where / 60.0, 0, values, color=colour, lw=1.2)
                axis.plot(offset[half] + where / 60.0, values, "o", color=colour, ms=3)
            for event in (e for e in events if e.half == half and e.label == c):
                axis.axvline(offset[half] + event.seconds / 60.0, color=colour, ls="--", lw=look.event_width,
                             alpha=look.event_alpha)
        axis.axvline(offset[2] - 0.5, color="0.6", lw=0.8)
        shown = sum(1 for e in events if e.label == c)
        axis.set_title(f"{classes.classes[c]}: {shown} events" + (f", {count} spots" if spots is not None else ""),
                       fontsize=8, color=colour if colour not in MANY_COLOURS[9:] else "black")
        axis.set_ylim(0, look.top)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
        if index % columns == 0:
            axis.set_ylabel(look.quantity, fontsize=8)
    styles = [plt.Line2D([], [], color="0.35", lw=look.line_width, label="per-second probabilities"),
              plt.Line2D([], [], color="0.35", marker="o", ms=3, ls="", label="spots (stems at their confidence)"),
              _event_proxy(plt, look)]
    figure.legend(handles=styles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8,
                  handlelength=LEGEND_HANDLE, frameon=False)
    figure.supxlabel(f"minutes: half 1, then half 2 (from {offset[2]:.0f}, after the grey line)", fontsize=8)
    return figure


def _draw_events(axis, events: Sequence[labels.Event], look: GameLook, colours: dict[int, str]) -> None:
    for event in events:
        axis.axvline(event.seconds / 60.0, color=colours[event.label], ls="--", lw=look.event_width,
                     alpha=look.event_alpha)


def plot_results(results: dict[str, dict], output: Path, metric: str,
                 classes: ClassSet | str | None = None) -> list[Path]:
    """The paper's Figure 2 (mAP against delta, each method at its best threshold, all models; with the tight
    deltas 1-5 s, SoccerNet-v2's, on a logarithmic axis beside the loose ones when the run scored both) and
    the Average-mAP against the threshold, for one metric. Returns the PNG paths. (`classes` names the class
    set in the titles, when not v1.)"""
    plt = _pyplot()
    styles = {"argmax": "-", "center": "--", "nms": ":", SPOTS: "-."}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    by_delta, by_threshold, with_tight = [], [], False
    for i, (model, report) in enumerate(results.items()):
        colour = colours[i % len(colours)]
        deltas, thresholds = np.asarray(report["deltas"]), np.asarray(report["thresholds"])
        d_order, t_order = np.argsort(deltas), np.argsort(thresholds)
        tight = report.get("tight")
        for m in report["methods"]:
            best = report[metric]["best"][m]
            by_delta.append((deltas[d_order], 100 * np.asarray(best["mAP"])[d_order], styles.get(m, "-"), colour,
                             f"{model} {m} (t={best['threshold']:.2f}, Avg {100 * best['average_mAP']:.1f}%)"))
            if tight is not None and metric in tight:
                with_tight = True
                tight_deltas = np.asarray(tight["deltas"])
                order, best = np.argsort(tight_deltas), tight[metric]["best"][m]
                by_delta.append((tight_deltas[order], 100 * np.asarray(best["mAP"])[order], styles.get(m, "-"),
                                 colour, f"{model} {m} tight (t={best['threshold']:.2f}, Avg "
                                         f"{100 * best['average_mAP']:.1f}%)", "s"))
            by_threshold.append((thresholds[t_order], 100 * np.asarray(report[metric]["average_mAP"][m])[t_order],
                                 styles.get(m, "-"), colour, f"{model} {m}"))
    named = "" if classes is None or class_set(classes) is V1 else f", {class_set(classes).name} classes"
    return [_line_figure(output / f"mAP_vs_delta_{metric}.png", by_delta, "tolerance delta (s)", "mAP (%)",
                         f"mAP against delta ({metric} metric{named}, each method at its best threshold)",
                         log_x=with_tight),
            _line_figure(output / f"average_mAP_vs_threshold_{metric}.png", by_threshold, "threshold",
                         "Average-mAP (%)", f"Average-mAP against the candidate threshold ({metric} metric{named})")]
