"""Write a synthetic test clip (a moving picture and a tone): `python -m extraction.write_clip CLIP --seconds S`.

The command line of `media.write_test_clip` (it was `python media.py CLIP ...`).
"""
from __future__ import annotations

import argparse
from typing import Sequence

from extraction import media


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Write a synthetic test clip: a moving coloured picture and a "
                                                 "sine tone (for trying extract_features.py and spot_video.py).")
    parser.add_argument("path", help="the clip to write (.mkv or .mp4)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length")
    parser.add_argument("--tone_hz", type=float, default=440.0, help="frequency of the tone (0: no audio stream)")
    parser.add_argument("--size", type=int, nargs=2, default=[320, 180], metavar=("WIDTH", "HEIGHT"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    path = media.write_test_clip(args.path, args.seconds, size=tuple(args.size), tone_hz=args.tone_hz or None)
    print(f"wrote {path} ({args.seconds:g} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
