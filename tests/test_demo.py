"""The demo end to end on a tiny synthetic set, and the reproduction harness's plans and dry run."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from evaluation.outputs import RESULTS_SPOTTING
from experiments import reproduce
from experiments.commands import Settings
from experiments.plan import Training, table_plan
from experiments.tables import table1
from networks.names import TRAINED_MODELS
from runtime import rundir

TINY_DEMO = ["--games", "3", "2", "2", "--half_minutes", "4", "--event_rate", "10", "--windows", "20", "10",
             "--max_epochs", "1", "1", "--v2_games", "3", "2", "2", "--v2_max_epoch", "1", "--train_args", "--batch_size 2 --VLAD_k 4 --micro_batch 64", "--no_progress"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from experiments import demo

    folder = tmp_path_factory.mktemp("demo")
    argv = TINY_DEMO + ["--data", str(folder / "data"), "--runs", str(folder / "runs"),
                        "--results", str(folder / "results")]
    assert demo.main(argv) == 0
    return folder, argv


def test_demo_writes_tables_findings_and_plots(demo_run):
    folder, _ = demo_run
    results = folder / "results"
    for name in ("table_1.txt", "table_2_3.txt", "table_5.txt", "findings.txt", "figure3_training_curves.png",
                 "confusion_method4.png", "timeline_method4.png", "figure2/mAP_vs_delta_paper.png"):
        assert (results / name).is_file(), name
    table5 = json.loads((results / "table_5.json").read_text())
    # method 4 at the first T; video, audio and method 4 at the last; the three candidate methods each
    assert sorted(table5) == sorted(["RVLAD20 method 4"] + [f"RVLAD10 {m}" for m in ("video", "audio", "method 4")])
    # The table's values are the evaluator's best Average-mAP per candidate method.
    evaluated = json.loads((results / "spotting_rvlad_10s" / "results.json").read_text())["models"]
    (video_prefix,) = [p for p in evaluated if p.endswith("VideoNetwork")]
    best = evaluated[video_prefix]["paper"]["best"]
    assert table5["RVLAD10 video"] == {m: best[m]["average_mAP"] for m in ("argmax", "center", "nms")}
    table1 = json.loads((results / "table_1.json").read_text())
    assert set(table1) == {f"{m} T=20" for m in ("video", "audio", "method 1", "method 2", "method 4")}
    assert "SYNTHETIC" in (results / "table_1.txt").read_text()
    text = (results / "table_2_3.txt").read_text()
    assert "SYNTHETIC" in text and "84.5" in text  # labelled, and the paper's method 4 goal AP beside ours
    findings = (results / "findings.txt").read_text().splitlines()
    assert len(findings) == 4 and all(line.strip().startswith("[") for line in findings)


def test_demo_v2_section_scores_with_both_evaluators(demo_run):
    """Step 6: video, audio and method 4 on 17 classes; this evaluator and the package's on the same JSON files."""
    folder, _ = demo_run
    values = json.loads((folder / "results" / "v2" / "table_v2.json").read_text())
    for model in ("video", "audio", "method 4"):
        for delta_set in ("tight", "loose"):
            pair = values[f"{model} {delta_set}"]
            assert 0 <= pair["ours"] <= 1 and pair["ours"] == pytest.approx(pair["official"], abs=1e-6)
    text = (folder / "results" / "v2" / "table_v2.txt").read_text()
    assert "SoccerNet-v2 classes (17)" in text and text.count("[yes]") + text.count("[NO ]") == 3
    assert "[yes] this evaluator equals the official one" in text
    args = rundir.read_args(next((folder / "runs" / "v2").glob("rvlad64-20s-AudioVideoArchi5_*")))
    assert args["classes"] == "v2"


