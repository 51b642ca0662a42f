"""Pooling layers of the paper, as serialisable Keras 3 layers.

The learnable poolings are those of LOUPE (A. Miech, I. Laptev, J. Sivic, "Learnable pooling with
Context Gating for video classification", 2017; `antoine77340/LOUPE: loupe.py`), which SoccerNet
(Giancola et al., CVPRW 2018) and Vanderplaetse & Dupont (CVPRW 2020) use unchanged: NetVLAD, NetRVLAD,
SoftDBoW and NetFV, each followed by context gating. The simple poolings are those of SoccerNet's
`Network.py`: MAX and AVERAGE (a 1-D pooling over time, not a global one), CNN and FC.

Every layer takes `(batch_size, max_samples, feature_size)` and returns `(batch_size, output_dim)`.
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

from .machine import cpu_flags
from .names import BN_MODES

PACKAGE = "soccernet"
# slim.batch_norm defaults used by LOUPE: decay 0.999 (Keras calls it momentum), epsilon 1e-3.
BN_MOMENTUM = 0.999
BN_EPSILON = 1e-3
# tf.nn.l2_normalize: x / sqrt(max(sum(x^2), 1e-12)).
L2_EPSILON = 1e-12
# NetFV: the covariance is covar_weights^2 + 1e-6.
COVAR_EPSILON = 1e-6
# SoccerNet's Classification/Network.py hard-codes this pool size for MAX and AVERAGE.
SOCCERNET_POOL_SIZE = 120

_register = keras.saving.register_keras_serializable(package=PACKAGE)


def _check_bn_mode(bn_mode: str) -> None:
    if bn_mode not in BN_MODES:
        raise ValueError(f"unknown bn_mode {bn_mode!r}; valid: {', '.join(BN_MODES)}")


def _normal(stddev: float, mean: float = 0.0) -> keras.initializers.Initializer:
    """tf.random_normal_initializer(mean, stddev) of LOUPE."""
    return keras.initializers.RandomNormal(mean=mean, stddev=stddev)


def _float32(x):
    return ops.cast(x, "float32")


# ------------------------------------------------------------------------------------------------
# Batch normalisation and context gating


@_register
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
        _check_bn_mode(bn_mode)
        super().__init__(momentum=momentum, epsilon=epsilon, **kwargs)
        self.bn_mode = bn_mode

    def call(self, inputs, training=None, mask=None):
        if self.bn_mode == "moving":
            return super().call(inputs, training=training, mask=mask)
        # As loupe.py's slim.batch_norm(is_training=True): batch moments (biased variance, as
        # tf.nn.moments and the fused kernel), moving averages left alone.
        x = _float32(inputs)
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
            factor = factor * _float32(self.gamma)
        outputs = (x - mean) * factor
        if self.center:
            outputs = outputs + _float32(self.beta)
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


@_register
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
        _check_bn_mode(bn_mode)
        self.add_batch_norm = bool(add_batch_norm)
        self.bn_mode = bn_mode
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.gating_bn = (BatchNorm(bn_mode, bn_momentum, bn_epsilon, name="gating_bn", dtype=self.dtype_policy)
                          if self.add_batch_norm else None)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.gating_weights = self.add_weight(name="gating_weights", shape=(dim, dim),
                                              initializer=_normal(1 / math.sqrt(dim)))
        if self.add_batch_norm:
            self.gating_bn.build((None, dim))
        else:
            self.gating_biases = self.add_weight(name="gating_biases", shape=(dim,),
                                                 initializer=_normal(1 / math.sqrt(dim)))

    def call(self, inputs, training=None):
        gates = ops.matmul(inputs, self.gating_weights)  # (batch_size, dim)
        if self.add_batch_norm:
            gates = self.gating_bn(gates, training=training)
        else:
            gates = _float32(gates) + _float32(self.gating_biases)
        gates = ops.sigmoid(_float32(gates))
        return inputs * ops.cast(gates, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "add_batch_norm": self.add_batch_norm, "bn_mode": self.bn_mode,
                "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon}


# ------------------------------------------------------------------------------------------------
# LOUPE poolings


def _double_l2_scale(squared_norms):
    """Per-cluster factors equal to LOUPE's intra- then global L2 normalisation.

    For columns V_k with squared norms ss_k (batch_size, K), `l2_normalize(V, axis=D)` multiplies V_k by
    r_k = 1/sqrt(max(ss_k, eps)); the flattened result has squared norm sum_k ss_k r_k^2, so the following
    global `l2_normalize` multiplies everything by g = 1/sqrt(max(sum_k ss_k r_k^2, eps)). Returns r_k g
    (batch_size, K) in float32: one scaling of V instead of two passes over the (batch_size, D*K) tensor.
    """
    intra = ops.rsqrt(ops.maximum(squared_norms, L2_EPSILON))  # (batch_size, K)
    total = ops.sum(squared_norms * ops.square(intra), axis=1, keepdims=True)  # (batch_size, 1)
    return intra * ops.rsqrt(ops.maximum(total, L2_EPSILON))


def _global_l2_scale(squared_norm):
    """1/sqrt(max(ss, eps)) of tf.nn.l2_normalize, for a squared norm ss (any shape)."""
    return ops.rsqrt(ops.maximum(squared_norm, L2_EPSILON))


class LoupePooling(keras.layers.Layer):
    """Shared parts of the four LOUPE poolings: the soft assignment, the projection, the gating.

    Assignment (loupe.py, all four classes): the frames are reshaped to (batch_size*max_samples,
    feature_size), projected on `cluster_weights` (feature_size, K) with N(0, 1/feature_size) entries,
    batch-normalised over *all* those rows (`cluster_bn`; without batch norm a `cluster_biases` vector is
    added instead), and soft-maxed over the K clusters.
    """

    def __init__(self, cluster_size: int, output_dim: int, gating: bool = True, add_batch_norm: bool = True,
                 bn_mode: str = "batch", bn_momentum: float = BN_MOMENTUM, bn_epsilon: float = BN_EPSILON,
                 **kwargs):
        super().__init__(**kwargs)
        _check_bn_mode(bn_mode)
        if int(cluster_size) < 1 or int(output_dim) < 1:
            raise ValueError(f"cluster_size and output_dim must be positive, got {cluster_size}, {output_dim}")
        self.cluster_size = int(cluster_size)
        self.output_dim = int(output_dim)
        self.gating = bool(gating)
        self.add_batch_norm = bool(add_batch_norm)
        self.bn_mode = bn_mode
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.cluster_bn = (BatchNorm(bn_mode, bn_momentum, bn_epsilon, name="cluster_bn", dtype=self.dtype_policy)
                           if self.add_batch_norm else None)
        self.context_gating = (ContextGating(self.add_batch_norm, bn_mode, bn_momentum, bn_epsilon,
                                             name="context_gating", dtype=self.dtype_policy)
                               if self.gating else None)

    # Subclasses: the size of the pooled vector before the projection, and how to compute it.
    def _pooled_dim(self, feature_size: int) -> int:
        raise NotImplementedError

    def _build_pooling(self, feature_size: int) -> None:
        """Create the weights between the assignment and the projection (none by default)."""

    def _pool(self, frames, assignment):
        """frames (batch_size, max_samples, feature_size), assignment (batch_size, max_samples, K) float32
        -> pooled (batch_size, pooled_dim) in the compute dtype."""
        raise NotImplementedError

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} expects (batch_size, max_samples, feature_size) with a "
                             f"known feature_size, got {input_shape}")
        feature_size = int(input_shape[-1])
        self.feature_size = feature_size
        k = self.cluster_size
        self.cluster_weights = self.add_weight(name="cluster_weights", shape=(feature_size, k),
                                               initializer=_normal(1 / math.sqrt(feature_size)))
        if self.add_batch_norm:
            self.cluster_bn.build((None, k))
        else:
            self.cluster_biases = self.add_weight(name="cluster_biases", shape=(k,),
                                                  initializer=_normal(1 / math.sqrt(feature_size)))
        self._build_pooling(feature_size)
        # LOUPE's quirk: the projection's deviation is 1/sqrt(K), not 1/sqrt(fan_in).
        self.hidden1_weights = self.add_weight(name="hidden1_weights",
                                               shape=(self._pooled_dim(feature_size), self.output_dim),
                                               initializer=_normal(1 / math.sqrt(k)))
        if self.gating:
            self.context_gating.build((None, self.output_dim))

    def assignment(self, inputs, training=None):
        """Soft assignment of every frame to the K clusters.

        Args:
            inputs: (batch_size, max_samples, feature_size).
        Returns:
            (batch_size, max_samples, K), float32, each row summing to 1.
        """
        max_samples = ops.shape(inputs)[1]
        rows = ops.reshape(inputs, (-1, self.feature_size))  # (batch_size*max_samples, feature_size)
        activation = self.soft_assignment(self.assignment_logits(rows), training=training)
        return ops.reshape(activation, (-1, max_samples, self.cluster_size))  # (batch_size, max_samples, K)

    def assignment_logits(self, rows):
        """Frames (rows, feature_size) projected on the clusters: (rows, K) in the compute dtype, each row
        on its own."""
        return ops.matmul(rows, self.cluster_weights)

    def soft_assignment(self, activation, training=None):
        """Assignment logits (rows, K) -> float32 soft assignment (rows, K): batch norm (its moments over
        all the rows given, in `batch` mode) or the bias, then the softmax over the clusters."""
        if self.add_batch_norm:
            activation = self.cluster_bn(activation, training=training)  # moments over all the rows
        else:
            activation = _float32(activation) + _float32(self.cluster_biases)
        return ops.softmax(_float32(activation), axis=-1)

    def descriptor(self, inputs, training=None):
        """The normalised pooled vector before the projection.

        Args:
            inputs: (batch_size, max_samples, feature_size).
        Returns:
            (batch_size, P): D*K for NetVLAD/NetRVLAD (index d*K + k), K for SoftDBoW, 2*D*K for NetFV.
        """
        return self._pool(inputs, self.assignment(inputs, training=training))

    def call(self, inputs, training=None):
        return self.pool_and_project(inputs, self.assignment(inputs, training=training), training=training)

    def pool_and_project(self, frames, assignment, training=None, weight_products=None):
        """`project(_pool(frames, assignment))`: the layer's output from its frames (batch_size,
        max_samples, feature_size) and their soft assignment (`assignment`); a subclass may compute it
        without forming the pooled vector (`NetVLAD`), with products of its weights alone that a caller
        pooling many batches computes once (`weight_products()`, passed back here; None: computed here)."""
        return self.project(self._pool(frames, assignment), training=training)

    def weight_products(self) -> tuple:
        """The products of the weights alone that `pool_and_project` uses when not training (none here);
        inside a call of a layer with this layer's dtype policy."""
        return ()

    def project(self, pooled, training=None):
        """The projection by `hidden1_weights` and the context gating of pooled vectors (batch_size, P)
        -> (batch_size, O); inside a call of this layer (or of one with its dtype policy)."""
        return self._gated(_projection(ops.cast(pooled, self.compute_dtype), self._hidden_weights()), training)

    def _hidden_weights(self):
        return tf.convert_to_tensor(self.hidden1_weights.value)  # read (and autocast) outside the custom gradient

    def _gated(self, output, training):
        return self.context_gating(output, training=training) if self.gating else output

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "cluster_size": self.cluster_size, "output_dim": self.output_dim,
                "gating": self.gating, "add_batch_norm": self.add_batch_norm, "bn_mode": self.bn_mode,
                "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon}


