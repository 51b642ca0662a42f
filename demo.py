"""The demo on synthetic data (`make demo`): the paper's experiments, small, in one command.

    .venv/bin/python demo.py [--data data/synthetic] [--runs runs/demo] [--results results/demo] [--fresh]

1. Generates the synthetic SoccerNet demo set (30 / 10 / 10 games; once, reused while its settings are
   unchanged) and prints a summary of it.
2. Trains video-only, audio-only and fusion method 4 (AudioVideoArchi5), NetRVLAD k = 64, at T = 60 s
   (classification, Tables 1-3) and T = 20 s (spotting), with ClassificationMinuteBased.py.
3. Combines the T = 60 s video and audio runs by late fusion methods 1 and 2 (fusion.py).
4. Spots the test games (ClassificationSecondBased.py) with the three T = 20 s models and the T = 60 s
   method 4 model, and evaluates them with compute_mAP.py.
5. Prints the results beside the paper's (Table 1, 2/3 and 5 layouts), checks the paper's qualitative
   findings, and writes the plots: mAP against delta (Figure 2), train and validation mAP per epoch
   (Figure 3), the confusion matrix of method 4, a timeline of one test game.

Every step is a plain command of the project's scripts, printed before it runs. The training schedule is
the paper's recipe shortened for a 2-core machine: `--batch_size 6` (60 training halves in 10 optimizer
steps per epoch, as the paper's 600 halves in steps of 60), at most 7 epochs at T = 60 s and 5 at
T = 20 s, learning rate divided by 10 after more than 2 epochs without improvement, stop after more
than 4, steps in pieces of 256 chunks (`--micro_batch 256`, with which its figures were made). Finished runs are reused on a rerun (`--fresh` starts over). The numbers are from synthetic
data, not SoccerNet: they show that the pipeline reproduces the paper's qualitative findings, not its
figures.
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

import dataset
import networks
import reproduce
import runs
import synthetic
from evaluation import candidates, outputs

TOP = Path(__file__).resolve().parent
# --micro_batch 256: the pieces with which the README's demo figures (and their three seeds) were made;
# the default, auto, would run these small steps whole.
DEMO_TRAIN_ARGS = "--batch_size 6 --lr_patience 2 --stop_patience 4 --micro_batch 256"
MODELS = ("video", "audio", "method 4")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=runs.HelpFormatter)
    parser.add_argument("--data", default=str(TOP / "data" / "synthetic"), help="root of the demo data set")
    parser.add_argument("--games", type=int, nargs=3, default=[30, 10, 10], metavar=("TRAIN", "VALID", "TEST"),
                        help="games per split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--half_minutes", type=float, default=45.0,
                        help="length of the synthetic halves before stoppage time (shorter for quick checks)")
    parser.add_argument("--event_rate", type=float, default=1.0, help="scale of the synthetic event counts")
    parser.add_argument("--runs", default=str(TOP / "runs" / "demo"), help="folder of the demo's training runs")
    parser.add_argument("--results", default=str(TOP / "results" / "demo"), help="folder of the tables and plots")
    parser.add_argument("--train_args", default=DEMO_TRAIN_ARGS, help="ClassificationMinuteBased.py flags")
    parser.add_argument("--windows", type=int, nargs="+", default=[60, 20],
                        help="chunk lengths T (s) to train and spot; the first is the classification one")
    parser.add_argument("--max_epochs", type=int, nargs="+", default=[7, 5],
                        help="--max_epoch of the trainings at each T of --windows")
    parser.add_argument("--fresh", action="store_true", help="delete the demo's runs and results first")
    parser.add_argument("--summary_only", action="store_true", help="generate the data, print its summary, stop")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def print_summary(root: Path, config: synthetic.SyntheticConfig) -> None:
    """Print one line per split: games, halves, minutes, events per class, chunks, feature files."""
    print(f"Synthetic SoccerNet v1 at {root} (seed {config.seed}; not real data)")
    header = f"{'split':<6} {'games':>5} {'halves':>6} {'hours':>6} {'cards':>6} {'subs':>5} {'goals':>6} " \
             f"{'60s chunks':>10}  features"
    print(header)
    print("-" * len(header))
    for name, list_name in synthetic.list_names(config).items():
        split = dataset.Split(root / list_name)
        summary = split.summary(60)
        features = ", ".join(f"{f['file'][2:]} {f['shape'][0]}x{f['shape'][1]} {f['dtype']}"
                             for f in summary["features"].values())
        events = summary["events"]
        print(f"{name:<6} {summary['games']:>5} {summary['halves']:>6} "
              f"{summary['frames']['total'] / dataset.FRAMES_PER_SECOND / 3600:>6.1f} {events['card']:>6} "
              f"{events['subs']:>5} {events['goal']:>6} {summary['chunks']:>10}  {features} (first half)")


def demo_plans(windows: Sequence[int]) -> list[reproduce.Plan]:
    """One plan per T: video, audio and method 4 trained; late fusion 1 and 2 at the first T; all three
    spotted at the last T, method 4 at the others (the paper's Figure 2 compares the fusion models)."""
    plans = []
    for window in windows:
        models = MODELS + (("method 1", "method 2") if window == windows[0] else ())
        plan = reproduce.classification_plan("RVLAD", 64, (window,), models)
        plan.spottings = [t for t in plan.trainings if window == windows[-1] or t.architecture == "AudioVideoArchi5"]
        plans.append(plan)
    return plans


def findings(folders: dict, spotting: dict, windows: Sequence[int]) -> list[str]:
    """The paper's qualitative findings, checked on the demo's numbers."""
    first = windows[0]
    trained = {m: reproduce.Training(networks.TRAINED_MODELS[m], "RVLAD", 64, first) for m in MODELS}
    reports = {m: reproduce.test_report(folders, r) for m, r in trained.items()}
    mAP = {m: r["mAP"] for m, r in reports.items()}
    goal = {m: r["AP"]["goal"] for m, r in reports.items()}
    lines = [("fusion (method 4) above video above audio in classification mAP, T = %d s" % first,
              mAP["method 4"] > mAP["video"] > mAP["audio"],
              f"{100 * mAP['method 4']:.1f} > {100 * mAP['video']:.1f} > {100 * mAP['audio']:.1f}"),
             ("audio above video on goals",
              goal["audio"] > goal["video"], f"{100 * goal['audio']:.1f} > {100 * goal['video']:.1f}")]
    below = [c for c in dataset.EVENT_CLASSES
             if reports["method 4"]["AP"][c] < max(reports["video"]["AP"][c], reports["audio"]["AP"][c])]
    lines.append(("fusion at least as good as either stream on every class", not below,
                  ("below the better stream on " + ", ".join(below)) if below else
                  "on " + ", ".join(dataset.EVENT_CLASSES)))
    best = {}
    for (pooling, window), (group, results) in spotting.items():
        for run in group:
            if run.architecture == "AudioVideoArchi5":
                summary = results["models"][run.prefix]["paper"]["best"]
                best[window] = max(summary[m]["average_mAP"] for m in candidates.CANDIDATE_METHODS)
    if len(best) > 1:
        short, long_ = min(best), max(best)
        lines.append((f"T = {short} s spotting better than T = {long_} s (method 4, best candidate method)",
                      best[short] > best[long_], f"{100 * best[short]:.1f} vs {100 * best[long_]:.1f} Average-mAP"))
    return [f"  [{'yes' if ok else 'NO '}] {text}: {detail}" for text, ok, detail in lines]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if len(args.max_epochs) != len(args.windows):
        parser.error("--max_epochs needs one value per --windows value")
    config = synthetic.SyntheticConfig(games=tuple(args.games), seed=args.seed, half_minutes=args.half_minutes,
                                       event_rate=args.event_rate)
    if args.half_minutes < 45:
        config.stoppage_minutes = (0.0, 0.5)
    started = time.perf_counter()
    print(f"== Step 1/5: synthetic SoccerNet demo set ({sum(config.games)} games, "
          f"about {synthetic.disk_bytes(config) / 1e9:.1f} GB) ==", flush=True)
    try:
        root = synthetic.ensure(args.data, config, progress=not args.no_progress)
        print_summary(root, config)
    except (dataset.DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return runs.EXIT_BAD_INPUT
    if args.summary_only:
        return 0
    run_root, results = Path(args.runs), Path(args.results)
    if args.fresh:
        shutil.rmtree(run_root, ignore_errors=True)
        shutil.rmtree(results, ignore_errors=True)
    names = synthetic.list_names(config)
    s = reproduce.Settings(str(root / names["Train"]), str(root / names["Valid"]), str(root / names["Test"]),
                           None, run_root, run_root / "predictions", results, train_extra=tuple(shlex.split(args.train_args)),
                           no_progress=args.no_progress)
    plans = demo_plans(args.windows)
    plan, folders = reproduce.Plan(), {}
    for part in plans:
        plan.add(part)
    print(f"\n== Steps 2-4/5: train {len(plan.trainings)} models (NetRVLAD k = 64; T = "
          f"{', '.join(map(str, args.windows))} s), late fusion 1 and 2, spot the {config.games[2]} test games ==",
          flush=True)
    for part, window, epochs in zip(plans, args.windows, args.max_epochs):
        extra = s.train_extra + ("--max_epoch", str(epochs))
        folders.update(reproduce.execute(part, dataclasses.replace(s, train_extra=extra), dry_run=False))
    print("\n== Step 5/5: evaluate the spotting, tables beside the paper's, plots ==", flush=True)
    spotting = reproduce.evaluate_spotting(plan, s, dry_run=False)
    fusion_prefixes = [r.prefix for r in plan.spottings if r.architecture == "AudioVideoArchi5"]
    reproduce.run_command(reproduce.evaluation_command(fusion_prefixes, s, results / "figure2"))

    header = (f"DEMO ON SYNTHETIC DATA (not SoccerNet: compare the orderings, not the values); {sum(config.games)} "
              f"games; shortened schedule '{args.train_args}', --max_epoch "
              + ", ".join(f"{e} at T = {w} s" for w, e in zip(args.windows, args.max_epochs)))
    first = args.windows[0]
    tables = [("1", *reproduce.table1(folders, s, windows=(first,),
                                      models=("video", "audio", "method 1", "method 2", "method 4"),
                                      title="Table 1 layout: classification mAP (%), NetRVLAD k = 64")),
              ("2/3", *reproduce.table2(folders, s, confusion_windows=(first,), window=first)),
              ("5", *reproduce.table5(spotting))]
    print(f"\n{header}")
    for name, text, values in tables:
        reproduce.write_table(s, name, text, values, header)
    checks = findings(folders, spotting, args.windows)
    print("The paper's qualitative findings on this synthetic data:\n" + "\n".join(checks))
    dataset.write_text_atomic(results / "findings.txt", "\n".join(checks) + "\n")

    by_model = {m: folders[reproduce.Training(networks.TRAINED_MODELS[m], "RVLAD", 64, first).prefix]
                for m in MODELS}
    plots = [reproduce.plot_training_curves({f"{m}, T = {first} s": run for m, run in by_model.items()},
                                            results / "figure3_training_curves.png",
                                            "Train and validation mAP per epoch (synthetic data)"),
             reproduce.plot_confusion(runs.read_test_report(by_model["method 4"]),
                                      results / "confusion_method4.png",
                                      f"Method 4, T = {first} s: test confusion matrix (synthetic data)")]
    game = dataset.read_game_list(s.testing)[0]
    timeline = outputs.timeline_file(s.predictions, game, fusion_prefixes[-1])
    if timeline.is_file():
        plots.append(Path(shutil.copyfile(timeline, results / "timeline_method4.png")))
    plots += sorted((results / "figure2").glob("mAP_vs_delta_*.png"))
    print("Plots:\n" + "\n".join(f"  {p}" for p in plots))
    print(f"Tables: {results}/table_*.txt; runs: {run_root}; demo done in {(time.perf_counter() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
