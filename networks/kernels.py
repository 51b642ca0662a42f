"""The processor- and precision-specific forms of the LOUPE poolings' long products and descriptors.

The layers of `networks.pooling` write the paper's math; what they compute with, chosen per processor and
per compute dtype, lives here:
- `_projection`: the projection by `hidden1_weights`, each product in the form `product_forms` picks for
  these shapes on this machine (measured and cached, `base.measured`; the processor's flags the first
  guess, `first_guess_forms`);
- `vlad_columns`: the normalised VLAD / RVLAD descriptor, `_vlad_columns` in float32 (compiled with XLA
  after `set_xla_descriptor(True)`: `_vlad_columns_xla`), in half precision one of `HALF_DESCRIPTOR_FORMS`
  (`_vlad_columns_half`, the residuals rounded, `_vlad_columns_float32`);
- `vlad_projection`: the half-precision NetVLAD output with the centres projected apart
  (`_vlad_projection_half`, with the centres' weights `_centre_weights`) from `_APART_ROWS` windows;
- the normalisation factors (`double_l2_scale`, `global_l2_scale`) that equal LOUPE's L2 normalisations.

Every choice is looked up in this module when a layer is called (the tests patch these names here).
"""
from __future__ import annotations

import math
import threading

import tensorflow as tf
from keras import ops

from base import measured
from base.machine import cpu_flags
from networks import fused_descriptor

# tf.nn.l2_normalize: x / sqrt(max(sum(x^2), 1e-12)).
L2_EPSILON = 1e-12


def to_float32(x):
    """`x` cast to float32 (the layers' statistics, norms and gates are computed in float32)."""
    return ops.cast(x, "float32")


# ------------------------------------------------------------------------------------------------
# The L2 normalisations as factors


def double_l2_scale(squared_norms):
    """Per-cluster factors equal to LOUPE's intra- then global L2 normalisation.

    For columns V_k with squared norms ss_k (batch_size, K), `l2_normalize(V, axis=D)` multiplies V_k by
    r_k = 1/sqrt(max(ss_k, eps)); the flattened result has squared norm sum_k ss_k r_k^2, so the following
    global `l2_normalize` multiplies everything by g = 1/sqrt(max(sum_k ss_k r_k^2, eps)). Returns r_k g
    (batch_size, K) in float32: one scaling of V instead of two passes over the (batch_size, D*K) tensor.
    """
    intra = ops.rsqrt(ops.maximum(squared_norms, L2_EPSILON))  # (batch_size, K)
    total = ops.sum(squared_norms * ops.square(intra), axis=1, keepdims=True)  # (batch_size, 1)
    return intra * ops.rsqrt(ops.maximum(total, L2_EPSILON))


def global_l2_scale(squared_norm):
    """1/sqrt(max(ss, eps)) of tf.nn.l2_normalize, for a squared norm ss (any shape)."""
    return ops.rsqrt(ops.maximum(squared_norm, L2_EPSILON))


# ------------------------------------------------------------------------------------------------
# Products and descriptors


# Unit roundoff of the half-precision compute dtypes (8 and 11 significant bits).
_HALF_ROUNDING = {tf.bfloat16: 2.0 ** -8, tf.float16: 2.0 ** -11}


def first_guess_forms() -> dict:
    """The rule by processor flags for `product_forms`: its choice where nothing is measured
    (SOCCERNET_MEASURE=0, `base.measured`), and on a GPU.

    oneDNN picks its CPU kernel from the operands' layouts, and which layout is fastest differs between
    processors (`bench/bench_networks.py --parts` times every form). With V the pooled vectors
    (batch_size, P), W the weights (P, O) and dy the upstream gradient:
    - `input_gradient`: the input gradient's form, one of `INPUT_GRADIENT_FORMS`: (W dy')' ("W_dyt_t")
      rather than TensorFlow's dy W' ("dy_Wt") on processors without AVX-512, where it was measured 2-3x
      faster; with AVX-512 (and AMX) dy W' was the faster of the two, in float32 and in bfloat16. The
      batched kernel's forms are never the guess: measured, or fixed by the environment.
    - `transposed_half_forward`: a bfloat16 forward as (W' V')' rather than V W. Guessed where the
      processor has AMX (`amx_bf16`): there V W ran at 0.55-0.7 of its rate at 256-675 rows.
    Float32's forward is V W everywhere (the spotting paths' outputs stay bit for bit the same). Where
    TensorFlow sees a GPU, TensorFlow's forms.
    """
    flags = frozenset() if tf.config.list_physical_devices("GPU") else cpu_flags()
    return {"input_gradient": "W_dyt_t" if flags and "avx512f" not in flags else "dy_Wt",
            "transposed_half_forward": "amx_bf16" in flags}


