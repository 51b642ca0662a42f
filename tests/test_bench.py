"""The benchmarks' shared timing (bench/common.py), what a ratio in `make bench` is measured against, and
the GPU check's refusal of a GPU that TensorFlow does not see.

`beside` runs a figure and its reference in turns, so that the reference's rate comes from the same
minutes as the figure; `turn_times` gives the times of runs that alternate, round by round. Checked with fake
clocks, without timing anything real."""
from __future__ import annotations

import importlib
import types

import pytest


@pytest.fixture
def common(monkeypatch):
    module = importlib.import_module("bench.common")
    clock = {"now": 0.0}
    monkeypatch.setattr(module, "time", types.SimpleNamespace(perf_counter=lambda: clock["now"]))
    return module, clock


def test_beside_runs_the_reference_after_each_run_and_keeps_its_best_rate_in_those_turns(common):
    module, clock = common
    calls = []
    durations = iter([9.0, 3.0, 1.0, 2.0])  # the warm-up, then three timed runs

    def figure():
        calls.append("figure")
        clock["now"] += next(durations)

    class Reference:
        rates = iter([100.0, 150.0, 120.0])

        def once(self):  # an hour each, on the same clock: not in the figure's times
            calls.append("reference")
            clock["now"] += 3600.0
            return next(self.rates)

    best, median, rate = module.beside(figure, Reference(), 3)
    assert calls == ["figure"] + ["figure", "reference"] * 3  # the warm-up is not timed, nor followed
    assert (best, median, rate) == (1.0, 2.0, 150.0)


def test_turn_times_alternates_the_runs_and_keeps_each_rounds_times(common):
    module, clock = common
    order = []

    def run(name, seconds):
        def one():
            order.append(name)
            clock["now"] += seconds.pop(0)
        return one

    times = module.turn_times({"a": run("a", [0, 1.0, 5.0, 2.0]), "b": run("b", [0, 4.0, 3.0, 6.0])}, 3)
    assert order == ["a", "b"] + ["a", "b"] * 3  # one warm-up each, then one run each per round
    assert times == {"a": [1.0, 5.0, 2.0], "b": [4.0, 3.0, 6.0]}  # the i-th times of both: the same round


def test_the_gpu_check_refuses_a_gpu_that_tensorflow_does_not_see(tmp_path):
    """nvidia-smi lists a GPU (a stand-in script on PATH) that this CPU TensorFlow cannot see: one line, exit
    code 2, no report, before any item runs."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    top = Path(__file__).resolve().parent.parent
    tools = tmp_path / "bin"
    tools.mkdir()
    smi = tools / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559 MiB'\n")
    smi.chmod(0o755)
    report = tmp_path / "gpu_check.md"
    done = subprocess.run([sys.executable, str(top / "bench" / "gpu_check.py"), "--out", str(report)], cwd=top,
                          env=dict(os.environ, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}",
                                   CUDA_VISIBLE_DEVICES="-1"),  # on a GPU machine too, TensorFlow sees none
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "NVIDIA H100 80GB HBM3" in done.stdout and "TensorFlow sees no GPU" in done.stdout
    assert "nothing run" in done.stdout and "## devices" not in done.stdout
    assert not report.exists()


def test_the_in_place_passes_cover_every_value_and_leave_tensorflows_buffers_as_they_were():
    import numpy as np
    import tensorflow as tf

    module = importlib.import_module("bench.common")
    arrays = [np.arange(7, dtype=np.float32), np.ones(1, np.float32), np.arange(1000, dtype=np.float32)]
    module._pass_over(lambda: ((), arrays), np.float32(2))()  # slices of every size, fewer values than cores
    assert all(np.array_equal(a, 2 * b) for a, b in zip(arrays, [np.arange(7), np.ones(1), np.arange(1000)]))
    variable, tensor = tf.Variable(tf.random.normal((3, 1001))), tf.random.normal((513,))
    before = [variable.numpy(), tensor.numpy()]
    run, moved = module.in_place_pass_over(tf, [variable, tensor])
    run()
    assert moved == 2 * 4 * (3 * 1001 + 513)
    assert np.array_equal(variable.numpy(), before[0]) and np.array_equal(tensor.numpy(), before[1])
    module.in_place_pass_over(tf, [variable, tensor], factor=2.0)[0]()  # the very buffers: TensorFlow sees it
    assert np.array_equal(variable.numpy(), 2 * before[0]) and np.array_equal(tensor.numpy(), 2 * before[1])
