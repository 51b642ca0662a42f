"""What every benchmark shares: the machine's description, and the rows of `bench/run_all.py`'s table.

A benchmark calls `record(...)` for each headline figure, with the bound it is measured against in the
same run; when `bench/run_all.py` runs it, the rows go (one JSON object per line) to the file named by
`$BENCH_SUMMARY`, otherwise nowhere: each benchmark prints its own figures as before.

Also the measures bench_networks.py and bench_spotting.py share: `best_and_median` (timing after a
warm-up), `step_flops` (a model's matrix-product FLOPs), `MatmulReference` and `matmul_rate` (the float32
matrix-product rate they are measured against) and `beside` (a figure timed in turns with that
product); and what bench_networks.py and bench_adam_peer.py share for Adam's update: `adam_updates`
(its kernels on NetVLAD k=512's variables), `in_place_pass` and `in_place_pass_over` (its bounds, on
fresh buffers and on the update's own) and `turn_times` (the times of runs that alternate). This module
imports no TensorFlow: those that need it take it as an argument or import it when called, after the
benchmark has set its allocator up.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time

from base.machine import cpu_flags, cpu_model

SUMMARY_ENV = "BENCH_SUMMARY"
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu() -> tuple[str, list[str]]:
    """The processor's model name and which of FLAGS it has (Linux /proc/cpuinfo)."""
    model = cpu_model()
    if model == "unknown":
        return platform.processor() or "?", []
    flags = cpu_flags()
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


# ------------------------------------------------------------------------------------------------
# Timing and FLOP counts (bench_networks.py and bench_spotting.py)


def best_and_median(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up (tracing, first allocations)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def step_flops(model, batch: int) -> dict[str, float]:
    """Floating-point operations of a training step's matrix products, from the model's layers.

    Forward: 2*m*k*n per product. Backward: both operand gradients (2x forward) where the left operand
    depends on trainable weights, only the weight gradient (1x) where it is an input window. The
    batch-norm, softmax, normalisation, dropout and Adam element-wise work is not counted.
    """
    from networks import loupe as P

    forward = backward = 0.0
    for layer in model.layers:
        if isinstance(layer, P.LoupePooling):
            rows = batch * int(layer.input.shape[1])
            d, k, o = layer.feature_size, layer.cluster_size, layer.output_dim
            assign = 2.0 * rows * d * k  # frames x cluster_weights
            forward += assign
            backward += assign  # weight gradient only
            if isinstance(layer, (P.NetVLAD, P.NetFV)):  # NetRVLAD is a NetVLAD subclass
                moments = 2 if isinstance(layer, P.NetFV) else 1
                forward += moments * assign  # X' A (and (X^2)' A)
                backward += moments * assign  # gradient to the assignment only
            hidden = 2.0 * batch * int(layer.hidden1_weights.shape[0]) * o
            forward += hidden
            backward += 2 * hidden
            if layer.gating:
                forward += 2.0 * batch * o * o
                backward += 4.0 * batch * o * o
        elif isinstance(layer, __import__("keras").layers.Dense):
            dense = 2.0 * batch * int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
            forward += dense
            backward += 2 * dense
    return {"forward": forward, "backward": backward, "total": forward + backward}


class MatmulReference:
    """A (4096 x 4096) x (4096 x 4096) product in `dtype` (float32, or bfloat16), compiled and warmed up;
    `once()` runs it and gives its rate in GFLOP/s, so that a benchmark can run it in turns with what it
    measures against it (`beside`)."""

    def __init__(self, tf, dtype: str = "float32"):
        a = tf.cast(tf.random.normal((4096, 4096)), dtype)
        b = tf.cast(tf.random.normal((4096, 4096)), dtype)
        self._product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[0]))
        self._product().numpy()  # tracing, first allocations

    def once(self) -> float:
        began = time.perf_counter()
        self._product().numpy()
        return 2 * 4096 ** 3 / (time.perf_counter() - began) / 1e9


def matmul_rate(tf, repeats: int, dtype: str = "float32") -> float:
    """GFLOP/s of a (4096 x 4096) x (4096 x 4096) product in `dtype` (float32, or bfloat16), best of `repeats`."""
    reference = MatmulReference(tf, dtype)
    return max(reference.once() for _ in range(repeats))


