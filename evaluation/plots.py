"""SHIM (dropped at merge): the evaluator's plots, today in compute_mAP.py; the evaluation helper moves
them here."""
from compute_mAP import CLASS_COLOURS, games_to_plot, plot_spots  # noqa: F401
