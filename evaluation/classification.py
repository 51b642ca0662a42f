"""The chunk classifier's metrics: the training script's validation and test metrics, and late fusion's.

As the authors' `trainer.py` (`validate`, `test`): the AP of each class is TF1's `tf.metrics.auc(curve='PR')`
over all chunks of a split, the mAP the mean over card, subs and goal; the confusion matrix is the paper's
Table 3. No TensorFlow: NumPy only.
"""
from __future__ import annotations

import numpy as np

from base import classes

# TF1's tf.metrics.auc default, used by the authors' trainer for every AP of the classification task.
PR_AUC_THRESHOLDS = 200


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def pr_auc(labels: np.ndarray, scores: np.ndarray, num_thresholds: int = PR_AUC_THRESHOLDS) -> float:
    """Area under the precision-recall curve exactly as TF1's `tf.metrics.auc(curve='PR')`, which the
    authors' `trainer.py` (`validate`, `test`) streams over all chunks of a split.

    Thresholds -1e-7, j/(n-1) for j = 1..n-2, 1 + 1e-7; counts TP, FP, FN of `score > threshold` in
    float32; recall (TP + 1e-6) / (TP + FN + 1e-6), precision (TP + 1e-6) / (TP + FP + 1e-6); the
    trapezoid sum over consecutive thresholds. (Keras's `AUC(curve="PR")` interpolates differently.)

    Args:
        labels: (n,) 0/1 ground truth.
        scores: (n,) probabilities.
    """
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, np.float32).ravel()
    epsilon = 1e-7
    thresholds = np.array([-epsilon] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
                          + [1.0 + epsilon], np.float32)
    positives = np.sort(scores[labels])
    negatives = np.sort(scores[~labels])
    tp = (len(positives) - np.searchsorted(positives, thresholds, side="right")).astype(np.float32)
    fp = (len(negatives) - np.searchsorted(negatives, thresholds, side="right")).astype(np.float32)
    fn = np.float32(len(positives)) - tp
    small = np.float32(1e-6)
    recall = (tp + small) / (tp + fn + small)
    precision = (tp + small) / (tp + fp + small)
    return float(np.sum((recall[:-1] - recall[1:]) * (precision[:-1] + precision[1:]) / np.float32(2)))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts of (ground truth, predicted) class pairs, rows ground truth as the paper's Table 3.

    Both sides are argmax over the 4 columns (the first maximum), as the original's
    `confusion_matrix(argmax(logits), argmax(labels))` (which put predictions in rows).
    """
    truth = np.argmax(labels, axis=1)
    guess = np.argmax(predicted, axis=1)
    matrix = np.zeros((classes.V1.num_classes, classes.V1.num_classes), np.int64)
    np.add.at(matrix, (truth, guess), 1)
    return matrix


def classification_report(labels: np.ndarray, probabilities: np.ndarray,
                          argmax_scores: np.ndarray | None = None, loss: float | None = None) -> dict:
    """AP (PR-AUC) per class including background, mAP over card/subs/goal, confusion, accuracies.

    Args:
        labels: (n, 4) multi-label targets.
        probabilities: (n, 4) sigmoid outputs.
        argmax_scores: what the confusion matrix takes the argmax of (default `probabilities`).
        loss: recorded as is.
    """
    ap = [pr_auc(labels[:, c], probabilities[:, c]) for c in range(classes.V1.num_classes)]
    matrix = confusion_matrix(labels, probabilities if argmax_scores is None else argmax_scores)
    rows = matrix.sum(axis=1)
    accuracy = [float(matrix[c, c] / rows[c]) if rows[c] else 0.0 for c in range(classes.V1.num_classes)]
    report = {"AP": dict(zip(classes.V1.classes, ap)), "mAP": float(np.mean(ap[1:])),
              "accuracy": dict(zip(classes.V1.classes, accuracy)), "accuracy_average": float(np.mean(accuracy)),
              "confusion_matrix": matrix.tolist(), "chunks": int(len(labels)),
              "events": {name: int(labels[:, c].sum()) for c, name in enumerate(classes.V1.classes)}}
    if loss is not None:
        report["loss"] = float(loss)
    return report


def format_classification_report(report: dict, title: str = "test") -> str:
    """The report as text: AP per class, mAP, and the confusion matrix laid out as the paper's Table 3."""
    titles = classes.V1.titles
    lines = [f"{title}: mAP {100 * report['mAP']:.1f} % over {report['chunks']} chunks "
             f"(AP: " + ", ".join(f"{n} {100 * report['AP'][c]:.1f}" for n, c in zip(titles, classes.V1.classes))
             + ")",
             "confusion matrix (rows: ground truth, columns: predicted)",
             f"{'':<12}" + "".join(f"{n:>12}" for n in titles)]
    for name, row in zip(titles, report["confusion_matrix"]):
        lines.append(f"{name:<12}" + "".join(f"{v:>12}" for v in row))
    return "\n".join(lines)