def beside(fn, reference: MatmulReference, repeats: int) -> tuple[float, float, float]:
    """`fn` timed `repeats` times after a warm-up, each run followed by one run of `reference`: (fn's best
    time, its median, the reference's best rate in those turns). The rate a figure is measured against
    comes from the same minute as the figure: this shared machine's speed moved by 10-30 % between runs."""
    fn()  # warm-up (tracing, first allocations)
    times, rates = [], []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
        rates.append(reference.once())
    return min(times), statistics.median(times), max(rates)


def in_place_pass(params: int):
    """(a function making one in-place pass over four fresh float32 buffers of `params` values, x *= 1 + 1e-7,
    one NumPy thread per core on its own slice of each; the bytes it reads and writes)."""
    import numpy as np

    buffers = [np.ones(params, np.float32) for _ in range(4)]
    return _pass_over(lambda: ((), buffers), np.float32(1 + 1e-7)), 4 * 2 * 4 * params


def in_place_pass_over(tf, tensors, factor: float = 1.0):
    """(a function making the same pass over the very buffers of `tensors`, float32 tf.Variables and tensors
    on the CPU, x *= `factor` (1: their values stay as they were); the bytes it reads and writes): the bound
    on the memory an update of those buffers meets. A pass over fresh NumPy buffers (huge pages where the
    kernel allows them) bounds another memory: before OnePassAdam moved buffers that agree modulo 256 MiB
    (`networks.optimizer.agreeing`), the same loop ran 1.1-1.9x faster over NumPy's buffers than over
    TensorFlow's on the AMD EPYC with AVX-512. Each pass reads the buffers' addresses anew, holding
    a read of each while it writes, so that a buffer replaced by an update is never written to."""
    import ctypes

    import numpy as np

    from networks.optimizer import buffer_address

    def views():
        held = [t.read_value() if isinstance(t, tf.Variable) else t for t in tensors]
        return held, [np.ctypeslib.as_array((ctypes.c_float * int(np.prod(h.shape))).from_address(
            buffer_address(h))) for h in held]
    return _pass_over(views, np.float32(factor)), 2 * 4 * sum(int(np.prod(t.shape)) for t in tensors)


def _pass_over(views, factor):
    """One pass: `views()` gives (what to hold meanwhile, the arrays); each of one thread per core
    multiplies its slice of every array by `factor` in place."""
    import threading

    import numpy as np

    workers = os.cpu_count() or 1

    def one_pass():
        held, arrays = views()

        def work(i):
            for x in arrays:
                step = -(-x.size // workers)
                part = x[i * step:(i + 1) * step]
                np.multiply(part, factor, out=part)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        del held

    return one_pass


def turn_times(runs: dict, rounds: int) -> dict[str, list[float]]:
    """Each function's times over `rounds` rounds in which they take turns, one run each per round (after a
    warm-up each): this machine's memory speed moved by tens of percent between runs a minute apart, so
    figures timed one after the other could meet different machines; the i-th times of two functions
    come from the same round."""
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            began = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - began)
    return times


# Adam's kernels (`networks.optimizer`) as the benchmarks print them.
ADAM_KERNEL_NAMES = {"one_pass": "OnePassAdam", "tensorflow": "TensorFlow's ApplyAdam", "keras": "Keras's Adam"}


def adam_updates(tf, architectures, frames: int, dim: int, kernels=None) -> tuple[list, str, dict, dict]:
    """NetVLAD k=512's trainable variables (1 stream), the trainer's Adam kernel (measured once per
    machine), for each of `kernels` (keys of ADAM_KERNEL_NAMES; default the trainer's alone) a function
    making one update of the variables with fixed gradients, each kernel with moments of its own, and
    reading one value back, and the buffers each one's update reads (weights, gradients, both moments:
    tf.Variables and tensors)."""
    from networks import optimizer as original

    model = architectures.build_model("VideoNetwork", num_frames=frames, video_dim=dim, pooling="VLAD", vlad_k=512)
    variables = model.trainable_variables
    grads = [tf.random.normal(v.shape) * 1e-3 for v in variables]
    chosen = original.update_kernel(variables[0].value.handle.device)
    updates, buffers = {}, {}
    for name in kernels or [chosen]:
        optimizer = original.original_adam(1e-3, fused=name != "keras")
        optimizer.kernel = name if name != "keras" else None
        optimizer.build(variables)
        apply = tf.function(lambda optimizer=optimizer: optimizer.apply_gradients(zip(grads, variables)))
        updates[name] = lambda apply=apply: (apply(), variables[0][:1].numpy())
        buffers[name] = [v.value for v in (*variables, *optimizer._momentums, *optimizer._velocities)] + grads
    return variables, chosen, updates, buffers
