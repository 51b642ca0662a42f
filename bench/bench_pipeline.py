"""Benchmark of the input pipeline: stream every training window through tf.data.

    .venv/bin/python bench/bench_pipeline.py [--data bench/out/pipeline_data] [--epochs 3]

Generates (once, in a child process, so that its memory does not count) a synthetic training set of
30 games with 45-minute halves, then streams every training chunk of both streams at T = 20 s
through `training.pipeline.make_dataset` for several epochs, in the original's batches (all chunks of 60
halves per step) cut into micro-batches of 256, and in shuffled batches of 256 windows. Prints windows per second and the peak
resident memory of this process (which includes the memory-mapped pages it touched and TensorFlow).
Targets (issue 2): peak RSS under 1.5 GB, well over 10,000 windows per second.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))
sys.path.insert(0, str(TOP / "bench"))

import common  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # ru_maxrss is in KiB on Linux


def resident_split() -> str:
    """Current anonymous and file-backed resident memory (Linux /proc/self/status), for the record."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return ", ".join(f"{k} {int(fields[k].split()[0]) / 1e6:.2f} GB" for k in ("RssAnon", "RssFile"))
    except (OSError, KeyError, ValueError):
        return "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(TOP / "bench" / "out" / "pipeline_data"))
    parser.add_argument("--games", type=int, default=30)
    parser.add_argument("--window", type=float, default=20.0, help="window T in seconds")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--micro_batch", type=int, default=256)
    parser.add_argument("--plan", choices=["original", "shuffled"],
                        help="measure one batch plan in this process (by default each in a child process, "
                             "so that each peak RSS is its own)")
    args = parser.parse_args()
    if args.plan is None:
        subprocess.run([sys.executable, "-m", "experiments.make_synthetic", "--output", str(Path(args.data).resolve()),
                        "--games", str(args.games), "1", "1", "--quiet"], cwd=TOP, check=True)
        for plan in ("original", "shuffled"):
            subprocess.run([sys.executable, __file__, "--plan", plan] + sys.argv[1:], check=True)
        return 0

    import numpy as np
    import dataset
    from training import batch_plans
    from runtime import process
    print(f"allocator tuned: {process.tune_allocator()}")
    start = time.perf_counter()
    split = dataset.Split(Path(args.data) / f"listgame_Train_{args.games}.npy")
    index = split.chunk_index(args.window)
    opened = time.perf_counter() - start
    print(f"training set: {len(split.halves)} halves, {index.labels.shape[0]} windows of "
          f"{index.frames} frames x ({', '.join(f'{s} {split.dim(s)}' for s in split.streams)}); "
          f"opened and checked in {opened:.1f} s; peak RSS so far {peak_rss_gb():.2f} GB")
    import tensorflow as tf  # noqa: F401  (its import is part of the baseline memory)

    from training import pipeline

    print(f"peak RSS after importing TensorFlow: {peak_rss_gb():.2f} GB")
    rng = np.random.default_rng(0)
    if args.plan == "original":
        name = f"original batches (all chunks of 60 halves per step) in micro-batches of {args.micro_batch}"
        plan = lambda: [m for step in batch_plans.half_batches(index, 60, rng)  # noqa: E731
                        for m in batch_plans.split_batch(step, args.micro_batch)]
    else:
        name = f"shuffled batches of {args.micro_batch}"
        plan = lambda: batch_plans.shuffled_batches(len(index), args.micro_batch, rng)  # noqa: E731
    batches = [b for _ in range(args.epochs) for b in plan()]  # several epochs through one pipeline
    iterator = iter(pipeline.make_dataset(split, index, batches))
    first = next(iterator)[1].shape[0]  # pipeline start-up excluded from the rate
    start = time.perf_counter()
    total = 0
    for inputs, labels in iterator:
        total += int(labels.shape[0])
    elapsed = time.perf_counter() - start
    assert total + first == args.epochs * len(index)
    common.record("pipeline", f"input pipeline, {name}", total / elapsed, "windows/s", target="> 10,000 windows/s")
    common.record("pipeline", f"input pipeline peak RSS, {name}", peak_rss_gb(), "GB", target="< 1.5 GB")
    print(f"{name}: {args.epochs} epochs, {total} windows in {elapsed:.2f} s = {total / elapsed:,.0f} windows/s;"
          f" peak RSS {peak_rss_gb():.2f} GB (targets: well over 10,000 windows/s, under 1.5 GB); now {resident_split()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
