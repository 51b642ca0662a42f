"""Faults and refusals: a run killed (SIGKILL, in a real subprocess) at different points and resumed ends
as an uninterrupted run; state matched by name; a diverging or failing run keeps its last good files;
refused input writes nothing; bad model and prediction files get one line and exit code 2."""
from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

import ClassificationMinuteBased as cmb
import ClassificationSecondBased as csb
import compute_mAP as cm
import dataset
from base import errors
from base import fault_hook
from runtime import rundir
from conftest import killed_at_each_point, same_files, training_argv, two_at_a_time, write_list, written_points
from evaluation import outputs
from training.trainer import Trainer

TOP = Path(__file__).resolve().parent.parent
KILL_ARGS = ("--architecture", "VideoNetwork", "--max_epoch", "3", "--deterministic", "--keep_checkpoint")


def _train_process(argv, fault=None, timeout=240):
    env = {k: v for k, v in os.environ.items() if k not in (fault_hook.FAULT_ENV, fault_hook.FAULT_SIGNAL_ENV)}
    if fault:
        env[fault_hook.FAULT_ENV] = fault
    return subprocess.run([sys.executable, str(TOP / "ClassificationMinuteBased.py"), *argv], cwd=TOP, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _one_error(err: str) -> str:
    """The single `error:` line of a refusal (log lines may come before it), and no traceback."""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


# (point, occurrence): 3 steps per epoch (6 training halves, 2 per step), so step@5 is in epoch 2.
KILL_POINTS = ["step@5", "validate@2", "write:state.json@2", "write:best_model.keras@1"]


@pytest.fixture(scope="module")
def killed_and_resumed(tiny_root, tmp_path_factory) -> dict:
    """An uninterrupted run ("whole": its run folder), and for each of KILL_POINTS a run killed there and
    then resumed (its tflog folder and both processes), the processes two at a time."""
    def job(fault):
        tflog = tmp_path_factory.mktemp("killed_" + (fault or "whole").replace(":", "_").replace("@", "_"))
        done = _train_process(training_argv(tiny_root, tflog, *KILL_ARGS), fault=fault)
        runs = list(tflog.iterdir())
        if fault is None:
            assert done.returncode == 0 and len(runs) == 1, done.stderr[-2000:]
            return runs[0]
        if done.returncode != -signal.SIGKILL or len(runs) != 1:
            return tflog, done, None, None  # not resumed: the test says why
        report = (runs[0] / rundir.TEST_REPORT).exists()  # before the resume writes it
        return tflog, done, report, _train_process(["--resume", str(runs[0]), "--no_progress"])

    faults = [None, *KILL_POINTS]
    return dict(zip(["whole", *KILL_POINTS], two_at_a_time(job, faults)))


@pytest.fixture(scope="module")
def uninterrupted(killed_and_resumed) -> Path:
    return killed_and_resumed["whole"]


@pytest.mark.parametrize("fault", KILL_POINTS)
def test_a_killed_run_resumes_to_the_same_model(killed_and_resumed, uninterrupted, fault):
    tflog, killed, had_report, resumed = killed_and_resumed[fault]
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    (run,) = tflog.iterdir()
    assert had_report is False
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for name in (f"{rundir.CHECKPOINT_DIR}/{rundir.BEST_STATE}", "predictions_listgame_Test_2.npz"):
        with np.load(uninterrupted / name) as a, np.load(run / name) as b:
            assert sorted(a.files) == sorted(b.files)
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{fault} {name}:{key}")
    strip = lambda path: [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]  # noqa: E731
    assert strip(uninterrupted / rundir.METRICS_CSV) == strip(run / rundir.METRICS_CSV)
    assert rundir.read_test_report(run) == rundir.read_test_report(uninterrupted)
    assert _temporaries(run) == []  # a temporary left by the kill is removed by the next write of its file


def test_state_is_matched_by_name_not_position(tmp_path):
    import keras

    from networks import architectures

    def trainer():
        keras.backend.clear_session()
        keras.utils.set_random_seed(4)
        return Trainer(architectures.build_model("VideoNetwork", num_frames=8, video_dim=12, vlad_k=4,
                                                 output_dim=6, pooling="VLAD"), 0.01)

    first = trainer()
    path = tmp_path / "state.npz"
    rundir.save_state(path, first.model, first.optimizer)
    with np.load(path) as saved:  # the same arrays, stored in reverse order
        arrays = {key: saved[key] for key in reversed(saved.files)}
    np.savez(path, **arrays)
    second = trainer()
    for variable in second.model.trainable_variables:
        variable.assign(np.zeros(variable.shape, variable.dtype))
    rundir.load_state(path, second.model, second.optimizer)
    # cluster_weights and cluster_weights2 share a shape: each is back in its own variable.
    for a, b in zip(first.model.variables, second.model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    del arrays["model/video_pooling/cluster_weights2"]
    np.savez(path, **arrays)
    with pytest.raises(errors.DataError, match="missing 'model/video_pooling/cluster_weights2'"):
        rundir.load_state(path, second.model, second.optimizer)


def test_non_finite_loss_stops_with_its_own_code_and_keeps_the_last_good_files(tiny_root, tmp_path, monkeypatch,
                                                                               capsys):
    poisoned = {"on": False}
    original = Trainer.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)

        def poison(run):
            def maybe_nan(inputs, target, scale):
                logits, loss = run(inputs, target, scale)
                return logits, loss * np.float32("nan") if poisoned["on"] else loss
            return maybe_nan

        # Steps of several pieces accumulate; a step of one piece is applied at once.
        self._accumulate, self._whole_step = poison(self._accumulate), poison(self._whole_step)

    monkeypatch.setattr(Trainer, "__init__", init)
    code = cmb.main(training_argv(tiny_root, tmp_path, "--architecture", "VideoNetwork", "--max_epoch", "3"),
                    after_epoch=lambda epoch: poisoned.update(on=True))
    assert code == errors.EXIT_NON_FINITE
    err = _one_error(capsys.readouterr().err)
    assert "non-finite loss at epoch 2, step 1" in err
    (run,) = tmp_path.iterdir()
    assert rundir.read_state(run)["epoch"] == 0 and (run / rundir.BEST_MODEL).is_file()
    assert not (run / rundir.TEST_REPORT).exists() and _temporaries(run) == []


def test_a_failing_write_keeps_the_previous_checkpoint(tiny_root, tmp_path, monkeypatch, capsys):
    savez = np.savez

    def full_disk(file, *args, **kwargs):
        if "last_state_002" in str(file):
            raise OSError(28, "No space left on device")
        return savez(file, *args, **kwargs)

    monkeypatch.setattr(np, "savez", full_disk)
    code = cmb.main(training_argv(tiny_root, tmp_path, "--architecture", "VideoNetwork", "--max_epoch", "3"))
    assert code == errors.EXIT_WRITE_FAILED
    err = _one_error(capsys.readouterr().err)
    assert "last_state_002.npz: could not be written (No space left on device)" in err
    (run,) = tmp_path.iterdir()
    state = rundir.read_state(run)
    assert state["epoch"] == 0 and (run / rundir.CHECKPOINT_DIR / state["state_file"]).is_file()
    assert (run / rundir.BEST_MODEL).is_file() and _temporaries(run) == []


def test_runs_started_together_get_distinct_folders(tmp_path):
    barrier, made = threading.Barrier(8), []

    def start():
        barrier.wait(timeout=30)
        made.append(rundir.new_run_dir(tmp_path, "same"))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(made) == 8 and len(set(made)) == 8 and all(p.is_dir() for p in made)


def test_refused_input_creates_nothing(tiny_root, tmp_path, capsys):
    bad = write_list(tmp_path / "bad.npy", ["no/such/game"])
    for flag in ("--validation", "--testing"):
        tflog = tmp_path / f"runs{flag}"
        argv = training_argv(tiny_root, tflog, "--architecture", "VideoNetwork", "--max_epoch", "1")
        argv[argv.index(flag) + 1] = str(bad)
        assert cmb.main(argv) == errors.EXIT_BAD_INPUT
        assert "game folder not found" in _one_error(capsys.readouterr().err)
        assert not tflog.exists()  # no run folder, no train.log, no args.json
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    argv = training_argv(tiny_root, blocked / "runs", "--architecture", "VideoNetwork", "--max_epoch", "1")
    assert cmb.main(argv) == errors.EXIT_BAD_INPUT
    assert "cannot create a run folder there" in _one_error(capsys.readouterr().err)


def test_bad_model_files_get_one_line(tiny_root, tiny_runs, tmp_path, capsys):
    list_path = tiny_root / "listgame_Test_2.npy"
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip archive")
    truncated = tmp_path / "truncated.keras"
    data = (tiny_runs["video"] / rundir.BEST_MODEL).read_bytes()
    truncated.write_bytes(data[:len(data) // 2])
    other = tmp_path / "other_architecture.keras"  # a model file this project's layers cannot rebuild
    with zipfile.ZipFile(tiny_runs["video"] / rundir.BEST_MODEL) as source, zipfile.ZipFile(other, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(content)
                config["config"]["architecture"] = "AudioVideoArchi99"
                content = json.dumps(config).encode()
            target.writestr(item, content)
    for model in (garbage, truncated, other):
        assert csb.main(["--model", str(model), "--testing", str(list_path), "--output_dir", str(tmp_path / "o"),
                         "--no_progress"]) == errors.EXIT_BAD_INPUT
        assert f"{model}: not a model this project can load" in _one_error(capsys.readouterr().err)
        assert cmb.main(training_argv(tiny_root, tmp_path, "--mode", "predict", "--model", str(model))) == 2
        assert "not a model this project can load" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bad_prediction_files_get_one_line(tiny_root, tmp_path, capsys):
    list_path = tiny_root / "listgame_Test_2.npy"
    games = dataset.read_game_list(list_path)
    cases = {"rank": np.zeros((10,), np.float32), "width": np.zeros((10, 3), np.float32),
             "nan": np.full((10, 4), np.nan, np.float32), "text": np.array([["a"] * 4] * 10)}
    for name, array in cases.items():
        for game in games:
            for half in dataset.HALVES:
                path = outputs.prediction_file(tmp_path / name, game, "p", half)
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, array)
    pickled = outputs.prediction_file(tmp_path / "object", games[0], "p", 1)
    pickled.parent.mkdir(parents=True)
    np.save(pickled, np.array([[{"a": 1}] * 4] * 10, dtype=object), allow_pickle=True)
    for name in list(cases) + ["object"]:
        code = cm.main(["--testing", str(list_path), "--predictions", str(tmp_path / name), "--prefix", "p",
                        "--output", str(tmp_path / f"out_{name}"), "--no_plots", "--loglevel", "WARNING"])
        assert code == errors.EXIT_BAD_INPUT and "p_Half_1.npy" in _one_error(capsys.readouterr().err), name
        assert not (tmp_path / f"out_{name}").exists()


@pytest.mark.parametrize("script", ["ClassificationMinuteBased", "ClassificationSecondBased", "compute_mAP",
                                    "extraction.fit_pca"])
def test_an_unknown_log_level_is_a_usage_error(script, capsys):
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as stop:
        module.build_parser().parse_args(["--loglevel", "FOO"])
    assert stop.value.code == 2 and "unknown log level 'FOO'" in capsys.readouterr().err


def test_debug_shows_the_traceback_of_a_refusal(tiny_root, tmp_path, capsys):
    argv = ["--model", str(tmp_path / "nothing"), "--testing", str(tiny_root / "listgame_Test_2.npy")]
    assert csb.main(argv) == 2
    assert "Traceback" not in capsys.readouterr().err
    root = logging.getLogger()
    level = root.level
    try:
        assert csb.main(argv + ["--loglevel", "DEBUG"]) == 2
    finally:
        root.setLevel(level)  # DEBUG would leak into the next tests' in-process scripts
    err = capsys.readouterr().err
    assert "Traceback" in err and "model file not found" in err


def test_a_finished_run_drops_its_checkpoint_unless_kept(tiny_runs, uninterrupted, capsys):
    assert not (tiny_runs["video"] / rundir.CHECKPOINT_DIR).exists()  # trained without --keep_checkpoint
    assert (tiny_runs["video"] / rundir.BEST_MODEL).is_file() and rundir.is_finished(tiny_runs["video"])
    assert (uninterrupted / rundir.CHECKPOINT_DIR / rundir.BEST_STATE).is_file()  # --keep_checkpoint
    assert cmb.main(["--resume", str(tiny_runs["video"])]) == 0  # finished: nothing to resume
    assert "finished already" in capsys.readouterr().out


def test_late_fusion_refuses_unreadable_logits_and_outputs_it_cannot_write_before_fusing(tiny_runs, tmp_path,
                                                                                         capsys):
    import fusion

    video, audio = tmp_path / "video", tmp_path / "audio"
    shutil.copytree(tiny_runs["video"], video)
    shutil.copytree(tiny_runs["audio"], audio)
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    argv = ["--method", "2", "--video_run", str(video), "--audio_run", str(audio)]
    assert fusion.main(argv + ["--output", str(blocked / "report.json")]) == errors.EXIT_BAD_INPUT
    assert _one_error(capsys.readouterr().err) == f"error: {blocked / 'report.json'}: --output cannot be created: " \
                                                  f"{blocked} is a file"
    assert fusion.main(argv + ["--output", str(tmp_path)]) == errors.EXIT_BAD_INPUT
    assert _one_error(capsys.readouterr().err) == f"error: {tmp_path}: --output names a folder, not a file"
    saved = rundir.predictions_file(audio, "listgame_Test_2")
    arrays = rundir.read_predictions(saved)
    arrays["logits"][0, 0] = np.nan
    np.savez(saved, **arrays)
    assert fusion.main(argv) == errors.EXIT_BAD_INPUT
    assert _one_error(capsys.readouterr().err) == f"error: {saved}: 1 logits are not finite (NaN or infinite)"
    saved.write_bytes(b"not an npz")
    assert fusion.main(argv) == errors.EXIT_BAD_INPUT
    assert "unreadable saved predictions" in _one_error(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "audio", "video"]


def test_spotting_refuses_an_output_it_cannot_write_and_bad_flags_before_any_work(tiny_root, tiny_runs, tmp_path,
                                                                                capsys):
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    argv = ["--model", str(tiny_runs["audio"]), "--testing", str(tiny_root / "listgame_Test_2.npy"), "--no_progress"]
    assert csb.main(argv + ["--output_dir", str(blocked)]) == errors.EXIT_BAD_INPUT
    assert _one_error(capsys.readouterr().err) == f"error: {blocked}: --output_dir names a file, not a folder"
    for flags, problem in ((["--output", "../x"], "--output is the prefix of file names, not a path: '../x'"),
                           (["--batch_size", "0"], "--batch_size must be a whole number above 0, not 0")):
        with pytest.raises(SystemExit) as stopped:
            csb.main(argv + ["--output_dir", str(tmp_path / "out")] + flags)
        assert stopped.value.code == 2 and capsys.readouterr().err.strip().splitlines()[-1].endswith(problem)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_zero_byte_and_truncated_npy_files_are_one_line_refusals(tmp_path, tiny_runs, capsys):
    """A zero-byte or truncated .npy (numpy raises EOFError) is a DataError naming the file, never a traceback."""
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    for read in (dataset.read_game_list, dataset.open_features, outputs.read_prediction_file):
        with pytest.raises(errors.DataError, match="empty.npy: "):
            read(empty)
    saved = rundir.predictions_file(tiny_runs["video"], rundir.read_args(tiny_runs["video"])["testing"])
    for name, content in (("truncated", saved.read_bytes()[:300]), ("zero", b"")):
        copy = tmp_path / name
        shutil.copytree(tiny_runs["audio"], copy)
        (copy / saved.name).write_bytes(content)
        assert importlib.import_module("fusion").main(["--method", "1", "--video_run", str(tiny_runs["video"]),
                                                       "--audio_run", str(copy)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {copy / saved.name}: unreadable saved predictions")
    # an .npz without one of its arrays, or logits of another width than its labels
    with np.load(saved) as arrays:
        kept = {k: arrays[k] for k in arrays.files}
    for name, arrays, message in (("nokey", {k: v for k, v in kept.items() if k != "half_id"}, "without half_id"),
                                  ("width", {**kept, "logits": kept["logits"][:, :3]}, "do not match labels")):
        copy = tmp_path / name
        shutil.copytree(tiny_runs["audio"], copy)
        np.savez(copy / saved.name, **arrays)
        with pytest.raises(errors.DataError, match=message):
            rundir.read_predictions(copy / saved.name)


def test_spotting_killed_at_every_write_reruns_to_the_same_files(tiny_root, tiny_runs, tmp_path, monkeypatch):
    """A game is done only when all its files are: killed at each write of a spotting run in turn (a game's
    timeline, its arrays, its JSON last), the games done are exactly those whose JSON was written, no file is
    partial under its real name (the killed write's temporary is hidden), and the rerun ends byte for byte as
    an uninterrupted run, with no temporary left."""
    list_path = tiny_root / "listgame_Test_2.npy"
    games = dataset.read_game_list(list_path)

    def argv(out: Path) -> list[str]:
        return ["--model", str(tiny_runs["audio"]), "--testing", str(list_path), "--output_dir", str(out),
                "--output", "s", "--no_progress", "--loglevel", "WARNING"]

    points = written_points(monkeypatch, lambda: csb.main(argv(tmp_path / "whole")))
    assert points[0] == "write:s_timeline.png" and points[-1] == "write:results_spotting.json"
    assert points.count("write:results_spotting.json") == len(games) == 2
    killed = killed_at_each_point([sys.executable, str(TOP / "ClassificationSecondBased.py")],
                                  lambda n: argv(tmp_path / f"out{n}"), len(points))
    for n, process in enumerate(killed, 1):
        out = tmp_path / f"out{n}"
        assert process.returncode == -signal.SIGKILL, (n, process.stderr[-2000:])
        done = [g for g in games if outputs.game_outputs_done(out, g, "s")]
        assert len(done) == points[:n - 1].count("write:results_spotting.json"), (n, points[n - 1])
        assert len(_temporaries(out)) == 1  # the killed write's, hidden; the rerun removes it
        assert csb.main(argv(out)) == 0
        assert _temporaries(out) == []
        same_files(out, tmp_path / "whole")
