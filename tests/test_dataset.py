"""Data layer: game lists, labels, chunks, spotting windows, bad input, gather and tf.data."""
from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pytest
from conftest import write_game, write_list

import dataset
from base import errors, files, labels as label_files
from training import batch_plans, pipeline

GAME = "league/2015-2016/2016-01-01 - 20-00 Home 1 - 0 Away"


# ------------------------------------------------------------------------------------------------
# Game lists


def test_game_list_npy_and_text(tmp_path):
    games = ["a/b/game one", "a/b/game two"]
    assert dataset.read_game_list(write_list(tmp_path / "l.npy", games)) == games
    text = tmp_path / "l.txt"
    text.write_text("# comment\na/b/game one\n\n  a/b/game two  \n")
    assert dataset.read_game_list(text) == games


def test_data_root_defaults_to_the_list_folder(tmp_path):
    write_game(tmp_path, GAME)
    split = dataset.Split(write_list(tmp_path / "l.npy", [GAME]))
    assert split.root == tmp_path.resolve()
    other = tmp_path / "lists"
    other.mkdir()
    split = dataset.Split(write_list(other / "l.npy", [GAME]), data_root=tmp_path)
    assert split.root == tmp_path and len(split.halves) == 2


@pytest.mark.parametrize("entries, message", [
    ([], "the game list is empty"),
    (["/abs/game"], "entry 1 '/abs/game' is an absolute path"),
    (["ok/game", "C:\\data\\game"], "entry 2 'C:\\\\data\\\\game' is an absolute path"),
    (["a/../../outside"], "entry 1 'a/../../outside' climbs out of the data root"),
    (["../x"], "climbs out of the data root"),
])
def test_bad_game_lists(tmp_path, entries, message):
    path = tmp_path / "l.txt"
    path.write_text("\n".join(entries))
    with pytest.raises(errors.DataError, match=message) as info:
        dataset.read_game_list(path)
    assert str(path) in str(info.value)


