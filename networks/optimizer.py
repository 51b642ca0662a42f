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

On a CPU, float32 variables are updated by `OnePassAdam` (`networks/one_pass_adam.cc`, built on first use
by `networks.native`) where it is faster: ApplyAdam's own formula, bit-identical, in one pass over memory
where TensorFlow's kernel makes three over the hidden projection's 2^27 weights. The choice is measured
once per machine (`base.measured`, name `adam_update`: `SOCCERNET_CHOICE_ADAM_UPDATE=tensorflow` or
`one_pass` fixes it); where no compiler builds it, on a GPU and for other dtypes, `ResourceApplyAdam`.
So is its loop for a variable whose buffers alias modulo 4 KiB, as the allocator places a variable and
its moments (name `adam_loop`: `staged`, through a scratch area where they alias, or `in_place`): the
staging avoided a 2-4x slowdown on an AVX2 AMD EPYC and cost 3-13 % on an AVX-512 one.
"""
from __future__ import annotations

import logging
import threading

import keras
import numpy as np
import tensorflow as tf

from base import measured
from networks import native
from networks.kernels import eagerly

log = logging.getLogger(__name__)

# tf.train.AdamOptimizer's defaults (TensorFlow 1.14), which the original used.
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-8
CHECKED_VALUES = 1 << 22  # the bit-for-bit check's variable (16 MiB per buffer)
# The timed variable: 64 MiB per buffer, 256 MiB in all, past the last-level cache. At 2^22 values (64 MiB
# in all) a 32 MiB L3 (AMD EPYC with AVX-512) held enough of them that ApplyAdam's three passes were once
# measured faster than one and cached, where OnePassAdam takes 0.069 s against 0.113 s on 135 M parameters.
TIMED_VALUES = 1 << 24
_CHOICE: list[str] = []
_CHOOSING = threading.Lock()
# OnePassAdam's loop as measured (`one_pass_loop`), and the kernel's `path` for it: "auto" stages the
# buffers that alias modulo 4 KiB and no others.
LOOP_PATHS = {"staged": "auto", "in_place": "in_place"}
# OnePassAdam moves a variable whose buffer lies within APART_NEAR bytes of another of its update's modulo
# APART_PERIOD (kPeriod and kNear in networks/one_pass_adam.cc; `agreeing`).
APART_PERIOD, APART_NEAR = 1 << 28, 2048
_LOOP: list[str] = []
_CHOOSING_LOOP = threading.Lock()


class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam with the update of each variable done in one kernel, TensorFlow's `ResourceApplyAdam` or
    this project's `OnePassAdam` (dense gradients; float variables; no AMSGrad). Works under tf.distribute
    strategies, where Keras calls `update_step` once per replica's copy of the variable. `kernel` fixes the
    update's kernel ("tensorflow" or "one_pass"); None: `update_kernel`'s choice."""

    kernel: str | None = None

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        m, v = self._momentums[index].value, self._velocities[index].value
        step = tf.cast(self.iterations + 1, dtype)
        handle = _handle(variable)
        kernel = update_kernel(handle.device, dtype, fixed=self.kernel)
        apply = _one_pass_adam if kernel == "one_pass" else _tensorflow_adam
        apply(var=handle, m=m.handle, v=v.handle,
              beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step), beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
              lr=tf.cast(learning_rate, dtype), beta1=tf.cast(self.beta_1, dtype), beta2=tf.cast(self.beta_2, dtype),
              epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def _tensorflow_adam(**inputs):
    tf.raw_ops.ResourceApplyAdam(**inputs, use_locking=False)


def _one_pass_adam(**inputs):
    """OnePassAdam, with the loop (`path`) given, else the one measured for this machine (`one_pass_loop`)."""
    if "path" not in inputs:
        inputs["path"] = LOOP_PATHS[one_pass_loop()]
    native.library("one_pass_adam").one_pass_adam(**inputs)


def one_pass_loop() -> str:
    """OnePassAdam's loop for buffers that alias modulo 4 KiB: "staged" or "in_place", measured once per
    machine (`base.measured`, name `adam_loop`; SOCCERNET_MEASURE=0: "staged", the kernel's own rule)."""
    with _CHOOSING_LOOP:
        if not _LOOP:
            _LOOP.append(eagerly(_measure_loop))
        return _LOOP[0]


def update_kernel(device: str = "", dtype=tf.float32, fixed: str | None = None) -> str:
    """The kernel of Adam's update for a variable on `device` of `dtype`: "one_pass" for float32 on a CPU in
    a process that sees no GPU, where `networks/one_pass_adam.cc` builds, gives TensorFlow's bits and
    measures faster (once per machine), or where `fixed` says so and it builds; else "tensorflow"."""
    if tf.as_dtype(dtype) != tf.float32 or "GPU" in device.upper() or tf.config.list_logical_devices("GPU"):
        return "tensorflow"
    if fixed is not None:
        return fixed if fixed == "tensorflow" or native.library("one_pass_adam") is not None else "tensorflow"
    with _CHOOSING:
        if not _CHOICE:
            _CHOICE.append("tensorflow" if native.library("one_pass_adam") is None else eagerly(_measure))
        return _CHOICE[0]


