"""The class sets (base.classes) through the data layer, the networks, training, predict mode and spotting."""
from __future__ import annotations

import json
import logging
import shutil
import zipfile

import numpy as np
import pytest
from conftest import training_argv, write_game, write_list

import ClassificationMinuteBased as cmb
import ClassificationSecondBased as csb
import dataset
from base import classes, errors, labels
from networks import architectures
from runtime import rundir

GAME = "league/2016-2017/2016-09-10 - 15-00 Home 1 - 0 Away"


def v2_annotation(half, seconds, label, shown=True):
    return {"gameTime": labels.seconds_to_game_time(half, seconds), "label": label,
            "position": str(int(round(seconds * 1000))), "team": "home",
            "visibility": "visible" if shown else "not shown"}


# ------------------------------------------------------------------------------------------------
# The class sets and the labels


def test_the_two_class_sets():
    assert classes.V1.classes == ("background", "card", "subs", "goal") and classes.V1.num_classes == 4
    assert classes.V2.num_classes == 18 and classes.V2.classes[0] == "background"
    # The package's EVENT_DICTIONARY_V2 order: column c + 1 is its class c.
    from SoccerNet.Evaluation.utils import EVENT_DICTIONARY_V2

    assert {name: c - 1 for c, name in enumerate(classes.V2.classes) if c} == EVENT_DICTIONARY_V2
    assert classes.V2.titles[7] == "shots_off_target" and classes.V2.titles[17] == "yellow_to_red_card"
    assert classes.class_set(None) is classes.V1 and classes.of_width(18) is classes.V2
    with pytest.raises(ValueError, match="unknown class set 'v3'"):
        classes.class_set("v3")
    with pytest.raises(ValueError, match="no class set has 5 columns"):
        classes.of_width(5)


def test_v2_labels_in_both_class_sets(tmp_path, caplog):
    path = tmp_path / "Labels-v2.json"
    path.write_text(json.dumps({"annotations": [
        v2_annotation(1, 10.5, "Throw-in"), v2_annotation(1, 59.9, "Goal"), v2_annotation(1, 61.0, "Corner", False),
        v2_annotation(2, 0.2, "Kick-off"), v2_annotation(2, 30.0, "Yellow->red card"), v2_annotation(2, 31, "Dive"),
        v2_annotation(2, 45.0, "Substitution")]}))
    with caplog.at_level(logging.WARNING):
        events = labels.read_labels(path, classes.V2)
    assert [(e.half, e.seconds, e.label, e.visible) for e in events] == [
        (1, 10.5, 10, True), (1, 59.9, 3, True), (1, 61.0, 14, False), (2, 0.2, 2, True), (2, 30.0, 17, True),
        (2, 45.0, 4, True)]
    assert "Labels-v2.json: 1 annotations skipped, labels not in the v2 classes: 'Dive' x1" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        folded = labels.read_labels(path, classes.V1)  # v1 keeps Goal, the cards and Substitution
    assert [(e.half, e.seconds, e.label) for e in folded] == [(1, 59.9, 3), (2, 30.0, 1), (2, 45.0, 2)]
    assert "4 annotations skipped, labels not in the v1 classes: 'Corner' x1, 'Dive' x1" in caplog.text
    # Hand-worked 20 s chunks of half 1 (4 chunks): Throw-in in chunk 0, Goal and Corner in chunks 2 and 3.
    chunks = dataset.chunk_labels([e for e in events if e.half == 1], 4, 20, classes.V2)
    expected = np.zeros((4, 18), np.float32)
    expected[0, 10] = expected[2, 3] = expected[3, 14] = 1.0
    expected[1, 0] = 1.0
    np.testing.assert_array_equal(chunks, expected)
    v1_file = tmp_path / "Labels.json"
    v1_file.write_text(json.dumps({"annotations": [{"gameTime": "1 - 00:10", "label": "y-card"}]}))
    with pytest.raises(errors.DataError, match="the v2 classes are read from Labels-v2.json, not from Labels.json"):
        labels.read_labels(v1_file, classes.V2)


def test_a_split_reads_its_class_set_and_counts_unknown_labels(tmp_path):
    annotations = [v2_annotation(1, 5, "Foul"), v2_annotation(1, 40, "Goal"), v2_annotation(2, 3, "Clearance")]
    write_game(tmp_path, GAME, frames=(120, 120), annotations=annotations, label_file="Labels-v2.json")
    games = write_list(tmp_path / "l.npy", [GAME])
    v2 = dataset.Split(games, classes="v2")
    assert v2.summary(20)["events"]["Foul"] == 1 and v2.summary(20)["unknown_labels"] == 0
    index = v2.chunk_index(20)
    assert index.labels.shape == (6, 18) and index.labels[0, 11] == 1 and index.labels[2, 3] == 1
    # v1 opens a game that has only Labels-v2.json: the goal kept, the two others counted as skipped.
    v1 = dataset.Split(games)
    assert v1.summary(20)["events"] == {"card": 0, "subs": 0, "goal": 1} and v1.summary(20)["unknown_labels"] == 2
    assert v1.chunk_index(20).labels.shape == (6, 4)


# ------------------------------------------------------------------------------------------------
# The networks