# Unit roundoff of the half-precision compute dtypes (8 and 11 significant bits).
_HALF_ROUNDING = {tf.bfloat16: 2.0 ** -8, tf.float16: 2.0 ** -11}


def product_forms() -> dict[str, bool]:
    """How `_projection` writes its long products on this machine, decided once per process.

    oneDNN picks its CPU kernel from the operands' layouts, and which layout is fastest differs between
    processors (`bench/bench_networks.py --parts` times every form). With V the pooled vectors
    (batch_size, P), W the weights (P, O) and dy the upstream gradient:
    - `transposed_gradient`: the input gradient as (W dy')' rather than TensorFlow's dy W'. Taken on
      processors without AVX-512, where it was measured 2-3x faster; with AVX-512 (and AMX) dy W' is
      the faster one, in float32 and in bfloat16.
    - `transposed_half_forward`: a bfloat16 forward as (W' V')' rather than V W. Taken where the
      processor has AMX (`amx_bf16`): there V W ran at 0.55-0.7 of its rate at 256-675 rows.
    Float32's forward is V W everywhere (the spotting paths' outputs stay bit for bit the same). Where
    TensorFlow sees a GPU, TensorFlow's forms.
    """
    global _PRODUCT_FORMS
    if _PRODUCT_FORMS is None:
        flags = frozenset() if tf.config.list_physical_devices("GPU") else cpu_flags()
        _PRODUCT_FORMS = {"transposed_gradient": bool(flags) and "avx512f" not in flags,
                          "transposed_half_forward": "amx_bf16" in flags}
    return _PRODUCT_FORMS


