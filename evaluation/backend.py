"""The array module the vectorised engine runs on: NumPy (`numpy_ops`, no TensorFlow start-up) or
TensorFlow (two threads' worth of kernels, a GPU when it sees one). The owner of the names (`BACKENDS`,
the variable `ENVIRONMENT`) and of the choice (`choose`). Both give the same numbers (tests/test_backend.py).

The automatic choice, from `bench/bench_compute_mAP.py` on a CPU (the AMX machine of docs/benchmarks.md):
- the full grid of 200 halves (3 methods x 19 thresholds x 3 classes over 574,646 s: 98 M cells): NumPy
  0.39 s, TensorFlow once started 0.43 s, plus 0.9 s of first-call tracing;
- five times those halves (`--copies 5`: 491 M cells): NumPy 2.0 s, TensorFlow 1.9 s;
- starting TensorFlow: 3.5-4.5 s.
So TensorFlow is chosen only for work that repays it: from `STARTED_CELLS` when this process has started it
already, from `NEW_CELLS` when it would start it now (its start-up against about 0.2 ns saved per cell).
"""
from __future__ import annotations

import os
import sys
import types
from typing import Sequence

from evaluation import numpy_ops

BACKENDS = ("auto", "numpy", "tensorflow")
ENVIRONMENT = "SOCCERNET_EVAL_BACKEND"  # fixes the choice where no --backend is given
STARTED_CELLS = 300_000_000  # (position, class, method, threshold) cells; TensorFlow already imported
NEW_CELLS = 20_000_000_000  # the same, counting TensorFlow's start-up


def cells(arrays: Sequence, methods: int, thresholds: int) -> int:
    """The work of one grid: positions x classes x methods x thresholds."""
    return sum(int(a.shape[0]) * max(int(a.shape[1]) - 1, 1) for a in arrays) * methods * thresholds


def choose(requested: str | None, work: int) -> str:
    """"numpy" or "tensorflow": `requested` (a --backend value), else $SOCCERNET_EVAL_BACKEND, else "auto",
    which picks by `work` (`cells`) and whether TensorFlow is already imported.

    Raises:
        ValueError: an unknown name (naming the variable when it came from there).
    """
    source = "--backend"
    if requested is None:
        requested, source = os.environ.get(ENVIRONMENT) or "auto", ENVIRONMENT
    if requested not in BACKENDS:
        raise ValueError(f"{source} {requested!r}: one of {', '.join(BACKENDS)}")
    if requested != "auto":
        return requested
    started = "tensorflow" in sys.modules
    return "tensorflow" if work >= (STARTED_CELLS if started else NEW_CELLS) else "numpy"


def ops(name: str) -> types.ModuleType:
    """The module for `name` ("numpy" or "tensorflow"; TensorFlow is imported here when not yet)."""
    if name == "numpy":
        return numpy_ops
    if name == "tensorflow":
        import tensorflow  # only here: the point of the NumPy engine is not to start it

        return tensorflow
    raise ValueError(f"backend {name!r}: one of numpy, tensorflow")
