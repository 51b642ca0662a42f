"""SHIM (dropped at merge): the candidate methods, today in compute_mAP.py; the evaluation helper moves
them here."""
from compute_mAP import (ALL_METHODS, CANDIDATE_METHODS, DEFAULT_DELTAS, DEFAULT_THRESHOLDS,  # noqa: F401
                         DELTA_SETS, NMS_WINDOW, SPOTS, TIGHT_DELTAS, candidates, threshold_argument,
                         threshold_in_precision)
