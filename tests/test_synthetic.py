"""The synthetic SoccerNet: layout, formats, determinism, event statistics, the command line."""
from __future__ import annotations

import collections
import dataclasses
import json

import numpy as np
import pytest
from conftest import TINY

import dataset
from base import classes, labels as label_files
from experiments import make_synthetic, synthetic, synthetic_v2


def test_layout_and_formats(tiny_root):
    assert json.loads((tiny_root / synthetic.MANIFEST).read_text()) == TINY.to_json()
    for name, count in (("Train", 3), ("Valid", 2), ("Test", 2)):
        games = dataset.read_game_list(tiny_root / f"listgame_{name}_{count}.npy")
        official = dataset.read_game_list(synthetic.OFFICIAL_LISTS[name])
        assert games == official[:count]
    game = dataset.read_game_list(tiny_root / "listgame_Test_2.npy")[0]
    folder = tiny_root / game
    assert sorted(p.name for p in folder.iterdir()) == [
        "1_ResNET_PCA512.npy", "1_VGGish.npy", "2_ResNET_PCA512.npy", "2_VGGish.npy", "Labels.json"]
    video = np.load(folder / "1_ResNET_PCA512.npy")
    audio = np.load(folder / "1_VGGish.npy")
    assert video.dtype == np.float32 and video.shape[1] == 512
    assert audio.dtype == np.float32 and audio.shape[1] == 512 and audio.min() >= 0
    assert 0 <= video.shape[0] - audio.shape[0] <= 2
    assert 2 * 60 * 4 <= video.shape[0] <= 2 * 60 * 4.5
    labels = json.loads((folder / "Labels.json").read_text())
    assert labels["UrlLocal"] == game + "/"
    for annotation in labels["annotations"]:
        assert set(annotation) == {"gameTime", "label", "team"}
        assert annotation["label"] in {"soccer-ball", "soccer-ball-own", "y-card", "r-card", "yr-card",
                                       "substitution-in"}
        label_files.parse_game_time(annotation["gameTime"])


def test_video_has_decaying_variance_and_is_correlated_in_time(tiny_root):
    game = dataset.read_game_list(tiny_root / "listgame_Train_3.npy")[0]
    video = np.load(tiny_root / game / "1_ResNET_PCA512.npy").astype(np.float64)
    variance = video.var(axis=0)
    assert variance[:32].mean() > 4 * variance[-32:].mean()
    centred = video - video.mean(axis=0)
    lag1 = (centred[1:] * centred[:-1]).sum() / (centred ** 2).sum()
    assert lag1 > 0.5


def test_deterministic_for_a_seed_and_independent_of_the_game_count(tmp_path, tiny_root):
    config = dataclasses.replace(TINY, games=(1, 1, 1))
    root = synthetic.generate(tmp_path / "a", config, progress=False)
    game = dataset.read_game_list(root / "listgame_Train_1.npy")[0]
    for name in ("1_ResNET_PCA512.npy", "2_VGGish.npy", "Labels.json"):
        assert (root / game / name).read_bytes() == (tiny_root / game / name).read_bytes()
    other = synthetic.generate(tmp_path / "b", dataclasses.replace(config, seed=4), progress=False)
    assert (other / game / "1_ResNET_PCA512.npy").read_bytes() != (root / game / "1_ResNET_PCA512.npy").read_bytes()


def test_event_statistics_like_soccernet_v1():
    config = synthetic.SyntheticConfig()
    games = dataset.read_game_list(synthetic.OFFICIAL_LISTS["Train"])
    counts = {1: [], 2: [], 3: []}
    second_half_subs = total_subs = 0
    for game in games:
        plan = synthetic.plan_game(game, config, np.random.default_rng(synthetic.game_seed(0, game)))
        assert all(2 * 60 * 46 <= n <= 2 * 60 * 50 for n in plan.lengths)
        found = [classes.V1.class_of(a["label"], classes.V1_LABEL_FILE) for a in plan.annotations]
        for c in counts:
            counts[c].append(found.count(c))
        subs = [a for a in plan.annotations if a["label"] == "substitution-in"]
        total_subs += len(subs)
        second_half_subs += sum(a["gameTime"].startswith("2") for a in subs)
        score = synthetic.parse_score(game)
        assert found.count(3) == sum(score)  # goals follow the score in the game's name
    assert 2.2 < np.mean(counts[3]) < 3.3
    assert 4.0 < np.mean(counts[1]) < 5.0
    assert 4.3 < np.mean(counts[2]) < 5.5
    assert second_half_subs > 0.8 * total_subs


