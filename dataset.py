"""SoccerNet data layer: game lists, feature files, chunk labels, chunks, spotting windows, batch plans.

Reproduces the data handling of the original code (Vanderplaetse & Dupont 2020, `ftpdataset.py` and
`dataset.py`; SoccerNet's `Dataset.py`): the same game lists, files, label mapping, chunking and
sliding windows. Two things differ in form, not in result: feature files are found by exact name
(not by substring search), and chunks and windows are index arrays over memory-mapped half arrays
(not materialised chunk caches), gathered batch by batch.

Shapes use these names: `frames` (features of a half, 2 per second), `dim` (feature dimension),
`N` = window_sec * fps (frames per chunk or window); label columns 0..C are the background and the C event
classes of the split's class set (`base.classes`: v1 card, subs, goal; v2 SoccerNet-v2's 17), its label files
read by `base.labels`.
"""
from __future__ import annotations

import logging
import mmap
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterable, Sequence

import numpy as np

from base.classes import V1, ClassSet, class_set
from base.errors import DataError
from base.labels import HALVES, Event, read_labels

log = logging.getLogger(__name__)

FRAMES_PER_SECOND = 2
PCA_DIM = 512
# Feature dimension of the known raw files; PCA files are always PCA_DIM. C3D and I3D are left out:
# their dimension is only checked for consistency across files.
KNOWN_DIMS = {"ResNET": 2048, "VGGish": 512}
# `Split(label_file=AUTO)`: each game's first label file of the class set's (`ClassSet.label_files`).
AUTO = "auto"
# Audio and video of a half are cut to their common length; a larger difference is reported.
LENGTH_WARNING_SECONDS = 3.0
# Annotations this far past the end of a half's features are warned of (they count in its last chunk).
LATE_EVENT_SECONDS = 60.0


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
        DataError: missing or unreadable file, an empty list, an absolute entry, an entry that
            climbs out of the data root, or a game listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "game list not found")
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:  # EOFError: a zero-byte or truncated file
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
    first: dict[str, int] = {}
    for number, game in enumerate(games, 1):
        check_game_entry(game, path, number)
        if game in first:  # trained, spotted or scored twice otherwise
            raise DataError(path, f"entry {number} {game!r} repeats entry {first[game]}")
        first[game] = number
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
    except (ValueError, EOFError) as exc:  # EOFError: a zero-byte or truncated file
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


