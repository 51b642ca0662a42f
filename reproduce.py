"""Reproduce the paper's tables: train, spot, evaluate, and print each table beside the paper's numbers.

    .venv/bin/python reproduce.py --table 5 --dry-run                 # the commands for Table 5
    .venv/bin/python reproduce.py --table all                         # everything, on the synthetic set
    .venv/bin/python reproduce.py --table 1 --SoccerNet_path /data/SoccerNet \\
        --training listgame_Train_300.npy --validation listgame_Valid_100.npy --testing listgame_Test_100.npy

Tables (Vanderplaetse & Dupont 2020): 1, classification mAP of video, audio and fusion methods 1-7 with
NetRVLAD k=64 at T = 60 and 30 s; 2/3, per-class AP of video, audio and method 4 and the confusion
matrices of method 4 (the same runs); 4, NetVLAD k=512 at T = 60 and 20 s; 5, spotting Average-mAP of
video, audio and method 4 for NetRVLAD 60 s, NetVLAD 60 s and NetVLAD 20 s by candidate method.

Every step is a plain command of the project's scripts (`--dry-run` prints them; a user can type them).
They run in this process, one after the other. A training run whose run folder holds a test report
is skipped, one interrupted is resumed (`--resume`), spotting skips finished games, so an interrupted
grid resumes where it stopped. Results: `<results>/table_<n>.txt` and `.json`.

By default the data is the synthetic SoccerNet (`data/synthetic`, generated if missing); on real data
give the lists and `--SoccerNet_path`. Training uses the paper's settings unless `--max_epoch` etc.
say otherwise (the demo uses shorter schedules). NetVLAD k=512 needs a GPU to be practical.
"""
from __future__ import annotations

import argparse
import json
import runpy
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import dataset
import networks
import runs
from evaluation import candidates

TOP = Path(__file__).resolve().parent

# The paper's numbers (Vanderplaetse & Dupont 2020, Tables 1 to 5).
PAPER_TABLE1 = {  # model -> {T: mAP %}
    "video": {60: 66.0, 30: 58.7}, "audio": {60: 50.6, 30: 43.7}, "method 1": {60: 68.4, 30: 63.7},
    "method 2": {60: 72.6, 30: 67.3}, "method 3": {60: 73.4, 30: 69.3}, "method 4": {60: 73.7, 30: 68.8},
    "method 5": {60: 72.8, 30: 68.7}, "method 6": {60: 64.1, 30: 59.6}, "method 7": {60: 64.2, 30: 58.1}}
PAPER_TABLE2 = {  # class -> (video, audio, method 4) AP %
    "background": (97.6, 96.7, 98.0), "card": (60.5, 19.2, 63.9), "subs": (69.8, 55.1, 72.6),
    "goal": (67.7, 77.3, 84.5)}
PAPER_TABLE3 = {60: [[7673, 95, 80, 42], [178, 243, 13, 3], [175, 9, 310, 11], [91, 1, 2, 215]],
                30: [[16768, 97, 116, 43], [224, 212, 5, 0], [217, 11, 305, 4], [114, 0, 0, 209]]}
PAPER_TABLE4 = {"video": {60: 67.5, 20: 56.6}, "audio": {60: 46.8, 20: 35.9}, "method 4": {60: 75.2, 20: 75.0}}
PAPER_TABLE5 = {  # (pooling, T) -> stream -> (seg. max, seg. centre, NMS) Average-mAP %
    ("RVLAD", 60): {"video": (30.8, 41.9, 30.2), "audio": (21.8, 30.3, 22.1), "method 4": (34.0, 47.6, 33.4)},
    ("VLAD", 60): {"video": (29.6, 43.4, 29.0), "audio": (19.9, 27.1, 19.5), "method 4": (32.3, 48.7, 31.8)},
    ("VLAD", 20): {"video": (49.2, 50.2, 49.4), "audio": (30.0, 31.0, 30.0), "method 4": (54.0, 56.0, 53.6)}}
# Architecture -> table row ("video", "audio", "method 3".."method 7").
DEFAULT_SEED = 1234  # ClassificationMinuteBased.py's --seed default
STREAM_OF_ARCHITECTURE = {architecture: model for model, architecture in networks.TRAINED_MODELS.items()}


