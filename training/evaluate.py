"""The test of a run's weights on a list: the classification report (AP per class, mAP, the confusion
matrix), the test logits for late fusion, and the original's TensorBoard scalars."""
from __future__ import annotations

import logging
from pathlib import Path

import tensorflow as tf

import dataset
from base import classes, files
from evaluation.classification import classification_report, format_classification_report, sigmoid
from runtime import rundir
from training.data import open_split
from training.trainer import Evaluator

log = logging.getLogger(__name__)


def write_scalars(writer, step: int, report: dict, lr: float | None = None) -> None:
    """The original's TensorBoard scalars: learning_rate, loss, accuracy/*, AP/* (tags "AP/1_cards", ... for
    v1; "AP/1_penalty", ... for v2: the class set's titles, found from the report's width)."""
    spotted = classes.of_width(len(report["AP"]))
    with writer.as_default(step=step):
        if lr is not None:
            tf.summary.scalar("learning_rate", lr)
        if "loss" in report:
            tf.summary.scalar("loss", report["loss"])
        tf.summary.scalar("accuracy/average", report["accuracy_average"])
        tf.summary.scalar("AP/mean", report["mAP"])
        for c, (name, title) in enumerate(zip(spotted.classes, spotted.titles)):
            tf.summary.scalar(f"accuracy/{c}_{title}", report["accuracy"][name])
            tf.summary.scalar(f"AP/{c}_{title}", report["AP"][name])
    writer.flush()


def evaluate_run(evaluator: Evaluator, args, run: Path, writer=None, step: int = 0,
                 split: dataset.Split | None = None, report_file: Path | None = None) -> dict:
    """Test the current weights on --testing (`split`, when already opened); save the report (to
    `report_file`, default the run's test_report.json) and the logits; print the report on stdout."""
    split = split or open_split(args, args.testing)
    index = split.chunk_index(args.WindowSize)
    logits, loss = evaluator.predict_halves(split, index)
    report = classification_report(index.labels, sigmoid(logits), loss=loss)
    report_file = report_file or run / rundir.TEST_REPORT
    files.write_json_atomic(report_file, report)
    rundir.save_predictions(rundir.predictions_file(run, args.testing), split, index, logits)
    if writer is not None:
        write_scalars(writer, step, report)
    text = format_classification_report(report, f"test ({Path(args.testing).name})")
    log.debug("\n%s", text)
    log.info("test on %s: mAP %.1f %%, report in %s", Path(args.testing).name, 100 * report["mAP"], report_file)
    print(text, flush=True)
    return report
