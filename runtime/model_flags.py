"""A trained run's recorded settings: the model flags a script that uses a trained model takes from the
run's args.json, each checked against the command line (no TensorFlow here)."""
from __future__ import annotations

import argparse
from pathlib import Path

from base import errors
from networks import names

# Flags that describe a trained model and the data it reads; given with a trained run, each must agree
# with what the run recorded.
MODEL_FLAGS = ("architecture", "network", "VLAD_k", "WindowSize", "featuresVideo", "featuresAudio", "PCA",
               "featurePerSec", "classes")
# Used for a bare .keras file with no args.json beside it, where the command line does not say (--PCA
# then follows the model's video input: `model_config`).
MODEL_FLAG_DEFAULTS = {"featuresVideo": "ResNET", "featuresAudio": "VGGish", "featurePerSec": 2}


def resolve_settings(args: argparse.Namespace, recorded: dict, model_file: Path) -> dict:
    """The model flags (`MODEL_FLAGS`): the run's recorded ones, checked against those given on the
    command line (None in `args`: not given).

    Raises:
        errors.DataError: a given flag contradicts the run.
    """
    normalise = {"architecture": names.resolve_architecture, "network": names.resolve_pooling,
                 "WindowSize": float, "VLAD_k": int, "featurePerSec": int, "PCA": bool}
    settings = {}
    for flag in MODEL_FLAGS:
        given, saved = getattr(args, flag, None), recorded.get(flag)
        convert = normalise.get(flag, str)
        if given is not None and saved is not None:
            try:
                same = convert(given) == convert(saved)
            except ValueError:
                same = False
            if not same:
                raise errors.DataError(model_file, f"was trained with --{flag} {saved}, not {given}; "
                                                    f"leave --{flag} out to use the run's")
        value = saved if saved is not None else given
        try:
            settings[flag] = convert(value) if value is not None else MODEL_FLAG_DEFAULTS.get(flag)
        except ValueError as exc:
            raise errors.DataError(model_file, f"--{flag}: {exc}") from None
    return settings
