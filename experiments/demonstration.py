"""The demo's own parts (experiments/demo.py runs it): the summary of its synthetic set, its plans (the
paper's experiments, small) and the paper's qualitative findings checked on its numbers."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import dataset
from base import classes
from evaluation import candidates
from experiments.plan import Plan, Training, classification_plan
from experiments.synthetic import SyntheticConfig, list_names
from experiments.tables import test_report
from networks.names import TRAINED_MODELS

MODELS = ("video", "audio", "method 4")


def print_summary(root: Path, config: SyntheticConfig) -> None:
    """Print one line per split: games, halves, minutes, events per class, chunks, feature files."""
    print(f"Synthetic SoccerNet v1 at {root} (seed {config.seed}; not real data)")
    header = f"{'split':<6} {'games':>5} {'halves':>6} {'hours':>6} {'cards':>6} {'subs':>5} {'goals':>6} " \
             f"{'60s chunks':>10}  features"
    print(header)
    print("-" * len(header))
    for name, list_name in list_names(config).items():
        split = dataset.Split(root / list_name)
        summary = split.summary(60)
        features = ", ".join(f"{f['file'][2:]} {f['shape'][0]}x{f['shape'][1]} {f['dtype']}"
                             for f in summary["features"].values())
        events = summary["events"]
        print(f"{name:<6} {summary['games']:>5} {summary['halves']:>6} "
              f"{summary['frames']['total'] / dataset.FRAMES_PER_SECOND / 3600:>6.1f} {events['card']:>6} "
              f"{events['subs']:>5} {events['goal']:>6} {summary['chunks']:>10}  {features} (first half)")


def demo_plans(windows: Sequence[int]) -> list[Plan]:
    """One plan per T: video, audio and method 4 trained; late fusion 1 and 2 at the first T; all three
    spotted at the last T, method 4 at the others (the paper's Figure 2 compares the fusion models)."""
    plans = []
    for window in windows:
        models = MODELS + (("method 1", "method 2") if window == windows[0] else ())
        plan = classification_plan("RVLAD", 64, (window,), models)
        plan.spottings = [t for t in plan.trainings if window == windows[-1] or t.architecture == "AudioVideoArchi5"]
        plans.append(plan)
    return plans


def findings(folders: dict, spotting: dict, windows: Sequence[int]) -> list[str]:
    """The paper's qualitative findings, checked on the demo's numbers."""
    first = windows[0]
    trained = {m: Training(TRAINED_MODELS[m], "RVLAD", 64, first) for m in MODELS}
    reports = {m: test_report(folders, r) for m, r in trained.items()}
    mAP = {m: r["mAP"] for m, r in reports.items()}
    goal = {m: r["AP"]["goal"] for m, r in reports.items()}
    lines = [("fusion (method 4) above video above audio in classification mAP, T = %d s" % first,
              mAP["method 4"] > mAP["video"] > mAP["audio"],
              f"{100 * mAP['method 4']:.1f} > {100 * mAP['video']:.1f} > {100 * mAP['audio']:.1f}"),
             ("audio above video on goals",
              goal["audio"] > goal["video"], f"{100 * goal['audio']:.1f} > {100 * goal['video']:.1f}")]
    below = [c for c in classes.V1.event_classes
             if reports["method 4"]["AP"][c] < max(reports["video"]["AP"][c], reports["audio"]["AP"][c])]
    lines.append(("fusion at least as good as either stream on every class", not below,
                  ("below the better stream on " + ", ".join(below)) if below else
                  "on " + ", ".join(classes.V1.event_classes)))
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
