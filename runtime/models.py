"""Loading a trained model and checking it against the run's settings (TensorFlow: imported once the
process is set up, `runtime.process.start_tensorflow`)."""
from __future__ import annotations

import os
from pathlib import Path

import dataset
from base import classes, errors
from networks import architectures
from runtime.rundir import model_file


def model_config(model, model_file: Path, settings: dict) -> tuple[dict, int]:
    """The model's own build arguments (architecture, window N in frames, batch-norm mode, ...), checked
    against the settings (`resolve_settings`: given or recorded): the architecture and `--WindowSize` must
    agree with the model. `settings["PCA"]`, when nothing said it, becomes whether the video input is 512
    wide (the PCA512 files); `settings["classes"]` becomes the model's class set (v1 for a model saved before
    class sets), and a different one given is refused.

    Returns:
        (build config, window N in frames).
    Raises:
        errors.DataError: not a model of this project's networks/, or a setting that disagrees.
    """
    config = architectures.model_build_config(model)
    if not config:
        raise errors.DataError(model_file, "is not a model built by this project's networks/")
    if settings["architecture"] is not None and settings["architecture"] != config["architecture"]:
        raise errors.DataError(model_file, f"holds a {config['architecture']} model, not {settings['architecture']}")
    spotted = config.get("classes", classes.DEFAULT)  # models saved before class sets are v1
    if settings.get("classes") is not None and settings["classes"] != spotted:
        raise errors.DataError(model_file, f"spots the {spotted} classes, not {settings['classes']}; "
                                            "leave --classes out to use the model's")
    settings["classes"] = spotted
    if settings["PCA"] is None:  # neither recorded nor given
        settings["PCA"] = config.get("video_dim") == dataset.PCA_DIM
    frames = config["num_frames"]
    if settings["WindowSize"] is not None and settings["WindowSize"] * settings["featurePerSec"] != frames:
        raise errors.DataError(model_file, f"takes {frames} frames, not a {settings['WindowSize']:g} s window at "
                                            f"{settings['featurePerSec']} features per second")
    return config, frames


def load_model(path: str | os.PathLike):
    """The model of "a run folder or a .keras file", loaded in Keras's safe mode.

    Returns:
        (model, model file).
    Raises:
        errors.DataError: no such file, or a file that is not a model this project saved (not a .keras
            archive, truncated, another architecture, a newer Keras...), in one line.
    """
    found = model_file(path)
    try:
        return architectures.load_model(found), found
    except Exception as exc:  # Keras raises many kinds here; each means "not a model we can load"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise errors.DataError(found, f"not a model this project can load ({type(exc).__name__}"
                                       f"{': ' + first[:200] if first else ''})") from exc
