"""Run folders made before the code moved into stage folders (commit PRE_MOVE) still work after it: a run
killed by the old code resumes with the new code to the old code's uninterrupted model, bit for bit; the
old code's finished model is predicted (the old test logits) and spotted (the old spotting outputs) by the
new scripts. The old code is taken from the repository's history (`git archive`); the test is skipped in
a tree without that history. The new scripts run with TensorFlow's descriptor operations, the old code's
(SOCCERNET_CHOICE_FLOAT32_DESCRIPTOR=ops): the C++ descriptor that a CPU may choose gives the same model up
to float32 rounding, not bit for bit (tests/test_descriptor.py)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from conftest import training_argv, two_at_a_time

TOP = Path(__file__).resolve().parent.parent
PRE_MOVE = "1f9c4c38604281a7c6f01d3478e02d74a9f745b8"  # the last commit before the stage folders
FAULT_ENV = "SOCCERNET_FAULT"
KILL_ARGS = ("--architecture", "VideoNetwork", "--max_epoch", "3", "--deterministic", "--keep_checkpoint")
TEST_LOGITS = "predictions_listgame_Test_2.npz"


@pytest.fixture(scope="module")
def old_tree(tmp_path_factory) -> Path:
    archive = subprocess.run(["git", "archive", "--format=tar", PRE_MOVE], cwd=TOP, capture_output=True, timeout=60)
    if archive.returncode != 0:
        pytest.skip(f"commit {PRE_MOVE[:7]} is not in this tree's history")
    folder = tmp_path_factory.mktemp("pre_move")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _script(tree: Path, script: str, argv, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, "SOCCERNET_FAULT_SIGNAL")}
    env["SOCCERNET_CHOICE_FLOAT32_DESCRIPTOR"] = "ops"  # the old code's descriptor, for bit-for-bit comparisons
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run([sys.executable, str(tree / script), *map(str, argv)], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def old_runs(old_tree, tiny_root, tmp_path_factory) -> dict[str, Path]:
    """The old code's uninterrupted run and a run it was killed in (second epoch, step 5 of 9)."""
    runs = {"whole": None, "killed": "step@5"}
    tflogs = {key: tmp_path_factory.mktemp(f"old_{key}") for key in runs}
    finished = two_at_a_time(lambda key: _script(old_tree, "ClassificationMinuteBased.py",
                                                 training_argv(tiny_root, tflogs[key], *KILL_ARGS), runs[key]), runs)
    made = {}
    for (key, fault), done in zip(runs.items(), finished):
        assert done.returncode == (-signal.SIGKILL if fault else 0), done.stderr[-2000:]
        (made[key],) = tflogs[key].iterdir()
    return made


def _assert_same_npz(a_path: Path, b_path: Path) -> None:
    with np.load(a_path) as a, np.load(b_path) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{b_path}:{key}")


def test_a_pre_move_run_resumes_to_the_pre_move_model(old_runs):
    run = old_runs["killed"]
    resumed = _script(TOP, "ClassificationMinuteBased.py", ["--resume", run, "--no_progress"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for name in ("checkpoint/best_state.npz", TEST_LOGITS):
        _assert_same_npz(old_runs["whole"] / name, run / name)
    strip = lambda path: [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]  # noqa: E731
    assert strip(old_runs["whole"] / "metrics.csv") == strip(run / "metrics.csv")


def test_a_pre_move_model_predicts_and_spots_as_before(old_tree, old_runs, tiny_root, tmp_path):
    whole = old_runs["whole"]
    testing = tiny_root / "listgame_Test_2.npy"
    copy = tmp_path / "copy"
    shutil.copytree(whole, copy)
    (copy / TEST_LOGITS).unlink()
    spotting = {"old": old_tree, "new": TOP}
    scripts = [(TOP, "ClassificationMinuteBased.py", ["--mode", "predict", "--model", copy, "--no_progress"])] + [
        (tree, "ClassificationSecondBased.py", ["--model", whole, "--testing", testing, "--output_dir",
                                                tmp_path / key, "--output", "s", "--no_progress"])
        for key, tree in spotting.items()]
    for done in two_at_a_time(lambda script: _script(*script), scripts):
        assert done.returncode == 0, done.stderr[-2000:]
    with np.load(whole / TEST_LOGITS) as before, np.load(copy / TEST_LOGITS) as after:
        np.testing.assert_allclose(after["logits"], before["logits"], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(after["labels"], before["labels"])
    spotted = {key: sorted(p.relative_to(tmp_path / key) for p in (tmp_path / key).rglob("*") if p.is_file())
               for key in spotting}
    assert spotted["old"] == spotted["new"] and spotted["new"]
    for name in spotted["new"]:
        if name.suffix == ".npy":
            np.testing.assert_array_equal(np.load(tmp_path / "old" / name), np.load(tmp_path / "new" / name))
        elif name.suffix == ".json":
            assert (tmp_path / "old" / name).read_text() == (tmp_path / "new" / name).read_text()
