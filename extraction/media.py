"""Decoding of match videos for feature extraction: audio samples, frames at 2 fps, `video.ini` offsets.

The one owner of decoding (PyAV for containers, the standard `wave` module for `.wav`); no TensorFlow.

- `read_audio(path)`: int16 samples (n, channels) at the source rate, as the authors' `ffmpeg -i
  {half}_HQ.mkv {half}_HQ.wav` + `scipy.io.wavfile.read` gave them (audio-features-extraction/
  extract_features.py, `convert2wav` and `extractFeatures`), except that the first audio stream is
  decoded (ffmpeg picks the stream with the most channels).
- `read_frames(path, fps, start, duration)`: RGB frames selected exactly as SoccerNet's `FrameCV`
  (SoccerNet/DataLoader.py), which SoccerNet's `ExtractResNET_TF2.py` used for `*_ResNET_TF2.npy`.
- `ahead(items)`: an iterator (the frames) produced in a thread of its own, ahead of its consumer.
- `half_start(video_ini, half)`: the authors' `startTimes` (extract_features.py): line 2 / line 5 of
  `video.ini`, last whitespace-separated field.
- `write_test_clip` / `write_wav`: small synthetic media for tests and the README demo (a command line:
  `python -m extraction.write_clip`).

Errors are `errors.DataError(path, problem)`.
"""
from __future__ import annotations

import logging
import math
import os
import queue
import sys
import threading
import wave
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np

import dataset
from base import errors, files

log = logging.getLogger("media")

AUDIO_EXTENSIONS = (".wav",)
CLIP_EXTENSIONS = (".mkv", ".mp4", ".mov")  # containers `write_test_clip` writes (H.264/MPEG-4 video, AAC audio)


def _require_file(path: Path) -> None:
    if path.is_dir():
        raise errors.DataError(path, "is a folder, not a media file")
    if not path.is_file():
        raise errors.DataError(path, "file not found")


def _open(path: str | os.PathLike):
    path = Path(path)
    _require_file(path)
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise errors.DataError(path, f"cannot open the media file ({exc})") from None


# ------------------------------------------------------------------------------------------------
# Audio


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    try:
        with wave.open(str(path), "rb") as handle:
            if handle.getcomptype() != "NONE":
                raise errors.DataError(path, f"compressed wav ({handle.getcompname()}); 16-bit PCM expected")
            width, channels, rate = handle.getsampwidth(), handle.getnchannels(), handle.getframerate()
            if width != 2:
                raise errors.DataError(path, f"{8 * width}-bit wav; 16-bit PCM expected")
            raw = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError) as exc:
        raise errors.DataError(path, f"not a 16-bit PCM wav file ({exc})") from None
    samples = np.frombuffer(raw, dtype="<i2").astype(np.int16, copy=False)
    return samples.reshape(-1, channels), rate


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """All samples of the first audio stream as interleaved int16.

    Returns:
        (samples of shape (n, channels), sample rate). `.wav` files are read with the standard library
        (16-bit PCM only); other containers are decoded with PyAV and converted to s16 at the source rate
        and channel layout by av's AudioResampler (libswresample, as ffmpeg's wav conversion).
    Raises:
        DataError: missing or unreadable file, no audio stream, an unsupported format or layout.
    """
    path = Path(path)
    if path.suffix.lower() in AUDIO_EXTENSIONS:
        _require_file(path)
        return _read_wav(path)
    with _open(path) as container:
        if not container.streams.audio:
            raise errors.DataError(path, "no audio stream")
        stream = container.streams.audio[0]
        rate, channels = stream.rate, stream.channels
        if not rate or not channels:
            raise errors.DataError(path, "audio stream without a sample rate or channels")
        try:
            resampler = av.AudioResampler(format="s16", layout=stream.layout, rate=rate)
        except (av.FFmpegError, ValueError) as exc:
            raise errors.DataError(path, f"unsupported audio layout {stream.layout.name} ({exc})") from None
        # One buffer grown by doubling: no list of chunks plus a concatenated copy.
        expected = int((container.duration or 0) / 1e6 * rate) + rate
        buffer = np.empty((max(expected, rate), channels), np.int16)
        filled = 0

        def append(frames):
            nonlocal buffer, filled
            for out in frames:
                block = out.to_ndarray().reshape(-1, channels)
                if filled + len(block) > len(buffer):
                    grown = np.empty((max(2 * len(buffer), filled + len(block)), channels), np.int16)
                    grown[:filled] = buffer[:filled]
                    buffer = grown
                buffer[filled:filled + len(block)] = block
                filled += len(block)

        try:
            for frame in container.decode(stream):
                append(resampler.resample(frame))
            append(resampler.resample(None))
        except (av.FFmpegError, ValueError) as exc:
            raise errors.DataError(path, f"cannot decode the audio ({exc})") from None
    return buffer[:filled], int(rate)


