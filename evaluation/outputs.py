"""SHIM (dropped at merge): the spotting-output layout and results_spotting.json, today in compute_mAP.py;
the evaluation helper moves them here."""
from compute_mAP import (JSON_METHOD, JSON_THRESHOLD, RESULTS_SPOTTING, game_outputs_done,  # noqa: F401
                         load_results_spotting, prediction_file, read_prediction_file, read_results_spotting,
                         results_spotting_dir, results_spotting_file, results_spotting_json, timeline_file,
                         write_results_spotting)
from compute_mAP import load_predictions as load_spotting_outputs  # noqa: F401
