"""The spotting evaluation on the SoccerNet-v2 classes: the official metric (with its shown/unshown split)
against the soccernet package's `evaluate(version=2)` for every metric preset, the paper's metric against
its loop reference, the package's `closest` rule worked by hand, and the v1 path unchanged."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from SoccerNet.Evaluation.ActionSpotting import evaluate as package_evaluate
from SoccerNet.Evaluation.utils import EVENT_DICTIONARY_V1, EVENT_DICTIONARY_V2

from base import labels
from base.classes import V1, V2
from evaluation import candidates, engine, reference
from evaluation.report import format_report, grid_csv, summary_csv
from evaluation.engine_official import closest_values
from evaluation.truth import load_ground_truth
from runtime import process

process.start_tensorflow()

PRESETS = ("loose", "tight", "at1", "at2", "at3", "at4", "at5")
ABSENT = ("Penalty", "Red card", "Yellow->red card")  # no ground truth in the random games
PRESENT = tuple(name for name in V2.event_classes if name not in ABSENT)
C = len(V2.event_classes)


def test_the_class_order_is_the_package_dictionary():
    assert list(EVENT_DICTIONARY_V2) == list(V2.event_classes) == list(V2.soccernet_labels)
    assert candidates.DELTA_SETS["at3"] == (3,) and candidates.DELTA_SETS["tight"] == (1, 2, 3, 4, 5)


# ------------------------------------------------------------------------------------------------
# Files


def write_games(root: Path, games, annotations_of, label_file="Labels-v2.json") -> Path:
    for game in games:
        folder = root / game
        folder.mkdir(parents=True)
        (folder / label_file).write_text(json.dumps({"annotations": annotations_of(game)}))
    list_path = root / "list.npy"  # the package finds the games by their .json files
    np.save(list_path, np.array(games))
    return list_path


def annotation(half, seconds_ms, label, shown=True, position=True):
    item = {"gameTime": labels.seconds_to_game_time(half, seconds_ms / 1000), "label": label,
            "visibility": "visible" if shown else "not shown"}
    if position:
        item["position"] = str(int(seconds_ms))
    return item


def random_v2_annotations(rng, lengths):
    """Events of the present classes at sub-second positions (some at whole seconds without `position`),
    about a third not shown; a few pairs in the same 0.5 s frame with different visibility (the later
    one wins in the package), and an unknown label (skipped by both)."""
    out = []
    for half, n in zip((1, 2), lengths):
        for _ in range(int(rng.integers(10, 16))):
            ms = int(rng.integers(0, n * 1000))
            with_position = rng.random() < 0.85
            if not with_position:
                ms -= ms % 1000
            out.append(annotation(half, ms, str(rng.choice(PRESENT)), rng.random() > 0.35, with_position))
        ms = int(rng.integers(0, n * 1000 - 1000))
        ms -= ms % 500
        label = str(rng.choice(PRESENT))
        out.append(annotation(half, ms + 300, label, True))
        out.append(annotation(half, ms + 100, label, False))  # same frame, later in the file: not shown
        out.append(annotation(half, ms, "Drop ball", True))
    return out


def write_results(root: Path, games, spots_of_half) -> Path:
    """results_spotting.json per game; spots_of_half(index) -> [(class 1..C, milliseconds, confidence)]."""
    for g, game in enumerate(games):
        predictions = []
        for half in (1, 2):
            for c, ms, confidence in spots_of_half(2 * g + half - 1):
                predictions.append({"gameTime": labels.seconds_to_game_time(half, ms / 1000),
                                    "label": V2.soccernet_labels[c - 1], "position": str(int(ms)),
                                    "half": str(half), "confidence": float(confidence)})
        target = root / game / "results_spotting.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"UrlLocal": game, "predictions": predictions}))
    return root


def package_v2(labels_root: Path, predictions_root: Path, metric: str) -> dict:
    return package_evaluate(SoccerNet_path=str(labels_root), Predictions_path=str(predictions_root),
                            prediction_file="results_spotting.json", split="test", version=2, metric=metric,
                            label_files="Labels-v2.json", dataset=None, EVENT_DICTIONARY=EVENT_DICTIONARY_V2)


def assert_official(block, method, ti, official):
    pairs = (("average_mAP", "a_mAP"), ("average_AP", "a_mAP_per_class"),
             ("average_mAP_shown", "a_mAP_visible"), ("average_AP_shown", "a_mAP_per_class_visible"),
             ("average_mAP_unshown", "a_mAP_unshown"), ("average_AP_unshown", "a_mAP_per_class_unshown"))
    for ours, theirs in pairs:
        assert block[ours][method][ti] == pytest.approx(official[theirs], abs=1e-6), ours


# ------------------------------------------------------------------------------------------------
# Random games against the package


@pytest.fixture(scope="module")
def v2_games(tmp_path_factory):
    """Three games of v2 labels, per-second (seconds, 18) predictions around the events (shifted, noisy,
    false bumps, also for the absent classes), and sub-second spots at the package's 0.5 s frames."""
    rng = np.random.default_rng(11)
    base = tmp_path_factory.mktemp("v2")
    games = [f"league/2019-2020/game {i}" for i in range(3)]
    lengths = {g: tuple(int(x) for x in rng.integers(200, 320, 2)) for g in games}
    list_path = write_games(base / "labels", games, lambda g: random_v2_annotations(rng, lengths[g]))
    truth, shown = load_ground_truth(list_path, classes=V2, with_visibility=True)
    halves = [n for g in games for n in lengths[g]]
    predictions, frames = [], []
    for events, n in zip(truth, halves):
        t = np.arange(n)
        p = np.zeros((n, 1 + C), np.float32)
        f = np.full((2 * n, 1 + C), -1.0)
        for c in range(C):
            x = 0.25 * rng.random(n) ** 4
            for e in events[c]:
                x = np.maximum(x, rng.uniform(0.3, 1) * np.exp(-((t - e - rng.normal(0, 3)) / 4) ** 2))
                at = int(np.clip(round(2 * e + rng.normal(0, 4)), 0, 2 * n - 1))
                f[at, c + 1] = rng.uniform(0.2, 1)
            for _ in range(2):
                x = np.maximum(x, rng.uniform(0.2, 0.8) * np.exp(-((t - rng.uniform(0, n)) / 3) ** 2))
                f[int(rng.integers(0, 2 * n)), c + 1] = rng.uniform(0, 0.8)
            p[:, c + 1] = x
        predictions.append(p)
        frames.append(f)
    return {"base": base, "games": games, "list": list_path, "truth": truth, "shown": shown,
            "predictions": predictions, "frames": frames, "rng": rng}


