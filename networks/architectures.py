"""The networks of Vanderplaetse & Dupont (CVPRW 2020, VD `networks.py`) as Keras functional models.

Single stream: `VideoNetwork`, `AudioNetwork` (pooling -> dropout -> Dense(num_classes)), the SoccerNet
head. Fusion trained end to end (paper method number -> original class):
  3 `AudioVideoArchi4`  each stream pooled, dropped out and classified; the two logits averaged;
  4 `AudioVideoArchi5`  each stream pooled and dropped out; concatenated; one Dense;
  5 `AudioVideoArchi6`  each stream pooled; concatenated; dropout; one Dense;
  6 `AudioVideoArchi7`  the input windows joined (`EarlyFusion`); one pooling of width 2*output_dim;
  7 `AudioVideoArchi8`  the same with a pooling of width output_dim.
Methods 1 and 2 (`Archi9Prediction`, `Archi3Prediction`) combine two separately trained single-stream
models after the fact; they have no graph here (see the top-level `fusion.py`).

Faithful by default: Archi4/6/7/8 build NetRVLAD whatever pooling is asked for (`honour_pooling=True`
builds the requested one, with the requested K), and methods 6/7 join the streams along the time axis
(`framewise_fusion=True` joins the aligned frames instead).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import keras
import tensorflow as tf

from base.classes import DEFAULT as DEFAULT_CLASSES, class_set

from . import loupe, pooling as P
from .names import ALWAYS_RVLAD, BN_MODES, SINGLE_STREAM, resolve_architecture, resolve_pooling, streams_of
from .precision import precision_scope


@dataclass(frozen=True)
class BuildConfig:
    """Everything that defines a model; stored in the model's config (and so in the `.keras` file).

    Attributes:
        architecture: an original class name or a paper method number 3..7 (`names.resolve_architecture`).
        num_frames: frames per window N (window seconds x 2).
        video_dim, audio_dim: feature sizes of the streams.
        pooling: `--network` name (`names.POOLINGS`); Archi4/6/7/8 ignore it unless `honour_pooling`.
        vlad_k: K of the LOUPE poolings.
        output_dim: O of the LOUPE poolings (Archi7 uses 2*O).
        classes: the class set (`base.classes`): "v1" (background, card, subs, goal; the default, and what a
            saved model without the field is) or "v2" (background and SoccerNet-v2's 17 classes).
        num_classes: logits, the class set's width (4 for v1, 18 for v2); None: from `classes`.
        keep_prob: dropout keep probability in training (rate 1 - keep_prob).
        bn_mode: "batch" (the original: batch statistics always, moving averages never updated) or
            "moving" (standard Keras batch norm).
        honour_pooling: let Archi4/6/7/8 build `pooling` instead of the original's NetRVLAD.
        framewise_fusion: methods 6/7 join aligned frames [v_t, a_t] instead of the original's time-axis
            concatenation.
        bn_momentum: moving-average momentum of "moving" mode (slim's decay 0.999).
        pool_size: MAX/AVERAGE window (SoccerNet's classification code: 120).
    """

    architecture: str
    num_frames: int
    video_dim: int = 512
    audio_dim: int = 512
    pooling: str = "RVLAD"
    vlad_k: int = 64
    output_dim: int = 512
    classes: str = DEFAULT_CLASSES
    num_classes: int | None = None
    keep_prob: float = 0.6
    bn_mode: str = "batch"
    honour_pooling: bool = False
    framewise_fusion: bool = False
    bn_momentum: float = P.BN_MOMENTUM
    pool_size: int = P.SOCCERNET_POOL_SIZE

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "architecture", resolve_architecture(self.architecture))
        set_(self, "pooling", resolve_pooling(self.pooling))
        if self.bn_mode not in BN_MODES:
            raise ValueError(f"unknown bn_mode {self.bn_mode!r}; valid: {', '.join(BN_MODES)}")
        width = class_set(self.classes).num_classes
        if self.num_classes is None:
            set_(self, "num_classes", width)
        elif self.num_classes != width:
            raise ValueError(f"num_classes {self.num_classes!r} is not the width of the {self.classes} classes ({width})")
        for field in ("num_frames", "video_dim", "audio_dim", "vlad_k", "output_dim", "num_classes", "pool_size"):
            value = getattr(self, field)
            if int(value) != value or int(value) < 1:
                raise ValueError(f"{field} must be a positive integer, got {value!r}")
            set_(self, field, int(value))
        if not 0.0 < float(self.keep_prob) <= 1.0:
            raise ValueError(f"keep_prob must be in (0, 1], got {self.keep_prob!r}")
        for field in ("keep_prob", "bn_momentum"):
            set_(self, field, float(getattr(self, field)))
        for field in ("honour_pooling", "framewise_fusion"):
            set_(self, field, bool(getattr(self, field)))

    @property
    def built_pooling(self) -> str:
        """The pooling the architecture really builds (NetRVLAD for Archi4/6/7/8 unless honoured)."""
        return "RVLAD" if self.architecture in ALWAYS_RVLAD and not self.honour_pooling else self.pooling


# ------------------------------------------------------------------------------------------------
# Shared pieces


def make_pooling(pooling: str, *, vlad_k: int, output_dim: int, bn_mode: str = "batch",
                 bn_momentum: float = P.BN_MOMENTUM, pool_size: int = P.SOCCERNET_POOL_SIZE,
                 name: str | None = None) -> keras.layers.Layer:
    """A pooling layer for a `--network` name (see `names.POOLINGS`).

    Args:
        pooling: "CNN", "FC", "MAX", "AVERAGE", "RVLAD", "VLAD", "SOFTDBOW" or "NETFV" (any case).
        vlad_k: clusters of the LOUPE poolings.
        output_dim: width of the LOUPE poolings (the simple ones have their own, from the window).
        bn_mode, bn_momentum: batch-norm behaviour of the LOUPE poolings (see `pooling.BatchNorm`).
        pool_size: window of MAX and AVERAGE.
        name: layer name.
    Returns:
        A layer mapping (batch_size, max_samples, feature_size) to (batch_size, width).
    """
    pooling = resolve_pooling(pooling)
    learnable = {"RVLAD": loupe.NetRVLAD, "VLAD": loupe.NetVLAD, "SOFTDBOW": loupe.SoftDBoW, "NETFV": loupe.NetFV}
    if pooling in learnable:
        return learnable[pooling](vlad_k, output_dim, bn_mode=bn_mode, bn_momentum=bn_momentum, name=name)
    if pooling in ("MAX", "AVERAGE"):
        return P.TemporalPooling(pooling.lower(), pool_size=pool_size, name=name)
    if pooling == "CNN":
        return P.ConvPooling(name=name)
    return P.FCPooling(name=name)


def _pooled(x, stream: str, pooling: str, c: BuildConfig, output_dim: int | None = None):
    layer = make_pooling(pooling, vlad_k=c.vlad_k, output_dim=output_dim or c.output_dim, bn_mode=c.bn_mode,
                         bn_momentum=c.bn_momentum, pool_size=c.pool_size, name=f"{stream}_pooling")
    return layer(x)


def _dropout(x, c: BuildConfig, name: str):
    # tf.nn.dropout(keep_prob=0.6) in training; keep_prob 1 at validation, test and prediction.
    return keras.layers.Dropout(1.0 - c.keep_prob, name=name)(x)


def _logits(x, c: BuildConfig, name: str = "logits"):
    # contrib.layers.fully_connected(num_outputs=4, activation_fn=None): Glorot-uniform kernel, zero bias.
    # Float32 whatever the global dtype policy, so that the logits and the loss stay in float32.
    return keras.layers.Dense(c.num_classes, name=name, dtype="float32")(x)


# ------------------------------------------------------------------------------------------------
# The graphs: each takes the dict of input tensors and the build config, and returns the logits.


def _single_stream(inputs: dict, c: BuildConfig):
    (stream,) = SINGLE_STREAM[c.architecture]
    x = _pooled(inputs[stream], stream, c.built_pooling, c)
    return _logits(_dropout(x, c, "dropout"), c)


def _archi4(inputs: dict, c: BuildConfig):
    # Method 3, VD AudioVideoArchi4: a full single-stream network per stream, logits averaged
    # (z = z_v/2 + z_a/2), one loss on the average.
    per_stream = []
    for stream in ("video", "audio"):
        x = _pooled(inputs[stream], stream, c.built_pooling, c)
        per_stream.append(_logits(_dropout(x, c, f"{stream}_dropout"), c, name=f"{stream}_logits"))
    return keras.layers.Average(name="logits", dtype="float32")(per_stream)


def _archi5(inputs: dict, c: BuildConfig):
    # Method 4, VD AudioVideoArchi5: dropout on each pooled stream, then concatenation and one Dense.
    dropped = [_dropout(_pooled(inputs[s], s, c.built_pooling, c), c, f"{s}_dropout")
               for s in ("video", "audio")]
    return _logits(keras.layers.Concatenate(name="concatenate")(dropped), c)


def _archi6(inputs: dict, c: BuildConfig):
    # Method 5, VD AudioVideoArchi6: concatenation of the pooled streams, then one dropout and one Dense.
    pooled = [_pooled(inputs[s], s, c.built_pooling, c) for s in ("video", "audio")]
    joined = keras.layers.Concatenate(name="concatenate")(pooled)
    return _logits(_dropout(joined, c, "dropout"), c)


def _early_fusion(width: Callable[[BuildConfig], int]):
    # Methods 6 and 7, VD AudioVideoArchi7 / AudioVideoArchi8: one pooling of the joined windows.
    def graph(inputs: dict, c: BuildConfig):
        joined = P.EarlyFusion(framewise=c.framewise_fusion, name="early_fusion")([inputs["video"],
                                                                                   inputs["audio"]])
        x = _pooled(joined, "fused", c.built_pooling, c, output_dim=width(c))
        return _logits(_dropout(x, c, "dropout"), c)
    return graph


_GRAPHS = {
    "VideoNetwork": _single_stream,
    "AudioNetwork": _single_stream,
    "AudioVideoArchi4": _archi4,
    "AudioVideoArchi5": _archi5,
    "AudioVideoArchi6": _archi6,
    # Archi7: NetRVLAD(D=1024, O=1024) for D=O=512, i.e. twice the single-stream width.
    "AudioVideoArchi7": _early_fusion(lambda c: 2 * c.output_dim),
    "AudioVideoArchi8": _early_fusion(lambda c: c.output_dim),
}


@keras.saving.register_keras_serializable(package=P.PACKAGE)
class SpottingModel(keras.Model):
    """A functional model of one architecture, rebuilt from its build arguments when loaded.

    The config is the `BuildConfig` (architecture, frames, dimensions, pooling, K, widths, dropout,
    batch-norm mode, quirk switches), so a saved `.keras` file reloads into the same graph with the
    same behaviour, and `build_config` gives the arguments back.

    Inputs: a dict with one (batch_size, num_frames, dim) tensor per stream the architecture reads.
    Output: logits (batch_size, num_classes), float32.
    """

    def __init__(self, architecture: str, num_frames: int, name: str | None = None, **kwargs):
        config = BuildConfig(architecture=architecture, num_frames=num_frames, **kwargs)
        dims = {"video": config.video_dim, "audio": config.audio_dim}
        inputs = {s: keras.Input((config.num_frames, dims[s]), name=s) for s in streams_of(config.architecture)}
        logits = _GRAPHS[config.architecture](inputs, config)
        super().__init__(inputs=inputs, outputs=logits, name=name or config.architecture)
        self._build_config = config

    @property
    def build_config(self) -> dict:
        """The arguments of `build_model` that rebuild this model."""
        return asdict(self._build_config)

    def get_config(self):
        return {"name": self.name, **self.build_config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("trainable", "dtype"):  # added by Keras to some configs; not build arguments
            config.pop(key, None)
        return cls(**config)


# Every custom class of a saved model, given explicitly when loading one (`load_model`).
CUSTOM_OBJECTS = {cls.__name__: cls for cls in (P.BatchNorm, P.ContextGating, loupe.NetVLAD, loupe.NetRVLAD,
                                                loupe.SoftDBoW, loupe.NetFV, P.TemporalPooling, P.ConvPooling,
                                                P.FCPooling, P.EarlyFusion, SpottingModel)}


def build_model(architecture: str, *, num_frames: int, name: str | None = None, **options) -> keras.Model:
    """An uncompiled model of one architecture.

    Args:
        architecture, num_frames, **options: the fields of `BuildConfig` (which documents them and their
            defaults).
        name: model name (default: the architecture's class name).
    Returns:
        A `SpottingModel` taking {"video": (N, video_dim)} and/or {"audio": (N, audio_dim)} and returning
        float32 logits (batch_size, num_classes). Dropout is active only with `training=True`.
    Raises:
        ValueError: unknown architecture, pooling, bn_mode or option (the message lists the valid names).
    """
    return SpottingModel(architecture, num_frames, name=name, **options)


def model_build_config(model: keras.Model) -> dict:
    """The `build_model` arguments of a model built (or loaded) by this package; {} for other models."""
    return dict(model.build_config) if isinstance(model, SpottingModel) else {}


def load_model(path: str | Path) -> keras.Model:
    """A `.keras` model file saved by this project, with the project's layers named explicitly (no import
    for a side effect) and without its training configuration."""
    return keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True)


def with_policy(model: keras.Model, policy: str) -> keras.Model:
    """The same model rebuilt under a precision (`base.precision`'s words, e.g. "bfloat16" or Keras's
    "mixed_bfloat16": bfloat16 products, float32 weights and logits), holding the trained weights. The
    global policy is left as it was.

    Raises:
        ValueError: the model was not built by this package.
    """
    config = model_build_config(model)
    if not config:
        raise ValueError("only models built by this project's networks/ can change precision")
    with precision_scope(policy):
        copy = build_model(**config)
    copy.set_weights(model.get_weights())
    return copy


def input_signature(model: keras.Model) -> dict:
    """{stream: TensorSpec((None, N, dim))} of a model's inputs: compiled functions traced once for any
    batch size, so that the same graph (and the same kernels) runs whatever batch came first."""
    inputs = model.input if isinstance(model.input, dict) else {"video": model.input}
    return {name: tf.TensorSpec([None, *tensor.shape[1:]], tf.float32, name=name) for name, tensor in inputs.items()}


def logits_function(model: keras.Model) -> Callable:
    """A compiled inference function: {stream: (b, N, dim)} -> float32 logits (b, num_classes), batch norm
    and dropout in inference mode (batch norm still uses batch statistics in the original's "batch" mode).
    No optimizer or gradient state is built."""
    @tf.function(input_signature=[input_signature(model)])
    def logits(inputs):
        return tf.cast(model(inputs, training=False), tf.float32)

    return logits
