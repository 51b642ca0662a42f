"""Feature extraction from media: decoding (extraction/media.py), the authors' VGGish audio features
(extraction/audio_features.py), SoccerNet's ResNET_TF2 video features (extraction/video_features.py) and
`python -m extraction.extract_features`."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from base import errors
from extraction import audio_features as af
from extraction import media
from extraction import video_features as vf

# ------------------------------------------------------------------------------------------------
# The log-mel front end against the formulas, written out plainly


def reference_log_mel(signal, rate=16000):
    """Google's mel_features.log_mel_spectrogram with the authors' parameters, one frame at a time."""
    window, hop, nfft = 400, 160, 512  # 25 ms, 10 ms, next power of two of 400
    hann = np.array([0.5 - 0.5 * np.cos(2 * np.pi * n / window) for n in range(window)])
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731 - HTK
    bins = [mel(rate / 2 * k / (nfft // 2)) for k in range(nfft // 2 + 1)]
    lo, hi = mel(125.0), mel(7500.0)
    edges = [lo + (hi - lo) * i / 65 for i in range(66)]
    weights = np.zeros((nfft // 2 + 1, 64))
    for band in range(64):
        left, center, right = edges[band:band + 3]
        for k in range(1, nfft // 2 + 1):  # the DC bin gets no weight
            weights[k, band] = max(0.0, min((bins[k] - left) / (center - left), (right - bins[k]) / (right - center)))
    rows = []
    for start in range(0, len(signal) - window + 1, hop):
        spectrum = np.abs(np.fft.rfft(signal[start:start + window] * hann, nfft))
        rows.append(np.log(spectrum @ weights + 0.01))
    return np.array(rows)


def test_log_mel_front_end_matches_the_formulas():
    rate = 16000
    t = np.arange(rate // 2) / rate
    tone = 0.3 * np.sin(2 * np.pi * 1000.0 * t)
    ours = af.log_mel_spectrogram(tone, rate)
    np.testing.assert_allclose(ours, reference_log_mel(tone), rtol=1e-10, atol=1e-10)
    # The 1 kHz tone lands in the band whose centre is nearest to 1 kHz.
    centres_mel = np.linspace(af.hertz_to_mel(125.0), af.hertz_to_mel(7500.0), 66)[1:-1]
    centres_hz = 700.0 * (np.exp(centres_mel / 1127.0) - 1.0)
    assert np.argmax(ours.mean(axis=0)) == np.argmin(np.abs(centres_hz - 1000.0))
    # 0.5 s at 16 kHz: 48 STFT frames, one example of exactly 46 x 64.
    assert ours.shape == (48, 64)
    chunk = np.round(tone * 32767).astype(np.int16)[None, :, None]
    patches = af.chunk_patches(chunk, rate)
    assert patches.shape == (1, 46, 64)
    np.testing.assert_allclose(patches[0], reference_log_mel(chunk[0, :, 0] / 32768.0)[:46], atol=1e-10)
    # Stereo 44.1 kHz chunks: channel mean, resampy to 16 kHz, the same patch shape.
    stereo = np.zeros((3, 22050, 2), np.int16)
    stereo[..., 0] = (8000 * np.sin(2 * np.pi * 440 * np.arange(22050) / 44100)).astype(np.int16)
    assert af.chunk_patches(stereo, 44100).shape == (3, 46, 64)


# ------------------------------------------------------------------------------------------------
# Segments, the 45-minute rule and the last group of 60


def test_segment_count_start_offset_and_the_5400_rule():
    # 10 s at 1 kHz, 3 s dropped: 7 s left, chunks of 500 samples -> 14.
    assert af.segment_plan(10_000, 1000, 3.0, None) == (3000, 500, 14)
    assert af.segment_plan(10_250, 1000, 3.0, 14) == (3000, 500, 14)  # floor: the partial chunk is dropped
    # A 50-minute half after a 60 s start: 5400 video rows keep 45 minutes only -> 5400 chunks.
    rate = 10
    n = (60 + 50 * 60) * rate
    assert af.segment_plan(n, rate, 60.0, 5400)[2] == 5400
    assert af.segment_plan(n, rate, 60.0, 5401)[2] == 6000  # the rule is for exactly 5400
    assert af.chunk_count(n, rate, 60.0, None) == 6000


def test_last_group_rows_hand_worked():
    rows = af.place_group_predictions(130)  # 2 full groups and 10 chunks
    assert list(rows[:70]) == list(range(70))
    assert list(rows[70:80]) == list(range(120, 130))  # the last 10 chunks, 50 rows too early
    assert list(rows[80:]) == [-1] * 50                  # predictions of the zero-filled inputs
    assert list(af.place_group_predictions(120)) == list(range(120))  # no incomplete group
    assert list(af.place_group_predictions(10)) == list(range(10))    # the authors' code fails there


def _fake_predict(x):
    """A stand-in network: the mean of each patch, 512 times (0 for the zero patch)."""
    return np.repeat(x.reshape(len(x), -1).mean(axis=1, keepdims=True), af.DIM, axis=1).astype(np.float32)


def test_last_group_quirk_on_and_off():
    rate, chunk = 16000, 8000
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((130, chunk))
    amplitude = np.geomspace(10, 20000, 130)[:, None]  # louder chunk after chunk: increasing features
    samples = np.clip(noise * amplitude, -32768, 32767).astype(np.int16).reshape(-1, 1)
    correct = af.extract_half(samples, rate, _fake_predict, last_group_quirk=False, batch_size=50)
    assert correct.shape == (130, 512) and correct.dtype == np.float64
    assert np.all(np.diff(correct[:, 0]) > 0)
    quirky = af.extract_half(samples, rate, _fake_predict, last_group_quirk=True, batch_size=50)
    np.testing.assert_array_equal(quirky[:70], correct[:70])
    np.testing.assert_array_equal(quirky[70:80], correct[120:130])
    assert np.all(quirky[80:] == 0.0)
    cut = af.extract_half(samples, rate, _fake_predict, video_features=75, batch_size=64)
    assert cut.shape == (75, 512)
    np.testing.assert_array_equal(cut[70:75], correct[120:125])
    # A start offset of 1 s drops two chunks.
    shifted = af.extract_half(samples, rate, _fake_predict, start=1.0, last_group_quirk=False)
    np.testing.assert_array_equal(shifted, correct[2:])


# ------------------------------------------------------------------------------------------------
# Weights


@pytest.fixture(scope="module")
def vggish():
    return af.build_vggish()


def _write_authors_h5(path, model, skip=None, bad_shape=None):
    import h5py

    names = ["input_1", "conv1", "pool1", "conv2", "pool2", "conv3/conv3_1", "conv3/conv3_2", "pool3",
             "conv4/conv4_1", "conv4/conv4_2", "pool4", "vggish_fc1/fc1_1"]
    rng = np.random.default_rng(1)
    written = {}
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [n.encode() for n in names if n != skip]
        handle.attrs["backend"], handle.attrs["keras_version"] = b"tensorflow", b"2.0.6"
        for name in names:
            group = handle.create_group(name) if name != skip else None
            if group is None:
                continue
            if name in af.CONV_LAYERS:
                kernel, bias = (w.shape for w in model.get_layer(af.keras_name(name)).get_weights())
                if name == bad_shape:
                    kernel = kernel[:-1] + (kernel[-1] + 1,)
            elif name.startswith("vggish_fc"):
                kernel, bias = (3072, 4096), (4096,)
            else:
                group.attrs["weight_names"] = []
                continue
            values = [rng.standard_normal(kernel).astype(np.float32), rng.standard_normal(bias).astype(np.float32)]
            group.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            group.create_dataset(f"{name}/kernel:0", data=values[0])
            group.create_dataset(f"{name}/bias:0", data=values[1])
            written[name] = values
    return written


def test_h5_loader_layer_by_layer(tmp_path, vggish):
    written = _write_authors_h5(tmp_path / "vggish_audioset_weights_without_fc2.h5", vggish)
    assert af.load_vggish_weights(vggish, tmp_path / "vggish_audioset_weights_without_fc2.h5") == list(af.CONV_LAYERS)
    for name in af.CONV_LAYERS:
        for got, want in zip(vggish.get_layer(af.keras_name(name)).get_weights(), written[name]):
            np.testing.assert_array_equal(got, want)
    _write_authors_h5(tmp_path / "missing.h5", vggish, skip="conv3/conv3_2")
    with pytest.raises(errors.DataError, match="layer conv3/conv3_2 is missing"):
        af.load_vggish_weights(vggish, tmp_path / "missing.h5")
    _write_authors_h5(tmp_path / "shape.h5", vggish, bad_shape="conv2")
    with pytest.raises(errors.DataError, match="layer conv2: shapes"):
        af.load_vggish_weights(vggish, tmp_path / "shape.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(errors.DataError, match="cannot read"):
        af.load_vggish_weights(vggish, tmp_path / "junk.h5")


def test_checkpoint_loader_reads_googles_names(tmp_path, vggish):
    import tensorflow as tf

    rng = np.random.default_rng(2)
    variables = {}
    for name in af.CONV_LAYERS:
        kernel, bias = vggish.get_layer(af.keras_name(name)).get_weights()
        variables[f"vggish/{name}/weights"] = tf.Variable(rng.standard_normal(kernel.shape).astype(np.float32))
        variables[f"vggish/{name}/biases"] = tf.Variable(rng.standard_normal(bias.shape).astype(np.float32))
    prefix = tf.compat.v1.train.Saver(var_list=variables).save(None, str(tmp_path / "vggish_model.ckpt"))
    af.load_vggish_weights(vggish, prefix)
    np.testing.assert_array_equal(vggish.get_layer("conv4_conv4_2").get_weights()[1],
                                  variables["vggish/conv4/conv4_2/biases"].numpy())
    del variables["vggish/conv1/biases"]
    prefix = tf.compat.v1.train.Saver(var_list=variables).save(None, str(tmp_path / "partial.ckpt"))
    with pytest.raises(errors.DataError, match="vggish/conv1/biases is missing"):
        af.load_vggish_weights(vggish, prefix)


def test_bfloat16_network_gives_float64_rows_close_to_float32(vggish):
    half = af.build_vggish("bfloat16")
    half.set_weights(vggish.get_weights())
    x = np.random.default_rng(3).standard_normal((4, 46, 64, 1)).astype(np.float32)
    full_out = af.compiled_predict(vggish)(x)
    half_out = af.compiled_predict(half)(x)
    assert half_out.dtype == np.float32
    assert np.abs(half_out - full_out).max() <= 0.05 * np.abs(full_out).max() + 1e-6
    samples = np.zeros((16000, 1), np.int16)
    assert af.extract_half(samples, 16000, af.compiled_predict(half)).dtype == np.float64


# ------------------------------------------------------------------------------------------------
# video.ini, frame selection, decoding


def test_half_start_reads_lines_2_and_5(tmp_path):
    ini = tmp_path / "video.ini"
    ini.write_text("[1_HQ.mkv]\nstart_time_second = 69\nduration_second = 2700\n"
                   "[2_HQ.mkv]\nstart_time_second = 60.5\nduration_second = 2700\n")
    assert media.half_start(ini, 1) == 69.0 and media.half_start(ini, 2) == 60.5
    assert media.half_duration(ini, 2) == 2700.0
    with pytest.raises(errors.DataError, match="video.ini not found"):
        media.half_start(tmp_path / "nope.ini", 1)
    ini.write_text("[1_HQ.mkv]\nstart_time_second = 69\n")
    with pytest.raises(errors.DataError, match="line 5"):
        media.half_start(ini, 2)
    ini.write_text("[1_HQ.mkv]\nstart_time_second = soon\n")
    with pytest.raises(errors.DataError, match="not a number"):
        media.half_start(ini, 1)


def test_framecv_selection():
    _, kept = media.frame_selection(67500, 2700.0, 25.0)  # an LQ half: 45 min at 25 fps
    assert len(kept) == 5400 and kept[:4] == [13, 25, 38, 50] and kept[-1] == 67500
    _, kept = media.frame_selection(100, 4.0, 25.0, start=1.0, duration=3.0)
    assert kept == [25, 38, 50, 63, 75, 88, 100]  # both ends included, as FrameCV
    # Fewer frames than the duration says: FrameCV reads again with fps = (frames + 1) / duration.
    fps, kept = media.frame_selection(50, 4.0, 25.0)
    assert fps == pytest.approx(51 / 4.0) and kept == [7, 13, 20, 26, 32, 39, 45]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    media.write_test_clip(folder / "tone.mkv", 3.0)
    media.write_test_clip(folder / "silent.mkv", 2.0, tone_hz=None)
    return folder


def test_decoding_the_test_clip(clips, tmp_path):
    samples, rate = media.read_audio(clips / "tone.mkv")
    assert samples.dtype == np.int16 and samples.shape[1] == 2 and rate == 44100
    assert 3.0 <= len(samples) / rate < 3.2
    spectrum = np.abs(np.fft.rfft(samples[:rate, 0].astype(float)))
    assert abs(np.argmax(spectrum) * rate / (2 * (len(spectrum) - 1)) - 440) < 2
    frames = list(media.read_frames(clips / "tone.mkv"))
    assert len(frames) == media.frame_count_estimate(clips / "tone.mkv") == 6
    assert frames[0].shape == (180, 320, 3) and frames[0].dtype == np.uint8
    assert vf.soccernet_crop(frames[0]).shape == (224, 224, 3)
    with pytest.raises(errors.DataError, match="no audio stream"):
        media.read_audio(clips / "silent.mkv")
    media.write_wav(tmp_path / "a.wav", samples, rate)
    back, back_rate = media.read_audio(tmp_path / "a.wav")
    np.testing.assert_array_equal(back, samples)
    with wave.open(str(tmp_path / "8bit.wav"), "wb") as handle:
        handle.setnchannels(1), handle.setsampwidth(1), handle.setframerate(8000)
        handle.writeframes(bytes(100))
    with pytest.raises(errors.DataError, match="16-bit PCM expected"):
        media.read_audio(tmp_path / "8bit.wav")


def test_frames_read_ahead_are_the_same_and_stop_cleanly(clips):
    """`media.ahead` (decoding beside the network): the same frames in the same order, the producer's
    error raised where its item would have come, and a consumer that stops early closes the source."""
    direct = list(media.read_frames(clips / "tone.mkv"))
    for mine, theirs in zip(media.ahead(media.read_frames(clips / "tone.mkv"), depth=2), direct, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    closed = []

    def source(fail_at=None):
        try:
            for i in range(100):
                if i == fail_at:
                    raise errors.DataError("clip.mkv", "cannot decode the video")
                yield i
        finally:
            closed.append(True)

    got = []
    with pytest.raises(errors.DataError, match="cannot decode"):
        for i in media.ahead(source(fail_at=7), depth=3):
            got.append(i)
    assert got == list(range(7)) and closed == [True]
    stopped = media.ahead(source(), depth=3)
    assert [next(stopped) for _ in range(4)] == [0, 1, 2, 3]
    stopped.close()  # the consumer stops: the producer ends and closes its source
    assert closed == [True, True]


def test_crop_and_preprocess_follow_soccernet():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, :640] = (255, 0, 0)  # red left half
    crop = vf.soccernet_crop(frame)  # 398 wide at height 224, 87 columns cut each side
    assert crop.shape == (224, 224, 3)
    assert tuple(crop[0, 0]) == (255, 0, 0) and tuple(crop[0, -1]) == (0, 0, 0)
    bgr = vf.preprocess(crop[None], "bgr")[0, 0, 0]  # SoccerNet: BGR frames into preprocess_input
    rgb = vf.preprocess(crop[None], "rgb")[0, 0, 0]
    np.testing.assert_allclose(rgb, [0 - 103.939, 0 - 116.779, 255 - 123.68], atol=1e-4)
    np.testing.assert_allclose(bgr, [255 - 103.939, 0 - 116.779, 0 - 123.68], atol=1e-4)
    # INTER_AREA downscale by 2 averages 2 x 2 blocks.
    checker = np.indices((4, 4)).sum(axis=0) % 2 * 200
    picture = np.repeat(checker[..., None], 3, axis=2).astype(np.uint8)
    assert np.all(vf.area_resize(picture, 2, 2) == 100)


# ------------------------------------------------------------------------------------------------
# The script


@pytest.fixture(scope="module")
def game(tmp_path_factory):
    folder = tmp_path_factory.mktemp("game")
    media.write_test_clip(folder / "1_HQ.mkv", 3.0)
    media.write_test_clip(folder / "2_HQ.mkv", 2.0)
    (folder / "video.ini").write_text("[1_HQ.mkv]\nstart_time_second = 0\nduration_second = 3\n"
                                      "[2_HQ.mkv]\nstart_time_second = 0\nduration_second = 2\n")
    return folder


def test_script_extracts_skips_and_refuses_bad_input(game, tmp_path, capsys):
    from extraction import extract_features

    argv = ["--game", str(game), "--random_weights", "--no_progress", "--loglevel", "WARNING"]
    assert extract_features.main(argv) == 0  # the real ResNet-152 graph, random weights
    assert "random weights: for tests only" in capsys.readouterr().out
    for half, seconds in ((1, 3), (2, 2)):
        audio = np.load(game / f"{half}_VGGish.npy")
        video = np.load(game / f"{half}_ResNET_TF2.npy")
        # start 0: frames 13, 25, ..., 25 * seconds (FrameCV), 2 per second
        assert video.shape == (2 * seconds, 2048) and video.dtype == np.float32
        assert audio.shape == (2 * seconds, 512) and audio.dtype == np.float64
        assert np.all(np.isfinite(video)) and np.all(np.isfinite(audio))
    stamps = {p.name: p.stat().st_mtime_ns for p in game.glob("*.npy")}
    assert extract_features.main(argv) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in game.glob("*.npy")} == stamps

    # Bad input: exit 2, one line, nothing written.
    bad = tmp_path / "bad"
    bad.mkdir()
    media.write_test_clip(bad / "1_HQ.mkv", 1.0)
    media.write_test_clip(bad / "2_HQ.mkv", 1.0, tone_hz=None)
    cases = [(["--game", str(tmp_path / "absent")], "game folder not found"),
             (["--game", str(bad)], "video.ini not found"),
             (["--game", str(bad), "--no_video_ini"], "2_HQ.mkv: no audio stream"),
             (["--video1", str(bad / "gone.mkv"), "--no_video_ini"], "gone.mkv: file not found")]
    for extra, message in cases:
        assert extract_features.main(extra + argv[2:]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and message in err[-1], err
    assert not list(bad.glob("*.npy"))


# ------------------------------------------------------------------------------------------------
# The package's layout


def test_faces_load_without_tensorflow_and_no_module_imports_them():
    """`python -m extraction.X --help` imports no TensorFlow; the faces are run (runpy, subprocess), never
    imported by a module of the project."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    top = Path(__file__).resolve().parent.parent
    faces = ("extract_features", "spot_video", "fit_pca", "write_clip")
    code = ("import sys; " + "; ".join(f"import extraction.{face}" for face in faces) +
            "; print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=top, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    offenders = []
    for path in top.rglob("*.py"):
        if {".venv", "tests", "data"} & set(path.relative_to(top).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            offenders += [f"{path.relative_to(top)} imports {name}" for name in names
                          if name in {f"extraction.{face}" for face in faces}]
    assert offenders == []


# ------------------------------------------------------------------------------------------------
# Refusals before any work: one line, exit 2, nothing written


def _one_line(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and all(word in err[0] for word in words), err


def test_write_clip_refuses_bad_flags_and_paths(tmp_path, capsys):
    from extraction import write_clip

    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "a_file").write_text("x")
    cases = [([str(out / "c.mkv"), "--seconds", value], "--seconds") for value in ("nan", "inf", "-1", "0", "1e9",
                                                                                       "14401")]
    cases += [([str(out / "c.mkv"), "--size", *size], "--size")
              for size in (("0", "0"), ("-2", "4"), ("100000", "100000"), ("64", "4098"))]
    cases += [([str(out / "c.xyz")], "c.xyz"), ([str(out)], str(out)),
              ([str(tmp_path / "a_file" / "c.mkv")], "a_file")]
    for argv, named in cases:
        assert write_clip.main(argv + (["--seconds", "1"] if "--seconds" not in argv else [])) == 2, argv
        _one_line(capsys, named)
    assert list(out.iterdir()) == []
    with pytest.raises(errors.DataError, match="is a folder"):
        media.read_audio(out)
    with pytest.raises(errors.DataError, match="is a folder"):
        media.frame_numbers(out)


def _extract(argv):
    from extraction import extract_features

    return extract_features.main(argv + ["--random_weights", "--no_progress", "--loglevel", "ERROR"])


def test_extraction_refuses_clips_without_a_full_row(tmp_path, capsys):
    media.write_test_clip(tmp_path / "short.mkv", 0.3)
    media.write_test_clip(tmp_path / "full.mkv", 3.0)
    data = (tmp_path / "full.mkv").read_bytes()
    (tmp_path / "truncated.mkv").write_bytes(data[:len(data) // 50])  # headers, hardly any packets
    (tmp_path / "cut.mkv").write_bytes(data[:len(data) // 10])  # the headers say 3 s; 0.2 s of audio decode
    out = tmp_path / "features"
    for name, features in (("short.mkv", ["video"]), ("short.mkv", ["audio"]), ("truncated.mkv", ["video"]),
                           ("truncated.mkv", ["audio"]), ("truncated.mkv", ["audio", "video"]),
                           ("cut.mkv", ["audio"])):
        before = sorted(p.name for p in tmp_path.iterdir())
        code = _extract(["--video1", str(tmp_path / name), "--no_video_ini", "--output", str(out),
                         "--features", *features])
        assert code == 2, (name, features)
        _one_line(capsys, name)
        assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == before


def test_extraction_refuses_an_output_that_is_a_file_before_decoding(tmp_path, capsys):
    media.write_test_clip(tmp_path / "clip.mkv", 1.0)
    (tmp_path / "taken").write_text("not a folder")
    for output, named in ((tmp_path / "taken", "--output"), (tmp_path / "taken" / "sub", "--output")):
        assert _extract(["--video1", str(tmp_path / "clip.mkv"), "--no_video_ini", "--output", str(output)]) == 2
        _one_line(capsys, str(output), named)
    assert (tmp_path / "taken").read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv", "taken"]


def test_extracted_zero_rows_are_refused_before_writing(tmp_path, monkeypatch):
    """A file that decodes to fewer rows than its headers say (features.extract's last check)."""
    from types import SimpleNamespace

    from extraction import features, jobs, video_features

    media.write_test_clip(tmp_path / "clip.mkv", 1.0, tone_hz=None)
    job = jobs.HalfJob(1, tmp_path / "clip.mkv", start=0.0, video=True, out=tmp_path / "out")
    monkeypatch.setattr(video_features, "build_resnet", lambda *a, **k: None)
    monkeypatch.setattr(features.audio_features, "compiled_predict", lambda model: None)
    monkeypatch.setattr(video_features, "extract_file", lambda *a, **k: np.zeros((0, 2048), np.float32))
    args = SimpleNamespace(random_weights=True, resnet_weights=None, precision="float32", no_progress=True,
                           frame_batch=4, channel_order="bgr")
    with pytest.raises(errors.DataError, match="clip.mkv: no ResNET_TF2 features"):
        features.extract(args, [job])
    assert not (tmp_path / "out").exists()


def test_spot_video_refuses_feature_files_it_cannot_make_before_extracting(tiny_runs, tmp_path, capsys):
    """An audio model trained with --PCA reads `{half}_ResNET_PCA512.npy` at spotting (the run's two feature
    files are opened whatever streams the model uses); a half without its video needs its files already."""
    from extraction import spot_video

    media.write_test_clip(tmp_path / "first.mkv", 2.0)
    media.write_test_clip(tmp_path / "second.mkv", 2.0)
    game_dir, out = tmp_path / "game", tmp_path / "out"
    common = ["--model", str(tiny_runs["audio"]), "--game_dir", str(game_dir), "--output_dir", str(out),
              "--random_weights", "--no_progress", "--loglevel", "WARNING"]

    def refused(argv, *words):
        before = sorted(str(p) for p in tmp_path.rglob("*"))
        assert spot_video.main(common + argv) == 2, argv
        captured = capsys.readouterr()
        assert "1/3" not in captured.out  # refused before the extraction step
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and all(w in lines[0] for w in words), lines
        assert sorted(str(p) for p in tmp_path.rglob("*")) == before

    refused(["--video1", str(tmp_path / "first.mkv"), "--video2", str(tmp_path / "second.mkv")],
            str(game_dir / "1_ResNET_PCA512.npy"), "feature file not found", "extracts only audio")
    assert not game_dir.exists() and not out.exists()
    game_dir.mkdir()
    for half in (1, 2):
        np.save(game_dir / f"{half}_ResNET_PCA512.npy", np.zeros((4, 512), np.float32))
    refused(["--video1", str(tmp_path / "first.mkv")], "error: --video2: ", "2_VGGish.npy")
    assert not out.exists()
