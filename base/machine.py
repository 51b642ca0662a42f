"""The processor's model and instruction-set flags, which choose how the layers write some products (no TensorFlow)."""
from __future__ import annotations

from pathlib import Path


def cpu_flags() -> frozenset[str]:
    """The processor's flags (`avx2`, `avx512f`, `amx_bf16`, ...) from Linux /proc/cpuinfo; empty where it
    cannot be read."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    return frozenset(next((line for line in info.splitlines() if line.startswith("flags")), "").split())


def cpu_model() -> str:
    """The processor's model name from Linux /proc/cpuinfo; "unknown" where it cannot be read."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    return next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                "unknown")
