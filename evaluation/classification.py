"""The chunk classifier's metrics: the training script's validation and test metrics, and late fusion's.

As the authors' `trainer.py` (`validate`, `test`): the AP of each class is TF1's `tf.metrics.auc(curve='PR')`
over all chunks of a split, the mAP the mean over the event classes (card, subs and goal for v1; the 17 of
v2); the confusion matrix is the paper's Table 3. Every function takes the class set (`base.classes`), by
default the one of the arrays' width. No TensorFlow: NumPy only.
"""
from __future__ import annotations

import numpy as np

from base.classes import ClassSet, class_set, of_width

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


def _class_set_of(classes: ClassSet | str | None, width: int) -> ClassSet:
    """The class set given, else the one of an array width (`base.classes.of_width`); ValueError when the
    width is not the set's."""
    found = of_width(width) if classes is None else class_set(classes)
    if found.num_classes != width:
        raise ValueError(f"arrays of {width} columns, but the {found.name} classes have {found.num_classes}")
    return found


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: ClassSet | str | None = None) -> np.ndarray:
    """Counts of (ground truth, predicted) class pairs, rows ground truth as the paper's Table 3.

    Both sides are argmax over the 1 + C columns (the first maximum), as the original's
    `confusion_matrix(argmax(logits), argmax(labels))` (which put predictions in rows).

    Args:
        classes: the class set of the (n, 1 + C) arrays; None: the one of their width.
    """
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    n = _class_set_of(classes, labels.shape[1]).num_classes
    truth = np.argmax(labels, axis=1)
    guess = np.argmax(predicted, axis=1)
    matrix = np.zeros((n, n), np.int64)
    np.add.at(matrix, (truth, guess), 1)
    return matrix


def classification_report(labels: np.ndarray, probabilities: np.ndarray,
                          argmax_scores: np.ndarray | None = None, loss: float | None = None,
                          classes: ClassSet | str | None = None) -> dict:
    """AP (PR-AUC) per class including background, mAP over the event classes, confusion, accuracies.

    Args:
        labels: (n, 1 + C) multi-label targets.
        probabilities: (n, 1 + C) sigmoid outputs.
        argmax_scores: what the confusion matrix takes the argmax of (default `probabilities`).
        loss: recorded as is.
        classes: the class set (its names key the report); None: the one of the arrays' width.
    """
    labels = np.asarray(labels)
    classes = _class_set_of(classes, labels.shape[1])
    n = classes.num_classes
    ap = [pr_auc(labels[:, c], probabilities[:, c]) for c in range(n)]
    matrix = confusion_matrix(labels, probabilities if argmax_scores is None else argmax_scores, classes)
    rows = matrix.sum(axis=1)
    accuracy = [float(matrix[c, c] / rows[c]) if rows[c] else 0.0 for c in range(n)]
    report = {"AP": dict(zip(classes.classes, ap)), "mAP": float(np.mean(ap[1:])),
              "accuracy": dict(zip(classes.classes, accuracy)), "accuracy_average": float(np.mean(accuracy)),
              "confusion_matrix": matrix.tolist(), "chunks": int(len(labels)),
              "events": {name: int(labels[:, c].sum()) for c, name in enumerate(classes.classes)}}
    if loss is not None:
        report["loss"] = float(loss)
    return report


def format_classification_report(report: dict, title: str = "test", classes: ClassSet | str | None = None) -> str:
    """The report as text: AP per class, mAP, and the confusion matrix laid out as the paper's Table 3.

    Up to four columns (v1), the class titles head the matrix's columns, as before; with more (v2), the
    APs go one class a line and the columns are numbered (the rows name them: "3 goal").

    Args:
        classes: the class set of the report; None: the one of its number of classes.
    """
    classes = _class_set_of(classes, len(report["AP"]))
    titles = classes.titles
    aps = [100 * report["AP"][c] for c in classes.classes]
    if classes.num_classes <= 4:
        lines = [f"{title}: mAP {100 * report['mAP']:.1f} % over {report['chunks']} chunks "
                 f"(AP: " + ", ".join(f"{n} {ap:.1f}" for n, ap in zip(titles, aps)) + ")",
                 "confusion matrix (rows: ground truth, columns: predicted)",
                 f"{'':<12}" + "".join(f"{n:>12}" for n in titles)]
        for name, row in zip(titles, report["confusion_matrix"]):
            lines.append(f"{name:<12}" + "".join(f"{v:>12}" for v in row))
        return "\n".join(lines)
    names = [f"{i} {n}" for i, n in enumerate(titles)]
    first = max(len(n) for n in names) + 2
    width = max(4, len(str(max((max(row) for row in report["confusion_matrix"]), default=0))) + 1)
    lines = [f"{title}: mAP {100 * report['mAP']:.1f} % over {report['chunks']} chunks ({classes.name} classes); "
             "AP (%):"]
    lines += [f"  {name:<{first}}{ap:6.1f}" for name, ap in zip(names, aps)]
    lines += ["confusion matrix (rows: ground truth, columns: predicted, numbered as the rows)",
              f"{'':<{first}}" + "".join(f"{i:>{width}}" for i in range(classes.num_classes))]
    for name, row in zip(names, report["confusion_matrix"]):
        lines.append(f"{name:<{first}}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)
