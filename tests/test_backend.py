"""The evaluation engine on NumPy and on TensorFlow (`evaluation.backend`): the same report, number for
number, on grids that reach every path (ties, values equal to a threshold, thresholds at 0, NMS edges,
mixed dtypes, empty and short halves, half-second spots, SoccerNet-v2's shown and unshown split); the
automatic choice; and compute_mAP.py scoring without starting TensorFlow."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compute_mAP as cm
from base.classes import V2
from evaluation import backend, candidates, engine, engine_spots, outputs
from runtime import process

process.start_tensorflow()  # as compute_mAP.py's main does when it chooses TensorFlow

TOP = Path(__file__).resolve().parent.parent
F32 = np.float32


def same_on_both(predictions, ground_truth, **kwargs) -> dict:
    on_numpy = engine.evaluate(predictions, ground_truth, backend="numpy", **kwargs)
    on_tensorflow = engine.evaluate(predictions, ground_truth, backend="tensorflow", **kwargs)
    assert json.dumps(on_numpy, sort_keys=True) == json.dumps(on_tensorflow, sort_keys=True)
    return on_numpy


def random_halves(rng, halves, classes=3, quantise=None, dtypes=(F32,)):
    """Bumps with jitter (or quantised values, which hit the thresholds exactly and tie), empty and short
    halves, events past the predictions."""
    predictions, truth = [], []
    for h in range(halves):
        n = int(rng.choice([0, 25, int(rng.integers(80, 400))]))
        t = np.arange(n)
        p = np.zeros((n, 1 + classes))
        for c in range(1, classes + 1):
            x = 0.2 * rng.random(n) ** 3
            for _ in range(int(rng.integers(0, 6))):
                x = np.maximum(x, rng.uniform(0.1, 1) * np.exp(-((t - rng.uniform(0, max(n, 1))) / 8) ** 2))
            p[:, c] = np.round(x * quantise) / quantise if quantise else x
        predictions.append(p.astype(dtypes[h % len(dtypes)]))
        truth.append(tuple(np.sort(rng.uniform(0, n + 30, int(rng.integers(0, 5)))) for _ in range(classes)))
    return predictions, truth


@pytest.mark.parametrize("seed, quantise, dtypes", [(0, None, (F32,)), (1, 10, (F32,)),
                                                    (2, 20, (F32, np.float64, np.float16))])
def test_both_engines_give_the_same_report(seed, quantise, dtypes):
    predictions, truth = random_halves(np.random.default_rng(seed), 8, quantise=quantise, dtypes=dtypes)
    report = same_on_both(predictions, truth, thresholds=(0.9, 0.5, 0.3, 0.1, 0.0), deltas=(60, 20, 5, 1))
    assert report["soccernet"]["average_mAP"]["argmax"][2] > 0  # the grid holds matches, not only zeros
    same_on_both(predictions, truth, methods=("spots",), thresholds=(0.0, 0.5), metric="paper")


def test_both_engines_on_half_second_spots_and_v2_visibility():
    rng = np.random.default_rng(7)
    predictions, truth = random_halves(rng, 4, classes=17)
    shown = [tuple(rng.random(len(e)) < 0.7 for e in half) for half in truth]
    report = same_on_both(predictions, truth, classes=V2, visibility=shown, methods=("argmax", "nms"),
                          thresholds=(0.5, 0.2), deltas=(5, 1))
    assert "average_mAP_unshown" in report["soccernet"]
    frames = [np.where(rng.random((2 * len(p), 18)) < 0.02, rng.random((2 * len(p), 18)), -1.0) for p in predictions]
    same_on_both(frames, truth, classes=V2, visibility=shown, methods=("spots",), thresholds=(0.0,),
                 metric="soccernet", spot_rate=2, deltas=(5, 1))


def test_both_engines_extract_the_same_candidates():
    predictions, _ = random_halves(np.random.default_rng(3), 6, quantise=20, dtypes=(F32, np.float64))
    thresholds = (0.95, 0.5, 0.2, 0.0)
    on = {name: [np.asarray(x) for x in engine_spots.extract_spots(predictions, candidates.CANDIDATE_METHODS,
                                                                   thresholds, backend.ops(name))]
          for name in ("numpy", "tensorflow")}
    assert len(on["numpy"][0]) > 20
    for mine, theirs in zip(on["numpy"], on["tensorflow"]):
        np.testing.assert_array_equal(mine, theirs)


def test_the_choice(monkeypatch):
    monkeypatch.delenv(backend.ENVIRONMENT, raising=False)
    assert backend.choose("numpy", 10 ** 12) == "numpy" and backend.choose("tensorflow", 0) == "tensorflow"
    assert backend.choose(None, 1000) == "numpy"
    assert backend.choose(None, backend.STARTED_CELLS) == "tensorflow"  # TensorFlow is started in this process
    with monkeypatch.context() as m:
        m.delitem(sys.modules, "tensorflow")  # as in a fresh process: its start-up counts
        assert backend.choose(None, backend.STARTED_CELLS) == "numpy"
        assert backend.choose(None, backend.NEW_CELLS) == "tensorflow"
    monkeypatch.setenv(backend.ENVIRONMENT, "tensorflow")
    assert backend.choose(None, 0) == "tensorflow" and backend.choose("numpy", 0) == "numpy"
    monkeypatch.setenv(backend.ENVIRONMENT, "torch")
    with pytest.raises(ValueError, match=backend.ENVIRONMENT):
        backend.choose(None, 0)
    # (halves of 100 and 50 seconds, 3 classes) x 2 methods x 5 thresholds
    assert backend.cells([np.zeros((100, 4)), np.zeros((50, 4))], 2, 5) == 150 * 3 * 10


def small_set(root: Path):
    rng = np.random.default_rng(5)
    games = ["league/2016-2017/a", "league/2016-2017/b"]
    for game in games:
        annotations = [{"gameTime": f"{h} - {m:02d}:{s:02d}", "label": label}
                       for h in (1, 2) for m, s, label in ((1, 10, "soccer-ball"), (3, 5, "y-card"), (4, 40, "subs"))]
        (root / game).mkdir(parents=True)
        (root / game / "Labels.json").write_text(json.dumps({"annotations": annotations}))
        for half in (1, 2):
            p = rng.random((330, 4)).astype(F32) ** 6
            path = outputs.prediction_file(root / "pred", game, "m", half)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, p)
    np.save(root / "list.npy", np.array(games))
    return root / "list.npy"


def test_compute_mAP_scores_without_tensorflow_and_the_same_with_it(tmp_path):
    list_path = small_set(tmp_path)
    argv = ["--testing", str(list_path), "--predictions", str(tmp_path / "pred"), "--prefix", "m", "--no_plots",
            "--thresholds", "0.5", "0.2", "--loglevel", "WARNING"]
    script = ("import sys, compute_mAP; code = compute_mAP.main(sys.argv[1:]); "
              "print('tensorflow' in sys.modules); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script, *argv, "--output", str(tmp_path / "numpy")], cwd=TOP,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False"  # auto: NumPy for this small job, TensorFlow never imported
    assert cm.main(argv + ["--output", str(tmp_path / "tf"), "--backend", "tensorflow"]) == 0

    def models(name):
        return json.loads((tmp_path / name / "results.json").read_text())["models"]

    assert json.dumps(models("numpy"), sort_keys=True) == json.dumps(models("tf"), sort_keys=True)
    assert models("numpy")["m"]["paper"]["average_mAP"]["argmax"][0] > 0
