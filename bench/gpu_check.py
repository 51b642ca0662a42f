"""The GPU check: one prepared script that a GPU machine runs as it is, in under 8 minutes, each item on the
GPU and then on the CPU alone (CUDA_VISIBLE_DEVICES empty) for the figure beside it.

    .venv/bin/python bench/gpu_check.py [--budget 450] [--no_cpu] [--out bench/out/gpu_check.md]

Items, each a real entry point in a child process, bounded in time:
- the devices TensorFlow sees (and nvidia-smi's list);
- the distribution tests (tests/test_distribution.py) with the GPU(s) visible;
- one training epoch of NetVLAD k = 512, T = 20 s with `--micro_batch auto` on a small synthetic set
  (ClassificationMinuteBased.py): its choice, the epoch's time, peak host memory and the GPU allocator's peak;
- one NetVLAD k = 512, T = 20 s training step at batch 256 (bench/bench_networks.py, float32);
- spotting one 45-minute half (bench/bench_spotting.py, float32);
- compute_mAP.py's engine on 200 halves, on NumPy and on TensorFlow (bench/bench_compute_mAP.py);
- one minute of video extraction, ResNet-152 (bench/bench_extraction.py, float32).
It prints, and writes to --out as Markdown, each item's wall time and the lines of its output that carry its
figures. Items that would start with less than 20 s of the budget left are reported as skipped. Without a GPU
it still runs (CPU only), which is how it was tried. Where nvidia-smi lists a GPU that TensorFlow does not
see (a CPU build of TensorFlow, or CUDA libraries it cannot load), it says so in one line and exits with
code 2 before running anything: its "GPU" figures would be the CPU's.

It needs the project's environment with TensorFlow's CUDA libraries on that machine (`make install GPU=1`:
TensorFlow 2.21's wheel for Python 3.12 is 573 MB, and its `and-cuda` extra adds NVIDIA's CUDA 12 libraries,
cuDNN, cuBLAS and the rest, a few GB), so a GPU machine that can fetch nothing and has no TensorFlow of its
own cannot run it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))
sys.path.insert(0, str(TOP / "bench"))

import common  # noqa: E402  (bench/ is the script's folder)

PY = sys.executable
DEVICES = ("import tensorflow as tf; print('TensorFlow', tf.__version__, 'sees', "
           "[d.name for d in tf.config.list_physical_devices()])")
TENSORFLOW_GPUS = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"


def tensorflow_gpus() -> tuple[int, str]:
    """How many GPUs TensorFlow sees in a child process (-1 where it could not say), and its last line."""
    try:
        done = subprocess.run([PY, "-c", TENSORFLOW_GPUS], cwd=TOP, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return -1, "timed out after 120 s"
    last = (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or ["?"])[-1]
    return (int(last) if done.returncode == 0 and last.isdigit() else -1), last


def items(data: Path, tflog: Path) -> list[tuple]:
    """(name, argv, substrings of the lines to keep, timeout s, run on the CPU too)."""
    lists = [str(data / f"listgame_{split}_{n}.npy") for split, n in (("Train", 4), ("Valid", 2), ("Test", 1))]
    return [
        ("devices", [PY, "-c", DEVICES], ("sees",), 60, False),
        ("distribution tests", [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_distribution.py"],
         ("passed", "failed", "error"), 240, False),
        ("synthetic set (4/2/1 games of 10 min)", [PY, "-m", "experiments.make_synthetic", "--output", str(data),
                                                   "--games", "4", "2", "1", "--half_minutes", "10", "--quiet"],
         (), 120, False),
        ("epoch, NetVLAD k=512, T=20 s, --micro_batch auto",
         [PY, "ClassificationMinuteBased.py", "--training", lists[0], "--validation", lists[1], "--testing", lists[2],
          "--architecture", "VideoNetwork", "--network", "VLAD", "--VLAD_k", "512", "--WindowSize", "20", "--PCA",
          "--max_epoch", "1",
          "--micro_batch", "auto", "--no_progress", "--tflog", str(tflog)],
         ("--micro_batch auto", "epoch 1/1", "trainable parameters"), 240, True),
        ("step, NetVLAD k=512, T=20 s, batch 256", [PY, "bench/bench_networks.py", "--only", "0", "--repeats", "2",
                                                    "--bf16", "off"], ("NetVLAD", "VLAD k=512", "GFLOP/s"), 180, True),
        ("spotting one 45-min half", [PY, "bench/bench_spotting.py", "--repeats", "1", "--bf16", "off"],
         ("float32 ", "windows"), 180, True),
        ("compute_mAP engine, 200 halves", [PY, "bench/bench_compute_mAP.py", "--skip_loop", "--repeats", "2"],
         ("evaluate on", "same report", "whole process"), 240, True),
        ("video extraction, 1 min", [PY, "bench/bench_extraction.py", "--seconds", "60", "--runs", "video:float32"],
         ("media per", "peak"), 240, True),
    ]


def run_item(argv, keep, timeout: float, cpu_only: bool) -> tuple[str, float, list[str]]:
    env = dict(os.environ, **({"CUDA_VISIBLE_DEVICES": ""} if cpu_only else {}))
    began = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=TOP, env=env, capture_output=True, text=True, timeout=timeout)
        status, out = (f"exit {done.returncode}", done.stdout + done.stderr)
    except subprocess.TimeoutExpired as stop:
        status = f"timed out after {timeout:.0f} s"
        out = "".join((part or b"").decode(errors="replace") for part in (stop.stdout, stop.stderr))
    lines = [line.strip() for line in out.splitlines() if any(k in line for k in keep)]
    if not status.endswith(" 0"):
        lines += [line.strip() for line in out.splitlines()[-5:]]
    return status, time.perf_counter() - began, lines[-8:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for the whole check")
    parser.add_argument("--no_cpu", action="store_true", help="skip the CPU-only runs beside the GPU ones")
    parser.add_argument("--out", default=str(TOP / "bench" / "out" / "gpu_check.md"), help="Markdown report")
    args = parser.parse_args()
    began = time.perf_counter()
    gpu = common.gpus()
    if gpu != "none":
        seen, said = tensorflow_gpus()
        if seen == -1:
            print(f"{PY}: nvidia-smi lists {gpu}, but TensorFlow could not be asked for its GPUs ({said}); "
                  "nothing run")
            return 2
        if seen == 0:
            print(f"{PY}: nvidia-smi lists {gpu}, but TensorFlow sees no GPU: a CPU build of TensorFlow or "
                  "CUDA libraries it cannot load (make install GPU=1); nothing run")
            return 2
    report = [f"# GPU check ({time.strftime('%Y-%m-%d %H:%M')})", "", f"machine: {common.machine()}", ""]
    print("\n".join(report), flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        for name, argv, keep, limit, on_cpu_too in items(Path(scratch) / "data", Path(scratch) / "runs"):
            for where in (["GPU", "CPU"] if gpu != "none" else ["CPU"]):
                if where == "CPU" and gpu != "none" and (args.no_cpu or not on_cpu_too):
                    continue
                left = args.budget - (time.perf_counter() - began)
                if left < 20:
                    block = [f"## {name} ({where}): skipped, {left:.0f} s of the budget left"]
                else:
                    status, seconds, lines = run_item(argv, keep, min(limit, left), cpu_only=where == "CPU")
                    block = [f"## {name} ({where}): {seconds:.1f} s, {status}"] + [f"    {line}" for line in lines]
                print("\n".join(block), flush=True)
                report += block + [""]
    report.append(f"total: {time.perf_counter() - began:.0f} s")
    print(report[-1])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(report) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
