"""SHIM (dropped at merge): the chunk-classification metrics, today in compute_mAP.py; the evaluation
helper moves them here."""
from compute_mAP import (classification_report, confusion_matrix, format_classification_report,  # noqa: F401
                         pr_auc, sigmoid)