_PRODUCT_FORMS = None


@tf.custom_gradient
def _projection(pooled, weights):
    """pooled (batch_size, P) x weights (P, O): the usual product and gradient, each product written in
    the form `product_forms` picks for this machine (the same values up to float rounding)."""
    forms = product_forms()
    if forms["transposed_half_forward"] and pooled.dtype == tf.bfloat16:
        output = tf.transpose(tf.linalg.matmul(weights, pooled, transpose_a=True, transpose_b=True))
    else:
        output = tf.linalg.matmul(pooled, weights)

    def gradient(upstream):
        if forms["transposed_gradient"]:
            d_pooled = tf.transpose(tf.linalg.matmul(weights, upstream, transpose_b=True))  # (batch_size, P)
        else:
            d_pooled = tf.linalg.matmul(upstream, weights, transpose_b=True)
        d_weights = tf.linalg.matmul(pooled, upstream, transpose_a=True)  # (P, O)
        return d_pooled, d_weights

    return output, gradient


def _vlad_columns(frames, assignment, centres=None):
    """Intra- and globally L2-normalised VLAD (centres given) or RVLAD (no centres) descriptor.

    Args:
        frames: (batch_size, N, D), compute dtype.
        assignment: (batch_size, N, K) float32.
        centres: (D, K) float32 `cluster_weights2`, or None for NetRVLAD.
    Returns:
        (batch_size, D, K) in the compute dtype: column k is (sum_n a_nk x_n - s_k c_k), with
        s_k = sum_n a_nk, divided by its norm and then by the norm of the whole; flattened row-major it
        is LOUPE's vector (index d*K + k).
    """
    dtype = frames.dtype
    # (batch_size, D, K) = X' A, written straight in LOUPE's (D, K) layout: loupe.py computes A' X and
    # transposes it, a copy of the largest tensor of the layer.
    columns = tf.linalg.matmul(frames, ops.cast(assignment, dtype), transpose_a=True)
    if centres is not None:
        mass = ops.sum(assignment, axis=1)  # s_k (batch_size, K)
        columns = columns - ops.cast(centres, dtype) * ops.cast(mass, dtype)[:, None, :]
    # Both normalisations as one per-cluster factor (one multiplication of the big tensor, not two
    # normalise-and-divide passes). Folding the factor into the assignment and taking the norms from
    # (N, N) Gram products saves the remaining passes but costs (B*N, D) x (D, K) products and, in float32,
    # digits where the norm's terms nearly cancel: half precision takes it (`_vlad_columns_half`).
    scale = _double_l2_scale(ops.sum(ops.square(_float32(columns)), axis=1))  # (batch_size, K)
    return columns * ops.cast(scale, dtype)[:, None, :]