def _batched(x, y, adj_y=False):
    """x y (y' where `adj_y`) by TensorFlow's batched-product kernel on 2-D operands: on a CPU its oneDNN
    kernel is not MatMul's, and for the input gradient's shapes it can be the faster (NetVLAD k = 512,
    float32, 256 rows on an AMD EPYC with AVX-512: dy W' at 0.93 of the matrix-product rate, against 0.71
    for MatMul's, `bench/bench_networks.py --parts`)."""
    return tf.raw_ops.BatchMatMulV2(x=x, y=y, adj_y=adj_y)


# The input gradient d_pooled = dy W' (batch_size, P) of `_projection`, in each form `product_forms`
# chooses from: name -> function(upstream (batch_size, O), weights (P, O)). The first is TensorFlow's.
INPUT_GRADIENT_FORMS = {
    "dy_Wt": lambda dy, w: tf.linalg.matmul(dy, w, transpose_b=True),
    "W_dyt_t": lambda dy, w: tf.transpose(tf.linalg.matmul(w, dy, transpose_b=True)),
    "dy_Wt_batched": lambda dy, w: _batched(dy, w, adj_y=True),
    "W_dyt_t_batched": lambda dy, w: tf.transpose(_batched(w, dy, adj_y=True)),
}


# Forced forms for every shape (the tests set it); None: `product_forms` decides per shape.
_PRODUCT_FORMS = None
_FORMS_OF_SHAPE: dict[tuple, dict] = {}
_MEASURING = threading.Lock()
# The batch measured where the layer's batch is not known when it is traced (the training batch).
_MEASURED_ROWS = 256


def measured_rows(rows) -> int:
    """The batch a choice is measured (and cached) at: the power of two nearest the layer's batch, from 16
    to 1024 (`_MEASURED_ROWS` when it is unknown), so that a run whose pieces vary in size measures a few
    buckets, not every size, and never a batch larger than 1024."""
    if rows is None:
        return _MEASURED_ROWS
    return int(min(1024, max(16, 2 ** round(math.log2(max(int(rows), 1))))))


def product_forms(pooled_shape=None, weights_shape=None, dtype=tf.float32) -> dict:
    """How `_projection` writes its long products for these shapes and dtype on this machine: the input
    gradient's forms (`INPUT_GRADIENT_FORMS`) and, in half precision, the forward's two, timed on the real
    shapes the first time a process needs them, then cached per machine (`base.measured.choose`: SOCCERNET_CHOICE_PROJECTION_INPUT_GRADIENT
    and SOCCERNET_CHOICE_PROJECTION_HALF_FORWARD fix them, SOCCERNET_MEASURE=0 takes the guess). On a
    GPU, or without shapes, the guess."""
    if _PRODUCT_FORMS is not None:
        return _PRODUCT_FORMS
    if pooled_shape is None or tf.config.list_physical_devices("GPU"):
        return first_guess_forms()
    dtype = tf.as_dtype(dtype)
    shape = (measured_rows(pooled_shape[0]), int(pooled_shape[1]), int(weights_shape[1]), dtype.name)
    return _measured_once(_FORMS_OF_SHAPE, shape, _measure_forms, dtype)


def _measured_once(table: dict, shape: tuple, measure, dtype):
    """`table[shape]`, measured the first time (`measure(shape, dtype)`, in a thread of its own: `eagerly`);
    one measurement at a time, so that replicas tracing at once measure once."""
    with _MEASURING:
        if shape not in table:
            table[shape] = eagerly(measure, shape, dtype)
    return table[shape]


