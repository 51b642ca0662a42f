"""Files that are whole or absent: the one owner of the write-then-rename contract, of the up-front check
of where outputs go, and JSON list reading.

A write goes to a temporary file in the target's folder and is renamed onto the target (atomic on POSIX),
so a reader never sees a half-written file, whatever kills the writer.
"""
from __future__ import annotations

import fcntl
import glob
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from base.errors import DataError
from base.fault_hook import fault_point


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Temporaries of `path` left by a process that was killed before it could clean up."""
    for stale in path.parent.glob(f".{glob.escape(path.stem)}.*.tmp{glob.escape(path.suffix)}"):
        pid = stale.name[len(path.stem) + 2:].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            stale.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Write a file so that it is either absent, as before, or complete: never half-written.

    `write(temporary)` writes the content to a temporary path in the same folder (a unique name,
    `.<stem>.<pid>-<random>.tmp<suffix>`, with `path`'s suffix so that writers that choose the format by
    suffix, as Keras and numpy do, behave as for `path`); it is then renamed onto `path` (atomic on
    POSIX). Whatever happens in this process, the temporary file is gone afterwards; temporaries of the
    same file left by a killed process are removed on the next write.

    Returns:
        `path`.
    Raises:
        OSError: the write failed (a full disk, a folder that is not writable); its `filename` is `path`
            and the previous file, if any, is intact.
    """
    path = Path(path)
    _remove_stale_temporaries(path)
    # Unique per process and call; created by `write` itself, so with the usual permissions.
    temporary = path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        write(temporary)
        fault_point(f"write:{path.name}")
        os.replace(temporary, path)
    except OSError as exc:
        raise OSError(exc.errno, f"could not be written ({exc.strerror or exc})", str(path)) from exc
    finally:
        temporary.unlink(missing_ok=True)
    return path


def staging_folder(output: str | os.PathLike) -> Path:
    """A new empty folder beside `output` (same file system) where a run writes the files of `output` before
    `publish` moves them into place: `.<name>.<pid>-<random>.stage`. Those left by killed processes are
    removed first."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    for stale in output.parent.glob(f".{glob.escape(output.name)}.*.stage"):
        pid = stale.name[len(output.name) + 2:].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    stage = output.parent / f".{output.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.stage"
    stage.mkdir()
    return stage


def publish(stage: Path, output: str | os.PathLike, last: str) -> None:
    """Move every file of `stage` into `output` at the same relative path, the file `last` (the marker that
    the run is complete) at the end, then remove `stage`. Each move is an atomic rename; the moves of two
    processes publishing into one folder do not interleave (an exclusive lock on `output/.lock`), so the
    folder ends with one run's files, never a mix of two.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    moved = sorted((p for p in stage.rglob("*") if p.is_file()),
                   key=lambda p: p.relative_to(stage).as_posix() == last)  # stable: `last` at the end
    with open(output / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        for source in moved:
            target = output / source.relative_to(stage)
            target.parent.mkdir(parents=True, exist_ok=True)
            fault_point(f"publish:{source.name}")
            os.replace(source, target)
    shutil.rmtree(stage, ignore_errors=True)


def write_npy_atomic(path: str | os.PathLike, array: np.ndarray) -> Path:
    """`np.save` of a plain array (never pickled), atomically."""
    return write_atomic(path, lambda temporary: np.save(temporary, array, allow_pickle=False))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """A UTF-8 text file, atomically."""
    return write_atomic(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | os.PathLike, content) -> Path:
    """JSON (indented, one trailing newline), atomically. The content is serialised before anything is
    written, so content that is not JSON leaves no file."""
    text = json.dumps(content, indent=2) + "\n"
    return write_text_atomic(path, text)


def read_json_list(path: str | os.PathLike, key: str, kind: str) -> list:
    """The list under `key` of a JSON object file; DataError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, f"{kind} not found")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"invalid JSON ({exc})") from None
    items = content.get(key) if isinstance(content, dict) else None
    if not isinstance(items, list):
        raise DataError(path, f"no '{key}' list")
    return items


def check_output_folder(folder: str | os.PathLike, flag: str) -> None:
    """A folder that can hold outputs, checked before any work: not an existing file, and its nearest
    existing ancestor a writable folder (so that it can be created). DataError naming it and `flag`."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(folder, f"{flag} names a file, not a folder")
    _check_creatable(folder, folder.absolute(), flag)


def check_output_file(path: str | os.PathLike, flag: str) -> None:
    """A file that can be written (or replaced) before any work: not a folder, in a folder that exists or
    can be created. DataError naming it and `flag`."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, f"{flag} names a folder, not a file")
    _check_creatable(path, path.absolute().parent, flag)


def _check_creatable(named: Path, folder: Path, flag: str) -> None:
    """`folder` exists or can be made: its nearest existing ancestor is a writable folder."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise DataError(named, f"{flag} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(named, f"{flag} cannot be written: {existing} is not writable")