def write_wav(path: str | os.PathLike, samples: np.ndarray, rate: int) -> Path:
    """Write int16 samples (n,) or (n, channels) as a 16-bit PCM wav file."""
    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        raise ValueError(f"int16 samples expected, got {samples.dtype}")
    samples = samples.reshape(len(samples), -1)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(samples.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(int(rate))
        handle.writeframes(samples.astype("<i2").tobytes())
    return Path(path)


# ------------------------------------------------------------------------------------------------
# Video


def _video_stream(container, path):
    if not container.streams.video:
        raise errors.DataError(path, "no video stream")
    return container.streams.video[0]


def _nominal_fps(stream) -> float:
    # OpenCV 3.4's CAP_PROP_FPS (cap_ffmpeg_impl.hpp, get_fps): the stream's avg_frame_rate, else the
    # guessed rate.
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return 0.0


def video_duration(path: str | os.PathLike) -> float:
    """The container duration in seconds as moviepy reports it (SoccerNet's `getDuration`): ffmpeg's
    `Duration: HH:MM:SS.ss` line, which is the container duration rounded to 1/100 s."""
    with _open(path) as container:
        _video_stream(container, path)
        if container.duration is None:
            raise errors.DataError(path, "the container gives no duration")
        return _centiseconds(container.duration)


def _centiseconds(duration_us: int) -> float:
    # ffmpeg's av_dump_format adds 5000 us before printing hundredths: rounding to 1/100 s.
    return ((int(duration_us) + 5000) // 10000) / 100.0


def _count_video_frames(container, stream) -> int:
    """Frames of the stream without decoding: the header's count, else the demuxed packets."""
    if stream.frames:
        return int(stream.frames)
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size:
                count += 1
        container.seek(0)
    except (av.FFmpegError, OSError, ValueError) as exc:  # a truncated or corrupt file
        raise errors.DataError(container.name, f"cannot read the video packets, truncated or corrupt? ({exc})") from None
    return count


def frame_selection(frames_read: int, time_second: float, fps_video: float, fps: float = 2.0,
                    start: float | None = 0.0, duration: float | None = None) -> tuple[float, list[int]]:
    """SoccerNet's `FrameCV.__init__` selection, as arithmetic (SoccerNet/DataLoader.py, class FrameCV).

    FrameCV reads every frame, numbering them from 1 (`i_frame += 1` before the tests); it skips frames
    with `i_frame < fps_video * start`, and with `i_frame > fps_video * (start + duration)`, and keeps
    those with `i_frame % (fps_video / FPS) < 1`. If it read fewer frames than
    `int(time_second * fps_video)` by more than one (`numframe - (i_frame + 1) > 1`), it sets
    `fps_video = (i_frame + 1) / time_second` and reads the video again.

    Returns:
        (the fps_video finally used, the kept 1-based frame numbers).
    """
    numframe = int(time_second * fps_video)
    if numframe - (frames_read + 1) > 1:
        fps_video = (frames_read + 1) / time_second
    drop = fps_video / fps
    kept = []
    for i_frame in range(1, frames_read + 1):
        if start is not None and i_frame < fps_video * start:
            continue
        if duration is not None and i_frame > fps_video * ((start or 0.0) + duration):
            continue
        if i_frame % drop < 1:
            kept.append(i_frame)
    return fps_video, kept


def _selection(container, stream, path, fps, start, duration):
    fps_video = _nominal_fps(stream)
    if fps_video <= 0:
        raise errors.DataError(path, "the video stream gives no frame rate")
    if container.duration is None:
        raise errors.DataError(path, "the container gives no duration")
    time_second = _centiseconds(container.duration)
    frames = _count_video_frames(container, stream)
    return frame_selection(frames, time_second, fps_video, fps, start, duration)


def frame_numbers(path: str | os.PathLike, fps: float = 2.0, start: float | None = 0.0,
                  duration: float | None = None) -> list[int]:
    """The 1-based numbers of the frames `read_frames` gives (FrameCV's selection), from the container's
    frame count (or its packets), without decoding."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        return _selection(container, stream, path, fps, start, duration)[1]


def frame_count_estimate(path: str | os.PathLike, fps: float = 2.0, start: float | None = 0.0,
                         duration: float | None = None) -> int:
    """How many frames `read_frames` gives, without decoding."""
    return len(frame_numbers(path, fps, start, duration))


def read_frames(path: str | os.PathLike, fps: float = 2.0, start: float | None = 0.0,
                duration: float | None = None, kept: list[int] | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 frames (H, W, 3) of the first video stream, the ones SoccerNet's FrameCV keeps.

    Every frame is decoded from the beginning (no seeking, as FrameCV); the selection is
    `frame_selection` (FrameCV's rule, the frame numbers counted from 1). FrameCV's second reading when
    the video has fewer frames than its duration says is replaced by counting the frames first
    (header or demuxed packets). Frames are converted as OpenCV 3.4 does (swscale, bicubic, ITU-R
    BT.601 matrix), in RGB order: OpenCV gives BGR, which callers reproducing SoccerNet must flip.
    `kept`: the selection if the caller has it already (`frame_numbers` of the same arguments), so
    that the file is not demuxed again to count its frames.
    """
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        if kept is None:
            _, kept = _selection(container, stream, path, fps, start, duration)
        wanted = set(kept)
        last = kept[-1] if kept else 0
        stream.thread_type = "AUTO"
        i_frame = 0
        try:
            for frame in container.decode(stream):
                i_frame += 1
                if i_frame > last:
                    break
                if i_frame in wanted:
                    yield frame.to_ndarray(format="rgb24", src_colorspace="ITU601", interpolation="BICUBIC")
        except (av.FFmpegError, ValueError) as exc:
            raise errors.DataError(path, f"cannot decode the video ({exc})") from None
    finally:
        container.close()


# ------------------------------------------------------------------------------------------------
# video.ini


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


_END = object()


def ahead(items: Iterable, depth: int = 16) -> Iterator:
    """`items` (e.g. `read_frames`) produced in a thread of their own, up to `depth` ahead of the consumer,
    so that decoding runs beside the network. The same items in the same order; an exception of the
    producer is raised here, where its item would have come; a consumer that stops early (or fails) stops
    the producer and closes `items` (its file), in the producer's thread."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as error:  # noqa: B902  (raised again in the consumer's thread)
            put(_Failure(error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        if not sys.is_finalizing():  # at interpreter exit the daemon producer cannot run to its end
            thread.join()


def _video_ini_field(video_ini_path: str | os.PathLike, line_number: int, what: str) -> float:
    path = Path(video_ini_path)
    if not path.is_file():
        raise errors.DataError(path, "video.ini not found (the start offsets of the halves)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.DataError(path, f"cannot read video.ini ({exc})") from None
    if len(lines) < line_number or not lines[line_number - 1].split():
        raise errors.DataError(path, f"line {line_number} ({what}) is missing")
    field = lines[line_number - 1].split()[-1]
    try:
        value = float(field)
    except ValueError:
        raise errors.DataError(path, f"line {line_number} ({what}): {field!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise errors.DataError(path, f"line {line_number} ({what}): {field!r} is not a time in seconds")
    return value


def half_start(video_ini_path: str | os.PathLike, half: int) -> float:
    """Start offset (seconds) of a half in the game's `video.ini`, as the authors read it
    (audio-features-extraction/extract_features.py, `startTimes`: `int(lines[1].split()[-1])` for half
    1, `lines[4]` for half 2). The value is returned as a float; the authors' `int()` refused a
    fractional one, SoccerNet's configparser reading (`float(config[vid]["start_time_second"])`)
    accepts it."""
    if half not in dataset.HALVES:
        raise ValueError(f"half must be 1 or 2, got {half}")
    return _video_ini_field(video_ini_path, 2 if half == 1 else 5, f"start_time_second of half {half}")


def half_duration(video_ini_path: str | os.PathLike, half: int) -> float | None:
    """`duration_second` of a half (line 3 / line 6 of `video.ini`, SoccerNet's `ExtractResNET_TF2.py`
    passes it to FrameCV), or None when the file has no such line."""
    line_number = 3 if half == 1 else 6
    path = Path(video_ini_path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if len(lines) < line_number or "duration" not in lines[line_number - 1]:
        return None
    return _video_ini_field(path, line_number, f"duration_second of half {half}")


# ------------------------------------------------------------------------------------------------
# Synthetic media


def _video_codec() -> str:
    for name in ("libx264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - absent encoder
            continue
    raise RuntimeError("PyAV's FFmpeg has neither libx264 nor mpeg4")


def write_test_clip(path: str | os.PathLike, seconds: float, fps: int = 25, size: tuple[int, int] = (320, 180),
                    tone_hz: float | None = 440.0, sample_rate: int = 44100, channels: int = 2) -> Path:
    """Write a synthetic clip: a moving coloured picture (libx264, else mpeg4) and a sine tone (AAC).

    `tone_hz=None` writes no audio stream. The audio covers the video's length (AAC's priming samples are
    dropped by the decoder). The container follows the suffix (`.mkv`, `.mp4`).
    """
    path = Path(path)
    check_clip_request(path, seconds, fps, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    return files.write_atomic(path, lambda temporary: _write_clip(temporary, seconds, fps, size, tone_hz,
                                                                    sample_rate, channels))


def check_clip_request(path: Path, seconds: float, fps: int = 25, size: tuple[int, int] = (320, 180)) -> None:
    """What `write_test_clip` refuses before writing: DataError for the file (a folder, an unknown
    container suffix, a parent that is a file), ValueError for a length or size it cannot encode."""
    path = Path(path)
    if path.is_dir():
        raise errors.DataError(path, "is a folder; give the clip's file name")
    if path.suffix.lower() not in CLIP_EXTENSIONS:
        raise errors.DataError(path, f"unknown clip extension {path.suffix or '(none)'!r}; "
                                     f"one of {', '.join(CLIP_EXTENSIONS)}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise errors.DataError(path, f"cannot be written: {parent} is a file")
            break
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds * fps >= 1):
        raise ValueError(f"seconds must be finite and at least one frame (1/{fps} s), got {seconds}")
    width, height = size
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"size must be two even numbers of pixels >= 2 (yuv420p), got {width} x {height}")


def _write_clip(path: Path, seconds: float, fps: int, size: tuple[int, int], tone_hz: float | None,
                sample_rate: int, channels: int) -> None:
    width, height = size
    n_frames = int(round(seconds * fps))
    with av.open(str(path), "w") as container:
        video = container.add_stream(_video_codec(), rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = None
        if tone_hz is not None:
            audio = container.add_stream("aac", rate=sample_rate)
            audio.layout = "stereo" if channels == 2 else "mono" if channels == 1 else f"{channels}c"
        y, x = np.mgrid[0:height, 0:width]
        for index in range(n_frames):
            t = index / fps
            picture = np.empty((height, width, 3), np.uint8)
            picture[..., 0] = (x + 40 * t * 8) % 256
            picture[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
            picture[..., 2] = int(255 * (0.5 + 0.5 * math.sin(2 * math.pi * t / 2)))
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if audio is not None:
            total = int(math.ceil(seconds * sample_rate)) + 1024
            block = 1024
            for begin in range(0, total, block):
                n = min(block, total - begin)
                t = (begin + np.arange(n)) / sample_rate
                tone = (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
                planes = np.repeat(tone[None, :], channels, axis=0)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes), format="fltp",
                                                   layout=audio.layout.name)
                frame.sample_rate = sample_rate
                frame.pts = begin
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode(None):
                container.mux(packet)
