"""Extract the features the models read from match videos: `{half}_VGGish.npy` and `{half}_ResNET_TF2.npy`.

    .venv/bin/python extract_features.py --game "/data/SoccerNet/england_epl/2014-2015/<game>" \\
        --vggish_weights vggish_audioset_weights_without_fc2.h5 --resnet_weights imagenet
    .venv/bin/python extract_features.py --games listgame_Test_100.npy --SoccerNet_path /data/SoccerNet \\
        --features audio --vggish_weights vggish_model.ckpt

Audio: the authors' VGGish extraction (audio_features.py): 512 values per half second, float64, cut to the
number of video features of the half (`{half}_ResNET_PCA512.npy` if the folder has it, as the authors, else
`{half}_ResNET_TF2.npy`, else the frame count the video gives). Video: SoccerNet's ResNET_TF2 extraction
(video_features.py): ResNet-152 `avg_pool`, 2 frames per second, float32.

Inputs per half: `{half}_HQ.mkv` in a game folder (its start and duration come from the game's
`video.ini`, as the authors and SoccerNet read them; a missing video.ini is an error unless
`--no_video_ini`, which takes the whole file), else `{half}.mkv` (SoccerNet's LQ videos, already cut: no
video.ini needed), else `{half}_HQ.wav` / `{half}.wav` (audio only); or any file per half with
`--video1/--video2`. Outputs go beside the input (or to `--output` for `--video1/--video2`). Everything is checked (files, streams, video.ini,
weights) before anything is written; files are written atomically, and halves whose outputs exist are
skipped unless `--overwrite`. `--random_weights` (tests only) runs the networks untrained and says so.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

import audio_features
import dataset
import media
import runs
import video_features

log = logging.getLogger("extract_features")

AUDIO_NAME, VIDEO_NAME = "VGGish", "ResNET_TF2"
FEATURE_KINDS = ("audio", "video")
VIDEO_INI = "video.ini"
FPS = 2.0


@dataclass
class HalfJob:
    """One half: its media file, where its features go, and the part of the file used."""
    half: int
    path: Path
    start: float | None = None
    duration: float | None = None
    audio: bool = False
    video: bool = False
    out: Path | None = None

    @property
    def folder(self) -> Path:
        """Where the half's features go (and are looked for): --output, else beside the media file."""
        return self.out if self.out is not None else self.path.parent

    def output(self, name: str) -> Path:
        return dataset.feature_file(self.folder, self.half, name)

    @property
    def is_wav(self) -> bool:
        return self.path.suffix.lower() in media.AUDIO_EXTENSIONS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=runs.HelpFormatter)
    source = parser.add_argument_group("input (one of)")
    source.add_argument("--game", default=None, help="a game folder with 1_HQ.mkv and 2_HQ.mkv (or 1.mkv, 2.mkv, .wav)")
    source.add_argument("--games", default=None, help="a game list (.npy or text) of folders under --SoccerNet_path")
    source.add_argument("--SoccerNet_path", default=None,
                        help="data root of the --games entries (default: the folder of the list)")
    source.add_argument("--video1", default=None, help="any media file for half 1 (outputs go beside it)")
    source.add_argument("--video2", default=None, help="any media file for half 2 (outputs go beside it)")
    parser.add_argument("--video_ini", default=None,
                        help="the video.ini of --video1/--video2 (default: the one beside the file)")
    parser.add_argument("--output", default=None,
                        help="folder of the feature files of --video1/--video2 (default: beside each file)")
    parser.add_argument("--no_video_ini", action="store_true",
                        help="no video.ini: start at 0 s and take the whole file (not what the authors did)")
    parser.add_argument("--features", nargs="+", choices=FEATURE_KINDS, default=list(FEATURE_KINDS),
                        help="which features to extract")
    parser.add_argument("--vggish_weights", default=None,
                        help="VGGish weights: the Keras port's vggish_audioset_weights_without_fc2.h5 or "
                             "Google's vggish_model.ckpt")
    parser.add_argument("--resnet_weights", default="imagenet",
                        help="ResNet-152 weights: imagenet (Keras downloads them) or a .h5 / .weights.h5 file")
    parser.add_argument("--random_weights", action="store_true",
                        help="untrained networks, for tests only (the output says so)")
    parser.add_argument("--precision", choices=audio_features.PRECISIONS, default="float32",
                        help="the networks' arithmetic; bfloat16 writes the same dtypes")
    parser.add_argument("--correct_last_group", action="store_true",
                        help="give every half second its own VGGish row instead of reproducing the authors' "
                             "misplaced last group of 60")
    parser.add_argument("--channel_order", choices=video_features.CHANNEL_ORDERS, default="bgr",
                        help="colour order fed to ResNet: bgr reproduces SoccerNet (OpenCV's BGR frames), rgb is "
                             "what the ImageNet weights expect")
    parser.add_argument("--audio_batch", type=int, default=256, help="half-second chunks per VGGish call")
    parser.add_argument("--frame_batch", type=int, default=video_features.BATCH_SIZE, help="frames per ResNet call")
    parser.add_argument("--overwrite", action="store_true", help="rewrite feature files that exist")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    runs.add_process_arguments(parser)
    return parser


