"""SoccerNet v1 data layer: game lists, feature files, labels, chunks, spotting windows, batch plans.

Reproduces the data handling of the original code (Vanderplaetse & Dupont 2020, `ftpdataset.py` and
`dataset.py`; SoccerNet's `Dataset.py`): the same game lists, files, label mapping, chunking and
sliding windows. Two things differ in form, not in result: feature files are found by exact name
(not by substring search), and chunks and windows are index arrays over memory-mapped half arrays
(not materialised chunk caches), gathered batch by batch.

Shapes use these names: `frames` (features of a half, 2 per second), `dim` (feature dimension),
`N` = window_sec * fps (frames per chunk or window), classes 0..3 = background, card, subs, goal.
"""
from __future__ import annotations

import logging
import math
import mmap
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterable, Sequence

import numpy as np

from base.errors import DataError
from base.files import read_json_list

log = logging.getLogger(__name__)

# The classes: column c of every label and prediction array. Background is class 0.
CLASSES = ("background", "card", "subs", "goal")
NUM_CLASSES = len(CLASSES)
EVENT_CLASSES = CLASSES[1:]  # the three spotted classes (columns 1..3)
# How the paper's tables and the original's TensorBoard tags name them ("AP/1_cards").
CLASS_TITLES = ("background", "cards", "subs", "goals")
FRAMES_PER_SECOND = 2
HALVES = (1, 2)
PCA_DIM = 512
# Feature dimension of the known raw files; PCA files are always PCA_DIM. C3D and I3D are left out:
# their dimension is only checked for consistency across files.
KNOWN_DIMS = {"ResNET": 2048, "VGGish": 512}
# The label files, by name: the name says the version everywhere (Split, read_labels, compute_mAP.py).
V1_LABEL_FILE = "Labels.json"
V2_LABEL_FILE = "Labels-v2.json"
LABEL_FILES = (V1_LABEL_FILE, V2_LABEL_FILE)
# SoccerNet v2 labels that carry over to the three v1 classes; other v2 labels are ignored.
V2_TO_CLASS = {"Goal": 3, "Yellow card": 1, "Red card": 1, "Yellow->red card": 1, "Substitution": 2}
# Audio and video of a half are cut to their common length; a larger difference is reported.
LENGTH_WARNING_SECONDS = 3.0
_GAMETIME = re.compile(r"^\s*(\d)\s*-\s*(\d{1,3}):(\d{2})\s*$")


# --------------------------------------------------------------------------------------------
# Game lists and paths


