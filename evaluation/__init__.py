"""Spotting evaluation and the chunk classifier's metrics, the library behind compute_mAP.py.

Reproduces `compute_mAP.py` of Vanderplaetse & Dupont, "Improved Soccer Action Spotting Using Both Audio
and Video Streams" (CVPRW 2020), which produced the paper's spotting numbers (its functions
`get_spot_from_argmax`, `get_spot_from_Center`, `get_spot_from_NMS`, `mAP`, `computeAP`):

- Candidates, per class column p[0..n-1] of a prediction file and threshold theta, with p[-1] = p[n] = 0:
  segment starts are the j with p[j-1] < theta <= p[j], segment ends (exclusive) the j with
  p[j-1] > theta >= p[j], the i-th start paired with the i-th end. "argmax" (segment maximum) spots the
  first maximum of the segment; "center" spots floor((start + end) / 2) with the probability there;
  "nms" spots every i with 30 < i < n - 30, p[i] >= max(p[i+1:i+30]), p[i] > max(p[i-30:i]) and
  p[i] > theta (a fixed 60 s window). One spot per second and class.
- The paper's metric: per half and class, spots with a score > 0 in descending score; each takes the
  first not yet matched ground-truth event t in time order with t - delta/2 <= s < t + delta/2.
  All halves pooled per class, 11-point interpolated AP; mAP = mean over the class set's C classes (card,
  subs, goal in v1, the paper's; SoccerNet-v2's 17 with `--classes v2`: `base/classes.py`);
  Average-mAP = plain mean of the mAP over delta = 60, 55, ..., 5 s.
- The official metric of the `soccernet` package (`SoccerNet.Evaluation.ActionSpotting.evaluate`,
  version 1, and version 2 for the v2 class set, with its shown and unshown split: `engine_official`),
  computed on the same candidate spots: per half, each event in time order takes the
  unmatched spot of highest score within |s - t| <= delta/2 (at 2 frames per second, frames clipped to
  the package's 2-hour vectors); precision and recall at 200 confidence thresholds, its 11-point AP;
  Average-mAP = area under the mAP-delta curve (trapezoids over ascending delta, divided by the number
  of intervals).

Order among equal scores (both implementations, as the original's stable sorts): within a half, earlier
second first; pooled over halves, list order of the halves (game by game, half 1 then 2), then second.

Reproduction notes and defined behaviour where the original fails:
- The segment methods compare in two precisions, as the original's `get_spot_from_argmax` and
  `get_spot_from_Center` did: their `np.insert(p, 0, 0)` keeps the array's dtype, so the tests on p[j-1]
  (`< theta`, `> theta`) see theta rounded to the array's precision, while `np.append(p, 0)` adds an
  int64 zero and is float64, so the tests on p[j] (`>= theta`, `<= theta`) see theta exactly. For a
  float32 array this matters only where a probability equals float32(theta) for a theta that float32
  cannot represent (all default thresholds but 0.25, 0.5 and 0.75): at 0.2 (float32 rounds it up) such a
  value neither ends a segment nor starts one; at 0.95 (rounded down) it neither starts one nor, after
  a value above, lets a new one start. For a float64 array both sides compare exactly. NMS's
  `p[i] > theta` compares in float64, as NumPy 1.x (the authors' environment) did for two scalars.
- A probability exactly equal to the threshold can misalign starts and ends (quirk 6). The pairing
  is kept; where the original crashes, the result is defined: unpaired starts or ends are ignored, and
  an argmax pair whose end is not after its start gives no spot (a center pair still gives one).
- A class without ground-truth events has AP 0 (the original divides by zero when it has spots).
- The ground truth is per second (int of the event time) and is not clipped to the prediction length;
  predictions shorter or longer than the half, and empty halves, are valid input. Event times come from
  `labels.read_labels` (the annotation's `position` in milliseconds when present, else `gameTime`; the
  original used `gameTime` only, SoccerNet v1 labels have no `position`).
- Method "spots" scores arrays that already hold spots (`read_results_spotting`: -1 where none), every
  second with a score >= threshold; it lets other tools' results_spotting.json files be scored here:
  the official metric at the package's 0.5 s frames (as its reader: frame = int(2 * position / 1000),
  a later spot in the same frame replacing the earlier one), the paper's per second (spots floored
  to the second, two in the same second of a class merged into the higher, with a warning).

The vectorised implementation (`engine.evaluate`) runs on NumPy or TensorFlow over the whole grid (methods x
thresholds x deltas x halves x classes), on a GPU when TensorFlow runs it and sees one. `reference.evaluate_loop` is the
plain loop version of the paper's metric, kept as the reference for the tests; both give identical numbers.

Modules (none imports a face):
- `classification`: the chunk classifier's metrics (PR-AUC as TF1's, confusion matrix, reports).
- `candidates`: the grid's vocabulary (methods, thresholds, deltas, metrics), the argument checks and the
  reference candidate spots (`candidates`).
- `truth`: the ground truth of a game list.
- `outputs`: the on-disk layout of spotting outputs and the SoccerNet results_spotting.json files.
- `reference`: the paper's metric by plain loops (`evaluate_loop`).
- `engine_spots`, `engine`: the vectorised grid (`engine.evaluate`) on an array module `xp`.
- `backend`: that module, NumPy (`numpy_ops`: TensorFlow's operations the engine uses, in NumPy) or
  TensorFlow, and the automatic choice between them.
- `engine_official`: the package's version-2 details: its frames and visibility values, the closest event
  of each spot, the shown and unshown APs.
- `report`: averages, summaries, CSV and text tables.
- `plots`: the figures.
- `inputs`: what a compute_mAP.py run reads, all read and checked before TensorFlow may start.
- `evaluate`: what compute_mAP.py runs then (`run`): the scores, the chance baseline, the output files.
"""
