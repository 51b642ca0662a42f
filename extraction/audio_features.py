"""The authors' VGGish audio features, `{half}_VGGish.npy`: 512 values per half second, float64.

A reimplementation of Vanderplaetse & Dupont's `audio-features-extraction/` (their repository
bastienvanderplaetse/SoccerNetMultimodalActionSpotting: `extract_features.py`, `preprocess_sound.py`,
`vggish.py`, `vggish_params.py`), which used DTaoo's Keras port of VGGish and Google's
`mel_features.py` (tensorflow/models, research/audioset/vggish). Per half (`extractFeatures`):

1. the int16 samples of the half's audio, the first `start` seconds (video.ini) dropped
   (`wav_data[startTime * sr:]`), and only the first 45 minutes kept when the video features have
   exactly 5400 rows (`if numVideoFeatures == 5400: wav_data = wav_data[:45*60*sr]`);
2. consecutive, non-overlapping chunks of `int(0.5 * sr)` samples, `int(len / chunk)` of them;
3. per chunk (`preprocess_sound`): `/ 32768.0`, the mean of the channels, `resampy.resample` to
   16 kHz (its default `kaiser_best` filter), Google's log-mel spectrogram (`log_mel_spectrogram`:
   25 ms periodic-Hann windows every 10 ms, FFT length 512, |rfft|, 64 HTK-mel triangles from 125 to
   7500 Hz with the DC bin zeroed, `log(mel + 0.01)`), framed into examples of 46 frames with hop 46
   (their `vggish_params.py`: NUM_FRAMES 46, EXAMPLE_WINDOW/HOP_SECONDS 0.46 instead of 0.96): one
   46 x 64 patch per chunk;
4. the VGGish convolutions up to `conv4/conv4_2` (DTaoo's `vggish.py`: 3x3 convolutions, stride 1,
   'same' padding, ReLU; 2x2 max-pools, stride 2, 'same'; conv1 64, pool1, conv2 128, pool2,
   conv3/conv3_1 256, conv3/conv3_2 256, pool3, conv4/conv4_1 512, conv4/conv4_2 512; the same
   layers as Google's `vggish_slim.py`), then `GlobalAveragePooling2D` (their `tensorflowInit`);
5. the rows stacked into a float64 array (`np.zeros((total_seg, 512))`), cut to the number of video
   features.

The authors predicted 60 chunks at a time and wrote the last, incomplete group at the wrong rows;
`last_group_quirk` (default on) reproduces it, see `place_group_predictions`.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import h5py
import keras
import numpy as np
import resampy
import tensorflow as tf

from base import errors
from base.precision import keras_policy
from extraction.jobs import PRECISIONS

log = logging.getLogger("audio_features")

# vggish_params.py of the authors (Google's values but NUM_FRAMES and the example window/hop).
SAMPLE_RATE = 16000
STFT_WINDOW_LENGTH_SECONDS = 0.025
STFT_HOP_LENGTH_SECONDS = 0.010
NUM_BANDS = NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
NUM_FRAMES = 46
EXAMPLE_WINDOW_SECONDS = 0.46
EXAMPLE_HOP_SECONDS = 0.46
# extract_features.py, extractFeatures.
CHUNK_SECONDS = 0.5
GROUP = 60                 # `seg_num = 60`
FULL_HALF_FRAMES = 5400    # `if numVideoFeatures == 5400`
FULL_HALF_SECONDS = 45 * 60
DIM = 512

# (layer name, filters) of the convolutions kept, in order; None marks a 2x2 max-pool.
VGGISH_LAYERS = (("conv1", 64), ("pool1", None), ("conv2", 128), ("pool2", None),
                 ("conv3/conv3_1", 256), ("conv3/conv3_2", 256), ("pool3", None),
                 ("conv4/conv4_1", 512), ("conv4/conv4_2", 512))
CONV_LAYERS = tuple(name for name, filters in VGGISH_LAYERS if filters)


def keras_name(name: str) -> str:
    """The Keras 3 layer name of a VGGish layer (Keras 3 refuses '/': conv3/conv3_1 -> conv3_conv3_1)."""
    return name.replace("/", "_")
RANDOM_WARNING = "random weights: for tests only"


# ------------------------------------------------------------------------------------------------
# Log-mel front end (Google's mel_features.py, reimplemented, batched over chunks)


def hertz_to_mel(hertz):
    """HTK mel scale (mel_features.py, `hertz_to_mel`): 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log(1.0 + np.asarray(hertz, dtype=np.float64) / 700.0)


