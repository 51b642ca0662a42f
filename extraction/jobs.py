"""The halves an extraction works on, and the extraction's names and settings; no TensorFlow.

What `python -m extraction.extract_features` checks before it starts TensorFlow: the inputs per half
(`{half}_HQ.mkv` with the game's `video.ini`, SoccerNet's LQ `{half}.mkv`, `.wav` files, or any file per half
with `--video1/--video2`), where each half's features go, which of them exist, and the streams the media
files hold. The extraction itself is `extraction.features`.
"""
from __future__ import annotations

import logging
import math
import os
import wave
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

import dataset
from base import errors, files, precision
from extraction import media

log = logging.getLogger("extract_features")

AUDIO_NAME, VIDEO_NAME = "VGGish", "ResNET_TF2"
FEATURE_KINDS = ("audio", "video")
VIDEO_INI = "video.ini"
FPS = 2.0
PRECISIONS = precision.choices("float32", "bfloat16")  # the extraction networks' arithmetic
CHANNEL_ORDERS = ("bgr", "rgb")       # colour order fed to ResNet (video_features.preprocess)
FRAME_BATCH = 64                      # SoccerNet's predict batch (video_features.BATCH_SIZE)


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


# ------------------------------------------------------------------------------------------------
# Finding and checking the inputs


def _half_file(folder: Path, half: int) -> Path:
    for name in (f"{half}_HQ.mkv", f"{half}.mkv", f"{half}_HQ.wav", f"{half}.wav"):
        if (folder / name).is_file():
            return folder / name
    raise errors.DataError(folder / f"{half}_HQ.mkv", f"no media for half {half} ({half}_HQ.mkv, {half}.mkv, "
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
        raise errors.DataError(ini, f"video.ini not found (the start of half {job.half} of {job.path.name}); "
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
                raise errors.DataError(path, "file not found")
    else:
        if args.game:
            folders = [Path(args.game)]
        else:
            root = dataset.data_root_for(args.games, args.SoccerNet_path)
            folders = [root / game for game in dataset.read_game_list(args.games)]
        for folder in folders:
            if not folder.is_dir():
                raise errors.DataError(folder, "game folder not found")
            pairs += [(half, _half_file(folder, half)) for half in dataset.HALVES]
    jobs = []
    video_ini = Path(args.video_ini) if args.video_ini else None
    for half, path in pairs:
        job = HalfJob(half, path, out=Path(args.output) if args.output else None)
        job.audio = "audio" in args.features
        job.video = "video" in args.features and not job.is_wav
        if "video" in args.features and job.is_wav and args.features == ["video"]:
            raise errors.DataError(path, "a .wav file has no video for --features video")
        _place(job, video_ini, args.no_video_ini)
        jobs.append(job)
    return jobs


def check_media(job: HalfJob) -> None:
    """The streams the job needs are there (headers only)."""
    if job.is_wav:
        _check_wav_header(job.path)
        return
    try:
        with av.open(str(job.path)) as container:
            if job.audio and not container.streams.audio:
                raise errors.DataError(job.path, "no audio stream")
            if job.video and not container.streams.video:
                raise errors.DataError(job.path, "no video stream")
    except av.FFmpegError as exc:
        raise errors.DataError(job.path, f"cannot open the media file ({exc})") from None


def _check_wav_header(path: Path) -> None:
    try:
        with wave.open(str(path), "rb") as handle:
            if handle.getsampwidth() != 2:
                raise errors.DataError(path, f"{8 * handle.getsampwidth()}-bit wav; 16-bit PCM expected")
    except (wave.Error, EOFError) as exc:
        raise errors.DataError(path, f"not a 16-bit PCM wav file ({exc})") from None


def media_streams(path: str | os.PathLike) -> set[str]:
    """The kinds of stream ("audio", "video") a media file holds, from its headers."""
    path = Path(path)
    if path.suffix.lower() in media.AUDIO_EXTENSIONS:
        _check_wav_header(path)
        return {"audio"}
    with media._open(path) as container:
        return {kind for kind, present in (("audio", container.streams.audio), ("video", container.streams.video))
                if present}


def _audio_seconds(job: HalfJob) -> float:
    """The audio's length from the headers (the wav's frame count, else the stream's or container's duration)."""
    if job.is_wav:
        with wave.open(str(job.path), "rb") as handle:
            return handle.getnframes() / float(handle.getframerate() or 1)
    with media._open(job.path) as container:
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base:
            return float(stream.duration * stream.time_base)
        return (container.duration or 0) / 1e6


def check_rows(job: HalfJob) -> None:
    """Each feature file of the job will have at least one row (one frame at 2 fps, one half-second audio
    chunk), from the headers; DataError naming the media file otherwise (before anything is written)."""
    start = job.start or 0.0
    if job.video and not media.frame_numbers(job.path, FPS, job.start, job.duration):
        raise errors.DataError(job.path, f"no frame to extract at {FPS:g} fps after {start:g} s (shorter than "
                                         "half a second, or truncated): no video features")
    if job.audio:
        seconds = _audio_seconds(job) - start
        if job.duration is not None:
            seconds = min(seconds, job.duration)
        if not math.isfinite(seconds) or seconds < 0.5:
            raise errors.DataError(job.path, f"less than one half-second chunk of audio after {start:g} s: "
                                             "no audio features")
        if video_rows(job) == 0:  # the rows the audio features are cut to
            raise errors.DataError(job.path, "no video frame to cut the audio features to (shorter than half a "
                                             "second, or truncated): no audio features")


def pending(jobs: list[HalfJob], overwrite: bool) -> list[HalfJob]:
    """The jobs with something to write: a feature file that exists is skipped (logged) unless
    `overwrite`; the media of each job left is checked (`check_media`, `check_rows`), and the folder of
    its features (`base.files.check_output_folder`)."""
    for job in jobs:
        for kind, name in (("audio", AUDIO_NAME), ("video", VIDEO_NAME)):
            if getattr(job, kind) and job.output(name).is_file() and not overwrite:
                log.info("%s exists: skipped", job.output(name))
                setattr(job, kind, False)
    todo = [job for job in jobs if job.audio or job.video]
    for folder in sorted({job.folder for job in todo}):
        files.check_output_folder(folder, "--output" if any(job.out is not None for job in todo) else "the game folder")
    for job in todo:
        check_media(job)
        check_rows(job)
    return todo


def video_rows(job: HalfJob) -> int | None:
    """Rows of the half's video features, which the audio features are cut to: the authors' file
    `{half}_ResNET_PCA512.npy` when present, else `{half}_ResNET_TF2.npy`, else the frames FrameCV's
    selection gives; None for a lone .wav."""
    for name, pca in (("ResNET", True), (VIDEO_NAME, False)):
        path = dataset.feature_file(job.folder, job.half, name, pca=pca)
        if path.is_file():
            try:
                return int(np.load(path, mmap_mode="r").shape[0])
            except (ValueError, EOFError, OSError) as exc:
                raise errors.DataError(path, f"cannot read the video features ({exc})") from None
    if job.is_wav:
        return None
    return media.frame_count_estimate(job.path, FPS, job.start, job.duration)