def eagerly(function, *args):
    """`function(*args)` in a thread of its own: eagerly and outside any graph being traced, strategy scope
    or gradient tape (all thread-local), whatever the caller is in the middle of."""
    out = {}

    def run():
        try:
            out["value"] = function(*args)
        except BaseException as error:  # noqa: B902  (re-raised in the caller's thread)
            out["error"] = error

    thread = threading.Thread(target=run, name="measure")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def _measure_forms(shape, dtype) -> dict:
    rows, inputs, outputs, _ = shape
    guess = first_guess_forms()
    # Stateless: no random generator's variable, whatever strategy's scope the layer is built in.
    pooled, weights, upstream = (tf.cast(tf.random.stateless_normal(s, seed=(i, 0)), dtype)
                                 for i, s in enumerate(((rows, inputs), (inputs, outputs), (rows, outputs))))
    key = {"tensorflow": tf.__version__, "rows": rows, "inputs": inputs, "outputs": outputs, "dtype": dtype.name}
    tolerance = 1e-5 if dtype == tf.float32 else 2e-2

    def result(function):  # timed as a step runs it: compiled, the output left where it is
        return tf.function(lambda: tf.cast(function(), tf.float32))

    gradient = measured.choose("projection_input_gradient", {
        name: result(lambda form=form: form(upstream, weights)) for name, form in INPUT_GRADIENT_FORMS.items()},
        guess["input_gradient"], key, tolerance)
    forward = "V_W"
    if dtype != tf.float32:  # float32's forward stays V W (bit for bit the same spotting paths)
        forward = measured.choose("projection_half_forward", {
            "V_W": result(lambda: tf.linalg.matmul(pooled, weights)),
            "Wt_Vt_t": result(lambda: tf.transpose(tf.linalg.matmul(weights, pooled, transpose_a=True,
                                                                    transpose_b=True)))},
            "Wt_Vt_t" if guess["transposed_half_forward"] else "V_W", key, tolerance)
    return {"input_gradient": gradient, "transposed_half_forward": forward == "Wt_Vt_t"}


@tf.custom_gradient
def _projection(pooled, weights):
    """pooled (batch_size, P) x weights (P, O): the usual product and gradient, each product written in
    the form `product_forms` picks for these shapes on this machine (the same values up to float rounding)."""
    forms = product_forms(pooled.shape, weights.shape, pooled.dtype)
    if forms["transposed_half_forward"] and pooled.dtype == tf.bfloat16:
        output = tf.transpose(tf.linalg.matmul(weights, pooled, transpose_a=True, transpose_b=True))
    else:
        output = tf.linalg.matmul(pooled, weights)

    def gradient(upstream):
        d_pooled = INPUT_GRADIENT_FORMS[forms["input_gradient"]](upstream, weights)  # (batch_size, P)
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
    scale = double_l2_scale(ops.sum(ops.square(to_float32(columns)), axis=1))  # (batch_size, K)
    return columns * ops.cast(scale, dtype)[:, None, :]


def _half_vlad_norms(x, a, c, dtype) -> dict:
    """The column norms of `_vlad_columns_half` and what its gradient reuses, computed in `a`'s dtype.

    Args:
        x: (batch_size, N, D) frames, in the assignment's dtype; a: (batch_size, N, K) assignment;
        c: the (D, K) centres or None; dtype: the compute dtype the descriptor is rounded to.
    Returns:
        squared (batch_size, K) squared column norms, scale r = `double_l2_scale(squared)`, gram_a =
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
    scale = double_l2_scale(squared)  # r_k (batch_size, K)
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
    and about as accurate as residuals rounded to 8 or 11 bits (the tests compare; see `vlad_columns`).

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
            factor = double_l2_scale(squared)
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
    do not train (`NetVLAD.pool_and_project`, `vlad_projection`), as accurate as projecting the rounded difference (the
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
    layers only: in half precision the layers take the form `half_descriptor_form` measures.
    """
    global _XLA_DESCRIPTOR
    _XLA_DESCRIPTOR = bool(enabled)


