"""SoccerNet's ResNET_TF2 video features, `{half}_ResNET_TF2.npy`: 2048 values per half second, float32.

A reimplementation of SoccerNet's `Features/ExtractResNET_TF2.py` / `VideoFeatureExtractor.py`
(SilvioGiancola/SoccerNetv2-DevKit) with its frame grabber `FrameCV` (SoccerNet/DataLoader.py):

- the network: `keras.applications.resnet.ResNet152(include_top=True, weights='imagenet')` cut at its
  layer `avg_pool` (2048-d), not trainable;
- frames: `FrameCV(video, FPS=2, transform="crop", start, duration)` (their defaults: grabber
  "opencv", transform "crop"), `media.read_frames` here. For an HQ video SoccerNet passes
  `start_time_second` and `duration_second` of video.ini; for the LQ videos (`1.mkv`, `2.mkv`, already cut
  by `ConvertHQtoLQ.py`: `-ss start -t duration -r 25 -vf scale=-1:224`) no start or duration. A full
  45-minute half at 25 fps gives 5400 frames (frames 13, 25, 38, 50, ... of 67500);
- the "crop" transform: `imutils.resize(frame, height=224)` (width `int(w * 224 / h)`, OpenCV's
  INTER_AREA: `area_resize` here), then `off = int((W - 224) / 2)` columns cut from each side;
- colours: OpenCV's frames are BGR and go as they are into `keras.applications.resnet.preprocess_input`,
  which expects RGB (it flips to BGR and subtracts the ImageNet means); SoccerNet's features were
  computed on channel-swapped pictures. `channel_order="bgr"` (default) reproduces that, "rgb" is the
  order the ImageNet weights expect;
- `model.predict(frames, batch_size=64)`; float32 output, (frames, 2048).

What differs from SoccerNet v1's published `ResNET_PCA512` (what the authors trained on): those came
from SoccerNet v1's own extraction code (another ResNet-152 implementation and frame grabbing, not
this TF2 script) and a PCA to 512 whose fit was never released; neither can be reproduced, so these are the
ResNET_TF2 features of SoccerNet v2 (which `python -m extraction.fit_pca` can reduce with a PCA of its own).
Small differences from SoccerNet's own TF2 files remain possible: PyAV's FFmpeg and swscale versions against
OpenCV 3.4.11's, OpenCV's INTER_AREA upscaling kernel (only for videos under 224 lines), and a crop of odd width
(SoccerNet would give 225 columns and fail; 224 are kept here).
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Callable, Iterable

import keras
import numpy as np

from base import errors
from extraction import media
# The extraction networks' test-only warning and their compiled inference (`compiled_predict`) are
# audio_features'.
from extraction.audio_features import RANDOM_WARNING
from extraction.jobs import CHANNEL_ORDERS
from extraction.jobs import \
    FRAME_BATCH as BATCH_SIZE  # SoccerNet's predict batch
from extraction.jobs import PRECISIONS
from networks.precision import precision_scope

log = logging.getLogger("video_features")

SIZE = 224
DIM = 2048


# ------------------------------------------------------------------------------------------------
# SoccerNet's "crop" transform


def _area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) weights of OpenCV's INTER_AREA resize along one axis.

    Downscaling (imgproc/resize.cpp, computeResizeAreaTab): output pixel d averages the source interval
    [d s, (d + 1) s), s = source / target, each source pixel weighted by its overlap. Upscaling (OpenCV's
    INTER_AREA then uses linear weights): sx = floor(d s), fx = (d + 1) - (sx + 1) / s, fx = 0 if fx <= 0
    else its fractional part; weights 1 - fx at sx and fx at sx + 1, clamped to the edge.
    """
    weights = np.zeros((target, source), np.float64)
    scale = source / target
    if source == target:
        return np.eye(source)
    if scale >= 1:
        for d in range(target):
            begin = d * scale
            end = begin + scale
            cell = min(scale, source - begin)
            first = int(np.ceil(begin))
            last = min(int(np.floor(end)), source - 1)
            first = min(first, last)
            if first - begin > 1e-3:
                weights[d, first - 1] = (first - begin) / cell
            weights[d, first:last] = 1.0 / cell
            if end - last > 1e-3:
                weights[d, last] = min(min(end - last, 1.0), cell) / cell
        return weights
    inv = 1.0 / scale
    for d in range(target):
        sx = int(np.floor(d * scale))
        fx = (d + 1) - (sx + 1) * inv
        fx = 0.0 if fx <= 0 else fx - np.floor(fx)
        if sx >= source - 1:
            sx, fx = source - 1, 0.0
        weights[d, sx] += 1 - fx
        if fx:
            weights[d, sx + 1] += fx
    return weights


_WEIGHTS_CACHE: dict[tuple[int, int], np.ndarray] = {}


def _weights(source: int, target: int) -> np.ndarray:
    if (source, target) not in _WEIGHTS_CACHE:
        _WEIGHTS_CACHE[(source, target)] = _area_weights(source, target).astype(np.float32)
    return _WEIGHTS_CACHE[(source, target)]


