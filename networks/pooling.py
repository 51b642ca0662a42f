"""Pooling layers of the paper, as serialisable Keras 3 layers.

The learnable poolings are those of LOUPE (A. Miech, I. Laptev, J. Sivic, "Learnable pooling with
Context Gating for video classification", 2017; `antoine77340/LOUPE: loupe.py`), which SoccerNet
(Giancola et al., CVPRW 2018) and Vanderplaetse & Dupont (CVPRW 2020) use unchanged: NetVLAD, NetRVLAD,
SoftDBoW and NetFV (`networks.loupe`), each followed by context gating (here, with the batch
normalisation they share). The simple poolings (here) are those of SoccerNet's `Network.py`: MAX and
AVERAGE (a 1-D pooling over time, not a global one), CNN and FC; `EarlyFusion` joins the streams' windows
of methods 6 and 7.

Every pooling takes `(batch_size, max_samples, feature_size)` and returns `(batch_size, output_dim)`.
The LOUPE layers work for any frame count (also unknown until run time); the simple ones flatten the
time axis, so they need a known frame count.

Batch normalisation (`BatchNorm`) has two modes. `"batch"` reproduces the original, which built every
batch norm with `is_training=True`: the batch's own moments are used at training *and* at inference,
and the moving averages are never updated (they stay 0 and 1). `"moving"` is the standard Keras
behaviour (moving averages updated when called with `training=True`, used otherwise).
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from .kernels import to_float32
from .names import BN_MODES

PACKAGE = "soccernet"
# slim.batch_norm defaults used by LOUPE: decay 0.999 (Keras calls it momentum), epsilon 1e-3.
BN_MOMENTUM = 0.999
BN_EPSILON = 1e-3
# SoccerNet's Classification/Network.py hard-codes this pool size for MAX and AVERAGE.
SOCCERNET_POOL_SIZE = 120

register = keras.saving.register_keras_serializable(package=PACKAGE)


def check_bn_mode(bn_mode: str) -> None:
    if bn_mode not in BN_MODES:
        raise ValueError(f"unknown bn_mode {bn_mode!r}; valid: {', '.join(BN_MODES)}")


def normal(stddev: float, mean: float = 0.0) -> keras.initializers.Initializer:
    """tf.random_normal_initializer(mean, stddev) of LOUPE."""
    return keras.initializers.RandomNormal(mean=mean, stddev=stddev)


# ------------------------------------------------------------------------------------------------
# Batch normalisation and context gating


@register
class BatchNorm(keras.layers.BatchNormalization):
    """Batch normalisation over the leading axis, with the original's "always training" option.

    As `slim.batch_norm(center=True, scale=True, epsilon=1e-3, decay=0.999)` in LOUPE. Statistics are
    computed in float32 whatever the compute dtype.

    Args:
        bn_mode: `"batch"` (the original, `is_training=True` fixed in loupe.py): normalise with the
            moments of the batch being processed, whether `training` is true or not, and never update
            the moving averages. `"moving"`: standard Keras batch normalisation.
        momentum: moving-average momentum (slim's `decay`); used in `"moving"` mode only.
        epsilon: added to the variance.
        **kwargs: passed to `keras.layers.BatchNormalization` (axis must stay -1).

    Input `(rows, channels)` -> output `(rows, channels)`; moments over the rows.
    """

    def __init__(self, bn_mode: str = "batch", momentum: float = BN_MOMENTUM, epsilon: float = BN_EPSILON,
                 **kwargs):
        check_bn_mode(bn_mode)
        super().__init__(momentum=momentum, epsilon=epsilon, **kwargs)
        self.bn_mode = bn_mode

    def call(self, inputs, training=None, mask=None):
        if self.bn_mode == "moving":
            return super().call(inputs, training=training, mask=mask)
        # As loupe.py's slim.batch_norm(is_training=True): batch moments (biased variance, as
        # tf.nn.moments and the fused kernel), moving averages left alone.
        x = to_float32(inputs)
        axes = self._reduction_axes
        # Under a tf.distribute strategy with several replicas: the moments of all replicas' rows together
        # when `synchronized`, and always at inference (an evaluated half shared among replicas is
        # normalised as one batch, as the original evaluated it).
        context = tf.distribute.get_replica_context()
        if (self.synchronized or not training) and context is not None and context.num_replicas_in_sync > 1:
            mean, variance = _synchronized_moments(x, axes, context)
        else:
            mean = ops.mean(x, axis=axes, keepdims=True)
            variance = ops.mean(ops.square(x - ops.stop_gradient(mean)), axis=axes, keepdims=True)
        factor = ops.rsqrt(variance + self.epsilon)
        if self.scale:
            factor = factor * to_float32(self.gamma)
        outputs = (x - mean) * factor
        if self.center:
            outputs = outputs + to_float32(self.beta)
        return ops.cast(outputs, self.compute_dtype)

    def get_config(self):
        # `synchronized` is how a distributed training runs, not part of the model: never saved.
        return {**super().get_config(), "bn_mode": self.bn_mode, "synchronized": False}


def _synchronized_moments(x, axes, context):
    """The moments of the rows of every replica together (all-reduced sums, the same two-pass formula as
    one device: the mean first, then the mean squared deviation from it), differentiable: the gradient of
    an all-reduced sum is the all-reduced sum of the gradients, so each replica's backward pass sees the
    whole batch's statistics, as one device computing the whole batch would."""
    total = tf.distribute.ReduceOp.SUM
    count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(x), axes)), tf.float32)
    sums, count = context.all_reduce(total, [tf.reduce_sum(x, axis=axes, keepdims=True), count])
    mean = sums / count
    squares = context.all_reduce(total, tf.reduce_sum(tf.square(x - tf.stop_gradient(mean)), axis=axes,
                                                      keepdims=True))
    return mean, squares / count


