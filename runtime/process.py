"""The process set-up of every script: what must happen before TensorFlow is imported (`setup_process`: the
GPU choice, the allocator settings, one logging format with a progress-bar-friendly handler), the start of
TensorFlow itself (`start_tensorflow`), the processor probe for bfloat16 and the versions a run records.

This is the one library module that imports TensorFlow inside a function: `start_tensorflow` is the
moment the faces choose for it.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import importlib.metadata
import logging
import os
import platform
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from base import precision as precisions
from base.machine import cpu_flags
from runtime.cli import _log_level

TOP = Path(__file__).resolve().parent.parent
log = logging.getLogger("runs")
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def tune_allocator() -> bool:
    """Keep freed memory for reuse instead of returning it to the system (glibc only).

    glibc serves blocks over 32 MB with fresh memory maps and unmaps them when freed, so every batch
    of windows (and every large TensorFlow temporary) pays for zero-filled page faults on first
    touch. With no mmap for large blocks and no trimming, freed blocks are reused (docs/performance.md's
    benchmark section has the figures, `bench/bench_pipeline.py`). Resident memory then stays at its
    high-water mark. Call it early in a script's main(), before TensorFlow is imported; a no-op where
    glibc is absent.

    It also asks TensorFlow for its best-fit-with-coalescing CPU allocator (`TF_CPU_ALLOCATOR_USE_BFC`,
    unless the environment already says otherwise), which made the big poolings' training steps faster
    (`bench/bench_networks.py --compare_allocators`). It acts only if TensorFlow is not imported yet.

    Returns:
        True when the allocator was tuned.
    """
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_max = -1, -4  # glibc malloc.h
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2 ** 31 - 1))
    except (OSError, AttributeError):
        return False


def progress_off(no_progress: bool) -> bool | None:
    """tqdm's `disable` for every progress bar: off when asked, and off when stderr is not a terminal
    (None: tqdm's own test), so that logs redirected to a file hold lines, not bar frames."""
    return True if no_progress else None


class TqdmHandler(logging.StreamHandler):
    """Log lines on stderr that do not break the progress bars."""

    def emit(self, record):
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must not raise
            self.handleError(record)


def setup_logging(level: str = "INFO", log_file: str | os.PathLike | None = None) -> None:
    """One logging format for every script: stderr through `TqdmHandler`, and `log_file` when given.
    Calling it again replaces the handlers it installed before."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_soccernet", False):
            root.removeHandler(handler)
            handler.close()
    handlers = [TqdmHandler()]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler._soccernet = True
        handler.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(_log_level(level))


def setup_process(args: argparse.Namespace) -> None:
    """What every script does first, before TensorFlow is imported: the GPU choice (`args.GPU`, when the
    script has it), the allocator settings, and the logging set-up (`args.loglevel`; TensorFlow's own C++
    log only under DEBUG)."""
    gpu = getattr(args, "GPU", -1)
    if gpu is not None and gpu >= 0:
        os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    tune_allocator()
    level = getattr(args, "loglevel", "INFO")
    # TensorFlow's C++ log (its servers' start-up, a lost peer's abort in every collective) under DEBUG
    # only: otherwise a failure is the script's one line. A value the user set is kept.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if _log_level(level) == "DEBUG" else "3")
    setup_logging(level)


def run_script(script: Path, argv: Sequence[str]) -> int:
    """`python SCRIPT ARGV...` in this process: the script runs as `__main__` (runpy: it is not imported as a
    module, so no module imports a face), and TensorFlow, once started, serves every script run so. Returns
    its exit code (a `SystemExit` with a message prints it on stderr and gives 1, as Python does)."""
    saved, sys.argv = sys.argv, [str(script), *argv]
    try:
        runpy.run_path(str(script), run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code
    finally:
        sys.argv = saved
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr, flush=True)
    return 1


# What TensorFlow's CUDA build prints on a machine without NVIDIA's driver, straight to file descriptor 2
# and before its logging is set up (so TF_CPP_MIN_LOG_LEVEL cannot hide it): dropped on such machines.
CUDA_NOISE = ("cudart_stub.cc", "cuda_platform.cc", "cuInit", "cuda drivers", "cuda_executor.cc",
              "gpu_device.cc:2", "Unable to register cu")


# TensorFlow's start-up banners (absl's note that it logs before being set up, oneDNN's INFO line): dropped
# with the rest of its C++ INFO log, i.e. unless --loglevel DEBUG (TF_CPP_MIN_LOG_LEVEL 0), which absl's
# early messages do not obey.
START_BANNERS = ("absl::InitializeLog() is called", "oneDNN custom operations are on")


def has_nvidia_driver() -> bool:
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists()


def _import_tensorflow_quietly():
    """Import TensorFlow and look for GPUs with file descriptor 2 sent to a temporary file, then write back
    what it caught except TensorFlow's CUDA start-up complaints (only on a machine without NVIDIA's driver;
    elsewhere nothing is caught). Returns (tensorflow, its physical GPUs)."""
    if "tensorflow" in sys.modules or has_nvidia_driver():
        import tensorflow as tf

        return tf, tf.config.list_physical_devices("GPU")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            noises = CUDA_NOISE + (START_BANNERS if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") != "0" else ())
            kept = [line for line in caught.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not any(noise in line for noise in noises)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    return tf, gpus


def start_tensorflow():
    """Import TensorFlow, let GPU memory grow on demand (so that spotting or the evaluator can run beside
    a training on the same GPU), and log the devices the script runs on, so that a silent CPU fallback
    shows. On a machine without NVIDIA's driver, TensorFlow's CUDA start-up errors are not shown. Returns
    the tensorflow module."""
    tf, gpus = _import_tensorflow_quietly()
    # TensorFlow's Python logger (the distribution strategies log every collective at INFO).
    logging.getLogger("tensorflow").setLevel(max(logging.WARNING, logging.getLogger().level))
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # already initialised: keep what is set
            pass
    if gpus:
        log.info("devices: %s", ", ".join(g.name for g in gpus))
    else:
        log.info("devices: CPU only (%d cores%s); TensorFlow sees no GPU", os.cpu_count() or 1,
                 ", bfloat16 instructions" if cpu_has_bf16() else "")
    return tf


def cpu_has_bf16() -> bool:
    """Whether the processor has bfloat16 instructions (avx512_bf16 or amx_bf16; Linux /proc/cpuinfo)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def tf_gpus() -> list:
    """TensorFlow's physical GPUs (TensorFlow imported as `start_tensorflow` would)."""
    return _import_tensorflow_quietly()[1]


def warn_slow_bfloat16(precision: str, logger: logging.Logger, option: str = "--precision") -> bool:
    """One warning, on `logger`, where `precision` (any spelling of base.precision) is bfloat16 and this
    process runs on a processor without bfloat16 instructions and no GPU: there TensorFlow converts to
    and from bfloat16 around float32 products, and training, spotting and extraction all run slower than
    in float32 (docs/performance.md). Returns whether it warned."""
    if precisions.canonical(precision) != "bfloat16" or cpu_has_bf16():
        return False
    if tf_gpus():
        return False
    logger.warning("%s %s: this processor has no bfloat16 instructions (avx512_bf16 or amx_bf16) and there "
                   "is no GPU; expect it to run slower than float32", option, precision)
    return True


def versions() -> dict:
    """Python, TensorFlow, Keras and numpy versions and the git commit, for `args.json`."""
    commit = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=TOP, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"python": platform.python_version(), "tensorflow": importlib.metadata.version("tensorflow"),
            "keras": importlib.metadata.version("keras"), "numpy": np.__version__, "git_commit": commit}
