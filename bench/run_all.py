"""Every benchmark in one command, and one table of their headline figures (`make bench`).

    .venv/bin/python bench/run_all.py [--quick] [--full_epoch] [--only networks spotting ...]

Runs each benchmark of bench/ as its own process, one after the other (so that each has the machine to
itself), with `$BENCH_SUMMARY` set: each one records its headline figures there (`common.record`), each
with the bound it was measured against in the same run (the float32 4096^3 matrix product, a memory
copy, the loop reference, the formula's memory). Then prints the machine's description (processor and
instructions, cores, memory, TensorFlow build, GPU) and the table, in Markdown, as the README shows it.
Each benchmark's own output goes to bench/out/run_all/<name>.log.

`--quick` uses smaller sizes (a few minutes in all on 2 cores); by default the sizes of the issues'
targets (about 25 minutes on 2 cores); `--full_epoch` runs the epoch benchmark at SoccerNet's size (300
games, 15 GB of synthetic features, another 15 minutes).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
TOP = BENCH.parent
sys.path.insert(0, str(TOP))
sys.path.insert(0, str(BENCH))

import common  # noqa: E402

# name -> (arguments, --quick arguments)
BENCHMARKS = {
    "networks": (["--repeats", "3"], ["--repeats", "1", "--only", "0", "2"]),
    "spotting": (["--repeats", "2"], ["--repeats", "1", "--minutes", "10"]),
    # The paper's T = 60 s model (NetRVLAD k=64), in the original's batch-norm mode and in moving mode.
    "spotting_60": (["--repeats", "2", "--window", "60", "--pooling", "RVLAD", "--k", "64"],
                    ["--repeats", "1", "--minutes", "10", "--window", "60", "--pooling", "RVLAD", "--k", "64"]),
    "spotting_moving": (["--repeats", "2", "--window", "60", "--pooling", "RVLAD", "--k", "64", "--bn_mode", "moving"],
                        ["--repeats", "1", "--minutes", "10", "--window", "60", "--pooling", "RVLAD", "--k", "64",
                         "--bn_mode", "moving"]),
    "compute_mAP": (["--repeats", "3"], ["--repeats", "1", "--games", "20"]),
    "pipeline": (["--epochs", "3"], ["--epochs", "1", "--games", "10"]),
    "epoch": (["--games", "60", "4", "1", "--data", str(BENCH / "out" / "epoch_60_games"), "--micro_batch", "auto", "256"],
              ["--games", "20", "2", "1", "--data", str(BENCH / "out" / "epoch_20_games"), "--micro_batch", "auto"]),
    "extraction": (["--seconds", "60"], ["--seconds", "20"]),
}

SCRIPTS = {"spotting_60": "spotting", "spotting_moving": "spotting"}  # benchmarks that run another one's script (default: bench_<name>.py)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument("--full_epoch", action="store_true", help="the epoch benchmark at SoccerNet's size (15 GB)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--logs", default=str(BENCH / "out" / "run_all"), help="folder of each benchmark's output")
    return parser


def table(rows: list[dict]) -> str:
    lines = ["| benchmark | what | figure | same-run bound | ratio | target |", "|---|---|---|---|---|---|"]
    for r in rows:
        bound = f"{r['bound']:.3g} {r['unit']} ({r['bound_what']})" if r.get("bound") is not None else "—"
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "—"
        lines.append(f"| {r['bench']} | {r['what']} | {r['figure']:,.3g} {r['unit']} | {bound} | {ratio} | "
                     f"{r.get('target') or '—'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    with tempfile.TemporaryDirectory() as folder:
        summary = Path(folder) / "summary.jsonl"
        environment = dict(os.environ, **{common.SUMMARY_ENV: str(summary)})
        for name in args.only:
            full, quick = BENCHMARKS[name]
            extra = quick if args.quick else full
            if name == "epoch" and args.full_epoch:
                extra = ["--micro_batch", "auto", "256"]
            script = SCRIPTS.get(name, name)
            command = [sys.executable, str(BENCH / f"bench_{script}.py"), *extra]
            began = time.perf_counter()
            print(f"{name}: {' '.join(command[1:])}", flush=True)
            with open(logs / f"{name}.log", "w", encoding="utf-8") as log:
                code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=TOP, env=environment).returncode
            print(f"  {'exit ' + str(code) if code else 'done'} in {time.perf_counter() - began:.0f} s "
                  f"(output: {logs / (name + '.log')})", flush=True)
            if code:
                failed.append(name)
        if summary.is_file():
            rows = [json.loads(line) for line in summary.read_text(encoding="utf-8").splitlines() if line.strip()]
    import runs

    runs.start_tensorflow()
    print(f"\nmachine: {common.machine()}; {common.tensorflow_build()}\n")
    print(table(rows))
    if failed:
        print(f"\nfailed: {', '.join(failed)} (see their logs)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
