"""SHIM (dropped at merge): late fusion, today in fusion.py; the training helper moves it here."""
from fusion import check_pair, describe_methods, fuse_logits, fuse_probabilities, late_fusion, logit  # noqa: F401
from fusion import load_predictions as load_run_logits  # noqa: F401