def test_official_scores_side_by_side_are_those_of_this_process(demo_run, tmp_path):
    """The package's figures of the demo's v2 JSON files, evaluated in two processes at once, are exactly
    those it gives in this process (JSON keeps Python floats), as is one job run in this process; a failing
    evaluation names its folder."""
    from experiments.official import official_scores, official_scores_side_by_side, plain

    folder, _ = demo_run
    (predictions,) = (folder / "runs" / "v2" / "predictions").glob("results_spotting_*AudioVideoArchi5")
    job = dict(list_path=folder / "data-v2" / "listgame_Test_2.npy", predictions=predictions, spotted="v2",
               metric="tight")
    apart = official_scores_side_by_side([job, job], workers=2)
    here = json.loads(json.dumps(official_scores(**job), default=plain))
    assert set(here) >= {"a_mAP", "a_mAP_per_class", "a_mAP_visible", "a_mAP_unshown"}
    np.testing.assert_equal(apart, [here, here])
    (alone,) = official_scores_side_by_side([job], workers=1)  # one job: in this process, the package's types
    np.testing.assert_equal(json.loads(json.dumps(alone, default=plain)), here)
    with pytest.raises(RuntimeError, match=f"official evaluator of {re.escape(str(tmp_path))}.* failed: .*no_list"):
        official_scores_side_by_side([{**job, "list_path": tmp_path / "no_list.npy", "predictions": tmp_path}] * 2,
                                     workers=2)


def test_demo_rerun_reuses_finished_runs(demo_run, capsys, monkeypatch):
    """No training again, and the package's v2 figures read from results/v2/official_scores.json: the same
    table_v2.json, byte for byte."""
    from experiments import demo, official

    folder, argv = demo_run
    runs_before = sorted(p.name for p in (folder / "runs").iterdir())
    table_before = (folder / "results" / "v2" / "table_v2.json").read_bytes()
    monkeypatch.setattr(official, "official_scores_side_by_side", lambda jobs: pytest.fail("evaluated again"))
    assert demo.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("(done)") == 9  # six trainings and the three of the v2 section, none repeated
    assert "$ .venv/bin/python ClassificationMinuteBased.py" not in out
    assert sorted(p.name for p in (folder / "runs").iterdir()) == runs_before
    assert (folder / "results" / "v2" / "table_v2.json").read_bytes() == table_before


def test_official_scores_are_kept_by_what_they_depend_on(demo_run, tmp_path, monkeypatch):
    """official_scores_kept evaluates only the jobs whose key (package version, metric, class set, list, label
    and JSON files) its file lacks, or whose kept figures lack one, and keeps exactly this call's jobs; a
    changed JSON file, metric or class set is a new key, an unreadable file is empty."""
    import shutil

    from experiments import official

    folder, _ = demo_run
    (source,) = (folder / "runs" / "v2" / "predictions").glob("results_spotting_*AudioVideoArchi5")
    predictions = Path(shutil.copytree(source, tmp_path / "predictions"))
    job = dict(list_path=folder / "data-v2" / "listgame_Test_2.npy", predictions=predictions, spotted="v2",
               metric="tight")
    evaluated = []

    def fake(jobs):  # figures that say which call made them
        evaluated.append([j["metric"] for j in jobs])
        return [{"a_mAP": np.float64(len(evaluated)), "a_mAP_per_class": [np.float64(0.5)], "a_mAP_visible": 0.25,
                 "a_mAP_unshown": 0.75} for _ in jobs]

    def figures(call):
        return {"a_mAP": float(call), "a_mAP_per_class": [0.5], "a_mAP_visible": 0.25, "a_mAP_unshown": 0.75}

    monkeypatch.setattr(official, "official_scores_side_by_side", fake)
    kept = tmp_path / "kept.json"
    loose = {**job, "metric": "loose"}
    first = official.official_scores_kept([job, loose], kept)
    assert evaluated == [["tight", "loose"]] and first == [figures(1)] * 2
    assert type(first[0]["a_mAP"]) is float  # as the children's JSON gives them
    assert official.official_scores_kept([job, loose], kept) == first and len(evaluated) == 1
    import dataset

    spots = predictions / dataset.read_game_list(job["list_path"])[0] / RESULTS_SPOTTING
    spots.write_text(spots.read_text().replace('"confidence"', '"confidence" ', 1))  # the same JSON, other bytes
    assert official.official_scores_kept([job], kept) == [figures(2)]
    assert evaluated[-1] == ["tight"] and list(json.loads(kept.read_text())) == [official.job_key(job)]
    assert official.job_key(job) != official.job_key(loose) != official.job_key({**loose, "spotted": "v1"})
    kept.write_text("{not json")
    assert official.official_scores_kept([job], kept) == [figures(3)]
    kept.write_text(json.dumps({official.job_key(job): {"a_mAP": 1.0, "a_mAP_per_class": [0.5]}}))  # no shown/unshown
    assert official.official_scores_kept([job], kept) == [figures(4)] and len(evaluated) == 4