# Batch size from which a half-precision NetVLAD layer that is not training projects the centres apart
# when it computes their weights itself (about 0.04 s per call for K = 512; see `vlad_projection`).
_APART_ROWS = 256


# ------------------------------------------------------------------------------------------------
# The forms the layers call


def is_half(dtype) -> bool:
    """Whether a compute dtype is one of the half-precision ones (bfloat16, float16)."""
    return tf.as_dtype(dtype) in _HALF_ROUNDING


def vlad_columns(frames, assignment, centres=None):
    """The normalised VLAD (centres given) or RVLAD (no centres) descriptor (batch_size, D, K), in the form
    for the frames' dtype: in half precision, whichever of `HALF_DESCRIPTOR_FORMS` `half_descriptor_form`
    measures faster for these shapes; in float32, `_vlad_columns` (compiled with XLA after
    `set_xla_descriptor(True)`) or the fused operation, whichever `float32_descriptor_form` measures faster."""
    if frames.dtype in _HALF_ROUNDING:
        form = half_descriptor_form(frames.shape, assignment.shape, centres is not None, frames.dtype)
        return HALF_DESCRIPTOR_FORMS[form](frames, assignment, *([] if centres is None else [centres]))
    if _XLA_DESCRIPTOR:
        return _vlad_columns_xla(frames, assignment, centres)
    if float32_descriptor_form(frames.shape, assignment.shape, centres is not None) == "fused":
        return fused_descriptor.vlad_columns(frames, assignment, centres)
    return _vlad_columns(frames, assignment, centres)


_FLOAT32_FORMS: dict[tuple, str] = {}


def float32_descriptor_form(frames_shape, assignment_shape, with_centres: bool) -> str:
    """"fused" (`networks.fused_descriptor`: the subtraction and both normalisations in one C++ operation,
    forward and backward) or "ops" (`_vlad_columns`: TensorFlow's operations) for a float32 descriptor of
    these shapes: forward and backward of both timed once (`base.measured`, SOCCERNET_CHOICE_FLOAT32_DESCRIPTOR
    fixes it; the first guess is "fused"). "ops" on a GPU and where the operation cannot be built."""
    if tf.config.list_physical_devices("GPU") or not fused_descriptor.available():
        return "ops"
    shape = (measured_rows(frames_shape[0]), int(frames_shape[1]), int(frames_shape[2]), int(assignment_shape[2]),
             with_centres)
    return _measured_once(_FLOAT32_FORMS, shape, _measure_float32_descriptor, tf.float32)


def _measure_float32_descriptor(shape, dtype) -> str:
    rows, frames, features, clusters, with_centres = shape
    key = {"tensorflow": tf.__version__, "rows": rows, "frames": frames, "features": features, "clusters": clusters,
           "centres": with_centres, "dtype": "float32"}
    run = _descriptor_forward_and_backward(shape[:4], with_centres, dtype)
    return measured.choose("float32_descriptor",
                           {"ops": run(_vlad_columns), "fused": run(fused_descriptor.vlad_columns)},
                           "fused", key, tolerance=1e-5)


def _descriptor_forward_and_backward(shape, with_centres: bool, dtype):
    """For random inputs of `shape` (rows, frames, features, clusters), made once and shared by the
    candidates: a function that makes a candidate's run, `function` (a descriptor form) and its gradient
    as a step runs them (compiled), the results flattened into one float32 vector."""
    rows, frames, features, clusters = shape
    x, a, c, upstream = (tf.random.stateless_normal(s, seed=(i, 1)) for i, s in enumerate(
        ((rows, frames, features), (rows, frames, clusters), (features, clusters), (rows, features, clusters))))
    x, upstream, a, c = tf.cast(x, dtype), tf.cast(upstream, dtype), tf.nn.softmax(2.0 * a), c / features ** 0.5
    centres = [c] if with_centres else []

    def candidate(function):
        @tf.function(autograph=False)
        def run():
            with tf.GradientTape() as tape:
                tape.watch([x, a] + centres)
                out = function(x, a, *centres)
            return [tf.cast(out, tf.float32)] + [tf.cast(g, tf.float32) for g in tape.gradient(
                out, [x, a] + centres, output_gradients=upstream)]
        return lambda: tf.concat([tf.reshape(t, [-1]) for t in run()], 0)
    return candidate