# ------------------------------------------------------------------------------------------------
# Finding and checking the inputs


def _half_file(folder: Path, half: int) -> Path:
    for name in (f"{half}_HQ.mkv", f"{half}.mkv", f"{half}_HQ.wav", f"{half}.wav"):
        if (folder / name).is_file():
            return folder / name
    raise dataset.DataError(folder / f"{half}_HQ.mkv", f"no media for half {half} ({half}_HQ.mkv, {half}.mkv, "
                                                       f"{half}_HQ.wav or {half}.wav)")


def _is_lq(path: Path, half: int) -> bool:
    """SoccerNet's LQ video of a half (`{half}.mkv`), already cut to the half by ConvertHQtoLQ.py."""
    return path.name == f"{half}.mkv"


def _place(job: HalfJob, video_ini: Path | None, no_video_ini: bool) -> None:
    if _is_lq(job.path, job.half):
        job.start, job.duration = None, None  # as SoccerNet's ExtractResNET_TF2 for LQ videos
        return
    ini = video_ini if video_ini is not None else job.path.parent / VIDEO_INI
    if no_video_ini:
        job.start, job.duration = 0.0, None
        return
    if not ini.is_file():
        raise dataset.DataError(ini, f"video.ini not found (the start of half {job.half} of {job.path.name}); "
                                     "--no_video_ini takes the whole file")
    job.start = media.half_start(ini, job.half)
    job.duration = media.half_duration(ini, job.half)


def find_jobs(args) -> list[HalfJob]:
    """The halves to work on, their start/duration, what each gets (nothing checked but names)."""
    pairs: list[tuple[int, Path]] = []
    if args.video1 or args.video2:
        pairs = [(half, Path(p)) for half, p in ((1, args.video1), (2, args.video2)) if p]
        for _, path in pairs:
            if not path.is_file():
                raise dataset.DataError(path, "file not found")
    else:
        if args.game:
            folders = [Path(args.game)]
        else:
            root = dataset.data_root_for(args.games, args.SoccerNet_path)
            folders = [root / game for game in dataset.read_game_list(args.games)]
        for folder in folders:
            if not folder.is_dir():
                raise dataset.DataError(folder, "game folder not found")
            pairs += [(half, _half_file(folder, half)) for half in dataset.HALVES]
    jobs = []
    video_ini = Path(args.video_ini) if args.video_ini else None
    for half, path in pairs:
        job = HalfJob(half, path, out=Path(args.output) if args.output else None)
        job.audio = "audio" in args.features
        job.video = "video" in args.features and not job.is_wav
        if "video" in args.features and job.is_wav and args.features == ["video"]:
            raise dataset.DataError(path, "a .wav file has no video for --features video")
        _place(job, video_ini, args.no_video_ini)
        jobs.append(job)
    return jobs


def check_media(job: HalfJob) -> None:
    """The streams the job needs are there (headers only)."""
    import av

    if job.is_wav:
        _check_wav_header(job.path)
        return
    try:
        with av.open(str(job.path)) as container:
            if job.audio and not container.streams.audio:
                raise dataset.DataError(job.path, "no audio stream")
            if job.video and not container.streams.video:
                raise dataset.DataError(job.path, "no video stream")
    except av.FFmpegError as exc:
        raise dataset.DataError(job.path, f"cannot open the media file ({exc})") from None


def _check_wav_header(path: Path) -> None:
    import wave

    try:
        with wave.open(str(path), "rb") as handle:
            if handle.getsampwidth() != 2:
                raise dataset.DataError(path, f"{8 * handle.getsampwidth()}-bit wav; 16-bit PCM expected")
    except (wave.Error, EOFError) as exc:
        raise dataset.DataError(path, f"not a 16-bit PCM wav file ({exc})") from None


