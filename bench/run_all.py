"""Every benchmark in one command, and one table of their headline figures (`make bench`).

    .venv/bin/python bench/run_all.py [--quick] [--full_epoch] [--only networks spotting ...] [--page PATH]

Runs each benchmark of bench/ as its own process, one after the other (so that each has the machine to
itself), with `$BENCH_SUMMARY` set: each one records its headline figures there (`common.record`), each
with the bound it was measured against in the same run (the float32 4096^3 matrix product, a memory
copy, the loop reference, the formula's memory). Then prints the machine's description (processor and
instructions, cores, memory, TensorFlow build, GPU) and the table, in Markdown, and writes them with the
date to docs/benchmarks.md (`--page PATH` writes elsewhere, `--page ''` or `--no_page` writes no page).
A partial run (`--quick`, `--full_epoch`, or `--only` some of the benchmarks) writes no page unless
`--page` names one: its rows would replace the full run of its processor kind. The page keeps, below
this run, the latest run it held for each other processor kind (model and instruction sets: AVX2 only,
AVX-512, bfloat16, AMX), so that one page shows every kind the project was measured on. Each
benchmark's own output goes to bench/out/run_all/<name>.log.

`--quick` uses smaller sizes (a few minutes in all on 2 cores); by default the sizes of the issues'
targets (about 25 minutes on 2 cores); `--full_epoch` runs the epoch benchmark at SoccerNet's size (300
games, 15 GB of synthetic features, another 15 minutes).
"""
from __future__ import annotations

import argparse
import json
import os
import re
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

PAGE = TOP / "docs" / "benchmarks.md"
PAGE_TITLE = "# Benchmarks\n"
PAGE_MARKER = "<!-- Written by bench/run_all.py (make bench): regenerate it, do not edit it by hand. -->"
# One run's part of the page, between these lines; the processor kind (model and instructions) names it.
RUN_BEGIN = "<!-- run on: {kind} -->"
RUN_END = "<!-- end of run -->"
OTHER_KINDS = """\
## The latest run on each other processor

Each part below is the latest `make bench` on that processor kind, as the page held it; a run on one of
these kinds takes its place at the top of the page.
"""
# What the table's columns mean: the same on every run.
PAGE_NOTES = """\
`make bench` (`bench/run_all.py`) runs every benchmark of `bench/`, each in its own process, and
prints the machine's description and one table: each headline figure beside the bound it was measured
against in the same run (the float32 4096^3 matrix product, a copy of the same buffers, the loop
reference, the formula's memory) and the issues' target. Each benchmark also runs alone
(`.venv/bin/python bench/bench_<name>.py --help`) and prints more; `make bench` keeps each one's output
of the run in `bench/out/run_all/` (`--logs`).

Ratios: for times against a rate bound, the fraction of that rate reached; for the Adam update, the
fraction of one in-place pass's speed (its bytes at the same run's in-place bandwidth); for the evaluator,
how many times faster than the loop reference, than the TensorFlow engine, or (a whole process) than the
official package; for the
`mixed_bfloat16` training rows and the bfloat16 spotting rows, the speed-up over float32 in the same run;
for the epoch's `--micro_batch auto` rows, the measured peak over the estimate the choice was made on.
The epoch rows train on a small synthetic set (two steps per epoch; `--full_epoch`: SoccerNet's size).
Seconds move from one run to the next with the processor's matrix-product rate: compare ratios, not
seconds, across runs. Where the machine is shared, its speed moves within a run too: the float32
training and spotting rows are measured against the matrix product run in turns with their own runs
(one product after each, the best of those), and the Adam row against an in-place pass over the
update's own buffers in turns with the updates (the median of each round's ratio).

`make bench BENCH_ARGS=--quick` takes a few minutes with smaller sizes and, like any partial run
(`--only`, `--full_epoch`), leaves this page as it is unless `--page PATH` is given. What the figures
mean for the design, and older measurements on other machines: [performance notes]({performance}).

The GPU check, `.venv/bin/python bench/gpu_check.py` (not part of `make bench`), is one prepared run
for a GPU machine, under 8 minutes: the devices, the distribution tests, an epoch of NetVLAD k = 512
with `--micro_batch auto` (its choice and the GPU's peak memory), a training step, spotting a half, the
evaluator's engines on 200 halves and a minute of video extraction, each on the GPU and beside it on the
CPU alone. It needs the project's environment with TensorFlow's CUDA libraries on that machine
(`make install GPU=1`) and refuses, in one line, a GPU that TensorFlow does not see. It writes
`bench/out/gpu_check.md`; where that report holds a GPU run, `make bench` appends it below.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument("--full_epoch", action="store_true", help="the epoch benchmark at SoccerNet's size (15 GB)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--logs", default=str(BENCH / "out" / "run_all"), help="folder of each benchmark's output")
    parser.add_argument("--page", default=None,
                        help="Markdown page to write the machine, the table and the date to ('': none; default: "
                             "docs/benchmarks.md for a full run, none for a partial one)")
    parser.add_argument("--no_page", action="store_true", help="write no page (as --page '')")
    return parser


def partial(args: argparse.Namespace) -> bool:
    """Whether the run is not `make bench`'s full one: other sizes, or not every benchmark."""
    return args.quick or args.full_epoch or set(args.only) != set(BENCHMARKS)