def _half_vlad_norms(x, a, c, dtype) -> dict:
    """The column norms of `_vlad_columns_half` and what its gradient reuses, computed in `a`'s dtype.

    Args:
        x: (batch_size, N, D) frames, in the assignment's dtype; a: (batch_size, N, K) assignment;
        c: the (D, K) centres or None; dtype: the compute dtype the descriptor is rounded to.
    Returns:
        squared (batch_size, K) squared column norms, scale r = `_double_l2_scale(squared)`, gram_a =
        X X' A, the factors a_r = A r and (centres) s_r = s r in `dtype`, and with centres mass = s, x_c =
        X c, cross = c_k . X' a_k and c_norms = ||c_k||^2.
    """
    gram_a = tf.linalg.matmul(tf.linalg.matmul(x, x, transpose_b=True), a)  # X X' A (batch_size, N, K)
    squared = ops.sum(a * gram_a, axis=1)  # ||X' a_k||^2 (batch_size, K)
    norms = {"gram_a": gram_a}
    if c is not None:
        mass = ops.sum(a, axis=1)  # s_k (batch_size, K)
        x_c = tf.linalg.matmul(x, c)  # x_n . c_k (batch_size, N, K)
        cross = ops.sum(a * x_c, axis=1)  # c_k . X' a_k
        c_norms = ops.sum(ops.square(c), axis=0)  # ||c_k||^2 (K,)
        terms = squared + ops.square(mass) * c_norms
        squared = squared - 2.0 * mass * cross + ops.square(mass) * c_norms
        # The difference X'(A r) - c (s r) is rounded in the compute dtype: where a column's two terms
        # nearly cancel, its rounding error, not its exact norm, sets the size of what is left. The norm
        # is floored at that error, so that a column never comes out longer than about 1 (residuals
        # rounded first, as float32's ops compute them, are normalised after rounding, so theirs cannot).
        squared = ops.maximum(squared, _HALF_ROUNDING.get(dtype, 0.0) ** 2 * terms)
        norms.update(mass=mass, x_c=x_c, cross=cross, c_norms=c_norms)
    squared = ops.maximum(squared, 0.0)  # a rounding below zero is a zero column
    scale = _double_l2_scale(squared)  # r_k (batch_size, K)
    # Factors past the compute dtype's range (float16: a near-zero column's 1/norm) clipped, not infinite.
    limit = float(dtype.max) / 2 if dtype == tf.float16 else float("inf")
    norms.update(squared=squared, scale=scale, a_r=ops.cast(ops.minimum(a * scale[:, None, :], limit), dtype))
    if c is not None:
        norms["s_r"] = ops.cast(ops.minimum(norms["mass"] * scale, limit), dtype)
    return norms


