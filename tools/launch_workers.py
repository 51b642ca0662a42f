"""Start the workers of a multi-worker training on this machine, to try --distribute multiworker.

    .venv/bin/python tools/launch_workers.py --workers 2 -- ClassificationMinuteBased.py \\
        --distribute multiworker --architecture AudioVideoArchi5 --PCA ...

Each worker is a process of the given script with its own `TF_CONFIG` (`training.cluster.local_cluster`: a
cluster of `--workers` tasks on 127.0.0.1 ports free at the start; worker 0 is the chief and writes the
run folder). Their output comes here line by line, prefixed with "[worker i]". The workers run on the
CPU unless `--gpus_per_worker` gives each its own GPUs. When a worker fails, the launcher says which one
failed first and how; the others end by themselves (a lost peer ends each with one line and exit code 6)
or are stopped after the command's `--heartbeat_timeout` and 40 s more (`grace_of`). The exit status is
the first failure's (a signal N as 128 + N; 124 after `--timeout`), else 0. The workers' temporary files
(each non-chief worker's copy of the state) live in one folder of the launcher's, removed at the end
whatever happened. On several machines, set TF_CONFIG on each yourself (docs/distributed.md).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
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
# After the first failure, how long the other workers have to end by themselves beyond their peer-loss
# detection (`--heartbeat_timeout`) before they are stopped.
ROOM_TO_EXIT_S = 40.0
MAX_WORKERS = 256  # processes on one machine; each worker's TF_CONFIG lists them all


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


def _how(code: int) -> str:
    """A worker's exit status in words."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _stop(processes: Sequence[subprocess.Popen]) -> None:
    """SIGTERM, then SIGKILL after 10 s, for every worker still running."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def launch(command: Sequence[str], workers: int, gpus_per_worker: int = 0, timeout: float = 0,
           out=None, environs: Sequence[dict] | None = None, grace: float | None = None) -> int:
    """Run `command` (a script and its arguments) as `workers` local workers; return the exit status.

    Args:
        environs: per worker, variables added to its environment (tests: a fault in one worker).
        grace: seconds the others have to end by themselves after the first failure (None: `grace_of`).
    """
    grace = grace_of(command) if grace is None else grace
    out = out or sys.stdout
    configs = cluster.local_cluster(workers)
    scratch = tempfile.mkdtemp(prefix="launch-workers-")
    processes, threads = [], []
    began, status, first = time.monotonic(), 0, None
    try:
        for number, config in enumerate(configs):
            env = dict(os.environ, TF_CONFIG=json.dumps(config), TMPDIR=scratch,
                       **(environs[number] if environs else {}))
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(number * gpus_per_worker + g) for g in range(gpus_per_worker))
            process = subprocess.Popen([sys.executable, *command], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, bufsize=1)
            thread = threading.Thread(target=_forward, args=(process.stdout, f"[worker {number}] ", out), daemon=True)
            thread.start()
            processes.append(process)
            threads.append(thread)
        deadline = None  # after the first failure: when the others are stopped
        while True:
            running = [p.poll() is None for p in processes]  # every worker polled: its return code read
            failed = [n for n, p in enumerate(processes) if p.returncode not in (None, 0)]
            if first is None and failed:
                first = failed[0]
                code = processes[first].returncode
                status = 128 - code if code < 0 else code
                out.write(f"launch_workers: worker {first} failed first ({_how(code)})"
                          + (f"; waiting up to {grace:g} s for the others to end\n" if any(running) else "\n"))
                deadline = time.monotonic() + grace
            if not any(running):
                break
            if deadline is not None and time.monotonic() > deadline:
                out.write(f"launch_workers: stopping the workers still running after {grace:g} s\n")
                break
            if timeout and time.monotonic() - began > timeout:
                status = status or EXIT_TIMEOUT
                out.write(f"launch_workers: stopping the workers after {timeout:g} s\n")
                break
            time.sleep(0.2)
    finally:
        _stop(processes)  # a worker whose peer is gone would wait for it
        for thread in threads:
            thread.join(timeout=5)
        shutil.rmtree(scratch, ignore_errors=True)
    if first is not None:
        out.write("launch_workers: " + ", ".join(f"worker {n}: {_how(p.returncode)}"
                                                 for n, p in enumerate(processes)) + "\n")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the script to run after --, e.g. -- ClassificationMinuteBased.py --distribute multiworker ...")
    if not 1 <= args.workers <= MAX_WORKERS or args.gpus_per_worker < 0:
        parser.error(f"--workers must be from 1 to {MAX_WORKERS} and --gpus_per_worker not negative")
    if not math.isfinite(args.timeout) or args.timeout < 0:
        parser.error(f"--timeout must be a finite number of seconds >= 0 (0: never), not {args.timeout!r}")

    def work() -> int:
        check_script(command)
        return launch(command, args.workers, args.gpus_per_worker, args.timeout)

    return errors.run_command(work)


def grace_of(command: Sequence[str]) -> float:
    """Seconds the other workers have to end by themselves after a failure: the command's
    `--heartbeat_timeout` (TensorFlow's detection of the lost peer; its default where not given or not a
    number, which the script itself refuses) and `ROOM_TO_EXIT_S`."""
    heartbeat = cluster.HEARTBEAT_TIMEOUT_S
    for i, word in enumerate(command):
        value = word.split("=", 1)[1] if word.startswith("--heartbeat_timeout=") else (
            command[i + 1] if word == "--heartbeat_timeout" and i + 1 < len(command) else None)
        try:
            heartbeat = float(value) if value is not None and math.isfinite(float(value)) else heartbeat
        except ValueError:
            pass
    return heartbeat + ROOM_TO_EXIT_S


def check_script(command: Sequence[str]) -> None:
    """The script the workers run is a file (a Python option such as `-m` first is left to Python);
    DataError naming it otherwise, before any worker starts."""
    if command[0].startswith("-"):
        return
    script = Path(command[0])
    if script.is_dir():
        raise errors.DataError(script, "is a folder, not a script to run")
    if not script.is_file():
        raise errors.DataError(script, "script not found")


if __name__ == "__main__":
    raise SystemExit(main())
