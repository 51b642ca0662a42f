"""compute_mAP.py's inputs and outputs beyond the scores: the class set (v1, v2) of prediction arrays and
results_spotting.json labels, zips of results_spotting.json files, --thresholds_from, the checks of bad
input before any work, and the figures for 17 classes. The scores themselves: tests/test_compute_mAP.py."""
from __future__ import annotations

import inspect
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import compute_mAP as cm
from base import errors, labels
from base.classes import V1, V2
from evaluation import candidates, classification, engine, outputs, plots
from evaluation.inputs import CHOSEN_HERE

F32 = np.float32
GAMES = ["league/2015-2016/one", "league/2015-2016/two"]
LENGTHS = (300, 320)


def write_tree(root: Path, classes=V1, prefixes=("modelA", "modelB"), seed=3) -> Path:
    """Two games: labels of the class set (its label file) and, per prefix, (seconds, 1 + C) predictions with
    bumps near the events. Returns the game list."""
    rng = np.random.default_rng(seed)
    names = classes.soccernet_labels if classes is V2 else ("y-card", "substitution-in", "soccer-ball")
    events = {}
    for game in GAMES:
        annotations = []
        for half, n in zip((1, 2), LENGTHS):
            for _ in range(int(rng.integers(3, 8))):
                c = int(rng.integers(1, classes.num_classes))
                t = int(rng.integers(0, n))
                annotations.append({"gameTime": labels.seconds_to_game_time(half, t), "label": names[c - 1],
                                    "position": str(1000 * t)})
                events.setdefault((game, half), []).append((c, t))
        folder = root / "data" / game
        folder.mkdir(parents=True)
        (folder / classes.label_file).write_text(json.dumps({"annotations": annotations}))
    list_path = root / "data" / "list.npy"
    np.save(list_path, np.array(GAMES))
    t = np.arange(max(LENGTHS))
    for prefix in prefixes:
        for game in GAMES:
            for half, n in zip((1, 2), LENGTHS):
                p = 0.2 * rng.random((n, classes.num_classes)) ** 4
                for c, e in events.get((game, half), []):
                    bump = rng.uniform(0.4, 1) * np.exp(-((t[:n] - e - rng.normal(0, 4)) / 6) ** 2)
                    p[:, c] = np.maximum(p[:, c], bump)
                path = outputs.prediction_file(root / "pred", game, prefix, half)
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, p.astype(F32))
    return list_path


def argv_of(root: Path, list_path: Path, *extra, prefixes=("modelA",)) -> list[str]:
    return ["--testing", str(list_path), "--predictions", str(root / "pred"), "--prefix", *prefixes,
            "--loglevel", "WARNING", *extra]


