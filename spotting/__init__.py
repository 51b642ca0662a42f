"""The spotting stage: per-second class probabilities over every half of a list of games (the library
behind ClassificationSecondBased.py).

- `games` (no TensorFlow): which games a run spots and where their outputs go: the game list or the one
  game folder, the run's job (`prepare`, `report`), the original's batches of a half's windows
  (`windows_of_half`), the per-half arrays and results_spotting.json of a game, the timeline plots.
- `spot` (TensorFlow): the model over the windows of each half, per frame (networks/sliding.py) or window
  by window; the script imports it once TensorFlow is started.
- `combine` (no TensorFlow): late fusion (methods 1 and 2) of a video and an audio run's outputs.
"""