@dataclass(frozen=True)
class Training:
    """One training run of ClassificationMinuteBased.py."""

    architecture: str
    pooling: str
    k: int
    window: int
    seed: int | None = None  # None: the training script's default seed, and no seed in the name

    @property
    def prefix(self) -> str:
        name = f"{self.pooling.lower()}{self.k}-{self.window}s-{self.architecture}"
        return name if self.seed is None else f"{name}-seed{self.seed}"

    def with_seed(self, seed: int | None) -> "Training":
        return Training(self.architecture, self.pooling, self.k, self.window, seed)


@dataclass
class Plan:
    """What a table needs: training runs, late fusions, spotting outputs."""

    trainings: list[Training] = field(default_factory=list)
    late_fusions: list[tuple[Training, Training, int]] = field(default_factory=list)
    spottings: list[Training] = field(default_factory=list)

    def add(self, other: "Plan") -> None:
        for name in ("trainings", "late_fusions", "spottings"):
            for item in getattr(other, name):
                if item not in getattr(self, name):
                    getattr(self, name).append(item)

    def with_seeds(self, seeds: Sequence[int | None]) -> "Plan":
        """The same plan once per training seed (late fusion pairs the video and audio runs of a seed)."""
        plan = Plan()
        for seed in seeds:
            plan.trainings += [t.with_seed(seed) for t in self.trainings]
            plan.late_fusions += [(v.with_seed(seed), a.with_seed(seed), m) for v, a, m in self.late_fusions]
            plan.spottings += [t.with_seed(seed) for t in self.spottings]
        return plan


def classification_plan(pooling: str, k: int, windows: Sequence[int], models: Sequence[str]) -> Plan:
    plan = Plan()
    for window in windows:
        trained = {m: Training(networks.TRAINED_MODELS[m], pooling, k, window) for m in models if m in networks.TRAINED_MODELS}
        plan.trainings += list(trained.values())
        for method in networks.LATE_FUSION:
            if f"method {method}" in models:
                plan.late_fusions.append((trained["video"], trained["audio"], method))
    return plan


def table_plan(table: str) -> Plan:
    if table == "1":
        return classification_plan("RVLAD", 64, (60, 30), list(PAPER_TABLE1))
    if table == "2/3":
        return classification_plan("RVLAD", 64, (60, 30), ("video", "audio", "method 4"))
    if table == "4":
        return classification_plan("VLAD", 512, (60, 20), ("video", "audio", "method 4"))
    if table == "5":
        plan = Plan()
        for (pooling, window) in PAPER_TABLE5:
            k = 64 if pooling == "RVLAD" else 512
            part = classification_plan(pooling, k, (window,), ("video", "audio", "method 4"))
            part.spottings = list(part.trainings)
            plan.add(part)
        return plan
    raise ValueError(f"unknown table {table}")


TABLES = ("1", "2/3", "4", "5")


# ------------------------------------------------------------------------------------------------
# Commands


@dataclass
class Settings:
    training: str
    validation: str
    testing: str
    data_root: str | None
    runs: Path
    predictions: Path
    results: Path
    pca: bool = True
    train_extra: tuple[str, ...] = ()
    spot_extra: tuple[str, ...] = ()
    no_progress: bool = False
    seeds: tuple[int | None, ...] = (None,)  # the training seeds of every configuration (`--seeds`)


def training_command(run: Training, s: Settings, resume: Path | None = None) -> list[str]:
    if resume is not None:
        return ["ClassificationMinuteBased.py", "--resume", str(resume)] + (["--no_progress"] if s.no_progress else [])
    argv = ["ClassificationMinuteBased.py", "--architecture", run.architecture, "--training", s.training,
            "--validation", s.validation, "--testing", s.testing, "--featuresVideo", "ResNET",
            "--featuresAudio", "VGGish"] + (["--PCA"] if s.pca else []) + [
            "--network", run.pooling, "--VLAD_k", str(run.k), "--WindowSize", str(run.window),
            "--tflog", str(s.runs), "--outputPrefix", run.prefix] + (
            [] if run.seed is None else ["--seed", str(run.seed)])
    if s.data_root:
        argv += ["--SoccerNet_path", s.data_root]
    return argv + list(s.train_extra) + (["--no_progress"] if s.no_progress else [])


def spotting_command(run: Training, s: Settings, run_dir: Path | str) -> list[str]:
    argv = ["ClassificationSecondBased.py", "--model", str(run_dir), "--testing", s.testing,
            "--output", run.prefix, "--output_dir", str(s.predictions)]
    if s.data_root:
        argv += ["--SoccerNet_path", s.data_root]
    return argv + list(s.spot_extra) + (["--no_progress"] if s.no_progress else [])