def error_line(capsys) -> str:
    """The one line a refused run prints (and nothing on stdout)."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


# ------------------------------------------------------------------------------------------------
# results_spotting.json in a class set, and zips of them


def spots_content(rng, classes, game, numbers=False) -> dict:
    """A results_spotting.json object of random spots; numbers: positions, halves, confidences as numbers."""
    items = []
    for half in (1, 2):
        for label in classes.soccernet_labels:
            for ms in np.sort(rng.choice(np.arange(0, 300_000, 500), 6, replace=False)):
                confidence = float(rng.random())
                items.append({"gameTime": labels.seconds_to_game_time(half, ms // 1000), "label": label,
                              "position": int(ms) if numbers else str(int(ms)),
                              "half": half if numbers else str(half),
                              "confidence": confidence if numbers else repr(confidence)})
    return {"UrlLocal": game, "predictions": items}


@pytest.mark.parametrize("classes", [V1, V2])
def test_zip_round_trip_with_strings_and_numbers(tmp_path, classes):
    rng = np.random.default_rng(1)
    contents = [(game, spots_content(rng, classes, game)) for game in GAMES]
    as_numbers = [(game, json.loads(json.dumps(content))) for game, content in contents]
    for _, content in as_numbers:
        for item in content["predictions"]:
            item.update(position=int(item["position"]), half=int(item["half"]), confidence=float(item["confidence"]))
    archive = outputs.write_results_spotting_zip(tmp_path / "spots.zip", contents)
    numbers = outputs.write_results_spotting_zip(tmp_path / "numbers.zip", as_numbers)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["numbers.zip", "spots.zip"]  # no temporary left
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == [f"{game}/results_spotting.json" for game in GAMES]
        assert json.loads(z.read(f"{GAMES[1]}/results_spotting.json")) == contents[1][1]
    list_path = tmp_path / "list.npy"
    np.save(list_path, np.array(GAMES))
    for game, content in contents:  # the same files in folders
        (tmp_path / "folder" / game).mkdir(parents=True)
        outputs.write_results_spotting(tmp_path / "folder" / game / "results_spotting.json", content)
    for rate in (1, candidates.SOCCERNET_FRAMERATE):
        from_folder = outputs.load_results_spotting(list_path, tmp_path / "folder", rate=rate, classes=classes)
        for source in (archive, numbers):
            from_zip = outputs.load_results_spotting(list_path, source, rate=rate, classes=classes)
            assert len(from_zip) == 4 and all(a.shape[1] == classes.num_classes for a in from_zip)
            assert all(np.array_equal(a, b) for a, b in zip(from_zip, from_folder))
    # The same bytes for the same content (members dated 1980-01-01), written again over the old file.
    again = outputs.write_results_spotting_zip(tmp_path / "again.zip", contents)
    assert again.read_bytes() == archive.read_bytes()


def test_zips_the_soccernet_package_reads(tmp_path):
    from SoccerNet.Evaluation.utils import LoadJsonFromZip

    content = spots_content(np.random.default_rng(2), V2, GAMES[0])
    archive = outputs.write_results_spotting_zip(tmp_path / "v2.zip", [(GAMES[0], content)])
    assert LoadJsonFromZip(str(archive), f"{GAMES[0]}/results_spotting.json") == content


def test_bad_zips_are_refused(tmp_path):
    with pytest.raises(errors.DataError, match="zip not found"):
        outputs.open_results_zip(tmp_path / "none.zip")
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(errors.DataError, match="not a zip file"):
        outputs.open_results_zip(tmp_path / "bad.zip")
    archive = outputs.write_results_spotting_zip(tmp_path / "one.zip", [(GAMES[0], {"predictions": []})])
    with outputs.open_results_zip(archive) as z:
        with pytest.raises(errors.DataError, match=f"no member '{GAMES[1]}/results_spotting.json'"):
            outputs.read_results_spotting_zip(z, archive, GAMES[1])
    with zipfile.ZipFile(tmp_path / "broken.zip", "w") as z:
        z.writestr(f"{GAMES[0]}/results_spotting.json", "{")
    with outputs.open_results_zip(tmp_path / "broken.zip") as z:
        with pytest.raises(errors.DataError, match="broken.zip:league/2015-2016/one/results_spotting.json: invalid"):
            outputs.read_results_spotting_zip(z, tmp_path / "broken.zip", GAMES[0])


def test_v2_labels_written_and_read_back(tmp_path):
    rng = np.random.default_rng(4)
    by_half = {h: rng.random((200, V2.num_classes)).astype(F32) ** 6 for h in (1, 2)}
    content = outputs.results_spotting_json(by_half, "center", 0.3, GAMES[0])  # the class set of the width
    written = {item["label"] for item in content["predictions"]}
    assert written and written <= set(V2.soccernet_labels) and len(written) > 10
    assert all(isinstance(v, str) for item in content["predictions"] for v in item.values())
    path = tmp_path / "results_spotting.json"
    outputs.write_results_spotting(path, content)
    back = outputs.read_results_spotting(path, classes=V2)
    for half, p in by_half.items():
        for c in range(1, V2.num_classes):
            seconds, scores = candidates.candidates(p[:, c], 0.3, "center")
            where = np.flatnonzero(back[half][:, c] >= 0)
            assert where.tolist() == seconds.tolist() and back[half][where, c].tolist() == scores.tolist()
    # Read as v1: Goal, the cards and Substitution fold into the three v1 classes; the rest is skipped.
    folded = outputs.read_results_spotting(path, classes=V1)
    goals = sum(int((back[h][:, V2.classes.index("Goal")] >= 0).sum()) for h in (1, 2))
    assert folded[1].shape[1] == 4 and sum(int((folded[h][:, 3] >= 0).sum()) for h in (1, 2)) == goals
    with pytest.raises(ValueError, match="expected \\(seconds, 4\\) for the v1 classes"):
        outputs.results_spotting_json(by_half, "center", 0.3, GAMES[0], V1)


# ------------------------------------------------------------------------------------------------
# The class set of a run: --classes against the arrays' width


def test_width_and_classes_contradiction_is_refused(tmp_path, capsys):
    list_path = write_tree(tmp_path)
    first = outputs.prediction_file(tmp_path / "pred", GAMES[0], "modelA", 1)
    with pytest.raises(errors.DataError, match="got float32 \\(300, 4\\): the v1 classes' width, not the v2 ones'"):
        outputs.read_prediction_file(first, V2)
    assert outputs.read_prediction_file(first, None).shape == (300, 4)
    assert outputs.prediction_class_set(outputs.load_spotting_outputs(list_path, tmp_path / "pred", "modelA",
                                                                      None)) is V1
    out = tmp_path / "out"
    assert cm.main(argv_of(tmp_path, list_path, "--classes", "v2", "--output", str(out))) == 2
    assert error_line(capsys) == (f"error: {first}: expected a numeric array (seconds, 18), got float32 (300, 4): "
                                  "the v1 classes' width, not the v2 ones'")
    # Inferred from the first model, contradicted by the second.
    v2_root = tmp_path / "v2"
    write_tree(v2_root, V2, prefixes=("modelB",))
    for game in GAMES:
        for half in (1, 2):
            source = outputs.prediction_file(tmp_path / "pred", game, "modelA", half)
            target = outputs.prediction_file(v2_root / "pred", game, "modelA", half)
            target.write_bytes(source.read_bytes())
    assert cm.main(argv_of(v2_root, list_path, "--output", str(out), prefixes=("modelA", "modelB"))) == 2
    line = error_line(capsys)
    assert "modelB_Half_1.npy: (seconds, 18) arrays of the v2 classes, but modelA's are of the v1 classes" in line
    assert cm.main(argv_of(tmp_path, list_path, "--classes", "v2", "--label_file", "Labels.json",
                           "--output", str(out))) == 2
    assert error_line(capsys) == ("error: --label_file: the v2 classes are read from Labels-v2.json, not from "
                                  "Labels.json")
    assert not out.exists()


def test_flags_that_do_not_go_together(tmp_path, capsys):
    list_path = write_tree(tmp_path)
    out = tmp_path / "out"
    cases = [(["--zip", "x.zip"], "error: --zip: goes with --write_json"),
             (["--write_json", "--zip", "x.json"], "error: --zip: expected a file name ending in .zip"),
             (["--write_json", "--zip", "x.zip", "--prefix", "modelA", "modelB"], "error: --zip: several models"),
             (["--results_spotting", "x.zip", "--prefix", "modelA", "modelB"], "error: --results_spotting: several"),
             (["--results_spotting", "none.zip"], "none.zip: results_spotting zip not found")]
    for extra, expected in cases:
        assert cm.main(argv_of(tmp_path, list_path, "--output", str(out), *extra)) == 2, extra
        assert expected in error_line(capsys), extra
    assert not out.exists()


# ------------------------------------------------------------------------------------------------
# --write_json --zip and --results_spotting ZIP through the command line; --thresholds_from


def test_write_json_zip_scores_as_the_folders(tmp_path, capsys):
    list_path = write_tree(tmp_path)
    out = tmp_path / "out"
    base = ["--thresholds", "0.6", "0.3", "--no_plots", "--metric", "paper", "--deltas", "30", "10"]
    assert cm.main(argv_of(tmp_path, list_path, *base, "--output", str(out), "--write_json", "--zip",
                           str(out / "zips" / "{prefix}.zip"), prefixes=("modelA", "modelB"))) == 0
    assert "written: " + str(out / "zips" / "modelA.zip") in capsys.readouterr().out
    for prefix in ("modelA", "modelB"):
        with zipfile.ZipFile(out / "zips" / f"{prefix}.zip") as z:
            for game in GAMES:
                member = json.loads(z.read(f"{game}/results_spotting.json"))
                assert member == json.loads(outputs.results_spotting_file(out, prefix, game).read_text())
    scored = {}
    for name, source in (("folders", "results_spotting.json"), ("zips", str(out / "zips" / "{prefix}.zip"))):
        target = tmp_path / name
        assert cm.main(["--testing", str(list_path), "--predictions", str(out), "--prefix", "modelA", "modelB",
                        "--results_spotting", source, "--output", str(target), "--no_plots", "--metric", "paper",
                        "--deltas", "30", "10", "--loglevel", "WARNING", "--plot_spots", GAMES[1]]) == 0
        scored[name] = json.loads((target / "results.json").read_text())["models"]
        assert plots.spots_plot_file(target, "modelB", GAMES[1]).stat().st_size > 10_000
    assert scored["zips"]["modelB"]["paper"]["AP"] == scored["folders"]["modelB"]["paper"]["AP"]


def test_thresholds_from_an_earlier_run(tmp_path, capsys):
    list_path = write_tree(tmp_path)
    base = ["--no_plots", "--deltas", "20", "10"]
    earlier = tmp_path / "valid"
    assert cm.main(argv_of(tmp_path, list_path, *base, "--thresholds", "0.8", "0.5", "0.2", "--output",
                           str(earlier))) == 0
    file = earlier / "results.json"
    theirs = json.loads(file.read_text())
    assert theirs["settings"]["best_thresholds"] == CHOSEN_HERE
    assert theirs["models"]["modelA"]["best_thresholds"] == CHOSEN_HERE
    capsys.readouterr()
    out = tmp_path / "test"
    assert cm.main(argv_of(tmp_path, list_path, *base, "--thresholds", "0.7", "0.4", "--output", str(out),
                           "--thresholds_from", str(file), "--write_json")) == 0
    assert f"best thresholds: from {file}" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["best_thresholds"] == f"from {file}"
    report = results["models"]["modelA"]
    assert report["thresholds"][:2] == [0.7, 0.4] and set(report["thresholds"]) >= {0.7, 0.4}
    for metric in ("paper", "soccernet"):
        for method in candidates.CANDIDATE_METHODS:
            best, earlier_best = report[metric]["best"][method], theirs["models"]["modelA"][metric]["best"][method]
            assert best["threshold"] == earlier_best["threshold"]
            t = best["threshold_index"]
            assert report["thresholds"][t] == best["threshold"]
            assert best["average_mAP"] == report[metric]["average_mAP"][method][t]
            assert best["mAP"] == report[metric]["mAP"][method][t]
    # The same games, so the same choice as the earlier run's: the same numbers.
    for method in candidates.CANDIDATE_METHODS:
        assert report["paper"]["best"][method]["average_mAP"] == \
            theirs["models"]["modelA"]["paper"]["best"][method]["average_mAP"]
    # Refused before any work, in one line.
    (tmp_path / "other.json").write_text(json.dumps({"rows": []}))
    only_center = tmp_path / "center"
    assert cm.main(argv_of(tmp_path, list_path, *base, "--methods", "center", "--output", str(only_center))) == 0
    capsys.readouterr()
    refused = tmp_path / "refused"
    cases = [(tmp_path / "none.json", [], "--thresholds_from: file not found"),
             (tmp_path / "other.json", [], "--thresholds_from: not a results.json of compute_mAP.py (no 'models')"),
             (file, ["--prefix", "modelB"], "--thresholds_from: no model 'modelB' (it has modelA)"),
             (only_center / "results.json", [],
              "--thresholds_from: model 'modelA' has no best threshold of method 'argmax' for the paper metric")]
    for path, extra, expected in cases:
        assert cm.main(argv_of(tmp_path, list_path, *base, "--output", str(refused), "--thresholds_from",
                               str(path), *extra)) == 2
        assert error_line(capsys) == f"error: {path}: {expected}"
    assert not refused.exists()


# ------------------------------------------------------------------------------------------------
# Figures and the classification report for 17 classes


def test_plots_for_17_classes(tmp_path):
    colours = plots.class_colours(V2)
    assert len(colours) == 17 and len(set(colours.values())) == 17
    assert plots.class_colours(V1) == plots.CLASS_COLOURS
    rng = np.random.default_rng(5)
    probabilities = {h: rng.random((300, V2.num_classes)) ** 8 for h in (1, 2)}
    spots = {h: np.where(p > 0.7, p, -1.0) for h, p in probabilities.items()}
    events = [labels.Event(h, float(rng.integers(0, 300)), c, V2.classes[c]) for h in (1, 2) for c in range(1, 18)]
    path = plots.plot_spots(tmp_path / "spots" / "game.png", GAMES[0], spots, probabilities, events, "v2 spots")
    assert path.stat().st_size > 30_000
    timeline = plots.plot_spots(tmp_path / "timeline.png", GAMES[0], None, probabilities, events, "v2 timeline",
                                plots.TIMELINE_LOOK, V2)
    assert timeline.stat().st_size > 30_000

    def block(values):
        return {"best": {m: {"threshold": 0.5, "average_mAP": float(np.mean(values)), "mAP": list(values)}
                         for m in ("center", "nms")},
                "average_mAP": {m: [0.1, 0.2] for m in ("center", "nms")}}

    loose, tight = np.linspace(0.6, 0.2, 12), np.linspace(0.1, 0.3, 5)
    results = {"model": {"deltas": list(candidates.DEFAULT_DELTAS), "thresholds": [0.5, 0.3],
                         "methods": ["center", "nms"], "paper": block(loose),
                         "tight": {"deltas": [1, 2, 3, 4, 5], "paper": block(tight)}}}
    written = plots.plot_results(results, tmp_path, "paper", V2)
    assert [p.name for p in written] == ["mAP_vs_delta_paper.png", "average_mAP_vs_threshold_paper.png"]
    assert all(p.stat().st_size > 10_000 for p in written)
    assert not list(tmp_path.rglob(".*tmp*"))


def test_classification_report_for_v2():
    rng = np.random.default_rng(6)
    truth = (rng.random((60, V2.num_classes)) > 0.85).astype(F32)
    scores = rng.random((60, V2.num_classes))
    report = classification.classification_report(truth, scores)
    assert list(report["AP"]) == list(V2.classes) and np.shape(report["confusion_matrix"]) == (18, 18)
    assert report["mAP"] == pytest.approx(np.mean([report["AP"][c] for c in V2.event_classes]))
    text = classification.format_classification_report(report)
    assert "17 yellow_to_red_card" in text and "(v2 classes)" in text
    with pytest.raises(ValueError, match="the v1 classes have 4"):
        classification.confusion_matrix(truth, scores, V1)


# ------------------------------------------------------------------------------------------------
# v2 end to end (needs the engine's class-set keyword)


@pytest.mark.skipif("classes" not in inspect.signature(engine.evaluate).parameters,
                    reason="the engine scores the v1 classes only (its classes= keyword is not merged yet)")
def test_v2_end_to_end(tmp_path, capsys):
    list_path = write_tree(tmp_path, V2)
    out = tmp_path / "out"
    assert cm.main(argv_of(tmp_path, list_path, "--thresholds", "0.6", "0.3", "--output", str(out), "--write_json",
                           "--zip", str(out / "v2.zip"), "--plot_spots", "1")) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["classes"] == "v2" and results["settings"]["label_file"] == "Labels-v2.json"
    report = results["models"]["modelA"]
    assert report["classes"] == list(V2.event_classes) and report["tight"]["deltas"] == [1, 2, 3, 4, 5]
    assert (out / "mAP_vs_delta_paper.png").is_file() and list((out / "spots_modelA").rglob("*.png"))
    with zipfile.ZipFile(out / "v2.zip") as z:
        written = {item["label"] for name in z.namelist() for item in json.loads(z.read(name))["predictions"]}
    assert written <= set(V2.soccernet_labels)
    scored = tmp_path / "scored"
    assert cm.main(["--testing", str(list_path), "--predictions", str(out), "--prefix", "modelA", "--classes", "v2",
                    "--results_spotting", str(out / "v2.zip"), "--output", str(scored), "--no_plots",
                    "--loglevel", "WARNING"]) == 0
    again = json.loads((scored / "results.json").read_text())["models"]["modelA"]
    assert again["classes"] == list(V2.event_classes)
