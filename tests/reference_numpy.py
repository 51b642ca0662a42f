"""Plain NumPy re-implementations of the poolings, written from LOUPE's loupe.py and SoccerNet's Network.py
step by step (reshape, transpose, normalise as the TF1 code does), for comparison with the Keras layers
on shared weights. Everything is computed in float64.

Weights are passed as a dict named like the Keras/LOUPE variables: cluster_weights (D, K), cluster_bn
{gamma, beta} or cluster_biases (K,), cluster_weights2 (1, D, K), covar_weights (D, K), hidden1_weights
(P, O), gating_weights (O, O), gating_bn {gamma, beta} or gating_biases (O,).
"""
from __future__ import annotations

import numpy as np

BN_EPSILON = 1e-3
L2_EPSILON = 1e-12


def l2_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """tf.nn.l2_normalize: x / sqrt(max(sum(x^2), 1e-12))."""
    return x / np.sqrt(np.maximum(np.sum(x * x, axis=axis, keepdims=True), L2_EPSILON))


def batch_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = BN_EPSILON) -> np.ndarray:
    """slim.batch_norm(is_training=True) on (rows, channels): batch moments over the rows, biased variance."""
    mean = x.mean(axis=0)
    variance = ((x - mean) ** 2).mean(axis=0)
    return (x - mean) / np.sqrt(variance + eps) * gamma + beta


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def assignment(x: np.ndarray, w: dict) -> np.ndarray:
    """Soft assignment (B, N, K) of (B, N, D) frames, as every LOUPE class computes it."""
    b, n, d = x.shape
    rows = x.reshape(-1, d)  # (B*N, D)
    activation = rows @ w["cluster_weights"]
    if "cluster_bn" in w:
        activation = batch_norm(activation, **w["cluster_bn"])
    else:
        activation = activation + w["cluster_biases"]
    return softmax(activation).reshape(b, n, -1)


def context_gating(y: np.ndarray, w: dict) -> np.ndarray:
    gates = y @ w["gating_weights"]
    if "gating_bn" in w:
        gates = batch_norm(gates, **w["gating_bn"])
    else:
        gates = gates + w["gating_biases"]
    return y * sigmoid(gates)


def vlad_vector(x: np.ndarray, w: dict, residual: bool = True) -> np.ndarray:
    """NetVLAD (residual=True) or NetRVLAD descriptor before the projection, (B, D*K)."""
    a = assignment(x, w)  # (B, N, K)
    vlad = np.matmul(a.transpose(0, 2, 1), x)  # (B, K, D)
    vlad = vlad.transpose(0, 2, 1)  # (B, D, K)
    if residual:
        a_sum = a.sum(axis=1, keepdims=True)  # (B, 1, K)
        vlad = vlad - a_sum * w["cluster_weights2"]
    vlad = l2_normalize(vlad, axis=1)  # intra-normalisation over D
    vlad = vlad.reshape(x.shape[0], -1)  # index d*K + k
    return l2_normalize(vlad, axis=1)


def softdbow_vector(x: np.ndarray, w: dict) -> np.ndarray:
    return l2_normalize(assignment(x, w).sum(axis=1), axis=1)  # (B, K)


def netfv_vector(x: np.ndarray, w: dict) -> np.ndarray:
    """[fv1, fv2] (B, 2*D*K) as loupe.py NetFV computes it."""
    covar = w["covar_weights"] ** 2 + 1e-6  # (D, K)
    a = assignment(x, w)
    a_sum = a.sum(axis=1, keepdims=True)  # (B, 1, K)
    c2 = w["cluster_weights2"]  # (1, D, K)
    fv1 = np.matmul(a.transpose(0, 2, 1), x).transpose(0, 2, 1)  # (B, D, K)
    a2 = a_sum * c2 ** 2
    b2 = fv1 * c2
    fv2 = np.matmul(a.transpose(0, 2, 1), x ** 2).transpose(0, 2, 1)
    fv2 = (a2 + fv2 - 2 * b2) / covar ** 2 - a_sum
    fv2 = l2_normalize(fv2.reshape(x.shape[0], -1), axis=1)
    fv2 = l2_normalize(fv2, axis=1)
    fv1 = (fv1 - a_sum * c2) / covar
    fv1 = l2_normalize(fv1, axis=1)
    fv1 = l2_normalize(fv1.reshape(x.shape[0], -1), axis=1)
    return np.concatenate([fv1, fv2], axis=1)


def loupe_pooling(kind: str, x: np.ndarray, w: dict, gating: bool = True) -> np.ndarray:
    """Output (B, O) of NetVLAD / NetRVLAD / SoftDBoW / NetFV with batch norm in training mode."""
    vector = {"NetVLAD": lambda: vlad_vector(x, w, True), "NetRVLAD": lambda: vlad_vector(x, w, False),
              "SoftDBoW": lambda: softdbow_vector(x, w), "NetFV": lambda: netfv_vector(x, w)}[kind]()
    y = vector @ w["hidden1_weights"]
    return context_gating(y, w) if gating else y


def temporal_pooling(x: np.ndarray, mode: str, pool_size: int) -> np.ndarray:
    """SoccerNet MAX/AVERAGE: TF SAME pooling over time, stride 1, then flatten (B, N*D)."""
    b, n, d = x.shape
    before = (pool_size - 1) // 2  # TF SAME: the extra padding goes after
    out = np.empty_like(x)
    for t in range(n):
        lo, hi = max(0, t - before), min(n, t - before + pool_size)
        window = x[:, lo:hi]
        out[:, t] = window.max(axis=1) if mode == "max" else window.mean(axis=1)
    return out.reshape(b, -1)


def conv_pooling(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """SoccerNet CNN: 1-D SAME convolution over time (kernel (width, D, F)), ReLU, flatten."""
    b, n, d = x.shape
    width = kernel.shape[0]
    before = (width - 1) // 2
    padded = np.concatenate([np.zeros((b, before, d)), x, np.zeros((b, width - 1 - before, d))], axis=1)
    out = np.stack([np.einsum("bwd,wdf->bf", padded[:, t:t + width], kernel) for t in range(n)], axis=1) + bias
    return np.maximum(out, 0).reshape(b, -1)


def early_fusion(video: np.ndarray, audio: np.ndarray, framewise: bool = False) -> np.ndarray:
    """Methods 6/7 input: the original's time-axis concatenation regrouped to (B, N, 2D), or [v_t, a_t]."""
    if framewise:
        return np.concatenate([video, audio], axis=2)
    b, n, d = video.shape
    return np.concatenate([video, audio], axis=1).reshape(b, n, 2 * d)
