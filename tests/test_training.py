"""ClassificationMinuteBased.py and fusion.py: metric, schedule, accumulation, end-to-end runs, resume."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import ClassificationMinuteBased as cmb
import fusion
from conftest import count_xla_descriptor, training_argv, write_list
import dataset
from evaluation import classification
from networks import architectures, kernels, names
from training import late_fusion
from training.schedule import Schedule
from training.trainer import Trainer


# ------------------------------------------------------------------------------------------------
# The PR-AUC of TF1's tf.metrics.auc (the authors' trainer.py), hand-worked


def test_pr_auc_hand_worked():
    # Perfect ranking: recall drops from 1 to ~0 where precision is 1 on both sides.
    assert classification.pr_auc([1, 0], [0.8, 0.3]) == pytest.approx(1.0, abs=1e-5)
    # Inverted: the only drop in recall (1 -> 0) is between precision 0.5 and ~0: area 0.25.
    assert classification.pr_auc([1, 0], [0.3, 0.8]) == pytest.approx(0.25, abs=1e-5)
    # labels 1, 1, 0 with scores .9, .5, .7: (R, P) = (1, 2/3) below .5, (.5, .5) to .7, (.5, 1) to .9,
    # (0, 1) above: 0.5 * (2/3 + 1/2) / 2 + 0.5 * (1 + 1) / 2 = 0.791667.
    assert classification.pr_auc([1, 1, 0], [0.9, 0.5, 0.7]) == pytest.approx(0.791667, abs=1e-5)
    # No positive at all: recall (TP + 1e-6) / (0 + 1e-6) stays 1: the area is 0.
    assert classification.pr_auc([0, 0, 0], [0.2, 0.5, 0.9]) == pytest.approx(0.0, abs=1e-6)


def tf1_pr_auc_loop(labels, scores, n=200):
    """TF1's tf.metrics.auc(curve="PR", summation_method="trapezoidal") written out plainly, one threshold
    at a time: the independent reference of the vectorised `pr_auc`."""
    thresholds = [-1e-7] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + 1e-7]
    recall, precision = [], []
    for t in np.float32(thresholds):
        tp = sum(1 for y, s in zip(labels, scores) if y and np.float32(s) > t)
        fp = sum(1 for y, s in zip(labels, scores) if not y and np.float32(s) > t)
        fn = sum(1 for y, s in zip(labels, scores) if y and not np.float32(s) > t)
        recall.append((tp + 1e-6) / (tp + fn + 1e-6))
        precision.append((tp + 1e-6) / (tp + fp + 1e-6))
    return sum((recall[i] - recall[i + 1]) * (precision[i] + precision[i + 1]) / 2 for i in range(n - 1))


def test_pr_auc_equals_the_tf1_formula_and_differs_from_keras_auc():
    import keras

    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.2
    scores = np.where(labels, rng.uniform(0.3, 1, 300), rng.uniform(0, 0.7, 300)).astype(np.float32)
    ours = classification.pr_auc(labels, scores)
    assert ours == pytest.approx(tf1_pr_auc_loop(labels, scores), abs=1e-5)
    # Keras's AUC(curve="PR") sums by interpolation: another number on the same 200 thresholds (0.307
    # here, where TF1's trapezoids give the hand-worked 0.25).
    auc = keras.metrics.AUC(num_thresholds=200, curve="PR")
    auc.update_state(np.array([1, 0], np.float32), np.array([0.3, 0.8], np.float32))
    assert classification.pr_auc([1, 0], [0.3, 0.8]) == pytest.approx(0.25, abs=1e-5)
    assert float(auc.result()) > 0.25 + 0.05
    assert ours > classification.pr_auc(labels, rng.random(300)) + 0.3  # and it tracks the ranking


def test_report_and_confusion_matrix_rows_are_ground_truth():
    labels = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], np.float32)
    scores = np.array([[.9, .1, .1, .1], [.2, .1, .8, .1], [.1, .9, .2, .1], [.1, .1, .1, .7]])
    report = classification.classification_report(labels, scores)
    # Row = argmax of the labels (the card-and-subs chunk counts as card), column = argmax of the scores.
    assert report["confusion_matrix"] == [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    assert report["accuracy"]["card"] == 0.5
    assert report["mAP"] == pytest.approx(np.mean([report["AP"][c] for c in ("card", "subs", "goal")]))
    assert "rows: ground truth" in classification.format_classification_report(report)


# ------------------------------------------------------------------------------------------------
# The schedule (the authors' trainer.py) on a scripted sequence of validation scores


def test_schedule_decays_restores_and_stops():
    schedule = Schedule()
    actions = [schedule.update(0.5)]
    actions += [schedule.update(0.4) for _ in range(11)]  # the 11th bad epoch: counter 11 > 10
    assert actions[0] == ["save"] and actions[1:11] == [[]] * 10 and actions[11] == ["decay"]
    assert schedule.lr == pytest.approx(1e-3) and schedule.counter == 0
    assert schedule.update(0.5) == []  # equal is not better
    assert schedule.update(0.6) == ["save"] and schedule.best_epoch == 13
    actions = [schedule.update(0.1) for _ in range(11)]
    assert actions[-1] == ["decay"] and schedule.lr == 1e-4  # 0.01 / 10 / 10 equals 1e-4 exactly
    actions = [schedule.update(0.1) for _ in range(31)]  # no third decay: stop after more than 30
    assert actions[:30] == [[]] * 30 and actions[30] == ["stop"]


def test_schedule_state_round_trips():
    schedule = Schedule(lr=0.05, lr_patience=2)
    for score in (0.3, 0.2, 0.2, 0.2):
        schedule.update(score)
    again = Schedule(**json.loads(json.dumps(schedule.to_json())))
    assert again == schedule and again.lr == pytest.approx(0.005)


# ------------------------------------------------------------------------------------------------
# Gradient accumulation


def test_micro_batches_make_the_same_step_as_one_batch():
    import keras

    def model():
        keras.utils.set_random_seed(0)
        inputs = {"video": keras.Input((6, 5), name="video")}
        x = keras.layers.Flatten()(inputs["video"])
        return keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Dense(7, activation="tanh")(x)))

    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 6, 5)).astype(np.float32)
    y = (rng.random((10, 4)) < 0.3).astype(np.float32)
    results = []
    for pieces in ([slice(0, 10)], [slice(0, 3), slice(3, 7), slice(7, 10)]):
        trainer = Trainer(model(), 0.01)
        for piece in pieces:
            trainer._accumulate({"video": x[piece]}, y[piece], np.float32(1 / 10))
        trainer._apply()
        results.append([v.numpy() for v in trainer.model.trainable_variables])
    for whole, split in zip(*results):
        np.testing.assert_allclose(whole, split, rtol=1e-5, atol=1e-6)
    # A step of one piece skips the accumulator: bit for bit the accumulated step.
    trainer = Trainer(model(), 0.01)
    trainer._whole_step({"video": x}, y, np.float32(1 / 10))
    for direct, accumulated in zip([v.numpy() for v in trainer.model.trainable_variables], results[0]):
        np.testing.assert_array_equal(direct, accumulated)


# ------------------------------------------------------------------------------------------------
# Late fusion


def test_late_fusion_on_known_logits():
    video = np.array([[0.0, 2.0, -1.0, 0.0]])
    audio = np.array([[0.0, -2.0, 1.0, 4.0]])
    p1, argmax1 = late_fusion.fuse_logits(video, audio, 1)
    p2, argmax2 = late_fusion.fuse_logits(video, audio, 2)
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    np.testing.assert_allclose(p1, [[0.25, s(2) * s(-2), s(-1) * s(1), 0.5 * s(4)]])
    np.testing.assert_allclose(p2, [[0.5, 0.5, 0.5, s(2)]])
    np.testing.assert_allclose(argmax1, [[0, 0, 0, 2]])
    np.testing.assert_array_equal(argmax1, argmax2)
    np.testing.assert_allclose(late_fusion.fuse_probabilities(s(video), s(audio)[:, :], 2), p2, rtol=1e-6)
    np.testing.assert_allclose(late_fusion.fuse_probabilities(s(video), s(audio), 1), p1, rtol=1e-6)
    assert late_fusion.fuse_probabilities(np.zeros((5, 4)), np.zeros((4, 4)), 1).shape == (4, 4)


def test_fusion_lists_the_seven_methods(capsys):
    assert fusion.main(["--list"]) == 0
    text = capsys.readouterr().out
    for number, method in names.METHODS.items():
        assert f"{number}. {method.name}" in text
    assert "run: fusion.py --method 2" in text and "run: ClassificationMinuteBased.py --architecture 4" in text


# ------------------------------------------------------------------------------------------------
# End to end through main() on the tiny synthetic set


def _argv(root, tflog, *extra):
    return training_argv(root, tflog, *extra)


@pytest.mark.parametrize("architecture", ["VideoNetwork", "AudioNetwork", "AudioVideoArchi4", "AudioVideoArchi5",
                                          "AudioVideoArchi6", "AudioVideoArchi7", "AudioVideoArchi8"])
def test_every_architecture_trains_and_tests(tiny_root, tmp_path, architecture):
    assert cmb.main(_argv(tiny_root, tmp_path, "--architecture", architecture, "--max_epoch", "2")) == 0
    (run,) = tmp_path.iterdir()
    names = {p.name for p in run.iterdir()}
    assert {"args.json", "best_model.keras", "metrics.csv", "train.log", "test_report.json",
            "predictions_listgame_Test_2.npz", "training", "validation", "testing"} <= names
    assert "checkpoint" not in names  # a finished run drops what only resuming needs
    report = json.loads((run / "test_report.json").read_text())
    saved = np.load(run / "predictions_listgame_Test_2.npz")
    # The report is that of the saved test logits, chunk for chunk.
    again = classification.classification_report(saved["labels"], classification.sigmoid(saved["logits"]))
    assert report["mAP"] == pytest.approx(again["mAP"]) and report["confusion_matrix"] == again["confusion_matrix"]
    assert sum(map(sum, report["confusion_matrix"])) == report["chunks"] == len(saved["logits"])
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 2
    args = json.loads((run / "args.json").read_text())
    assert args["args"]["architecture"] == architecture and args["versions"]["tensorflow"]


def test_predict_mode_reproduces_the_test_logits(tiny_root, tiny_runs, tmp_path, monkeypatch):
    import keras

    def no_optimizer(*args, **kwargs):
        raise AssertionError("--mode predict built an optimizer")

    from networks import optimizer

    monkeypatch.setattr(keras.optimizers, "Adam", no_optimizer)  # prediction needs no optimizer state
    monkeypatch.setattr(optimizer, "original_adam", no_optimizer)
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["video"], run)
    saved = dict(np.load(run / "predictions_listgame_Test_2.npz"))
    (run / "predictions_listgame_Test_2.npz").unlink()
    assert cmb.main(_argv(tiny_root, tmp_path, "--mode", "predict", "--model", str(run))) == 0
    again = np.load(run / "predictions_listgame_Test_2.npz")
    np.testing.assert_allclose(again["logits"], saved["logits"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(again["labels"], saved["labels"])


def test_xla_descriptor_trains_to_the_same_model(tiny_root, tiny_runs, tmp_path, monkeypatch):
    """--xla_descriptor: the tiny video run trained again with the descriptor compiled gives its test logits
    up to float rounding (the same seed, data and steps)."""
    argv = training_argv(tiny_root, tmp_path, "--architecture", "VideoNetwork", "--max_epoch", "1", "--xla_descriptor")
    calls = count_xla_descriptor(monkeypatch)
    try:
        assert cmb.main(argv) == 0
    finally:
        kernels.set_xla_descriptor(False)
    assert calls, "the compiled descriptor was not used"
    (run,) = tmp_path.iterdir()
    assert json.loads((run / "args.json").read_text())["args"]["xla_descriptor"] is True
    compiled = np.load(run / "predictions_listgame_Test_2.npz")
    plain = np.load(tiny_runs["video"] / "predictions_listgame_Test_2.npz")
    np.testing.assert_array_equal(compiled["labels"], plain["labels"])
    np.testing.assert_allclose(compiled["logits"], plain["logits"], rtol=1e-3, atol=1e-4)


def test_tensorboard_steps_are_the_1_based_epochs_of_metrics_csv(tiny_root, tmp_path):
    import csv

    import tensorflow as tf

    argv = training_argv(tiny_root, tmp_path, "--architecture", "VideoNetwork", "--max_epoch", "2")
    assert cmb.main(argv) == 0
    (run,) = tmp_path.iterdir()
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))

    def steps(split: str, tag: str) -> dict[int, float]:
        found = {}
        for path in (run / split).glob("events.out.tfevents.*"):
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    if value.tag == tag:
                        found[event.step] = float(tf.make_ndarray(value.tensor))
        return found

    assert steps("validation", "AP/mean") == {int(r["epoch"]): pytest.approx(float(r["valid_mAP"]), abs=1e-6)
                                              for r in rows}
    assert sorted(steps("training", "AP/mean")) == [1, 2]
    assert list(steps("testing", "AP/mean")) == [int(rows[-1]["best_epoch"])]


def test_predict_mode_takes_the_runs_settings(tiny_root, tiny_runs, tmp_path, capsys):
    """--mode predict reads model and data flags from args.json (the run is T = 20 s, --PCA; the command
    line defaults are T = 60 s, no --PCA), refuses a contradicting flag, and writes the report of another
    list beside the run's own test report instead of over it."""
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["video"], run)
    own = (run / "test_report.json").read_bytes()
    base = ["--mode", "predict", "--model", str(run), "--no_progress", "--loglevel", "WARNING"]
    capsys.readouterr()
    assert cmb.main(base) == 0  # the run's own test list
    out = capsys.readouterr().out
    assert "test (listgame_Test_2.npy)" in out and "mAP" in out  # the report goes to stdout
    assert json.loads((run / "test_report.json").read_bytes())["mAP"] == pytest.approx(json.loads(own)["mAP"], abs=1e-6)
    before = (run / "test_report.json").read_bytes()
    valid = tiny_root / "listgame_Valid_2.npy"
    assert cmb.main(base + ["--testing", str(valid)]) == 0
    assert (run / "test_report.json").read_bytes() == before
    other = json.loads((run / "test_report_listgame_Valid_2.json").read_text())
    saved = np.load(run / "predictions_listgame_Valid_2.npz")
    assert other["chunks"] == len(saved["logits"]) > 0
    assert other["mAP"] == pytest.approx(
        classification.classification_report(saved["labels"], classification.sigmoid(saved["logits"]))["mAP"])
    for flag, value in (("--WindowSize", "60"), ("--architecture", "AudioNetwork"), ("--featuresVideo", "I3D")):
        assert cmb.main(base + [flag, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"was trained with {flag}" in err[0], err
    assert cmb.main(base + ["--WindowSize", "20", "--PCA"]) == 0  # agreeing flags are accepted
    # An unfinished run (no test report yet) stays unfinished: its test goes beside, not in test_report.json.
    (run / "test_report.json").unlink()
    assert cmb.main(base) == 0
    assert not (run / "test_report.json").exists() and (run / "test_report_listgame_Test_2.json").is_file()
    with pytest.raises(SystemExit) as stop:
        cmb.main(base + ["--resume", str(run)])
    assert stop.value.code == 2


def test_late_fusion_of_two_runs(tiny_runs, tmp_path, capsys):
    video, audio = tiny_runs["video"], tiny_runs["audio"]
    for method in (1, 2):
        out = tmp_path / f"m{method}.json"
        assert fusion.main(["--method", str(method), "--video_run", str(video), "--audio_run", str(audio),
                            "--output", str(out)]) == 0
        report = json.loads(out.read_text())
        v, a = (np.load(r / "predictions_listgame_Test_2.npz") for r in (video, audio))
        probabilities, _ = late_fusion.fuse_logits(v["logits"], a["logits"], method)
        assert report["AP"]["goal"] == pytest.approx(classification.pr_auc(v["labels"][:, 3], probabilities[:, 3]))
    assert "method 2 (Archi3Prediction)" in capsys.readouterr().out
    # Runs that scored other chunks are refused.
    other = tmp_path / "other"
    shutil.copytree(audio, other)
    data = dict(np.load(other / "predictions_listgame_Test_2.npz"))
    data["start"] = data["start"] + 1
    np.savez(other / "predictions_listgame_Test_2.npz", **data)
    assert fusion.main(["--method", "1", "--video_run", str(video), "--audio_run", str(other)]) == 2
    assert "does not score the same chunks" in capsys.readouterr().err


def test_late_fusion_needs_a_video_and_an_audio_run_of_the_same_chunks(tiny_runs, tmp_path, capsys):
    video, audio, fused = tiny_runs["video"], tiny_runs["audio"], tiny_runs["fusion"]

    def refused(video_run, audio_run, words):
        assert fusion.main(["--method", "2", "--video_run", str(video_run), "--audio_run", str(audio_run)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err

    refused(video, video, "is the video run too")
    refused(audio, video, "--video_run needs a run of VideoNetwork")
    refused(video, fused, "--architecture AudioVideoArchi5; --audio_run needs a run of AudioNetwork")
    for key, value in (("WindowSize", 60.0), ("training", "/elsewhere/listgame_Train_300.npy")):
        other = tmp_path / f"audio_{key}"
        shutil.copytree(audio, other)
        recorded = json.loads((other / "args.json").read_text())
        recorded["args"][key] = value
        (other / "args.json").write_text(json.dumps(recorded))
        refused(video, other, f"has --{key} {value}")


def test_resume_ends_with_the_same_model(tiny_root, tmp_path, monkeypatch):
    argv = ["--architecture", "AudioVideoArchi5", "--max_epoch", "4", "--lr_patience", "0", "--deterministic",
            "--keep_checkpoint"]
    # Validation scores scripted (whatever the tiny data gives) so that epoch 2 is worse than epoch 1: with
    # --lr_patience 0 the learning rate then decays and the best state is restored before epoch 3.
    update = Schedule.update
    scripted = [0.5, 0.4, 0.6, 0.7]
    monkeypatch.setattr(Schedule, "update", lambda self, score: update(self, scripted[self.epoch + 1]))
    assert cmb.main(_argv(tiny_root, tmp_path / "whole", *argv)) == 0

    class Killed(BaseException):  # not an Exception: it passes run_command's one-line report, as a kill would
        pass

    def kill_after_second_epoch(epoch):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        cmb.main(_argv(tiny_root, tmp_path / "cut", *argv), after_epoch=kill_after_second_epoch)
    (run,) = (tmp_path / "cut").iterdir()
    assert not (run / "test_report.json").exists()
    assert cmb.main(["--resume", str(run), "--no_progress"]) == 0
    (whole,) = (tmp_path / "whole").iterdir()
    for name in ("checkpoint/best_state.npz", "predictions_listgame_Test_2.npz"):
        a, b = np.load(whole / name), np.load(run / name)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")
    strip = lambda path: [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]  # noqa: E731
    assert strip(whole / "metrics.csv") == strip(run / "metrics.csv")  # all but the seconds column
    assert "decay" in (run / "metrics.csv").read_text()  # the restore-best path was exercised


def test_bad_input_exits_2_with_one_line(tiny_root, tmp_path, capsys):
    bad = tmp_path / "list.txt"
    bad.write_text("no/such/game\n")
    argv = _argv(tiny_root, tmp_path / "runs", "--architecture", "VideoNetwork", "--max_epoch", "1")
    argv[argv.index("--validation") + 1] = str(bad)
    assert cmb.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "game folder not found" in err and "\n" not in err
    with pytest.raises(SystemExit):
        cmb.main(["--architecture", "AudioVideoArchi99"])
    assert "valid: VideoNetwork" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cmb.main(["--architecture", "Archi9Prediction"])
    assert "fusion.py" in capsys.readouterr().err
    for spelling in ("method 4", "method-4", "4", "AudioVideoArchi5"):
        assert cmb.build_parser().parse_args(["--architecture", spelling]).architecture == "AudioVideoArchi5"
    with pytest.raises(SystemExit):
        cmb.main(["--architecture", "4", "--loglevel", "LOUD"])
    assert "unknown log level 'LOUD'" in capsys.readouterr().err


def test_mixed_precision_training_reaches_the_float32_map_and_reloads(tiny_root, tmp_path):
    """--precision mixed_bfloat16: the best validation mAP of 3 epochs within 5 points of float32's; the
    saved model (float32 weights; it reloads as float32) predicts in bfloat16 close to float32. mixed_float16
    (loss scaling) trains with finite losses."""
    import csv

    best, runs_of = {}, {}
    for precision in ("float32", "mixed_bfloat16", "mixed_float16"):
        tflog = tmp_path / precision
        epochs = "1" if precision == "mixed_float16" else "3"
        assert cmb.main(_argv(tiny_root, tflog, "--architecture", "VideoNetwork", "--max_epoch", epochs,
                              "--precision", precision)) == 0
        (runs_of[precision],) = tflog.iterdir()
        with open(runs_of[precision] / "metrics.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert all(np.isfinite(float(r["train_loss"])) for r in rows)
        best[precision] = max(float(r["valid_mAP"]) for r in rows)
    assert abs(best["mixed_bfloat16"] - best["float32"]) <= 0.05, best
    model = architectures.load_model(runs_of["mixed_bfloat16"] / "best_model.keras")
    assert model.get_layer("video_pooling").compute_dtype == "float32"
    in_bfloat16 = architectures.with_policy(model, "mixed_bfloat16")
    assert in_bfloat16.get_layer("video_pooling").compute_dtype == "bfloat16"
    assert in_bfloat16.get_layer("logits").compute_dtype == "float32"
    rng = np.random.default_rng(0)
    x = {"video": rng.standard_normal((16, 40, 512)).astype(np.float32)}
    in_bf16 = np.asarray(architectures.logits_function(in_bfloat16)(x))
    in_f32 = np.asarray(architectures.logits_function(model)(x))
    assert in_bf16.dtype == np.float32
    np.testing.assert_allclose(in_bf16, in_f32, atol=0.1 * max(1.0, float(np.abs(in_f32).max())))
    saved = np.load(runs_of["mixed_bfloat16"] / "predictions_listgame_Test_2.npz")
    assert np.all(np.isfinite(saved["logits"]))


@pytest.mark.parametrize("flag,value,expected", [
    ("--WindowSize", "nan", "a finite number above 0, not nan"), ("--WindowSize", "0", "a finite number above 0, not 0"),
    ("--featurePerSec", "0", "a whole number above 0, not 0"), ("--LR", "nan", "a finite number above 0, not nan"),
    ("--LR", "-1", "a finite number above 0, not -1"), ("--min_LR", "inf", "a finite number at least 0, not inf"),
    ("--batch_size", "0", "a whole number above 0, not 0"), ("--VLAD_k", "0", "a whole number above 0, not 0"),
    ("--max_epoch", "0", "a whole number above 0, not 0"), ("--memory_budget", "-1", "a finite number at least 0, not -1"),
    ("--join_timeout", "nan", "a finite number above 0, not nan"), ("--lr_patience", "-1", "a whole number at least 0, not -1"),
    ("--heartbeat_timeout", "0", "a finite number above 0, not 0"),
])
def test_numbers_out_of_range_are_usage_errors_before_anything_is_written(tiny_root, tmp_path, flag, value, expected,
                                                                           capsys):
    with pytest.raises(SystemExit) as stopped:
        cmb.main(training_argv(tiny_root, tmp_path / "runs", "--architecture", "AudioNetwork",
                                                     flag, value))
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].endswith(f"error: {flag} must be {expected}"), err
    assert not (tmp_path / "runs").exists()


def test_a_window_longer_than_every_half_and_a_repeated_game_are_refused(tiny_root, tmp_path, capsys):
    argv = training_argv(tiny_root, tmp_path / "runs", "--architecture", "AudioNetwork", "--WindowSize", "100000")
    assert cmb.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {tiny_root / 'listgame_Train_3.npy'}: no chunk of --WindowSize 100000 s fits "
                              "in any of its halves (the longest is "), err
    games = dataset.read_game_list(tiny_root / "listgame_Train_3.npy")
    repeated = write_list(tmp_path / "repeated.npy", games + games[:1])
    argv = training_argv(tiny_root, tmp_path / "runs", "--architecture", "AudioNetwork", "--training", str(repeated),
                         "--SoccerNet_path", str(tiny_root))
    assert cmb.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {repeated}: entry 4 {games[0]!r} repeats entry 1", err
    assert not (tmp_path / "runs").exists()
