"""The demo's SoccerNet-v2 section (experiments/demo.py runs it last): the paper's audio + video fusion on the
17 classes of SoccerNet-v2, on a small synthetic v2 set. Video, audio and method 4 (AudioVideoArchi5, NetRVLAD
k = 64) are trained at T = 20 s with `--classes v2` and spotted; their results_spotting.json files are scored
by compute_mAP.py (the official metric, tight and loose) and by the installed `soccernet` package's own
evaluator on the very same files, side by side (kept in results/v2/official_scores.json: a rerun on unchanged
files reads them); then whether fusion beats both streams, on the mean and on how many classes.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import dataset
from base import classes, files
from evaluation.outputs import RESULTS_SPOTTING, results_spotting_dir
from experiments.commands import Settings, evaluation_command, execute, run_command
from experiments.official import official_scores_kept
from experiments.plan import classification_plan
from experiments.synthetic import SyntheticConfig, list_names

MODELS = ("video", "audio", "method 4")
WINDOW = 20
DELTA_SETS = ("tight", "loose")  # tight first: the headline of SoccerNet-v2's challenge
OFFICIAL_KEPT = "official_scores.json"  # the package's figures, by what they depend on (official.job_key)


def print_summary(root: Path, config: SyntheticConfig) -> None:
    """One line per split: games, halves, events, the share not shown, the three most and least frequent classes."""
    print(f"Synthetic SoccerNet-v2 (17 classes) at {root} (seed {config.seed}; not real data)")
    for name, list_name in list_names(config).items():
        split = dataset.Split(root / list_name, classes=classes.V2)
        summary = split.summary(WINDOW)
        events = summary["events"]
        hidden = sum(not e.visible for h in split.halves for e in h.events)
        ranked = sorted(events, key=lambda c: -events[c])
        print(f"{name:<6} {summary['games']:>3} games, {sum(events.values()):>5} events ({hidden} not shown); "
              f"most {', '.join(f'{c} {events[c]}' for c in ranked[:3])}; "
              f"least {', '.join(f'{c} {events[c]}' for c in ranked[-3:])}")


def run_section(root: Path, config: SyntheticConfig, s: Settings, max_epoch: int) -> tuple[str, dict, list[str]]:
    """Train, spot and score; returns the table text, its values and the findings."""
    s = dataclasses.replace(s, classes="v2", train_extra=s.train_extra + ("--max_epoch", str(max_epoch)))
    plan = classification_plan("RVLAD", 64, (WINDOW,), MODELS)
    plan.spottings = list(plan.trainings)
    execute(plan, s, dry_run=False)
    prefixes = {model: run.prefix for model, run in zip(MODELS, plan.trainings)}
    ours = {}
    for model, prefix in prefixes.items():  # the JSON files ClassificationSecondBased.py wrote, as given
        output = s.results / f"spotting_{prefix}"
        run_command(evaluation_command([prefix], s, output) + ["--results_spotting", RESULTS_SPOTTING,
                                                                "--metric", "soccernet", "--no_plots"])
        ours[model] = files_results(output, prefix)
    keys = [(model, metric) for model in prefixes for metric in DELTA_SETS]
    official = dict(zip(keys, official_scores_kept([  # a rerun on the same files reads the first run's figures
        dict(list_path=s.testing, predictions=results_spotting_dir(s.predictions, prefixes[model]),
             spotted=classes.V2, metric=metric) for model, metric in keys], s.results / OFFICIAL_KEPT)))
    return table(ours, official) + (findings(ours, official),)


def files_results(output: Path, prefix: str) -> dict:
    """compute_mAP.py's figures of one model's JSON files: {delta set: {"a_mAP", "per_class", "shown", "unshown"}}."""
    results = json.loads((output / "results.json").read_text())["models"][prefix]
    out = {}
    for name in DELTA_SETS:
        block = results if name == "loose" else results["tight"]  # the tight set beside the loose one
        best = block["soccernet"]["best"]["spots"]
        out[name] = {"a_mAP": best["average_mAP"], "per_class": [best["average_AP"][c] for c in classes.V2.event_classes],
                     "shown": best.get("average_mAP_shown"), "unshown": best.get("average_mAP_unshown"),
                     "events": [results["events"][c] for c in classes.V2.event_classes]}
    return out


def table(ours: dict, official: dict) -> tuple[str, dict]:
    """Tight and loose Average-mAP of each model, this project's evaluator beside the package's."""
    head = (f"{'model':<10}" + "".join(f"{f'{d} ours':>12}{'official':>10}" for d in DELTA_SETS)
            + f"{'tight shown':>13}{'unshown':>9}")
    rows = ["SoccerNet-v2 classes (17), synthetic v2 set, T = 20 s, NetRVLAD k = 64: official metric, "
            "Average-mAP (%) of ClassificationSecondBased.py's results_spotting.json files", head, "-" * len(head)]
    data = {}
    for model in ours:
        line = f"{model:<10}"
        for name in DELTA_SETS:
            mine, theirs = ours[model][name]["a_mAP"], official[(model, name)]["a_mAP"]
            line += f"{100 * mine:>12.2f}{100 * theirs:>10.2f}"
            data[f"{model} {name}"] = {"ours": mine, "official": theirs}
        shown, unshown = official[(model, "tight")]["a_mAP_visible"], official[(model, "tight")]["a_mAP_unshown"]
        line += f"{100 * shown:>13.2f}{100 * unshown:>9.2f}"
        data[f"{model} tight shown/unshown"] = [shown, unshown]
        rows.append(line)
    return "\n".join(rows), data


def findings(ours: dict, official: dict) -> list[str]:
    """Whether the two evaluators agree, and whether fusion beats both streams (tight, the mean and per class)."""
    worst = max(abs(ours[m][d]["a_mAP"] - official[(m, d)]["a_mAP"]) for m in ours for d in DELTA_SETS)
    lines = [("this evaluator equals the official one on every model and delta set (within 1e-6)", worst <= 1e-6,
              f"largest difference {worst:.1e}")]
    tight = {m: ours[m]["tight"] for m in ours}
    lines.append(("fusion (method 4) above both streams in tight Average-mAP",
                  tight["method 4"]["a_mAP"] > max(tight["video"]["a_mAP"], tight["audio"]["a_mAP"]),
                  ", ".join(f"{m} {100 * tight[m]['a_mAP']:.1f}" for m in MODELS)))
    scored = [c for c, n in enumerate(tight["video"]["events"]) if n]  # the classes the test games hold
    beats = [classes.V2.event_classes[c] for c in scored
             if tight["method 4"]["per_class"][c] > max(tight["video"]["per_class"][c], tight["audio"]["per_class"][c])]
    lines.append((f"fusion above both streams on {len(beats)} of the {len(scored)} classes the test games hold "
                  "(tight), more than half", 2 * len(beats) > len(scored), ", ".join(beats) or "none"))
    return [f"  [{'yes' if ok else 'NO '}] {text}: {detail}" for text, ok, detail in lines]


def write(results: Path, text: str, data: dict, found: list[str], header: str) -> None:
    results.mkdir(parents=True, exist_ok=True)
    files.write_text_atomic(results / "table_v2.txt", f"{header}\n\n{text}\n\n" + "\n".join(found) + "\n")
    files.write_json_atomic(results / "table_v2.json", data)