def test_v2_ground_truth_and_visibility(v2_games):
    truth, shown = v2_games["truth"], v2_games["shown"]
    assert len(truth) == len(shown) == 6
    for gt, flags in zip(truth, shown):
        assert len(gt) == len(flags) == C
        for seconds, f in zip(gt, flags):
            assert seconds.dtype == np.float64 and np.all(np.diff(seconds) >= 0) and len(f) == len(seconds)
    for name in ABSENT:
        assert all(len(gt[V2.event_classes.index(name)]) == 0 for gt in truth)
    everything = np.concatenate([f for flags in shown for f in flags])
    assert everything.any() and not everything.all()
    plain = load_ground_truth(v2_games["list"], classes="v2")  # label_file None: the set's Labels-v2.json
    assert all(all(np.array_equal(a, b) for a, b in zip(x, y)) for x, y in zip(plain, truth))


@pytest.mark.parametrize("preset", PRESETS)
def test_official_v2_equals_the_package(v2_games, tmp_path, preset):
    """Candidate spots at whole seconds (positions written with sub-second offsets in the same frame) and
    sub-second spots at 0.5 s frames: a_mAP, per class, shown and unshown (and per class) within 1e-6."""
    games, truth, shown = v2_games["games"], v2_games["truth"], v2_games["shown"]
    deltas = candidates.DELTA_SETS[preset]
    rng = np.random.default_rng(len(preset))
    method, threshold = ("nms", "argmax", "center")[PRESETS.index(preset) % 3], 0.3
    report = engine.evaluate(v2_games["predictions"], truth, methods=(method,), thresholds=(threshold,),
                             deltas=deltas, metric="soccernet", classes=V2, visibility=shown)

    def candidate_spots(h):
        out = []
        for c in range(1, C + 1):
            seconds, scores = candidates.candidates(v2_games["predictions"][h][:, c], threshold, method)
            out += [(c, 1000 * s + int(rng.integers(0, 500)), v) for s, v in zip(seconds, scores)]
        return out

    official = package_v2(v2_games["base"] / "labels", write_results(tmp_path / "a", games, candidate_spots), preset)
    assert_official(report["soccernet"], method, 0, official)
    assert official["a_mAP_unshown"] > 0 and official["a_mAP_visible"] > 0
    for name in ABSENT:  # no ground truth, detections all the same: AP 0, as the package's nan_to_num
        assert report["soccernet"]["average_AP"][method][0][V2.event_classes.index(name)] == 0
    assert report["spots"][method][0][V2.event_classes.index(ABSENT[0])] > 0

    frames = v2_games["frames"]
    sub = engine.evaluate(frames, truth, methods=("spots",), thresholds=(0.0,), deltas=deltas, metric="soccernet",
                          spot_rate=2, classes=V2, visibility=shown)

    def frame_spots(h):
        at, c = np.nonzero(frames[h][:, 1:] >= 0)
        return [(int(k) + 1, 500 * int(f) + int(rng.integers(0, 500)), frames[h][f, k + 1]) for f, k in zip(at, c)]

    official = package_v2(v2_games["base"] / "labels", write_results(tmp_path / "b", games, frame_spots), preset)
    assert_official(sub["soccernet"], "spots", 0, official)
    assert sub["events_soccernet_shown"]["Goal"] + sub["events_soccernet_unshown"]["Goal"] == \
        sub["events_soccernet"]["Goal"]


