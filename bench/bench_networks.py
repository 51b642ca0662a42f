"""Benchmark of a training step of the paper's networks, against a large matrix product on the same machine.

    .venv/bin/python bench/bench_networks.py [--batch 256] [--frames 40] [--repeats 3] [--bf16 auto|on|off]
                                             [--allocator bfc|mallopt|default] [--compare_allocators] [--parts]

Times one optimizer step (forward, backward and Adam with the original's epsilon 1e-8, by default the
trainer's fused update (its kernel as the trainer chooses it: `networks.optimizer.update_kernel`), `--optimizer keras` for Keras's own; in a tf.function like the trainer's) at batch 256 and 40 frames (20 s windows) for NetVLAD k=512 and NetRVLAD k=64, one
stream (VideoNetwork) and two streams (AudioVideoArchi5, method 4). It counts the step's floating-point
operations (the matrix products of the mathematics: forward once, backward twice, minus the products
whose gradient nobody needs) and prints the achieved rate as a fraction of the rate of a large float32
matrix product measured in the same run. Target: forward+backward at least 0.8 of that rate for NetVLAD
k=512 in float32 (its hidden projection, (256, 262144) x (262144, 512), is almost all of the work).

Also: the forward+backward and Adam parts of each step; with `--bf16 on` (or `auto` where the processor
has bfloat16 instructions: avx512_bf16 or amx_bf16) the same steps under the `mixed_bfloat16` policy, with
the speed-up and the deviation of the logits and loss from float32 on the same weights and inputs.

Memory allocator: TensorFlow's default CPU allocator returns every large freed buffer to the system, so
each large temporary of a step (the (256, 262144) descriptors, the 537 MB gradient of the projection, ...)
is page-faulted in again on every step. `--allocator bfc` (the default here) sets
TF_CPU_ALLOCATOR_USE_BFC=true before TensorFlow loads, which keeps them pooled; `mallopt` calls
`process.tune_allocator()`, what the scripts do: glibc settings (alone they helped little: a fresh 268 MB
TensorFlow temporary still took 65,537 page faults, probably because TensorFlow's threads allocate from
glibc's per-thread arenas, which fall back to mmap for large blocks) and, since it was found to matter,
the same BFC setting; `--compare_allocators` times NetVLAD k=512 under each, each in its own process
(docs/performance.md has the figures).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

import common  # noqa: E402  (bench/ is the script's folder)
from common import best_and_median, matmul_rate, step_flops  # noqa: E402
from runtime import cli, process  # noqa: E402  (imports no TensorFlow)
from networks import names  # noqa: E402  (the vocabulary: no TensorFlow)
from runtime.process import cpu_has_bf16  # noqa: E402

CONFIGS = (  # (label, architecture, pooling, K)
    ("NetVLAD k=512, 1 stream", "VideoNetwork", "VLAD", 512),
    ("NetVLAD k=512, 2 streams", "AudioVideoArchi5", "VLAD", 512),
    ("NetRVLAD k=64, 1 stream", "VideoNetwork", "RVLAD", 64),
    ("NetRVLAD k=64, 2 streams", "AudioVideoArchi5", "RVLAD", 64),
)
TARGET_RATIO = 0.8


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=cli.HelpFormatter)
    parser.add_argument("--batch", type=int, default=256, help="windows per step")
    parser.add_argument("--frames", type=int, default=40, help="frames per window (2 per second)")
    parser.add_argument("--dim", type=int, default=512, help="feature size of each stream")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (after one warm-up)")
    parser.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                        help="also time mixed_bfloat16 (auto: where the processor has bfloat16 instructions)")
    parser.add_argument("--allocator", choices=["bfc", "mallopt", "default"], default="bfc",
                        help="CPU memory allocator set-up, made before TensorFlow loads")
    parser.add_argument("--compare_allocators", action="store_true",
                        help="time NetVLAD k=512 (1 stream) under each allocator, one process each")
    cli.add_xla_descriptor_argument(parser)
    parser.add_argument("--only", type=int, nargs="*", help="indexes of the configurations to run (0..3)")
    parser.add_argument("--parts", action="store_true",
                        help="instead: where NetVLAD k=512's forward+backward goes (the hidden projection's three "
                             "products in each form and precision, the descriptor by path and precision, a copy "
                             "of the descriptor)")
    parser.add_argument("--update_only", action="store_true", help=argparse.SUPPRESS)  # the child of main
    parser.add_argument("--optimizer", choices=["fused", "keras"], default="fused",
                        help="Adam's update in the steps: fused (TF1's ApplyAdam formula in one kernel, what the trainer runs) or "
                             "Keras's own separate passes")
    return parser


def copy_time(tf, params: int, repeats: int) -> float:
    """The best time of a copy of four buffers of `params` values, each read and written to another (a
    TensorFlow product by a variable: its threads, as the update's; an assign alone may alias, and a NumPy
    copy, one thread, measured the same on this 2-core machine); its 4.3 GB are freed on return."""
    sources = [tf.Variable(tf.random.normal((params,))) for _ in range(4)]
    sinks = [tf.Variable(tf.zeros((params,))) for _ in range(4)]
    one = tf.Variable(1.0)
    assign = tf.function(lambda: [d.assign(s * one) for d, s in zip(sinks, sources)])
    return best_and_median(lambda: (assign(), sinks[0][:1].numpy()), repeats)[0]


def update_against_copy(tf, keras, architectures, args) -> None:
    """Adam's update of NetVLAD k=512's parameters (the trainer's kernel, each fused kernel and Keras's own
    update) against the same-run time of one read and one write of the buffers it touches (weights,
    gradient, two moments: a copy of each), and against one in-place pass over the trainer's kernel's own
    buffers (`common.in_place_pass_over`: the bound of the issue's target) and over fresh NumPy buffers
    (`common.in_place_pass`), the updates and the passes taking turns."""
    import numpy as np

    from networks import native

    kernels = ["tensorflow"] + (["one_pass"] if native.library("one_pass_adam") is not None else []) + ["keras"]
    variables, chosen, updates, buffers = common.adam_updates(tf, architectures, args.frames, args.dim, kernels)
    params = sum(int(np.prod(v.shape)) for v in variables)
    copy = copy_time(tf, params, args.repeats)
    gigabytes = 4 * 4 * params / 1e9
    # The bound: one in-place pass over the trainer's kernel's own buffers (weights, gradients, moments),
    # and beside it one over fresh NumPy buffers; the updates and the passes take turns (timed apart, the
    # fresh pass ranged 52-91 GB/s across runs).
    own_pass, _ = common.in_place_pass_over(tf, buffers[chosen])
    fresh_pass, _ = common.in_place_pass(params)
    rounds = max(9, 3 * args.repeats)
    every = common.turn_times({**updates, "pass": own_pass, "fresh": fresh_pass}, rounds)
    # Weight, gradient, both moments read; weight and moments written: 7 of a pass's 8 x 4 bytes per parameter.
    bounds, fresh = ([7 / 8 * t for t in every.pop(name)] for name in ("pass", "fresh"))
    times = {k: statistics.median(t) for k, t in every.items()}
    # Each round's update against the same round's pass (the machine's memory speed moved within runs).
    reaches = {k: statistics.median(b / u for b, u in zip(bounds, t)) for k, t in every.items()}
    reaches_fresh = statistics.median(b / u for b, u in zip(fresh, every[chosen]))
    bound = statistics.median(bounds)
    bandwidth, fresh_bandwidth = (7 * 4 * params / statistics.median(b) for b in (bounds, fresh))
    others = "; ".join(f"{common.ADAM_KERNEL_NAMES[k]} {times[k]:.3f} s" for k in times if k != chosen)
    common.record("networks", f"Adam's update, {params / 1e6:.0f} M parameters, the trainer's kernel: "
                  f"{common.ADAM_KERNEL_NAMES[chosen]} ({others}; a copy of the four buffers {copy:.3f} s; "
                  f"{reaches_fresh:.2f} of a pass over fresh NumPy buffers, {fresh_bandwidth / 1e9:.0f} GB/s)",
                  times[chosen], "s",
                  bound, f"one in-place pass over the update's own buffers: 7 x 4 bytes per parameter at "
                  f"{bandwidth / 1e9:.0f} GB/s; medians of {rounds} rounds taking turns; the ratio: the median of "
                  f"each round's pass over its update", ratio=reaches[chosen], target=">= 0.6")
    print(f"\nAdam's update of {params:,} parameters (NetVLAD k=512, 1 stream): "
          + ", ".join(f"{common.ADAM_KERNEL_NAMES[k]} {times[k]:.3f} s" for k in times)
          + f" (the trainer's: {common.ADAM_KERNEL_NAMES[chosen]}; medians of {rounds} rounds, taking turns with the "
          f"in-place passes); a copy of weights, gradient and both moments ({gigabytes:.1f} GB "
          f"read, {gigabytes:.1f} GB written) {copy:.3f} s; in-place bandwidth on the update's own buffers "
          f"{bandwidth / 1e9:.1f} GB/s, so one pass (7 x 4 bytes per parameter) {bound:.3f} s: "
          + ", ".join(f"{common.ADAM_KERNEL_NAMES[k]} reaches {reaches[k]:.2f} of it" for k in times)
          + f" (round by round, medians; target 0.6); on fresh NumPy buffers {fresh_bandwidth / 1e9:.1f} GB/s, "
          f"of which {common.ADAM_KERNEL_NAMES[chosen]} reaches {reaches_fresh:.2f}")


# The input gradient's forms (`networks.kernels.INPUT_GRADIENT_FORMS`) as printed.
INPUT_GRADIENT_LABELS = {"dy_Wt": "dy W'", "W_dyt_t": "(W dy')'", "dy_Wt_batched": "dy W', batched kernel",
                         "W_dyt_t_batched": "(W dy')', batched kernel"}


def parts(tf, args) -> None:
    """Times the pieces of NetVLAD k=512's forward+backward on their own, at the step's shapes, each inside
    a tf.function whose result is one number (so that no large output is copied out): the hidden
    projection's three products in float32 and bfloat16, in each form `_projection` can write them
    (`--batch 675` gives spotting's quarters), the bfloat16 prediction path with and without the centres
    projected apart, the X'A product, the descriptor (forward, forward+backward) on each path
    (float32 as the original, float32 compiled with XLA, bfloat16 with rounded residuals as float32's ops
    computed it, bfloat16 as the mixed layers compute it) and a copy of the (batch, D*K) descriptor."""
    from networks import fused_descriptor
    from networks import kernels as K

    b, n, d, k, o = args.batch, args.frames, args.dim, 512, 512
    rng = tf.random.Generator.from_seed(2)
    rate = matmul_rate(tf, args.repeats)
    print(f"parts of NetVLAD k=512's forward+backward: batch {b}, {n} frames, D {d}, K {k}, O {o}; float32 4096^3 "
          f"product {rate:.1f} GFLOP/s; best of {args.repeats} after a warm-up")

    def timed(label, function, *inputs, flops=None):
        scalar = tf.function(lambda *x: tf.add_n([tf.cast(tf.reshape(t, [-1])[0], tf.float32)
                                                   for t in tf.nest.flatten(function(*x))]))
        best, _ = best_and_median(lambda: scalar(*inputs).numpy(), args.repeats)
        extra = f"  {flops / best / 1e9:7.1f} GFLOP/s, {flops / best / 1e9 / rate:.2f} of the matmul rate" if flops else ""
        print(f"  {label:<70} {best:7.3f} s{extra}")

    pooled = rng.normal((b, d * k))
    weights = rng.normal((d * k, o))
    upstream = rng.normal((b, o))
    hidden = 2.0 * b * d * k * o
    def taken(dtype, product, form):  # whether `_projection` writes `product` in `form` on this machine
        forms = K.product_forms((b, d * k), (d * k, o), dtype)  # measured (or cached) for these shapes
        if product == "forward":
            return (form == "(W' V')'") == (dtype == tf.bfloat16 and forms["transposed_half_forward"])
        return product != "input gradient" or form == INPUT_GRADIENT_LABELS[forms["input_gradient"]]

    for dtype in (tf.float32, tf.bfloat16):
        v, w, dy = (tf.cast(t, dtype) for t in (pooled, weights, upstream))
        print(f"hidden projection ({dtype.name}), each product's forms (* the one `product_forms` takes here):")
        for (product, form), function in (
                (("forward", "V W"), lambda v=v, w=w: tf.linalg.matmul(v, w)),
                (("forward", "(W' V')'"), lambda v=v, w=w: tf.transpose(tf.linalg.matmul(w, v, transpose_a=True,
                                                                                             transpose_b=True))),
                (("weight gradient", "V' dy"), lambda v=v, dy=dy: tf.linalg.matmul(v, dy, transpose_a=True)),
                *((("input gradient", INPUT_GRADIENT_LABELS[name]), lambda form=form, dy=dy, w=w: form(dy, w))
                  for name, form in K.INPUT_GRADIENT_FORMS.items())):
            mark = "*" if taken(dtype, product, form) else " "
            timed(f"{mark} {product}: {form}", function, flops=hidden)
        del v, w, dy
    x32 = rng.normal((b, n, d))
    a = tf.nn.softmax(rng.normal((b, n, k)) * 2)
    centres = rng.normal((d, k)) / d ** 0.5
    x16, w16 = tf.cast(x32, tf.bfloat16), tf.cast(weights, tf.bfloat16)
    del weights
    print("descriptor and projection, bfloat16, not training (prediction, spotting):")
    timed("the descriptor (_vlad_columns_half), then the projection", lambda w16=w16: K._projection(
        tf.reshape(K._vlad_columns_half(x16, a, centres), (b, -1)), w16))
    timed("the centres' part projected apart (_vlad_projection_half)",
          lambda w16=w16: K._vlad_projection_half(x16, a, centres, w16))
    centre_weights = K._centre_weights(centres, w16)
    timed("the same, the centres' weights given (per-frame spotting)",
          lambda w16=w16: K._vlad_projection_half(x16, a, centres, w16, centre_weights))
    del w16
    columns_upstream = rng.normal((b, d, k))
    print("descriptor:")
    timed("X'A, float32", lambda: tf.linalg.matmul(x32, a, transpose_a=True), flops=2.0 * b * n * d * k)
    timed("a copy of the (batch, D*K) descriptor, float32", lambda: pooled * 2.0)

    def both(function):
        def run(x, a, c):
            with tf.GradientTape() as tape:
                tape.watch([x, a, c])
                out = function(x, a, c)
            return tape.gradient(out, [x, a, c], output_gradients=tf.cast(columns_upstream, out.dtype))
        return run

    compiled = tf.function(K._vlad_columns, jit_compile=True)
    fused = [("float32, one C++ operation (networks/fused_descriptor.py)", fused_descriptor.vlad_columns, x32),
             ("bfloat16 frames, the C++ operation in float32, output rounded", K._vlad_columns_float32, x16)]
    for label, function, x in (("float32 (the original's ops)", K._vlad_columns, x32),
                               *(fused if fused_descriptor.available() else []),
                               ("float32, XLA (--xla_descriptor)", compiled, x32),
                               ("bfloat16, residuals rounded (float32's ops)", K._vlad_columns, x16),
                               ("bfloat16, Gram form (_vlad_columns_half)", K._vlad_columns_half, x16)):
        timed(f"{label}: forward", function, x, a, centres)
        timed(f"{label}: forward+backward", tf.function(both(function), jit_compile=function is compiled), x, a,
              centres)


def set_up_allocator(choice: str) -> str:
    if choice == "bfc":
        os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
        return "TensorFlow BFC allocator (TF_CPU_ALLOCATOR_USE_BFC=true)"
    if choice == "mallopt":
        return f"process.tune_allocator() -> {process.tune_allocator()}"
    return "default"


# ------------------------------------------------------------------------------------------------
# Measurements


def make_step(tf, keras, model, learning_rate=1e-3, fused=True):
    from networks import optimizer as original

    optimizer = original.original_adam(learning_rate, fused=fused)  # the trainer's (fused: TF1's kernel)
    optimizer.build(model.trainable_variables)

    @tf.function
    def gradients(inputs, labels):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(inputs, training=True), tf.float32)
            # The original's loss: sigmoid cross-entropy summed over the classes, mean over the windows.
            loss = tf.reduce_mean(tf.reduce_sum(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=1))
        return loss, tape.gradient(loss, model.trainable_variables)

    @tf.function
    def apply(grads):
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    @tf.function
    def step(inputs, labels):
        loss, grads = gradients(inputs, labels)
        apply(grads)
        return loss

    return step, gradients, apply


def measure(tf, keras, architectures, label, architecture, pooling, k, args, reference, weights=None):
    """One configuration's step, forward+backward and Adam; the forward+backward timed in turns with
    `reference` (a `common.MatmulReference`), whose best rate in those turns is the row's "reference" (its
    products' rate over that one: "of_turns")."""
    model = architectures.build_model(architecture, num_frames=args.frames, video_dim=args.dim, audio_dim=args.dim,
                                      pooling=pooling, vlad_k=k)
    if weights is not None:
        model.set_weights(weights)
    rng = tf.random.Generator.from_seed(1)
    inputs = {s: rng.normal((args.batch, args.frames, args.dim)) for s in names.streams_of(architecture)}
    labels = tf.cast(rng.uniform((args.batch, 4)) < 0.3, tf.float32)
    # Logits and loss before any step, for the bfloat16 deviation (same weights, same 64 windows).
    initial = model.get_weights() if weights is None else None
    eval_inputs = {s: v[:64] for s, v in inputs.items()}
    logits = tf.cast(model(eval_inputs, training=False), tf.float32)
    loss = float(tf.reduce_mean(tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=labels[:64], logits=logits), axis=1)))
    step, gradients, apply = make_step(tf, keras, model, fused=args.optimizer == "fused")
    flops = step_flops(model, args.batch)
    step_best, step_median = best_and_median(lambda: step(inputs, labels).numpy(), args.repeats)
    grads = gradients(inputs, labels)[1]
    grad_best, _, rate = common.beside(lambda: gradients(inputs, labels)[0].numpy(), reference, args.repeats)
    apply_best, _ = best_and_median(lambda: (apply(grads), model.trainable_variables[0].numpy()), args.repeats)
    return {"label": label, "params": model.count_params(), "flops": flops, "step": step_best,
            "step_median": step_median, "grad": grad_best, "reference": rate,
            "of_turns": flops["total"] / grad_best / 1e9 / rate, "apply": apply_best, "weights": initial,
            "logits": logits.numpy(), "loss": loss}