def mel_matrix(num_spectrogram_bins: int, sample_rate: float = SAMPLE_RATE, num_mel_bins: int = NUM_MEL_BINS,
               lower_hz: float = MEL_MIN_HZ, upper_hz: float = MEL_MAX_HZ) -> np.ndarray:
    """(num_spectrogram_bins, num_mel_bins) triangles, linear in mel (mel_features.py,
    `spectrogram_to_mel_matrix`): bins spread from 0 to Nyquist, num_mel_bins + 2 equally spaced mel
    edges, each band the positive part of min(rising, falling) slope; the DC row is zero."""
    nyquist = sample_rate / 2.0
    if not 0.0 <= lower_hz < upper_hz <= nyquist:
        raise ValueError(f"mel edges {lower_hz}..{upper_hz} Hz do not fit 0..{nyquist} Hz")
    bins_mel = hertz_to_mel(np.linspace(0.0, nyquist, num_spectrogram_bins))
    edges = np.linspace(hertz_to_mel(lower_hz), hertz_to_mel(upper_hz), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def frame_axis(data: np.ndarray, window: int, hop: int, axis: int = -1) -> np.ndarray:
    """Complete frames along `axis` (mel_features.py, `frame`: 1 + floor((n - window) / hop) frames, no
    padding), as a new axis before the window axis; a strided view."""
    data = np.moveaxis(np.asarray(data), axis, -1)
    n = data.shape[-1]
    count = 1 + (n - window) // hop
    if count < 1:
        return np.empty(data.shape[:-1] + (0, window), data.dtype)
    shape = data.shape[:-1] + (count, window)
    strides = data.strides[:-1] + (data.strides[-1] * hop, data.strides[-1])
    return np.lib.stride_tricks.as_strided(data, shape=shape, strides=strides, writeable=False)


def log_mel_spectrogram(waveforms: np.ndarray, sample_rate: float = SAMPLE_RATE) -> np.ndarray:
    """Log mel spectrogram of each row of `waveforms` (..., samples) -> (..., frames, 64)
    (mel_features.py, `log_mel_spectrogram` with the authors' parameters: window round(0.025 sr),
    hop round(0.010 sr), FFT length 2**ceil(log2(window)), periodic Hann, |rfft|, mel, log(x + 0.01))."""
    window = int(round(sample_rate * STFT_WINDOW_LENGTH_SECONDS))
    hop = int(round(sample_rate * STFT_HOP_LENGTH_SECONDS))
    fft_length = 2 ** int(np.ceil(np.log(window) / np.log(2.0)))
    hann = 0.5 - 0.5 * np.cos(2 * np.pi / window * np.arange(window))
    frames = frame_axis(waveforms, window, hop)
    magnitude = np.abs(np.fft.rfft(frames * hann, fft_length))
    mel = magnitude @ mel_matrix(magnitude.shape[-1], sample_rate)
    return np.log(mel + LOG_OFFSET)


def examples_from_log_mel(log_mel: np.ndarray) -> np.ndarray:
    """(..., frames, 64) -> (..., examples, 46, 64): `mel_features.frame` with the authors' example window
    and hop, round(0.46 / 0.010) = 46 frames each."""
    features_rate = 1.0 / STFT_HOP_LENGTH_SECONDS
    window = int(round(EXAMPLE_WINDOW_SECONDS * features_rate))
    hop = int(round(EXAMPLE_HOP_SECONDS * features_rate))
    framed = frame_axis(np.moveaxis(log_mel, -2, -1), window, hop)  # (..., 64, examples, window)
    return np.moveaxis(framed, -3, -1)


def chunk_patches(chunks: np.ndarray, sample_rate: int) -> np.ndarray:
    """The authors' `preprocess_sound` on a batch of chunks (batch, samples, channels) of int16:
    `/ 32768.0`, mean over channels, resampy to 16 kHz, log-mel, one 46 x 64 example each.

    Returns:
        (batch, 46, 64) float64.
    """
    data = chunks / 32768.0
    if data.ndim == 3:
        data = np.mean(data, axis=2)
    if sample_rate != SAMPLE_RATE:
        data = resampy.resample(data, sample_rate, SAMPLE_RATE, axis=-1)
    examples = examples_from_log_mel(log_mel_spectrogram(data, SAMPLE_RATE))
    if examples.shape[-3] < 1:
        raise ValueError(f"chunks of {chunks.shape[1]} samples at {sample_rate} Hz give no 46-frame example")
    # extract_features.py assigns the (1, 46, 64, 1) example into a (46, 64, 1) slot: the first one.
    return np.ascontiguousarray(examples[..., 0, :, :])


# ------------------------------------------------------------------------------------------------
# Segments and the 60-group quirk


def segment_plan(n_samples: int, sample_rate: int, start: float, video_features: int | None) -> tuple[int, int, int]:
    """Where the chunks of a half lie in its samples (extractFeatures' slicing).

    Args:
        n_samples: samples of the decoded half.
        sample_rate: its rate.
        start: seconds dropped at the beginning (video.ini).
        video_features: rows of the half's video features (the 5400 rule), or None.
    Returns:
        (first sample, chunk length int(0.5 sr), chunk count floor(kept / chunk)).
    """
    first = min(int(round(start * sample_rate)), n_samples)
    kept = n_samples - first
    if video_features == FULL_HALF_FRAMES:
        kept = min(kept, FULL_HALF_SECONDS * sample_rate)
    chunk = int(CHUNK_SECONDS * sample_rate)
    return first, chunk, kept // chunk


def place_group_predictions(total: int, group: int = GROUP) -> np.ndarray:
    """Which prediction each output row receives when chunks are predicted `group` at a time as the
    authors did (extract_features.py, extractFeatures).

    Their loop fills `data = np.zeros((60, 46, 64, 1))` with up to 60 chunks, predicts all 60 rows and
    writes `features[cur_seg - 60:cur_seg, :] = current_features`, `cur_seg` being the number of chunks
    done. Full groups land where they belong. For a last group of k = total % 60 chunks (k > 0),
    `cur_seg - 60 = total - 60`: rows total-60 .. total-60+k-1 get the features of chunks
    total-k .. total-1 (shifted back by 60 - k rows, overwriting correct rows), and rows
    total-60+k .. total-1 get the prediction of an all-zero input patch. With total < 60 their
    assignment raises (a 60-row block into fewer rows); that case is given the correct rows here.

    Returns:
        (total,) int array: the chunk index per row, or -1 for the zero patch's prediction.
    """
    rows = np.arange(total)
    k = total % group
    if k == 0 or total < group:
        return rows
    base = total - group
    rows[base:base + k] = np.arange(total - k, total)
    rows[base + k:] = -1
    return rows


# ------------------------------------------------------------------------------------------------
# The network and its weights


def build_vggish(precision: str = "float32"):
    """The Keras VGGish of the authors up to `conv4/conv4_2`, plus global average pooling: input
    (46, 64, 1), output (512,) float32. Layer names as DTaoo's port (and its `.h5` weights) with '/'
    written '_' (`keras_name`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    policy = keras_policy(precision)
    inputs = keras.Input((NUM_FRAMES, NUM_BANDS, 1), name="input_1")
    x = inputs
    for name, filters in VGGISH_LAYERS:
        if filters:
            x = keras.layers.Conv2D(filters, (3, 3), strides=(1, 1), activation="relu", padding="same",
                                    name=keras_name(name), dtype=policy)(x)
        else:
            x = keras.layers.MaxPooling2D((2, 2), strides=(2, 2), padding="same", name=keras_name(name),
                                          dtype=policy)(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d", dtype=policy)(x)
    outputs = keras.layers.Activation("linear", dtype="float32", name="to_float32")(x)
    return keras.Model(inputs, outputs, name="VGGish_conv4_2_gap")


def _decode(names) -> list[str]:
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in np.atleast_1d(names)]


def _h5_weights(path: Path) -> dict[str, list[np.ndarray]]:
    try:
        with h5py.File(path, "r") as handle:
            root = handle
            if "layer_names" not in root.attrs and "model_weights" in handle:
                root = handle["model_weights"]  # a whole-model save
            if "layer_names" not in root.attrs:
                raise errors.DataError(path, "not a Keras weights file (no 'layer_names' attribute)")
            layers = _decode(root.attrs["layer_names"])
            found = {}
            for name in CONV_LAYERS:
                if name not in layers or name not in root:
                    raise errors.DataError(path, f"layer {name} is missing")
                group = root[name]
                names = _decode(group.attrs.get("weight_names", []))
                kernels = [n for n in names if n.split("/")[-1].startswith("kernel")]
                biases = [n for n in names if n.split("/")[-1].startswith("bias")]
                if len(kernels) != 1 or len(biases) != 1:
                    raise errors.DataError(path, f"layer {name} holds {names}, not one kernel and one bias")
                found[name] = [np.asarray(group[kernels[0]]), np.asarray(group[biases[0]])]
            return found
    except OSError as exc:
        raise errors.DataError(path, f"cannot read the HDF5 weights ({exc})") from None


def _checkpoint_weights(path: Path) -> dict[str, list[np.ndarray]]:
    try:
        reader = tf.train.load_checkpoint(str(path))
    except (ValueError, tf.errors.OpError) as exc:
        raise errors.DataError(path, f"cannot read the checkpoint ({str(exc).splitlines()[0]})") from None
    available = reader.get_variable_to_shape_map()
    found = {}
    for name in CONV_LAYERS:
        pair = []
        for suffix in ("weights", "biases"):
            variable = f"vggish/{name}/{suffix}"
            if variable not in available:
                raise errors.DataError(path, f"variable {variable} is missing")
            pair.append(reader.get_tensor(variable))
        found[name] = pair
    return found


def load_vggish_weights(model, path: str | os.PathLike) -> list[str]:
    """Set the convolutions of `build_vggish`'s model from a weights file, layer by layer, shape-checked.

    Args:
        model: from `build_vggish`.
        path: DTaoo's Keras-port `vggish_audioset_weights_without_fc2.h5` (Keras 2 `save_weights`
            layout: root attribute `layer_names`, a group per layer with `weight_names` such as
            `conv1/kernel:0`; its fc layers are ignored), or Google's `vggish_model.ckpt` (variables
            `vggish/conv1/weights`, `vggish/conv1/biases`, ..., read with tf.train.load_checkpoint).
    Returns:
        The layer names set.
    Raises:
        DataError: unreadable file, a missing layer or variable, a wrong shape.
    """
    path = Path(path)
    if path.suffix.lower() in (".h5", ".hdf5"):
        if not path.is_file():
            raise errors.DataError(path, "weights file not found")
        weights = _h5_weights(path)
    else:
        if not (path.is_file() or Path(f"{path}.index").is_file()):
            raise errors.DataError(path, "weights not found (an .h5 file or a checkpoint prefix with .index)")
        weights = _checkpoint_weights(path)
    for name in CONV_LAYERS:
        layer = model.get_layer(keras_name(name))
        expected = [tuple(w.shape) for w in layer.get_weights()]
        got = [tuple(w.shape) for w in weights[name]]
        if expected != got:
            raise errors.DataError(path, f"layer {name}: shapes {got}, the network needs {expected}")
    for name in CONV_LAYERS:
        model.get_layer(keras_name(name)).set_weights([w.astype(np.float32) for w in weights[name]])
    return list(CONV_LAYERS)


def make_vggish(weights: str | os.PathLike | None, precision: str = "float32", random_weights: bool = False):
    """The network with its weights; random weights only when `random_weights` (tests), logged."""
    model = build_vggish(precision)
    if weights is not None:
        load_vggish_weights(model, weights)
    elif random_weights:
        log.warning("VGGish: %s", RANDOM_WARNING)
    else:
        raise ValueError("VGGish weights are needed (or random_weights=True for tests)")
    return model


def compiled_predict(model) -> Callable[[np.ndarray], np.ndarray]:
    """`model(x, training=False)` in one traced tf.function for any batch size; float32 output."""
    spec = tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32)

    @tf.function(input_signature=[spec], reduce_retracing=True)
    def run(x):
        return tf.cast(model(x, training=False), tf.float32)

    return lambda x: run(tf.constant(x, tf.float32)).numpy()


# ------------------------------------------------------------------------------------------------
# A half


def extract_half(samples: np.ndarray, sample_rate: int, predict: Callable[[np.ndarray], np.ndarray],
                 start: float = 0.0, video_features: int | None = None, batch_size: int = 256,
                 last_group_quirk: bool = True, progress: Callable[[int], object] | None = None) -> np.ndarray:
    """VGGish features of one half (extract_features.py, extractFeatures).

    Args:
        samples: int16 (n, channels) or (n,), the whole decoded half.
        sample_rate: its rate.
        predict: (batch, 46, 64, 1) float32 -> (batch, 512), e.g. `compiled_predict(make_vggish(...))`.
        start: seconds dropped at the beginning (video.ini).
        video_features: rows of the half's video features: the output is cut to it, and 5400 keeps only
            45 minutes; None: no cut.
        batch_size: chunks per network call; only that many chunks exist as float64 at a time (256
            chunks of 44.1 kHz stereo: 90 MB), the int16 samples are not copied.
        last_group_quirk: reproduce the authors' misplaced last group of 60 (`place_group_predictions`);
            False gives every chunk its own features.
        progress: called with the number of chunks done after each batch.
    Returns:
        (min(chunks, video_features), 512) float64.
    """
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    first, chunk, total = segment_plan(len(samples), sample_rate, start, video_features)
    rows = place_group_predictions(total) if last_group_quirk else np.arange(total)
    if total and total < GROUP and total % GROUP and last_group_quirk:
        log.debug("%d chunks, fewer than one group of %d: the authors' assignment fails there; rows kept "
                  "in place", total, GROUP)
    needed = total if video_features is None else min(total, video_features)
    rows = rows[:needed]
    wanted = np.zeros(total, bool)
    wanted[rows[rows >= 0]] = True  # chunks whose prediction lands in a kept row
    predicted = np.zeros((total, DIM), np.float32)
    for begin in range(0, total, batch_size):
        end = min(begin + batch_size, total)
        indices = np.flatnonzero(wanted[begin:end]) + begin
        if len(indices):
            block = samples[first + begin * chunk:first + end * chunk].reshape(end - begin, chunk, -1)
            patches = chunk_patches(block[indices - begin], sample_rate)[..., None].astype(np.float32)
            predicted[indices] = predict(patches)
        if progress is not None:
            progress(end - begin)
    features = np.zeros((needed, DIM), np.float64)  # the authors' np.zeros((total_seg, 512)), cut
    features[rows >= 0] = predicted[rows[rows >= 0]]
    if np.any(rows < 0):
        features[rows < 0] = predict(np.zeros((1, NUM_FRAMES, NUM_BANDS, 1), np.float32))[0]
    return features


def chunk_count(n_samples: int, sample_rate: int, start: float = 0.0, video_features: int | None = None) -> int:
    """Chunks `extract_half` goes through for a half of `n_samples` samples (its progress total)."""
    return segment_plan(n_samples, sample_rate, start, video_features)[2]
