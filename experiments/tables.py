"""The paper's tables from the reproduction's runs, each beside the paper's numbers: Table 1 (and 4, the
same layout) classification mAP, Table 2 per-class AP and Table 3 confusion matrices, Table 5 spotting
Average-mAP by candidate method; with several seeds, mean ± standard deviation. `write_table` saves a
table as text and JSON."""
from __future__ import annotations

import json
import statistics
from typing import Sequence

from base import classes, files
from evaluation import candidates
from experiments.commands import Settings
from experiments.paper import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3, PAPER_TABLE4, PAPER_TABLE5
from experiments.plan import Training
from networks import names
from runtime import rundir

# Architecture -> table row ("video", "audio", "method 3".."method 7").
STREAM_OF_ARCHITECTURE = {architecture: model for model, architecture in names.TRAINED_MODELS.items()}


def test_report(folders: dict, run: Training) -> dict:
    return rundir.read_test_report(folders[run.prefix])


def pct(value: float | None) -> str:
    return "  -  " if value is None else f"{100 * value:5.1f}"


def cell(values: Sequence[float]) -> str:
    """A table cell: the value in %, or mean ± standard deviation (n - 1) over the seeds."""
    values = [v for v in values if v is not None]
    if len(values) <= 1:
        return pct(values[0] if values else None)
    return f"{100 * statistics.mean(values):.1f}±{100 * statistics.stdev(values):.1f}"


def datum(values: Sequence[float]):
    """A table value for the JSON file: the value, or {mean, std, values} over the seeds."""
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
                if model in names.TRAINED_MODELS:
                    run = Training(names.TRAINED_MODELS[model], pooling, k, window, seed)
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
    reports = {m: [test_report(folders, Training(names.TRAINED_MODELS[m], "RVLAD", 64, window, seed))
                   for seed in s.seeds] for m in models}
    spotted = classes.of_width(len(reports[models[0]][0]["AP"]))
    paper = spotted is classes.V1  # the paper's per-class figures are of its three classes
    first = 11 if paper else 18  # the first column: room for v2's longest title
    width = 16 if len(s.seeds) == 1 else 20
    rows = [f"Table 2: per-class AP (%), NetRVLAD k = 64, T = {window} s"
            + (" (ours / paper at T = 60 s)" if paper else f" ({spotted.name} classes; the paper has no such table)")
            + seeds_note(s), f"{'class':<{first}}" + "".join(f"{m:>{width}}" for m in models)]
    data = {}
    for name in spotted.classes:
        line = f"{name:<{first}}"
        for i, model in enumerate(models):
            values = [r["AP"][name] for r in reports[model]]
            data[f"{model} {name}"] = datum(values)
            line += f"{cell(values):>{width - 7}} / {PAPER_TABLE2[name][i]:4.1f}" if paper else f"{cell(values):>{width}}"
        rows.append(line)
    seed = s.seeds[0]
    for window in confusion_windows:
        report = test_report(folders, Training("AudioVideoArchi5", "RVLAD", 64, window, seed))
        rows += ["", f"Table 3: confusion matrix of method 4, T = {window} s (rows: ground truth; ours"
                     + (f" | paper{'' if window in PAPER_TABLE3 else ' at T = 60 s'})" if paper else ")")
                     + ("" if seed is None else f"; ours: seed {seed}")]
        theirs_rows = PAPER_TABLE3.get(window, PAPER_TABLE3[60]) if paper else [[]] * spotted.num_classes
        for name, ours, theirs in zip(spotted.titles, report["confusion_matrix"], theirs_rows):
            rows.append(f"{name:<{first}}" + "".join(f"{v:>7}" for v in ours)
                        + ("  |" + "".join(f"{v:>7}" for v in theirs) if paper else ""))
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


def write_table(s: Settings, name: str, text: str, data: dict, header: str) -> None:
    """Save a table (text with the header, and its values as JSON) and print it without the header."""
    s.results.mkdir(parents=True, exist_ok=True)
    files.write_text_atomic(s.results / f"table_{name.replace('/', '_')}.txt", f"{header}\n\n{text}\n")
    files.write_json_atomic(s.results / f"table_{name.replace('/', '_')}.json", data)
    print(f"\n{text}")