def test_paper_metric_on_v2_equals_the_loop_and_warns(v2_games, caplog):
    predictions, truth = v2_games["predictions"][:2], v2_games["truth"][:2]
    kwargs = dict(methods=("argmax", "nms"), thresholds=(0.5, 0.2), deltas=(20, 5))
    with caplog.at_level(logging.WARNING):
        fast = engine.evaluate(predictions, truth, metric="paper", classes=V2, **kwargs)
    slow = reference.evaluate_loop(predictions, truth, classes="v2", **kwargs)
    assert json.dumps(fast, sort_keys=True) == json.dumps(slow, sort_keys=True)
    assert fast["classes"] == list(V2.event_classes) and fast["class_set"] == "v2"
    assert any(all(name in r.getMessage() for name in ABSENT) for r in caplog.records)
    for name in ABSENT:
        assert all(ap[V2.event_classes.index(name)] == 0 for ap in fast["paper"]["AP"]["argmax"][0])
    assert "average_mAP_shown" not in fast["paper"]


def test_bad_v2_arguments(v2_games):
    with pytest.raises(ValueError, match="18"):
        engine.evaluate([np.zeros((10, 4))], [(np.zeros(0),) * 3], classes=V2)
    with pytest.raises(ValueError, match="17 arrays"):
        engine.evaluate([np.zeros((10, 18))], [(np.zeros(0),) * 3], classes=V2)
    with pytest.raises(ValueError, match="flag"):
        engine.evaluate([np.zeros((10, 18))], [(np.ones(1),) * 17], classes=V2, visibility=[(np.ones(2, bool),) * 17])


# ------------------------------------------------------------------------------------------------
# The closest rule by hand


def test_closest_values_by_hand():
    """Events at frames 10 (shown), 11 (not shown), 40 (shown): boundaries (10+11)//2 = 10 and
    (11+40)//2 = 25; an event's own frame 10 already belongs to the next event's region (the package's
    floor). A row without events is -1 everywhere."""
    frames = [np.array([10, 11, 40]), np.zeros(0, np.int64)]
    values = [np.array([1, -1, 1]), np.zeros(0, np.int64)]
    at = np.array([0, 9, 10, 11, 24, 25, 26, 14399])
    assert closest_values(frames, values, np.zeros(len(at), np.int64), at).tolist() == [1, 1, -1, -1, -1, 1, 1, 1]
    assert closest_values(frames, values, np.ones(3, np.int64), np.array([0, 10, 100])).tolist() == [-1, -1, -1]
    # Frames 0, 1, 2: the first event's region [0, 0) is empty.
    assert closest_values([np.array([0, 1, 2])], [np.array([1, -1, 1])], np.zeros(3, np.int64),
                          np.array([0, 1, 2])).tolist() == [-1, 1, 1]