def video_rows(job: HalfJob) -> int | None:
    """Rows of the half's video features, which the audio features are cut to: the authors' file
    `{half}_ResNET_PCA512.npy` when present, else `{half}_ResNET_TF2.npy`, else the frames FrameCV's
    selection gives; None for a lone .wav."""
    for name, pca in (("ResNET", True), (VIDEO_NAME, False)):
        path = dataset.feature_file(job.folder, job.half, name, pca=pca)
        if path.is_file():
            try:
                return int(np.load(path, mmap_mode="r").shape[0])
            except (ValueError, OSError) as exc:
                raise dataset.DataError(path, f"cannot read the video features ({exc})") from None
    if job.is_wav:
        return None
    return media.frame_count_estimate(job.path, FPS, job.start, job.duration)


# ------------------------------------------------------------------------------------------------
# Extraction


def _bar(total: int, desc: str, no_progress: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="chunk" if "audio" in desc else "frame", leave=False,
                disable=runs.progress_off(no_progress))


def extract(args) -> int:
    jobs = find_jobs(args)
    for job in jobs:
        for kind, name in (("audio", AUDIO_NAME), ("video", VIDEO_NAME)):
            if getattr(job, kind) and job.output(name).is_file() and not args.overwrite:
                log.info("%s exists: skipped", job.output(name))
                setattr(job, kind, False)
    todo = [job for job in jobs if job.audio or job.video]
    for job in todo:
        check_media(job)
    if not todo:
        print(f"nothing to do: the features of {len(jobs)} halves exist (--overwrite rewrites them)")
        return 0
    runs.start_tensorflow()
    audio_predict = video_predict = None
    if any(job.audio for job in todo):
        model = audio_features.make_vggish(args.vggish_weights, args.precision, random_weights=args.random_weights)
        audio_predict = audio_features.compiled_predict(model)
    if any(job.video for job in todo):
        weights = None if args.random_weights else args.resnet_weights
        model = video_features.build_resnet(weights, args.precision, random_weights=args.random_weights)
        video_predict = audio_features.compiled_predict(model)
    written = []
    for folder in sorted({job.folder for job in todo}):
        folder.mkdir(parents=True, exist_ok=True)
    for job in todo:
        label = f"{job.folder.name} half {job.half}"
        if job.video:
            kept = media.frame_numbers(job.path, FPS, job.start, job.duration)  # counted once, for both
            with _bar(len(kept), f"{label} video", args.no_progress) as bar:
                features = video_features.extract_file(job.path, video_predict, start=job.start, kept=kept,
                                                       duration=job.duration, fps=FPS, batch_size=args.frame_batch,
                                                       channel_order=args.channel_order, progress=bar.update)
            written.append(dataset.write_atomic(job.output(VIDEO_NAME), lambda tmp: np.save(tmp, features)))
            log.info("%s: %s", written[-1], features.shape)
        if job.audio:
            rows = video_rows(job)
            samples, rate = media.read_audio(job.path)
            start = job.start or 0.0
            total = audio_features.chunk_count(len(samples), rate, start, rows)
            with _bar(total, f"{label} audio", args.no_progress) as bar:
                features = audio_features.extract_half(samples, rate, audio_predict, start=start, video_features=rows,
                                                       batch_size=args.audio_batch,
                                                       last_group_quirk=not args.correct_last_group,
                                                       progress=bar.update)
            del samples
            written.append(dataset.write_atomic(job.output(AUDIO_NAME), lambda tmp: np.save(tmp, features)))
            log.info("%s: %s (cut to %s video rows)", written[-1], features.shape, rows)
    note = f" ({audio_features.RANDOM_WARNING})" if args.random_weights else ""
    print(f"wrote {len(written)} feature files{note}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sources = [bool(args.game), bool(args.games), bool(args.video1 or args.video2)]
    if sum(sources) != 1:
        parser.error("give one input: --game, --games or --video1/--video2")
    if args.output and not (args.video1 or args.video2):
        parser.error("--output goes with --video1/--video2 (a game folder holds its own features)")
    if args.video_ini and not (args.video1 or args.video2):
        parser.error("--video_ini goes with --video1/--video2 (a game folder holds its video.ini)")
    if "audio" in args.features and not args.vggish_weights and not args.random_weights:
        parser.error("--vggish_weights is needed for audio features (or --random_weights, tests only)")
    if args.audio_batch < 1 or args.frame_batch < 1:
        parser.error("--audio_batch and --frame_batch must be positive")
    args.features = [kind for kind in FEATURE_KINDS if kind in args.features]
    runs.setup_process(args)
    try:
        return extract(args)
    except dataset.DataError as exc:
        log.debug("bad input", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return runs.EXIT_BAD_INPUT
    except OSError as exc:
        log.debug("write failed", exc_info=True)
        print(f"error: {exc.filename}: {exc.strerror or exc}; finished halves are kept", file=sys.stderr)
        return runs.EXIT_WRITE_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