@tf.custom_gradient
def _vlad_columns_half(frames, assignment, *centres):
    """`_vlad_columns` for a half-precision compute dtype (bfloat16, float16), its norms in float32.

    The same descriptor, computed without materialising the residuals: the column norms come from small
    products in the assignment's dtype (float32 in the layers), ||X'a_k - s_k c_k||^2 = a_k' (X X') a_k
    - 2 s_k a_k' (X c_k) + s_k^2 ||c_k||^2 with the (N, N) Gram matrix X X', and the descriptor is one
    product X' (A r) - c (s r) with the per-cluster factor r already applied. The gradient is written out
    likewise, in terms of X, A and small products: the (batch_size, D, K) upstream gradient G is used by
    two batched products (X G and (A r) G') and two weighted sums (over D and over the batch), and no
    gradient of that size is formed. In float32 this would change the rounding of the faithful path (the
    norm's three terms nearly cancel when the centres sit where the frames are, which costs float32
    digits), so the layers take it only in half precision, where it is faster than the elementwise passes
    and about as accurate as residuals rounded to 8 or 11 bits (the tests compare; see `NetVLAD._pool`).

    Args:
        frames: (batch_size, N, D), compute dtype.
        assignment: (batch_size, N, K), float32 (or float64, for the tests: everything small is computed
            in its dtype).
        centres: nothing for NetRVLAD, or the (D, K) centres in the assignment's dtype.
    Returns:
        (batch_size, D, K) in the frames' dtype, as `_vlad_columns`.
    """
    dtype, exact = frames.dtype, assignment.dtype
    x, a = ops.cast(frames, exact), assignment
    norms = _half_vlad_norms(x, a, centres[0] if centres else None, dtype)
    squared, gram_a, scale = norms["squared"], norms["gram_a"], norms["scale"]
    columns = tf.linalg.matmul(frames, norms["a_r"], transpose_a=True)  # X' (A r)
    if centres:
        c, mass, x_c, cross, c_norms = centres[0], norms["mass"], norms["x_c"], norms["cross"], norms["c_norms"]
        columns = columns - ops.cast(c, dtype) * norms["s_r"][:, None, :]

    def gradient(upstream):
        # With U = X'A - c s (never formed) and the output U r: dU = G r + U q, q_k = 2 dL/d||U_k||^2.
        x_g = ops.cast(tf.linalg.matmul(frames, upstream), exact)  # X G (batch_size, N, K)
        along = ops.sum(a * x_g, axis=1)  # sum_d G U, through X'A ...
        if centres:
            c_g = ops.cast(ops.sum(upstream * ops.cast(c, dtype)[None], axis=1), exact)  # sum_d c G (batch_size, K)
            along = along - mass * c_g  # ... and the centres
        with tf.GradientTape() as tape:
            tape.watch(squared)
            factor = _double_l2_scale(squared)
        q = 2.0 * tape.gradient(factor, squared, output_gradients=along)  # (batch_size, K)
        a_q = a * q[:, None, :]
        # dX = A dU' = (A r) G' + (A q) U', with (A q) U' = ((A q) A') X - (A q s) c'.
        d_frames = (ops.cast(tf.linalg.matmul(norms["a_r"], upstream, transpose_b=True), exact)
                    + tf.linalg.matmul(tf.linalg.matmul(a_q, a, transpose_b=True), x))
        # dA = X dU = (X G) r + (X U) q, with X U = X X' A - (X c) s.
        d_assignment = x_g * scale[:, None, :] + gram_a * q[:, None, :]
        if not centres:
            return ops.cast(d_frames, dtype), d_assignment
        d_frames = d_frames - tf.linalg.matmul(a_q * mass[:, None, :], c, transpose_b=True)
        # s_k = sum_n a_nk: ds_k = -c_k . dU_k = -(r_k c_k . G_k + q_k c_k . U_k).
        d_mass = -(scale * c_g + q * (cross - mass * c_norms))
        d_assignment = d_assignment - x_c * (mass * q)[:, None, :] + d_mass[:, None, :]
        # dc = -sum_b s dU = -(sum_b (s r) G + sum_b (s q) U), the second as X' (A s q) - c sum_b s^2 q.
        weights = mass * q
        features = ops.shape(x)[-1]
        d_centres = -(ops.cast(ops.sum(upstream * norms["s_r"][:, None, :], axis=0), exact)
                      + tf.linalg.matmul(ops.reshape(x, (-1, features)),
                                         ops.reshape(a * weights[:, None, :], (-1, ops.shape(a)[-1])), transpose_a=True)
                      - c * ops.sum(weights * mass, axis=0))
        return ops.cast(d_frames, dtype), d_assignment, d_centres

    return columns, gradient


