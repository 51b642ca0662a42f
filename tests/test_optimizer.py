"""The original's Adam (networks/optimizer.py): the fused update against Keras's own and against the
formula written out in NumPy; this project's one-pass kernel (networks/one_pass_adam.cc) against
TensorFlow's, bit for bit, its choice and that of its loop, and TensorFlow's kernel where it cannot be built."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from base import measured
from networks import native
from networks import optimizer as opt

SHAPES = [(7, 5), (130,), (3, 4, 6)]
# Past the kernel's 2^18-value task: the update runs in several tasks on the worker threads.
LARGE = SHAPES + [(515, 517)]


def _adam(kernel, learning_rate=0.01):
    adam = opt.original_adam(learning_rate)
    adam.kernel = kernel
    return adam


def _run(make, steps=3, seed=0, shapes=SHAPES):
    import keras

    rng = np.random.default_rng(seed)
    variables = [keras.Variable(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    gradients = [[rng.standard_normal(s).astype(np.float32) * 10.0 ** rng.integers(-6, 1) for s in shapes]
                 for _ in range(steps)]
    adam = make()
    adam.build(variables)
    for step in gradients:
        adam.apply_gradients(zip(step, variables))
    return [v.numpy() for v in variables], [v.numpy() for v in adam.variables], gradients


def test_fused_update_equals_keras_adam_and_the_formula():
    fused, fused_state, gradients = _run(lambda: opt.original_adam(0.01))
    plain, plain_state, _ = _run(lambda: opt.original_adam(0.01, fused=False))
    # The same formula; TF1's kernel takes 1 - beta1 in float32 (0.10000002), Keras in double (0.1).
    for a, b in zip(fused + fused_state, plain + plain_state):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert any(not np.array_equal(a, b) for a, b in zip(fused, plain))  # the fused kernel did run
    # TF1's ApplyAdam written out (float64): within float32 rounding.
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s) for s in [(7, 5), (130,), (3, 4, 6)]]
    for w0, got, index in zip(start, fused, range(3)):
        w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
        for t, step in enumerate(gradients, 1):
            g = step[index].astype(np.float64)
            alpha = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            m += (g - m) * 0.1
            v += (g * g - v) * 0.001
            w -= m * alpha / (np.sqrt(v) + 1e-8)
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)
    assert opt.original_adam(0.5).epsilon == 1e-8 and opt.original_adam(0.5).beta_2 == 0.999


@pytest.mark.parametrize("path", ["auto", "in_place", "staged"])
def test_one_pass_kernel_is_tensorflows_update_bit_for_bit(path, monkeypatch):
    library = native.library("one_pass_adam")
    assert library is not None, "networks/one_pass_adam.cc did not build here"
    # Each loop of the kernel (the in-place one; the staged one, for buffers whose addresses agree modulo
    # 4 KiB), forced by the operation's `path`.
    monkeypatch.setattr(opt, "_one_pass_adam", lambda **inputs: library.one_pass_adam(**inputs, path=path))
    results = {kernel: _run(lambda: _adam(kernel), steps=4, shapes=LARGE) for kernel in ("tensorflow", "one_pass")}
    (ours, our_state, _), (theirs, their_state, _) = results["one_pass"], results["tensorflow"]
    for a, b in zip(ours + our_state, theirs + their_state):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()  # bit for bit
    assert not np.array_equal(ours[3], _run(lambda: _adam("one_pass"), steps=1, shapes=LARGE)[0][3])  # it updates


def test_one_pass_kernel_leaves_a_value_read_before_it_as_it_was():
    import tensorflow as tf

    library = native.library("one_pass_adam")
    rng = np.random.default_rng(3)
    start = [rng.standard_normal(300_000).astype(np.float32) for _ in range(3)]
    start[2] = np.abs(start[2])
    weight, m, v = (tf.Variable(t) for t in start)
    held = weight.read_value()  # shares the variable's buffer until the update copies it
    library.one_pass_adam(var=weight.handle, m=m.handle, v=v.handle, beta1_power=tf.constant(0.9),
                          beta2_power=tf.constant(0.999), lr=tf.constant(0.1), beta1=tf.constant(0.9),
                          beta2=tf.constant(0.999), epsilon=tf.constant(1e-8), grad=tf.ones(300_000))
    assert np.array_equal(held.numpy(), start[0]) and not np.array_equal(weight.numpy(), start[0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="differ in shape"):
        library.one_pass_adam(var=weight.handle, m=m.handle, v=v.handle, beta1_power=tf.constant(0.9),
                              beta2_power=tf.constant(0.999), lr=tf.constant(0.1), beta1=tf.constant(0.9),
                              beta2=tf.constant(0.999), epsilon=tf.constant(1e-8), grad=tf.ones(7))


def test_the_kernel_is_measured_cached_and_fixed_by_the_environment(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(measured.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(measured.MEASURE_ENV, "1")
    monkeypatch.setattr(opt, "_CHOICE", [])
    monkeypatch.setattr(measured, "_logged", set())
    with caplog.at_level(logging.INFO):
        choice = opt.update_kernel("/job:localhost/replica:0/task:0/device:CPU:0")
    entry = json.loads((tmp_path / measured.CACHE_FILE).read_text())["adam_update"]
    (measurement,) = entry.values()
    assert measurement["choice"] == choice and set(measurement["seconds"]) == {"tensorflow", "one_pass"}
    assert "adam_update" in caplog.text
    monkeypatch.setattr(opt, "_CHOICE", [])
    monkeypatch.setenv(measured.CHOICE_ENV + "ADAM_UPDATE", "tensorflow")
    assert opt.update_kernel() == "tensorflow"
    # Not for another device or dtype, whatever the choice.
    monkeypatch.setattr(opt, "_CHOICE", ["one_pass"])
    assert opt.update_kernel("/device:GPU:0") == "tensorflow" and opt.update_kernel("", "bfloat16") == "tensorflow"
    assert opt.update_kernel("/device:GPU:0", fixed="one_pass") == "tensorflow"
    assert opt.update_kernel("") == "one_pass" and opt.update_kernel("", fixed="tensorflow") == "tensorflow"


def test_the_loop_is_measured_on_buffers_that_alias_cached_fixed_and_given_to_the_kernel(tmp_path, monkeypatch):
    # The measurement's buffers alias modulo 4 KiB, as the model's variable and moments do: else it would
    # time the staged loop where the in-place one meets no aliasing, and choose for nothing.
    timed = opt._at_rest()
    assert opt._aliased(timed.buffers)
    page = np.zeros(2048, np.float32)  # 4 KiB = 1024 values: [1024:] aliases [0:], [300:] (1200 bytes on) not
    assert opt._aliased([page[:8], page[1024:], page[1030:]]) and not opt._aliased([page[:8], page[1024:], page[300:]])
    del timed
    monkeypatch.setenv(measured.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(measured.MEASURE_ENV, "1")
    monkeypatch.setattr(opt, "_LOOP", [])
    choice = opt.one_pass_loop()
    (measurement,) = json.loads((tmp_path / measured.CACHE_FILE).read_text())["adam_loop"].values()
    assert choice in opt.LOOP_PATHS and measurement["choice"] == choice
    assert set(measurement["seconds"]) == {"staged", "in_place"}
    # A later process reads it from the cache: nothing is timed again.
    monkeypatch.setattr(opt, "_LOOP", [])
    monkeypatch.setattr(measured, "time_candidates", lambda *a, **k: pytest.fail("measured again"))
    assert opt.one_pass_loop() == choice
    # Where the allocator does not make the buffers alias, the loops are not compared (nor cached).
    monkeypatch.setattr(opt, "_LOOP", [])
    monkeypatch.setenv(measured.CACHE_ENV, str(tmp_path / "other"))
    monkeypatch.setattr(opt, "_aliased", lambda buffers: False)
    assert opt.one_pass_loop() == "staged" and not (tmp_path / "other" / measured.CACHE_FILE).exists()
    # Fixed by the environment, and given to the kernel as its `path` unless the caller names one.
    monkeypatch.setattr(opt, "_LOOP", [])
    monkeypatch.setenv(measured.CHOICE_ENV + "ADAM_LOOP", "in_place")
    paths = []

    class Library:
        def one_pass_adam(self, **inputs):
            paths.append(inputs["path"])

    monkeypatch.setattr(native, "library", lambda name: Library())
    opt._one_pass_adam(var=None)
    opt._one_pass_adam(var=None, path="staged")
    assert paths == ["in_place", "staged"]
    monkeypatch.setattr(opt, "_LOOP", [])
    monkeypatch.setenv(measured.CHOICE_ENV + "ADAM_LOOP", "staged")
    opt._one_pass_adam(var=None)
    assert paths[-1] == "auto"  # staged where the buffers alias, the kernel's own rule


@pytest.mark.parametrize("compiler", ["missing", "failing"])
def test_without_a_compiler_tensorflows_kernel_is_used(compiler, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(measured.CACHE_ENV, str(tmp_path))
    # (A compiler's command may hold arguments: "false" fails whatever it is given.)
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-c++") if compiler == "missing" else "false --an-argument")
    monkeypatch.setattr(native, "_LOADED", {})
    monkeypatch.setattr(opt, "_CHOICE", [])
    with caplog.at_level(logging.WARNING):
        assert native.library("one_pass_adam") is None
        assert opt.update_kernel() == "tensorflow" and opt.update_kernel(fixed="one_pass") == "tensorflow"
    assert "one_pass_adam.cc cannot be used here" in caplog.text
    assert not list(tmp_path.glob("ops/*.so")) and not list(tmp_path.glob("ops/.*"))  # nothing half-written
    # Training still runs, on TensorFlow's kernel, with the same numbers.
    ours, _, _ = _run(lambda: opt.original_adam(0.01))
    theirs, _, _ = _run(lambda: _adam("tensorflow"))
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


def test_a_built_library_is_reused_and_built_again_when_its_source_changes(tmp_path, monkeypatch):
    # A source of a few lines (TensorFlow's headers take seconds to compile): built, reused, built again.
    monkeypatch.setenv(measured.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(native, "SOURCES", tmp_path)
    (tmp_path / "tiny.cc").write_text("extern \"C\" int tiny() { return 1; }\n")
    first = native.built("tiny")
    stamp = os.stat(first).st_mtime_ns
    assert native.built("tiny") == first and os.stat(first).st_mtime_ns == stamp
    (tmp_path / "tiny.cc").write_text("extern \"C\" int tiny() { return 2; }\n")
    second = native.built("tiny")
    assert second != first and second.exists() and first.exists()
    assert sorted(p.name for p in (tmp_path / "cache" / "ops").iterdir() if not p.name.endswith(".lock")) == sorted(
        [first.name, second.name])  # no temporary left


def test_one_pass_kernel_moves_a_variable_whose_buffer_agrees_with_another_modulo_256_mib(tmp_path):
    """TensorFlow's BFC allocator (the scripts' allocator, `runtime.process.tune_allocator`) places buffers of
    2^26 values 256 MiB apart; where two of an update's buffers agree so, `apart` moves a moment (or the
    weight), the values stay TensorFlow's update's, and a moved variable is saved and restored as any other.
    In a process of its own, with that allocator chosen before TensorFlow loads."""
    import subprocess
    import sys

    top = Path(__file__).resolve().parent.parent
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/tests']; import test_optimizer; "
            "test_optimizer._moves_apart(sys.argv[2])")
    done = subprocess.run([sys.executable, "-c", code, str(top), str(tmp_path)], cwd=top, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "moved and checked" in done.stdout


def _moves_apart(folder: str) -> None:
    import tensorflow as tf

    library = native.library("one_pass_adam")
    assert library is not None, "networks/one_pass_adam.cc did not build here"
    tile, n = 1 << 16, 1 << 26
    rng = np.random.default_rng(5)
    starts = [np.abs(rng.standard_normal(tile).astype(np.float32)) * 1e-3 for _ in range(5)]
    gradient = rng.standard_normal(tile).astype(np.float32) * 1e-3

    pool = [tf.Variable(np.tile(s, n // tile)) for s in starts]
    pairs = opt.agreeing(pool)
    assert pairs, f"no two of five 256 MiB variables 256 MiB apart: {[hex(opt.buffer_address(p)) for p in pool]}"
    i, j = pairs[0]
    k = next(x for x in range(5) if x not in (i, j))
    weight, m, v, grad = pool[k], pool[i], pool[j], tf.constant(np.tile(gradient, n // tile))
    scalars = opt._constants(opt.BETA_1, opt.BETA_2)
    library.one_pass_adam(var=weight.handle, m=m.handle, v=v.handle, grad=grad, apart=False, **scalars)
    assert opt.agreeing([m, v])  # apart=False: left where they were
    before = [opt.buffer_address(t) for t in (weight, m, v)]
    library.one_pass_adam(var=weight.handle, m=m.handle, v=v.handle, grad=grad, **scalars)
    buffers = [weight, m, v, grad]
    moved_ones = [t for t, b in zip(buffers, before) if opt.buffer_address(t) != b]
    assert moved_ones
    assert not opt.agreeing(buffers)
    moved = [opt.buffer_address(t) for t in buffers]
    library.one_pass_adam(var=weight.handle, m=m.handle, v=v.handle, grad=grad, **scalars)
    assert [opt.buffer_address(t) for t in buffers] == moved  # moved once, then updated in place
    # The same three updates by TensorFlow's kernel on one tile (the update is value by value).
    small = [tf.Variable(starts[x]) for x in (k, i, j)]
    for _ in range(3):
        opt._tensorflow_adam(var=small[0].handle, m=small[1].handle, v=small[2].handle, grad=tf.constant(gradient),
                             **scalars)
    for big, expected in zip((weight, m, v), small):
        assert big.numpy().tobytes() == np.tile(expected.numpy(), n // tile).tobytes()
    path = tf.train.Checkpoint(moved=moved_ones[0]).write(str(Path(folder) / "moved"))
    restored = tf.Variable(tf.zeros(n))
    tf.train.Checkpoint(moved=restored).read(path).assert_consumed()
    assert restored.numpy().tobytes() == moved_ones[0].numpy().tobytes()
    print("moved and checked")
