"""Networks of "Improved Soccer Action Spotting Using Both Audio and Video Streams" (Vanderplaetse &
Dupont, CVPRW 2020) and of the SoccerNet baseline, as Keras 3 models and serialisable layers.

Public API:
- `build_model(architecture, *, num_frames, video_dim=512, audio_dim=512, pooling="RVLAD", vlad_k=64,
  output_dim=512, num_classes=4, keep_prob=0.6, bn_mode="batch", honour_pooling=False,
  framewise_fusion=False, name=None, bn_momentum=0.999, pool_size=120) -> keras.Model`: an uncompiled
  model taking a dict of the streams it reads ({"video": (N, video_dim)}, {"audio": (N, audio_dim)} or
  both) and returning float32 logits (batch_size, num_classes).
- `ARCHITECTURES`: original class name -> builder (`build_model` without its first argument).
- `METHODS`: paper method number 3..7 -> class name; `resolve_architecture(name)` accepts either (methods
  1 and 2 are late fusions of two trained models, handled by the top-level fusion.py).
- `POOLINGS`, `resolve_pooling(name)`: the `--network` names; `BN_MODES`: "batch" (the original) and
  "moving".
- `streams_of(architecture)`: ("video",), ("audio",) or ("video", "audio").
- `CUSTOM_OBJECTS`: every custom class; importing this package registers them all, so
  `keras.models.load_model(path)` works in a fresh process after `import networks`.
- `model_build_config(model) -> dict`: the build arguments of a model, also after loading it. The model
  class (`SpottingModel`) stores them as its Keras config, so the `.keras` file rebuilds the same graph
  with the same `bn_mode`, `honour_pooling` and `framewise_fusion`, and the weights load into it.

Layer names: "video_pooling", "audio_pooling" (or "fused_pooling" after "early_fusion" for methods 6/7),
"dropout" (or "video_dropout", "audio_dropout"), "concatenate", "logits" (method 3: "video_logits",
"audio_logits" averaged into "logits").
"""
from .architectures import (ALWAYS_RVLAD, ARCHITECTURE_NAMES, ARCHITECTURES, BN_MODES, LATE_FUSION, METHODS,
                            POOLINGS, BuildConfig, SpottingModel, build_model, make_pooling, model_build_config,
                            resolve_architecture, resolve_pooling, streams_of)
from .pooling import (BatchNorm, ContextGating, ConvPooling, EarlyFusion, FCPooling, LoupePooling, NetFV, NetRVLAD,
                      NetVLAD, SoftDBoW, TemporalPooling)
from .pooling import CUSTOM_OBJECTS as _LAYERS

CUSTOM_OBJECTS = {**_LAYERS, "SpottingModel": SpottingModel}

__all__ = ["ALWAYS_RVLAD", "ARCHITECTURE_NAMES", "ARCHITECTURES", "BN_MODES", "CUSTOM_OBJECTS", "LATE_FUSION",
           "METHODS", "POOLINGS", "BatchNorm", "BuildConfig", "ContextGating", "ConvPooling", "EarlyFusion",
           "FCPooling", "LoupePooling", "NetFV", "NetRVLAD", "NetVLAD", "SoftDBoW", "SpottingModel", "TemporalPooling",
           "build_model", "make_pooling", "model_build_config", "resolve_architecture", "resolve_pooling",
           "streams_of"]
