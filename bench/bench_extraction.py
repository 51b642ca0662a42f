"""Benchmark of feature extraction from a video: VGGish audio and ResNet-152 video, float32 and bfloat16.

    .venv/bin/python bench/bench_extraction.py [--seconds 60] [--runs audio:float32 video:bfloat16 ...]

Writes a synthetic clip with `extraction.media.write_test_clip` (by default 60 s, 25 fps, 640x360, stereo
44.1 kHz AAC) to a temporary folder, then times, each in a fresh process (so that each peak resident memory is
its own), the whole path of `python -m extraction.extract_features` for one half with random weights:
decoding, the authors' VGGish chunks (audio_features.extract_half) or SoccerNet's frames and crop
(video_features.extract_file), the network. Prints seconds of media processed per second of wall time
(network build excluded, the first call's tracing included), the peak RSS (ru_maxrss) and the machine. For
video, warm: ResNet-152 alone on the same frames already decoded and cropped, then the whole path again (its
decoding in a thread of its own, `media.ahead`), with the ratio of their rates and a 45-minute half's time.
The bfloat16 runs are left out where the processor has no bfloat16 instructions (as in the networks' and
spotting's benchmarks: bfloat16 is emulated there, and slower); `--runs` names them to force them.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))
sys.path.insert(0, str(TOP / "bench"))

import common  # noqa: E402

RUNS = ("audio:float32", "audio:bfloat16", "video:float32", "video:bfloat16")


def child(kind: str, precision: str, clip: str) -> dict:
    import logging

    from runtime import process
    process.setup_logging("WARNING")
    process.start_tensorflow()
    from extraction import audio_features, media, video_features

    if kind == "audio":
        predict = audio_features.compiled_predict(audio_features.make_vggish(None, precision, random_weights=True))
        begin = time.perf_counter()
        samples, rate = media.read_audio(clip)
        seconds = len(samples) / rate
        rows = audio_features.extract_half(samples, rate, predict).shape
    else:
        model = video_features.build_resnet(None, precision, random_weights=True)
        predict = audio_features.compiled_predict(model)
        begin = time.perf_counter()
        seconds = media.video_duration(clip)
        rows = video_features.extract_file(clip, predict).shape
    wall = time.perf_counter() - begin
    result = {"kind": kind, "precision": precision, "media_seconds": seconds, "wall_s": wall, "rows": list(rows),
              "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}
    if kind == "video":  # warm: the network alone on the frames in memory, then the whole path again
        import numpy as np

        crops = [video_features.soccernet_crop(f) for f in media.read_frames(clip)]
        size = video_features.BATCH_SIZE
        begin = time.perf_counter()
        for i in range(0, len(crops), size):
            predict(video_features.preprocess(np.stack(crops[i:i + size]), "bgr"))
        result["network_s"] = time.perf_counter() - begin
        begin = time.perf_counter()
        video_features.extract_file(clip, predict)
        result["warm_s"] = time.perf_counter() - begin
    logging.shutdown()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", nargs="+", default=None,
                        help="kind:precision pairs (default: all four, float32 only without bfloat16 instructions)")
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    from extraction import media
    from runtime import process

    print("machine:", common.machine())
    if args.runs is None:
        args.runs = [r for r in RUNS if process.cpu_has_bf16() or not r.endswith("bfloat16")]
        if len(args.runs) < len(RUNS):
            print("bfloat16: skipped (no avx512_bf16 / amx_bf16 on this processor; --runs audio:bfloat16 "
                  "video:bfloat16 forces it)")
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "1_HQ.mkv"
        begin = time.perf_counter()
        media.write_test_clip(clip, args.seconds, fps=25, size=(640, 360), sample_rate=44100, channels=2)
        print(f"clip: {args.seconds:g} s, 25 fps, 640x360, stereo 44.1 kHz ({time.perf_counter() - begin:.1f} s to write)")
        for run in args.runs:
            kind, precision = run.split(":")
            out = subprocess.run([sys.executable, __file__, "--child", kind, precision, str(clip)],
                                 capture_output=True, text=True, cwd=TOP)
            if out.returncode != 0:
                print(f"{run}: failed\n{out.stderr[-2000:]}")
                continue
            result = json.loads(out.stdout.strip().splitlines()[-1])
            common.record("extraction", f"{kind} features ({'VGGish' if kind == 'audio' else 'ResNet-152'}), {precision}",
                          result["media_seconds"] / result["wall_s"], "s of media per s")
            common.record("extraction", f"{kind} extraction peak RSS, {precision}", result["peak_rss_gb"], "GB")
            print(f"{kind:5s} {precision:8s}: {result['media_seconds']:.1f} s of media in {result['wall_s']:.1f} s "
                  f"-> {result['media_seconds'] / result['wall_s']:.2f} s per s; rows {tuple(result['rows'])}; "
                  f"peak RSS {result['peak_rss_gb']:.2f} GB")
            if "network_s" in result:
                media_s = result["media_seconds"]
                common.record("extraction", f"video extraction, warm (decoding in its own thread beside ResNet-152), "
                              f"{precision}; a 45-min half in {2700 * result['warm_s'] / media_s:.0f} s",
                              media_s / result["warm_s"], "s of media per s", media_s / result["network_s"],
                              "ResNet-152 alone on the same frames in memory", target=">= 0.8")
                print(f"      {'':8s}  warm: whole path {media_s / result['warm_s']:.2f} s per s, ResNet-152 alone "
                      f"on the frames in memory {media_s / result['network_s']:.2f} s per s: "
                      f"{result['network_s'] / result['warm_s']:.2f} of the network's rate (target 0.8); a 45-minute "
                      f"half {2700 * result['warm_s'] / media_s:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
