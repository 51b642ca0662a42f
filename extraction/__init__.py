"""The extraction stage: feature files from match videos, and the PCA of raw features.

Libraries: `media` (decoding, no TensorFlow), `audio_features` (the authors' VGGish), `video_features`
(SoccerNet's ResNET_TF2), `jobs` (the halves to work on, no TensorFlow), `features` (one extraction run),
`pca` (fitting, saving and applying a PCA of raw features).
Faces (run from the repository's folder): `python -m extraction.extract_features`,
`python -m extraction.spot_video`, `python -m extraction.fit_pca`, `python -m extraction.write_clip`.
"""
