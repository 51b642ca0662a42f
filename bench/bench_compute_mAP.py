"""Benchmark of compute_mAP.py: the full paper grid on 100 synthetic test games (200 halves of 45 minutes).

    .venv/bin/python bench/bench_compute_mAP.py [--data bench/out/compute_mAP_data] [--skip_loop]

Writes (once) the labels of the first 100 games of listgame_Test_100.npy, planned by experiments/synthetic.py (SoccerNet
rates of goals, cards and substitutions, 45-minute halves plus 1-5 minutes of stoppage), and realistic
per-second predictions: for each event a bump about 20 s wide (as a 20 s sliding window responds), a little
off the event, of random height (some events are missed); false bumps at the confounders (near misses, fouls,
injuries, crowd surges); a low, temporally correlated background; per-second jitter, float32 in [0, 1].
Then times, in this process:
- loading the ground truth and the 200 prediction files;
- `evaluate` on the full grid (3 methods x 19 thresholds x 12 deltas), both metrics, first call (on
  TensorFlow: its kernels start), then min and median of repeated runs (the machine may be shared: the load
  is printed), on each engine (`evaluation.backend`: NumPy and TensorFlow), with a check that both give
  the same report;
- `evaluate(..., metric="paper")` against `evaluate_loop` (the loop reference), with the speed-up and a check
  that every number is identical;
- the command line end to end (compute_mAP.py run in this process as `python compute_mAP.py ARGS` would,
  plots included).
And as whole processes, alternating, median of 3: compute_mAP.py on one setting (the results_spotting.json
files of the best configuration, official metric) against the soccernet package's `evaluate` on the same files.
Targets (issue): under 5 s end to end, at least 50 times faster than the loop, identical numbers; a whole
process faster than the official package's.
"""
from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

import common  # noqa: E402  (bench/ is the script's folder)

import dataset  # noqa: E402
from base import files, labels
from evaluation import backend, candidates, outputs, reference, truth  # noqa: E402  (no TensorFlow at import)
from experiments import synthetic  # noqa: E402
from runtime import process

PREFIX = "bench"
# Confounders look like one class to a model: the false positives of realistic predictions.
CONFOUNDER_CLASS = {"near_miss": 3, "surge": 3, "foul": 1, "injury": 2}


def _bump(n: int, centre: float, width: float, height: float) -> np.ndarray:
    """A window-model response: high while the event is inside the window, soft edges."""
    t = np.arange(n, dtype=np.float64)
    return height * 0.5 * (1 - np.tanh((np.abs(t - centre) - width / 2) / 3.0))


