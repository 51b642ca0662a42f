"""python -m extraction.spot_video: from two video files to spots, through the real scripts (random extraction
weights)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from base import classes
from evaluation import outputs
from extraction import media, spot_video


@pytest.fixture(scope="module")
def tf2_run(tmp_path_factory):
    """A one-epoch method-4 run on a tiny synthetic set whose video files are named ResNET_TF2."""
    import dataclasses

    from conftest import TINY, training_argv

    import ClassificationMinuteBased
    from experiments import synthetic

    root = synthetic.generate(tmp_path_factory.mktemp("tiny_tf2"), dataclasses.replace(TINY, video_features="ResNET_TF2"),
                              progress=False)
    tflog = tmp_path_factory.mktemp("run_tf2")
    assert ClassificationMinuteBased.main(training_argv(root, tflog, "--architecture", "AudioVideoArchi5", "--featuresVideo",
                                                        "ResNET_TF2", "--max_epoch", "1")) == 0
    (run,) = tflog.iterdir()
    return run


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    media.write_test_clip(folder / "first.mp4", 6.0)
    media.write_test_clip(folder / "second.mkv", 4.0, tone_hz=660.0)
    return folder


def _pca(path, seed=0):
    rng = np.random.default_rng(seed)
    components = np.linalg.qr(rng.standard_normal((2048, 512)))[0].T  # (512, 2048), orthonormal rows
    mean = rng.standard_normal(2048)
    np.savez(path, components=components, mean=mean, explained_variance=np.ones(512),
             explained_variance_ratio=np.full(512, 1 / 2048))
    return components, mean


def test_two_videos_to_spots(tf2_run, videos, tmp_path, capsys):
    components, mean = _pca(tmp_path / "pca.npz")
    game_dir, out = tmp_path / "My Game", tmp_path / "predictions"
    argv = ["--model", str(tf2_run), "--video1", str(videos / "first.mp4"), "--video2",
            str(videos / "second.mkv"), "--game_dir", str(game_dir), "--pca", str(tmp_path / "pca.npz"),
            "--random_weights", "--output_dir", str(out), "--no_progress", "--loglevel", "WARNING"]
    assert spot_video.main(argv) == 0
    printed = capsys.readouterr().out
    assert "random weights: for tests only" in printed
    prefix = tf2_run.name
    for half, seconds in ((1, 6), (2, 4)):
        raw = np.load(game_dir / f"{half}_ResNET_TF2.npy")
        reduced = np.load(game_dir / f"{half}_ResNET_TF2_PCA512.npy")
        audio = np.load(game_dir / f"{half}_VGGish.npy")
        assert raw.shape == (2 * seconds, 2048) and audio.shape == (2 * seconds, 512)
        np.testing.assert_allclose(reduced, (raw.astype(np.float64) - mean) @ components.T, rtol=1e-5, atol=1e-4)
        probabilities = np.load(outputs.prediction_file(out, game_dir.name, prefix, half))
        assert probabilities.shape == (seconds, classes.V1.num_classes)  # one window per second
        assert np.all((0 <= probabilities) & (probabilities <= 1))
    spots = json.loads(outputs.results_spotting_file(out, prefix, game_dir.name).read_text())
    assert spots["UrlLocal"] and isinstance(spots["predictions"], list)
    assert outputs.timeline_file(out, game_dir.name, prefix).is_file()
    assert str(outputs.results_spotting_file(out, prefix, game_dir.name)) in printed


def test_bad_input_writes_nothing(tf2_run, tiny_runs, videos, tmp_path, capsys):
    game_dir = tmp_path / "game"
    base = ["--model", str(tf2_run), "--video1", str(videos / "first.mp4"), "--game_dir", str(game_dir),
            "--random_weights", "--output_dir", str(tmp_path / "out"), "--no_progress", "--loglevel", "WARNING"]
    (tmp_path / "not_a_pca.npz").write_bytes(b"nothing")
    cases = [(base, "--pca: the model of"),
             (base + ["--pca", str(tmp_path / "not_a_pca.npz")], "not_a_pca.npz: not a PCA saved by fit_pca.py"),
             (["--model", str(tmp_path / "no_run")] + base[2:], "model file not found"),
             (["--model", str(tiny_runs["fusion"])] + base[2:], "trained on ResNET video features")]
    for argv, message in cases:
        assert spot_video.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and message in err[-1], err
    assert not game_dir.exists() and not (tmp_path / "out").exists()


def test_refused_before_extracting(tf2_run, tiny_runs, videos, tmp_path, capsys):
    """Streams the model reads that the media lack, and output folders that are files: one line, exit 2,
    before anything is extracted or written."""
    media.write_test_clip(tmp_path / "silent.mkv", 2.0, tone_hz=None)
    media.write_wav(tmp_path / "sound.wav", np.zeros(44100, np.int16), 44100)
    (tmp_path / "a_file").write_text("x")
    game_dir, out = tmp_path / "game", tmp_path / "out"
    common = ["--random_weights", "--no_progress", "--loglevel", "WARNING"]

    def argv(model, video, game=game_dir, output=out):
        return ["--model", str(model), "--video1", str(video), "--game_dir", str(game), "--output_dir",
                str(output), *common]

    cases = [(argv(tf2_run, tmp_path / "silent.mkv"), "silent.mkv: no audio stream"),   # fusion, no audio
             (argv(tiny_runs["audio"], tmp_path / "silent.mkv"), "silent.mkv: no audio stream"),
             (argv(tf2_run, tmp_path / "sound.wav"), "sound.wav: no video stream"),   # fusion, audio only
             (argv(tf2_run, videos / "first.mp4", game=tmp_path / "a_file"), "--game_dir names a file"),
             (argv(tf2_run, videos / "first.mp4", output=tmp_path / "a_file"), "--output_dir names a file"),
             (argv(tf2_run, videos / "first.mp4", output=tmp_path / "a_file" / "sub"), "--output_dir cannot be created")]
    for args, message in cases:
        assert spot_video.main(args) == 2, args
        err = capsys.readouterr()
        assert "1/3" not in err.out  # refused before the extraction step
        lines = err.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not game_dir.exists() and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "silent.mkv", "sound.wav"]