def test_shown_and_unshown_by_hand(tmp_path):
    """One game at delta 1 s (|frame difference| <= 1). Goal, half 1: events at 5.0 s (frame 10, shown),
    5.6 s (frame 11; shown, then a later annotation of the same frame not shown: not shown), 20 s (40,
    shown); spots at frame 10 (0.9, true positive, closest the unshown event 11) and 25 (0.8, closest the
    shown event 40). Overall AP 4/11 (precision 1 at recall 1/3); shown AP 0 (one false positive);
    unshown AP 1 (the spot that matched the shown event counts for the unshown curve).
    Corner: one unshown event at 100 s of half 1 (spot 0.5 on it) and none in half 2, where a spot (0.9)
    has closest -1: an unshown false positive, so the unshown AP is 0.5 (1 without it)."""
    goal, corner = V2.event_classes.index("Goal") + 1, V2.event_classes.index("Corner") + 1
    annotations = [annotation(1, 5000, "Goal"), annotation(1, 5600, "Goal"), annotation(1, 5900, "Goal", False),
                   annotation(1, 20000, "Goal"), annotation(1, 100000, "Corner", False)]
    list_path = write_games(tmp_path / "labels", ["l/s/g"], lambda g: annotations)
    truth, shown = load_ground_truth(list_path, classes=V2, with_visibility=True)
    assert truth[0][goal - 1].tolist() == [5.0, 5.6, 5.9, 20.0]
    assert shown[0][goal - 1].tolist() == [True, False, False, True]  # frame 11: the last in the file
    arrays = [np.full((300, 1 + C), -1.0), np.full((300, 1 + C), -1.0)]
    arrays[0][10, goal], arrays[0][25, goal], arrays[0][200, corner], arrays[1][50, corner] = 0.9, 0.8, 0.5, 0.9
    expected = np.zeros((3, C))  # overall, shown, unshown
    expected[:, goal - 1] = (4 / 11, 0.0, 1.0)
    expected[:, corner - 1] = (0.5, 0.0, 0.5)
    for preset in ("at1", "tight"):
        report = engine.evaluate(arrays, truth, methods=("spots",), thresholds=(0.0,), spot_rate=2, classes=V2,
                                 visibility=shown, deltas=candidates.DELTA_SETS[preset], metric="soccernet")
        block = report["soccernet"]
        d = list(report["deltas"]).index(1)
        for row, key in enumerate(("AP", "AP_shown", "AP_unshown")):
            assert np.array(block[key]["spots"][0][d]) == pytest.approx(expected[row]), key
        spots = lambda h: [(c, 500 * int(f), arrays[h][f, c]) for f, c in zip(*np.nonzero(arrays[h] >= 0))]
        official = package_v2(tmp_path / "labels", write_results(tmp_path / preset, ["l/s/g"], spots), preset)
        assert_official(block, "spots", 0, official)
        if preset == "tight":  # the package scales the unshown Average-mAP by 17/13 over several deltas
            curve = block["mAP_unshown"]["spots"][0]  # deltas 1..5, ascending
            plain = sum((curve[i] + curve[i + 1]) / 2 for i in range(4)) / 4
            assert block["average_mAP_unshown"]["spots"][0] == pytest.approx(plain * 17 / 13)
        else:
            assert block["average_mAP_unshown"]["spots"][0] == pytest.approx(1.5 / 17)
    assert report["events_soccernet_unshown"]["Goal"] == 1 and report["events_soccernet_shown"]["Goal"] == 2


# ------------------------------------------------------------------------------------------------
# v1 unchanged