def test_reproduce_dry_run_table5_prints_the_paper_commands(capsys, tmp_path):
    assert reproduce.main(["--table", "5", "--dry-run", "--runs", str(tmp_path / "runs")]) == 0
    captured = capsys.readouterr()
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):  # the warning is for CPU machines
        assert "6 NetVLAD k = 512 trainings" in captured.err and "days on a CPU" in captured.err
    lines = [l for l in captured.out.splitlines() if l.startswith(".venv/bin/python")]
    trainings = [shlex.split(l) for l in lines if "ClassificationMinuteBased.py" in l]
    spottings = [l for l in lines if "ClassificationSecondBased.py" in l]
    evaluations = [l for l in lines if "compute_mAP.py" in l]
    # NetRVLAD k=64 at 60 s, NetVLAD k=512 at 60 s and 20 s; video, audio and method 4 each
    assert len(trainings) == 9 and len(spottings) == 9 and len(evaluations) == 3
    settings = {(a[a.index("--architecture") + 1], a[a.index("--network") + 1], a[a.index("--VLAD_k") + 1],
                 a[a.index("--WindowSize") + 1]) for a in trainings}
    expected = {(arch, net, k, w) for net, k, w in (("RVLAD", "64", "60"), ("VLAD", "512", "60"), ("VLAD", "512", "20"))
                for arch in ("VideoNetwork", "AudioNetwork", "AudioVideoArchi5")}
    assert settings == expected
    assert all("--PCA" in a and a[a.index("--featuresVideo") + 1] == "ResNET" for a in trainings)
    # the paper's schedule: no shortened flags unless asked
    assert not any("--max_epoch" in a for a in trainings)


def test_reproduce_table_plans():
    one = table_plan("1")
    assert len(one.trainings) == 2 * 7 and len(one.late_fusions) == 4 and not one.spottings
    assert {t.window for t in one.trainings} == {60, 30}
    four = table_plan("4")
    assert {(t.pooling, t.k) for t in four.trainings} == {("VLAD", 512)}


def test_findings_name_the_classes_where_fusion_falls_short(tmp_path):
    """A failed finding says where it fails (not where it holds), and a held one says where it holds."""
    from experiments import demonstration

    def reports(fusion_card):
        folders = {}
        ap = {"video": (0.8, 0.7, 0.6), "audio": (0.2, 0.5, 0.9), "method 4": (fusion_card, 0.8, 0.95)}
        for model, (card, subs, goal) in ap.items():
            run = Training(TRAINED_MODELS[model], "RVLAD", 64, 60)
            folder = tmp_path / f"{fusion_card}" / run.prefix
            folder.mkdir(parents=True)
            mAP = (card + subs + goal) / 3
            (folder / rundir.TEST_REPORT).write_text(json.dumps({"mAP": mAP, "AP": {
                "background": 0.9, "card": card, "subs": subs, "goal": goal}}))
            folders[run.prefix] = folder
        return demonstration.findings(folders, {}, [60])

    failing = reports(0.7)  # below video's 0.8 on cards only
    assert "  [NO ] fusion at least as good as either stream on every class: below the better stream on card" in failing
    holding = reports(0.85)
    assert "  [yes] fusion at least as good as either stream on every class: on card, subs, goal" in holding
    assert any(line.startswith("  [yes] audio above video on goals: 90.0 > 60.0") for line in holding)