def fusion_command(video: Path | str, audio: Path | str, method: int, output: Path) -> list[str]:
    return ["fusion.py", "--method", str(method), "--video_run", str(video), "--audio_run", str(audio),
            "--output", str(output)]


def evaluation_command(prefixes: Sequence[str], s: Settings, output: Path) -> list[str]:
    argv = ["compute_mAP.py", "--testing", s.testing, "--predictions", str(s.predictions), "--prefix", *prefixes,
            "--output", str(output)]
    if s.data_root:
        argv += ["--SoccerNet_path", s.data_root]
    return argv


def show(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in [".venv/bin/python"] + list(argv))


def run_command(argv: Sequence[str]) -> None:
    """Run one script command in this process, as `python SCRIPT ARGS...` would (the script runs as
    `__main__`; it is not imported as a module, and TensorFlow is started only once)."""
    script = TOP / argv[0]
    print(f"\n$ {show(argv)}", flush=True)
    saved, sys.argv = sys.argv, [str(script), *argv[1:]]
    try:
        runpy.run_path(str(script), run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code
    finally:
        sys.argv = saved
    if code:
        raise SystemExit(f"error: the command above failed with exit code {code}")


# ------------------------------------------------------------------------------------------------
# Executing a plan


def execute(plan: Plan, s: Settings, dry_run: bool, runner: Callable[[Sequence[str]], None] = run_command) -> dict:
    """Train, fuse, spot. Returns {training prefix: run folder} (placeholders in a dry run)."""
    folders: dict[str, Path] = {}
    for run in plan.trainings:
        folder, finished = runs.find_run(s.runs, run.prefix)
        if dry_run:
            folders[run.prefix] = folder or Path(s.runs) / f"{run.prefix}_<date>_<time>"
            if finished:
                print(f"# done: {show(training_command(run, s))}")
            else:  # an interrupted run resumes from its folder
                print(show(training_command(run, s, resume=folder)))
            continue
        if not finished:
            runner(training_command(run, s, resume=folder))
            folder, finished = runs.find_run(s.runs, run.prefix)
            if not finished:
                raise SystemExit(f"error: {run.prefix}: the training did not finish")
        else:
            print(f"(done) {run.prefix}: {folder}")
        folders[run.prefix] = folder
    for video, audio, method in plan.late_fusions:
        output = s.results / f"late_fusion_{method}_{video.prefix}.json"
        argv = fusion_command(folders[video.prefix], folders[audio.prefix], method, output)
        if dry_run:
            print(show(argv))
        elif not output.is_file():
            runner(argv)
    for run in plan.spottings:
        argv = spotting_command(run, s, folders[run.prefix])
        if dry_run:
            print(show(argv))
        else:
            runner(argv)
    return folders


def evaluate_spotting(plan: Plan, s: Settings, dry_run: bool, runner=run_command) -> dict:
    """compute_mAP.py once per (pooling, T) group: video, audio and method 4 in one table."""
    results = {}
    groups: dict[tuple[str, int], list[Training]] = {}
    for run in plan.spottings:
        groups.setdefault((run.pooling, run.window), []).append(run)
    for (pooling, window), group in groups.items():
        output = s.results / f"spotting_{pooling.lower()}_{window}s"
        argv = evaluation_command([r.prefix for r in group], s, output)
        if dry_run:
            print(show(argv))
            continue
        runner(argv)
        results[(pooling, window)] = (group, json.loads((output / "results.json").read_text()))
    return results


# ------------------------------------------------------------------------------------------------
# Tables


def test_report(folders: dict, run: Training) -> dict:
    return runs.read_test_report(folders[run.prefix])


def pct(value: float | None) -> str:
    return "  -  " if value is None else f"{100 * value:5.1f}"


def cell(values: Sequence[float]) -> str:
    """A table cell: the value in %, or mean ± standard deviation (n - 1) over the seeds."""
    import statistics

    values = [v for v in values if v is not None]
    if len(values) <= 1:
        return pct(values[0] if values else None)
    return f"{100 * statistics.mean(values):.1f}±{100 * statistics.stdev(values):.1f}"


def datum(values: Sequence[float]):
    """A table value for the JSON file: the value, or {mean, std, values} over the seeds."""
    import statistics

    values = [v for v in values if v is not None]
    if len(values) <= 1:
        return values[0] if values else None
    return {"mean": statistics.mean(values), "std": statistics.stdev(values), "values": values}


def seeds_note(s: Settings) -> str:
    return "" if len(s.seeds) == 1 else f"; mean ± standard deviation over seeds {', '.join(map(str, s.seeds))}"


def table1(folders: dict, s: Settings, windows=(60, 30), pooling="RVLAD", k=64, paper=PAPER_TABLE1,
           title="Table 1: classification mAP (%), NetRVLAD k = 64", models=None) -> tuple[str, dict]:
    width = 12 if len(s.seeds) == 1 else 16
    rows = [title + seeds_note(s), f"{'model':<10}" + "".join(f"{f'T={w}s ours':>{width}}{'paper':>8}" for w in windows)]
    data = {}
    for model in models or paper:
        line = f"{model:<10}"
        for window in windows:
            values = []
            for seed in s.seeds:
                if model in networks.TRAINED_MODELS:
                    run = Training(networks.TRAINED_MODELS[model], pooling, k, window, seed)
                    values.append(test_report(folders, run)["mAP"])
                else:
                    method = int(model.split()[1])
                    video = Training("VideoNetwork", pooling, k, window, seed)
                    path = s.results / f"late_fusion_{method}_{video.prefix}.json"
                    values.append(json.loads(path.read_text())["mAP"] if path.is_file() else None)
            data[f"{model} T={window}"] = datum(values)
            theirs = paper[model].get(window)
            line += f"{cell(values):>{width}}" + (f"{'-':>8}" if theirs is None else f"{theirs:>8.1f}")
        rows.append(line)
    return "\n".join(rows), data


def table2(folders: dict, s: Settings, confusion_windows=(60, 30), window=60) -> tuple[str, dict]:
    models = ("video", "audio", "method 4")
    reports = {m: [test_report(folders, Training(networks.TRAINED_MODELS[m], "RVLAD", 64, window, seed))
                   for seed in s.seeds] for m in models}
    width = 16 if len(s.seeds) == 1 else 20
    rows = [f"Table 2: per-class AP (%), NetRVLAD k = 64, T = {window} s (ours / paper at T = 60 s)" + seeds_note(s),
            f"{'class':<11}" + "".join(f"{m:>{width}}" for m in models)]
    data = {}
    for name in dataset.CLASSES:
        line = f"{name:<11}"
        for i, model in enumerate(models):
            values = [r["AP"][name] for r in reports[model]]
            data[f"{model} {name}"] = datum(values)
            line += f"{cell(values):>{width - 7}} / {PAPER_TABLE2[name][i]:4.1f}"
        rows.append(line)
    seed = s.seeds[0]
    for window in confusion_windows:
        report = test_report(folders, Training("AudioVideoArchi5", "RVLAD", 64, window, seed))
        rows += ["", f"Table 3: confusion matrix of method 4, T = {window} s (rows: ground truth; ours | paper"
                     f"{'' if window in PAPER_TABLE3 else ' at T = 60 s'})"
                     + ("" if seed is None else f"; ours: seed {seed}")]
        for name, ours, theirs in zip(dataset.CLASS_TITLES, report["confusion_matrix"],
                                      PAPER_TABLE3.get(window, PAPER_TABLE3[60])):
            rows.append(f"{name:<11}" + "".join(f"{v:>7}" for v in ours) + "  |" + "".join(f"{v:>7}" for v in theirs))
        data[f"confusion T={window}"] = report["confusion_matrix"]
    return "\n".join(rows), data


def table4(folders: dict, s: Settings) -> tuple[str, dict]:
    return table1(folders, s, windows=(60, 20), pooling="VLAD", k=512, paper=PAPER_TABLE4,
                  title="Table 4: classification mAP (%), NetVLAD k = 512")


def table5(spotting: dict, s: Settings | None = None) -> tuple[str, dict]:
    seeds = s.seeds if s is not None else (None,)
    width = 16 if len(seeds) == 1 else 20
    rows = ["Table 5: spotting Average-mAP (%) by candidate method, paper's metric at each method's best "
            "threshold (ours / paper)" + (seeds_note(s) if s is not None else ""),
            f"{'model':<16}{'stream':<10}" + "".join(f"{m:>{width}}" for m in ("seg. max", "seg. centre", "NMS"))]
    data, missing = {}, []
    for (pooling, window), (group, results) in spotting.items():
        if (pooling, window) not in PAPER_TABLE5:
            missing.append(f"Net{pooling} {window} s")
        streams: dict[str, list[list[float]]] = {}
        for run in group:  # every seed of each stream
            summary = results["models"][run.prefix]["paper"]["best"]
            streams.setdefault(STREAM_OF_ARCHITECTURE[run.architecture], []).append(
                [summary[m]["average_mAP"] for m in candidates.CANDIDATE_METHODS])
        for stream, per_seed in streams.items():
            by_method = list(zip(*per_seed))
            paper = PAPER_TABLE5.get((pooling, window), {}).get(stream, (None,) * 3)
            data[f"{pooling}{window} {stream}"] = {m: datum(v) for m, v in zip(candidates.CANDIDATE_METHODS, by_method)}
            rows.append(f"{f'Net{pooling} {window} s':<16}{stream:<10}"
                        + "".join(f"{cell(v):>{width - 7}} / " + ("  - " if p is None else f"{p:4.1f}")
                                  for v, p in zip(by_method, paper)))
    if missing:
        rows.append(f"(the paper has no row for {', '.join(missing)}; its T = 20 s rows are NetVLAD k = 512: "
                    + ", ".join(f"{stream} {max(v):.1f}" for stream, v in PAPER_TABLE5[("VLAD", 20)].items())
                    + " at the best method)")
    return "\n".join(rows), data


# ------------------------------------------------------------------------------------------------
# Plots


def _save(figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return dataset.write_atomic(path, lambda temporary: figure.savefig(temporary, format="png", dpi=110,
                                                                           bbox_inches="tight"))
    finally:
        plt.close(figure)


def plot_training_curves(curves: dict[str, Path], path: Path, title: str) -> Path:
    """The paper's Figure 3: train and validation mAP per epoch of each run, learning-rate steps marked
    (from the runs' metrics.csv)."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), sharey=True, squeeze=False)
    for axis, (label, run) in zip(axes[0], curves.items()):
        with open(run / runs.METRICS_CSV, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        epochs = [int(r["epoch"]) for r in rows]
        axis.plot(epochs, [100 * float(r["train_mAP"]) for r in rows], label="train (dropout on)")
        axis.plot(epochs, [100 * float(r["valid_mAP"]) for r in rows], label="validation")
        for r in rows:
            if "decay" in r["action"]:
                axis.axvline(int(r["epoch"]) + 0.5, color="grey", ls="--", lw=1)
        best = max(rows, key=lambda r: float(r["valid_mAP"]))
        axis.plot([int(best["epoch"])], [100 * float(best["valid_mAP"])], "k*", ms=9, label="best (tested)")
        axis.set_title(label, fontsize=9)
        axis.set_xlabel("epoch (dashed: learning rate / 10)")
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("mAP (%)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


def plot_confusion(report: dict, path: Path, title: str) -> Path:
    """A test report's confusion matrix (rows ground truth), counts and row percentages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    matrix = np.asarray(report["confusion_matrix"], float)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    names = dataset.CLASS_TITLES
    figure, axis = plt.subplots(figsize=(5, 4.3))
    axis.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(4):
        for j in range(4):
            axis.text(j, i, f"{int(matrix[i, j])}\n{100 * share[i, j]:.0f}%", ha="center", va="center",
                      fontsize=8, color="white" if share[i, j] > 0.6 else "black")
    axis.set_xticks(range(4), names)
    axis.set_yticks(range(4), names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("ground truth")
    axis.set_title(title, fontsize=9)
    return _save(figure, path)


def write_table(s: Settings, name: str, text: str, data: dict, header: str) -> None:
    """Save a table (text with the header, and its values as JSON) and print it without the header."""
    s.results.mkdir(parents=True, exist_ok=True)
    dataset.write_text_atomic(s.results / f"table_{name.replace('/', '_')}.txt", f"{header}\n\n{text}\n")
    dataset.write_json_atomic(s.results / f"table_{name.replace('/', '_')}.json", data)
    print(f"\n{text}")


# ------------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=runs.HelpFormatter)
    parser.add_argument("--table", choices=TABLES + ("2", "3", "all"), default="all", help="which table")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--SoccerNet_path", default=None, help="root of real SoccerNet data (default: synthetic)")
    parser.add_argument("--training", default=None, help="training list (default: the synthetic set's)")
    parser.add_argument("--validation", default=None, help="validation list")
    parser.add_argument("--testing", default=None, help="test list")
    parser.add_argument("--synthetic", default=str(TOP / "data" / "synthetic"),
                        help="root of the synthetic set used when no real data is given")
    parser.add_argument("--runs", default=str(TOP / "runs" / "reproduce"), help="folder of the training runs")
    parser.add_argument("--predictions", default=str(TOP / "runs" / "reproduce" / "predictions"),
                        help="folder of the spotting outputs")
    parser.add_argument("--results", default=str(TOP / "results" / "reproduce"), help="folder of the tables")
    parser.add_argument("--train_args", default="", help="extra ClassificationMinuteBased.py flags, e.g. '--max_epoch 20'")
    parser.add_argument("--spot_args", default="", help="extra ClassificationSecondBased.py flags")
    parser.add_argument("--seeds", type=runs.argument_type(positive_int, "count"), default=1,
                        help="train each configuration with N seeds (1234, 1235, ...; run names end in -seed<S>) "
                             "and print mean ± standard deviation; 1: one run each, with the training script's own seed")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def settings_from_args(args) -> Settings:
    if args.SoccerNet_path or args.training:
        lists = [args.training or str(TOP / "listgame_Train_300.npy"),
                 args.validation or str(TOP / "listgame_Valid_100.npy"),
                 args.testing or str(TOP / "listgame_Test_100.npy")]
        root = args.SoccerNet_path
    else:
        import synthetic

        config = synthetic.SyntheticConfig()
        names = synthetic.list_names(config)
        lists = [str(Path(args.synthetic) / names[k]) for k in ("Train", "Valid", "Test")]
        root = None
    return Settings(lists[0], lists[1], lists[2], root, Path(args.runs), Path(args.predictions), Path(args.results),
                    train_extra=tuple(shlex.split(args.train_args)), spot_extra=tuple(shlex.split(args.spot_args)),
                    no_progress=args.no_progress, seeds=seeds_of(args.seeds))


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{text} is not a positive whole number")
    return value


def seeds_of(count: int) -> tuple[int | None, ...]:
    """`--seeds N`: (None,) for one (the default seed, names without a seed), else 1234, 1235, ..."""
    return (None,) if count == 1 else tuple(DEFAULT_SEED + i for i in range(count))


def cpu_days_warning(plan: Plan) -> str | None:
    """A warning when the plan trains NetVLAD k = 512 models and TensorFlow sees no GPU."""
    big = [t.prefix for t in plan.trainings if t.k >= 512]
    if not big:
        return None
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return None
    return (f"warning: {len(big)} NetVLAD k = 512 trainings ({big[0]}, ...) and no GPU: with the paper's schedule "
            "each takes days on a CPU (Tables 4 and 5); use --table 1 or 2/3, a shorter --train_args "
            "'--max_epoch N', or a GPU")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seeds > 1 and "--seed" in shlex.split(args.train_args):
        parser.error("--seeds N sets each training's --seed; leave --seed out of --train_args")
    tables = list(TABLES) if args.table == "all" else ["2/3" if args.table in ("2", "3") else args.table]
    s = settings_from_args(args)
    plan = Plan()
    for table in tables:
        plan.add(table_plan(table))
    plan = plan.with_seeds(s.seeds)
    data = "real SoccerNet data" if s.data_root or args.training else "SYNTHETIC data (not SoccerNet)"
    header = f"Reproduction of Vanderplaetse & Dupont 2020 on {data}; lists {s.training}, {s.validation}, {s.testing}"
    print(header)
    synthetic_data = not (args.SoccerNet_path or args.training)
    if synthetic_data:
        import synthetic

        if args.dry_run:
            config = synthetic.SyntheticConfig()
            if not synthetic.is_current(args.synthetic, config):
                print(show(["synthetic.py", "--output", args.synthetic, "--games", *map(str, config.games)]))
        else:
            synthetic.ensure(args.synthetic, synthetic.SyntheticConfig(), progress=not args.no_progress)
    warning = None if "--max_epoch" in args.train_args else cpu_days_warning(plan)
    if warning:
        print(warning, file=sys.stderr)
    started = time.perf_counter()
    try:
        folders = execute(plan, s, args.dry_run)
        spotting = evaluate_spotting(plan, s, args.dry_run)
    except dataset.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return runs.EXIT_BAD_INPUT
    if args.dry_run:
        return 0
    builders = {"1": lambda: table1(folders, s), "2/3": lambda: table2(folders, s), "4": lambda: table4(folders, s),
                "5": lambda: table5(spotting, s)}
    print(f"\n{header}")
    for table in tables:
        text, values = builders[table]()
        write_table(s, table, text, values, header)
    print(f"done in {(time.perf_counter() - started) / 60:.1f} min; tables in {s.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