def _vlad_columns_float32(frames, assignment, *centres):
    """`_vlad_columns` for half-precision frames computed in float32 by the fused operation
    (`networks.fused_descriptor`), only its output rounded to the compute dtype (and its gradient taken
    from the compute dtype's upstream gradient): on an AMD EPYC with AVX-512 the fastest half-precision
    descriptor at NetVLAD k = 512, T = 20 s (0.21-0.23 s forward and backward, against 0.28-0.30 s for the
    Gram form and 0.29-0.38 s for the residuals rounded; `_measure_half_descriptor`), and the most
    accurate of the three."""
    columns = fused_descriptor.vlad_columns(ops.cast(frames, tf.float32), assignment, *centres)
    return ops.cast(columns, frames.dtype)


# The half-precision descriptor's forms `half_descriptor_form` chooses from: name -> function(frames,
# assignment, *centres) -> (batch_size, D, K) in the frames' dtype; the first is the reference. Each looks
# its function up when called (the tests patch the names).
HALF_DESCRIPTOR_FORMS = {
    "gram": lambda *inputs: _vlad_columns_half(*inputs),
    "residuals": lambda *inputs: _vlad_columns(*inputs),
    "float32_fused": lambda *inputs: _vlad_columns_float32(*inputs),
}

_HALF_FORMS: dict[tuple, str] = {}


def half_descriptor_form(frames_shape, assignment_shape, with_centres: bool, dtype) -> str:
    """"gram" (`_vlad_columns_half`), "residuals" (`_vlad_columns` in the compute dtype) or
    "float32_fused" (`_vlad_columns_float32`, where the fused operation is built) for a half-precision
    descriptor of these shapes: forward and backward of each timed once (`base.measured`,
    SOCCERNET_CHOICE_HALF_DESCRIPTOR fixes it). The first guess, "gram", was measured faster than the
    residuals at NetVLAD k = 512, T = 20 s (2x); at k = 64 and T = 60 s the residuals were (2x): the Gram
    path's (N, N) products grow with the window and its savings with K. On a GPU, the Gram form."""
    if tf.config.list_physical_devices("GPU"):
        return "gram"
    dtype = tf.as_dtype(dtype)
    shape = (measured_rows(frames_shape[0]), int(frames_shape[1]), int(frames_shape[2]), int(assignment_shape[2]),
             with_centres, dtype.name)
    return _measured_once(_HALF_FORMS, shape, _measure_half_descriptor, dtype)


def _measure_half_descriptor(shape, dtype) -> str:
    rows, frames, features, clusters, with_centres, _ = shape
    key = {"tensorflow": tf.__version__, "rows": rows, "frames": frames, "features": features, "clusters": clusters,
           "centres": with_centres, "dtype": dtype.name}
    run = _descriptor_forward_and_backward(shape[:4], with_centres, dtype)
    forms = {name: form for name, form in HALF_DESCRIPTOR_FORMS.items()
             if name != "float32_fused" or fused_descriptor.available()}
    return measured.choose("half_descriptor", {name: run(form) for name, form in forms.items()},
                           "gram", key, tolerance=float(_HALF_ROUNDING[dtype]) * 8)


def vlad_projection(frames, assignment, centres, weights, weight_products, formed):
    """A half-precision NetVLAD layer's projection, not training: the centres projected apart
    (`_vlad_projection_half`) with the centres' weights given (`weight_products`), or from `_APART_ROWS`
    windows, else `formed()` (the descriptor formed, then projected); decided from the static batch size,
    else in the graph."""

    def apart():
        return _vlad_projection_half(frames, assignment, centres, weights, *(weight_products or ()))

    # Computing the centres' weights for this batch alone pays from about 256 windows
    # (`bench/bench_networks.py --parts` times both at the batch it is given).
    rows = frames.shape[0]
    if weight_products or (rows is not None and rows >= _APART_ROWS):
        return apart()
    if rows is not None:
        return formed()
    return tf.cond(tf.shape(frames)[0] >= _APART_ROWS, apart, formed)
