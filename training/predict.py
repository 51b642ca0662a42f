"""`ClassificationMinuteBased.py --mode predict`: test a trained model on a list and save its report and
test logits in its run folder, with the model and data settings the run recorded."""
from __future__ import annotations

import argparse
import logging

from base import errors
from runtime import model_flags, models, rundir
from training.evaluate import evaluate_run
from training.trainer import Evaluator

log = logging.getLogger(__name__)


def predict_arguments(args, defaults: dict):
    """--mode predict: the model and its settings. Model and data flags come from the run's args.json
    (`model_flags.resolve_settings`: a given flag must agree with the run); --testing and --SoccerNet_path
    default to the run's. A bare .keras file without args.json takes the flags given, else the defaults
    (`defaults`: the command line's defaults, by flag).

    Returns:
        (model, model file, the arguments to test with, where the report goes).
    """
    if not args.model:
        raise errors.DataError("--model", "--mode predict needs --model RUN_FOLDER or a .keras file")
    model_file = rundir.model_file(args.model)
    recorded = rundir.read_args(model_file.parent, required=False)
    settings = model_flags.resolve_settings(args, recorded, model_file)
    model, _ = models.load_model(model_file)
    config, frames = models.model_config(model, model_file, settings)
    testing = args.testing or recorded.get("testing") or defaults["testing"]
    values = {**vars(args), **settings, "architecture": config["architecture"],
              "WindowSize": frames / settings["featurePerSec"], "testing": testing,
              "SoccerNet_path": args.SoccerNet_path if args.SoccerNet_path is not None
              else recorded.get("SoccerNet_path")}
    tested = argparse.Namespace(**values)
    # test_report.json is the finished run's test on its own list and data root (reproduce.py reads it, and
    # it marks the run finished): anything else goes to test_report_<list>.json.
    own = rundir.is_finished(model_file.parent) and (
        args.SoccerNet_path is None or args.SoccerNet_path == recorded.get("SoccerNet_path"))
    report = rundir.test_report_file(model_file.parent, testing, recorded.get("testing") if own else None)
    return model, model_file, tested, report


def predict(args, defaults: dict) -> dict:
    """--mode predict: test a trained model on --testing (default the run's list) and save the report and
    the logits beside it (test_report.json for the run's own list, test_report_<list>.json for another)."""
    model, model_file, tested, report_file = predict_arguments(args, defaults)
    log.info("model %s: %s, T = %g s; testing %s", model_file, tested.architecture, tested.WindowSize, tested.testing)
    return evaluate_run(Evaluator(model), tested, model_file.parent, report_file=report_file)