def _centre_weights(centres, weights):
    """M (K, O) with M_k = c_k' W_k, W_k the rows of `weights` (D*K, O) that multiply cluster k (index
    d*K + k): what the centres' part of the VLAD descriptor projects through (`_vlad_projection_half`).
    One product per cluster, in the weights' dtype."""
    features, clusters = ops.shape(centres)
    per_cluster = ops.transpose(ops.reshape(weights, (features, clusters, -1)), (1, 0, 2))  # W_k (K, D, O)
    return tf.linalg.matmul(ops.cast(ops.transpose(centres), weights.dtype)[:, None, :], per_cluster)[:, 0]


def _vlad_projection_half(frames, assignment, centres, weights, centre_weights=None):
    """NetVLAD's normalised descriptor projected by `weights`, in half precision, without forming it.

    With the per-cluster factor r of `_vlad_columns_half`, the descriptor is X'(A r) - c (s r), and its
    centres' part projects to a small product: sum_{d,k} c_dk (s r)_k W_(dK+k) = (s r) M, with M_k =
    c_k' W_k (K, O) (`_centre_weights`). So the projection is X'(A r) W - (s r) M (the difference taken
    in the assignment's dtype, float32): the elementwise pass that forms the (batch_size, D, K)
    difference is saved. Plain operations, differentiable as they are; the layers take it where they
    do not train (`NetVLAD.pool_and_project`), as accurate as projecting the rounded difference (the
    tests compare).

    Args:
        frames: (batch_size, N, D), compute dtype (bfloat16 or float16).
        assignment: (batch_size, N, K), float32 (float64 in the tests: the small products' dtype).
        centres: (D, K), in the assignment's dtype.
        weights: (D*K, O), compute dtype.
        centre_weights: `_centre_weights(centres, weights)` if computed already (None: computed here).
    Returns:
        (batch_size, O) in the compute dtype.
    """
    dtype, exact = frames.dtype, assignment.dtype
    features, clusters = ops.shape(centres)
    norms = _half_vlad_norms(ops.cast(frames, exact), assignment, centres, dtype)
    sums = tf.linalg.matmul(frames, norms["a_r"], transpose_a=True)  # X' (A r) (batch_size, D, K)
    projected = _projection(ops.reshape(sums, (-1, features * clusters)), weights)
    if centre_weights is None:
        centre_weights = _centre_weights(centres, weights)
    centre_part = tf.linalg.matmul(norms["mass"] * norms["scale"], ops.cast(centre_weights, exact))
    return ops.cast(ops.cast(projected, exact) - centre_part, dtype)


# The VLAD descriptor's tail compiled with XLA (`set_xla_descriptor`); off by default, as the original.
_vlad_columns_xla = tf.function(_vlad_columns, jit_compile=True, reduce_retracing=True)
_XLA_DESCRIPTOR = False