def _smooth(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    from scipy.signal import lfilter

    return lfilter([np.sqrt(1 - rho ** 2)], [1, -rho], rng.standard_normal(n))


def make_predictions(rng: np.random.Generator, n: int, events, confounders) -> np.ndarray:
    """(n, 4) float32 per-second probabilities of one half; events/confounders: [(seconds, class)]."""
    p = np.zeros((n, 4))
    for c in (1, 2, 3):
        logit = -3.6 + 1.0 * _smooth(rng, n, 0.9)
        p[:, c] = 1 / (1 + np.exp(-logit))
    for t, c in events:
        height = rng.choice([rng.uniform(0.05, 0.4), rng.uniform(0.4, 1.0)], p=[0.2, 0.8])
        p[:, c] = np.maximum(p[:, c], _bump(n, t + rng.normal(0, 4), rng.uniform(14, 26), height))
    for t, c in confounders:
        p[:, c] = np.maximum(p[:, c], _bump(n, t + rng.normal(0, 3), rng.uniform(8, 22), rng.uniform(0.1, 0.75)))
    jitter = np.exp(0.12 * rng.standard_normal((n, 3)))
    p[:, 1:] = np.clip(p[:, 1:] * jitter, 0, 1)
    p[:, 0] = np.prod(1 - p[:, 1:], axis=1)
    return p.astype(np.float32)


def generate(root: Path, games: int) -> Path:
    """Labels, game list and prediction files under `root` (skipped when complete)."""
    done = root / "done.json"
    if done.is_file() and json.loads(done.read_text()).get("games") == games:
        return root / f"listgame_Test_{games}.npy"
    config = synthetic.SyntheticConfig(games=(0, 0, games))
    chosen = dataset.read_game_list(synthetic.OFFICIAL_LISTS["Test"])[:games]
    for game in chosen:
        rng = np.random.default_rng(synthetic.game_seed(config.seed, game))
        plan = synthetic.plan_game(game, config, rng)
        folder = root / game
        folder.mkdir(parents=True, exist_ok=True)
        files.write_json_atomic(folder / "Labels.json", {"UrlLocal": game, "annotations": plan.annotations})
        events = labels.read_labels(folder / "Labels.json")
        for half, frames in zip(dataset.HALVES, plan.lengths):
            n = frames // dataset.FRAMES_PER_SECOND
            mine = [(e.seconds, e.label) for e in events if e.half == half]
            confusing = [(t, CONFOUNDER_CLASS[k]) for h, t, k in plan.occurrences
                         if h == half and k in CONFOUNDER_CLASS]
            files.write_npy_atomic(outputs.prediction_file(root, game, PREFIX, half),
                                     make_predictions(rng, n, mine, confusing))
    list_path = root / f"listgame_Test_{games}.npy"
    files.write_npy_atomic(list_path, np.array(chosen))
    files.write_json_atomic(done, {"games": games})
    return list_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(TOP / "bench" / "out" / "compute_mAP_data"))
    parser.add_argument("--games", type=int, default=100)
    parser.add_argument("--skip_loop", action="store_true", help="do not time the loop implementation")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of the vectorised evaluation")
    parser.add_argument("--copies", type=int, default=1,
                        help="score the halves this many times over, in this process (e.g. 5: 1,000 halves), for "
                             "the engines' times at a larger grid (with --skip_loop)")
    args = parser.parse_args()
    root = Path(args.data)
    list_path = generate(root, args.games)

    began = time.perf_counter()
    process.start_tensorflow()  # as compute_mAP.py's main: GPU memory on demand

    from evaluation import engine  # TensorFlow, started above

    print(f"import tensorflow: {time.perf_counter() - began:.1f} s (not counted below); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    began = time.perf_counter()
    ground_truth = truth.load_ground_truth(list_path)
    predictions = outputs.load_spotting_outputs(list_path, root, PREFIX)
    load_s = time.perf_counter() - began
    predictions, ground_truth = predictions * args.copies, ground_truth * args.copies
    seconds = sum(len(p) for p in predictions)
    events = [sum(len(gt[c]) for gt in ground_truth) for c in range(3)]
    print(f"data: {len(predictions)} halves, {seconds} seconds ({seconds / len(predictions) / 60:.1f} min per half), "
          f"events card/subs/goal {events}; loaded in {load_s:.2f} s")

    def timed(repeats, **kwargs):
        times, report = [], None
        for _ in range(repeats):
            began = time.perf_counter()
            report = engine.evaluate(predictions, ground_truth, **kwargs)
            times.append(time.perf_counter() - began)
        return report, times

    cells = backend.cells(predictions, 3, len(candidates.DEFAULT_THRESHOLDS))
    grids, chosen = {}, backend.choose(None, cells)
    print(f"full grid: {cells / 1e6:.0f} M cells (positions x classes x methods x thresholds); the automatic "
          f"choice with TensorFlow started: {chosen}")
    for name in ("numpy", "tensorflow"):
        both, first = timed(1, metric="both", backend=name)
        print(f"evaluate on {name}, full grid, both metrics, first call: {first[0]:.2f} s")
        if name == chosen:
            print(f"end to end (load + evaluate, first call): {load_s + first[0]:.2f} s   target < 5 s")
            common.record("compute_mAP", f"evaluator end to end (load + both metrics), {len(predictions)} halves, "
                          f"{name} (the automatic choice)", load_s + first[0], "s", target="< 5 s")
        both, times = timed(args.repeats, metric="both", backend=name)
        grids[name] = (both, min(times))
        print(f"evaluate on {name}, full grid, both metrics: min {min(times):.2f} s, median {np.median(times):.2f} s "
              f"({args.repeats} runs)")
    same = json.dumps(grids["numpy"][0], sort_keys=True) == json.dumps(grids["tensorflow"][0], sort_keys=True)
    print(f"NumPy and TensorFlow engines: the same report: {same}")
    common.record("compute_mAP", f"evaluator grid, both metrics, {len(predictions)} halves, NumPy engine "
                  f"(same report: {same})", grids["numpy"][1], "s", grids["tensorflow"][1],
                  "the TensorFlow engine, started, warm", ratio=grids["tensorflow"][1] / grids["numpy"][1],
                  target="auto picks the faster")
    spots = {m: int(np.sum(both["spots"][m])) for m in candidates.CANDIDATE_METHODS}
    print(f"candidate spots over the grid: {spots} (total {sum(spots.values())})")
    paper, times = timed(args.repeats, metric="paper", backend=chosen)
    paper_s, paper_median = min(times), float(np.median(times))
    print(f"evaluate, full grid, paper metric: min {paper_s:.2f} s, median {paper_median:.2f} s ({args.repeats} runs)")
    if not args.skip_loop:
        began = time.perf_counter()
        loop = reference.evaluate_loop(predictions, ground_truth)
        loop_s = time.perf_counter() - began
        identical = json.dumps(loop, sort_keys=True) == json.dumps(paper, sort_keys=True)
        same_as_both = json.dumps(loop["paper"], sort_keys=True) == json.dumps(both["paper"], sort_keys=True)
        common.record("compute_mAP", f"evaluator grid, paper metric, {len(predictions)} halves, {chosen}", paper_s,
                      "s", loop_s,
                      "the loop reference (evaluate_loop), same numbers", ratio=loop_s / paper_s,
                      target="loop / this >= 50")
        print(f"evaluate_loop (paper metric): {loop_s:.1f} s; speed-up {loop_s / paper_s:.0f}x on the min, "
              f"{loop_s / paper_median:.0f}x on the median (target >= 50x); identical numbers: "
              f"{identical and same_as_both}")

    for metric in ("paper", "soccernet"):
        best = both[metric]["best"]
        print(f"{metric}: best Average-mAP " + ", ".join(
            f"{m} {100 * best[m]['average_mAP']:.1f}% at {best[m]['threshold']:.2f}" for m in candidates.CANDIDATE_METHODS))

    out = root.parent / "compute_mAP_cli"
    began = time.perf_counter()
    saved, sys.argv = sys.argv, [str(TOP / "compute_mAP.py"), "--testing", str(list_path), "--predictions", str(root),
                                 "--prefix", PREFIX, "--output", str(out), "--write_json", "--loglevel", "WARNING"]
    try:  # the face runs as a command (`__main__`), not imported
        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code
    finally:
        sys.argv = saved
    print(f"command line (compute_mAP.py as a command, both metrics, JSON/CSV/plots): "
          f"{time.perf_counter() - began:.2f} s, exit {code}")
    whole_processes(root, list_path, out)
    return code


OFFICIAL = """import sys
from SoccerNet.Evaluation.ActionSpotting import evaluate
from SoccerNet.Evaluation.utils import EVENT_DICTIONARY_V1
r = evaluate(SoccerNet_path=sys.argv[1], Predictions_path=sys.argv[2], prediction_file="results_spotting.json",
             split="test", version=1, label_files="Labels.json", dataset=None, EVENT_DICTIONARY=EVENT_DICTIONARY_V1)
print(float(r["a_mAP"]))
"""


def whole_processes(root: Path, list_path: Path, cli_out: Path) -> None:
    """compute_mAP.py and the official package, each a whole process, on the JSON files of the best
    configuration (written by the command line run before): median of 3, alternating."""
    labels_only = root.parent / "compute_mAP_labels"  # the package takes every JSON file under its root for a game
    if not labels_only.is_dir():
        for path in root.rglob("Labels.json"):
            target = labels_only / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    spots = cli_out / f"results_spotting_{PREFIX}"
    ours = [sys.executable, str(TOP / "compute_mAP.py"), "--testing", str(list_path), "--SoccerNet_path", str(root),
            "--predictions", str(cli_out), "--prefix", PREFIX, "--results_spotting", "results_spotting.json",
            "--metric", "soccernet", "--no_plots", "--output", str(root.parent / "compute_mAP_json"),
            "--loglevel", "WARNING"]
    theirs = [sys.executable, "-c", OFFICIAL, str(labels_only), str(spots)]
    times = {"ours": [], "official": []}
    for _ in range(3):
        for name, command in (("ours", ours), ("official", theirs)):
            began = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            times[name].append(time.perf_counter() - began)
            if done.returncode:
                raise SystemExit(f"{name}: exit {done.returncode}: {done.stderr[-2000:]}")
            if name == "official":
                official = float(done.stdout.split()[-1])
    mine = json.loads((root.parent / "compute_mAP_json" / "results.json").read_text())
    ours_value = mine["models"][PREFIX]["soccernet"]["average_mAP"]["spots"][0]
    ours_s, theirs_s = float(np.median(times["ours"])), float(np.median(times["official"]))
    print(f"whole process, one setting (JSON files, official metric, 200 halves): compute_mAP.py {ours_s:.2f} s, "
          f"the soccernet package {theirs_s:.2f} s (medians of 3); Average-mAP {ours_value!r} and {official!r}")
    common.record("compute_mAP", "evaluator as a whole process, one setting (results_spotting.json files, official "
                  f"metric, Average-mAP equal: {abs(ours_value - official) < 1e-12})", ours_s, "s", theirs_s,
                  "the soccernet package's evaluate, a whole process on the same files", ratio=theirs_s / ours_s,
                  target="official / this > 1")


if __name__ == "__main__":
    raise SystemExit(main())
