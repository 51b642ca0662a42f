"""The original's optimizer: Adam with TensorFlow 1's defaults, its update as one fused kernel per variable.

The authors' `trainer.py` builds `tf.train.AdamOptimizer(learning_rate)`: beta1 0.9, beta2 0.999,
epsilon 1e-8 (Keras's default epsilon is 1e-7), and TensorFlow 1 applies it with the `ApplyAdam` kernel:

    alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    m += (g - m) * (1 - beta1);  v += (g^2 - v) * (1 - beta2);  w -= m * alpha / (sqrt(v) + epsilon)

Keras 3's Adam computes the same formula in the same order, but as separate operations, each a pass
over the 135 M parameters of the paper's largest model (and its temporaries). `FusedAdam` calls
TensorFlow's `ResourceApplyAdam` instead: one pass that reads the weight, gradient and both moments
and writes three of them, the kernel the original ran. Its variables, names and state are Keras's
Adam's, so saved states and `--resume` are unchanged. The kernel computes its constants in float32, as
TensorFlow 1 did (1 - beta1 = 0.10000002), where Keras rounds them from double (0.1): weights differ from
Keras's update by about 1e-6 (relative) per step, on the original's side.
"""
from __future__ import annotations

import keras
import tensorflow as tf

# tf.train.AdamOptimizer's defaults (TensorFlow 1.14), which the original used.
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-8


class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam with the update of each variable done by `tf.raw_ops.ResourceApplyAdam` (dense
    gradients; float variables; no AMSGrad). Works under tf.distribute strategies, where Keras calls
    `update_step` once per replica's copy of the variable."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        m, v = self._momentums[index].value, self._velocities[index].value
        step = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=m.handle, v=v.handle,
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step), beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype), beta1=tf.cast(self.beta_1, dtype), beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False)


def _handle(variable):
    """The resource handle of a Keras variable or of the tf.Variable (or replica copy) Keras passes."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


def original_adam(learning_rate: float, fused: bool = True) -> keras.optimizers.Adam:
    """The original's Adam (TF1 defaults); `fused=False` gives Keras's own update, the same formula in
    separate passes."""
    cls = FusedAdam if fused else keras.optimizers.Adam
    # Named "adam" either way: the state files name Adam's moments "optimizer/adam/<variable>_momentum".
    return cls(learning_rate=learning_rate, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON, name="adam")
