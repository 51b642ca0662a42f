"""The synthetic SoccerNet: layout, formats, determinism, event statistics, the command line."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import TINY

import dataset
from base import classes, labels as label_files
from experiments import make_synthetic, synthetic


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
