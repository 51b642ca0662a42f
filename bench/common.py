"""What every benchmark shares: the machine's description, and the rows of `bench/run_all.py`'s table.

A benchmark calls `record(...)` for each headline figure, with the bound it is measured against in the
same run; when `bench/run_all.py` runs it, the rows go (one JSON object per line) to the file named by
`$BENCH_SUMMARY`, otherwise nowhere: each benchmark prints its own figures as before.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import runs  # the project's folder is on the path of every benchmark

SUMMARY_ENV = "BENCH_SUMMARY"
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu() -> tuple[str, list[str]]:
    """The processor's model name and which of FLAGS it has (Linux /proc/cpuinfo)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "?", []
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = runs.cpu_flags()
    return model, [f for f in FLAGS if f in flags]


def gpus() -> str:
    """NVIDIA GPUs from nvidia-smi, or "none"."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout.strip()
        return "; ".join(line.strip() for line in out.splitlines()) or "none"
    except (OSError, subprocess.SubprocessError):
        return "none"


def machine() -> str:
    """One line: processor, its vector and bfloat16 instructions, cores, memory, Python, GPUs."""
    model, flags = cpu()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return (f"{model} ({' '.join(flags) or 'no AVX2'}), {os.cpu_count()} cores, {memory:.0f} GiB RAM, "
            f"Python {platform.python_version()}, GPU: {gpus()}")


def tensorflow_build() -> str:
    """TensorFlow's version and build flags (CUDA or not); imports TensorFlow."""
    import tensorflow as tf

    info = tf.sysconfig.get_build_info()
    cuda = f"CUDA {info.get('cuda_version')}" if info.get("is_cuda_build") else "CPU build (no CUDA)"
    return f"TensorFlow {tf.__version__}, {cuda}"


def record(bench: str, what: str, figure: float, unit: str, bound: float | None = None, bound_what: str = "",
           ratio: float | None = None, target: str = "") -> None:
    """One row of run_all's table: `figure` (in `unit`) of `what`, against `bound` (what `bound_what`
    measured in the same run); `ratio` defaults to figure / bound (give it where the target reads the
    other way, e.g. a rate: bound / figure)."""
    path = os.environ.get(SUMMARY_ENV)
    if not path:
        return
    if ratio is None and bound:
        ratio = figure / bound
    row = dict(bench=bench, what=what, figure=figure, unit=unit, bound=bound, bound_what=bound_what, ratio=ratio,
               target=target)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
