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
from typing import Callable

import keras

from . import pooling as P

PACKAGE = P.PACKAGE

POOLINGS = ("CNN", "FC", "MAX", "AVERAGE", "RVLAD", "VLAD", "SOFTDBOW", "NETFV")
BN_MODES = P.BN_MODES
ARCHITECTURE_NAMES = ("VideoNetwork", "AudioNetwork", "AudioVideoArchi4", "AudioVideoArchi5",
                      "AudioVideoArchi6", "AudioVideoArchi7", "AudioVideoArchi8")
# Paper method number -> original class name (methods 3..7 have a graph of their own).
METHODS = {3: "AudioVideoArchi4", 4: "AudioVideoArchi5", 5: "AudioVideoArchi6", 6: "AudioVideoArchi7",
           7: "AudioVideoArchi8"}
# Methods 1 and 2: late fusion of two trained single-stream models (fusion.py).
LATE_FUSION = {1: "Archi9Prediction", 2: "Archi3Prediction"}
STREAMS = {"VideoNetwork": ("video",), "AudioNetwork": ("audio",)}
STREAMS.update({name: ("video", "audio") for name in ARCHITECTURE_NAMES[2:]})
# The fusion classes of VD networks.py that build NetRVLAD whatever --network says.
ALWAYS_RVLAD = ("AudioVideoArchi4", "AudioVideoArchi6", "AudioVideoArchi7", "AudioVideoArchi8")


def resolve_architecture(name: str) -> str:
    """The original class name for a class name or a paper method number.

    Args:
        name: `"AudioVideoArchi5"`, or a method number 3..7 as `"4"`, `"method4"`, `"method 4"`,
            `"method_4"`.
    Returns:
        The class name, a key of `ARCHITECTURES`.
    Raises:
        ValueError: for methods 1 and 2 (late fusion, see fusion.py) and for unknown names; the message
            lists the valid names.
    """
    text = str(name).strip()
    if text in ARCHITECTURE_NAMES:
        return text
    number = text.lower()
    if number.startswith("method"):
        number = number[len("method"):].strip(" _-")
    if number.isdigit() and int(number) in METHODS:
        return METHODS[int(number)]
    if text in LATE_FUSION.values() or (number.isdigit() and int(number) in LATE_FUSION):
        raise ValueError(f"{name!r} is a late-fusion method (1 = Archi9Prediction, 2 = Archi3Prediction) that "
                         "combines two trained single-stream models (VideoNetwork and AudioNetwork); it has "
                         "no graph of its own and is handled by fusion.py")
    raise ValueError(f"unknown architecture {name!r}; valid: {', '.join(ARCHITECTURE_NAMES)}, or a paper "
                     f"method number 3..7 ({', '.join(f'{k} = {v}' for k, v in METHODS.items())})")


def resolve_pooling(name: str) -> str:
    """The `--network` name in the original's upper-case spelling.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    text = str(name).strip().upper()
    if text not in POOLINGS:
        raise ValueError(f"unknown pooling {name!r}; valid: {', '.join(POOLINGS)}")
    return text


def streams_of(architecture: str) -> tuple[str, ...]:
    """The input streams an architecture reads: ("video",), ("audio",) or ("video", "audio")."""
    return STREAMS[resolve_architecture(architecture)]


@dataclass(frozen=True)
class BuildConfig:
    """Everything `build_model` needs; stored in the model's config (and so in the `.keras` file)."""

    architecture: str
    num_frames: int
    video_dim: int = 512
    audio_dim: int = 512
    pooling: str = "RVLAD"
    vlad_k: int = 64
    output_dim: int = 512
    num_classes: int = 4
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

    def pooling_for(self, architecture: str) -> str:
        """The pooling the architecture really builds (NetRVLAD for Archi4/6/7/8 unless honoured)."""
        return "RVLAD" if architecture in ALWAYS_RVLAD and not self.honour_pooling else self.pooling


# ------------------------------------------------------------------------------------------------
# Shared pieces


