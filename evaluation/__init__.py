"""SHIM (dropped at merge): the evaluation stage's package, made by another helper."""
