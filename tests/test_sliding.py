"""networks/sliding.py: per-frame spotting gives the window-by-window outputs, in both batch-norm modes."""
from __future__ import annotations

import numpy as np
import pytest

import ClassificationSecondBased as csb
import dataset
from spotting import games as spotting_games

FRAMES = 12  # T = 6 s
CASES = [  # (architecture, pooling, options)
    ("VideoNetwork", "VLAD", {}),
    ("AudioNetwork", "RVLAD", {}),
    ("VideoNetwork", "SOFTDBOW", {}),
    ("VideoNetwork", "NETFV", {}),
    ("AudioVideoArchi4", "RVLAD", {}),
    ("AudioVideoArchi5", "VLAD", {}),
    ("AudioVideoArchi6", "RVLAD", {}),
    ("AudioVideoArchi7", "RVLAD", {}),
    ("AudioVideoArchi8", "RVLAD", {"framewise_fusion": True, "audio_dim": 128}),
]


def _model(architecture, pooling, options, bn_mode="moving"):
    import keras

    from networks import architectures

    keras.utils.set_random_seed(3)
    model = architectures.build_model(architecture, num_frames=FRAMES, pooling=pooling, vlad_k=8, output_dim=16,
                                      honour_pooling=True, bn_mode=bn_mode, **options)
    # Moving statistics other than 0 and 1, so that a wrong batch-norm mode would show.
    rng = np.random.default_rng(5)
    for variable in model.non_trainable_variables:
        shape = tuple(variable.shape)
        value = rng.uniform(0.5, 2.0, shape) if "variance" in variable.path else rng.normal(0, 0.3, shape)
        variable.assign(value.astype(np.float32))
    return model


def _numbers(half, batches):
    """The frame numbers of the replicate-padded half that the windows cover, as the script passes them."""
    return dataset.padded_frame_numbers(min(len(a) for a in half.values()), FRAMES, 2, sum(len(b) for b in batches))


def _windowed(model, half, batches, sigmoid=False):
    """The model on each batch of gathered windows, as the script's window-by-window path: logits, or
    probabilities (the sigmoid of each batch's logits)."""
    import tensorflow as tf

    from networks import architectures

    logits = architectures.logits_function(model)
    n_frames = min(len(a) for a in half.values())
    starts = dataset.spotting_starts(n_frames, FRAMES)
    numbers = np.clip(starts[:, None] + np.arange(FRAMES)[None, :], 0, n_frames - 1)
    outputs = [logits({s: half[s][numbers[b]] for s in model.input}) for b in batches]
    return np.concatenate([(tf.math.sigmoid(o) if sigmoid else o).numpy() for o in outputs])


