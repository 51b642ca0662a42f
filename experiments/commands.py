"""The reproduction's steps as plain commands of the project's scripts (`show` prints them as a user would
type them), run one after the other in this process (`run_command`): train, fuse, spot (`execute`), then
evaluate the spotting (`evaluate_spotting`). A training run whose run folder holds a test report is
skipped, one interrupted is resumed (`--resume`), spotting skips finished games."""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from base import classes
from evaluation import outputs
from experiments.plan import Plan, Training
from runtime import process, rundir

TOP = Path(__file__).resolve().parent.parent  # the scripts' folder


@dataclass
class Settings:
    """Where the data, the runs and the outputs are, and what the commands add to the plan's settings."""

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
    classes: str = classes.DEFAULT  # the class set (`--classes`): trained, spotted and evaluated


def training_command(run: Training, s: Settings, resume: Path | None = None) -> list[str]:
    if resume is not None:
        return ["ClassificationMinuteBased.py", "--resume", str(resume)] + (["--no_progress"] if s.no_progress else [])
    argv = ["ClassificationMinuteBased.py", "--architecture", run.architecture, "--training", s.training,
            "--validation", s.validation, "--testing", s.testing, "--featuresVideo", "ResNET",
            "--featuresAudio", "VGGish"] + (["--PCA"] if s.pca else []) + [
            "--network", run.pooling, "--VLAD_k", str(run.k), "--WindowSize", str(run.window),
            "--tflog", str(s.runs), "--outputPrefix", run.prefix] + (
            [] if run.seed is None else ["--seed", str(run.seed)]) + (
            [] if s.classes == classes.DEFAULT else ["--classes", s.classes])
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
            "--output", str(output)] + ([] if s.classes == classes.DEFAULT else ["--classes", s.classes,
                                                                                  "--deltas", "both"])
    if s.data_root:
        argv += ["--SoccerNet_path", s.data_root]
    return argv


def show(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in [".venv/bin/python"] + list(argv))


def run_command(argv: Sequence[str]) -> None:
    """Run one script command in this process, as `python SCRIPT ARGS...` would (`runtime.process.run_script`:
    the script runs as `__main__`, and TensorFlow is started only once)."""
    print(f"\n$ {show(argv)}", flush=True)
    code = process.run_script(TOP / argv[0], argv[1:])
    if code:
        raise SystemExit(f"error: the command above failed with exit code {code}")


# ------------------------------------------------------------------------------------------------
# Executing a plan


def execute(plan: Plan, s: Settings, dry_run: bool, runner: Callable[[Sequence[str]], None] = run_command) -> dict:
    """Train, fuse, spot. Returns {training prefix: run folder} (placeholders in a dry run)."""
    folders: dict[str, Path] = {}
    for run in plan.trainings:
        folder, finished = rundir.find_run(s.runs, run.prefix)
        if dry_run:
            folders[run.prefix] = folder or Path(s.runs) / f"{run.prefix}_<date>_<time>"
            if finished:
                print(f"# done: {show(training_command(run, s))}")
            else:  # an interrupted run resumes from its folder
                print(show(training_command(run, s, resume=folder)))
            continue
        if not finished:
            runner(training_command(run, s, resume=folder))
            folder, finished = rundir.find_run(s.runs, run.prefix)
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
        results[(pooling, window)] = (group, outputs.read_evaluation_results(output))
    return results
