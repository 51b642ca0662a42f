"""PCA of raw features: fitting it (scikit-learn's IncrementalPCA), saving and loading it, writing the
projected files `{half}_{features}_PCA{k}.npy`.

SoccerNet's published `*_PCA512.npy` files came from a PCA whose fit was never released (SoccerNet-code
issue #7); `python -m extraction.fit_pca` fits one of its own with `fit_pca`, writes the projected features
with `apply_pca` and saves the PCA with `save_pca`; `python -m extraction.spot_video` reads it back with
`load_pca`. A saved PCA is an .npz of plain arrays (no pickle).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

import dataset
from base import errors, files
from runtime import process


def fit_pca(split: dataset.Split, stream: str = "video", n_components: int = dataset.PCA_DIM,
            batch_frames: int = 8192, subsample: int = 1, progress: bool = True):
    """Fit scikit-learn IncrementalPCA on the raw features of every half of a (training) split.

    Frames are fed in batches of `batch_frames` (at least n_components), so memory stays bounded.

    Returns:
        The fitted `sklearn.decomposition.IncrementalPCA`.
    """
    # scikit-learn only to fit: loading and applying a saved PCA (spot_video) goes without it.
    from sklearn.decomposition import IncrementalPCA

    batch_frames = max(batch_frames, n_components)
    pca = IncrementalPCA(n_components=n_components)
    pending, count = [], 0
    for half in tqdm(split.halves, desc=f"fitting PCA on {len(split.halves)} halves", unit="half",
                     disable=process.progress_off(not progress)):
        array = half.streams[stream]
        if array.shape[1] < n_components:
            raise errors.DataError(half.paths[stream], f"has {array.shape[1]} features per frame, fewer than "
                                                        f"the {n_components} PCA components")
        pending.append(np.asarray(array[::subsample], np.float64))
        dataset.release_pages(array)
        count += len(pending[-1])
        while count >= batch_frames:
            block = np.concatenate(pending)
            pca.partial_fit(block[:batch_frames])
            pending, count = [block[batch_frames:]], count - batch_frames
    if count:  # the remainder: fitted when it is large enough for one more batch, dropped otherwise
        block = np.concatenate(pending)
        if len(block) >= n_components:
            pca.partial_fit(block)
    if getattr(pca, "n_samples_seen_", 0) == 0:
        raise errors.DataError(split.list_path, f"only {count} frames to fit {n_components} PCA components")
    return pca


def apply_pca(pca, split: dataset.Split, stream: str = "video", overwrite: bool = False, progress: bool = True,
              batch_frames: int = 8192) -> list[Path]:
    """Write `{half}_{features}_PCA{k}.npy` (float32) beside the raw features of every half of a split."""
    written = []
    for half in tqdm(split.halves, desc="writing PCA features", unit="half", disable=process.progress_off(not progress)):
        source = half.paths[stream]
        target = source.with_name(f"{source.stem}_PCA{pca.n_components_}.npy")
        if target.exists() and not overwrite:
            continue
        array = np.load(source, mmap_mode="r", allow_pickle=False)  # full length, not cut to the other stream
        out = np.empty((array.shape[0], pca.n_components_), np.float32)
        for begin in range(0, array.shape[0], batch_frames):
            out[begin:begin + batch_frames] = pca.transform(np.asarray(array[begin:begin + batch_frames],
                                                                       np.float64))
        files.write_npy_atomic(target, out)
        written.append(target)
    return written


def save_pca(path: str | Path, pca) -> None:
    """Save the PCA as plain arrays (no pickle): components (k, d), mean (d,), explained variance (k,)."""
    arrays = dict(components=pca.components_, mean=pca.mean_, explained_variance=pca.explained_variance_,
                  explained_variance_ratio=pca.explained_variance_ratio_)
    files.write_atomic(path, lambda temporary: np.savez(temporary, **arrays))


class SavedPCA:
    """A PCA saved by `save_pca`, with IncrementalPCA's `transform` ((x - mean) @ components.T, no
    whitening) for `apply_pca`."""

    def __init__(self, components: np.ndarray, mean: np.ndarray):
        self.components_ = components
        self.mean_ = mean
        self.n_components_ = int(components.shape[0])

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float64) - self.mean_) @ self.components_.T


def load_pca(path: str | Path, dim: int | None = None) -> SavedPCA:
    """The PCA of a `--save` file; DataError when it is not one (or does not take `dim`-d features)."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            components, mean = np.asarray(saved["components"], np.float64), np.asarray(saved["mean"], np.float64)
    except (OSError, ValueError, KeyError) as exc:
        raise errors.DataError(path, f"not a PCA saved by fit_pca.py --save ({exc})") from None
    if components.ndim != 2 or mean.shape != (components.shape[1],):
        raise errors.DataError(path, f"components {components.shape} and mean {mean.shape} do not match")
    if dim is not None and components.shape[1] != dim:
        raise errors.DataError(path, f"a PCA of {components.shape[1]}-d features; these are {dim}-d")
    return SavedPCA(components, mean)
