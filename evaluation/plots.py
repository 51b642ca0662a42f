"""The figures of the evaluation: one game's spots, probabilities and annotations (`plot_spots`, also the
spotting script's timeline), and the result curves (the paper's Figure 2, Average-mAP against the
threshold). Matplotlib (Agg) is imported when a figure is drawn, so that the modules and scripts that import
this one start without it. No TensorFlow.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

import dataset
from base import classes, errors, files, labels
from evaluation.candidates import SPOTS


def _pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _line_figure(path: Path, curves: list[tuple[np.ndarray, np.ndarray, str, str, str]], xlabel: str, ylabel: str,
                 title: str) -> Path:
    """One PNG of lines (x, y, line style, colour, label), legend on the right; written atomically."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for x, y, style, colour, label in curves:
        ax.plot(x, y, style, color=colour, marker="o", ms=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    try:
        files.write_atomic(path, lambda temporary: fig.savefig(temporary, format="png", dpi=120,
                                                                 bbox_inches="tight"))
    finally:
        plt.close(fig)
    return path


def games_to_plot(choice: Sequence[str], games: list[str], list_path, flag: str = "--plot_games") -> set[str]:
    """`--plot_games`, `--plot_spots`: one number N (the first N games) or names of games of the list."""
    if len(choice) == 1 and choice[0].isdigit():
        return set(games[:int(choice[0])])
    unknown = [g for g in choice if g not in games]
    if unknown:
        raise errors.DataError(list_path, f"{flag}: '{unknown[0]}' is not a game of this list")
    return set(choice)


CLASS_COLOURS = {1: "tab:orange", 2: "tab:green", 3: "tab:red"}  # card, subs, goal in every plot


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
               look: GameLook = SPOTS_LOOK) -> Path:
    """One game over both halves: each class's spots (stems at their confidence), its per-second
    probabilities (lines) and the annotated events (dashed), each when given; written atomically. The one
    figure of a game: compute_mAP.py's spot plots (for error analysis) and, with `TIMELINE_LOOK` and no
    spots, ClassificationSecondBased.py's timeline plots.

    Args:
        spots: {half: (positions, 4) array of `outputs.read_results_spotting` at rate 1, -1 where no spot},
            or None.
        probabilities: {half: (seconds, 4)} per-second outputs, or None.
        look: `SPOTS_LOOK` or `TIMELINE_LOOK`.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(2, 1, figsize=(12, 5.5), sharey=True)
    for axis, half in zip(axes, dataset.HALVES):
        for c, colour in CLASS_COLOURS.items():
            name = classes.V1.classes[c]
            if probabilities is not None and half in probabilities:
                p = probabilities[half][:, c]
                axis.plot(np.arange(len(p)) / 60.0, p, color=colour, lw=look.line_width, alpha=look.line_alpha,
                          label=name if look.line_labels else None)
            if spots is not None:
                array = spots.get(half, np.zeros((0, 4)))
                where = np.flatnonzero(array[:, c] >= 0) if len(array) else np.zeros(0, np.int64)
                if len(where):
                    axis.vlines(where / 60.0, 0, array[where, c], color=colour, lw=1.4)
                    axis.plot(where / 60.0, array[where, c], "o", color=colour, ms=4,
                              label=f"{name} spots ({len(where)})")
            if look.by_class:
                _draw_events(axis, [e for e in events if e.half == half and e.label == c], look)
        if not look.by_class:
            _draw_events(axis, [e for e in events if e.half == half], look)
        axis.set_ylim(0, look.top)
        axis.set_ylabel(f"half {half}: {look.quantity}")
        axis.grid(alpha=0.3)
        if look.legend_each_half:
            axis.legend(loc="upper right", ncol=3, fontsize=look.legend_size)
    if not look.legend_each_half:
        axes[0].legend(loc="upper right", ncol=3, fontsize=look.legend_size)
    axes[-1].set_xlabel(look.xlabel)
    figure.suptitle(f"{title}\n{game}", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        files.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110))
    finally:
        plt.close(figure)
    return path


def _draw_events(axis, events: Sequence[labels.Event], look: GameLook) -> None:
    for event in events:
        axis.axvline(event.seconds / 60.0, color=CLASS_COLOURS[event.label], ls="--", lw=look.event_width,
                     alpha=look.event_alpha)


def plot_results(results: dict[str, dict], output: Path, metric: str) -> list[Path]:
    """The paper's Figure 2 (mAP against delta, each method at its best threshold, all models) and the
    Average-mAP against the threshold, for one metric. Returns the PNG paths."""
    plt = _pyplot()
    styles = {"argmax": "-", "center": "--", "nms": ":", SPOTS: "-."}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    by_delta, by_threshold = [], []
    for i, (model, report) in enumerate(results.items()):
        colour = colours[i % len(colours)]
        deltas, thresholds = np.asarray(report["deltas"]), np.asarray(report["thresholds"])
        d_order, t_order = np.argsort(deltas), np.argsort(thresholds)
        for m in report["methods"]:
            best = report[metric]["best"][m]
            by_delta.append((deltas[d_order], 100 * np.asarray(best["mAP"])[d_order], styles.get(m, "-"), colour,
                             f"{model} {m} (t={best['threshold']:.2f}, Avg {100 * best['average_mAP']:.1f}%)"))
            by_threshold.append((thresholds[t_order], 100 * np.asarray(report[metric]["average_mAP"][m])[t_order],
                                 styles.get(m, "-"), colour, f"{model} {m}"))
    return [_line_figure(output / f"mAP_vs_delta_{metric}.png", by_delta, "tolerance delta (s)", "mAP (%)",
                         f"mAP against delta ({metric} metric, each method at its best threshold)"),
            _line_figure(output / f"average_mAP_vs_threshold_{metric}.png", by_threshold, "threshold",
                         "Average-mAP (%)", f"Average-mAP against the candidate threshold ({metric} metric)")]