def make_pooling(pooling: str, *, vlad_k: int, output_dim: int, bn_mode: str = "batch",
                 bn_momentum: float = P.BN_MOMENTUM, pool_size: int = P.SOCCERNET_POOL_SIZE,
                 name: str | None = None) -> keras.layers.Layer:
    """A pooling layer for a `--network` name (see `POOLINGS`).

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
    loupe = {"RVLAD": P.NetRVLAD, "VLAD": P.NetVLAD, "SOFTDBOW": P.SoftDBoW, "NETFV": P.NetFV}
    if pooling in loupe:
        return loupe[pooling](vlad_k, output_dim, bn_mode=bn_mode, bn_momentum=bn_momentum, name=name)
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


def _single_stream(stream: str):
    def graph(inputs: dict, c: BuildConfig, architecture: str):
        x = _pooled(inputs[stream], stream, c.pooling_for(architecture), c)
        return _logits(_dropout(x, c, "dropout"), c)
    return graph


def _archi4(inputs: dict, c: BuildConfig, architecture: str):
    # Method 3, VD AudioVideoArchi4: a full single-stream network per stream, logits averaged
    # (z = z_v/2 + z_a/2), one loss on the average.
    per_stream = []
    for stream in ("video", "audio"):
        x = _pooled(inputs[stream], stream, c.pooling_for(architecture), c)
        per_stream.append(_logits(_dropout(x, c, f"{stream}_dropout"), c, name=f"{stream}_logits"))
    return keras.layers.Average(name="logits", dtype="float32")(per_stream)


def _archi5(inputs: dict, c: BuildConfig, architecture: str):
    # Method 4, VD AudioVideoArchi5: dropout on each pooled stream, then concatenation and one Dense.
    dropped = [_dropout(_pooled(inputs[s], s, c.pooling_for(architecture), c), c, f"{s}_dropout")
               for s in ("video", "audio")]
    return _logits(keras.layers.Concatenate(name="concatenate")(dropped), c)


def _archi6(inputs: dict, c: BuildConfig, architecture: str):
    # Method 5, VD AudioVideoArchi6: concatenation of the pooled streams, then one dropout and one Dense.
    pooled = [_pooled(inputs[s], s, c.pooling_for(architecture), c) for s in ("video", "audio")]
    joined = keras.layers.Concatenate(name="concatenate")(pooled)
    return _logits(_dropout(joined, c, "dropout"), c)


def _early_fusion(width: Callable[[BuildConfig], int]):
    # Methods 6 and 7, VD AudioVideoArchi7 / AudioVideoArchi8: one pooling of the joined windows.
    def graph(inputs: dict, c: BuildConfig, architecture: str):
        joined = P.EarlyFusion(framewise=c.framewise_fusion, name="early_fusion")([inputs["video"],
                                                                                   inputs["audio"]])
        x = _pooled(joined, "fused", c.pooling_for(architecture), c, output_dim=width(c))
        return _logits(_dropout(x, c, "dropout"), c)
    return graph


_GRAPHS = {
    "VideoNetwork": _single_stream("video"),
    "AudioNetwork": _single_stream("audio"),
    "AudioVideoArchi4": _archi4,
    "AudioVideoArchi5": _archi5,
    "AudioVideoArchi6": _archi6,
    # Archi7: NetRVLAD(D=1024, O=1024) for D=O=512, i.e. twice the single-stream width.
    "AudioVideoArchi7": _early_fusion(lambda c: 2 * c.output_dim),
    "AudioVideoArchi8": _early_fusion(lambda c: c.output_dim),
}


@keras.saving.register_keras_serializable(package=PACKAGE)
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
        inputs = {s: keras.Input((config.num_frames, dims[s]), name=s) for s in STREAMS[config.architecture]}
        logits = _GRAPHS[config.architecture](inputs, config, config.architecture)
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


def build_model(architecture: str, *, num_frames: int, video_dim: int = 512, audio_dim: int = 512,
                pooling: str = "RVLAD", vlad_k: int = 64, output_dim: int = 512, num_classes: int = 4,
                keep_prob: float = 0.6, bn_mode: str = "batch", honour_pooling: bool = False,
                framewise_fusion: bool = False, name: str | None = None, bn_momentum: float = P.BN_MOMENTUM,
                pool_size: int = P.SOCCERNET_POOL_SIZE) -> keras.Model:
    """An uncompiled model of one architecture.

    Args:
        architecture: an original class name or a paper method number 3..7 (see `resolve_architecture`).
        num_frames: frames per window N (window seconds x 2).
        video_dim, audio_dim: feature sizes of the streams.
        pooling: `--network` name (see `POOLINGS`); Archi4/6/7/8 ignore it unless `honour_pooling`.
        vlad_k: K of the LOUPE poolings.
        output_dim: O of the LOUPE poolings (Archi7 uses 2*O).
        num_classes: logits (4: background, card, subs, goal).
        keep_prob: dropout keep probability in training (rate 1 - keep_prob).
        bn_mode: "batch" (the original: batch statistics always, moving averages never updated) or
            "moving" (standard Keras batch norm).
        honour_pooling: let Archi4/6/7/8 build `pooling` instead of the original's NetRVLAD.
        framewise_fusion: methods 6/7 join aligned frames [v_t, a_t] instead of the original's time-axis
            concatenation.
        name: model name (default: the architecture's class name).
        bn_momentum: moving-average momentum of "moving" mode (slim's decay 0.999).
        pool_size: MAX/AVERAGE window (SoccerNet's classification code: 120).
    Returns:
        A `SpottingModel` taking {"video": (N, video_dim)} and/or {"audio": (N, audio_dim)} and returning
        float32 logits (batch_size, num_classes). Dropout is active only with `training=True`.
    Raises:
        ValueError: unknown architecture, pooling or bn_mode (the message lists the valid names).
    """
    return SpottingModel(architecture, num_frames, name=name, video_dim=video_dim, audio_dim=audio_dim,
                         pooling=pooling, vlad_k=vlad_k, output_dim=output_dim, num_classes=num_classes,
                         keep_prob=keep_prob, bn_mode=bn_mode, honour_pooling=honour_pooling,
                         framewise_fusion=framewise_fusion, bn_momentum=bn_momentum, pool_size=pool_size)


def _builder(architecture: str):
    def build(*, num_frames: int, **kwargs) -> keras.Model:
        return build_model(architecture, num_frames=num_frames, **kwargs)
    snake = "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in architecture).lstrip("_")
    build.__name__ = build.__qualname__ = f"build_{snake.replace('archi', '_archi').replace('__', '_')}"
    build.__doc__ = f"`build_model({architecture!r}, ...)`: see `build_model` for the arguments."
    return build


# Original class name -> builder taking the keyword arguments of `build_model` (without `architecture`).
ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {name: _builder(name) for name in ARCHITECTURE_NAMES}


def model_build_config(model: keras.Model) -> dict:
    """The `build_model` arguments of a model built (or loaded) by this package; {} for other models."""
    return dict(model.build_config) if isinstance(model, SpottingModel) else {}
