"""The reproduction's figures from its runs: the paper's Figure 3 (train and validation mAP per epoch) and a
test report's confusion matrix, written atomically as PNG files."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402

from base import classes, files
from runtime import rundir


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return files.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110,
                                                                           bbox_inches="tight"))
    finally:
        plt.close(figure)


def plot_training_curves(curves: dict[str, Path], path: Path, title: str) -> Path:
    """The paper's Figure 3: train and validation mAP per epoch of each run, learning-rate steps marked
    (from the runs' metrics.csv)."""
    figure, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), sharey=True, squeeze=False)
    for axis, (label, run) in zip(axes[0], curves.items()):
        rows = rundir.read_metrics(run)
        epochs = [int(r["epoch"]) for r in rows]
        axis.plot(epochs, [100 * float(r["train_mAP"]) for r in rows], label="train (dropout on)")
        axis.plot(epochs, [100 * float(r["valid_mAP"]) for r in rows], label="validation")
        for r in rows:
            if "decay" in r["action"]:
                axis.axvline(int(r["epoch"]) + 0.5, color="grey", ls="--", lw=1)
        best = max(rows, key=lambda r: float(r["valid_mAP"]))
        axis.plot([int(best["epoch"])], [100 * float(best["valid_mAP"])], "k*", ms=9, label="best (tested)")
        axis.set_title(label, fontsize=9)
        axis.set_xlabel("epoch (dashed: learning rate / 10)")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("mAP (%)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


def plot_confusion(report: dict, path: Path, title: str) -> Path:
    """A test report's confusion matrix (rows ground truth), counts and row percentages."""
    matrix = np.asarray(report["confusion_matrix"], float)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    names = classes.of_width(len(matrix)).titles
    n = len(names)
    big = n > 6  # v2's 18 x 18: a larger figure, counts only, rotated names
    figure, axis = plt.subplots(figsize=(11, 9.5) if big else (5, 4.3))
    axis.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            text = f"{int(matrix[i, j])}" if big else f"{int(matrix[i, j])}\n{100 * share[i, j]:.0f}%"
            axis.text(j, i, text, ha="center", va="center", fontsize=7 if big else 8,
                      color="white" if share[i, j] > 0.6 else "black")
    axis.set_xticks(range(n), names, rotation=60 if big else 0, ha="right" if big else "center")
    axis.set_yticks(range(n), names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("ground truth")
    axis.set_title(title, fontsize=9)
    return _save(figure, path)
