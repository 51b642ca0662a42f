"""Write a synthetic test clip (a moving picture and a tone): `python -m extraction.write_clip CLIP --seconds S`.

The command line of `media.write_test_clip` (it was `python media.py CLIP ...`).
"""
from __future__ import annotations

import argparse
import math
from typing import Sequence

from base import errors
from extraction import media
from runtime import cli

FPS = 25  # media.write_test_clip's default frame rate
MAX_SECONDS = 4 * 3600.0  # a clip longer than this is a typo, not a test clip
MAX_SIDE = 4096           # pixels; larger frames do not fit in memory as the encoder works


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(description="Write a synthetic test clip: a moving coloured picture and a "
                                                 "sine tone (for trying extract_features.py and spot_video.py).")
    parser.add_argument("path", help="the clip to write (.mkv or .mp4)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length")
    parser.add_argument("--tone_hz", type=float, default=440.0, help="frequency of the tone (0: no audio stream)")
    parser.add_argument("--size", type=int, nargs=2, default=[320, 180], metavar=("WIDTH", "HEIGHT"))
    return parser


def check_flags(args) -> None:
    """The flags `media.write_test_clip` can encode; DataError naming the flag otherwise (before any file
    is touched)."""
    if not math.isfinite(args.seconds) or args.seconds * FPS < 1 or args.seconds > MAX_SECONDS:
        raise errors.DataError("--seconds", f"{args.seconds!r} is not a length of at least one frame "
                                            f"(1/{FPS} s) and at most {MAX_SECONDS:g} s")
    if not math.isfinite(args.tone_hz) or args.tone_hz < 0:
        raise errors.DataError("--tone_hz", f"{args.tone_hz!r} is not a frequency (finite, >= 0; 0: no audio)")
    width, height = args.size
    if width < 2 or height < 2 or width % 2 or height % 2 or width > MAX_SIDE or height > MAX_SIDE:
        raise errors.DataError("--size", f"{width} {height}: width and height must be even numbers from 2 "
                                         f"to {MAX_SIDE} (the yuv420p video)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def work() -> int:
        check_flags(args)
        path = media.write_test_clip(args.path, args.seconds, fps=FPS, size=tuple(args.size),
                                     tone_hz=args.tone_hz or None)
        print(f"wrote {path} ({args.seconds:g} s)")
        return 0

    return errors.run_command(work)


if __name__ == "__main__":
    raise SystemExit(main())
