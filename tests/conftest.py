"""Shared fixtures: a tiny synthetic SoccerNet made once per session, and a helper to write games."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

import synthetic  # noqa: E402

# A tiny synthetic set: 4-minute halves, the event rate raised so that short halves hold events.
TINY = synthetic.SyntheticConfig(games=(3, 2, 2), half_minutes=4.0, stoppage_minutes=(0.0, 0.5), seed=3,
                                 event_rate=10.0)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """Root of the tiny synthetic set (read only: copy it before changing anything)."""
    return synthetic.generate(tmp_path_factory.mktemp("tiny_synthetic"), TINY, progress=False)


def write_game(root: Path, game: str, frames=(120, 120), video_dim=512, audio_dim=512, annotations=(),
               video=None, audio=None, pca=True, label_file="Labels.json") -> Path:
    """Write one hand-made game folder; `video`/`audio` override the generated arrays per half."""
    folder = Path(root) / game
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for half, n in zip((1, 2), frames):
        v = video[half - 1] if video is not None else rng.standard_normal((n, video_dim)).astype(np.float32)
        a = audio[half - 1] if audio is not None else rng.random((n, audio_dim)).astype(np.float32)
        np.save(folder / (f"{half}_ResNET_PCA512.npy" if pca else f"{half}_ResNET.npy"), v)
        np.save(folder / f"{half}_VGGish.npy", a)
    if label_file:
        (folder / label_file).write_text(json.dumps({"annotations": list(annotations)}))
    return folder


def write_list(path: Path, games) -> Path:
    np.save(path, np.array(list(games)))
    return path