def test_signatures_follow_the_paper():
    """Mean feature change at event times: cards and subs show on video, goals loudest on audio."""
    config = synthetic.SyntheticConfig()
    style = synthetic.make_style(config)
    rng = np.random.default_rng(0)
    frames = 2 * 60 * 20
    occurrences = [(1, 300.0, "goal"), (1, 600.0, "card"), (1, 900.0, "subs")]
    audio = synthetic.make_audio(rng, style, config, frames, occurrences, 1, chants=0)
    loud = {kind: audio[int(2 * t):int(2 * t) + 20].mean() for _, t, kind in occurrences}
    assert loud["goal"] > 1.3 * max(loud["card"], loud["subs"])
    quiet = synthetic.make_audio(rng, style, synthetic.SyntheticConfig(audio_strength=0.0), frames,
                                 occurrences, 1, chants=0)
    assert quiet[600:640].mean() < audio[600:640].mean()


def test_command_line(tmp_path, capsys):
    assert make_synthetic.main(["--output", str(tmp_path / "s"), "--games", "1", "1", "1", "--half_minutes", "2",
                                "--stoppage", "0", "0", "--quiet"]) == 0
    assert (tmp_path / "s" / "listgame_Valid_1.npy").is_file()
    stamp = (tmp_path / "s" / synthetic.MANIFEST).stat().st_mtime_ns
    assert make_synthetic.main(["--output", str(tmp_path / "s"), "--games", "1", "1", "1", "--half_minutes", "2",
                                "--stoppage", "0", "0", "--quiet"]) == 0  # unchanged settings: not regenerated
    assert (tmp_path / "s" / synthetic.MANIFEST).stat().st_mtime_ns == stamp
    assert make_synthetic.main(["--output", str(tmp_path / "t"), "--games", "0", "1", "1"]) == 2
    assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        make_synthetic.main(["--games", "1"])


def test_official_evaluator_discovers_the_synthetic_games(tiny_root, tmp_path):
    """The official evaluator with dataset=None takes every folder holding a .json file for a game: the
    settings file at the data root must not be one. Perfect spots (each event at its second) score 1."""
    from SoccerNet.Evaluation.ActionSpotting import evaluate
    from SoccerNet.Evaluation.utils import EVENT_DICTIONARY_V1

    assert not list(tiny_root.glob("*.json"))
    games = [g for name in synthetic.list_names(TINY).values() for g in dataset.read_game_list(tiny_root / name)]
    labels = {"card": "card", "subs": "subs", "goal": "soccer"}
    for game in games:
        items = [{"gameTime": label_files.seconds_to_game_time(e.half, int(e.seconds)),
                  "label": labels[classes.V1.classes[e.label]], "position": str(int(e.seconds) * 1000),
                  "half": str(e.half), "confidence": "1.0"}
                 for e in label_files.read_labels(tiny_root / game / "Labels.json")]
        target = tmp_path / game / "results_spotting.json"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps({"UrlLocal": game, "predictions": items}))
    official = evaluate(SoccerNet_path=str(tiny_root), Predictions_path=str(tmp_path),
                        prediction_file="results_spotting.json", split="test", version=1, label_files="Labels.json",
                        dataset=None, EVENT_DICTIONARY=EVENT_DICTIONARY_V1)
    assert official["a_mAP"] == pytest.approx(1.0)


