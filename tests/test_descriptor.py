"""NetVLAD's and NetRVLAD's float32 descriptor in one C++ operation (networks/fused_descriptor.py,
networks/vlad_normalize.cc): values and gradients against TensorFlow's operations (networks.kernels'
`_vlad_columns`) and a float64 NumPy computation, the input buffers left as they were, and the measured
choice between the two forms."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from base import measured
from networks import fused_descriptor, kernels

# Odd sizes; past one row per task (the operation splits the batch over TensorFlow's worker threads).
B, N, D, K = 5, 7, 24, 6


def inputs(seed=0, empty_cluster=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, N, D)).astype(np.float32)
    a = rng.standard_normal((B, N, K)) * 2
    a = np.exp(a) / np.exp(a).sum(axis=2, keepdims=True)
    if empty_cluster:  # a column of zeros: its norm under tf.nn.l2_normalize's epsilon
        a[1, :, 2] = 0.0
    c = (rng.standard_normal((D, K)) / 4).astype(np.float32)
    upstream = rng.standard_normal((B, D, K)).astype(np.float32)
    return x, a.astype(np.float32), c, upstream


def numpy_descriptor(x, a, c=None):
    """LOUPE's descriptor in float64: X'A less the centres weighted by the mass, each column L2-normalised
    over D (tf.nn.l2_normalize's epsilon), then the whole."""
    x, a = x.astype(np.float64), a.astype(np.float64)
    v = np.einsum("bnd,bnk->bdk", x, a)
    if c is not None:
        v = v - c.astype(np.float64)[None] * a.sum(axis=1)[:, None, :]
    v = v / np.sqrt(np.maximum((v ** 2).sum(axis=1, keepdims=True), 1e-12))
    return v / np.sqrt(np.maximum((v ** 2).sum(axis=(1, 2), keepdims=True), 1e-12))


def forward_and_backward(function, x, a, c, upstream):
    """The descriptor and its gradients by x, a (and c), in a compiled function as a training step runs it."""
    x, a, upstream = tf.constant(x), tf.constant(a), tf.constant(upstream)
    centres = [] if c is None else [tf.constant(c)]

    @tf.function
    def run():
        with tf.GradientTape() as tape:
            tape.watch([x, a] + centres)
            out = function(x, a, *centres)
        return [out] + tape.gradient(out, [x, a] + centres, output_gradients=upstream)

    return [t.numpy() for t in run()]


def test_the_operation_builds_here():
    assert fused_descriptor.available(), "networks/vlad_normalize.cc did not build here"


@pytest.mark.parametrize("centred", [True, False], ids=["NetVLAD", "NetRVLAD"])
def test_values_and_gradients_are_tensorflows_within_float32_rounding(centred):
    x, a, c, upstream = inputs()
    c = c if centred else None
    fused = forward_and_backward(fused_descriptor.vlad_columns, x, a, c, upstream)
    plain = forward_and_backward(kernels._vlad_columns, x, a, c, upstream)
    assert len(fused) == len(plain) == (4 if centred else 3)
    for got, expected in zip(fused, plain):
        assert got.shape == expected.shape and got.dtype == np.float32
        scale = np.abs(expected).max()
        assert scale > 0 and np.abs(got - expected).max() <= 1e-6 * scale
    exact = numpy_descriptor(x, a, c)
    np.testing.assert_allclose(fused[0], exact, rtol=0, atol=1e-6 * np.abs(exact).max())
    assert np.all(fused[0][1, :, 2] == 0)  # the empty cluster's column stays zero


@pytest.mark.parametrize("centred", [True, False], ids=["NetVLAD", "NetRVLAD"])
def test_gradients_equal_finite_differences(centred):
    """The gradient by the centres and by the assignment (through the mass), against central differences of
    the float64 descriptor along random directions."""
    x, a, c, upstream = inputs(seed=3, empty_cluster=False)
    c = c if centred else None
    grads = forward_and_backward(fused_descriptor.vlad_columns, x, a, c, upstream)
    rng = np.random.default_rng(9)
    step = 1e-4
    for index, value in enumerate([x, a] + ([c] if centred else [])):
        direction = rng.standard_normal(value.shape)

        def loss(t):
            moved = [x, a, c]
            moved[index] = value + t * direction
            return float((numpy_descriptor(*moved) * upstream).sum())

        numeric = (loss(step) - loss(-step)) / (2 * step)
        analytic = float((grads[1 + index].astype(np.float64) * direction).sum())
        assert analytic == pytest.approx(numeric, rel=2e-4, abs=1e-6), index


def test_inputs_are_left_as_they_were():
    """The operations write into their first input's buffer only where nothing else holds it: a product
    still used after the descriptor, and the caller's tensors, keep their values."""
    x, a, c, upstream = inputs()
    columns = tf.constant(np.einsum("bnd,bnk->bdk", x, a).astype(np.float32))
    mass = tf.constant(a.sum(axis=1))
    before = columns.numpy().copy()

    @tf.function
    def run(columns, upstream):
        with tf.GradientTape() as tape:
            tape.watch(columns)
            out = fused_descriptor._normalised(columns, tf.constant(c), mass)
        return out, columns * 1.0, tape.gradient(out, columns, output_gradients=upstream), upstream * 1.0

    up = tf.constant(upstream)
    _, columns_after, _, upstream_after = run(columns, up)
    np.testing.assert_array_equal(columns_after.numpy(), before)
    np.testing.assert_array_equal(columns.numpy(), before)
    np.testing.assert_array_equal(upstream_after.numpy(), upstream)
    np.testing.assert_array_equal(up.numpy(), upstream)


def test_the_form_is_measured_cached_fixed_and_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv(measured.MEASURE_ENV, "1")
    monkeypatch.setenv(measured.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(kernels, "_FLOAT32_FORMS", {})
    form = kernels.float32_descriptor_form((None, N, D), (None, N, K), True)
    (key,) = json.loads((tmp_path / measured.CACHE_FILE).read_text())["float32_descriptor"]
    assert form in ("ops", "fused") and json.loads(key)["clusters"] == str(K) and json.loads(key)["rows"] == "256"
    x, a, c, _ = inputs()
    x, a, c = tf.constant(x), tf.constant(a), tf.constant(c)
    expected = {"fused": fused_descriptor.vlad_columns(x, a, c), "ops": kernels._vlad_columns(x, a, c)}
    for name in ("fused", "ops"):  # each form, fixed by the environment, is the one the layers take
        monkeypatch.setattr(kernels, "_FLOAT32_FORMS", {})
        monkeypatch.setenv("SOCCERNET_CHOICE_FLOAT32_DESCRIPTOR", name)
        np.testing.assert_array_equal(kernels.vlad_columns(x, a, c).numpy(), expected[name].numpy())
    # Where the operation cannot be built: TensorFlow's operations, whatever is asked.
    monkeypatch.setattr(kernels, "_FLOAT32_FORMS", {})
    monkeypatch.setattr(fused_descriptor, "available", lambda: False)
    assert kernels.float32_descriptor_form((None, N, D), (None, N, K), True) == "ops"
    np.testing.assert_array_equal(kernels.vlad_columns(x, a, c).numpy(), expected["ops"].numpy())