def chunk_labels(events: Iterable[Event], n_chunks: int, window_sec: float, classes: ClassSet = V1) -> np.ndarray:
    """Multi-label targets of the non-overlapping chunks of one half (the original's `ftpdataset.py`,
    `prepareTrainingDataset`).

    Chunk j covers seconds [j*window_sec, (j+1)*window_sec). An event at t seconds lands in chunk
    t // window_sec, clamped into the last chunk. This is the original's index for every window that
    divides 60 (20, 30, 60 s...); for other windows the original's `int((60/W)*minute + int(second/W))`
    can differ by one chunk, and this exact index is used instead (see docs/data.md).

    Returns:
        (n_chunks, 1 + C) float32 for the C event classes of `classes`: column 0 background (1 when the
        chunk holds no event), 1..C the classes.
    """
    labels = np.zeros((n_chunks, classes.num_classes), np.float32)
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
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # stream -> (device, inode) of its map

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
    labels: np.ndarray | None = None  # (n, 1 + C) float32 for chunks

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
        classes: the class set (`base.classes`: v1, the default, or v2), or its name.
        label_file: the label file of each game: AUTO (the first of the class set's label files that the
            game has: `Labels.json`, else `Labels-v2.json` for v1; `Labels-v2.json` for v2), a file name,
            or None (no labels: spotting of games without annotations).
        check_finite: scan each feature file once for NaN or infinity.
        games: use these games instead of reading the list (still validated).
        fps: features per second.
        release_bytes: after gathering this many bytes, drop the touched pages of the memory maps
            from this process (they stay in the page cache), so that resident memory stays bounded
            on a pass over a large split.
    """

    def __init__(self, list_path: str | os.PathLike, *, data_root: str | os.PathLike | None = None,
                 video_features: str | None = "ResNET", audio_features: str | None = "VGGish",
                 pca: bool = True, classes: ClassSet | str = V1, label_file: str | None = AUTO, check_finite: bool = True,
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
        self.classes = class_set(classes)
        if label_file is not None and label_file != AUTO and not label_file.endswith(".json"):
            raise ValueError(f"unknown label file {label_file!r}: a .json file name, {AUTO!r} or None")
        self.label_file = label_file
        self.unknown_labels: Counter = Counter()  # labels the class set does not know, over the split
        self.check_finite = check_finite
        self.release_bytes = release_bytes
        self._touched = 0
        self._replaced: set[Path] = set()  # feature files replaced on disk since they were mapped
        self._replaced_lock = threading.Lock()
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
        if self.label_file is None:
            return []
        name = self.label_file
        if name == AUTO:  # the first of the class set's label files that the game has
            name = next((f for f in self.classes.label_files if (game_dir / f).is_file()), self.classes.label_file)
        return read_labels(game_dir / name, self.classes, self.unknown_labels)

    def _open_half(self, game: str, game_dir: Path, half: int, events: list[Event],
                   dims: dict[str, tuple[int, Path]]) -> Half:
        arrays, paths, files = {}, {}, {}
        for stream, (name, pca) in self.features.items():
            path = feature_file(game_dir, half, name, pca)
            files[stream] = _file_id(path)  # before mapping: a file replaced in between is read from its map
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
        mine = [e for e in events if e.half == half]
        late = [e for e in mine if e.seconds > common / self.fps + LATE_EVENT_SECONDS]
        if late:
            log.warning("%s/Half_%d: %d annotations more than %g s past the end of its %g s of features (the "
                        "first at %g s); counted in its last chunk, as the original", game, half, len(late),
                        LATE_EVENT_SECONDS, common / self.fps, late[0].seconds)
        return Half(game, half, arrays, mine, paths, files)

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
            labels.append(chunk_labels(half.events, n_chunks, window_sec, self.classes))
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
        """Copy the windows at `positions` of `index` out of the feature files, in that order.

        A run of adjacent chunks of one half (the original's batches hold whole halves) is copied as
        one block, any other window as one slice; only windows that reach past either end of the
        half (spotting padding) go through clipped frame numbers. Every window is copied once,
        straight into the batch; the alternatives measured slower (row-by-row fancy indexing, fancy
        indexes of whole windows, `np.take` on a strided window view: docs/performance.md). Runs of
        float32 files are read with pread (`_read_rows`), the others, and files replaced on disk since the
        split opened them, copied out of the memory maps.

        Args:
            index: chunks or spotting windows.
            positions: which windows of the index, in the order wanted.
            streams: the streams to copy (default all of the split's).

        Returns:
            stream name -> (len(positions), N, dim) float32, and "labels" -> (len(positions), 1 + C)
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
            files: dict[int, int] = {}  # half -> descriptor, for this call only (gathers run in parallel)
            try:
                for first, stop, half_id, begin, whole in runs:
                    array = arrays[half_id]
                    path = self.halves[half_id].paths[stream]
                    if whole and _readable(array) and path not in self._replaced:
                        if half_id not in files:
                            files[half_id] = self._open_mapped(self.halves[half_id], stream)
                        if files[half_id] >= 0:
                            _read_rows(files[half_id], array, begin, batch[first:stop], path)
                            continue
                    if stop - first == 1 and whole:
                        batch[first] = array[begin:begin + frames]
                    elif whole:
                        batch[first:stop] = array[begin:begin + (stop - first) * frames].reshape(stop - first,
                                                                                                 frames, -1)
                    else:  # replicate padding (a run of one window): frame numbers clipped into the half
                        batch[first] = array[np.clip(begin + offsets, 0, array.shape[0] - 1)]
                    self._touched += batch[first:stop].nbytes  # pages of the memory map touched
            finally:
                for descriptor in files.values():
                    if descriptor >= 0:
                        os.close(descriptor)
            out[stream] = batch
        if self._touched > self.release_bytes:
            self.release()
        if index.labels is not None:
            out["labels"] = index.labels[positions]
        return out

    def _open_mapped(self, half: Half, stream: str) -> int:
        """A descriptor of the file that `half`'s `stream` maps, or -1 when its path now names another file
        (replaced on disk since the split opened it: the windows then come from the memory map, which still
        holds the file that was checked; said once per file)."""
        path = half.paths[stream]
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError):
            descriptor = -1
        if descriptor >= 0:
            stat = os.fstat(descriptor)
            if (stat.st_dev, stat.st_ino) == half.files.get(stream):
                return descriptor
            os.close(descriptor)
        with self._replaced_lock:  # gathers run in parallel: one warning
            said = path in self._replaced
            self._replaced.add(path)
        if not said:
            log.warning("%s: replaced or removed on disk since it was opened; this run goes on reading the file "
                        "it opened", path)
        return -1

    def release(self) -> None:
        """Drop the pages of every memory map from this process's resident memory."""
        for half in self.halves:
            for array in half.streams.values():
                release_pages(array)
        self._touched = 0

    def summary(self, window_sec: float = 60) -> dict:
        """Counts for a report: games, halves, frames, events per class, labels skipped, feature shapes,
        chunks."""
        events = np.zeros(self.classes.num_classes, np.int64)
        for half in self.halves:
            for event in half.events:
                events[event.label] += 1
        frames = np.array([h.n_frames for h in self.halves])
        return {
            "games": len(self.games),
            "halves": len(self.halves),
            "frames": {"total": int(frames.sum()), "min": int(frames.min()), "max": int(frames.max())},
            "events": {name: int(events[c]) for c, name in enumerate(self.classes.classes) if c},
            "unknown_labels": int(sum(self.unknown_labels.values())),
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


def _readable(array: np.ndarray) -> bool:
    """Whether rows of this feature array are read from its file (`_read_rows`) rather than copied out of its
    memory map: a float32 little-endian (C-order) memory map, viewed from its first row as `Split` keeps them.

    Reading keeps the pages out of the process: a memory map's page faults map the page cache's large folios
    whole, far more than a window's bytes, so that a shuffled epoch's resident memory grew to the size of the
    data set (bench/bench_pipeline.py: a peak of 2.2 GB for 30 games, 1.0 GB with these reads)."""
    return (isinstance(array, np.memmap) and array.dtype == np.dtype("<f4") and array.flags.c_contiguous
            and hasattr(os, "preadv"))


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None where it cannot be read (then it is never pread)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _read_rows(descriptor: int, array: np.memmap, begin: int, out: np.ndarray, path: Path) -> None:
    """Rows begin... of `array` (a `_readable` view of the file open as `descriptor`) into the C-contiguous
    float32 `out` (as many rows as it holds), with pread."""
    view = memoryview(out).cast("B")
    offset = array.offset + begin * array.strides[0]  # the view starts at the file's first row
    done = 0
    while done < len(view):
        got = os.preadv(descriptor, [view[done:]], offset + done)
        if got <= 0:
            raise DataError(path, "the feature file is shorter than its header says")
        done += got


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
