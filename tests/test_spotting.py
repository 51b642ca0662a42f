"""ClassificationSecondBased.py: windows, shapes, batching, model flags, JSON output, reruns, fusion."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

import ClassificationSecondBased as csb
import compute_mAP as cm
import dataset
from conftest import write_game, write_list
from evaluation import candidates, outputs
from runtime import process
from spotting import games as spotting_games

GAME = "league/2015-2016/2016-01-01 - 20-00 Home 1 - 0 Away"


def _spot(run, list_path, out, *extra):
    return csb.main(["--model", str(run), "--testing", str(list_path), "--output_dir", str(out), "--no_progress",
                     "--loglevel", "WARNING", *extra])


def test_windows_of_half_follow_the_original_quarters():
    parts = spotting_games.windows_of_half(10, "batch", 256)
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3, 4], [5, 6], [7, 8, 9]]
    assert [len(p) for p in spotting_games.windows_of_half(10, "moving", 4)] == [4, 4, 2]
    assert [len(p) for p in spotting_games.windows_of_half(3, "batch", 256)] == [1, 1, 1]


def test_output_shapes_for_odd_and_even_frame_counts(tiny_runs, tmp_path):
    write_game(tmp_path, GAME, frames=(121, 80))
    list_path = write_list(tmp_path / "l.npy", [GAME])
    assert _spot(tiny_runs["video"], list_path, tmp_path / "out", "--output", "v") == 0
    first = np.load(tmp_path / "out" / GAME / "v_Half_1.npy")
    second = np.load(tmp_path / "out" / GAME / "v_Half_2.npy")
    assert first.shape == (60, 4) and second.shape == (40, 4) and first.dtype == np.float32
    assert 0 <= first.min() and first.max() <= 1


def test_moving_mode_does_not_depend_on_the_batch_size(tiny_root, tiny_runs, tmp_path):
    list_path = tiny_root / "listgame_Test_2.npy"
    outputs = []
    for batch in (7, 1000):
        out = tmp_path / f"b{batch}"
        assert _spot(tiny_runs["video_moving"], list_path, out, "--batch_size", str(batch), "--output", "m",
                     "--no_json") == 0
        game = dataset.read_game_list(list_path)[0]
        outputs.append(np.load(out / game / "m_Half_2.npy"))
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)


def test_batch_mode_follows_the_quarters(tiny_root, tiny_runs, tmp_path):
    """In the original's batch mode the statistics are those of each quarter: the outputs are the model
    run on exactly each quarter of the half's windows, whatever --batch_size says, and differ from the
    model run on the whole half at once."""
    import tensorflow as tf

    from networks import architectures

    list_path = tiny_root / "listgame_Test_2.npy"
    game = dataset.read_game_list(list_path)[0]
    results = []
    for batch in (7, 1000):
        out = tmp_path / f"b{batch}"
        assert _spot(tiny_runs["video"], list_path, out, "--batch_size", str(batch), "--output", "b", "--no_json") == 0
        results.append(np.load(out / game / "b_Half_1.npy"))
    np.testing.assert_array_equal(results[0], results[1])
    model = architectures.load_model(tiny_runs["video"] / "best_model.keras")
    split = dataset.Split(list_path, label_file=None, games=[game])
    index = split.spotting_index(architectures.model_build_config(model)["num_frames"], [0])
    n = len(index)

    def run_on(parts):
        return np.concatenate([tf.math.sigmoid(model({"video": split.gather(index, part, ["video"])["video"]},
                                                     training=False)).numpy() for part in parts])

    quarters = [np.arange(n * q // 4, n * (q + 1) // 4) for q in range(4)]
    np.testing.assert_allclose(results[0], run_on(quarters), rtol=1e-5, atol=1e-6)
    assert np.abs(results[0] - run_on([np.arange(n)])).max() > 1e-4  # the batch matters in this mode


def test_a_contradicting_flag_is_refused(tiny_root, tiny_runs, tmp_path, capsys):
    list_path = tiny_root / "listgame_Test_2.npy"
    assert _spot(tiny_runs["video"], list_path, tmp_path, "--WindowSize", "60") == 2
    err = capsys.readouterr().err
    assert "was trained with --WindowSize 20" in err and "not 60" in err
    assert _spot(tiny_runs["video"], list_path, tmp_path, "--architecture", "AudioVideoArchi5") == 2
    assert _spot(tiny_runs["video"], list_path, tmp_path, "--WindowSize", "20", "--architecture", "VideoNetwork",
                 "--network", "rvlad", "--VLAD_k", "4", "--PCA", "--no_json") == 0  # agreeing flags are fine


def test_rerun_skips_finished_games(tiny_root, tiny_runs, tmp_path, capsys):
    list_path = tiny_root / "listgame_Test_2.npy"
    games = dataset.read_game_list(list_path)
    assert _spot(tiny_runs["audio"], list_path, tmp_path, "--output", "a") == 0
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("a_Half_*.npy")}
    assert len(stamps) == 2 * len(games)
    assert (tmp_path / games[0] / "a_timeline.png").is_file()  # --plot_games 1
    assert not (tmp_path / games[1] / "a_timeline.png").exists()
    json_file = tmp_path / "results_spotting_a" / games[1] / "results_spotting.json"
    assert json.loads(json_file.read_text())["UrlLocal"] == games[1]
    (tmp_path / games[1] / "a_Half_2.npy").unlink()  # an unfinished game is redone
    assert _spot(tiny_runs["audio"], list_path, tmp_path, "--output", "a") == 0
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if games[0] in str(p))
    assert (tmp_path / games[1] / "a_Half_2.npy").is_file()
    assert _spot(tiny_runs["audio"], list_path, tmp_path, "--output", "a", "--redo") == 0
    assert all(p.stat().st_mtime_ns != t for p, t in stamps.items() if games[0] in str(p))


def test_spotting_writes_exactly_where_the_evaluator_reads(tiny_root, tiny_runs, tmp_path):
    """Every file the spotting script writes is one of compute_mAP.py's layout, and the evaluator reads
    the arrays and the JSON back as they were written."""
    list_path = tiny_root / "listgame_Test_2.npy"
    games = dataset.read_game_list(list_path)
    out = tmp_path / "out"
    assert _spot(tiny_runs["audio"], list_path, out, "--output", "c", "--plot_games", "1") == 0
    expected = {outputs.prediction_file(out, g, "c", h) for g in games for h in dataset.HALVES}
    expected |= ({outputs.results_spotting_file(out, "c", g) for g in games}
                 | {outputs.timeline_file(out, games[0], "c")})
    assert {p for p in out.rglob("*") if p.is_file()} == expected
    arrays = outputs.load_spotting_outputs(list_path, out, "c")
    assert [a.shape[1] for a in arrays] == [4] * 2 * len(games)
    from_json = outputs.load_results_spotting(list_path, outputs.results_spotting_dir(out, "c"))
    assert len(from_json) == len(arrays)
    # By default the JSON holds every segment-centre candidate above 0.01, each with its confidence.
    for array, spots in zip(arrays, from_json):
        for c in (1, 2, 3):
            seconds, scores = candidates.candidates(array[:, c], 0.01, "center")
            assert np.flatnonzero(spots[:, c] >= 0).tolist() == seconds.tolist()
            np.testing.assert_array_equal(spots[seconds, c], scores)
    assert all(outputs.game_outputs_done(out, g, "c") for g in games)
    assert cm.main(["--testing", str(list_path), "--predictions", str(out), "--prefix", "c", "--output",
                    str(tmp_path / "eval"), "--no_plots", "--loglevel", "WARNING"]) == 0
    assert cm.main(["--testing", str(list_path), "--predictions", str(out), "--prefix", "c", "--output",
                    str(tmp_path / "eval_json"), "--results_spotting", "results_spotting.json", "--no_plots",
                    "--loglevel", "WARNING"]) == 0


def test_fusion_run_and_late_fusion_of_spotting_outputs(tiny_root, tiny_runs, tmp_path):
    list_path = tiny_root / "listgame_Test_2.npy"
    game = dataset.read_game_list(list_path)[0]
    for key in ("video", "audio", "fusion"):
        assert _spot(tiny_runs[key], list_path, tmp_path, "--output", key, "--plot_games", "0") == 0
    assert csb.main(["--combine", "2", "--video_output", "video", "--audio_output", "audio", "--output", "late2",
                     "--testing", str(list_path), "--output_dir", str(tmp_path), "--no_progress"]) == 0
    v, a, f = (np.load(tmp_path / game / f"{k}_Half_1.npy") for k in ("video", "audio", "late2"))
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    np.testing.assert_allclose(f, 1 / (1 + np.exp(-(logit(v) + logit(a)) / 2)), rtol=1e-4, atol=1e-6)
    assert np.load(tmp_path / game / "fusion_Half_1.npy").shape == v.shape


def test_perfect_probabilities_score_1_with_the_official_evaluator(tiny_root, tmp_path):
    """Per-second probabilities equal to the labels, through --combine, give JSON files that the
    soccernet package's evaluator scores 1.0."""
    from SoccerNet.Evaluation.ActionSpotting import evaluate
    from SoccerNet.Evaluation.utils import EVENT_DICTIONARY_V1

    list_path = tiny_root / "listgame_Test_2.npy"
    split = dataset.Split(list_path)
    for half in split.halves:
        perfect = np.zeros((half.n_frames // 2, 4), np.float32)
        for event in half.events:
            perfect[min(int(event.seconds), len(perfect) - 1), event.label] = 1.0
        for prefix in ("pv", "pa"):
            path = tmp_path / "pred" / half.game / f"{prefix}_Half_{half.half}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, perfect)
    assert csb.main(["--combine", "1", "--video_output", "pv", "--audio_output", "pa", "--output", "perfect",
                     "--testing", str(list_path), "--output_dir", str(tmp_path / "pred"), "--no_progress",
                     "--json_method", "center", "--json_threshold", "0.5"]) == 0
    labels = tmp_path / "labels"
    for game in split.games:
        (labels / game).mkdir(parents=True)
        shutil.copy(tiny_root / game / "Labels.json", labels / game / "Labels.json")
    results = evaluate(SoccerNet_path=str(labels), Predictions_path=str(tmp_path / "pred" / "results_spotting_perfect"),
                       prediction_file="results_spotting.json", split="test", version=1, label_files="Labels.json",
                       dataset=None, EVENT_DICTIONARY=EVENT_DICTIONARY_V1)
    assert results["a_mAP"] == pytest.approx(1.0)


def test_missing_model_and_missing_outputs(tmp_path, tiny_root, capsys):
    assert csb.main(["--model", str(tmp_path / "nothing"), "--testing", str(tiny_root / "listgame_Test_2.npy")]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert csb.main(["--combine", "1", "--video_output", "x", "--audio_output", "y", "--output", "z",
                     "--testing", str(tiny_root / "listgame_Test_2.npy"), "--output_dir", str(tmp_path)]) == 2
    assert "x_Half_1.npy: prediction file not found" in capsys.readouterr().err


def test_bfloat16_precision_stays_close_to_float32(tiny_root, tiny_runs, tmp_path, monkeypatch, caplog):
    """--precision bfloat16 rebuilds the model under mixed_bfloat16 with the trained weights: same shapes,
    probabilities within bfloat16's rounding of the float32 ones; on a processor without bfloat16
    instructions (made so here) it warns, in float32 it does not."""
    import keras

    monkeypatch.setattr(process, "cpu_flags", lambda: frozenset({"avx2"}))
    list_path = tiny_root / "listgame_Test_2.npy"
    game = dataset.read_game_list(list_path)[0]
    results, warned = {}, {}
    for precision in ("float32", "bfloat16"):
        out = tmp_path / precision
        caplog.clear()
        assert _spot(tiny_runs["fusion"], list_path, out, "--output", "p", "--no_json", "--precision", precision) == 0
        results[precision] = np.load(out / game / "p_Half_1.npy")
        warned[precision] = "no bfloat16 instructions" in caplog.text
    assert warned == {"float32": False, "bfloat16": not process.tf_gpus()}
    assert keras.mixed_precision.global_policy().name == "float32"  # the global policy is restored
    assert results["bfloat16"].dtype == np.float32 and results["bfloat16"].shape == results["float32"].shape
    deviation = np.abs(results["bfloat16"] - results["float32"])
    assert deviation.max() < 0.05 and 0 < deviation.mean()  # rounded, not the same computation


@pytest.mark.parametrize("flags,precision,warns", [
    ((), "bfloat16", True), (("avx2",), "mixed_bfloat16", True), (("avx512_bf16",), "bfloat16", False),
    (("amx_bf16",), "mixed_bfloat16", False), ((), "float32", False), ((), "mixed_float16", False)])
def test_the_bfloat16_warning_follows_the_processor(monkeypatch, caplog, flags, precision, warns):
    """process.warn_slow_bfloat16, which training, spotting and extraction call with their --precision:
    one warning where bfloat16 would be emulated (no avx512_bf16 or amx_bf16, no GPU), none elsewhere."""
    monkeypatch.setattr(process, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(process, "tf_gpus", lambda: [])
    logger = logging.getLogger("bfloat16-warning-test")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        assert process.warn_slow_bfloat16(precision, logger) is warns
    assert ("--precision " + precision + ": this processor has no bfloat16" in caplog.text) is warns
    monkeypatch.setattr(process, "tf_gpus", lambda: ["a GPU"])
    assert process.warn_slow_bfloat16(precision, logger) is False


def test_plot_games_by_name_and_unknown_name(tiny_root, tiny_runs, tmp_path, capsys):
    list_path = tiny_root / "listgame_Test_2.npy"
    games = dataset.read_game_list(list_path)
    assert _spot(tiny_runs["audio"], list_path, tmp_path / "named", "--output", "a", "--no_json",
                 "--plot_games", games[1]) == 0
    assert (tmp_path / "named" / games[1] / "a_timeline.png").is_file()
    assert not (tmp_path / "named" / games[0] / "a_timeline.png").exists()
    assert _spot(tiny_runs["audio"], list_path, tmp_path / "bad", "--output", "a", "--plot_games",
                 "nowhere/2000-2001/game") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere/2000-2001/game" in err[0] and "listgame_Test_2.npy" in err[0]


def test_spot_one_game_folder_of_ones_own(tiny_root, tiny_runs, tmp_path, capsys):
    """--game FOLDER: no list, no labels; the same probabilities as spotting it through a list, the JSON
    and the timeline plot, in one command."""
    game = dataset.read_game_list(tiny_root / "listgame_Test_2.npy")[0]
    mine = tmp_path / "my match"
    mine.mkdir()
    for name in ("1_ResNET_PCA512.npy", "2_ResNET_PCA512.npy", "1_VGGish.npy", "2_VGGish.npy"):
        shutil.copy(tiny_root / game / name, mine / name)
    out = tmp_path / "out"
    capsys.readouterr()
    assert csb.main(["--model", str(tiny_runs["fusion"]), "--game", str(mine), "--output_dir", str(out), "--output", "m",
                     "--no_progress", "--loglevel", "WARNING"]) == 0
    printed = capsys.readouterr().out
    assert "SoccerNet JSON" in printed and "timeline" in printed
    assert _spot(tiny_runs["fusion"], tiny_root / "listgame_Test_2.npy", tmp_path / "ref", "--output", "m") == 0
    for half in (1, 2):
        np.testing.assert_array_equal(np.load(outputs.prediction_file(out, "my match", "m", half)),
                                      np.load(outputs.prediction_file(tmp_path / "ref", game, "m", half)))
    spots = json.loads(outputs.results_spotting_file(out, "m", "my match").read_text())
    assert spots["UrlLocal"] == "my match" and spots["predictions"]
    assert outputs.timeline_file(out, "my match", "m").is_file()
    assert csb.main(["--model", str(tiny_runs["fusion"]), "--game", str(tmp_path / "none"), "--output_dir",
                     str(out)]) == 2


def test_shards_together_write_the_unsharded_files(tiny_root, tiny_runs, tmp_path):
    """--shard 1/2 and 2/2 (as two processes or machines would run them) write, together, byte for byte
    the files of one unsharded run, and compute_mAP.py reads their union as it is."""
    list_path = tiny_root / "listgame_Test_2.npy"
    whole, shards = tmp_path / "whole", tmp_path / "shards"
    assert _spot(tiny_runs["audio"], list_path, whole, "--output", "s", "--plot_games", "2") == 0
    for shard in ("1/2", "2/2"):
        assert _spot(tiny_runs["audio"], list_path, shards, "--output", "s", "--plot_games", "2", "--shard", shard) == 0

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file() and p.suffix != ".png"}

    assert files(whole) == files(shards) and len(files(whole)) == 2 * 3
    assert sorted(p.relative_to(whole) for p in whole.rglob("*.png")) == \
        sorted(p.relative_to(shards) for p in shards.rglob("*.png"))
    for extra in (["--shard", "3/2"], ["--shard", "1/2", "--game", str(tmp_path)], ["--json_threshold", "0"]):
        with pytest.raises(SystemExit) as stop:  # usage errors, before anything is written
            _spot(tiny_runs["audio"], list_path, tmp_path / "x", *extra)
        assert stop.value.code == 2 and not (tmp_path / "x").exists()
