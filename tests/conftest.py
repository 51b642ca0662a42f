"""Shared fixtures: a tiny synthetic SoccerNet made once per session, and a helper to write games."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

from experiments import synthetic  # noqa: E402

# Choices made by measuring (base.measured) take their rule by processor flags in the tests, so that every
# process of a test takes the same forms; tests/test_measured.py turns measuring on where it tests it. The
# cache goes to a folder of this session, never to the user's (also for the processes the tests start).
os.environ["SOCCERNET_MEASURE"] = "0"
os.environ["SOCCERNET_CACHE"] = tempfile.mkdtemp(prefix="soccernet-test-cache-")
atexit.register(shutil.rmtree, os.environ["SOCCERNET_CACHE"], True)

# A tiny synthetic set: 4-minute halves, the event rate raised so that short halves hold events.
TINY = synthetic.SyntheticConfig(games=(3, 2, 2), half_minutes=4.0, stoppage_minutes=(0.0, 0.5), seed=3,
                                 event_rate=10.0)


# `make test` runs the suite in two pytest-xdist processes (`-n 2 --dist loadfile`; the Makefile's
# TEST_WORKERS). Each test module runs whole in one process, so that its module fixtures are made once; the
# modules whose tests open TCP ports on 127.0.0.1 (`training.cluster.free_ports` picks ports free *just
# now*) run in one process together, so that no two of their clusters pick ports at the same time. The same
# holds under `--dist loadscope`; `--dist load` (xdist's default) spreads single tests and keeps neither.
PORT_MODULES = ("test_cluster_failures.py", "test_distribution.py")


def scope_of(nodeid: str) -> str:
    """The unit of work of a test: its module's file, one scope for all the port modules (by file name, so
    whatever the root folder the node ids are relative to)."""
    path = nodeid.partition("::")[0]
    return "port modules" if path.rpartition("/")[2] in PORT_MODULES else path


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: ignored where that plugin is not loaded
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") not in ("loadfile", "loadscope"):
        return None  # pytest-xdist's own scheduler for the other modes
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    return ByFile(config, log)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """Root of the tiny synthetic set (read only: copy it before changing anything)."""
    return synthetic.generate(tmp_path_factory.mktemp("tiny_synthetic"), TINY, progress=False)


def write_game(root: Path, game: str, frames=(120, 120), video_dim=512, audio_dim=512, annotations=(),
               video=None, audio=None, pca=True, label_file="Labels.json") -> Path:
    """Write one hand-made game folder; `video`/`audio` override the generated arrays per half."""
    folder = Path(root) / game
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for half, n in zip((1, 2), frames):
        v = video[half - 1] if video is not None else rng.standard_normal((n, video_dim)).astype(np.float32)
        a = audio[half - 1] if audio is not None else rng.random((n, audio_dim)).astype(np.float32)
        np.save(folder / (f"{half}_ResNET_PCA512.npy" if pca else f"{half}_ResNET.npy"), v)
        np.save(folder / f"{half}_VGGish.npy", a)
    if label_file:
        (folder / label_file).write_text(json.dumps({"annotations": list(annotations)}))
    return folder


def write_list(path: Path, games) -> Path:
    np.save(path, np.array(list(games)))
    return path


def training_argv(root: Path, tflog: Path, *extra) -> list[str]:
    """ClassificationMinuteBased.py arguments for a quick run on the tiny set (T = 20 s, k = 4)."""
    return ["--training", str(root / "listgame_Train_3.npy"), "--validation", str(root / "listgame_Valid_2.npy"),
            "--testing", str(root / "listgame_Test_2.npy"), "--PCA", "--WindowSize", "20", "--VLAD_k", "4",
            "--batch_size", "2", "--micro_batch", "32", "--tflog", str(tflog), "--no_progress",
            "--loglevel", "WARNING", *extra]


def written_points(monkeypatch, work) -> list[str]:
    """The fault points (`base.fault_hook`: every write and publish of `base.files`) that `work()` reaches
    in this process, in order; `work` runs whole."""
    from base import files

    points: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(files, "fault_point", points.append)
        work()
    return points


def two_at_a_time(function, items) -> list:
    """`[function(item) for item in items]`, two calls at a time in threads: for calls that each run a
    process of their own (a script importing TensorFlow spends seconds on one core before its work starts),
    so that the suite's processes keep both cores busy. The results in order; the first error is raised."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(function, items))


def killed_at_each_point(command: list[str], argv_for, count: int, timeout: float = 240) -> list:
    """Run `command + argv_for(n)` for n = 1 .. count as real processes, each killed with SIGKILL at the
    n-th fault point it reaches (`$SOCCERNET_FAULT` "*@n"), two at a time; their CompletedProcess in order."""
    import os
    import subprocess

    from base import fault_hook

    clean = {k: v for k, v in os.environ.items() if k not in (fault_hook.FAULT_ENV, fault_hook.FAULT_SIGNAL_ENV)}

    def run(n):
        return subprocess.run(command + argv_for(n), cwd=TOP, env={**clean, fault_hook.FAULT_ENV: f"*@{n}"},
                              capture_output=True, text=True, timeout=timeout)

    return two_at_a_time(run, range(1, count + 1))


def same_files(folder: Path, reference: Path) -> None:
    """`folder` holds the files of `reference`, byte for byte, and no others."""
    names = sorted(p.relative_to(reference) for p in reference.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file()), folder
    for name in names:
        assert (folder / name).read_bytes() == (reference / name).read_bytes(), folder / name


def count_pooling_calls(monkeypatch, name: str) -> list:
    """A list that grows by the dtype of the first argument each time `networks.kernels.<name>` is called
    (for a function called in a traced graph: each time a graph being traced takes it); the function
    itself still runs."""
    from networks import kernels

    calls, original = [], getattr(kernels, name)

    def counted(*args):
        calls.append(args[0].dtype)
        return original(*args)

    monkeypatch.setattr(kernels, name, counted)
    return calls


def count_xla_descriptor(monkeypatch) -> list:
    """A list that grows each time a graph being traced takes the XLA-compiled descriptor
    (networks.kernels.set_xla_descriptor); the compiled function itself still runs."""
    return count_pooling_calls(monkeypatch, "_vlad_columns_xla")


@pytest.fixture(scope="session")
def tiny_runs(tiny_root, tmp_path_factory) -> dict[str, Path]:
    """Run folders of one-epoch trainings on the tiny set: video, audio, method 4, and video with
    moving batch-norm statistics."""
    import ClassificationMinuteBased

    runs = {}
    for key, extra in (("video", ["--architecture", "VideoNetwork"]), ("audio", ["--architecture", "AudioNetwork"]),
                       ("fusion", ["--architecture", "AudioVideoArchi5"]),
                       ("video_moving", ["--architecture", "VideoNetwork", "--bn_mode", "moving"])):
        tflog = tmp_path_factory.mktemp(f"run_{key}")
        assert ClassificationMinuteBased.main(training_argv(tiny_root, tflog, *extra, "--max_epoch", "1")) == 0
        (runs[key],) = tflog.iterdir()
    return runs
