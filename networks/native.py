"""This project's TensorFlow operations written in C++ (`networks/<name>.cc`), built on the machine that
runs them, the first time a process needs one, and kept in the user's cache folder
(`base.measured.cache_folder()/ops`), so that later processes load them at once.

The build is `$CXX` (else `c++`, else `g++`) with TensorFlow's own compile and link flags
(`tf.sysconfig`) and `-O3 -march=native -fno-math-errno -ffp-contract=off`: this processor's vector
instructions, IEEE square roots and divisions, no fused multiply-adds, so that results stay those of
TensorFlow's kernels. A library is named by a hash of its source, TensorFlow's version, the compiler and
its flags, and the processor's model and flags: a change of any builds it again. Builds are serialised
by a file lock (processes of one machine, workers of one cluster sharing a home folder), written to a
temporary file and renamed, so no process loads a half-written library.

Where no compiler is found, the build fails or the library does not load, `library` returns None after
one warning, and the caller uses TensorFlow's own kernel.
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import tensorflow as tf

from base import machine, measured

log = logging.getLogger(__name__)

SOURCES = Path(__file__).resolve().parent
FLAGS = ("-shared", "-fPIC", "-O3", "-march=native", "-fno-math-errno", "-ffp-contract=off", "-w")
BUILD_SECONDS = 600
_LOADED: dict[str, object] = {}
_LOCK = threading.Lock()


class BuildError(RuntimeError):
    """The compiler is missing or failed."""


def library(name: str):
    """The loaded module of `networks/<name>.cc` (its operations as functions), built if needed; None where
    it cannot be built or loaded (logged once per process)."""
    with _LOCK:
        if name not in _LOADED:
            try:
                _LOADED[name] = tf.load_op_library(str(built(name)))
                log.info("networks/%s.cc loaded", name)
            except (BuildError, OSError, subprocess.SubprocessError, tf.errors.OpError) as error:
                log.warning("networks/%s.cc cannot be used here (%s): TensorFlow's own kernel instead", name,
                            str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__)
                _LOADED[name] = None
        return _LOADED[name]


def compiler() -> list[str] | None:
    """The compiler's command: `$CXX` (which may hold arguments: "ccache g++"), else c++ or g++."""
    if os.environ.get("CXX", "").strip():
        return shlex.split(os.environ["CXX"])
    found = shutil.which("c++") or shutil.which("g++")
    return [found] if found else None


def built(name: str) -> Path:
    """The path of `networks/<name>.cc` built for this machine and TensorFlow, building it if it is not there.
    Raises BuildError (or OSError where the cache folder cannot be written)."""
    source = SOURCES / f"{name}.cc"
    program = compiler()
    if not program:
        raise BuildError("no C++ compiler: set CXX or install g++")
    try:
        version = subprocess.run([*program, "--version"], capture_output=True, text=True, timeout=60).stdout
    except OSError as error:
        raise BuildError(f"{program[0]}: {error.strerror}") from error
    flags = [*FLAGS, *tf.sysconfig.get_compile_flags(), *tf.sysconfig.get_link_flags()]
    identity = repr((source.read_bytes(), tf.__version__, program, version.splitlines()[:1], flags,
                     machine.cpu_model(), sorted(machine.cpu_flags())))
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    folder = measured.cache_folder() / "ops"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}-{key}.so"
    with open(folder / f"{name}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not target.exists():
            _compile(program, source, flags, target)
    return target


def _compile(program: list[str], source: Path, flags: list[str], target: Path) -> None:
    log.warning("building %s for this machine (once; kept in %s)", source.name, target.parent)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".so", dir=target.parent)
    os.close(handle)
    try:
        done = subprocess.run([*program, str(source), "-o", temporary, *flags], capture_output=True, text=True,
                              timeout=BUILD_SECONDS)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if "error" in line] or done.stderr.splitlines() or ["?"]
            raise BuildError(f"{' '.join(program)} failed: {lines[0]}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
