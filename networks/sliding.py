"""Spotting a whole half with each frame's per-frame work done once (LOUPE poolings).

Sliding-window spotting (the original's `ClassificationSecondBased.py`) evaluates a window of N frames
every second, so each frame belongs to N / fps windows (20 at T = 20 s, 60 at T = 60 s) and the pooling's
per-frame work, the soft assignment (a (feature_size x K) product, batch norm and a softmax per frame),
is repeated that many times, on windows copied through the input pipeline. `HalfSpotter` projects each
frame of the padded half on the clusters once, then, per batch of windows, gathers the windows' frames
in the graph (no window is copied through the input pipeline), pools, projects and gates them with the
layer's own `pool_and_project`, and runs the rest of the model (dropout, concatenation, logits) as the
model does. Where batch norm uses its moving averages (`--bn_mode moving`), a frame's whole
assignment does not depend on the other frames of its window and is computed once per frame too. In the
original's `batch` mode the assignment's batch norm takes the moments of all the rows of the part being
evaluated (a quarter of the half): there each batch's gathered projections are normalised together, as
the model normalises that batch's windows, so the quarters' semantics are kept.

The window sums themselves (X'A, D x K per window) are still one batched product per window, not
prefix sums over the time axis: at the paper's sizes a product over N frames costs less than the
memory passes of a running sum of D x K matrices per frame, and it keeps the outputs equal to the
window-by-window model's (the same products on the same rows: bit for bit in float32 where a product
rounds a row the same whatever the number of rows, as oneDNN with AVX-512 does; the tests compare).
`unsupported_reason` says which models this module takes.

Units: the rows a pooling layer pools. For a single stream (and each stream of methods 3 to 5) a unit is
a frame of the replicate-padded half; for methods 6/7 with frame-wise fusion it is [v_t, a_t]; with the
original's time-axis fusion (`EarlyFusion(framewise=False)`: descriptor j < N/2 of a window is
[v_2j, v_2j+1], the others audio pairs) it is a pair of consecutive padded frames of one stream, video
pairs first, then audio pairs.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from . import pooling as P
from .architectures import model_build_config
from .loupe import LoupePooling


def unsupported_reason(model, stride: int) -> str | None:
    """Why `HalfSpotter` cannot spot `model` (None when it can).

    Args:
        model: a model built by this package.
        stride: frames between consecutive windows (features per second).
    """
    config = model_build_config(model)
    if not config:
        return "not a model of this project"
    poolings = [layer for layer in model.layers if isinstance(layer, (P.TemporalPooling, P.ConvPooling,
                                                                    P.FCPooling, LoupePooling))]
    if not all(isinstance(layer, LoupePooling) for layer in poolings):
        return f"{config['pooling']} pooling (not a LOUPE pooling)"
    fusion = [layer for layer in model.layers if isinstance(layer, P.EarlyFusion)]
    if fusion and not fusion[0].framewise and (config["num_frames"] % 2 or stride % 2):
        return "time-axis early fusion with an odd window length or stride"
    return None


class HalfSpotter:
    """Logits of every spotting window of a half, per-frame work done once per frame.

    Args:
        model: a model of this package with LOUPE poolings (`unsupported_reason` is None).
        stride: frames between window starts (features per second, 2).

    Call `logits(half, batches, numbers)` with the half's frames per stream, the batches of window numbers
    (in `batch` mode, the parts whose rows are normalised together: the original's quarters) and the
    frame numbers of the replicate-padded half that the windows cover (`dataset.padded_frame_numbers`).
    """

    def __init__(self, model, stride: int):
        reason = unsupported_reason(model, stride)
        if reason is not None:
            raise ValueError(f"per-frame spotting does not apply: {reason}")
        config = model_build_config(model)
        self.frames = config["num_frames"]
        self.stride = int(stride)
        self.streams = list(model.input) if isinstance(model.input, dict) else ["video"]
        self.poolings = [layer for layer in model.layers if isinstance(layer, LoupePooling)]
        fusion = [layer for layer in model.layers if isinstance(layer, P.EarlyFusion)]
        self.fusion = None if not fusion else ("framewise" if fusion[0].framewise else "time")
        # The model from the pooled vectors to the logits (dropout, concatenation, Dense, average).
        self.head = keras.Model([layer.output for layer in self.poolings], model.output)
        self.pools = [_WindowPool(layer) for layer in self.poolings]

        @tf.function(reduce_retracing=True)
        def assign(units):  # per unit: the whole assignment (moving mode) or its logits (batch mode),
            # and per pooling the products of its weights that its projection uses (`weight_products`)
            return [pool.per_unit(u) for pool, u in zip(self.pools, units)]

        @tf.function(reduce_retracing=True)
        def window_logits(units, per_unit, indices):
            pooled = [pool(u, p, i) for pool, u, p, i in zip(self.pools, units, per_unit, indices)]
            return tf.cast(self.head(pooled, training=False), tf.float32)

        self._assign, self._window_logits = assign, window_logits

    def units(self, half: dict[str, np.ndarray], n_windows: int,
              numbers: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The rows each pooling pools, and for each pooling the (n_windows, N) unit numbers of every window.

        Args:
            half: stream -> (n_frames, dim) features of one half.
            n_windows: windows of the half (one per second).
            numbers: (stride*(n_windows - 1) + N,) frame numbers of the replicate-padded half: padded frame
                p is frame clip(p - N/2, 0, n_frames - 1) (`dataset.padded_frame_numbers(n_frames, N,
                stride, n_windows)`), window i covers padded frames [stride*i, stride*i + N).
        """
        n_frames = min(len(a) for a in half.values())
        padded = {s: np.asarray(half[s][:n_frames], np.float32)[numbers] for s in self.streams}
        starts = np.arange(n_windows, dtype=np.int64)[:, None] * self.stride  # window i starts at padded i*stride
        window = starts + np.arange(self.frames, dtype=np.int64)[None, :]  # (n_windows, N)
        if self.fusion is None:  # one pooling per stream, named <stream>_pooling
            order = [layer.name.removesuffix("_pooling") for layer in self.poolings]
            return [padded[s] for s in order], [window] * len(order)
        if self.fusion == "framewise":
            return [np.concatenate([padded["video"], padded["audio"]], axis=1)], [window]
        # Time-axis fusion: window rows are the video pairs, then the audio pairs, of its frames.
        pairs = len(numbers) // 2
        units = np.concatenate([padded[s][:2 * pairs].reshape(pairs, -1) for s in ("video", "audio")])
        half_window = self.frames // 2
        first = starts // 2 + np.arange(half_window, dtype=np.int64)[None, :]
        return [units], [np.concatenate([first, first + pairs], axis=1)]

    def logits(self, half: dict[str, np.ndarray], batches: list[np.ndarray], numbers: np.ndarray) -> np.ndarray:
        """Float32 logits (windows, classes) of the windows of one half, batch by batch.

        Args:
            half: stream -> (n_frames, dim) features of the half.
            batches: window numbers (0..n_windows-1) of each batch, in order.
            numbers: the frame numbers of the padded half that the windows cover (see `units`).
        """
        n_windows = sum(len(b) for b in batches)
        if n_windows == 0:  # a half shorter than a second
            return np.zeros((0, self.head.output.shape[-1]), np.float32)
        units, windows = self.units(half, n_windows, numbers)
        units = [tf.constant(u) for u in units]
        per_unit = self._assign(units)
        parts = [self._window_logits(units, per_unit, [tf.constant(w[b]) for w in windows]).numpy()
                 for b in batches]
        return np.concatenate(parts)

    def probabilities(self, half: dict[str, np.ndarray], batches: list[np.ndarray],
                      numbers: np.ndarray) -> np.ndarray:
        """The sigmoid of `logits`, taken batch by batch as the window-by-window path takes it: one call
        over the whole half rounds differently in the last bit (TensorFlow's vectorised sigmoid computes
        the last elements of an array whose size is not a multiple of its vector width one by one), and
        the two paths' float32 outputs can otherwise be bit-identical (see the module's docstring)."""
        logits = self.logits(half, batches, numbers)
        if len(logits) == 0:
            return logits
        ends = np.cumsum([len(b) for b in batches])[:-1]
        return np.concatenate([tf.math.sigmoid(part).numpy() for part in np.split(logits, ends)])


class _WindowPool:
    """One LOUPE pooling layer applied to windows gathered from per-unit rows and their per-unit work: the
    soft assignment (float32) where batch norm uses its moving averages (or there is none), else the
    assignment's logits (the compute dtype), normalised per batch of windows with that batch's moments;
    and the products of the layer's weights alone that its projection uses (`weight_products`), computed
    with the per-unit work, once per half."""

    def __init__(self, layer):
        self.layer = layer
        whole = layer.bn_mode == "moving" or not layer.add_batch_norm  # the assignment once per unit

        class Gathered(keras.layers.Layer):
            # A layer call, so that Keras casts the layer's weights to its compute dtype (mixed_bfloat16)
            # as when the model runs. The inputs are cast here: the units as the pooling's own call casts
            # its input, the per-unit work not at all.
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self._convert_input_args = False

            def call(self, units, indices, per_unit=None):
                units = tf.cast(units, self.compute_dtype)
                if per_unit is None:
                    logits = layer.assignment_logits(units)  # (U, K)
                    return (layer.soft_assignment(logits, training=False) if whole else logits,
                            layer.weight_products())
                per_unit, products = per_unit
                frames = tf.gather(units, indices)  # (b, N, feature_size)
                if whole:
                    assignment = tf.gather(per_unit, indices)  # (b, N, K)
                else:  # the batch's rows normalised together, as the model's assignment normalises them
                    rows = tf.reshape(tf.gather(per_unit, indices), (-1, layer.cluster_size))
                    assignment = tf.reshape(layer.soft_assignment(rows, training=False),
                                            (-1, tf.shape(indices)[1], layer.cluster_size))
                return layer.pool_and_project(frames, assignment, training=False,
                                              weight_products=products)  # (b, output_dim)

        self._call = Gathered(dtype=layer.dtype_policy, name=f"{layer.name}_windows")

    def per_unit(self, units):
        return self._call(units, None)

    def __call__(self, units, per_unit, indices):
        return self._call(units, indices, per_unit)
