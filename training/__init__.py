"""SHIM (dropped at merge): the training stage's package, made by another helper."""