def test_game_list_refuses_pickles_and_missing_files(tmp_path):
    path = tmp_path / "l.npy"
    np.save(path, np.array([{"game": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(errors.DataError, match=r"l\.npy: not a numpy array of strings"):
        dataset.read_game_list(path)
    with pytest.raises(errors.DataError, match=r"missing\.npy: game list not found"):
        dataset.read_game_list(tmp_path / "missing.npy")


# ------------------------------------------------------------------------------------------------
# Labels


def test_feature_file_names(tmp_path):
    assert dataset.feature_file(tmp_path, 1, "ResNET", pca=True).name == "1_ResNET_PCA512.npy"
    assert dataset.feature_file(tmp_path, 2, "ResNET").name == "2_ResNET.npy"
    assert dataset.feature_file(tmp_path, 2, "VGGish").name == "2_VGGish.npy"
    assert dataset.feature_file(tmp_path, 1, "I3D", pca=True).name == "1_I3D_PCA512.npy"


def test_v1_labels_mapping_and_unknown_label(tmp_path, caplog):
    path = tmp_path / "Labels.json"
    path.write_text(json.dumps({"annotations": [
        {"gameTime": "1 - 03:17", "label": "soccer-ball", "team": "home"},
        {"gameTime": "1 - 10:00", "label": "soccer-ball-own", "team": "away"},
        {"gameTime": "2 - 44:59", "label": "y-card"},
        {"gameTime": "2 - 46:30", "label": "yr-card"},
        {"gameTime": "2 - 12:01", "label": "substitution-in"},
        {"gameTime": "1 - 00:05", "label": "kick-off"},
    ]}))
    with caplog.at_level(logging.WARNING):
        events = label_files.read_labels(path)
    assert [(e.half, e.seconds, e.label) for e in events] == [
        (1, 197, 3), (1, 600, 3), (2, 2699, 1), (2, 2790, 1), (2, 721, 2)]
    assert "Labels.json: 1 annotations skipped, labels not in the v1 classes: 'kick-off' x1" in caplog.text


def test_v2_labels_mapping_and_position(tmp_path):
    path = tmp_path / "Labels-v2.json"
    path.write_text(json.dumps({"annotations": [
        {"gameTime": "1 - 03:17", "label": "Goal", "position": "197500"},
        {"gameTime": "1 - 05:00", "label": "Yellow card", "position": "300000"},
        {"gameTime": "2 - 01:00", "label": "Red card"},
        {"gameTime": "2 - 02:00", "label": "Yellow->red card", "position": "120900"},
        {"gameTime": "2 - 03:00", "label": "Substitution", "position": "180000"},
        {"gameTime": "2 - 04:00", "label": "Ball out of play", "position": "240000"},
        {"gameTime": "2 - 05:00", "label": "Shots on target", "position": "300000"},
    ]}))
    events = label_files.read_labels(path)
    assert [(e.half, e.seconds, e.label) for e in events] == [
        (1, 197.5, 3), (1, 300.0, 1), (2, 60, 1), (2, 120.9, 1), (2, 180.0, 2)]


@pytest.mark.parametrize("content, message", [
    ("{not json", "invalid JSON"),
    (json.dumps({"UrlLocal": "x"}), "no 'annotations' list"),
    (json.dumps({"annotations": [{"gameTime": "1 - 3:1", "label": "y-card"}]}), "bad gameTime '1 - 3:1'"),
    (json.dumps({"annotations": [{"gameTime": "3 - 03:10", "label": "y-card"}]}), "bad gameTime '3 - 03:10'"),
    (json.dumps({"annotations": [{"gameTime": "1 - 03:75", "label": "y-card"}]}), "bad gameTime"),
    (json.dumps({"annotations": [{"label": "y-card"}]}), "annotation 1 lacks 'gameTime' or 'label'"),
    (json.dumps({"annotations": [{"gameTime": "1 - 03:10", "label": "y-card", "position": "x"}]}),
     "annotation 1 has a bad position 'x'"),
])
def test_malformed_labels(tmp_path, content, message):
    path = tmp_path / "Labels.json"
    path.write_text(content)
    with pytest.raises(errors.DataError, match=message) as info:
        label_files.read_labels(path)
    assert str(info.value).startswith(str(path) + ": ")


# ------------------------------------------------------------------------------------------------
# Chunks


def test_event_at_3_17_lands_in_chunk_9_at_20s_and_chunk_3_at_60s():
    event = [label_files.Event(1, 3 * 60 + 17, 3)]
    at20 = dataset.chunk_labels(event, 20, 20)
    at60 = dataset.chunk_labels(event, 10, 60)
    assert np.flatnonzero(at20[:, 3]).tolist() == [9] and at20[9, 0] == 0
    assert np.flatnonzero(at60[:, 3]).tolist() == [3] and at60[3, 0] == 0
    assert at20[:, 0].sum() == 19 and at60[:, 0].sum() == 9


def test_multi_label_chunk_and_clamping():
    events = [label_files.Event(1, 61, 1), label_files.Event(1, 119, 2), label_files.Event(1, 5000, 3)]
    labels = dataset.chunk_labels(events, 3, 60)
    np.testing.assert_array_equal(labels, [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]])


def test_chunk_index_equals_the_original_formula_when_window_divides_60():
    # The original: int((60 / W) * minute + int(second / W)), clamped to the last chunk.
    for window in (5, 10, 12, 15, 20, 30, 60):
        for seconds in range(0, 50 * 60, 7):
            minute, second = divmod(seconds, 60)
            original = int((60 / window) * minute + int(second / window))
            labels = dataset.chunk_labels([label_files.Event(1, seconds, 1)], 10 ** 4, window)
            assert np.flatnonzero(labels[:, 1]).tolist() == [original]
    # For a window that does not divide 60 they can differ (documented in docs/data.md): at T = 45 s, an
    # event at 1:40 is in chunk 2 (seconds 90-135), where the original's formula gives chunk 1.
    labels = dataset.chunk_labels([label_files.Event(1, 100, 1)], 10, 45)
    assert np.flatnonzero(labels[:, 1]).tolist() == [2] != [int((60 / 45) * 1 + int(40 / 45))]


def test_chunks_drop_the_tail(tmp_path):
    write_game(tmp_path, GAME, frames=(250, 241), annotations=[{"gameTime": "2 - 01:59", "label": "y-card"}])
    split = dataset.Split(write_list(tmp_path / "l.npy", [GAME]))
    index = split.chunk_index(60)  # 120 frames per chunk
    assert index.frames == 120 and len(index) == 2 + 2
    np.testing.assert_array_equal(index.start, [0, 120, 0, 120])
    np.testing.assert_array_equal(index.labels[:, 1], [0, 0, 0, 1])  # 119 s -> second chunk of half 2


# ------------------------------------------------------------------------------------------------
# Spotting windows


def test_half_of_5401_frames_gives_2700_windows():
    starts = dataset.spotting_starts(5401, dataset.window_frames(20))
    assert len(starts) == 2700
    assert starts[0] == -20 and starts[1] == -18 and starts[-1] == 2 * 2699 - 20


def test_spotting_windows_cover_i_minus_and_plus_half_window(tmp_path):
    # Features that encode their own frame number: every column of row f equals f.
    frames = (41, 40)
    video = [np.repeat(np.arange(n, dtype=np.float32)[:, None], 512, axis=1) for n in frames]
    write_game(tmp_path, GAME, frames=frames, video=video)
    split = dataset.Split(write_list(tmp_path / "l.npy", [GAME]))
    window = 6  # seconds: 12 frames, window i covers seconds [i - 3, i + 3)
    index = split.spotting_index(dataset.window_frames(window))
    assert len(index) == 20 + 20
    windows = split.gather(index, np.arange(len(index)))["video"][:, :, 0]
    for position, (half, i) in enumerate([(0, i) for i in range(20)] + [(1, i) for i in range(20)]):
        n = frames[half]
        expected = np.clip(np.arange(2 * (i - 3), 2 * (i + 3)), 0, n - 1)
        np.testing.assert_array_equal(windows[position], expected)
    # Window of second 0 starts with the replicated first frame, the last one ends with the last frame.
    np.testing.assert_array_equal(windows[0], [0] * 6 + [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(windows[19], [32, 33, 34, 35, 36, 37, 38, 39, 40, 40, 40, 40])


# ------------------------------------------------------------------------------------------------
# Bad input in a split


def _split(tmp_path, **kwargs):
    return dataset.Split(write_list(tmp_path / "l.npy", [GAME]), **kwargs)


def test_missing_game_folder(tmp_path):
    with pytest.raises(errors.DataError, match=r"Home 1 - 0 Away: game folder not found"):
        _split(tmp_path)


def test_missing_feature_file(tmp_path):
    folder = write_game(tmp_path, GAME)
    (folder / "2_VGGish.npy").unlink()
    with pytest.raises(errors.DataError, match=r"2_VGGish\.npy: feature file not found"):
        _split(tmp_path)


def test_feature_file_of_wrong_rank(tmp_path):
    folder = write_game(tmp_path, GAME)
    np.save(folder / "1_ResNET_PCA512.npy", np.zeros(512, np.float32))
    with pytest.raises(errors.DataError, match=r"1_ResNET_PCA512\.npy: expected a 2-D array .* shape \(512,\)"):
        _split(tmp_path)


def test_feature_file_of_wrong_dimension(tmp_path):
    folder = write_game(tmp_path, GAME)
    np.save(folder / "2_ResNET_PCA512.npy", np.zeros((120, 256), np.float32))
    with pytest.raises(errors.DataError, match=r"2_ResNET_PCA512\.npy: expected 512 features per frame, got 256"):
        _split(tmp_path)


def test_inconsistent_dimension_of_an_unknown_feature(tmp_path):
    folder = write_game(tmp_path, GAME)
    for half, dim in ((1, 64), (2, 32)):
        np.save(folder / f"{half}_MyFeat.npy", np.zeros((120, dim), np.float32))
    with pytest.raises(errors.DataError, match=r"2_MyFeat\.npy: has 32 features per frame but .*1_MyFeat\.npy has 64"):
        _split(tmp_path, video_features="MyFeat", pca=False)


def test_non_finite_features(tmp_path):
    folder = write_game(tmp_path, GAME)
    array = np.ones((120, 512), np.float32)
    array[77, 3] = np.nan
    np.save(folder / "1_VGGish.npy", array)
    with pytest.raises(errors.DataError, match=r"1_VGGish\.npy: contains non-finite values"):
        _split(tmp_path)


def test_pickled_feature_file_is_refused(tmp_path):
    folder = write_game(tmp_path, GAME)
    np.save(folder / "1_VGGish.npy", np.array([[object()]], dtype=object), allow_pickle=True)
    with pytest.raises(errors.DataError, match=r"1_VGGish\.npy: not a numeric \.npy array"):
        _split(tmp_path)


def test_missing_and_malformed_labels_in_a_split(tmp_path):
    folder = write_game(tmp_path, GAME, label_file=None)
    with pytest.raises(errors.DataError, match=r"Labels\.json: label file not found"):
        _split(tmp_path)
    assert len(_split(tmp_path, label_file=None).halves) == 2  # spotting needs no labels
    with pytest.raises(ValueError, match="unknown label file 'v2'"):
        _split(tmp_path, label_file="v2")
    (folder / "Labels.json").write_text(json.dumps({"annotations": [{"gameTime": "x", "label": "y-card"}]}))
    with pytest.raises(errors.DataError, match=r"Labels\.json: bad gameTime 'x'"):
        _split(tmp_path)


def test_audio_and_video_cut_to_common_length(tmp_path, caplog):
    video = [np.zeros((120, 512), np.float32), np.zeros((120, 512), np.float32)]
    audio = [np.zeros((119, 512), np.float32), np.zeros((100, 512), np.float32)]
    write_game(tmp_path, GAME, video=video, audio=audio)
    with caplog.at_level(logging.WARNING):
        split = _split(tmp_path)
    assert [h.n_frames for h in split.halves] == [119, 100]
    assert all(h.streams["video"].shape[0] == h.streams["audio"].shape[0] for h in split.halves)
    assert "Half_2: audio and video lengths differ" in caplog.text and "Half_1" not in caplog.text


def test_annotations_far_past_a_half_s_end_are_warned_of_and_count_in_its_last_chunk(tmp_path, caplog):
    """120 frames at 2 per second: 60 s of features. A goal at 1 - 00:50 is inside, one at 1 - 02:00 within a
    minute of the end (no warning), one at 1 - 75:00 far past it: warned of, and in the last chunk as the
    original counts it."""
    goals = [{"gameTime": f"1 - {t}", "label": "soccer-ball"} for t in ("00:50", "02:00", "75:00")]
    write_game(tmp_path, GAME, annotations=goals)
    with caplog.at_level(logging.WARNING):
        split = _split(tmp_path)
    assert "Half_1: 1 annotations more than 60 s past the end of its 60 s of features (the first at 4500 s)" \
        in caplog.text and "Half_2" not in caplog.text
    index = split.chunk_index(20)
    first = index.labels[index.half_id == 0]
    assert first.shape == (3, 4) and first[:, 3].tolist() == [0.0, 0.0, 1.0]  # all three goals in chunk 2


# ------------------------------------------------------------------------------------------------
# Gather, batch plans and tf.data


def _naive(split, index, positions, stream):
    out = []
    for p in positions:
        array = np.asarray(split.halves[index.half_id[p]].streams[stream])
        rows = np.clip(index.start[p] + np.arange(index.frames), 0, len(array) - 1)
        out.append(array[rows])
    return np.stack(out).astype(np.float32)


@pytest.mark.parametrize("reads", ["pread", "mapped"])
def test_gather_matches_a_naive_reference(tiny_root, monkeypatch, reads):
    """Both ways of copying windows: float32 files read with pread (the default, no pages mapped into the
    process), other dtypes copied out of the memory maps (forced here for the float32 files)."""
    calls = []
    preadv = os.preadv
    monkeypatch.setattr(os, "preadv", lambda *args: calls.append(1) or preadv(*args))
    if reads == "mapped":
        monkeypatch.setattr(dataset, "_readable", lambda array: False)
    split = dataset.Split(tiny_root / "listgame_Train_3.npy")
    rng = np.random.default_rng(1)
    chunks = split.chunk_index(20)
    spots = split.spotting_index(dataset.window_frames(20))
    cases = [(chunks, rng.permutation(len(chunks))[:50]),  # scattered
             (chunks, np.arange(len(chunks))),  # whole halves: runs
             (chunks, np.array([3, 4, 5, 9, 8, 0])),  # runs broken by order
             (spots, np.arange(len(spots))),  # padding at both ends
             (spots, rng.permutation(len(spots))[:70])]
    for index, positions in cases:
        got = split.gather(index, positions)
        for stream in ("video", "audio"):
            np.testing.assert_array_equal(got[stream], _naive(split, index, positions, stream))
        if index.labels is not None:
            np.testing.assert_array_equal(got["labels"], index.labels[positions])
    assert (len(calls) > 100) == (reads == "pread")


def test_a_feature_file_replaced_mid_run_is_read_as_it_was_opened(tiny_root, tmp_path, monkeypatch, caplog):
    """Features re-extracted (a new file renamed over the old one) or removed while a split is open: its
    windows keep coming from the file the split opened and checked (its memory map), not from the new file
    at the old header's offset, and a warning names the file once; the other files are still read with
    pread."""
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    split = dataset.Split(root / "listgame_Train_3.npy")
    chunks = split.chunk_index(20)
    positions = np.arange(len(chunks))
    before = split.gather(chunks, positions)
    replaced, removed = split.halves[0].paths["video"], split.halves[1].paths["audio"]
    fresh = replaced.with_name("fresh.npy")
    np.save(fresh, np.full(np.load(replaced).shape, 7.0, np.float32))
    os.replace(fresh, replaced)
    removed.unlink()
    calls = []
    preadv = os.preadv
    monkeypatch.setattr(os, "preadv", lambda *args: calls.append(1) or preadv(*args))
    with caplog.at_level(logging.WARNING, logger=dataset.log.name):
        for _ in range(2):
            after = split.gather(chunks, positions)
            for stream in ("video", "audio"):
                np.testing.assert_array_equal(after[stream], before[stream])
    said = [r.getMessage() for r in caplog.records if "replaced or removed on disk" in r.getMessage()]
    assert sorted(said) == sorted(f"{path}: replaced or removed on disk since it was opened; this run goes on "
                                  "reading the file it opened" for path in (replaced, removed)), said
    assert calls  # the untouched files


def test_half_batches_hold_all_chunks_of_their_halves():
    index = dataset.WindowIndex(np.repeat(np.arange(5, dtype=np.int32), [3, 2, 4, 1, 2]),
                                np.zeros(12, np.int64), 40)
    batches = batch_plans.half_batches(index, 2, half_order=[4, 1, 0, 2, 3])
    assert [b.tolist() for b in batches] == [[10, 11, 3, 4], [0, 1, 2, 5, 6, 7, 8], [9]]
    first = batch_plans.half_batches(index, 2, np.random.default_rng(5))
    again = batch_plans.half_batches(index, 2, np.random.default_rng(5))
    assert [b.tolist() for b in first] == [b.tolist() for b in again]
    assert sorted(np.concatenate(first).tolist()) == list(range(12))
    assert [len(m) for m in batch_plans.split_batch(np.arange(10), 4)] == [4, 4, 2]


def test_tf_dataset_yields_the_gathered_batches_in_order(tiny_root):
    split = dataset.Split(tiny_root / "listgame_Valid_2.npy")
    index = split.chunk_index(30)
    batches = batch_plans.half_batches(index, 1)
    elements = list(pipeline.make_dataset(split, index, batches))
    assert len(elements) == len(batches) == 4
    for (inputs, labels), positions in zip(elements, batches):
        assert set(inputs) == {"video", "audio"}
        assert inputs["video"].shape == (len(positions), 60, 512) and inputs["video"].dtype.name == "float32"
        reference = split.gather(index, positions)
        np.testing.assert_array_equal(inputs["audio"].numpy(), reference["audio"])
        np.testing.assert_array_equal(labels.numpy(), index.labels[positions])
    spots = split.spotting_index(dataset.window_frames(30), [0])
    (only,) = list(pipeline.make_dataset(split, spots, [np.arange(len(spots))]))
    assert isinstance(only, dict) and only["video"].shape == (len(spots), 60, 512)


def test_pipeline_holds_at_most_its_bound_ahead(tiny_root):
    """The depth rule by hand (bound 100 bytes), and the same elements from a pipeline that gathers on
    demand (a bound below one batch) as from the full-depth one."""
    assert pipeline.pipeline_depth(10.0, bound=100) == (2, 2)       # 4 batches of 10 fit
    assert pipeline.pipeline_depth(40.0, bound=100) == (2, 0)       # 2 fit: both in flight, none prefetched
    assert pipeline.pipeline_depth(60.0, bound=100) == (1, 0)
    assert pipeline.pipeline_depth(101.0, bound=100) == (0, 0)      # on demand
    split = dataset.Split(tiny_root / "listgame_Valid_2.npy")
    index = split.chunk_index(30)
    batches = batch_plans.half_batches(index, 1)
    deep, on_demand = pipeline.make_dataset(split, index, batches), pipeline.make_dataset(split, index, batches, bound=1)
    # Fixed depth either way, so tf.data's autotuning is off (its thread stalled spotting's loop).
    assert deep.options().autotune.enabled is False and on_demand.options().autotune.enabled is False
    assert pipeline.tf.data.Dataset.range(1).options().autotune.enabled is not False  # TensorFlow's default
    deep, on_demand = list(deep), list(on_demand)
    assert len(deep) == len(on_demand) == len(batches)
    for (a, la), (b, lb) in zip(deep, on_demand):
        np.testing.assert_array_equal(a["video"].numpy(), b["video"].numpy())
        np.testing.assert_array_equal(la.numpy(), lb.numpy())


def test_single_stream_split(tiny_root):
    split = dataset.Split(tiny_root / "listgame_Test_2.npy", audio_features=None)
    assert split.streams == ("video",)
    got = split.gather(split.chunk_index(60), [0, 1])
    assert set(got) == {"video", "labels"}


def test_summary_counts(tiny_root):
    split = dataset.Split(tiny_root / "listgame_Train_3.npy")
    summary = split.summary(60)
    events = sum(len(h.events) for h in split.halves)
    assert summary["games"] == 3 and summary["halves"] == 6
    assert sum(summary["events"].values()) == events > 0
    assert summary["features"]["video"]["shape"][1] == 512
    assert summary["chunks"] == len(split.chunk_index(60))


def test_atomic_writes_leave_no_temporary(tmp_path):
    files.write_npy_atomic(tmp_path / "a.npy", np.arange(3))
    files.write_json_atomic(tmp_path / "a.json", {"x": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.npy"]
    with pytest.raises(TypeError):
        files.write_json_atomic(tmp_path / "b.json", {"x": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.npy"]

    seen = []

    def fails_midway(temporary):
        seen.append(temporary)
        temporary.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        files.write_atomic(tmp_path / "a.json", fails_midway)
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}  # the previous file is intact
    assert seen[0].parent == tmp_path and seen[0].name.endswith(".json")  # same folder, same suffix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.npy"]