def test_progress_bars_stay_out_of_redirected_output(tmp_path):
    """With stderr a file (not a terminal), no bar frames are written, only the log lines."""
    import subprocess
    import sys

    from conftest import TOP

    with open(tmp_path / "stderr.txt", "w") as err:
        done = subprocess.run([sys.executable, "-m", "experiments.make_synthetic", "--output", str(tmp_path / "d"),
                               "--games", "1", "1", "1", "--half_minutes", "1"], cwd=TOP, stdout=subprocess.PIPE,
                              stderr=err, text=True, timeout=120)
    assert done.returncode == 0 and "3 games" in done.stdout
    logged = (tmp_path / "stderr.txt").read_text()
    assert "\r" not in logged and "game/s" not in logged


V1_REFERENCE = "7ee41c2"  # the last commit before the v2 class set was added to the generator


def _module_at(commit: str, path: str, name: str):
    """The module `path` as it was at `commit` (from `git show`), loaded under `name`; skipped without history."""
    import subprocess
    import sys
    import types

    from conftest import TOP

    shown = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=TOP, capture_output=True, text=True, timeout=60)
    if shown.returncode != 0:
        pytest.skip(f"commit {commit} is not in this tree's history")
    module = types.ModuleType(name)
    module.__file__ = str(TOP / path)
    sys.modules[name] = module  # dataclasses look their module up there
    exec(compile(shown.stdout, f"{commit}:{path}", "exec"), module.__dict__)
    return module


def test_v1_files_are_bit_for_bit_those_of_the_reference_commit(tmp_path):
    """The v1 set (the default) is written byte for byte as the generator of commit V1_REFERENCE wrote it,
    raw video and the v2 file names included."""
    old = _module_at(V1_REFERENCE, "experiments/synthetic.py", "synthetic_reference")
    for settings in ({"raw_video": True}, {"video_features": "ResNET_TF2", "seed": 5}):
        common = dict(games=(1, 1, 1), half_minutes=2.0, stoppage_minutes=(0.0, 0.5), event_rate=10.0, **settings)
        old_root = old.generate(tmp_path / "old", old.SyntheticConfig(**common), progress=False)
        new_root = synthetic.generate(tmp_path / "new", synthetic.SyntheticConfig(**common), progress=False)
        old_files = sorted(p.relative_to(old_root) for p in old_root.rglob("*") if p.is_file())
        new_files = sorted(p.relative_to(new_root) for p in new_root.rglob("*") if p.is_file())
        assert old_files == new_files and len(old_files) >= 3 * 5 + 4
        for relative in old_files:
            assert (old_root / relative).read_bytes() == (new_root / relative).read_bytes(), relative


# --------------------------------------------------------------------------------------------
# The v2 classes (--classes v2, experiments/synthetic_v2.py)

V2_TINY = synthetic.SyntheticConfig(games=(2, 1, 1), half_minutes=6.0, stoppage_minutes=(0.0, 0.5), seed=2,
                                    classes="v2")
# Mean actions per game at full length, as asked of the set (roughly SoccerNet-v2's), and the range allowed.
V2_RATES = {"Ball out of play": 50, "Throw-in": 40, "Foul": 25, "Indirect free-kick": 20, "Clearance": 15,
            "Shots off target": 10, "Shots on target": 9, "Corner": 9, "Substitution": 5, "Kick-off": 5,
            "Direct free-kick": 5, "Offside": 4, "Yellow card": 4, "Goal": 3, "Penalty": 0.3, "Red card": 0.1,
            "Yellow->red card": 0.1}


@pytest.fixture(scope="module")
def v2_root(tmp_path_factory):
    return synthetic.generate(tmp_path_factory.mktemp("synthetic_v2"), V2_TINY, progress=False)


