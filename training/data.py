"""The data of a training run: the training, validation and test splits opened and checked before
anything is written, and their chunk indexes (the numpy data layer, `dataset.py`; no TensorFlow)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

import dataset
from base import classes, errors
from networks.names import streams_of

log = logging.getLogger(__name__)


def features_or_none(name: str | None) -> str | None:
    return None if name is None or name.lower() in ("", "none") else name


def open_split(args, list_path: str) -> dataset.Split:
    return dataset.Split(list_path, data_root=args.SoccerNet_path,
                         video_features=features_or_none(args.featuresVideo),
                         audio_features=features_or_none(args.featuresAudio), pca=args.PCA, fps=args.featurePerSec,
                         classes=getattr(args, "classes", None) or classes.DEFAULT)


@dataclass
class TrainingData:
    """The training and validation splits and their chunk indexes, and the test split."""

    splits: dict[str, dataset.Split]
    indexes: dict[str, dataset.WindowIndex]
    testing: dataset.Split

    @property
    def frames(self) -> int:
        return self.indexes["training"].frames

    @property
    def dims(self) -> dict[str, int]:
        training = self.splits["training"]
        return {stream: training.dim(stream) for stream in training.streams}


def open_training_data(args) -> TrainingData:
    """Open and check the training, validation and test lists and their files (DataError on bad input),
    before anything is written."""
    splits = {name: open_split(args, getattr(args, name)) for name in ("training", "validation")}
    testing = open_split(args, args.testing)  # tested at the end: checked now
    testing.release()
    data = TrainingData(splits, {name: split.chunk_index(args.WindowSize) for name, split in splits.items()},
                        testing)
    for name, index in data.indexes.items():
        if not len(index):
            longest = max(half.n_frames for half in splits[name].halves) / splits[name].fps
            raise errors.DataError(getattr(args, name), f"no chunk of --WindowSize {args.WindowSize:g} s fits in any "
                                                        f"of its halves (the longest is {longest:g} s)")
    missing = [s for s in streams_of(args.architecture) if s not in data.dims]
    if missing:
        raise errors.DataError(args.training, f"{args.architecture} needs {' and '.join(missing)} features, "
                                               f"but --features{missing[0].capitalize()} is none")
    return data


def describe(data: TrainingData) -> None:
    """One line per split: halves, chunks, chunks per class, and the labels its class set does not know."""
    for name, index in data.indexes.items():
        split = data.splits[name]
        counts = ", ".join(f"{event} {int(index.labels[:, c].sum())}"
                           for c, event in enumerate(split.classes.classes) if c)
        unknown = sum(split.unknown_labels.values())
        log.info("%s: %d halves, %d chunks of %d frames, %s classes (%s)%s", name, len(split.halves), len(index),
                 data.frames, split.classes.name, counts,
                 f"; {unknown} annotations with labels outside the {split.classes.name} classes skipped"
                 if unknown else "")


def largest_step(index: dataset.WindowIndex, halves_per_step: int) -> int:
    """The most chunks a training step can hold: those of the `halves_per_step` longest halves."""
    counts = np.sort(np.bincount(index.half_id))[::-1]
    return int(counts[:halves_per_step].sum())