def set_xla_descriptor(enabled: bool) -> None:
    """Compile NetVLAD's and NetRVLAD's descriptor (the X'A product, the centres, both normalisations) with
    XLA in the graphs traced from now on in this process (the scripts' `--xla_descriptor`).

    XLA fuses the elementwise passes over the (batch_size, D, K) tensor that the separate TensorFlow ops
    make one by one (memory-bound at K = 512), the gradient included. The outputs equal the uncompiled
    ones up to float rounding (the tests compare them); each new batch shape is compiled once. Float32
    layers only: in half precision the layers take `_vlad_columns_half`, which has no such passes.
    """
    global _XLA_DESCRIPTOR
    _XLA_DESCRIPTOR = bool(enabled)


# Batch size from which a half-precision NetVLAD layer that is not training projects the centres apart
# when it computes their weights itself (about 0.04 s per call for K = 512; see `pool_and_project`).
_APART_ROWS = 256


@_register
class NetVLAD(LoupePooling):
    """NetVLAD pooling (Arandjelovic et al. 2016) as in LOUPE `NetVLAD`, with context gating.

    Residuals to the cluster centres `cluster_weights2` (1, D, K) with N(0, 1/D) entries, summed with the
    soft assignment, intra-normalised per cluster, flattened (index d*K + k), L2-normalised, projected by
    `hidden1_weights` (D*K, O) with N(0, 1/K) entries and no bias, then gated.

    Args:
        cluster_size: K.
        output_dim: O.
        gating: apply `ContextGating` to the projection.
        add_batch_norm: batch-normalise the assignment logits (else a bias) and the gates.
        bn_mode: `"batch"` (the original) or `"moving"`, see `BatchNorm`.
        bn_momentum, bn_epsilon: slim's decay and epsilon (0.999, 1e-3).

    Input (batch_size, max_samples, feature_size) -> output (batch_size, output_dim).
    """

    def _pooled_dim(self, feature_size):
        return feature_size * self.cluster_size

    def _build_pooling(self, feature_size):
        self.cluster_weights2 = self.add_weight(name="cluster_weights2", shape=(1, feature_size, self.cluster_size),
                                                initializer=_normal(1 / math.sqrt(feature_size)))

    def _centres(self):
        return _float32(self.cluster_weights2)[0]  # (D, K)

    def _projects_centres_apart(self, training=None) -> bool:
        # Half precision, not training (spotting, prediction): the centres projected apart, see the function.
        return not training and self._centres() is not None and tf.as_dtype(self.compute_dtype) in _HALF_ROUNDING

    def weight_products(self):
        return (_centre_weights(self._centres(), self._hidden_weights()),) if self._projects_centres_apart() else ()

    def pool_and_project(self, frames, assignment, training=None, weight_products=None):
        if not self._projects_centres_apart(training):
            return super().pool_and_project(frames, assignment, training=training)
        weights, centres = self._hidden_weights(), self._centres()

        def apart():
            return _vlad_projection_half(frames, assignment, centres, weights, *(weight_products or ()))

        def formed():
            return _projection(self._pool(frames, assignment), weights)

        # Computing the centres' weights for this batch alone pays from about 256 windows
        # (`bench/bench_networks.py --parts` times both at the batch it is given).
        rows = frames.shape[0]
        if weight_products or (rows is not None and rows >= _APART_ROWS):
            output = apart()
        elif rows is not None:
            output = formed()
        else:
            output = tf.cond(tf.shape(frames)[0] >= _APART_ROWS, apart, formed)
        return self._gated(output, training)

    def _pool(self, frames, assignment):
        centres = self._centres()
        if frames.dtype in _HALF_ROUNDING:  # mixed precision: norms in float32, see the function
            columns = _vlad_columns_half(frames, assignment, *([] if centres is None else [centres]))
        else:
            columns = (_vlad_columns_xla if _XLA_DESCRIPTOR else _vlad_columns)(frames, assignment, centres)
        return ops.reshape(columns, (-1, self.feature_size * self.cluster_size))  # (batch_size, D*K)


@_register
class NetRVLAD(NetVLAD):
    """NetRVLAD ("residual-less" VLAD, LOUPE `NetRVLAD`): NetVLAD without the cluster centres.

    V_k = sum_n a_nk x_n; the same normalisations, projection (D*K, O) and gating as `NetVLAD`.
    Same arguments and shapes as `NetVLAD`.
    """

    def _build_pooling(self, feature_size):
        pass

    def _centres(self):
        return None