def record_rows(rows, reference_rate: float, full_rows=None, half_rate: float | None = None) -> None:
    """run_all's rows: each configuration's forward+backward (what the targets are about), in float32
    against its products at the matmul rate measured in turns with it (the row's "reference"), in
    mixed_bfloat16 (`full_rows` given) against the same configuration's float32 forward+backward (the
    ratio is the speed-up; `reference_rate`, the run's float32 rate, gives its rate beside and, with
    `half_rate`, its target)."""
    for i, row in enumerate(rows):
        rate = row["flops"]["total"] / row["grad"] / 1e9
        what = (f"training forward+backward, batch 256, {row['label']}, "
                f"{'float32' if full_rows is None else 'mixed_bfloat16'} (whole step with Adam {row['step']:.2f} s"
                f"{'' if full_rows is None else f'; {rate / reference_rate:.2f} of the float32 matmul rate'})")
        if full_rows is None:
            common.record("networks", what, row["grad"], "s", row["flops"]["total"] / row["reference"] / 1e9,
                          "its products at the float32 4096^3 matmul rate, timed in turns with it",
                          ratio=row["of_turns"],
                          target=">= 0.8 (NetVLAD k=512)" if row["label"].startswith("NetVLAD k=512") else "")
        else:
            # The target: 0.8 of what the products alone would gain (the same run's bfloat16 / float32 rates).
            target = (f">= {0.8 * half_rate / reference_rate:.2f} (0.8 x bfloat16 {half_rate:.0f} / float32 "
                      f"{reference_rate:.0f} GFLOP/s)" if half_rate else ">= 2 (speed-up) on AMX")
            common.record("networks", what, row["grad"], "s", full_rows[i]["grad"], "the float32 forward+backward",
                          ratio=full_rows[i]["grad"] / row["grad"], target=target)