def test_v1_reads_v2_labels_and_matches_the_v1_package(tmp_path):
    """The v1 class set reads Labels-v2.json folded into card, subs, goal; its report has no shown/unshown
    figures and its official numbers equal the package's version 1 on the same events."""
    rng = np.random.default_rng(5)
    games = ["l/s/a", "l/s/b"]
    v2 = {g: random_v2_annotations(rng, (300, 300)) for g in games}
    list_path = write_games(tmp_path / "labels", games, v2.get)
    folded = load_ground_truth(list_path, label_file="Labels-v2.json")
    v1_names = {1: "y-card", 2: "substitution-in", 3: "soccer-ball"}
    v1_root = tmp_path / "v1"
    write_games(v1_root, games, lambda g: [
        dict(a, label=v1_names[V1.class_of(a["label"], "Labels-v2.json")]) for a in v2[g]
        if V1.class_of(a["label"], "Labels-v2.json")], label_file="Labels.json")
    again = load_ground_truth(v1_root / "list.npy")
    assert all(all(np.array_equal(x, y) for x, y in zip(a, b)) for a, b in zip(folded, again))
    predictions = []
    for events in folded:
        p = np.full((300, 4), -1.0)
        for c in range(3):
            for e in events[c]:
                p[min(299, int(e) + int(rng.integers(-2, 3))), c + 1] = rng.uniform(0.1, 1)
        predictions.append(p)
    report = engine.evaluate(predictions, folded, methods=("spots",), thresholds=(0.0,), metric="soccernet")
    assert report["class_set"] == "v1" and "average_mAP_shown" not in report["soccernet"]
    assert "events_soccernet_shown" not in report
    write_results_v1 = tmp_path / "pred"
    for g, game in enumerate(games):
        items = [{"gameTime": "", "label": V1.soccernet_labels[c - 1], "position": str(1000 * int(s)),
                  "half": str(h + 1), "confidence": float(predictions[2 * g + h][s, c])}
                 for h in (0, 1) for s, c in zip(*np.nonzero(predictions[2 * g + h][:, 1:] >= 0))
                 for c in [c + 1]]
        (write_results_v1 / game).mkdir(parents=True)
        (write_results_v1 / game / "results_spotting.json").write_text(json.dumps({"predictions": items}))
    official = package_evaluate(SoccerNet_path=str(v1_root), Predictions_path=str(write_results_v1),
                                prediction_file="results_spotting.json", split="test", version=1,
                                label_files="Labels.json", dataset=None, EVENT_DICTIONARY=EVENT_DICTIONARY_V1)
    assert report["soccernet"]["average_mAP"]["spots"][0] == pytest.approx(official["a_mAP"], abs=1e-6)
    assert report["soccernet"]["average_AP"]["spots"][0] == pytest.approx(official["a_mAP_per_class"], abs=1e-6)


# ------------------------------------------------------------------------------------------------
# Report files and tables


def test_v2_report_tables_and_csv(v2_games):
    report = engine.evaluate(v2_games["predictions"][:2], v2_games["truth"][:2], methods=("argmax", "nms"),
                             thresholds=(0.5,), deltas=(1, 2), classes=V2, visibility=v2_games["shown"][:2])
    text = format_report("m", report)
    assert "shown  unshown" in text and "Yellow->red card" in text and "argmax shown/unshown" in text
    header = summary_csv({"m": report}).splitlines()[0].split(",")
    assert header[:6] == ["model", "metric", "method", "threshold", "average_mAP", "average_AP_Penalty"]
    assert "average_mAP_unshown" in header and "average_AP_unshown_Yellow->red card" in header
    rows = grid_csv({"m": report}).splitlines()
    assert rows[0].endswith(",mAP,mAP_shown,mAP_unshown") and rows[1].startswith("m,paper,") and rows[1].endswith(",,")
    soccernet = [r for r in rows[1:] if r.startswith("m,soccernet,argmax,0.5,2,")][0].split(",")
    assert float(soccernet[-1]) == pytest.approx(report["soccernet"]["mAP_unshown"]["argmax"][0][1])
    v1 = engine.evaluate([np.zeros((50, 4))], [(np.array([3.0]),) * 3], methods=("argmax",), thresholds=(0.5,))
    assert summary_csv({"m": v1}).splitlines()[0] == ("model,metric,method,threshold,average_mAP,average_AP_card,"
                                                      "average_AP_subs,average_AP_goal,best")
    assert grid_csv({"m": v1}).splitlines()[0] == "model,metric,method,threshold,delta,AP_card,AP_subs,AP_goal,mAP"
    assert "shown" not in format_report("m", v1)
