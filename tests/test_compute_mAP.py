"""compute_mAP.py: candidate methods, matching windows, 11-point AP, the vectorised grid against the loop
reference, the official metric against the soccernet package, results_spotting.json and the command line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import compute_mAP as cm
from base import errors, labels
from evaluation import backend, candidates, engine, engine_spots, outputs, plots, reference
from evaluation.evaluate import chance_spots
from evaluation.truth import load_ground_truth
from runtime import process

process.start_tensorflow()  # as compute_mAP.py's main before the engine runs: GPU memory on demand

F32 = np.float32


def spots_of(p, threshold, method):
    seconds, scores = candidates.candidates(np.asarray(p), threshold, method)
    return seconds.tolist(), scores.tolist()


def both(predictions, ground_truth, **kwargs):
    """The vectorised report and the loop report, which must be equal number for number."""
    fast = engine.evaluate(predictions, ground_truth, metric="paper", **kwargs)
    slow = reference.evaluate_loop(predictions, ground_truth, **kwargs)
    assert json.dumps(fast, sort_keys=True) == json.dumps(slow, sort_keys=True)
    return fast


def one_class(n, spots=(), column=1):
    """A (n, 4) array of spots (method "spots"): -1 everywhere except {second: score} in one column."""
    p = np.full((n, 4), -1.0)
    for second, score in dict(spots).items():
        p[second, column] = score
    return p


def gt(card=(), subs=(), goal=()):
    return (np.array(card, float), np.array(subs, float), np.array(goal, float))


# ------------------------------------------------------------------------------------------------
# Candidate methods (hand-worked)


def test_argmax_and_center_on_peaks_and_plateaus():
    p = np.array([0, .2, .6, .9, .6, .2, 0, .7, .7, .7, .1, .8], F32)
    # theta 0.5: segments [2, 5), [7, 10), [11, 12)
    assert spots_of(p, 0.5, "argmax") == ([3, 7, 11], [float(F32(.9)), float(F32(.7)), float(F32(.8))])
    # centre floor((start + end) / 2): 3, 8 (a plateau of three: its middle), 11
    assert spots_of(p, 0.5, "center")[0] == [3, 8, 11]
    # a plateau: the first maximum
    assert spots_of(np.array([.6, .8, .8, .6], F32), 0.5, "argmax")[0] == [1]
    # an even segment [1, 5): centre 3
    assert spots_of(np.array([0, .6, .6, .6, .6, 0], F32), 0.5, "center")[0] == [3]


def test_a_value_equal_to_the_threshold():
    # p[j-1] < t <= p[j] starts a segment; p[j-1] > t >= p[j] ends one: the first 0.5 is in, the last out.
    p = np.array([0, .5, .7, .5, 0], F32)
    assert spots_of(p, 0.5, "argmax")[0] == [2]
    assert spots_of(p, 0.5, "center")[0] == [2]
    # A segment touching the threshold from above ends there, and the rise after it starts no new one:
    # the original pairs start 0 with end 1, and its next end has no start (an IndexError there).
    p = np.array([.9, .5, .9, 0], F32)
    assert spots_of(p, 0.5, "argmax")[0] == [0]
    # Misaligned pairs: start 1 (at the threshold) pairs with the end of the later bump; the centre then
    # falls between them, with the probability there (the original's quirk, kept).
    p = np.array([.2, .5, .2, .2, .2, .2, .9, 0], F32)
    assert spots_of(p, 0.5, "argmax") == ([6], [float(F32(.9))])
    assert spots_of(p, 0.5, "center") == ([4], [float(F32(.2))])
    # An inverted pair (start 4 after end 3): no argmax spot (the original crashes), a centre spot at
    # floor(7 / 2) = 3 with probability 0, which the paper's metric drops (scores <= 0).
    p = np.array([.9, .5, .9, 0, .9, 0], F32)
    assert spots_of(p, 0.5, "argmax")[0] == [0]
    assert spots_of(p, 0.5, "center") == ([0, 3], [float(F32(.9)), 0.0])


def test_threshold_comparisons_follow_the_array_precision():
    # float32(0.95) is below 0.95. In a float32 array it ends the segment [1, 2) (p[j] <= 0.95 exactly),
    # and the rise after it starts none (p[j-1] = float32(0.95) is not below the rounded 0.95): one spot.
    # In a float64 array it is below 0.95 on both sides: a second segment starts at 3.
    values = [0, .97, .95, .97, 0]
    assert spots_of(np.array(values, F32), 0.95, "argmax")[0] == [1]
    assert spots_of(np.array(values, F32).astype(np.float64), 0.95, "argmax")[0] == [1, 3]
    # NMS compares p[i] > theta in float64 (NumPy 1.x scalars): float32(0.05) > 0.05, float32(0.95) < 0.95.
    p = np.zeros(100, F32)
    p[50] = F32(0.05)
    assert spots_of(p, 0.05, "nms")[0] == [50]
    assert spots_of(p.astype(np.float64).round(2), 0.05, "nms")[0] == []
    p[50] = F32(0.95)
    assert spots_of(p, 0.95, "nms")[0] == []
    p[50] = 0.5
    assert spots_of(p, 0.5, "nms")[0] == []  # strictly above the threshold


TIE_AT_02 = [0.4, F32(0.2), 0.25, 0.75, 0.3]  # seconds 16..20 of a 22-second column, zeros elsewhere


def _column(values, at=16, n=22, dtype=F32):
    p = np.zeros(n, dtype)
    p[at:at + len(values)] = values
    return p


@pytest.mark.parametrize("method, expected", [("argmax", ([19], [float(F32(0.75))])),
                                              ("center", ([18], [float(F32(0.25))]))])
def test_a_tie_at_a_threshold_float32_rounds_up(method, expected):
    """t = 0.2, p[16..20] = [0.4, float32(0.2), 0.25, 0.75, 0.3], float32. float32(0.2) > 0.2: at j = 17
    p[j] <= 0.2 fails (float64, exact 0.2), at j = 18 p[j-1] > float32(0.2) fails (float32): the segment
    goes on to the end at 21, [16, 21): its maximum is at 19, its centre floor(37 / 2) = 18. (Comparing
    both sides in float32 would end it at 17 and spot 16.)"""
    assert spots_of(_column(TIE_AT_02), 0.2, method) == expected
    # The same values in float64: float32(0.2) is still above 0.2 on both sides, the same spot.
    assert spots_of(_column(TIE_AT_02, dtype=np.float64), 0.2, method)[0] == expected[0]
    # A float64 array holding 0.2 exactly: both sides exact, the segment ends at 17: [16, 17), spot 16.
    exact = _column([0.4, 0.2, 0.25, 0.75, 0.3], dtype=np.float64)
    assert spots_of(exact, 0.2, method) == ([16], [0.4])


@pytest.mark.parametrize("method", ["argmax", "center"])
def test_a_tie_at_a_threshold_float32_rounds_down(method):
    """t = 0.95, p = [0, float32(0.95), 0.97, 0]. float32(0.95) < 0.95. Float32: at j = 1 p[j] >= 0.95
    fails (float64), at j = 2 p[j-1] < float32(0.95) fails (float32): no start at all, only the end at 3,
    so no spot (the original's zip of no starts with one end). Float64: p[1] is below 0.95 on both sides,
    the segment [2, 3) starts after it: maximum and centre 2."""
    p = np.array([0, F32(0.95), 0.97, 0], F32)
    assert spots_of(p, 0.95, method) == ([], [])
    assert spots_of(p.astype(np.float64), 0.95, method) == ([2], [float(F32(0.97))])
    # At 0.5 (exact in float32) the value 0.5 starts the segment in either dtype.
    half = np.array([0, 0.5, 0.97, 0], F32)
    assert spots_of(half, 0.5, method)[0] == spots_of(half.astype(np.float64), 0.5, method)[0] == [2]


def test_nms_edges_window_and_ties():
    n = 100
    for i, expected in ((30, []), (31, [31]), (69, [69]), (70, [])):  # 30 < i < n - 30
        p = np.zeros(n, F32)
        p[i] = .9
        assert spots_of(p, 0.5, "nms")[0] == expected, i
    p = np.zeros(n, F32)
    p[40:45] = .8  # a plateau: its leftmost second
    assert spots_of(p, 0.5, "nms")[0] == [40]
    p = np.zeros(130, F32)
    p[40], p[69] = .9, .9  # 29 apart: the later one is not above the previous 30
    assert spots_of(p, 0.5, "nms")[0] == [40]
    p[40], p[69] = .8, .9  # the earlier one is below the next 29
    assert spots_of(p, 0.5, "nms")[0] == [69]
    p[69], p[40], p[70] = 0, .9, .8  # 30 apart: inside p[i-30:i], suppressed
    assert spots_of(p, 0.5, "nms")[0] == [40]
    p[70], p[71] = 0, .8  # 31 apart: both
    assert spots_of(p, 0.5, "nms")[0] == [40, 71]
    assert spots_of(np.full(61, .9, F32), 0.5, "nms")[0] == []  # too short for any spot


def test_vectorised_candidates_equal_the_reference_on_the_hand_cases():
    cases = [np.array([0, .2, .6, .9, .6, .2, 0, .7, .7, .7, .1, .8], F32), np.array([.9, .5, .9, 0, .9, 0], F32),
             np.array([.2, .5, .2, .2, .2, .2, .9, 0], F32), np.array([0, .97, .95, .97, 0], F32),
             _column(TIE_AT_02), np.array([0, F32(0.95), 0.97, 0, 0, F32(0.95), 0.97, F32(0.95), 0], F32),
             _column([0.4, 0.2, 0.25, 0.75, 0.3], dtype=np.float64), np.array([0, F32(0.95), 0.97, 0], np.float64)]
    nms = np.zeros(130, F32)
    nms[[40, 71, 100]] = [.9, .8, .8]
    nms[41:45] = .9
    cases.append(nms)
    thresholds = (0.95, 0.5, 0.2)
    arrays = [np.stack([np.zeros_like(p), p, p[::-1].copy(), np.roll(p, 3)], 1) for p in cases]
    cfg, col, sec, score = (np.asarray(x) for x in engine_spots.extract_spots(
        arrays, candidates.CANDIDATE_METHODS, thresholds, backend.ops("tensorflow")))
    H = len(arrays)
    for mi, method in enumerate(candidates.CANDIDATE_METHODS):
        for ti, threshold in enumerate(thresholds):
            for c in range(3):
                for h, array in enumerate(arrays):
                    mine = (cfg == mi * len(thresholds) + ti) & (col == c * H + h)
                    seconds, scores = candidates.candidates(array[:, c + 1], threshold, method)
                    assert sec[mine].tolist() == seconds.tolist(), (method, threshold, c, h)
                    assert score[mine].tolist() == scores.tolist()


# ------------------------------------------------------------------------------------------------
# Matching window and 11-point AP (hand-worked)


@pytest.mark.parametrize("delta, inside, outside", [(10, (95, 100, 104), (94, 105)), (5, (98, 102), (97, 103))])
def test_paper_window_at_its_boundaries(delta, inside, outside):
    """t - delta/2 <= s < t + delta/2, delta/2 a float: [95, 105) at 10 s, [97.5, 102.5) at 5 s."""
    for second, hit in [(s, True) for s in inside] + [(s, False) for s in outside]:
        report = both([one_class(200, {second: .8})], [gt(card=[100])], methods=("spots",), thresholds=(0.0,),
                      deltas=(delta,))
        assert report["paper"]["AP"]["spots"][0][0][0] == (1.0 if hit else 0.0), second


@pytest.mark.parametrize("delta, inside, outside", [(10, (95, 105), (94, 106)), (5, (98, 102), (97, 103))])
def test_official_window_at_its_boundaries(delta, inside, outside):
    """The package: |s - t| <= delta/2, both ends in (one more second than the paper at even delta)."""
    for second, hit in [(s, True) for s in inside] + [(s, False) for s in outside]:
        report = engine.evaluate([one_class(200, {second: .8})], [gt(card=[100])], methods=("spots",),
                                 thresholds=(0.0,), deltas=(delta,), metric="soccernet")
        assert report["soccernet"]["AP"]["spots"][0][0][0] == (1.0 if hit else 0.0), second


def test_greedy_matching_takes_the_first_event_in_time_not_the_nearest():
    # Spot 103 (0.9) takes event 100 (first in time), so 96 (0.8) finds 104 out of reach: 1 TP of 2.
    # Precision 1 then 0.5 at recall 0.5: levels 0..0.5 give 1, the rest 0 -> 6/11.
    report = both([one_class(200, {103: .9, 96: .8})], [gt(card=[100, 104])], methods=("spots",),
                  thresholds=(0.0,), deltas=(10,))
    assert report["paper"]["AP"]["spots"][0][0][0] == pytest.approx(6 / 11)


def test_eleven_point_ap_by_hand():
    # 4 events; detections in score order: TP, FP, TP -> precision 1, 1/2, 2/3 at recall 1/4, 1/4, 1/2.
    # Levels 0, .1, .2 -> 1; .3, .4, .5 -> 2/3; .6 .. 1 -> 0: AP = (3 + 2) / 11.
    report = both([one_class(500, {100: .9, 150: .8, 200: .7})], [gt(card=[100, 200, 300, 400])],
                  methods=("spots",), thresholds=(0.0,), deltas=(10,))
    ap = report["paper"]["AP"]["spots"][0][0]
    assert ap[0] == pytest.approx(5 / 11)
    assert ap[1] == ap[2] == 0.0  # classes without events: AP 0, no crash
    assert report["paper"]["mAP"]["spots"][0][0] == pytest.approx(5 / 33)


def test_equal_scores_in_a_half_go_in_time_order():
    # Spots 96 and 104 tie: 96 goes first and takes event 100, then 104 reaches 108: two hits (AP 1).
    # In the other order 104 would take 100 and 96 miss 108.
    predictions, ground_truth = [one_class(300, {104: .5, 96: .5})], [gt(card=[100, 108])]
    report = both(predictions, ground_truth, methods=("spots",), thresholds=(0.0,), deltas=(10,))
    assert report["paper"]["AP"]["spots"][0][0][0] == 1.0
    report = engine.evaluate(predictions, ground_truth, methods=("spots",), thresholds=(0.0,), deltas=(10,),
                         metric="soccernet")
    assert report["soccernet"]["AP"]["spots"][0][0][0] == 1.0


def test_equal_scores_are_pooled_in_half_order():
    # Equal scores: half 1's false positive counts before half 2's true positive -> precision 0, then 1/2.
    report = both([one_class(300, {250: .5}), one_class(300, {100: .5})], [gt(), gt(card=[100])],
                  methods=("spots",), thresholds=(0.0,), deltas=(10,))
    assert report["paper"]["AP"]["spots"][0][0][0] == pytest.approx(0.5)
    report = both([one_class(300, {100: .5}), one_class(300, {250: .5})], [gt(card=[100]), gt()],
                  methods=("spots",), thresholds=(0.0,), deltas=(10,))
    assert report["paper"]["AP"]["spots"][0][0][0] == 1.0


def test_no_events_no_spots_empty_and_short_halves():
    predictions = [np.zeros((0, 4), F32), np.full((40, 4), .9, F32), np.zeros((500, 4), F32)]
    predictions[2][200:210, 2] = .8
    ground_truth = [gt(card=[5]), gt(goal=[1000]), gt(subs=[204])]  # an event beyond its half's predictions
    report = both(predictions, ground_truth, thresholds=(0.5, 0.95), deltas=(20, 5))
    for method in candidates.CANDIDATE_METHODS:
        assert report["spots"][method][1] == [0, 0, 0]
    assert report["paper"]["best"]["center"]["average_AP"]["subs"] == pytest.approx(0.5)  # 204 hit at 20, not 5
    # A class with spots but no events (the original divides by zero): AP 0.
    report = both([np.full((100, 4), .9, F32)], [gt()], thresholds=(0.5,), deltas=(10,))
    assert report["paper"]["average_mAP"]["argmax"] == [0.0]


# ------------------------------------------------------------------------------------------------
# The vectorised grid against the loop reference


def random_case(rng, halves=6, quantise=None, dtypes=(F32,)):
    """Smooth bumps with jitter, plateaus and ties (quantised values also hit the thresholds exactly),
    short and empty halves, events beyond the predictions, classes without events."""
    predictions, ground_truth = [], []
    for h in range(halves):
        n = int(rng.choice([0, 20, 70, int(rng.integers(60, 400))]))
        p = np.zeros((n, 4))
        t = np.arange(n)
        for c in (1, 2, 3):
            x = 0.15 * rng.random(n) ** 3
            for _ in range(int(rng.integers(0, 6))):
                centre, width = rng.uniform(0, max(n, 1)), rng.uniform(2, 30)
                x = np.maximum(x, rng.uniform(0.1, 1) * np.exp(-((t - centre) / width) ** 2))
            if quantise:
                x = np.round(x * quantise) / quantise
            p[:, c] = np.clip(x * np.exp(0.1 * rng.standard_normal(n)) if not quantise else x, 0, 1)
        predictions.append(p.astype(dtypes[h % len(dtypes)]))
        ground_truth.append(tuple(np.sort(rng.integers(0, n + 40, int(rng.integers(0, 5)))).astype(float)
                                  for _ in range(3)))
    return predictions, ground_truth


@pytest.mark.parametrize("seed, quantise, dtypes", [(0, None, (F32,)), (1, 20, (F32,)), (2, 100, (np.float64,)),
                                                    (3, None, (F32, np.float64, np.float16)), (4, 10, (np.float16,))])
def test_vectorised_equals_the_loop_on_random_cases(seed, quantise, dtypes):
    predictions, ground_truth = random_case(np.random.default_rng(seed), quantise=quantise, dtypes=dtypes)
    both(predictions, ground_truth)


def test_vectorised_equals_the_loop_on_other_grids():
    predictions, ground_truth = random_case(np.random.default_rng(5), halves=4, quantise=20)
    both(predictions, ground_truth, methods=("nms", "argmax"), thresholds=(1.0, 0.5, 0.0, 0.35), deltas=(7, 3, 30))
    arrays = [np.where(p > 0.3, p, -1.0) for p in predictions]  # arrays of spots
    both(arrays, ground_truth, methods=("spots",), thresholds=(0.0, 0.5), deltas=(1, 4, 60))


# ------------------------------------------------------------------------------------------------
# The official metric against the soccernet package


def write_labels(root: Path, games, events_of) -> Path:
    for game in games:
        folder = root / game
        folder.mkdir(parents=True)
        (folder / "Labels.json").write_text(json.dumps({"annotations": events_of(game)}))
    list_path = root / "list.npy"
    np.save(list_path, np.array(games))
    return list_path


NAMES = ("y-card", "substitution-in", "soccer-ball", "r-card", "soccer-ball-own", "yr-card")


def random_labels(rng, lengths):
    """Events of a game; some carry a millisecond position (half-second frames for the package)."""
    annotations = []
    for half, n in zip((1, 2), lengths):
        for _ in range(int(rng.integers(2, 8))):
            t = int(rng.integers(0, n + 20))
            item = {"gameTime": labels.seconds_to_game_time(half, t), "label": str(rng.choice(NAMES))}
            if rng.random() < 0.3:
                item["position"] = str(t * 1000 + int(rng.choice([0, 500, 999])))
            annotations.append(item)
    return annotations


def package_score(labels_root: Path, predictions_root: Path) -> dict:
    from SoccerNet.Evaluation.ActionSpotting import evaluate
    from SoccerNet.Evaluation.utils import EVENT_DICTIONARY_V1

    return evaluate(SoccerNet_path=str(labels_root), Predictions_path=str(predictions_root),
                    prediction_file="results_spotting.json", split="test", version=1, label_files="Labels.json",
                    dataset=None, EVENT_DICTIONARY=EVENT_DICTIONARY_V1)


def write_json_files(root: Path, games, predictions, method, threshold) -> Path:
    for i, game in enumerate(games):
        target = root / game / "results_spotting.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        outputs.write_results_spotting(target, outputs.results_spotting_json(
            {1: predictions[2 * i], 2: predictions[2 * i + 1]}, method, threshold, game))
    return root


def noisy_predictions(rng, ground_truth, lengths):
    """Bumps a few seconds off the events, false bumps, background noise."""
    predictions = []
    for events, n in zip(ground_truth, lengths):
        p = np.zeros((n, 4))
        t = np.arange(n)
        for c in range(3):
            x = 0.3 * rng.random(n) ** 4
            for e in events[c]:
                x = np.maximum(x, rng.uniform(0.3, 1) * np.exp(-((t - e - rng.normal(0, 5)) / 8) ** 2))
            for _ in range(3):
                x = np.maximum(x, rng.uniform(0.2, 0.8) * np.exp(-((t - rng.uniform(0, n)) / 6) ** 2))
            p[:, c + 1] = x
        predictions.append(p.astype(F32))
    return predictions


def test_official_metric_equals_the_soccernet_package(tmp_path):
    rng = np.random.default_rng(7)
    games = [f"league/2016-2017/game {i}" for i in range(4)]
    lengths = {g: tuple(int(x) for x in rng.integers(300, 700, 2)) for g in games}
    list_path = write_labels(tmp_path / "labels", games, lambda g: random_labels(rng, lengths[g]))
    ground_truth = load_ground_truth(list_path)
    predictions = noisy_predictions(rng, ground_truth, [n for g in games for n in lengths[g]])
    thresholds = (0.6, 0.3)
    report = engine.evaluate(predictions, ground_truth, thresholds=thresholds, metric="both")
    for method in candidates.CANDIDATE_METHODS:
        for ti, threshold in enumerate(thresholds):
            folder = write_json_files(tmp_path / f"{method}_{threshold}", games, predictions, method, threshold)
            official = package_score(tmp_path / "labels", folder)
            assert report["soccernet"]["average_mAP"][method][ti] == pytest.approx(official["a_mAP"], abs=1e-6)
            assert report["soccernet"]["average_AP"][method][ti] == pytest.approx(official["a_mAP_per_class"], abs=1e-6)


def perfect_labels(rng, games, length, gap=40):
    """Events away from the edges and at least `gap` s apart (so NMS can spot them all)."""
    events = {}
    for game in games:
        annotations = []
        for half in (1, 2):
            times = np.arange(40, length - 60, gap)[rng.permutation(len(np.arange(40, length - 60, gap)))[:6]]
            for t in times:
                annotations.append({"gameTime": labels.seconds_to_game_time(half, int(t)),
                                    "label": str(rng.choice(NAMES[:3]))})
        events[game] = annotations
    return events


@pytest.mark.parametrize("late, paper, official", [(0, 1.0, 1.0), (4, 11 / 12, 10.5 / 11), (12, 8 / 12, 7.5 / 11)])
def test_perfect_and_late_predictions(tmp_path, late, paper, official):
    """Perfect predictions score 1 on both metrics; spots 4 s late miss only delta = 5 (paper: 11/12 over
    the mean; package 0.9545 over the curve), 12 s late miss delta <= 20 (8/12; 0.682)."""
    rng = np.random.default_rng(late)
    games = ["league/season/game a", "league/season/game b"]
    events = perfect_labels(rng, games, 600)
    list_path = write_labels(tmp_path / "labels", games, events.get)
    ground_truth = load_ground_truth(list_path)
    predictions = []
    for half in ground_truth:
        p = np.zeros((600, 4), F32)
        for c in range(3):
            p[(half[c] + late).astype(int), c + 1] = 1.0
        predictions.append(p)
    report = engine.evaluate(predictions, ground_truth, thresholds=(0.5,))
    for method in candidates.CANDIDATE_METHODS:
        assert report["paper"]["average_mAP"][method][0] == pytest.approx(paper)
        assert report["soccernet"]["average_mAP"][method][0] == pytest.approx(official)
    if late != 4:
        return
    folder = write_json_files(tmp_path / "json", games, predictions, "nms", 0.5)
    assert package_score(tmp_path / "labels", folder)["a_mAP"] == pytest.approx(official, abs=1e-6)


# ------------------------------------------------------------------------------------------------
# results_spotting.json


def test_results_spotting_round_trip(tmp_path):
    rng = np.random.default_rng(11)
    ground_truth = [tuple(np.sort(rng.integers(0, 300, 4)).astype(float) for _ in range(3)) for _ in range(2)]
    predictions = noisy_predictions(rng, ground_truth, [300, 350])
    content = outputs.results_spotting_json({1: predictions[0], 2: predictions[1]}, "center", 0.3, "a/b/c")
    assert content["UrlLocal"] == "a/b/c"
    first = content["predictions"][0]
    assert set(first) == {"gameTime", "label", "position", "half", "confidence"}
    assert first["label"] in ("card", "subs", "soccer") and all(isinstance(v, str) for v in first.values())
    path = tmp_path / "results_spotting.json"
    outputs.write_results_spotting(path, content)
    arrays = outputs.read_results_spotting(path)
    assert sorted(arrays) == [1, 2]
    back = [arrays[1], arrays[2]]
    original = engine.evaluate(predictions, ground_truth, methods=("center",), thresholds=(0.3,))
    again = engine.evaluate(back, ground_truth, methods=("spots",), thresholds=(0.0,))
    for metric in ("paper", "soccernet"):
        assert again[metric]["AP"]["spots"] == original[metric]["AP"]["center"]
    assert list(path.parent.iterdir()) == [path]  # no temporary file left


def test_sub_second_spots_score_as_the_official_evaluator(tmp_path, capsys, caplog):
    """Other tools' spots at 0.5 s steps (and odd milliseconds): `--metric soccernet` on the JSON files
    equals the installed package; the paper's metric merges spots within a second and says so."""
    rng = np.random.default_rng(21)
    games = [f"league/2016-2017/game {i}" for i in range(3)]
    list_path = write_labels(tmp_path / "labels", games, lambda g: random_labels(rng, (400, 400)))
    folder = tmp_path / "spots"
    for game in games:
        items = []
        for half in (1, 2):
            for label in ("card", "subs", "soccer"):
                positions = np.sort(rng.choice(np.arange(0, 420_000, 500), 60, replace=False))
                positions[::7] += rng.integers(1, 500, len(positions[::7]))  # off the half-second grid
                items += [{"gameTime": labels.seconds_to_game_time(half, int(ms // 1000)), "label": label,
                           "position": str(int(ms)), "half": str(half), "confidence": repr(float(rng.random()))}
                          for ms in positions]
        target = folder / game / "results_spotting.json"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps({"UrlLocal": game, "predictions": items}))
    official = package_score(tmp_path / "labels", folder)
    out = tmp_path / "out"
    argv = ["--testing", str(list_path), "--predictions", str(tmp_path), "--prefix", "spots", "--results_spotting",
            "results_spotting.json", "--output", str(out), "--no_plots", "--deltas",
            *map(str, candidates.DEFAULT_DELTAS)]
    assert cm.main(argv + ["--metric", "soccernet"]) == 0
    report = json.loads((out / "results.json").read_text())["models"]["spots"]
    assert report["soccernet"]["average_mAP"]["spots"][0] == pytest.approx(official["a_mAP"], abs=1e-6)
    assert report["soccernet"]["average_AP"]["spots"][0] == pytest.approx(official["a_mAP_per_class"], abs=1e-6)
    # Per second, as before this reader took frames, the official score would differ.
    floored = engine.evaluate(outputs.load_results_spotting(list_path, folder), load_ground_truth(list_path),
                          methods=("spots",), thresholds=(0.0,), metric="soccernet")
    assert abs(floored["soccernet"]["average_mAP"]["spots"][0] - official["a_mAP"]) > 1e-3
    caplog.clear()
    assert cm.main(argv + ["--metric", "both"]) == 0
    both = json.loads((out / "results.json").read_text())["models"]["spots"]
    assert both["soccernet"]["average_mAP"] == report["soccernet"]["average_mAP"]
    assert both["spot_resolution"] == {"paper": "1 s", "soccernet": "0.5 s"}
    assert any("share their second" in r.getMessage() for r in caplog.records)


def test_read_results_spotting_rejects_bad_files(tmp_path):
    with pytest.raises(errors.DataError, match="not found"):
        outputs.read_results_spotting(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(errors.DataError, match="invalid JSON"):
        outputs.read_results_spotting(bad)
    bad.write_text(json.dumps({"predictions": [{"label": "card", "half": "1"}]}))
    with pytest.raises(errors.DataError, match="malformed"):
        outputs.read_results_spotting(bad)
    bad.write_text(json.dumps({"predictions": [{"label": "card", "half": "1", "position": "1e400",
                                                 "confidence": "0.5"}]}))
    with pytest.raises(errors.DataError, match="malformed"):
        outputs.read_results_spotting(bad)


# ------------------------------------------------------------------------------------------------
# Files and command line


@pytest.fixture()
def small_tree(tmp_path):
    rng = np.random.default_rng(3)
    games = ["league/2015-2016/one", "league/2015-2016/two"]
    lengths = {g: (400, 420) for g in games}
    list_path = write_labels(tmp_path / "data", games, lambda g: random_labels(rng, lengths[g]))
    ground_truth = load_ground_truth(list_path)
    for prefix in ("modelA", "modelB"):
        predictions = noisy_predictions(rng, ground_truth, [400, 420, 400, 420])
        for i, game in enumerate(games):
            for half in (1, 2):
                path = outputs.prediction_file(tmp_path / "pred", game, prefix, half)
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, predictions[2 * i + half - 1])
    return tmp_path, list_path, games


def test_chance_spots_follow_the_training_frequencies():
    training = [(np.array([3.0, 9.0]), np.array([1.0]), np.zeros(0)),
                (np.array([5.0, 6.0]), np.array([2.0, 4.0, 8.0]), np.zeros(0))]  # means 2, 2, 0 per half
    (half,) = chance_spots(training, [100])
    assert half.shape == (100, 4)
    assert np.flatnonzero(half[:, 1] >= 0).tolist() == [25, 75] == np.flatnonzero(half[:, 2] >= 0).tolist()
    assert not (half[:, 3] >= 0).any() and set(half[half >= 0].tolist()) == {1.0}
    # Scored: both cards 5 s from a spot (inside delta = 12 s), the subs event 25 s from both.
    report = engine.evaluate([half], [(np.array([20.0, 80.0]), np.array([50.0]), np.zeros(0))], methods=("spots",),
                         thresholds=(0.0,), deltas=(12,), metric="paper")
    assert report["paper"]["AP"]["spots"][0][0] == [1.0, 0.0, 0.0]


def test_tight_and_loose_deltas_and_the_chance_row(small_tree, capsys):
    root, list_path, games = small_tree
    argv = ["--testing", str(list_path), "--predictions", str(root / "pred"), "--prefix", "modelA",
            "--thresholds", "0.5", "0.3", "--no_plots", "--loglevel", "WARNING"]
    assert cm.main(argv + ["--output", str(root / "tight"), "--deltas", "tight"]) == 0
    tight = json.loads((root / "tight" / "results.json").read_text())["models"]["modelA"]
    assert tight["deltas"] == [1, 2, 3, 4, 5]
    assert cm.main(argv + ["--output", str(root / "both"), "--deltas", "both", "--chance", str(list_path)]) == 0
    printed = capsys.readouterr().out
    both = json.loads((root / "both" / "results.json").read_text())
    model = both["models"]["modelA"]
    assert model["deltas"] == list(candidates.DEFAULT_DELTAS) and model["tight"]["deltas"] == [1, 2, 3, 4, 5]
    for metric in ("paper", "soccernet"):
        assert model["tight"][metric]["best"] == tight[metric]["best"]
    assert "tight Average-mAP (deltas 1-5 s)" in printed and "chance (uniform, training frequencies)" in printed
    truth = load_ground_truth(list_path)
    expected = engine.evaluate(chance_spots(truth, [400, 420, 400, 420]), truth, methods=("spots",), thresholds=(0.0,))
    assert both["chance"]["paper"]["best"] == expected["paper"]["best"]
    assert both["chance"]["paper"]["best"]["spots"]["average_mAP"] < model["paper"]["best"]["center"]["average_mAP"]
    assert cm.main(argv + ["--output", str(root / "x"), "--deltas", "tight", "5"]) == 2
    # A bad --chance list is refused before anything is written (the --write_json files included).
    assert cm.main(argv + ["--output", str(root / "y"), "--write_json", "--chance", str(root / "none.npy")]) == 2
    assert not (root / "y").exists()


def test_per_game_spot_plots(small_tree, capsys):
    root, list_path, games = small_tree
    out = root / "out"
    argv = ["--testing", str(list_path), "--predictions", str(root / "pred"), "--prefix", "modelA", "--thresholds",
            "0.5", "--output", str(out), "--no_plots", "--loglevel", "WARNING"]
    assert cm.main(argv + ["--write_json", "--plot_spots", games[1]]) == 0
    (png,) = (out / "spots_modelA").rglob("*.png")
    assert png == plots.spots_plot_file(out, "modelA", games[1]) and png.stat().st_size > 10_000
    assert "1 spot plots" in capsys.readouterr().out
    assert cm.main(argv[:-5] + ["--output", str(root / "other"), "--plot_spots", "no/such/game"]) == 2
    assert "--plot_spots: 'no/such/game' is not a game of this list" in capsys.readouterr().err
    assert not (root / "other").exists()


def test_load_ground_truth_and_predictions(small_tree):
    root, list_path, games = small_tree
    ground_truth = load_ground_truth(list_path)
    assert len(ground_truth) == 4 and all(len(h) == 3 for h in ground_truth)
    events = labels.read_labels(root / "data" / games[1] / "Labels.json")
    assert sorted(ground_truth[3][1].tolist()) == sorted(e.seconds for e in events if e.half == 2 and e.label == 2)
    predictions = outputs.load_spotting_outputs(list_path, root / "pred", "modelA")
    assert [p.shape for p in predictions] == [(400, 4), (420, 4), (400, 4), (420, 4)]
    with pytest.raises(errors.DataError, match="modelC_Half_1.npy: prediction file not found"):
        outputs.load_spotting_outputs(list_path, root / "pred", "modelC")


def test_command_line(small_tree, capsys):
    root, list_path, games = small_tree
    out = root / "out"
    argv = ["--testing", str(list_path), "--predictions", str(root / "pred"), "--prefix", "modelA", "modelB",
            "--thresholds", "0.7", "0.5", "0.3", "--output", str(out), "--write_json", "--loglevel", "WARNING"]
    assert cm.main(argv) == 0
    printed = capsys.readouterr().out
    assert "modelA" in printed and "comparison" in printed and "soccernet metric" in printed
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"modelA", "modelB"}
    report = results["models"]["modelA"]
    assert report["paper"]["best"]["center"]["threshold"] in (0.7, 0.5, 0.3)
    assert len((out / "grid.csv").read_text().splitlines()) == 1 + 2 * 2 * 3 * 3 * 12
    assert len((out / "summary.csv").read_text().splitlines()) == 1 + 2 * 2 * 3 * 3
    for name in ("mAP_vs_delta_paper.png", "average_mAP_vs_threshold_soccernet.png"):
        assert (out / name).stat().st_size > 1000
    assert not list(out.glob(".*tmp"))
    # The JSON files written for the best configuration score the same through --results_spotting.
    json_out = root / "out_json"
    assert cm.main(["--testing", str(list_path), "--predictions", str(out), "--prefix", "modelA",
                    "--results_spotting", "results_spotting.json", "--output", str(json_out), "--no_plots",
                    "--loglevel", "WARNING"]) == 0
    spots = json.loads((json_out / "results.json").read_text())["models"]["modelA"]
    block = report["paper"]
    method = max(report["methods"], key=lambda m: block["best"][m]["average_mAP"])
    assert spots["paper"]["average_mAP"]["spots"][0] == block["best"][method]["average_mAP"]
    assert spots["soccernet"]["average_mAP"]["spots"][0] == pytest.approx(
        report["soccernet"]["average_mAP"][method][block["best"][method]["threshold_index"]])


def test_command_line_errors(small_tree, capsys):
    root, list_path, games = small_tree
    assert cm.main(["--testing", str(list_path), "--predictions", str(root / "pred"), "--prefix", "nothing",
                    "--output", str(root / "o"), "--no_plots"]) == 2
    assert "error: " in capsys.readouterr().err
    assert cm.main(["--testing", str(root / "missing.npy"), "--output", str(root / "o")]) == 2
    np.save(outputs.prediction_file(root / "pred", games[0], "modelA", 1), np.full((400, 4), 2.0, F32))
    assert cm.main(["--testing", str(list_path), "--predictions", str(root / "pred"), "--prefix", "modelA",
                    "--output", str(root / "o"), "--no_plots"]) == 2
    assert "expected probabilities in [0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cm.build_parser().parse_args(["--thresholds", "1.5"])


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="unknown method"):
        engine.evaluate([np.zeros((10, 4))], [gt()], methods=("peak",))
    with pytest.raises(ValueError, match="ground-truth halves"):
        engine.evaluate([np.zeros((10, 4))], [])
    with pytest.raises(ValueError, match="whole number"):
        engine.evaluate([np.zeros((10, 4))], [gt()], deltas=(2.5,))
    with pytest.raises(ValueError, match="shape"):
        engine.evaluate([np.zeros((10, 3))], [gt()])