@pytest.mark.parametrize("bn_mode", ["moving", "batch"])
@pytest.mark.parametrize("architecture,pooling,options", CASES, ids=[f"{a}-{p}" for a, p, _ in CASES])
def test_per_frame_spotting_equals_window_by_window(architecture, pooling, options, bn_mode):
    from networks.sliding import HalfSpotter

    model = _model(architecture, pooling, options, bn_mode)
    rng = np.random.default_rng(7)
    dims = {"video": 512, "audio": options.get("audio_dim", 512)}
    half = {s: rng.standard_normal((53, dims[s])).astype(np.float32) for s in ("video", "audio")}
    batches = spotting_games.windows_of_half(53 // 2, bn_mode, 10)  # batch mode: the four quarters
    expected = _windowed(model, half, batches)
    spotter = HalfSpotter(model, 2)
    got = spotter.logits(half, batches, _numbers(half, batches))
    assert got.shape == expected.shape == (26, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    probabilities = spotter.probabilities(half, batches, _numbers(half, batches))
    windowed = _windowed(model, half, batches, sigmoid=True)
    np.testing.assert_allclose(probabilities, windowed, rtol=1e-5, atol=1e-7)
    if np.array_equal(got, expected):
        # Where the products round a row the same whatever the number of rows (oneDNN with AVX-512 here:
        # not with oneDNN off or limited to AVX2), the probabilities are identical too, which needs the
        # sigmoid taken batch by batch as the window path takes it.
        np.testing.assert_array_equal(probabilities, windowed)


@pytest.mark.parametrize("bn_mode", ["moving", "batch"])
@pytest.mark.parametrize("architecture,pooling", [("VideoNetwork", "VLAD"), ("AudioVideoArchi5", "VLAD"),
                                                  ("VideoNetwork", "RVLAD")])
def test_per_frame_spotting_in_bfloat16_equals_window_by_window(architecture, pooling, bn_mode, monkeypatch):
    """Under mixed_bfloat16 (`--precision bfloat16`) both paths project NetVLAD's centres apart; per
    frame, the centres' weights (`_centre_weights`) are computed with the per-unit work, once per half
    and pooling, not per batch. The two paths' logits agree to bfloat16's rounding."""
    from conftest import count_pooling_calls
    from networks import architectures, kernels
    from networks.sliding import HalfSpotter

    traced = count_pooling_calls(monkeypatch, "_centre_weights")
    monkeypatch.setattr(kernels, "_APART_ROWS", 1)  # a layer given no weights would compute them per batch
    model = architectures.with_policy(_model(architecture, pooling, {}, bn_mode), "mixed_bfloat16")
    rng = np.random.default_rng(8)
    half = {s: rng.standard_normal((53, 512)).astype(np.float32) for s in ("video", "audio")}
    batches = spotting_games.windows_of_half(53 // 2, bn_mode, 10)
    spotter = HalfSpotter(model, 2)
    got = spotter.logits(half, batches, _numbers(half, batches))
    poolings = len(spotter.poolings) if pooling == "VLAD" else 0
    assert len(traced) == poolings  # traced in the per-unit function only
    expected = _windowed(model, half, batches)
    assert len(traced) > poolings or pooling != "VLAD"  # the window-by-window model computes its own
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-2 * np.abs(expected).max())


def test_batch_mode_normalises_each_part_on_its_own():
    """In the original's batch mode a window's outputs depend on the windows evaluated with it: the
    per-frame path gives the quarters' outputs, which differ from those of one batch of all windows."""
    from networks.sliding import HalfSpotter

    model = _model("AudioVideoArchi5", "VLAD", {}, "batch")
    rng = np.random.default_rng(2)
    half = {s: rng.standard_normal((41, 512)).astype(np.float32) for s in ("video", "audio")}
    quarters = spotting_games.windows_of_half(20, "batch", 10)
    assert [len(q) for q in quarters] == [5, 5, 5, 5]
    spotter = HalfSpotter(model, 2)
    by_quarter = spotter.logits(half, quarters, _numbers(half, quarters))
    whole = spotter.logits(half, [np.arange(20)], _numbers(half, [np.arange(20)]))
    np.testing.assert_allclose(whole, _windowed(model, half, [np.arange(20)]), rtol=1e-5, atol=1e-6)
    assert np.abs(by_quarter - whole).max() > 1e-3


@pytest.mark.parametrize("n_frames", [1, 3, 4])
def test_halves_of_a_few_frames(n_frames):
    from networks.sliding import HalfSpotter

    model = _model("AudioVideoArchi7", "RVLAD", {})
    rng = np.random.default_rng(1)
    half = {s: rng.standard_normal((n_frames, 512)).astype(np.float32) for s in ("video", "audio")}
    batches = spotting_games.windows_of_half(n_frames // 2, "moving", 10)
    got = HalfSpotter(model, 2).logits(half, batches, _numbers(half, batches))
    assert got.shape == (n_frames // 2, 4)
    if n_frames >= 2:
        np.testing.assert_allclose(got, _windowed(model, half, batches), rtol=1e-5, atol=1e-6)


def test_padded_frame_numbers_cover_the_spotting_windows():
    numbers = dataset.padded_frame_numbers(9, 6, 2)  # 4 windows of 6 frames, 3 frames of padding each side
    assert numbers.tolist() == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    starts = dataset.spotting_starts(9, 6)
    for i, start in enumerate(starts):
        assert numbers[2 * i:2 * i + 6].tolist() == np.clip(np.arange(start, start + 6), 0, 8).tolist()


def test_which_models_take_the_per_frame_path():
    from networks import architectures
    from networks.sliding import unsupported_reason

    assert unsupported_reason(_model("VideoNetwork", "RVLAD", {}), 2) is None
    assert unsupported_reason(architectures.build_model("VideoNetwork", num_frames=FRAMES, vlad_k=4), 2) is None
    assert "odd window length" in unsupported_reason(architectures.build_model(
        "AudioVideoArchi8", num_frames=FRAMES + 1, pooling="RVLAD", vlad_k=4, honour_pooling=True), 2)
    assert "MAX" in unsupported_reason(architectures.build_model("VideoNetwork", num_frames=FRAMES, pooling="MAX",
                                                                 bn_mode="moving"), 2)


@pytest.mark.parametrize("run", ["video_moving", "fusion"])
def test_the_script_spots_per_frame_as_window_by_window(run, tiny_root, tiny_runs, tmp_path, caplog, monkeypatch):
    list_path = tiny_root / "listgame_Test_2.npy"
    game = dataset.read_game_list(list_path)[0]
    outputs = {}
    from conftest import count_xla_descriptor

    calls = count_xla_descriptor(monkeypatch)
    for mode, extra in (("frames", []), ("windows", ["--window_by_window"]), ("xla", ["--xla_descriptor"])):
        out = tmp_path / mode
        caplog.clear()
        calls.clear()
        with caplog.at_level("INFO", logger="ClassificationSecondBased"):
            assert csb.main(["--model", str(tiny_runs[run]), "--testing", str(list_path), "--output_dir",
                             str(out), "--no_progress", "--output", "m", "--no_json", *extra]) == 0
        assert ("per-frame" in caplog.text) == (mode != "windows")
        assert bool(calls) == (mode == "xla")  # the compiled descriptor taken only with --xla_descriptor
        outputs[mode] = [np.load(out / game / f"m_Half_{h}.npy") for h in dataset.HALVES]
    for frames, windows, xla in zip(outputs["frames"], outputs["windows"], outputs["xla"]):
        np.testing.assert_allclose(frames, windows, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(xla, windows, rtol=1e-5, atol=1e-6)
