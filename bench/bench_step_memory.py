"""The step-memory formula of `--micro_batch auto` against TensorFlow's measured peaks, and what each of the
paper's configurations gets from it.

    .venv/bin/python bench/bench_step_memory.py [--batch 128] [--skip_measure]

Part 1: for several poolings and window lengths, one forward+backward pass (the gradients of the
original's loss) at batch B/2 and B, with TensorFlow's CPU allocator statistics (the BFC allocator that
`process.tune_allocator` selects): the measured activation bytes per chunk (the slope) beside the
formula's (`training.distribution.POOLING_FLOATS`); the formula should not be below the measurement.
Part 2: the paper's configurations (steps of 60 halves: about 2,800 chunks at T = 60 s, 8,600 at T = 20 s)
on a 24 GB machine (inputs in the same memory), one 80 GB GPU, and 8 of them: the whole step, or the
largest piece that fits.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))
sys.path.insert(0, str(TOP / "bench"))

MEASURED = (("VideoNetwork", "RVLAD", 64, 120), ("VideoNetwork", "RVLAD", 256, 40), ("VideoNetwork", "VLAD", 256, 120),
            ("VideoNetwork", "NETFV", 64, 40), ("VideoNetwork", "SOFTDBOW", 256, 120), ("VideoNetwork", "MAX", 64, 120),
            ("AudioVideoArchi5", "RVLAD", 64, 120), ("AudioVideoArchi7", "RVLAD", 64, 120))
PAPER = (("Tables 1-3: video / audio, NetRVLAD k=64, T=60", "VideoNetwork", "RVLAD", 64, 120, 2800),
         ("Tables 1-3: method 4, NetRVLAD k=64, T=60", "AudioVideoArchi5", "RVLAD", 64, 120, 2800),
         ("Tables 1-3: method 6, NetRVLAD k=64, T=60", "AudioVideoArchi7", "RVLAD", 64, 120, 2800),
         ("Table 4/5: video, NetVLAD k=512, T=20", "VideoNetwork", "VLAD", 512, 40, 8600),
         ("Table 4/5: method 4, NetVLAD k=512, T=20", "AudioVideoArchi5", "VLAD", 512, 40, 8600))
GIB = 2 ** 30


def measure(architecture, pooling, k, frames, batch):
    import numpy as np
    import tensorflow as tf

    from networks import architectures

    model = architectures.build_model(architecture, num_frames=frames, pooling=pooling, vlad_k=k,
                                      honour_pooling=True)
    streams = tuple(model.input.keys())

    @tf.function
    def gradients(inputs, labels):
        with tf.GradientTape() as tape:
            logits = model(inputs, training=True)
            loss = tf.reduce_mean(tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), 1))
        return tape.gradient(loss, model.trainable_variables)

    def peak(b):
        x = {s: tf.random.normal((b, frames, 512)) for s in streams}
        y = tf.zeros((b, 4))
        tf.config.experimental.reset_memory_stats("CPU:0")
        base = tf.config.experimental.get_memory_info("CPU:0")["current"]
        g = gradients(x, y)
        float(np.asarray(g[0]).ravel()[0])
        return tf.config.experimental.get_memory_info("CPU:0")["peak"] - base

    peak(8)
    slope = (peak(batch) - peak(batch // 2)) / (batch / 2)
    return model, slope


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--skip_measure", action="store_true")
    args = parser.parse_args()
    from runtime import process
    process.tune_allocator()
    os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
    from common import machine

    print(f"machine: {machine()}")
    process.start_tensorflow()  # without the CUDA start-up lines on a machine with no NVIDIA driver
    import keras

    from networks import architectures
    from training import distribution

    if not args.skip_measure:
        print("\n| model | pooling | K | N | measured activations (MB/chunk) | formula (MB/chunk) | formula / measured |")
        print("|---|---|---|---|---|---|---|")
        for architecture, pooling, k, frames in MEASURED:
            keras.backend.clear_session()
            model, slope = measure(architecture, pooling, k, frames, args.batch)
            estimate = distribution.step_memory(model).per_chunk
            print(f"| {architecture} | {pooling} | {k} | {frames} | {slope / 2 ** 20:.2f} | {estimate / 2 ** 20:.2f} | "
                  f"{estimate / slope:.2f} |")
    print("\n| configuration | whole step | 24 GB machine (CPU) | one 80 GB GPU | 8 x 80 GB GPUs |")
    print("|---|---|---|---|---|")
    for title, architecture, pooling, k, frames, step in PAPER:
        keras.backend.clear_session()
        memory = distribution.step_memory(architectures.build_model(architecture, num_frames=frames, pooling=pooling,
                                                                    vlad_k=k, honour_pooling=True))
        cells = []
        for budget, share, gpu in ((24 * GIB * distribution.MEMORY_SHARE, step, False),
                                   (80 * GIB * distribution.MEMORY_SHARE, step, True),
                                   (80 * GIB * distribution.MEMORY_SHARE, -(-step // 8), True)):
            micro, _ = distribution.choose_micro_batch(memory, share, budget, "", on_gpu=gpu) \
                if memory.largest_piece(budget, not gpu) else (None, "")
            cells.append("does not fit" if micro is None else "whole step" + (f" ({share} per GPU)" if share != step else "")
                         if micro == 0 else f"pieces of {micro}")
        print(f"| {title} | {step} chunks, {memory.peak(step, False) / GIB:.1f} GB (+{(memory.peak(step) - memory.peak(step, False)) / GIB:.1f} "
              f"GB inputs on a CPU) | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
