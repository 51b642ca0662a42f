"""Networks of "Improved Soccer Action Spotting Using Both Audio and Video Streams" (Vanderplaetse &
Dupont, CVPRW 2020) and of the SoccerNet baseline, as Keras 3 models and serialisable layers.

The vocabulary (`networks.names`, no TensorFlow; importing `networks` loads only this part):
- `ARCHITECTURE_NAMES`: the original classes with a graph (VideoNetwork, AudioNetwork,
  AudioVideoArchi4..8); `METHODS`: paper method number 1..7 -> `Method` (class, where the streams meet,
  trained end to end or late fusion); `LATE_FUSION`: (1, 2); `TRAINED_MODELS`: table row -> class.
- `resolve_architecture(name)` (a class name or a method number 3..7), `resolve_pooling(name)`
  (`POOLINGS`), `streams_of(architecture)`; `BN_MODES`: "batch" (the original) and "moving".

The models (Keras and TensorFlow, imported on first use of one of these names):
- `build_model(architecture, *, num_frames, name=None, **options) -> keras.Model`: an uncompiled model
  taking a dict of the streams it reads ({"video": (N, video_dim)}, {"audio": (N, audio_dim)} or both)
  and returning float32 logits (batch_size, num_classes); `BuildConfig` documents the options.
- `model_build_config(model) -> dict`: the build arguments of a model, also after loading it (the model
  class `SpottingModel` stores them as its Keras config, so a `.keras` file rebuilds the same graph).
- `load_model(path)`: a saved `.keras` model, with `CUSTOM_OBJECTS` (every custom class) given
  explicitly; `with_policy(model, policy)`: the model rebuilt under a dtype policy with its weights;
  `logits_function(model)`: a compiled inference function (no optimizer state).
- The layers: `NetVLAD`, `NetRVLAD`, `SoftDBoW`, `NetFV`, `ContextGating`, `BatchNorm`,
  `TemporalPooling`, `ConvPooling`, `FCPooling`, `EarlyFusion`; `make_pooling(name, ...)`;
  `set_xla_descriptor(enabled)`: NetVLAD's and NetRVLAD's descriptor compiled with XLA (off by default).

Layer names: "video_pooling", "audio_pooling" (or "fused_pooling" after "early_fusion" for methods 6/7),
"dropout" (or "video_dropout", "audio_dropout"), "concatenate", "logits" (method 3: "video_logits",
"audio_logits" averaged into "logits").
"""
from __future__ import annotations

import importlib

from .names import (ALWAYS_RVLAD, ARCHITECTURE_NAMES, BN_MODES, LATE_FUSION, METHODS, POOLINGS, SINGLE_STREAM,
                    TRAINED_MODELS, Method, resolve_architecture, resolve_pooling, streams_of)

# Names served by the Keras modules, imported when first asked for.
_KERAS = {
    "architectures": ("BuildConfig", "SpottingModel", "build_model", "input_signature", "load_model", "logits_function",
                      "make_pooling", "model_build_config", "with_policy"),
    "pooling": ("BatchNorm", "ContextGating", "ConvPooling", "EarlyFusion", "FCPooling", "LoupePooling", "NetFV",
                "NetRVLAD", "NetVLAD", "SoftDBoW", "TemporalPooling", "set_xla_descriptor"),
}
_WHERE = {name: module for module, names in _KERAS.items() for name in names}


def __getattr__(name: str):
    if name == "CUSTOM_OBJECTS":
        from .architectures import SpottingModel
        from .pooling import CUSTOM_OBJECTS as layers

        value = {**layers, "SpottingModel": SpottingModel}
    elif name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'networks' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = ["ALWAYS_RVLAD", "ARCHITECTURE_NAMES", "BN_MODES", "CUSTOM_OBJECTS", "LATE_FUSION", "METHODS", "POOLINGS",
           "SINGLE_STREAM", "TRAINED_MODELS", "Method", "resolve_architecture", "resolve_pooling", "streams_of",
           *_WHERE]