def _resize_with(frame: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    h, w, c = frame.shape
    out = rows @ frame.astype(np.float32).reshape(h, w * c)           # (H', W * C)
    planes = np.ascontiguousarray(out.reshape(-1, w, c).transpose(0, 2, 1)).reshape(-1, w)
    out = (planes @ cols.T).reshape(rows.shape[0], c, cols.shape[0])  # (H', C, W')
    return np.clip(np.rint(out.transpose(0, 2, 1)), 0, 255).astype(np.uint8)


def area_resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a uint8 (H, W, C) picture as `cv2.resize(..., interpolation=cv2.INTER_AREA)`, rounded to
    uint8 (separable weights in float32; equal to OpenCV's up to its own rounding)."""
    h, w = frame.shape[:2]
    if (h, w) == (height, width):
        return frame
    return _resize_with(frame, _weights(h, height), _weights(w, width))


def soccernet_crop(frame: np.ndarray, size: int = SIZE) -> np.ndarray:
    """FrameCV's "crop" transform: resize to height 224 keeping the aspect ratio (imutils.resize: width
    int(w * 224 / h), INTER_AREA), then keep the central 224 columns (`off = int((W - 224) / 2)` from the
    left, as SoccerNet; 224 columns also when W - 224 is odd). Only the kept columns are computed."""
    h, w = frame.shape[:2]
    width = int(w * (size / float(h)))
    if width < size:
        raise ValueError(f"a {w}x{h} picture is narrower than {size} at height {size}")
    off = int((width - size) / 2)
    if h == size and w == width:
        return frame[:, off:off + size, :]
    return _resize_with(frame, _weights(h, size), _weights(w, width)[off:off + size])


def preprocess(frames: np.ndarray, channel_order: str = "bgr") -> np.ndarray:
    """`keras.applications.resnet.preprocess_input` (caffe mode: flip RGB to BGR, subtract the ImageNet
    means 103.939, 116.779, 123.68) on RGB uint8 frames; with "bgr" the frames are first put in OpenCV's
    BGR order, as SoccerNet fed them."""
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}")
    x = np.asarray(frames, np.float32)
    if channel_order == "bgr":
        x = x[..., ::-1]
    x = x[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
    return np.ascontiguousarray(x)


# ------------------------------------------------------------------------------------------------
# The network


def build_resnet(weights: str | os.PathLike | None = "imagenet", precision: str = "float32",
                 random_weights: bool = False):
    """ResNet-152 cut at `avg_pool` (2048-d), as SoccerNet's extractor.

    Args:
        weights: "imagenet" (Keras downloads them; needs the internet once), a weights file (.h5 or
            .weights.h5 of the whole ResNet152 with its top, or of the cut model), or None with
            `random_weights`.
        precision: "float32" or "bfloat16" (computed in bf16; the output is float32).
        random_weights: allow None weights: for tests only, logged as a warning.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if weights is None and not random_weights:
        raise ValueError("ResNet weights are needed (or random_weights=True for tests)")
    with precision_scope(precision):
        file = None if weights in (None, "imagenet") else Path(weights)
        if file is not None and not file.is_file():
            raise errors.DataError(file, "ResNet weights file not found")
        try:
            base = keras.applications.resnet.ResNet152(include_top=True, weights="imagenet" if weights == "imagenet"
                                                       else None, classes=1000)
        except Exception as exc:  # Keras's download: URL errors, proxies, a truncated file
            if weights != "imagenet":
                raise
            raise errors.DataError("--resnet_weights imagenet", "Keras could not download the ImageNet weights "
                                    f"({str(exc).splitlines()[0][:120]}); give a weights file") from None
        if file is not None:
            try:
                base.load_weights(str(file))
            except (ValueError, OSError, KeyError) as exc:
                # maybe the weights of the cut model
                cut = keras.Model(base.input, base.get_layer("avg_pool").output)
                try:
                    cut.load_weights(str(file))
                except (ValueError, OSError, KeyError):
                    raise errors.DataError(file, f"not ResNet-152 weights ({str(exc).splitlines()[0]})") from None
        elif weights is None:
            log.warning("ResNet-152: %s", RANDOM_WARNING)
        pooled = base.get_layer("avg_pool").output
        model = keras.Model(base.input, keras.layers.Activation("linear", dtype="float32", name="to_float32")(pooled))
        model.trainable = False
        return model


# ------------------------------------------------------------------------------------------------
# A half


def extract_frames(frames: Iterable[np.ndarray], predict: Callable[[np.ndarray], np.ndarray],
                   batch_size: int = BATCH_SIZE, channel_order: str = "bgr",
                   progress: Callable[[int], object] | None = None) -> np.ndarray:
    """Features of RGB frames: SoccerNet's crop, preprocess_input, the network, in batches."""
    out, batch = [], []

    def flush():
        if batch:
            out.append(predict(preprocess(np.stack(batch), channel_order)))
            if progress is not None:
                progress(len(batch))
            batch.clear()

    for frame in frames:
        batch.append(soccernet_crop(frame))
        if len(batch) == batch_size:
            flush()
    flush()
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, DIM), np.float32)


def extract_file(path: str | os.PathLike, predict, start: float | None = None, duration: float | None = None,
                 fps: float = 2.0, kept: list[int] | None = None, **kwargs) -> np.ndarray:
    """(frames, 2048) float32 of a video: `media.read_frames` with FrameCV's selection (`kept`, when the
    caller has it from `media.frame_numbers`), decoded in a thread of its own ahead of `extract_frames`
    (`media.ahead`: the decoder beside the network)."""
    frames = media.ahead(media.read_frames(path, fps=fps, start=start, duration=duration, kept=kept))
    with contextlib.closing(frames):  # the reader stopped and its file closed here, whatever extract_frames does
        return extract_frames(frames, predict, **kwargs)
