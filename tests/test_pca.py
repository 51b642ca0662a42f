"""Fitting PCA on raw features and writing the PCA files (python -m extraction.fit_pca)."""
from __future__ import annotations

import numpy as np
import dataset
from experiments import synthetic
from extraction import fit_pca


def test_fit_pca_writes_pca_files(tmp_path, capsys):
    config = synthetic.SyntheticConfig(games=(2, 1, 1), half_minutes=3.0, stoppage_minutes=(0.0, 0.0),
                                       raw_video=True)
    root = synthetic.generate(tmp_path / "data", config, progress=False)
    game = dataset.read_game_list(root / "listgame_Test_1.npy")[0]
    (root / game / "1_ResNET_PCA512.npy").unlink()
    argv = ["--training", str(root / "listgame_Train_2.npy"), "--lists", str(root / "listgame_Test_1.npy"),
            "--features", "ResNET", "--components", "16", "--batch_frames", "600",
            "--save", str(tmp_path / "pca.npz")]
    assert fit_pca.main(argv) == 0
    out = np.load(root / game / "1_ResNET_PCA16.npy", allow_pickle=False)
    raw = np.load(root / game / "1_ResNET.npy")
    assert out.shape == (raw.shape[0], 16) and out.dtype == np.float32
    saved = np.load(tmp_path / "pca.npz", allow_pickle=False)
    np.testing.assert_allclose(out, (raw - saved["mean"]) @ saved["components"].T, rtol=1e-3, atol=1e-3)
    # The training games were transformed too; the validation game was not listed.
    train_game = dataset.read_game_list(root / "listgame_Train_2.npy")[1]
    assert (root / train_game / "2_ResNET_PCA16.npy").is_file()
    valid_game = dataset.read_game_list(root / "listgame_Valid_1.npy")[0]
    assert not (root / valid_game / "1_ResNET_PCA16.npy").exists()
    assert "wrote 6 files" in capsys.readouterr().out


def test_fit_pca_bad_input_exits_2(tmp_path, capsys):
    (tmp_path / "l.txt").write_text("no/such/game\n")
    assert fit_pca.main(["--training", str(tmp_path / "l.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "game folder not found" in err and "\n" not in err


def _pca_root(tmp_path):
    config = synthetic.SyntheticConfig(games=(2, 1, 1), half_minutes=3.0, stoppage_minutes=(0.0, 0.0),
                                       raw_video=True)
    return synthetic.generate(tmp_path / "data", config, progress=False)


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_fit_pca_checks_every_list_and_the_save_path_before_fitting(tmp_path, capsys):
    root = _pca_root(tmp_path)
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    base = ["--training", str(root / "listgame_Train_2.npy"), "--features", "ResNET", "--components", "16",
            "--batch_frames", "600"]
    before = _files(tmp_path)
    cases = [(["--lists", str(tmp_path / "empty.npy")], "empty.npy"),
             (["--save", str(tmp_path / "a_folder")], "--save names a folder"),
             (["--save", str(tmp_path / "a_file" / "pca.npz")], "--save cannot be created"),
             (["--save", str(tmp_path / "a_file" / "sub" / "pca.npz")], "a_file is a file")]
    for extra, words in cases:
        assert fit_pca.main(base + extra) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], err
        assert _files(tmp_path) == before, extra  # no *_PCA16.npy, no temporary


def test_fit_pca_refuses_non_positive_numbers_as_usage_errors(tmp_path, capsys):
    import pytest

    for flag in ("--batch_frames", "--subsample", "--components"):
        for value in ("0", "-1"):
            with pytest.raises(SystemExit) as stop:
                fit_pca.main(["--training", str(tmp_path / "l.npy"), flag, value])
            err = capsys.readouterr().err.strip().splitlines()
            assert stop.value.code == 2 and len(err) == 2 and f"{flag} must be positive" in err[1], err
    assert list(tmp_path.iterdir()) == []
