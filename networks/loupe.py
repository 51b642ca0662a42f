"""The learnable poolings of LOUPE, as serialisable Keras 3 layers: NetVLAD, NetRVLAD, SoftDBoW, NetFV.

A. Miech, I. Laptev, J. Sivic, "Learnable pooling with Context Gating for video classification", 2017
(`antoine77340/LOUPE: loupe.py`), which SoccerNet (Giancola et al., CVPRW 2018) and Vanderplaetse &
Dupont (CVPRW 2020) use unchanged: each pooling followed by context gating (`pooling.ContextGating`).

Every layer takes `(batch_size, max_samples, feature_size)` and returns `(batch_size, output_dim)`, for
any frame count (also unknown until run time). The layers write the paper's math; the forms their long
products and descriptors take on this processor and in this compute dtype are `networks.kernels`'s.
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from . import kernels
from .kernels import double_l2_scale, global_l2_scale, to_float32
from .pooling import (BN_EPSILON, BN_MOMENTUM, BatchNorm, ContextGating,
                      check_bn_mode, normal, register)

# NetFV: the covariance is covar_weights^2 + 1e-6.
COVAR_EPSILON = 1e-6


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
        check_bn_mode(bn_mode)
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
                                               initializer=normal(1 / math.sqrt(feature_size)))
        if self.add_batch_norm:
            self.cluster_bn.build((None, k))
        else:
            self.cluster_biases = self.add_weight(name="cluster_biases", shape=(k,),
                                                  initializer=normal(1 / math.sqrt(feature_size)))
        self._build_pooling(feature_size)
        # LOUPE's quirk: the projection's deviation is 1/sqrt(K), not 1/sqrt(fan_in).
        self.hidden1_weights = self.add_weight(name="hidden1_weights",
                                               shape=(self._pooled_dim(feature_size), self.output_dim),
                                               initializer=normal(1 / math.sqrt(k)))
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
            activation = to_float32(activation) + to_float32(self.cluster_biases)
        return ops.softmax(to_float32(activation), axis=-1)

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
        projected = kernels._projection(ops.cast(pooled, self.compute_dtype), self._hidden_weights())
        return self._gated(projected, training)

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



@register
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
                                                initializer=normal(1 / math.sqrt(feature_size)))

    def _centres(self):
        return to_float32(self.cluster_weights2)[0]  # (D, K)

    def _projects_centres_apart(self, training=None) -> bool:
        # Half precision, not training (spotting, prediction): the centres projected apart
        # (`kernels.vlad_projection`).
        return not training and self._centres() is not None and kernels.is_half(self.compute_dtype)

    def weight_products(self):
        return ((kernels._centre_weights(self._centres(), self._hidden_weights()),)
                if self._projects_centres_apart() else ())

    def pool_and_project(self, frames, assignment, training=None, weight_products=None):
        if not self._projects_centres_apart(training):
            return super().pool_and_project(frames, assignment, training=training)
        weights, centres = self._hidden_weights(), self._centres()

        def formed():
            return kernels._projection(self._pool(frames, assignment), weights)

        output = kernels.vlad_projection(frames, assignment, centres, weights, weight_products, formed)
        return self._gated(output, training)

    def _pool(self, frames, assignment):
        columns = kernels.vlad_columns(frames, assignment, self._centres())
        return ops.reshape(columns, (-1, self.feature_size * self.cluster_size))  # (batch_size, D*K)


@register
class NetRVLAD(NetVLAD):
    """NetRVLAD ("residual-less" VLAD, LOUPE `NetRVLAD`): NetVLAD without the cluster centres.

    V_k = sum_n a_nk x_n; the same normalisations, projection (D*K, O) and gating as `NetVLAD`.
    Same arguments and shapes as `NetVLAD`.
    """

    def _build_pooling(self, feature_size):
        pass

    def _centres(self):
        return None


@register
class SoftDBoW(LoupePooling):
    """Soft bag of visual words (LOUPE `SoftDBoW`): bof_k = sum_n a_nk, L2-normalised over K, projected
    by `hidden1_weights` (K, O) with N(0, 1/K) entries, gated. Same arguments and shapes as `NetVLAD`."""

    def _pooled_dim(self, feature_size):
        return self.cluster_size

    def _pool(self, frames, assignment):
        bag = ops.sum(assignment, axis=1)  # (batch_size, K)
        return bag * global_l2_scale(ops.sum(ops.square(bag), axis=1, keepdims=True))


@register
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
                                             initializer=normal(1 / math.sqrt(feature_size), mean=1.0))
        self.cluster_weights2 = self.add_weight(name="cluster_weights2", shape=(1, feature_size, k),
                                                initializer=normal(1 / math.sqrt(feature_size)))

    def _pool(self, frames, assignment):
        x = to_float32(frames)
        covariance = ops.square(to_float32(self.covar_weights)) + COVAR_EPSILON  # Sigma (D, K)
        centres = to_float32(self.cluster_weights2)  # (1, D, K)
        mass = ops.sum(assignment, axis=1)[:, None, :]  # (batch_size, 1, K)
        first = tf.linalg.matmul(x, assignment, transpose_a=True)  # M1 (batch_size, D, K)
        second = tf.linalg.matmul(ops.square(x), assignment, transpose_a=True)  # M2 (batch_size, D, K)
        fv2 = (mass * ops.square(centres) + second - 2.0 * first * centres) / ops.square(covariance) - mass
        fv2_norm = global_l2_scale(ops.sum(ops.square(fv2), axis=(1, 2)))  # (batch_size,)
        # loupe.py normalises fv2 twice; the second factor follows from the first one's result.
        fv2_norm = fv2_norm * global_l2_scale(ops.sum(ops.square(fv2), axis=(1, 2)) * ops.square(fv2_norm))
        fv2 = fv2 * fv2_norm[:, None, None]
        fv1 = (first - mass * centres) / covariance  # (batch_size, D, K)
        fv1 = fv1 * double_l2_scale(ops.sum(ops.square(fv1), axis=1))[:, None, :]
        size = self.feature_size * self.cluster_size
        return ops.concatenate([ops.reshape(fv1, (-1, size)), ops.reshape(fv2, (-1, size))], axis=1)

