"""The model over every window of each half (TensorFlow; ClassificationSecondBased.py imports this module
once TensorFlow is started).

As the authors' `ClassificationSecondBased.py` (and SoccerNet's): each half is padded with copies of its
first and last frame, and a window of the model's length T slides over it with a stride of one second;
the model's sigmoid outputs give, per half, an array of shape (floor(frames / 2), 1 + C). For the LOUPE
poolings each frame's projection on the clusters (in `moving` mode its whole soft assignment) is computed
once per half and the windows are gathered and pooled in the graph (networks/sliding.py; the same
outputs as window by window, which `--window_by_window` restores).
"""
from __future__ import annotations

import functools
import logging
import time

import numpy as np
import tensorflow as tf
from tqdm import tqdm

import dataset
from base import classes, errors
from evaluation import outputs, plots
from networks import architectures, kernels, names, sliding
from runtime import models, process
from spotting import games as spotting_games
from training import pipeline

log = logging.getLogger("ClassificationSecondBased")


def bfloat16_copy(model):
    """The same model under the mixed_bfloat16 policy (bfloat16 products, float32 weights and logits)."""
    try:
        copy = architectures.with_policy(model, "bfloat16")
    except ValueError as exc:
        raise errors.DataError("--precision", str(exc)) from None
    process.warn_slow_bfloat16("bfloat16", log)
    return copy


def per_frame_spotter(args, model, fps: int):
    """networks.sliding.HalfSpotter for a model with LOUPE poolings (each frame's per-frame work done once),
    else None (the window-by-window model, as the original)."""
    reason = sliding.unsupported_reason(model, fps)
    if args.window_by_window or reason is not None:
        log.info("window-by-window spotting (%s)", "--window_by_window" if args.window_by_window else reason)
        return None
    log.info("per-frame spotting: each frame's per-frame work done once, windows pooled in the graph")
    return sliding.HalfSpotter(model, fps)


def spot(args, job: spotting_games.Job) -> None:
    """Spot the job's pending games: each half's probabilities written per game (with its JSON file and,
    for the plotted games, its timeline)."""
    settings, prefix, root = job.settings, job.prefix, job.root
    kernels.set_xla_descriptor(args.xla_descriptor)
    model, _ = models.load_model(job.model_file)
    config, frames = models.model_config(model, job.model_file, settings)
    window_sec = frames / settings["featurePerSec"]
    spotted = classes.class_set(settings["classes"])
    streams = names.streams_of(config["architecture"])
    bn_mode = config["bn_mode"]
    if args.precision == "bfloat16":
        model = bfloat16_copy(model)
    log.info("model %s: %s, T = %g s, batch norm %s, streams %s", job.model_file, settings["architecture"],
             window_sec, bn_mode, "+".join(streams))
    features = {"video": settings["featuresVideo"], "audio": settings["featuresAudio"]}
    split = dataset.Split(job.source, data_root=root,
                          video_features=features["video"] if features["video"] not in (None, "none") else None,
                          audio_features=features["audio"] if features["audio"] not in (None, "none") else None,
                          pca=settings["PCA"], label_file=None, games=job.pending, fps=settings["featurePerSec"])

    spotter = per_frame_spotter(args, model, settings["featurePerSec"])
    logits = architectures.logits_function(model)
    started = time.perf_counter()
    windows = 0
    for game in tqdm(job.pending, desc="spotting", unit="game", disable=process.progress_off(args.no_progress)):
        half_ids = [i for i, h in enumerate(split.halves) if h.game == game]
        probabilities = {}
        for half_id in half_ids:
            index = split.spotting_index(frames, [half_id])
            batches = spotting_games.windows_of_half(len(index), bn_mode, args.batch_size)
            if spotter is not None:  # windows numbered 0..n-1 in time order, as the index's positions
                half = {s: split.halves[half_id].streams[s] for s in streams}
                numbers = dataset.padded_frame_numbers(min(len(a) for a in half.values()), spotter.frames,
                                                       spotter.stride, len(index))
                p = spotter.probabilities(half, batches, numbers)
            else:
                p = np.concatenate([tf.math.sigmoid(logits(inputs)).numpy()
                                    for inputs in pipeline.make_dataset(split, index, batches, streams=streams)])
            probabilities[split.halves[half_id].half] = p
            windows += len(index)
        plot = None if game not in job.plotted else functools.partial(
            plots.plot_spots, outputs.timeline_file(args.output_dir, game, prefix), game, None, probabilities,
            spotting_games.game_events(root, game, spotted), f"{prefix} ({settings['architecture']}, T = "
            f"{window_sec:g} s)", plots.TIMELINE_LOOK)
        spotting_games.write_game_outputs(args, game, prefix, probabilities, spotted, plot)
    elapsed = time.perf_counter() - started
    log.info("spotted %d windows in %.1f s (%.0f windows/s)", windows, elapsed, windows / max(elapsed, 1e-9))