def page_path(args: argparse.Namespace) -> Path | None:
    """Where the page goes, or None for no page: `--page` where given, else docs/benchmarks.md for a full run
    and none for a partial one."""
    if args.no_page or args.page == "":
        return None
    if args.page is None:
        return None if partial(args) else PAGE
    return Path(args.page)


def table(rows: list[dict], escape: bool = False) -> str:
    """The rows as a Markdown table; `escape`: a '|' inside a cell (|p - p_float32|) written '\\|', as
    GitHub needs it (the printed table keeps the plain text)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|") if escape else text

    lines = ["| benchmark | what | figure | same-run bound | ratio | target |", "|---|---|---|---|---|---|"]
    for r in rows:
        bound = f"{r['bound']:.3g} {r['unit']} ({r['bound_what']})" if r.get("bound") is not None else "—"
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "—"
        lines.append(f"| {r['bench']} | {cell(r['what'])} | {r['figure']:,.3g} {r['unit']} | {cell(bound)} | "
                     f"{ratio} | {cell(r.get('target') or '—')} |")
    return "\n".join(lines)


def processor_kind(machine: str) -> str:
    """The processor kind of a machine line (common.machine()): its model and instructions, what comes
    before the core count ("AMD EPYC (avx2 avx512f avx512_bf16)")."""
    found = re.match(r"(.*?), \d+ cores", machine)
    return (found.group(1) if found else machine).strip()


def runs_on_page(text: str) -> list[tuple[str, str]]:
    """The runs a page holds, as (processor kind, the run's text: date, machine, table), in page order.
    A page written before the page kept runs apart (one run, no RUN_BEGIN lines) gives its one run."""
    marked = re.findall(re.escape(RUN_BEGIN).replace(r"\{kind\}", "(.*?)") + r"\n(.*?)" + re.escape(RUN_END),
                        text, re.DOTALL)
    if marked:
        return marked
    single = re.search(r"^Run on [^\n]*\n\nmachine: ([^\n]*)\n\n(?:\|[^\n]*\n)+(?:\nfailed [^\n]*\n)?", text,
                       re.MULTILINE)
    return [(processor_kind(single.group(1)), single.group(0))] if single else []


def run_block(kind: str, body: str) -> str:
    return RUN_BEGIN.format(kind=kind) + "\n" + body.rstrip("\n") + "\n" + RUN_END + "\n"


def page_text(page: Path, machine: str, table_text: str, date: str, command: str, failed=(), note: str = "",
              previous: str = "") -> str:
    """The benchmark page: the machine, the date and command of the run, the table, what it means; then
    the runs of `previous` (the page as it was) on other processor kinds, as they were."""
    performance = os.path.relpath(TOP / "docs" / "performance.md", Path(page).resolve().parent)
    kind = processor_kind(machine)
    body = [f"Run on {date}: `{command}`." + (f" {note}" if note else "") + "\n", f"machine: {machine}\n",
            table_text + "\n"]
    if failed:
        body.append(f"failed (no rows, or fewer): {', '.join(failed)}\n")
    parts = [PAGE_TITLE, PAGE_MARKER + "\n", run_block(kind, "\n".join(body)),
             PAGE_NOTES.format(performance=Path(performance).as_posix())]
    others = [(other, text) for other, text in runs_on_page(previous) if other != kind]
    if others:
        parts.append(OTHER_KINDS)
        parts.extend(f"### {other}\n\n" + run_block(other, text) for other, text in others)
    gpu_report = TOP / "bench" / "out" / "gpu_check.md"
    if gpu_report.is_file() and "GPU: none" not in gpu_report.read_text():
        parts.append(gpu_report.read_text().replace("# GPU check", "## GPU check", 1))
    return "\n".join(parts)


def write_page(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: a temporary file in the same folder, renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    invocation = " ".join(["bench/run_all.py", *(sys.argv[1:] if argv is None else argv)])
    started = time.perf_counter()
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
    from runtime import process
    process.start_tensorflow()
    machine = f"{common.machine()}; {common.tensorflow_build()}"
    print(f"\nmachine: {machine}\n")
    print(table(rows))
    page = page_path(args)
    if page is not None:
        seconds = time.perf_counter() - started
        took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} minutes"
        previous = page.read_text(encoding="utf-8") if page.is_file() else ""
        write_page(page, page_text(page, machine, table(rows, escape=True), time.strftime("%Y-%m-%d"), invocation,
                                   failed, note=f"It took {took}.", previous=previous))
        print(f"\nwritten: {page}")
    elif args.page is None and not args.no_page:
        print(f"\n{PAGE.relative_to(TOP)} not written: a partial run (--quick, --full_epoch or --only); "
              "--page PATH writes one")
    if failed:
        print(f"\nfailed: {', '.join(failed)} (see their logs)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
