"""Write the three SoccerNet v1 game lists from the `soccernet` package's data.

    python tools/make_game_lists.py

Writes listgame_Train_300.npy, listgame_Valid_100.npy and listgame_Test_100.npy at the top level, in
the original format: 1-D numpy arrays of unicode strings `league/season/game`, in the order that
`SoccerNet.utils.getListGames("train" | "valid" | "test")` returns.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from SoccerNet.utils import getListGames

TOP = Path(__file__).resolve().parent.parent
SPLITS = {"train": "listgame_Train_300.npy", "valid": "listgame_Valid_100.npy",
          "test": "listgame_Test_100.npy"}


def main() -> int:
    for split, name in SPLITS.items():
        games = np.array(getListGames(split))  # unicode dtype sized to the longest entry, as the original
        np.save(TOP / name, games, allow_pickle=False)
        print(f"{name}: {len(games)} games, dtype {games.dtype}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
