"""NetVLAD's and NetRVLAD's float32 descriptor with its memory-bound part in one C++ operation
(`networks/vlad_normalize.cc`, built by `networks.native`): the X'A product stays TensorFlow's; the
centres' subtraction and both L2 normalisations are `VladNormalize`, a pass per batch row while the
row's (D, K) slab is in the processor's cache, and their gradient `VladNormalizeGrad`, where TensorFlow's
own operations make about four passes over the (batch, D, K) tensor forward and a dozen backward.

The same function as `networks.kernels._vlad_columns` up to float32 rounding: the columns before the
scaling are bit-identical, the norms are summed and the factors computed in double
(tests/test_descriptor.py compares values and gradients). `networks.kernels.float32_descriptor_form`
measures it against TensorFlow's operations and chooses; it is offered on a CPU only. It computes in
float32 only: for half-precision layers `networks.kernels.half_descriptor_form` also offers it on the
frames cast to float32, its output rounded (`_vlad_columns_float32`).
"""
from __future__ import annotations

import tensorflow as tf

from networks import native

NAME = "vlad_normalize"


def available() -> bool:
    """Whether the operation is built and loaded here (networks.native: None after one warning if not)."""
    return native.library(NAME) is not None


@tf.custom_gradient
def _normalised(columns, centres, mass):
    lib = native.library(NAME)
    descriptor, squared_norms = lib.vlad_normalize(columns, centres, mass)

    def gradient(upstream):
        return lib.vlad_normalize_grad(upstream, descriptor, squared_norms, centres, mass)

    return descriptor, gradient


def vlad_columns(frames, assignment, centres=None):
    """`networks.kernels._vlad_columns` in float32 (frames (batch, N, D), assignment (batch, N, K), centres
    (D, K) or None for NetRVLAD): (batch, D, K), column k (sum_n a_nk x_n - s_k c_k) scaled by LOUPE's
    intra- and global normalisations."""
    columns = tf.linalg.matmul(frames, assignment, transpose_a=True)
    if centres is None:
        none = tf.zeros([0], tf.float32)
        return _normalised(columns, none, none)
    return _normalised(columns, centres, tf.reduce_sum(assignment, axis=1))
