"""Networks of "Improved Soccer Action Spotting Using Both Audio and Video Streams" (Vanderplaetse &
Dupont, CVPRW 2020) and of the SoccerNet baseline, as Keras 3 models and serialisable layers.

Importing the package imports nothing (no TensorFlow); import the submodule that holds a name:

- `networks.names`, the vocabulary (no TensorFlow): `ARCHITECTURE_NAMES`: the original classes with a
  graph (VideoNetwork, AudioNetwork, AudioVideoArchi4..8); `METHODS`: paper method number 1..7 ->
  `Method` (class, where the streams meet, trained end to end or late fusion); `LATE_FUSION`: (1, 2);
  `TRAINED_MODELS`: table row -> class; `resolve_architecture(name)` (a class name or a method number
  3..7), `resolve_pooling(name)` (`POOLINGS`), `streams_of(architecture)`; `BN_MODES`: "batch" (the
  original) and "moving".
- `networks.architectures`, the models: `build_model(architecture, *, num_frames, name=None, **options)
  -> keras.Model`: an uncompiled model taking a dict of the streams it reads ({"video": (N, video_dim)},
  {"audio": (N, audio_dim)} or both) and returning float32 logits (batch_size, num_classes);
  `BuildConfig` documents the options. `model_build_config(model) -> dict`: the build arguments of a
  model, also after loading it (the model class `SpottingModel` stores them as its Keras config, so a
  `.keras` file rebuilds the same graph). `load_model(path)`: a saved `.keras` model, with
  `CUSTOM_OBJECTS` (every custom class) given explicitly; `with_policy(model, policy)`: the model rebuilt
  under a dtype policy with its weights; `logits_function(model)`: a compiled inference function (no
  optimizer state); `make_pooling(name, ...)`.
- The layers: `networks.loupe` (`NetVLAD`, `NetRVLAD`, `SoftDBoW`, `NetFV`, their base `LoupePooling`)
  and `networks.pooling` (`ContextGating`, `BatchNorm`, `TemporalPooling`, `ConvPooling`, `FCPooling`,
  `EarlyFusion`).
- `networks.kernels`: the forms the LOUPE layers' products and descriptors take per processor and
  precision; `set_xla_descriptor(enabled)`: NetVLAD's and NetRVLAD's descriptor compiled with XLA (off
  by default).
- `networks.sliding`: per-frame spotting of a whole half (`HalfSpotter`); `networks.optimizer`: the
  original's Adam; `networks.machine`: the processor's flags (no TensorFlow).

Layer names: "video_pooling", "audio_pooling" (or "fused_pooling" after "early_fusion" for methods 6/7),
"dropout" (or "video_dropout", "audio_dropout"), "concatenate", "logits" (method 3: "video_logits",
"audio_logits" averaged into "logits").
"""