def test_v2_layout_and_format(v2_root):
    assert json.loads((v2_root / synthetic.MANIFEST).read_text())["classes"] == "v2"
    games = []
    for name, count in (("Train", 2), ("Valid", 1), ("Test", 1)):
        listed = dataset.read_game_list(v2_root / f"listgame_{name}_{count}.npy")
        assert listed == dataset.read_game_list(synthetic.OFFICIAL_LISTS[name])[:count]
        games += listed
    events = 0
    for game in games:
        folder = v2_root / game
        assert sorted(p.name for p in folder.iterdir()) == [
            "1_ResNET_PCA512.npy", "1_VGGish.npy", "2_ResNET_PCA512.npy", "2_VGGish.npy", "Labels-v2.json"]
        video, audio = np.load(folder / "2_ResNET_PCA512.npy"), np.load(folder / "2_VGGish.npy")
        assert video.dtype == audio.dtype == np.float32 and video.shape[1] == audio.shape[1] == 512
        assert audio.min() >= 0 and 0 <= video.shape[0] - audio.shape[0] <= 2
        content = json.loads((folder / "Labels-v2.json").read_text())
        assert content["UrlLocal"] == game + "/"
        for annotation in content["annotations"]:
            assert set(annotation) == {"gameTime", "label", "position", "team", "visibility"}
            assert annotation["label"] in classes.V2_EVENTS
            assert annotation["team"] in ("home", "away") and annotation["visibility"] in ("visible", "not shown")
            half, minute, second = label_files.parse_game_time(annotation["gameTime"])
            assert isinstance(annotation["position"], str)
            assert int(annotation["position"]) // 1000 == 60 * minute + second
        unknown = collections.Counter()
        read = label_files.read_labels(folder / "Labels-v2.json", classes.V2, unknown)
        assert not unknown and len(read) == len(content["annotations"]) > 10
        events += len(read)
        lengths = [np.load(folder / f"{half}_ResNET_PCA512.npy").shape[0] / 2 for half in (1, 2)]
        assert all(0 < e.seconds < lengths[e.half - 1] for e in read)
        assert [(e.half, e.seconds) for e in read] == sorted((e.half, e.seconds) for e in read)
    assert events > 80
    assert not (v2_root / games[0] / "Labels.json").exists()


def test_v2_statistics_like_soccernet_v2():
    """Over the 300 training games at full length: each class near its per-game rate, about 5 % not shown,
    a kick-off at the start of each half, and the sequences of a match (throw-ins after balls out of play)."""
    config = synthetic.SyntheticConfig(classes="v2")
    games = dataset.read_game_list(synthetic.OFFICIAL_LISTS["Train"])
    counts, hidden, total, preceded, throw_ins = collections.Counter(), 0, 0, 0, 0
    for game in games:
        plan = synthetic.plan_game(game, config, np.random.default_rng(synthetic.game_seed(0, game)))
        found = [a["label"] for a in plan.annotations]
        counts.update(found)
        hidden += sum(a["visibility"] == "not shown" for a in plan.annotations)
        total += len(found)
        for half in (1, 2):
            in_half = [a for a in plan.annotations if a["gameTime"][0] == str(half)]
            first = min(in_half, key=lambda a: int(a["position"]))
            assert first["label"] == "Kick-off" and int(first["position"]) < 3000
        assert found.count("Goal") == sum(synthetic.parse_score(game))
        for i, label in enumerate(found):
            throw_ins += label == "Throw-in"
            preceded += label == "Throw-in" and "Ball out of play" in found[max(0, i - 3):i]
    for label, rate in V2_RATES.items():
        mean = counts[label] / len(games)
        low, high = (0.75 * rate, 1.3 * rate) if rate >= 3 else (0.3 * rate, 2.5 * rate)
        assert low < mean < high, (label, mean, rate)
    assert 0.04 < hidden / total < 0.06
    assert preceded > 0.7 * throw_ins


def test_v2_deterministic_for_a_seed_and_independent_of_the_game_count(tmp_path, v2_root):
    config = dataclasses.replace(V2_TINY, games=(1, 1, 1))
    root = synthetic.generate(tmp_path / "a", config, progress=False)
    game = dataset.read_game_list(root / "listgame_Train_1.npy")[0]
    for name in ("1_ResNET_PCA512.npy", "2_VGGish.npy", "Labels-v2.json"):
        assert (root / game / name).read_bytes() == (v2_root / game / name).read_bytes()
    other = synthetic.generate(tmp_path / "b", dataclasses.replace(config, seed=4), progress=False)
    assert (other / game / "Labels-v2.json").read_bytes() != (root / game / "Labels-v2.json").read_bytes()
    assert synthetic.is_current(root, config)
    assert not synthetic.is_current(root, dataclasses.replace(config, classes="v1"))
    with pytest.raises(ValueError):
        synthetic.generate(tmp_path / "c", dataclasses.replace(config, classes="v3"), progress=False)