@_register
class SoftDBoW(LoupePooling):
    """Soft bag of visual words (LOUPE `SoftDBoW`): bof_k = sum_n a_nk, L2-normalised over K, projected
    by `hidden1_weights` (K, O) with N(0, 1/K) entries, gated. Same arguments and shapes as `NetVLAD`."""

    def _pooled_dim(self, feature_size):
        return self.cluster_size

    def _pool(self, frames, assignment):
        bag = ops.sum(assignment, axis=1)  # (batch_size, K)
        return bag * _global_l2_scale(ops.sum(ops.square(bag), axis=1, keepdims=True))


@_register
class NetFV(LoupePooling):
    """NetFV (LOUPE `NetFV`): first and second order Fisher-vector statistics, with context gating.

    With `covar_weights` c (D, K) initialised N(1, 1/D) and Sigma = c^2 + 1e-6, centres `cluster_weights2`
    mu (1, D, K) N(0, 1/D), s_k = sum_n a_nk, M1 = sum_n a_nk x_n and M2 = sum_n a_nk x_n^2:
    fv1 = (M1 - s mu) / Sigma, intra-normalised over D, flattened, L2-normalised;
    fv2 = (s mu^2 + M2 - 2 M1 mu) / Sigma^2 - s, flattened, L2-normalised twice (as loupe.py);
    [fv1, fv2] (2*D*K) is projected by `hidden1_weights` (2*D*K, O), N(0, 1/K), and gated. Computed in
    float32 except the projection. Same arguments and shapes as `NetVLAD`.
    """

    def _pooled_dim(self, feature_size):
        return 2 * feature_size * self.cluster_size

    def _build_pooling(self, feature_size):
        k = self.cluster_size
        self.covar_weights = self.add_weight(name="covar_weights", shape=(feature_size, k),
                                             initializer=_normal(1 / math.sqrt(feature_size), mean=1.0))
        self.cluster_weights2 = self.add_weight(name="cluster_weights2", shape=(1, feature_size, k),
                                                initializer=_normal(1 / math.sqrt(feature_size)))

    def _pool(self, frames, assignment):
        x = _float32(frames)
        covariance = ops.square(_float32(self.covar_weights)) + COVAR_EPSILON  # Sigma (D, K)
        centres = _float32(self.cluster_weights2)  # (1, D, K)
        mass = ops.sum(assignment, axis=1)[:, None, :]  # (batch_size, 1, K)
        first = tf.linalg.matmul(x, assignment, transpose_a=True)  # M1 (batch_size, D, K)
        second = tf.linalg.matmul(ops.square(x), assignment, transpose_a=True)  # M2 (batch_size, D, K)
        fv2 = (mass * ops.square(centres) + second - 2.0 * first * centres) / ops.square(covariance) - mass
        fv2_norm = _global_l2_scale(ops.sum(ops.square(fv2), axis=(1, 2)))  # (batch_size,)
        # loupe.py normalises fv2 twice; the second factor follows from the first one's result.
        fv2_norm = fv2_norm * _global_l2_scale(ops.sum(ops.square(fv2), axis=(1, 2)) * ops.square(fv2_norm))
        fv2 = fv2 * fv2_norm[:, None, None]
        fv1 = (first - mass * centres) / covariance  # (batch_size, D, K)
        fv1 = fv1 * _double_l2_scale(ops.sum(ops.square(fv1), axis=1))[:, None, :]
        size = self.feature_size * self.cluster_size
        return ops.concatenate([ops.reshape(fv1, (-1, size)), ops.reshape(fv2, (-1, size))], axis=1)


# ------------------------------------------------------------------------------------------------
# SoccerNet's simple poolings (Classification/Network.py)


def _static_frames(layer, input_shape) -> tuple[int, int]:
    if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
        raise ValueError(f"{type(layer).__name__} flattens the time axis and needs a known frame count and "
                         f"feature size: expected (batch_size, max_samples, feature_size), got {input_shape}")
    return int(input_shape[1]), int(input_shape[2])


@_register
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


@_register
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


@_register
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


@_register
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


CUSTOM_OBJECTS = {cls.__name__: cls for cls in (BatchNorm, ContextGating, NetVLAD, NetRVLAD, SoftDBoW, NetFV,
                                                TemporalPooling, ConvPooling, FCPooling, EarlyFusion)}