def test_an_evaluation_killed_at_every_write_reruns_to_the_same_files(small_tree, monkeypatch):
    """Killed at each write in turn (every file staged, then every file published, results.json, the marker
    of a complete evaluation, last), an evaluation leaves no results.json; the rerun ends byte for byte as
    an uninterrupted run, with no staging folder left. Without plots (written the same way, through
    `base.files`), which would double the processes."""
    import signal
    import sys

    from conftest import killed_at_each_point, same_files, written_points

    root, list_path, games = small_tree
    argv = ["--testing", str(list_path), "--predictions", str(root / "pred"), "--prefix", "modelA",
            "--thresholds", "0.5", "0.3", "--write_json", "--no_plots", "--loglevel", "WARNING", "--output"]
    points = written_points(monkeypatch, lambda: cm.main(argv + [str(root / "whole")]))
    staged = [p for p in points if p.startswith("write:")]
    assert points == staged + [p for p in points if p.startswith("publish:")] and points[-1] == "publish:results.json"
    assert len(staged) == len({p.partition(":")[2] for p in staged}) + 1  # each file once (a JSON per game)
    killed = killed_at_each_point([sys.executable, str(Path(cm.__file__))], lambda n: argv + [str(root / f"out{n}")],
                                  len(points))
    for n, child in enumerate(killed, 1):
        out = root / f"out{n}"
        assert child.returncode == -signal.SIGKILL, (n, child.stderr[-2000:])
        assert not (out / "results.json").exists(), points[n - 1]
        assert cm.main(argv + [str(out)]) == 0
        same_files(out, root / "whole")
    assert not list(root.glob(".*.stage")) and not list(root.glob("*.stage"))