def print_table(rows, reference_rate: float, title: str) -> None:
    print(f"\n{title}")
    header = (f"{'configuration':<26} {'params':>12} {'GFLOP/step':>10} {'step s':>8} {'median':>8} "
              f"{'fwd+bwd s':>9} {'Adam s':>7} {'GFLOP/s':>8} {'/ matmul':>8} {'fwd+bwd / its turns':>20}")
    print(header)
    print("-" * len(header))
    for row in rows:
        rate = row["flops"]["total"] / row["step"] / 1e9
        print(f"{row['label']:<26} {row['params']:>12,} {row['flops']['total'] / 1e9:>10.1f} {row['step']:>8.3f} "
              f"{row['step_median']:>8.3f} {row['grad']:>9.3f} {row['apply']:>7.3f} {rate:>8.1f} "
              f"{rate / reference_rate:>8.2f} {row['of_turns']:>20.2f}")


def compare_allocators(args) -> int:
    print("NetVLAD k=512, 1 stream, under each allocator set-up (one process each):")
    for choice in ("default", "mallopt", "bfc"):
        command = [sys.executable, __file__, "--allocator", choice, "--only", "0", "--bf16", "off",
                   "--repeats", str(args.repeats), "--batch", str(args.batch), "--frames", str(args.frames)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in result.stdout.splitlines()
                 if line.startswith(("matmul", "NetVLAD k=512, 1 stream", "allocator"))]
        print(f"--- {choice}")
        print("\n".join(lines) if lines else result.stderr[-2000:])
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.compare_allocators:
        return compare_allocators(args)
    allocator = set_up_allocator(args.allocator)  # before TensorFlow loads

    import keras
    import tensorflow as tf

    from networks import architectures, kernels
    from networks.precision import precision_scope

    kernels.set_xla_descriptor(args.xla_descriptor)
    if args.xla_descriptor:
        print("descriptor compiled with XLA (--xla_descriptor)")
    if args.update_only:
        update_against_copy(tf, keras, architectures, args)
        return 0
    if args.parts:
        parts(tf, args)
        return 0

    if not args.only or 0 in args.only:
        # First, in a process of its own: its 135 M-parameter model, two optimizers and 4 GB of buffers
        # would otherwise stay in this process's allocator pool beside the models below.
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--update_only", "--repeats", str(args.repeats), "--frames",
                        str(args.frames), "--dim", str(args.dim)], check=False)
    configs = [CONFIGS[i] for i in args.only] if args.only else list(CONFIGS)
    print(f"allocator: {allocator}")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs; batch {args.batch}, "
          f"{args.frames} frames, {args.dim}-d streams; best of {args.repeats} after a warm-up")
    turns = common.MatmulReference(tf)
    before = max(turns.once() for _ in range(args.repeats))
    rows = [measure(tf, keras, architectures, *config, args, turns) for config in configs]
    after = max(turns.once() for _ in range(args.repeats))
    reference = max(before, after, *(row["reference"] for row in rows))
    print(f"matmul 4096^3 float32: {before:.1f} GFLOP/s before, {after:.1f} after, "
          + ", ".join(f"{row['reference']:.1f}" for row in rows) + f" in turns with each forward+backward; "
          f"reference {reference:.1f} (the last column: each forward+backward against its own turns' rate)")
    print_table(rows, reference, f"float32 (Adam: {args.optimizer})")
    record_rows(rows, reference)
    for row in rows:
        if row["label"].startswith("NetVLAD k=512, 1 stream"):
            ratio = row["of_turns"]
            print(f"NetVLAD k=512 (1 stream) float32 forward+backward: {ratio:.2f} of the matmul rate in its turns "
                  f"({'meets' if ratio >= TARGET_RATIO else 'below'} the {TARGET_RATIO} target); whole step "
                  f"{row['flops']['total'] / row['step'] / 1e9 / reference:.2f}")

    use_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and cpu_has_bf16())
    if not use_bf16:
        print("\nmixed_bfloat16: skipped (" + ("--bf16 off" if args.bf16 == "off" else
                                              "no avx512_bf16 / amx_bf16 on this processor; --bf16 on forces it")
              + ")")
        return 0
    with precision_scope("bfloat16"):
        half = [measure(tf, keras, architectures, *config, args, turns, weights=row["weights"])
                for config, row in zip(configs, rows)]
    half_rate = matmul_rate(tf, args.repeats, "bfloat16")
    print_table(half, reference, f"mixed_bfloat16 (rates against the float32 matmul; the bfloat16 4096^3 product: "
                                 f"{half_rate:.1f} GFLOP/s, {half_rate / reference:.2f}x float32's)")
    record_rows(half, reference, rows, half_rate)
    print(f"\n{'configuration':<26} {'speed-up':>8} {'fwd+bwd':>8} {'logits rel. dev.':>16} {'loss f32':>9} "
          f"{'loss bf16':>9}")
    for full, low in zip(rows, half):
        deviation = float(((low["logits"] - full["logits"]) ** 2).sum() ** 0.5
                          / max(float((full["logits"] ** 2).sum() ** 0.5), 1e-30))
        print(f"{full['label']:<26} {full['step'] / low['step']:>8.2f} {full['grad'] / low['grad']:>8.2f} "
              f"{deviation:>16.4f} {full['loss']:>9.5f} {low['loss']:>9.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
