"""The three committed game lists equal the soccernet package's, in the original format."""
from __future__ import annotations

import numpy as np
import pytest
from SoccerNet.utils import getListGames

from conftest import TOP


@pytest.mark.parametrize("name, split, count, dtype", [
    ("listgame_Train_300.npy", "train", 300, "<U96"),
    ("listgame_Valid_100.npy", "valid", 100, "<U96"),
    ("listgame_Test_100.npy", "test", 100, "<U97"),
])
def test_game_list_matches_soccernet(name, split, count, dtype):
    games = np.load(TOP / name, allow_pickle=False)
    assert games.ndim == 1 and games.dtype == np.dtype(dtype) and len(games) == count
    assert games.tolist() == getListGames(split)


def test_splits_are_disjoint_and_first_entries_as_the_original():
    lists = [set(np.load(TOP / n).tolist()) for n in
             ("listgame_Train_300.npy", "listgame_Valid_100.npy", "listgame_Test_100.npy")]
    assert len(lists[0] | lists[1] | lists[2]) == 500
    assert np.load(TOP / "listgame_Test_100.npy")[0] == \
        "england_epl/2014-2015/2015-05-17 - 18-00 Manchester United 1 - 1 Arsenal"
    assert np.load(TOP / "listgame_Train_300.npy")[0] == \
        "england_epl/2014-2015/2015-02-21 - 18-00 Chelsea 1 - 1 Burnley"


def test_make_game_lists_help_writes_nothing_and_check_compares(tmp_path):
    import subprocess
    import sys

    script = TOP / "tools" / "make_game_lists.py"
    before = {name: (TOP / name).stat().st_mtime_ns for name in
              ("listgame_Train_300.npy", "listgame_Valid_100.npy", "listgame_Test_100.npy")}
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--output_dir" in done.stdout
    assert {name: (TOP / name).stat().st_mtime_ns for name in before} == before
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.count("same as") == 3
    done = subprocess.run([sys.executable, str(script), "--output_dir", str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    for name in before:
        np.testing.assert_array_equal(np.load(tmp_path / name), np.load(TOP / name))
        assert np.load(tmp_path / name).dtype == np.load(TOP / name).dtype
    (tmp_path / "listgame_Test_100.npy").unlink()
    done = subprocess.run([sys.executable, str(script), "--check", "--output_dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "DIFFERS" in done.stdout
