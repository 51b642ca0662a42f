"""The original's Adam (networks/optimizer.py): the fused update against Keras's own and against the
formula written out in NumPy."""
from __future__ import annotations

import numpy as np

from networks import optimizer as opt


def _run(make, steps=3, seed=0):
    import keras

    rng = np.random.default_rng(seed)
    shapes = [(7, 5), (130,), (3, 4, 6)]
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