@pytest.mark.parametrize("architecture", ["VideoNetwork", "AudioVideoArchi5", "AudioVideoArchi7"])
def test_v2_heads_and_parameter_counts(architecture):
    built = {name: architectures.build_model(architecture, num_frames=40, vlad_k=4, classes=name)
             for name in ("v1", "v2")}
    assert built["v1"].output_shape == (None, 4) and built["v2"].output_shape == (None, 18)
    heads = [layer for layer in built["v2"].layers if layer.name.endswith("logits") or layer is built["v2"].layers[-1]]
    assert heads
    # Only the logits layer(s) change: (inputs + 1) weights for each of the 14 more classes.
    extra = sum(14 * (int(layer.kernel.shape[0]) + 1) for layer in built["v2"].layers
                if getattr(layer, "kernel", None) is not None and int(layer.kernel.shape[-1]) == 18)
    count = {name: model.count_params() for name, model in built.items()}
    assert count["v2"] - count["v1"] == extra > 0
    assert architectures.model_build_config(built["v2"])["classes"] == "v2"
    with pytest.raises(ValueError, match="num_classes 4 is not the width of the v2 classes"):
        architectures.build_model(architecture, num_frames=40, classes="v2", num_classes=4)


# ------------------------------------------------------------------------------------------------
# Training, predict mode and spotting a v2 model


V2_OF_V1 = {"card": "Yellow card", "subs": "Substitution", "goal": "Goal"}


@pytest.fixture(scope="module")
def tiny_v2_root(tiny_root, tmp_path_factory):
    """The tiny set with Labels-v2.json instead of Labels.json: its events renamed to v2 labels, and a throw-in
    10 s before and a foul (not shown) 5 s after each."""
    root = tmp_path_factory.mktemp("tiny_v2") / "data"
    shutil.copytree(tiny_root, root)
    for v1_file in root.rglob("Labels.json"):
        annotations = []
        for event in labels.read_labels(v1_file):
            name = V2_OF_V1[classes.V1.classes[event.label]]
            annotations += [v2_annotation(event.half, event.seconds, name),
                            v2_annotation(event.half, max(event.seconds - 10, 0), "Throw-in"),
                            v2_annotation(event.half, event.seconds + 5, "Foul", shown=False)]
        (v1_file.parent / "Labels-v2.json").write_text(json.dumps({"annotations": annotations}))
        v1_file.unlink()
    return root


@pytest.fixture(scope="module")
def v2_run(tiny_v2_root, tmp_path_factory):
    tflog = tmp_path_factory.mktemp("run_v2")
    argv = training_argv(tiny_v2_root, tflog, "--architecture", "VideoNetwork", "--classes", "v2", "--max_epoch", "1")
    assert cmb.main(argv) == 0
    (run,) = tflog.iterdir()
    return run


def test_training_a_v2_model(v2_run):
    assert rundir.read_args(v2_run)["classes"] == "v2"
    report = json.loads((v2_run / rundir.TEST_REPORT).read_text())
    assert list(report["AP"]) == list(classes.V2.classes)
    assert report["events"]["Throw-in"] > 0 and report["events"]["Foul"] > 0 and report["events"]["Penalty"] == 0
    saved = rundir.read_predictions(rundir.predictions_file(v2_run, rundir.read_args(v2_run)["testing"]))
    assert saved["logits"].shape[1] == saved["labels"].shape[1] == 18


def test_predict_and_spot_take_the_class_set_from_the_model(v2_run, tiny_v2_root, tmp_path, capsys):
    assert cmb.main(["--mode", "predict", "--model", str(v2_run), "--no_progress"]) == 0
    capsys.readouterr()
    assert cmb.main(["--mode", "predict", "--model", str(v2_run), "--classes", "v1", "--no_progress"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if " INFO " not in line]
    assert len(err) == 1 and err[0].startswith("error: ") and "was trained with --classes v2, not v1" in err[0]
    out = tmp_path / "spots"
    argv = ["--model", str(v2_run), "--testing", str(tiny_v2_root / "listgame_Test_2.npy"), "--output_dir", str(out),
            "--output", "v2", "--no_progress"]
    assert csb.main(argv + ["--classes", "v1"]) == 2
    assert "was trained with --classes v2, not v1" in capsys.readouterr().err and not out.exists()
    assert csb.main(argv + ["--zip", str(tmp_path)]) == 2  # a folder: refused before any work
    assert "--zip: is a folder" in capsys.readouterr().err and not out.exists()
    assert csb.main(argv + ["--zip", str(tmp_path / "v2.zip")]) == 0
    games = dataset.read_game_list(tiny_v2_root / "listgame_Test_2.npy")
    with zipfile.ZipFile(tmp_path / "v2.zip") as archive:  # the challenge server's form
        assert archive.namelist() == [f"{g}/results_spotting.json" for g in games]
        for g in games:
            assert json.loads(archive.read(f"{g}/results_spotting.json")) == json.loads(
                (out / "results_spotting_v2" / g / "results_spotting.json").read_text())
    game = games[0]
    half = np.load(out / game / "v2_Half_1.npy")
    assert half.shape[1] == 18 and half.dtype == np.float32
    spots = json.loads((out / "results_spotting_v2" / game / "results_spotting.json").read_text())["predictions"]
    assert spots and {s["label"] for s in spots} <= set(classes.V2.event_classes)


def test_late_fusion_of_two_v2_runs_and_a_mixed_pair_refused(v2_run, tiny_v2_root, tiny_runs, tmp_path, capsys):
    import fusion

    tflog = tmp_path / "audio"
    argv = training_argv(tiny_v2_root, tflog, "--architecture", "AudioNetwork", "--classes", "v2", "--max_epoch", "1")
    assert cmb.main(argv) == 0
    (audio,) = tflog.iterdir()
    assert fusion.main(["--method", "2", "--video_run", str(v2_run), "--audio_run", str(audio),
                        "--output", str(tmp_path / "m2.json")]) == 0
    report = json.loads((tmp_path / "m2.json").read_text())
    assert list(report["AP"]) == list(classes.V2.classes) and len(report["confusion_matrix"]) == 18
    capsys.readouterr()
    assert fusion.main(["--method", "2", "--video_run", str(v2_run), "--audio_run", str(tiny_runs["audio"])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has --classes v1, the video run v2" in err[0]
