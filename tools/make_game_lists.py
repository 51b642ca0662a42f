"""Write the three SoccerNet v1 game lists from the `soccernet` package's data.

    .venv/bin/python tools/make_game_lists.py [--output_dir DIR] [--check]

Writes listgame_Train_300.npy, listgame_Valid_100.npy and listgame_Test_100.npy (by default at the top
level of the repository, where the committed ones are), in the original format: 1-D numpy arrays of
unicode strings `league/season/game`, in the order that `SoccerNet.utils.getListGames("train" | "valid" |
"test")` returns. `--check` writes nothing: it compares the files in --output_dir with the package's.
`--challenge` also writes listgame_Challenge_50.npy, the challenge games without public labels (spot them with
ClassificationSecondBased.py and send the zip of its JSON files: docs/data.md); it is not committed.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

from base import errors, files
from runtime import cli

SPLITS = {"train": "listgame_Train_300.npy", "valid": "listgame_Valid_100.npy",
          "test": "listgame_Test_100.npy"}
CHALLENGE = {"challenge": "listgame_Challenge_50.npy"}


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=cli.HelpFormatter)
    parser.add_argument("--output_dir", default=str(TOP), help="folder of the three list files")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a file differs from the package's list")
    parser.add_argument("--challenge", action="store_true",
                        help="also the challenge list (listgame_Challenge_50.npy: games without public labels)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return errors.run_command(lambda: make_lists(args))


def make_lists(args) -> int:
    """Write (or with --check compare) the list files; the exit code."""
    from SoccerNet.utils import getListGames

    folder = Path(args.output_dir)
    names = {**SPLITS, **(CHALLENGE if args.challenge else {})}
    if not args.check:  # every list file can be written, before any is
        if not folder.is_dir():
            raise errors.DataError(folder, "not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise errors.DataError(folder, "not writable")
        for name in names.values():
            if (folder / name).exists() and not (folder / name).is_file():
                raise errors.DataError(folder / name, "not a file (a folder?): cannot write the list there")
    differ = 0
    for split, name in names.items():
        games = np.array(getListGames(split))  # unicode dtype sized to the longest entry, as the original
        target = folder / name
        if args.check:
            try:
                same = np.load(target, allow_pickle=False).tolist() == games.tolist()
            except (OSError, ValueError, EOFError):  # missing, a folder, zero-byte, truncated, not an .npy
                same = False
            differ += not same
            print(f"{target}: {'same as' if same else 'DIFFERS from'} the package's {split} list ({len(games)} games)")
            continue
        files.write_npy_atomic(target, games)
        print(f"{target}: {len(games)} games, dtype {games.dtype}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