def _spans(templates) -> tuple[float, float]:
    return min(t[-4 if len(t) == 5 else 0] for t in templates), max(t[-3 if len(t) == 5 else 1] for t in templates)


@pytest.mark.parametrize("label", classes.V2_EVENTS)
def test_v2_each_class_has_a_video_and_an_audio_signature(label):
    """A direction found from one half holding the class's actions (mean near them minus mean far from them)
    separates, on a second half drawn anew, the frames near the actions from the others, on each stream."""
    config = synthetic.SyntheticConfig(classes="v2")
    style = synthetic.make_style(config)
    frames = 2 * 60 * 30
    occurrences = [(1, 60.0 + 90.0 * i, label) for i in range(18)]
    for stream, templates in (("video", synthetic_v2.VIDEO_TEMPLATES[label]),
                              ("audio", synthetic_v2.AUDIO_TEMPLATES[label])):
        begin, end = _spans(templates)
        near = np.zeros(frames, bool)
        for _, t, _ in occurrences:
            near[int(2 * (t + begin)):int(2 * (t + end))] = True
        far = ~np.convolve(near, np.ones(41), "same").astype(bool)  # 10 s away from any signature
        draws = []
        for seed in (1, 2):
            rng = np.random.default_rng(seed)
            if stream == "video":
                offset = np.zeros(synthetic.VIDEO_DIM, np.float32)
                draws.append(synthetic.make_video(rng, style, config, frames, occurrences, 1, offset))
            else:
                draws.append(synthetic.make_audio(rng, style, config, frames, occurrences, 1, chants=0))
        direction = draws[0][near].mean(0) - draws[0][far].mean(0)
        projected = draws[1] @ direction
        separation = (projected[near].mean() - projected[far].mean()) / projected[far].std()
        assert separation > 0.8, (label, stream, separation)


def test_v2_command_line(tmp_path):
    argv = ["--output", str(tmp_path / "v2"), "--classes", "v2", "--games", "1", "1", "1", "--half_minutes", "2",
            "--stoppage", "0", "0", "--quiet"]
    assert make_synthetic.main(argv) == 0
    game = dataset.read_game_list(tmp_path / "v2" / "listgame_Test_1.npy")[0]
    assert (tmp_path / "v2" / game / "Labels-v2.json").is_file()
    assert make_synthetic.build_parser().parse_args([]).classes == "v1"


def test_v2_labels_are_read_by_the_official_evaluator_and_by_the_data_layer(v2_root, tmp_path):
    """The official evaluator (version 2) scores perfect spots (each action at its position) 1 on every class the
    games hold; the data layer reads the games in the v2 classes with no label skipped, and in the v1 classes
    (Labels-v2.json folded into card, subs, goal)."""
    from SoccerNet.Evaluation.ActionSpotting import evaluate
    from SoccerNet.Evaluation.utils import EVENT_DICTIONARY_V2

    games = [g for name in synthetic.list_names(V2_TINY).values() for g in dataset.read_game_list(v2_root / name)]
    present = set()
    for game in games:
        annotations = json.loads((v2_root / game / "Labels-v2.json").read_text())["annotations"]
        present |= {a["label"] for a in annotations}
        items = [{"gameTime": a["gameTime"], "label": a["label"], "position": a["position"],
                  "half": a["gameTime"][0], "confidence": "1.0"} for a in annotations]
        target = tmp_path / game / "results_spotting.json"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps({"UrlLocal": game, "predictions": items}))
    official = evaluate(SoccerNet_path=str(v2_root), Predictions_path=str(tmp_path),
                        prediction_file="results_spotting.json", split="test", version=2, label_files="Labels-v2.json",
                        dataset=None, EVENT_DICTIONARY=EVENT_DICTIONARY_V2)
    assert len(present) >= 12
    for label in present:
        assert official["a_mAP_per_class"][EVENT_DICTIONARY_V2[label]] == pytest.approx(1.0), label
    split = dataset.Split(v2_root / "listgame_Train_2.npy", classes="v2")
    summary = split.summary()
    assert summary["unknown_labels"] == 0 and summary["events"]["Throw-in"] > 5
    folded = dataset.Split(v2_root / "listgame_Train_2.npy").summary()["events"]  # the v1 classes
    expected = collections.Counter()
    for game in dataset.read_game_list(v2_root / "listgame_Train_2.npy"):
        for a in json.loads((v2_root / game / "Labels-v2.json").read_text())["annotations"]:
            if a["label"] in classes.V2_TO_V1:
                expected[classes.V1.classes[classes.V2_TO_V1[a["label"]]]] += 1
    assert folded == {name: expected[name] for name in classes.V1.event_classes} and sum(folded.values()) > 0