@register
class ContextGating(keras.layers.Layer):
    """Context gating (LOUPE `context_gating`): y -> y * sigmoid(BN(y . G)).

    Miech et al. 2017, eq. 2. `gating_weights` G is (dim, dim) with N(0, 1/dim) entries; with batch norm
    there is no bias, otherwise a `gating_biases` vector N(0, 1/dim) is added before the sigmoid.

    Args:
        add_batch_norm: batch-normalise the gates (moments over the batch's samples).
        bn_mode, bn_momentum, bn_epsilon: see `BatchNorm`.

    Input `(batch_size, dim)` -> output `(batch_size, dim)`, each element in [0, |y|].
    """

    def __init__(self, add_batch_norm: bool = True, bn_mode: str = "batch", bn_momentum: float = BN_MOMENTUM,
                 bn_epsilon: float = BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        check_bn_mode(bn_mode)
        self.add_batch_norm = bool(add_batch_norm)
        self.bn_mode = bn_mode
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.gating_bn = (BatchNorm(bn_mode, bn_momentum, bn_epsilon, name="gating_bn", dtype=self.dtype_policy)
                          if self.add_batch_norm else None)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.gating_weights = self.add_weight(name="gating_weights", shape=(dim, dim),
                                              initializer=normal(1 / math.sqrt(dim)))
        if self.add_batch_norm:
            self.gating_bn.build((None, dim))
        else:
            self.gating_biases = self.add_weight(name="gating_biases", shape=(dim,),
                                                 initializer=normal(1 / math.sqrt(dim)))

    def call(self, inputs, training=None):
        gates = ops.matmul(inputs, self.gating_weights)  # (batch_size, dim)
        if self.add_batch_norm:
            gates = self.gating_bn(gates, training=training)
        else:
            gates = to_float32(gates) + to_float32(self.gating_biases)
        gates = ops.sigmoid(to_float32(gates))
        return inputs * ops.cast(gates, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "add_batch_norm": self.add_batch_norm, "bn_mode": self.bn_mode,
                "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon}


# ------------------------------------------------------------------------------------------------
# SoccerNet's simple poolings (Classification/Network.py)


def _static_frames(layer, input_shape) -> tuple[int, int]:
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ValueError(f"{type(layer).__name__} flattens the time axis and needs a known frame count and "
                         f"feature size: expected (batch_size, max_samples, feature_size), got {input_shape}")
    return int(input_shape[1]), int(input_shape[2])


@register
class TemporalPooling(keras.layers.Layer):
    """SoccerNet MAX / AVERAGE: max or average pooling over time, then flatten (no parameters).

    `tf.layers.max_pooling1d` / `average_pooling1d(pool_size, strides=1, padding='SAME')`: output frame t
    is the max (mean) over frames [t - (pool_size-1)//2, t + pool_size//2] within the window, so the time
    axis keeps its length (it is not a global pooling); padded positions do not count in the mean.

    Args:
        mode: `"max"` or `"average"`.
        pool_size: SoccerNet's classification code hard-codes 120 (the default here); its detection code
            used the window's frame count instead (a train/test mismatch whenever the window is not
            60 s). With 40 frames and 120, every position equals the global max (mean).

    Input (batch_size, max_samples, feature_size) -> output (batch_size, max_samples*feature_size).
    """

    def __init__(self, mode: str = "max", pool_size: int = SOCCERNET_POOL_SIZE, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "average"):
            raise ValueError(f"unknown mode {mode!r}; valid: max, average")
        self.mode = mode
        self.pool_size = int(pool_size)

    def build(self, input_shape):
        _static_frames(self, input_shape)

    def call(self, inputs):
        pool = ops.max_pool if self.mode == "max" else ops.average_pool
        pooled = pool(inputs, pool_size=self.pool_size, strides=1, padding="same")  # (batch_size, N, D)
        return ops.reshape(pooled, (-1, pooled.shape[1] * pooled.shape[2]))

    def compute_output_shape(self, input_shape):
        frames, features = _static_frames(self, input_shape)
        return (input_shape[0], frames * features)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "pool_size": self.pool_size}


@register
class ConvPooling(keras.layers.Layer):
    """SoccerNet CNN: a 1-D convolution over time with ReLU, then flatten.

    SoccerNet calls `contrib.layers.conv2d(num_outputs=128, kernel_size=9, padding='SAME')` on the rank-3
    window, which the TF 1.2 rank dispatch turns into a 1-D convolution over time (Glorot-uniform kernel,
    zero bias).

    Args:
        filters: output channels (128).
        kernel_size: frames per kernel (9).

    Input (batch_size, max_samples, feature_size) -> output (batch_size, max_samples*filters).
    """

    def __init__(self, filters: int = 128, kernel_size: int = 9, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.conv = keras.layers.Conv1D(self.filters, self.kernel_size, padding="same", activation="relu",
                                        name="conv", dtype=self.dtype_policy)

    def build(self, input_shape):
        _static_frames(self, input_shape)
        self.conv.build(tuple(input_shape))

    def call(self, inputs):
        features = self.conv(inputs)  # (batch_size, N, filters)
        return ops.reshape(features, (-1, features.shape[1] * self.filters))

    def compute_output_shape(self, input_shape):
        frames, _ = _static_frames(self, input_shape)
        return (input_shape[0], frames * self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


@register
class FCPooling(keras.layers.Layer):
    """SoccerNet FC: flatten, then a fully connected layer with ReLU of the same width.

    `contrib.layers.fully_connected(flatten, N*D, relu)`: Glorot-uniform kernel, zero bias;
    (N*D)^2 + N*D parameters (3.8 G at N=120, D=512).

    Args:
        units: the layer's width; None (the original) means max_samples*feature_size.

    Input (batch_size, max_samples, feature_size) -> output (batch_size, units).
    """

    def __init__(self, units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = None if units is None else int(units)
        self.dense = None

    def _width(self, input_shape) -> int:
        frames, features = _static_frames(self, input_shape)
        return self.units if self.units is not None else frames * features

    def build(self, input_shape):
        frames, features = _static_frames(self, input_shape)
        self.dense = keras.layers.Dense(self._width(input_shape), activation="relu", name="dense",
                                        dtype=self.dtype_policy)
        self.dense.build((None, frames * features))

    def call(self, inputs):
        flat = ops.reshape(inputs, (-1, inputs.shape[1] * inputs.shape[2]))  # (batch_size, N*D)
        return self.dense(flat)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._width(input_shape))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


# ------------------------------------------------------------------------------------------------
# Input fusion of methods 6 and 7


@register
class EarlyFusion(keras.layers.Layer):
    """Joins the video and audio windows into one sequence of descriptors (methods 6 and 7).

    Args:
        framewise: False (the original, VD networks.py AudioVideoArchi7/8): concatenate along the
            *time* axis, (batch_size, 2N, D), then reshape to (batch_size, N, 2D), so descriptor j < N/2 is
            [v_2j, v_2j+1] and descriptor j >= N/2 is [a_2j-N, a_2j-N+1]; both streams need the same
            feature size. True: concatenate the aligned frames, descriptor t = [v_t, a_t],
            (batch_size, N, Dv + Da).

    Input [video (batch_size, N, Dv), audio (batch_size, N, Da)] -> (batch_size, N, Dv + Da).
    """

    def __init__(self, framewise: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.framewise = bool(framewise)

    def _check(self, video_shape, audio_shape):
        if video_shape[1] is not None and audio_shape[1] is not None and video_shape[1] != audio_shape[1]:
            raise ValueError(f"video and audio windows differ in length: {video_shape[1]} and {audio_shape[1]}")
        if not self.framewise and video_shape[-1] != audio_shape[-1]:
            raise ValueError("the original's time-axis concatenation needs video and audio features of the same "
                             f"size, got {video_shape[-1]} and {audio_shape[-1]}; use frame-wise fusion")

    def build(self, input_shape):
        self._check(*input_shape)

    def call(self, inputs):
        video, audio = inputs
        if self.framewise:
            return ops.concatenate([video, audio], axis=-1)  # (batch_size, N, Dv + Da)
        frames, features = ops.shape(video)[1], video.shape[-1]
        joined = ops.concatenate([video, audio], axis=1)  # (batch_size, 2N, D)
        return ops.reshape(joined, (-1, frames, 2 * features))  # (batch_size, N, 2D)

    def compute_output_shape(self, input_shape):
        video_shape, audio_shape = input_shape
        self._check(video_shape, audio_shape)
        return (video_shape[0], video_shape[1], video_shape[-1] + audio_shape[-1])

    def get_config(self):
        return {**super().get_config(), "framewise": self.framewise}