def test_outputs_that_cannot_be_written_and_impossible_spots_are_refused_before_scoring(small_tree, capsys):
    """--output a file, --zip under a file, a JSON confidence of 2 (even as the string "2"), a prediction
    array without rows: one line each, exit 2, nothing written."""
    import json

    root, list_path, games = small_tree
    blocked = root / "a_file"
    blocked.write_text("")
    argv = ["--testing", str(list_path), "--predictions", str(root / "pred"), "--prefix", "modelA", "--no_plots",
            "--loglevel", "WARNING"]
    assert cm.main(argv + ["--output", str(blocked)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {blocked}: --output names a file, not a folder"
    assert cm.main(argv + ["--output", str(root / "out"), "--write_json", "--zip", str(blocked / "z.zip")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {blocked / 'z.zip'}: --zip cannot be created: {blocked} is a file"
    json_dir = root / "json"
    for game in games:
        spots = [{"gameTime": "1 - 00:10", "label": "Goal", "position": "10000", "half": "1", "confidence": "2"}]
        (json_dir / "modelA" / game).mkdir(parents=True)
        (json_dir / "modelA" / game / "results_spotting.json").write_text(json.dumps({"predictions": spots}))
    assert cm.main(argv + ["--output", str(root / "out"), "--predictions", str(json_dir), "--results_spotting",
                           "results_spotting.json"]) == 2
    assert capsys.readouterr().err.strip() == (f"error: {json_dir / 'modelA' / games[0] / 'results_spotting.json'}: "
                                               "prediction 1: "
                                               "confidence 2 outside [0, 1]")
    assert cm.main(argv + ["--output", str(root / "out"), "--prefix", "modelA", "modelB", "modelA"]) == 2
    assert capsys.readouterr().err.strip() == "error: --prefix: 'modelA' is given twice"
    empty = outputs.prediction_file(root / "pred", games[0], "modelA", 1)
    np.save(empty, np.zeros((0, 4), np.float32))
    assert cm.main(argv + ["--output", str(root / "out")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {empty}: no rows: a half of zero seconds"
    assert not (root / "out").exists() and not list(root.glob(".*stage*"))


def test_annotations_far_past_the_predictions_are_warned_of(small_tree, caplog):
    """Predictions cut to 5 s for a 400 s half: scored as they are, with a warning naming the game, the half
    and the model."""
    import logging

    root, list_path, games = small_tree
    path = outputs.prediction_file(root / "pred", games[0], "modelA", 1)
    np.save(path, np.load(path)[:5])
    with caplog.at_level(logging.WARNING):
        assert cm.main(["--testing", str(list_path), "--predictions", str(root / "pred"), "--prefix", "modelA",
                        "--no_plots", "--loglevel", "WARNING", "--output", str(root / "out")]) == 0
    warned = [r.getMessage() for r in caplog.records if "past the end of" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith(f"{games[0]} half 1: an annotation at "), warned
    assert warned[0].endswith("more than 60 s past the end of modelA's 5 s of predictions"), warned


def test_publishing_moves_the_marker_last_and_leaves_one_run_s_files(tmp_path, monkeypatch):
    """`files.publish`: a stage's files land at their relative paths, the marker after all others, the stage
    removed; a second publish into the folder replaces the files it holds; a killed process's stage is
    removed by the next `staging_folder`."""
    from base import files

    output = tmp_path / "out"
    for run in ("first", "second"):
        stage = files.staging_folder(output)
        for name in ("results.json", "grid.csv", "sub/a.json"):
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_text(f"{run} {name}")
        order = []
        monkeypatch.setattr(files, "fault_point", order.append)  # called before each move
        files.publish(stage, output, "results.json")
        assert order[-1] == "publish:results.json" and sorted(order[:-1]) == ["publish:a.json", "publish:grid.csv"]
        assert not stage.exists()
        assert {p.name: p.read_text() for p in output.rglob("*") if p.is_file() and p.name != ".lock"} == {
            "results.json": f"{run} results.json", "grid.csv": f"{run} grid.csv", "a.json": f"{run} sub/a.json"}
    dead = tmp_path / ".out.999999999-deadbeef.stage"
    dead.mkdir()
    files.staging_folder(output)
    assert not dead.exists()