def _refused(capsys, code, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and all(w in err[0] for w in words), err


def test_make_synthetic_checks_every_number_and_the_output_before_writing(tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    out = tmp_path / "s"
    base = ["--games", "1", "1", "1", "--half_minutes", "2", "--stoppage", "0", "0", "--quiet"]
    cases = [(["--half_minutes", "nan"], "--half_minutes"), (["--half_minutes", "-1"], "--half_minutes"),
             (["--stoppage", "5", "1"], "--stoppage"), (["--stoppage", "-2", "-1"], "--stoppage"),
             (["--stoppage", "0", "inf"], "--stoppage"), (["--event_rate", "-1"], "--event_rate"),
             (["--noise", "nan"], "--noise"), (["--video_strength", "inf"], "--video_strength"),
             (["--audio_strength", "-1"], "--audio_strength"), (["--confounders", "nan"], "--confounders"),
             (["--games", "1", "1", "1000"], "--games"), (["--seed", "-1"], "--seed")]
    for extra, flag in cases:
        _refused(capsys, make_synthetic.main(["--output", str(out)] + base + extra), f"error: {flag}: ")
    for output, words in ((tmp_path / "a_file", "--output names a file"),
                          (tmp_path / "a_file" / "sub", "--output cannot be created")):
        _refused(capsys, make_synthetic.main(["--output", str(output)] + base), str(output), words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_demo_and_reproduce_refuse_bad_flags_before_writing(tmp_path, capsys):
    from experiments import demo, reproduce

    (tmp_path / "a_file").write_text("x")
    folders = ["--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs"), "--results",
               str(tmp_path / "results"), "--no_progress"]
    for extra, words in ((["--half_minutes", "nan"], "error: --half_minutes: "),
                         (["--games", "0", "0", "0"], "error: --games: "),
                         (["--event_rate", "-1"], "error: --event_rate: "),
                         (["--v2_games", "0", "1", "1"], "error: --v2_games: "),
                         (["--data", str(tmp_path / "a_file")], "--data names a file"),
                         (["--results", str(tmp_path / "a_file" / "r")], "--results cannot be created")):
        _refused(capsys, demo.main(folders + extra), words)
    for extra, words in ((["--windows", "0", "20"], "--windows must be positive"),
                         (["--max_epochs", "0", "0"], "--max_epochs must be positive"),
                         (["--train_args", "--max_epoch '3"], "--train_args: No closing quotation")):
        with pytest.raises(SystemExit) as stop:
            demo.main(folders + extra)
        err = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 2 and len(err) == 2 and words in err[1], err
    with pytest.raises(SystemExit) as stop:
        reproduce.main(["--train_args", "--max_epoch '3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 2 and "--train_args: No closing quotation" in err[1], err
    _refused(capsys, reproduce.main(["--synthetic", str(tmp_path / "data"), "--runs", str(tmp_path / "runs"),
                                     "--predictions", str(tmp_path / "p"), "--results",
                                     str(tmp_path / "a_file" / "r"), "--no_progress"]),
             "--results cannot be created")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