def test_reproduce_dry_run_with_seeds_resumes_and_generates(capsys, tmp_path):
    """--seeds 3: every configuration three times with its seed; an interrupted run is resumed, a finished
    one marked done; the data generation is part of the commands."""

    interrupted = tmp_path / "runs" / "rvlad64-60s-AudioNetwork-seed1235_2026-01-01_00-00-00"
    (interrupted / rundir.CHECKPOINT_DIR).mkdir(parents=True)
    (interrupted / rundir.ARGS_FILE).write_text(json.dumps({"args": {}}))
    (interrupted / rundir.CHECKPOINT_DIR / rundir.STATE_FILE).write_text(json.dumps({"epoch": 1, "state_file": "x"}))
    finished = tmp_path / "runs" / "rvlad64-30s-VideoNetwork-seed1236_2026-01-01_00-00-00"
    finished.mkdir()
    (finished / rundir.ARGS_FILE).write_text(json.dumps({"args": {}}))
    (finished / rundir.TEST_REPORT).write_text("{}")
    argv = ["--table", "2/3", "--dry-run", "--seeds", "3", "--runs", str(tmp_path / "runs"),
            "--synthetic", str(tmp_path / "nothing_yet")]
    assert reproduce.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert any("-m experiments.make_synthetic --output" in line and "nothing_yet" in line for line in out)
    trainings = [shlex.split(l) for l in out if l.startswith(".venv/bin/python ClassificationMinuteBased.py")]
    fresh = [a for a in trainings if "--architecture" in a]
    assert len(fresh) == 3 * 6 - 2
    assert sorted({a[a.index("--seed") + 1] for a in fresh}) == ["1234", "1235", "1236"]
    assert all(a[a.index("--outputPrefix") + 1].endswith("-seed" + a[a.index("--seed") + 1]) for a in fresh)
    assert [a for a in trainings if "--resume" in a] == [
        [".venv/bin/python", "ClassificationMinuteBased.py", "--resume", str(interrupted)]]
    assert sum(line.startswith("# done:") for line in out) == 1
    with pytest.raises(SystemExit) as stop:  # the seeds would all be 7
        reproduce.main(argv + ["--train_args", "--seed 7"])
    assert stop.value.code == 2


def test_tables_give_mean_and_standard_deviation_over_seeds(tmp_path):

    s = Settings("a", "b", "c", None, tmp_path, tmp_path, tmp_path, seeds=(1, 2, 3))
    folders = {}
    maps = {"video": (0.60, 0.62, 0.64), "audio": (0.40, 0.50, 0.60)}
    for model, values in maps.items():
        for seed, value in zip(s.seeds, values):
            run = Training(TRAINED_MODELS[model], "RVLAD", 64, 60, seed)
            (tmp_path / run.prefix).mkdir()
            (tmp_path / run.prefix / rundir.TEST_REPORT).write_text(json.dumps({"mAP": value}))
            folders[run.prefix] = tmp_path / run.prefix
    text, data = table1(folders, s, windows=(60,), models=["video", "audio"])
    assert data["video T=60"] == {"mean": pytest.approx(0.62), "std": pytest.approx(0.02), "values": [0.60, 0.62, 0.64]}
    assert data["audio T=60"]["std"] == pytest.approx(0.1)
    assert "62.0±2.0" in text and "50.0±10.0" in text and "seeds 1, 2, 3" in text


def test_reproduce_dry_run_on_the_v2_classes(capsys, tmp_path):
    """--classes v2: the same configurations, each training with --classes v2, on the synthetic v2 set."""
    assert reproduce.main(["--table", "1", "--classes", "v2", "--dry-run", "--runs", str(tmp_path / "runs"),
                           "--synthetic", str(tmp_path / "v2")]) == 0
    out = capsys.readouterr().out
    assert "v2 classes (the paper's columns are its v1 figures)" in out
    assert "-m experiments.make_synthetic --output " + str(tmp_path / "v2") in out and "--classes v2" in out
    trainings = [shlex.split(line) for line in out.splitlines() if "ClassificationMinuteBased.py" in line]
    # Table 1: video, audio and methods 3-7 at T = 60 and 30 s, on the v2 set's lists
    assert len(trainings) == 14 and all(a[a.index("--classes") + 1] == "v2" for a in trainings)
    assert all(a[a.index("--training") + 1].startswith(str(tmp_path / "v2")) for a in trainings)
