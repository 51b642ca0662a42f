"""The demo on synthetic data (`make demo`).

    .venv/bin/python demo.py [--data data/synthetic] [--games 30 10 10]

Generates the synthetic SoccerNet demo set (once; it is reused while its settings are unchanged)
and prints a summary of it: games, halves, events per class and feature shapes per split.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import dataset
import synthetic

TOP = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", default=str(TOP / "data" / "synthetic"), help="root of the demo data set")
    parser.add_argument("--games", type=int, nargs=3, default=[30, 10, 10], metavar=("TRAIN", "VALID", "TEST"),
                        help="games per split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    return parser


def print_summary(root: Path, config: synthetic.SyntheticConfig) -> None:
    """Print one line per split: games, halves, minutes, events per class, chunks, feature files."""
    print(f"Synthetic SoccerNet v1 at {root} (seed {config.seed}; not real data)")
    header = f"{'split':<6} {'games':>5} {'halves':>6} {'hours':>6} {'cards':>6} {'subs':>5} {'goals':>6} " \
             f"{'60s chunks':>10}  features"
    print(header)
    print("-" * len(header))
    for name, list_name in synthetic.list_names(config).items():
        split = dataset.Split(root / list_name)
        summary = split.summary(60)
        features = ", ".join(f"{f['file'][2:]} {f['shape'][0]}x{f['shape'][1]} {f['dtype']}"
                             for f in summary["features"].values())
        events = summary["events"]
        print(f"{name:<6} {summary['games']:>5} {summary['halves']:>6} "
              f"{summary['frames']['total'] / dataset.FRAMES_PER_SECOND / 3600:>6.1f} {events['card']:>6} "
              f"{events['subs']:>5} {events['goal']:>6} {summary['chunks']:>10}  {features} (first half)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = synthetic.SyntheticConfig(games=tuple(args.games), seed=args.seed)
    start = time.perf_counter()
    print(f"Step 1: synthetic SoccerNet demo set ({sum(config.games)} games, "
          f"about {synthetic.disk_bytes(config) / 1e9:.1f} GB)")
    try:
        root = synthetic.ensure(args.data, config)
        print_summary(root, config)
    except (dataset.DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Done in {time.perf_counter() - start:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
