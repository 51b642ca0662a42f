"""Start the workers of a multi-worker training on this machine, to try --distribute multiworker.

    .venv/bin/python tools/launch_workers.py --workers 2 -- ClassificationMinuteBased.py \\
        --distribute multiworker --architecture AudioVideoArchi5 --PCA ...

Each worker is a process of the given script with its own `TF_CONFIG` (`training.cluster.local_cluster`: a
cluster of `--workers` tasks on 127.0.0.1 ports free at the start; worker 0 is the chief and writes the
run folder). Their output comes here line by line, prefixed with "[worker i]". The workers run on the
CPU unless `--gpus_per_worker` gives each its own GPUs. When a worker fails the others are stopped; the
exit status is the first failure's (124 after `--timeout`), else 0. On several machines, set TF_CONFIG
on each yourself (docs/distributed.md).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

from base import errors  # noqa: E402
from runtime import cli  # noqa: E402
from training import cluster  # noqa: E402

EXIT_TIMEOUT = 124


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=cli.HelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--gpus_per_worker", type=int, default=0,
                        help="GPUs of each worker (worker i gets GPUs i*G ... i*G+G-1); 0: CPU only")
    parser.add_argument("--timeout", type=float, default=0, help="stop every worker after this many seconds (0: never)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="-- then the script and its arguments (run with this Python)")
    return parser


def _forward(stream, prefix: str, out) -> None:
    for line in iter(stream.readline, ""):
        out.write(f"{prefix}{line}")
        out.flush()
    stream.close()


def launch(command: Sequence[str], workers: int, gpus_per_worker: int = 0, timeout: float = 0,
           out=None) -> int:
    """Run `command` (a script and its arguments) as `workers` local workers; return the exit status."""
    out = out or sys.stdout
    configs = cluster.local_cluster(workers)
    processes, threads = [], []
    for number, config in enumerate(configs):
        env = dict(os.environ, TF_CONFIG=json.dumps(config))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(number * gpus_per_worker + g) for g in range(gpus_per_worker))
        process = subprocess.Popen([sys.executable, *command], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, bufsize=1)
        thread = threading.Thread(target=_forward, args=(process.stdout, f"[worker {number}] ", out), daemon=True)
        thread.start()
        processes.append(process)
        threads.append(thread)
    began, status = time.monotonic(), 0
    try:
        while any(p.poll() is None for p in processes):
            failed = [p.returncode for p in processes if p.returncode not in (None, 0)]
            if failed:
                status = failed[0]
                break
            if timeout and time.monotonic() - began > timeout:
                status = EXIT_TIMEOUT
                out.write(f"launch_workers: stopping the workers after {timeout:g} s\n")
                break
            time.sleep(0.2)
        else:
            status = next((p.returncode for p in processes if p.returncode), 0)
    finally:
        for process in processes:  # a worker whose peer is gone would wait for it
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in threads:
            thread.join(timeout=5)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the script to run after --, e.g. -- ClassificationMinuteBased.py --distribute multiworker ...")
    if args.workers < 1 or args.gpus_per_worker < 0:
        parser.error("--workers must be at least 1 and --gpus_per_worker not negative")
    return errors.run_command(lambda: launch(command, args.workers, args.gpus_per_worker, args.timeout))


if __name__ == "__main__":
    raise SystemExit(main())