def read_game_list(path: str | os.PathLike) -> list[str]:
    """Read a game list: a `.npy` array of strings (the original format) or a text file.

    Args:
        path: `listgame_*.npy`, or a text file with one `league/season/game` per line (blank lines
            and lines starting with `#` are skipped).

    Returns:
        The game paths, relative to the data root, in list order.

    Raises:
        DataError: missing or unreadable file, an empty list, an absolute entry, or an entry that
            climbs out of the data root.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "game list not found")
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise DataError(path, f"not a numpy array of strings ({exc})") from None
        if array.ndim != 1 or array.dtype.kind not in "US":
            raise DataError(path, f"expected a 1-D array of strings, got {array.dtype} {array.shape}")
        games = [g.decode() if isinstance(g, bytes) else str(g) for g in array.tolist()]
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(path, f"cannot read the game list ({exc})") from None
        games = [line.strip() for line in text.splitlines()]
        games = [g for g in games if g and not g.startswith("#")]
    if not games:
        raise DataError(path, "the game list is empty")
    for number, game in enumerate(games, 1):
        check_game_entry(game, path, number)
    return games


def check_game_entry(game: str, list_path: str | os.PathLike = "<list>", number: int = 0) -> None:
    """Refuse a list entry that is empty, absolute, or climbs out of the data root."""
    where = f"entry {number} '{game}'"
    if not game.strip():
        raise DataError(list_path, f"{where} is empty")
    if PurePosixPath(game).is_absolute() or PureWindowsPath(game).is_absolute() or game.startswith("\\"):
        raise DataError(list_path, f"{where} is an absolute path; entries are relative to the data root")
    if ".." in PurePosixPath(os.path.normpath(game.replace("\\", "/"))).parts:
        raise DataError(list_path, f"{where} climbs out of the data root")


def data_root_for(list_path: str | os.PathLike, data_root: str | os.PathLike | None = None) -> Path:
    """The data root: `data_root` when given, else the folder holding the list file (as the original)."""
    return Path(data_root) if data_root is not None else Path(list_path).resolve().parent


def feature_file(game_dir: str | os.PathLike, half: int, features: str, pca: bool = False) -> Path:
    """Exact feature file name: `{half}_{features}.npy`, or `{half}_{features}_PCA512.npy` with PCA."""
    suffix = f"_PCA{PCA_DIM}" if pca else ""
    return Path(game_dir) / f"{half}_{features}{suffix}.npy"


def expected_dim(features: str, pca: bool) -> int | None:
    """Feature dimension a file must have, or None when only consistency can be checked."""
    return PCA_DIM if pca else KNOWN_DIMS.get(features)


# --------------------------------------------------------------------------------------------
# Feature files


def open_features(path: str | os.PathLike, dim: int | None = None, check_finite: bool = True) -> np.ndarray:
    """Open a feature file memory-mapped (no pickles), and check it.

    Args:
        path: a `.npy` file of shape (frames, dim).
        dim: the required feature dimension, or None.
        check_finite: scan the file once for NaN or infinity (block by block, pages released after).

    Returns:
        A read-only memory-mapped array (frames, dim), in the file's dtype.

    Raises:
        DataError: missing file, not a numeric `.npy`, wrong rank or dimension, non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "feature file not found")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise DataError(path, f"not a numeric .npy array ({exc})") from None
    except OSError as exc:
        raise DataError(path, f"cannot read the feature file ({exc})") from None
    if array.dtype.kind not in "fiu":
        raise DataError(path, f"expected numeric features, got dtype {array.dtype}")
    if array.ndim != 2:
        raise DataError(path, f"expected a 2-D array (frames, features), got shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise DataError(path, f"expected {dim} features per frame, got {array.shape[1]}")
    if array.shape[0] == 0:
        raise DataError(path, "the feature file has no frames")
    if check_finite and array.dtype.kind == "f":
        step = max(1, (1 << 22) // max(1, array.shape[1]))
        for begin in range(0, array.shape[0], step):
            if not np.isfinite(array[begin:begin + step]).all():
                raise DataError(path, "contains non-finite values (NaN or infinity)")
        release_pages(array)
    return array


def release_pages(array: np.ndarray) -> None:
    """Drop the resident pages of a memory-mapped array from this process (they stay in the page cache).

    Keeps the resident memory of a long pass over many halves bounded by what one batch touches.
    A no-op for arrays that are not memory-mapped.
    """
    mapped = getattr(array, "_mmap", None)
    if mapped is not None and hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            mapped.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):  # closed or unsupported: nothing to release
            pass


# --------------------------------------------------------------------------------------------
# Labels


@dataclass(frozen=True)
class Event:
    """One annotated action: half (1 or 2), time in seconds from the half start, class 1..3."""

    half: int
    seconds: float
    label: int
    name: str = ""


def parse_game_time(game_time: str, path: str | os.PathLike = "<labels>") -> tuple[int, int, int]:
    """Parse `"H - MM:SS"` into (half, minute, second), as the original (half first, then MM:SS)."""
    match = _GAMETIME.match(str(game_time))
    if not match:
        raise DataError(path, f"bad gameTime '{game_time}', expected 'H - MM:SS'")
    half, minute, second = (int(g) for g in match.groups())
    if half not in HALVES or second >= 60:
        raise DataError(path, f"bad gameTime '{game_time}', expected half 1 or 2 and seconds below 60")
    return half, minute, second


def seconds_to_game_time(half: int, seconds: float) -> str:
    """`"H - MM:SS"` for a time in seconds from the start of the half (the inverse of `parse_game_time`)."""
    whole = int(math.floor(seconds))
    return f"{half} - {whole // 60:02d}:{whole % 60:02d}"


def v1_class(label: str) -> int:
    """Class of a SoccerNet v1 label by the original's substring tests, 0 when none matches."""
    if "card" in label:
        return 1
    if "subs" in label:
        return 2
    if "soccer" in label:
        return 3
    return 0


def read_labels(path: str | os.PathLike) -> list[Event]:
    """Read the events of a game from `Labels.json` (v1) or `Labels-v2.json` (v2).

    v1 labels are matched as the original: "card" -> card, "subs" -> subs, "soccer" -> goal; an
    unknown label is a warning and the event is skipped. v2 labels Goal, Yellow card, Red card,
    Yellow->red card and Substitution map to the same classes; other v2 labels are ignored. When an
    annotation has `position` (milliseconds from the half start) it gives the time; otherwise
    `gameTime` does (to the second).

    Args:
        path: the label file; read as v2 when it is named `Labels-v2.json`, else as v1.

    Raises:
        DataError: missing file, invalid JSON, no `annotations` list, a bad `gameTime` or `position`.
    """
    path = Path(path)
    version = 2 if path.name == V2_LABEL_FILE else 1
    annotations = read_json_list(path, "annotations", "label file")
    events = []
    for number, annotation in enumerate(annotations, 1):
        if not isinstance(annotation, dict) or "gameTime" not in annotation or "label" not in annotation:
            raise DataError(path, f"annotation {number} lacks 'gameTime' or 'label'")
        label = str(annotation["label"])
        half, minute, second = parse_game_time(annotation["gameTime"], path)
        seconds: float = 60 * minute + second
        if "position" in annotation:
            try:
                seconds = int(annotation["position"]) / 1000.0
            except (TypeError, ValueError):
                raise DataError(path, f"annotation {number} has a bad position "
                                      f"'{annotation['position']}' (milliseconds expected)") from None
            if seconds < 0:
                raise DataError(path, f"annotation {number} has a negative position")
        if version == 2:
            cls = V2_TO_CLASS.get(label, 0)
            if cls == 0:
                continue
        else:
            cls = v1_class(label)
            if cls == 0:
                log.warning("%s: unknown label '%s' at %s skipped", path, label, annotation["gameTime"])
                continue
        events.append(Event(half, seconds, cls, label))
    return events


def chunk_labels(events: Iterable[Event], n_chunks: int, window_sec: float) -> np.ndarray:
    """Multi-label targets of the non-overlapping chunks of one half (the original's `ftpdataset.py`,
    `prepareTrainingDataset`).

    Chunk j covers seconds [j*window_sec, (j+1)*window_sec). An event at t seconds lands in chunk
    t // window_sec, clamped into the last chunk. This is the original's index for every window that
    divides 60 (20, 30, 60 s...); for other windows the original's `int((60/W)*minute + int(second/W))`
    can differ by one chunk, and this exact index is used instead (see docs/data.md).

    Returns:
        (n_chunks, 4) float32: column 0 background (1 when the chunk holds no event), 1..3 the classes.
    """
    labels = np.zeros((n_chunks, NUM_CLASSES), np.float32)
    labels[:, 0] = 1.0
    if n_chunks == 0:
        return labels
    for event in events:
        index = min(int(event.seconds // window_sec), n_chunks - 1)
        labels[index, 0] = 0.0
        labels[index, event.label] = 1.0
    return labels


# --------------------------------------------------------------------------------------------
# Halves and splits


@dataclass
class Half:
    """One half of one game: memory-mapped streams cut to a common length, and its events."""

    game: str
    half: int
    streams: dict[str, np.ndarray]  # stream name -> (frames, dim) memory-mapped view
    events: list[Event] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return next(iter(self.streams.values())).shape[0]

    @property
    def key(self) -> str:
        return f"{self.game}/Half_{self.half}"


@dataclass
class WindowIndex:
    """Chunks or spotting windows as indices: window i is frames [start[i], start[i] + frames) of
    half half_id[i], with frame numbers clipped into the half (replicate padding)."""

    half_id: np.ndarray  # (n,) int32
    start: np.ndarray  # (n,) int64, may be negative or run past the end (padding)
    frames: int  # N, frames per window
    labels: np.ndarray | None = None  # (n, 4) float32 for chunks

    def __len__(self) -> int:
        return len(self.half_id)

    def windows_of_half(self, half_id: int) -> np.ndarray:
        """Positions (into this index) of the windows of one half, in time order."""
        return np.flatnonzero(self.half_id == half_id)


class Split:
    """The halves of the games of one list, opened lazily by memory map.

    Args:
        list_path: the game list (`.npy` or text).
        data_root: folder the list's game paths are relative to; default the list file's folder.
        video_features / audio_features: feature names (`ResNET`, `VGGish`, ...); None to skip a stream.
        pca: read the video stream from `{half}_{video}_PCA512.npy`.
        label_file: `Labels.json` (v1), `Labels-v2.json` (v2), or None (no labels: spotting of games
            without annotations).
        check_finite: scan each feature file once for NaN or infinity.
        games: use these games instead of reading the list (still validated).
        fps: features per second.
        release_bytes: after gathering this many bytes, drop the touched pages of the memory maps
            from this process (they stay in the page cache), so that resident memory stays bounded
            on a pass over a large split.
    """

    def __init__(self, list_path: str | os.PathLike, *, data_root: str | os.PathLike | None = None,
                 video_features: str | None = "ResNET", audio_features: str | None = "VGGish",
                 pca: bool = True, label_file: str | None = V1_LABEL_FILE, check_finite: bool = True,
                 games: Sequence[str] | None = None, fps: int = FRAMES_PER_SECOND,
                 release_bytes: int = 128 << 20):
        self.list_path = Path(list_path)
        self.root = data_root_for(list_path, data_root)
        if games is None:
            games = read_game_list(list_path)
        else:
            for number, game in enumerate(games, 1):
                check_game_entry(game, list_path, number)
        self.games = list(games)
        self.fps = fps
        self.features = {}
        if video_features:
            self.features["video"] = (video_features, pca)
        if audio_features:
            self.features["audio"] = (audio_features, False)
        if not self.features:
            raise ValueError("at least one of video_features and audio_features is needed")
        if label_file is not None and label_file not in LABEL_FILES:
            raise ValueError(f"unknown label file {label_file!r}; valid: {', '.join(LABEL_FILES)} or None")
        self.label_file = label_file
        self.check_finite = check_finite
        self.release_bytes = release_bytes
        self._touched = 0
        self.halves: list[Half] = []
        dims: dict[str, tuple[int, Path]] = {}
        for game in self.games:
            game_dir = self.root / game
            if not game_dir.is_dir():
                raise DataError(game_dir, "game folder not found")
            events = self._read_events(game_dir)
            for half in HALVES:
                self.halves.append(self._open_half(game, game_dir, half, events, dims))
        self._lengths = np.array([h.n_frames for h in self.halves], np.int64)

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self.features)

    def dim(self, stream: str) -> int:
        return self.halves[0].streams[stream].shape[1]

    def _read_events(self, game_dir: Path) -> list[Event]:
        return [] if self.label_file is None else read_labels(game_dir / self.label_file)

    def _open_half(self, game: str, game_dir: Path, half: int, events: list[Event],
                   dims: dict[str, tuple[int, Path]]) -> Half:
        arrays, paths = {}, {}
        for stream, (name, pca) in self.features.items():
            path = feature_file(game_dir, half, name, pca)
            array = open_features(path, expected_dim(name, pca), self.check_finite)
            if stream in dims and dims[stream][0] != array.shape[1]:
                raise DataError(path, f"has {array.shape[1]} features per frame but "
                                      f"{dims[stream][1]} has {dims[stream][0]}")
            dims.setdefault(stream, (array.shape[1], path))
            arrays[stream], paths[stream] = array, path
        lengths = {stream: a.shape[0] for stream, a in arrays.items()}
        common = min(lengths.values())
        if max(lengths.values()) - common > LENGTH_WARNING_SECONDS * self.fps:
            log.warning("%s/Half_%d: audio and video lengths differ (%s frames); both cut to %d frames",
                        game, half, ", ".join(f"{s} {n}" for s, n in lengths.items()), common)
        arrays = {stream: a[:common] for stream, a in arrays.items()}
        return Half(game, half, arrays, [e for e in events if e.half == half], paths)

    # ----------------------------------------------------------------------------------------
    # Windows

    def chunk_index(self, window_sec: float) -> WindowIndex:
        """Non-overlapping chunks of N = window_sec * fps frames per half, the tail dropped (the original's
        `ftpdataset.py`, `prepare*Dataset`)."""
        frames = window_frames(window_sec, self.fps)
        half_ids, starts, labels = [], [], []
        for half_id, half in enumerate(self.halves):
            n_chunks = half.n_frames // frames
            half_ids.append(np.full(n_chunks, half_id, np.int32))
            starts.append(np.arange(n_chunks, dtype=np.int64) * frames)
            labels.append(chunk_labels(half.events, n_chunks, window_sec))
        return WindowIndex(np.concatenate(half_ids), np.concatenate(starts), frames,
                           np.concatenate(labels))

    def spotting_index(self, frames: int, half_ids: Sequence[int] | None = None) -> WindowIndex:
        """One window of `frames` frames per second of each half, replicate-padded at both ends (the
        original's `ClassificationSecondBased.py` and `ftpdataset.py`, `loadSpottingTestingDataset`)."""
        if half_ids is None:
            half_ids = range(len(self.halves))
        ids, starts = [], []
        for half_id in half_ids:
            start = spotting_starts(self.halves[half_id].n_frames, frames, self.fps)
            ids.append(np.full(len(start), half_id, np.int32))
            starts.append(start)
        return WindowIndex(np.concatenate(ids), np.concatenate(starts), frames)

    def gather(self, index: WindowIndex, positions: np.ndarray,
               streams: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Copy the windows at `positions` of `index` out of the memory maps, in that order.

        A run of adjacent chunks of one half (the original's batches hold whole halves) is copied as
        one block, any other window as one slice; only windows that reach past either end of the
        half (spotting padding) go through clipped frame numbers. Every window is copied once,
        straight into the batch; the alternatives measured slower (row-by-row fancy indexing, fancy
        indexes of whole windows, `np.take` on a strided window view: docs/performance.md).

        Args:
            index: chunks or spotting windows.
            positions: which windows of the index, in the order wanted.
            streams: the streams to copy (default all of the split's).

        Returns:
            stream name -> (len(positions), N, dim) float32, and "labels" -> (len(positions), 4)
            when the index has labels.
        """
        positions = np.asarray(positions, np.int64)
        half_ids = index.half_id[positions]
        starts = index.start[positions]
        frames = index.frames
        inside = (starts >= 0) & (starts + frames <= self._lengths[half_ids])
        # A run goes on while the half is the same and the next window starts where this one ends.
        breaks = np.ones(len(positions), bool)
        breaks[1:] = ((half_ids[1:] != half_ids[:-1]) | (starts[1:] != starts[:-1] + frames)
                      | ~inside[1:] | ~inside[:-1])
        firsts = np.flatnonzero(breaks)
        runs = list(zip(firsts.tolist(), np.append(firsts[1:], len(positions)).tolist(),
                        half_ids[firsts].tolist(), starts[firsts].tolist(), inside[firsts].tolist()))
        offsets = np.arange(frames, dtype=np.int64)
        out = {}
        for stream in self.streams if streams is None else streams:
            arrays = [half.streams[stream] for half in self.halves]
            batch = empty_float32((len(positions), frames, self.dim(stream)))
            for first, stop, half_id, begin, whole in runs:
                array = arrays[half_id]
                if stop - first == 1 and whole:
                    batch[first] = array[begin:begin + frames]
                elif whole:
                    batch[first:stop] = array[begin:begin + (stop - first) * frames].reshape(stop - first,
                                                                                             frames, -1)
                else:  # replicate padding: frame numbers clipped into the half
                    batch[first] = array[np.clip(begin + offsets, 0, array.shape[0] - 1)]
            out[stream] = batch
            self._touched += batch.nbytes
        if self._touched > self.release_bytes:
            self.release()
        if index.labels is not None:
            out["labels"] = index.labels[positions]
        return out

    def release(self) -> None:
        """Drop the pages of every memory map from this process's resident memory."""
        for half in self.halves:
            for array in half.streams.values():
                release_pages(array)
        self._touched = 0

    def summary(self, window_sec: float = 60) -> dict:
        """Counts for a report: games, halves, frames, events per class, feature shapes, chunks."""
        events = np.zeros(NUM_CLASSES, np.int64)
        for half in self.halves:
            for event in half.events:
                events[event.label] += 1
        frames = np.array([h.n_frames for h in self.halves])
        return {
            "games": len(self.games),
            "halves": len(self.halves),
            "frames": {"total": int(frames.sum()), "min": int(frames.min()), "max": int(frames.max())},
            "events": {CLASSES[c]: int(events[c]) for c in range(1, NUM_CLASSES)},
            "features": {stream: {"file": self.halves[0].paths[stream].name,
                                  "shape": list(self.halves[0].streams[stream].shape),
                                  "dtype": str(self.halves[0].streams[stream].dtype)}
                         for stream in self.streams},
            "chunks": int(sum(h.n_frames // window_frames(window_sec, self.fps) for h in self.halves)),
        }


def window_frames(window_sec: float, fps: int = FRAMES_PER_SECOND) -> int:
    """N, the frames of a chunk or window of window_sec seconds."""
    frames = window_sec * fps
    if frames != int(frames) or frames <= 0:
        raise ValueError(f"a window of {window_sec} s at {fps} features/s is not a whole number of frames")
    return int(frames)


def spotting_starts(n_frames: int, frames: int, fps: int = FRAMES_PER_SECOND) -> np.ndarray:
    """First frame of each spotting window of N = `frames` frames of a half (the original's
    `ClassificationSecondBased.py`).

    The original pads the half with N / 2 copies of its first and last frame and takes
    floor(n_frames / fps) windows of N frames with a stride of one second, so window i covers seconds
    [i - T/2, i + T/2) for T = N / fps. Here the padding is implicit: the start is fps*i - N/2 in the
    unpadded half, and the gather clips frame numbers into the half.

    Returns:
        (floor(n_frames / fps),) int64 start frames, negative for the first windows.
    """
    return np.arange(n_frames // fps, dtype=np.int64) * fps - frames // 2


def padded_frame_numbers(n_frames: int, frames: int, fps: int = FRAMES_PER_SECOND,
                         n_windows: int | None = None) -> np.ndarray:
    """Frame numbers of the replicate-padded half that the spotting windows cover (`spotting_starts`):
    padded frame p is frame clip(p - N/2, 0, n_frames - 1), and window i covers padded frames
    [fps*i, fps*i + N).

    Returns:
        (fps*(n_windows - 1) + N,) int64 frame numbers (n_windows: floor(n_frames / fps) by default).
    """
    if n_windows is None:
        n_windows = n_frames // fps
    length = fps * (n_windows - 1) + frames if n_windows else 0
    return np.clip(np.arange(length, dtype=np.int64) - frames // 2, 0, max(n_frames - 1, 0))


# Batches at least this large are gathered into memory of their own, mapped for them and returned to the
# system when they are freed (`empty_float32`).
OWN_MAPPING_BYTES = 2 ** 28


def empty_float32(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float32 array; from an anonymous memory map of its own when it is at least
    `OWN_MAPPING_BYTES`. The scripts keep freed memory in the process for reuse (`runtime.process.tune_allocator`),
    which suits batches of a few hundred chunks; whole steps of thousands of chunks, each a little larger
    or smaller than the last, would otherwise leave the heap holding several of them."""
    count = int(np.prod(shape))
    if 4 * count < OWN_MAPPING_BYTES:
        return np.empty(shape, np.float32)
    mapping = mmap.mmap(-1, 4 * count, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(mapping, np.float32, count).reshape(shape)  # the array keeps the mapping alive