def _measure() -> str:
    """"one_pass" where OnePassAdam gives TensorFlow's update bit for bit, on a variable of CHECKED_VALUES
    values, and measures faster on one of TIMED_VALUES; else "tensorflow"."""
    weight, m, v, gradient = (tf.random.stateless_normal((CHECKED_VALUES,), seed=(i, 2)) for i in range(4))
    m, v, gradient = m * 1e-2, tf.abs(v) * 1e-4, gradient * 1e-3

    def checked(apply, start, grad):
        """The whole state, as bits, after one update with `apply` of variables of its own made from `start`."""
        state = [tf.Variable(t) for t in start]
        apply(var=state[0].handle, m=state[1].handle, v=state[2].handle, grad=grad, **_constants(BETA_1, BETA_2))
        return tf.stack([s.read_value() for s in state]).numpy().view("int32")

    # Bit for bit, whole, through each of the kernel's loops.
    once = [checked(apply, (weight, m, v), gradient) for apply in (
        _tensorflow_adam, lambda **i: _one_pass_adam(**i, path="in_place"), lambda **i: _one_pass_adam(**i, path="staged"))]
    if not all((once[0] == other).all() for other in once[1:]):
        log.warning("OnePassAdam's update differs from ResourceApplyAdam's on this machine: not used")
        return "tensorflow"
    del weight, m, v, gradient, once
    one_pass_loop()  # measured first, on buffers of its own, so that the two measurements' buffers never coexist
    timed = _at_rest()
    return measured.choose("adam_update", {"tensorflow": timed(_tensorflow_adam), "one_pass": timed(_one_pass_adam)},
                           "one_pass", {"tensorflow": tf.__version__, "values": TIMED_VALUES})


class _NotAliased(Exception):
    """The measurement's buffers do not alias modulo 4 KiB: the loops would be compared on the wrong case."""


def _measure_loop() -> str:
    """"staged" or "in_place", whichever loop of OnePassAdam measures faster on buffers of TIMED_VALUES values
    that alias modulo 4 KiB, as the allocator places variables of equal power-of-two sizes; where this
    process's allocator places them otherwise, "staged" (the kernel's own rule), neither measured nor
    cached. Both loops give ApplyAdam's bits (checked by `_measure` and the tests). The buffers are made
    only where the choice is measured. Every call of `_one_pass_adam` here names its `path`: one that did
    not would wait for this very choice (`one_pass_loop`'s lock, held by the thread waiting on this one)."""
    state = []

    def timed(path):
        def run():
            if not state:
                state.append(_at_rest())
                if not _aliased(state[0].buffers):
                    raise _NotAliased
            # apart=False: a move would undo the aliasing that the loops are compared on
            return state[0](lambda **inputs: _one_pass_adam(**inputs, path=path, apart=False))()
        return run
    try:
        return measured.choose("adam_loop", {"staged": timed("staged"), "in_place": timed("in_place")}, "staged",
                               {"tensorflow": tf.__version__, "values": TIMED_VALUES})
    except _NotAliased:
        log.info("adam_loop: staged (the measurement's buffers do not alias modulo 4 KiB here: not measured)")
        return "staged"


def _aliased(buffers) -> bool:
    """Whether all of `buffers` (variables or tensors on the CPU) start within 512 bytes of each other modulo
    4 KiB (OnePassAdam's own test, `Aligned4K`, asks whether any two do)."""
    addresses = [buffer_address(b) for b in buffers]
    return all(_within(a, b, 4096, 512) for a in addresses for b in addresses)


def agreeing(buffers) -> list[tuple[int, int]]:
    """The pairs (i, j), i < j, of `buffers` (variables or tensors on the CPU) whose addresses lie within
    APART_NEAR bytes of each other modulo APART_PERIOD: where OnePassAdam moves a variable (`apart`)."""
    addresses = [buffer_address(b) for b in buffers]
    return [(i, j) for i in range(len(addresses)) for j in range(i + 1, len(addresses))
            if _within(addresses[i], addresses[j], APART_PERIOD, APART_NEAR)]


def _within(a: int, b: int, period: int, near: int) -> bool:
    """Whether addresses a and b lie within `near` bytes of each other modulo `period`."""
    return min((a - b) % period, (b - a) % period) < near


def _at_rest():
    """A function making, for an update kernel, a function timing it on TIMED_VALUES values at a fixed point
    of the update (beta1 = beta2 = 1 and m = 0 change nothing, yet every value is read and written), so that
    every run of any kernel gives the same values: all update the same variables, which holds the
    measurement's memory to the four buffers (256 MiB)."""
    at_rest = [tf.Variable(tf.random.stateless_normal((TIMED_VALUES,), seed=(0, 3))),
               tf.Variable(tf.zeros((TIMED_VALUES,))),
               tf.Variable(tf.abs(tf.random.stateless_normal((TIMED_VALUES,), seed=(2, 3))) * 1e-4)]
    gradient = tf.random.stateless_normal((TIMED_VALUES,), seed=(3, 3)) * 1e-3
    inputs = _constants(1.0, 1.0)

    def timed(apply):
        def run():
            apply(var=at_rest[0].handle, m=at_rest[1].handle, v=at_rest[2].handle, grad=gradient, **inputs)
            return tf.stack([s[:8] for s in at_rest])
        return run
    timed.buffers = (*at_rest, gradient)  # where the allocator placed them (`_measure_loop`, the tests)
    return timed


def _constants(beta1: float, beta2: float) -> dict:
    """The update's scalars for the measurements: the third step's powers, learning rate 1e-3, TF1's
    epsilon, and the given betas."""
    return {k: tf.constant(c, tf.float32) for k, c in {
        "beta1_power": BETA_1 ** 3, "beta2_power": BETA_2 ** 3, "lr": 1e-3, "epsilon": EPSILON, "beta1": beta1,
        "beta2": beta2}.items()}


def buffer_address(tensor) -> int:
    """The address of the buffer of a CPU tensor or tf.Variable (a read of a variable shares its buffer)."""
    return np.from_dlpack(tensor.read_value() if isinstance(tensor, tf.Variable) else tensor).ctypes.data


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
