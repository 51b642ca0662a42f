"""The official SoccerNet evaluator on a game list's results_spotting.json files, for the demo and the
reproduction to print beside this project's figures (`SoccerNet.Evaluation.ActionSpotting.evaluate`, the
installed `soccernet` package's).

The package finds its games by walking the label folder it is given (its `dataset=None` mode), so the label
files of the listed games are linked into a scratch folder of their own first: exactly the listed games are
scored, whatever else the data root holds. `official_scores_side_by_side` runs several evaluations in processes
of their own at once: the package's evaluator runs on one core, mostly in Python. `official_scores_kept` keeps
their figures in a file, for a rerun on the same files to read instead of evaluating again.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import dataset
from base import files
from base.classes import ClassSet, class_set
from evaluation.outputs import RESULTS_SPOTTING
from experiments.commands import TOP

OFFICIAL_METRICS = ("loose", "tight", "at1", "at2", "at3", "at4", "at5")


def official_scores(list_path: str | os.PathLike, predictions: str | os.PathLike, spotted: ClassSet | str,
                    metric: str = "loose", data_root: str | os.PathLike | None = None) -> dict:
    """The package's figures for the listed games: `a_mAP`, `a_mAP_per_class` and, for a version-2 class
    set, `a_mAP_visible`, `a_mAP_unshown` and their per-class lists (its `evaluate`'s dictionary).

    Args:
        list_path: the game list.
        predictions: the folder of `<game>/results_spotting.json` (a ClassificationSecondBased.py
            `results_spotting_<prefix>` folder, or compute_mAP.py's --write_json one).
        spotted: the class set, or its name (its label file, package version and labels).
        metric: one of `OFFICIAL_METRICS`.
    """
    from SoccerNet.Evaluation.ActionSpotting import evaluate

    spotted = class_set(spotted)
    if metric not in OFFICIAL_METRICS:
        raise ValueError(f"unknown official metric {metric!r}; valid: {', '.join(OFFICIAL_METRICS)}")
    root = dataset.data_root_for(list_path, data_root)
    games = dataset.read_game_list(list_path)
    dictionary = {label: c for c, label in enumerate(spotted.soccernet_labels)}
    with tempfile.TemporaryDirectory(prefix="official-labels-") as scratch:
        for game in games:
            folder = Path(scratch) / game
            folder.mkdir(parents=True)
            os.symlink((root / game / spotted.label_file).resolve(), folder / spotted.label_file)
        with contextlib.redirect_stderr(io.StringIO()):  # its tqdm bars
            return evaluate(SoccerNet_path=scratch, Predictions_path=str(predictions),
                            prediction_file=RESULTS_SPOTTING, version=spotted.version, metric=metric,
                            label_files=spotted.label_file, dataset=None, EVENT_DICTIONARY=dictionary)


def official_scores_side_by_side(jobs: Sequence[dict], workers: int | None = None) -> list[dict]:
    """`official_scores(**job)` for each job (its `spotted` a class set or its name), in order, up to
    `workers` at once (the cores this process may use by default), each in a Python process of its own; one job,
    or one core, runs in this process. JSON carries the jobs and their figures (Python floats, exactly)."""
    workers = min(len(jobs), workers or len(os.sched_getaffinity(0)))
    if workers <= 1:
        return [official_scores(**job) for job in jobs]

    def run(job: dict) -> dict:
        paths = {key: str(Path(job[key]).resolve()) for key in ("list_path", "predictions", "data_root")
                 if job.get(key) is not None}  # the child runs in the project's folder
        job = {**job, **paths, "spotted": class_set(job["spotted"]).name}
        done = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(job, default=str), text=True,
                              capture_output=True, cwd=TOP, timeout=3600)
        if done.returncode:
            raise RuntimeError(f"the official evaluator of {job['predictions']} ({job['metric']}) failed: "
                               f"{(done.stderr.strip().splitlines() or ['exit code ' + str(done.returncode)])[-1]}")
        return json.loads(done.stdout)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, jobs))


def plain(value):
    """`json.dump`'s `default` for the package's figures: numpy values and arrays as Python floats and lists."""
    return value.tolist()


# Raise when `official_scores` changes what it passes to the package: the figures kept before count as missing.
KEPT_FORMAT = 1


def job_key(job: dict) -> str:
    """What an evaluation's figures depend on, hashed: `KEPT_FORMAT`, the package's version, the metric, the
    class set (its name, package version number, label file and labels), the game list, and each listed
    game's label file and results_spotting.json (their bytes; "missing" for none)."""
    spotted = class_set(job["spotted"])
    root = dataset.data_root_for(job["list_path"], job.get("data_root"))
    header = [KEPT_FORMAT, importlib.metadata.version("SoccerNet"), job.get("metric", "loose"), spotted.name,
              spotted.version, spotted.label_file, list(spotted.soccernet_labels)]
    digest = hashlib.sha256(json.dumps(header).encode())
    digest.update(Path(job["list_path"]).read_bytes())
    for game in dataset.read_game_list(job["list_path"]):
        for path in (root / game / spotted.label_file, Path(job["predictions"]) / game / RESULTS_SPOTTING):
            digest.update(path.read_bytes() if path.is_file() else b"missing")
            digest.update(b"\0")
    return digest.hexdigest()


def _complete(figures, job: dict) -> bool:
    """Whether kept figures hold what `official_scores` gives for this job's class set."""
    names = ("a_mAP", "a_mAP_per_class") + (("a_mAP_visible", "a_mAP_unshown")
                                            if class_set(job["spotted"]).version == 2 else ())
    return isinstance(figures, dict) and all(name in figures for name in names)


def official_scores_kept(jobs: Sequence[dict], kept: str | os.PathLike) -> list[dict]:
    """`official_scores_side_by_side(jobs)`, but the figures of a job whose `job_key` the JSON file `kept`
    holds (with every figure its class set gives) are read from it; the file is then rewritten (atomically)
    with this call's jobs' figures only. An unreadable file counts as empty."""
    keys = [job_key(job) for job in jobs]
    try:
        known = json.loads(Path(kept).read_text())
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    missing = [i for i, (key, job) in enumerate(zip(keys, jobs)) if not _complete(known.get(key), job)]
    fresh = official_scores_side_by_side([jobs[i] for i in missing]) if missing else []
    # JSON's Python floats either way: a rerun's table is that of the first run, digit for digit.
    figures = {**known, **{keys[i]: json.loads(json.dumps(f, default=plain))
                           for i, f in zip(missing, fresh)}}
    files.write_json_atomic(kept, {key: figures[key] for key in keys})
    return [figures[key] for key in keys]


# The child of `official_scores_side_by_side`: one job from its standard input, its figures to its output.
_CHILD = """import contextlib, json, sys
from experiments.official import official_scores, plain
job = json.load(sys.stdin)
with contextlib.redirect_stdout(sys.stderr):  # whatever the package prints
    scores = official_scores(**job)
json.dump(scores, sys.stdout, default=plain)
"""
