"""Training under tf.distribute: a mirrored step (2 logical CPU devices) and a two-process multi-worker
run (127.0.0.1 only) against one device on the same global batch; TF_CONFIG checks; the step-memory
formula and the --micro_batch auto choice."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ClassificationMinuteBased as cmb
import dataset
from training import batch_plans
from base import errors
from runtime import rundir
from conftest import TOP, two_at_a_time
from networks import architectures
from training import cluster, distribution

sys.path.insert(0, str(TOP / "tools"))
import launch_workers  # noqa: E402

# Dropout off (its masks cannot match between one device and shares of the batch), the checkpoint kept to
# read the weights and Adam's moments after the epoch.
EXACT = ("--architecture", "AudioVideoArchi5", "--dropout", "0", "--max_epoch", "1", "--keep_checkpoint")
BETA_1 = 0.9  # Keras Adam's default, as TF1's: after one step the first moment is (1 - beta_1) * gradient


def _argv(root: Path, tflog: Path, *extra) -> list[str]:
    return ["--training", str(root / "listgame_Train_3.npy"), "--validation", str(root / "listgame_Valid_2.npy"),
            "--testing", str(root / "listgame_Test_2.npy"), "--PCA", "--WindowSize", "20", "--VLAD_k", "4",
            "--tflog", str(tflog), "--no_progress", "--loglevel", "WARNING", *EXACT, *extra]


def _state(tflog: Path) -> dict:
    (run,) = Path(tflog).iterdir()
    (path,) = (run / "checkpoint").glob("last_state_*.npz")
    with np.load(path) as saved:
        state = {name: saved[name] for name in saved.files}
    with np.load(next(run.glob("predictions_*.npz"))) as saved:
        state["test logits"] = saved["logits"]
    state["csv"] = (run / "metrics.csv").read_text().splitlines()[1].split(",")
    return state


def _gradients(state: dict) -> dict:
    """name -> the gradient of the single optimizer step, from Adam's first moment."""
    out = {}
    for name in state:
        moment = "optimizer/adam/" + name[len("model/"):].replace("/", "_") + "_momentum"
        if name.startswith("model/") and moment in state:
            out[name] = state[moment] / (1 - BETA_1)
    return out


def _assert_same_step(one, other, weights_atol=1e-5):
    """One optimizer step on the same global batch: the same loss, gradients within 1e-5 of each variable's
    largest component, weights within `weights_atol` wherever Adam's update is well conditioned
    (|gradient| >= 1e-5; below that, Adam with epsilon 1e-8 turns float32 summation-order noise into
    visible differences), and the test logits after it."""
    train_loss = rundir.CSV_FIELDS.index("train_loss")
    assert float(one["csv"][train_loss]) == pytest.approx(float(other["csv"][train_loss]), rel=1e-5)
    gradients, theirs = _gradients(one), _gradients(other)
    assert len(gradients) == len(theirs) == 16  # every trainable variable of the two NetRVLAD streams and the head
    for name, gradient in gradients.items():
        scale = np.abs(gradient).max()
        np.testing.assert_allclose(theirs[name], gradient, atol=1e-5 * scale, rtol=0, err_msg=name)
        conditioned = np.abs(gradient) >= 1e-5
        np.testing.assert_allclose(other[name][conditioned], one[name][conditioned], atol=weights_atol, rtol=0,
                                   err_msg=name)
    np.testing.assert_allclose(other["test logits"], one["test logits"], atol=1e-4)


@pytest.fixture(scope="module")
def chunks(tiny_root) -> int:
    split = dataset.Split(tiny_root / "listgame_Train_3.npy", video_features="ResNET", audio_features="VGGish",
                          pca=True)
    return len(split.chunk_index(20))


@pytest.fixture(scope="module")
def one_device(tiny_root, tmp_path_factory, chunks) -> dict:
    """One optimizer step over all 6 training halves on one device: the whole step at once, and in the
    two pieces that two replicas' shares are."""
    out = {}
    for key, micro in (("whole", "0"), ("pieces", str(-(-chunks // 2)))):
        tflog = tmp_path_factory.mktemp(f"one_device_{key}")
        assert cmb.main(_argv(tiny_root, tflog, "--batch_size", "6", "--micro_batch", micro)) == 0
        out[key] = _state(tflog)
    return out


@pytest.fixture(scope="module")
def mirrored(tiny_root, tmp_path_factory) -> dict:
    """The same step under --distribute mirrored on 2 logical CPU devices (in a fresh process: the logical
    devices must be set before TensorFlow's runtime starts), with and without synchronised batch norm."""
    tflogs = {key: tmp_path_factory.mktemp(f"mirrored_{key}") for key in ("sync", "no_sync")}
    runs = [_argv(tiny_root, tflogs["sync"], "--batch_size", "6", "--micro_batch", "0", "--distribute", "mirrored",
                  "--replicas", "2"),
            _argv(tiny_root, tflogs["no_sync"], "--batch_size", "6", "--micro_batch", "0", "--distribute", "mirrored",
                  "--replicas", "2", "--no_sync_bn")]

    def run(argv):  # one strategy per process
        return subprocess.run([sys.executable, str(TOP / "ClassificationMinuteBased.py"), *argv, "--loglevel", "INFO"],
                              capture_output=True, text=True, timeout=300, cwd=TOP)

    for done, sync in zip(two_at_a_time(run, runs), ("synchronised across replicas", "per replica")):
        assert done.returncode == 0, done.stderr[-3000:]
        assert "--distribute mirrored: 2 replicas" in done.stderr and f"statistics {sync}" in done.stderr
    return {key: _state(tflog) for key, tflog in tflogs.items()}


def test_mirrored_step_with_synchronised_batch_norm_equals_one_device(one_device, mirrored):
    """2 replicas, each half of the chunks, batch-norm statistics all-reduced: the step of one device
    taking the whole step at once."""
    _assert_same_step(one_device["whole"], mirrored["sync"])


def test_mirrored_step_without_synchronisation_equals_one_device_in_pieces(one_device, mirrored):
    """Unsynchronised, each replica normalises its own share: the step of one device taking the same
    shares as micro-batches; and not the whole-step one (the statistics do differ)."""
    _assert_same_step(one_device["pieces"], mirrored["no_sync"])
    gradient, other = _gradients(one_device["whole"]), _gradients(mirrored["no_sync"])
    assert max(np.abs(gradient[n] - other[n]).max() / np.abs(gradient[n]).max() for n in gradient) > 1e-3


def test_two_workers_train_two_steps_in_step_with_one_process(tiny_root, tmp_path):
    """Two --distribute multiworker processes on 127.0.0.1 (tools/launch_workers.py) train two steps:
    both end with the same weights bit for bit (their fingerprints), equal to a one-process run of the
    same global batches within tolerance (after two Adam steps, float32 rounding differences of
    near-zero gradients amplified by Adam's epsilon: at most a tenth of the learning rate)."""
    single, multi = tmp_path / "single", tmp_path / "multi"
    assert cmb.main(_argv(tiny_root, single, "--batch_size", "3", "--micro_batch", "0")) == 0
    out = io.StringIO()
    status = launch_workers.launch([str(TOP / "ClassificationMinuteBased.py"),
                                    *_argv(tiny_root, multi, "--batch_size", "3", "--micro_batch", "0",
                                           "--distribute", "multiworker", "--loglevel", "INFO")],
                                   workers=2, timeout=240, out=out)
    text = out.getvalue()
    assert status == 0, text[-3000:]
    fingerprints = {line.split("]")[0]: line.split("fingerprint ")[1].split()[0]
                    for line in text.splitlines() if "weights fingerprint" in line}
    assert sorted(fingerprints) == ["[worker 0", "[worker 1"] and len(set(fingerprints.values())) == 1
    assert len(list(multi.iterdir())) == 1  # only the chief wrote a run folder
    one, two = _state(single), _state(multi)
    train_loss = rundir.CSV_FIELDS.index("train_loss")
    assert float(two["csv"][train_loss]) == pytest.approx(float(one["csv"][train_loss]), rel=1e-4)
    for name in one:
        if name.startswith("model/"):
            np.testing.assert_allclose(two[name], one[name], atol=1e-3, rtol=0, err_msg=name)
    np.testing.assert_allclose(two["test logits"], one["test logits"], atol=1e-2)


def test_bad_tf_config_exits_2_before_anything_is_written(tiny_root, tmp_path, monkeypatch, capsys):
    for value, problem in (("", "needs the TF_CONFIG"), ("{", "not JSON"),
                           ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}',
                            "not in the cluster"),
                           ('{"cluster": {"ps": ["127.0.0.1:1"]}, "task": {"type": "ps", "index": 0}}',
                            "unknown job")):
        monkeypatch.setenv("TF_CONFIG", value)
        assert cmb.main(_argv(tiny_root, tmp_path / "runs", "--distribute", "multiworker")) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: TF_CONFIG: ") and problem in err[0], err
    assert not (tmp_path / "runs").exists()


def test_tf_config_roles():
    two = cluster.local_cluster(2, ports=[5001, 5002])
    assert two[1] == {"cluster": {"worker": ["127.0.0.1:5001", "127.0.0.1:5002"]}, "task": {"type": "worker", "index": 1}}
    assert [cluster.is_chief(c) for c in two] == [True, False]
    with_chief = {"cluster": {"chief": ["h:1"], "worker": ["h:2"]}, "task": {"type": "worker", "index": 0}}
    assert not cluster.is_chief(with_chief)
    assert cluster.read_tf_config({"TF_CONFIG": json.dumps(with_chief)}) == with_chief


def test_step_plan_shares_each_piece_among_replicas():
    step = np.arange(11)
    plan = distribution.step_plan(step, 3, 2)  # pieces of 3 chunks per replica: 6 + 5
    assert [[s.tolist() for s in shares] for shares in plan] == [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8], [9, 10]]]
    assert [s.tolist() for s in distribution.step_plan(step, 0, 2)[0]] == [list(range(6)), list(range(6, 11))]
    # One replica: the single-device micro-batches.
    assert [p[0].tolist() for p in distribution.step_plan(step, 4, 1)] == [p.tolist() for p in batch_plans.split_batch(step, 4)]


def test_step_memory_formula_by_hand():
    """VideoNetwork, NetRVLAD k = 4 on (40, 512) windows: per chunk 4 bytes x (5.5 x K*D + 1.5 x N*D + 1.0 x N*K)
    for the pooling, 4 x 2 copies of the 40 x 512 input; fixed: 6 copies of the parameters, and on a CPU the
    pipeline's bound on what it gathers ahead."""
    model = architectures.build_model("VideoNetwork", num_frames=40, vlad_k=4)
    memory = distribution.step_memory(model)
    assert memory.per_chunk == pytest.approx(4 * (5.5 * 4 * 512 + 1.5 * 40 * 512 + 1.0 * 40 * 4))
    assert memory.input_per_chunk == 4 * 2 * 40 * 512 and memory.input_fixed == 2 ** 30
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert memory.fixed == 4 * 6 * params
    assert memory.peak(10) == memory.fixed + 2 ** 30 + 10 * (memory.per_chunk + memory.input_per_chunk)
    assert memory.peak(10, with_inputs=False) == memory.model(10) == memory.fixed + 10 * memory.per_chunk
    assert memory.largest_piece(memory.peak(10) + 1) == 10 and memory.largest_piece(memory.fixed + 2 ** 30) == 0
    assert memory.largest_piece(memory.model(10) + 1, with_inputs=False) == 10


def test_micro_batch_auto_chooses_whole_steps_or_the_largest_piece():
    memory = distribution.StepMemory(fixed=1000.0, per_chunk=10.0, input_per_chunk=0.0, input_fixed=0.0)
    micro, line = distribution.choose_micro_batch(memory, 50, budget=1500.0, where="test")
    assert micro == 0 and "whole steps" in line
    micro, line = distribution.choose_micro_batch(memory, 50, budget=1200.0, where="test")
    assert micro == 20 and "pieces of 20 chunks" in line and "3 per step" in line and "statistics are then those of each piece" in line
    with pytest.raises(errors.DataError, match="not even one chunk fits"):
        distribution.choose_micro_batch(memory, 50, budget=1005.0, where="test")


def test_micro_batch_auto_is_logged_and_followed(tiny_root, tmp_path, caplog):
    """Through the script: a budget that holds the tiny step trains whole steps; a budget of a few chunks
    splits it, and the log says so."""
    model = architectures.build_model("AudioVideoArchi5", num_frames=40, vlad_k=4)
    memory = distribution.step_memory(model)
    small = (memory.fixed + memory.input_fixed + 5.5 * (memory.per_chunk + memory.input_per_chunk)) / 2 ** 30
    for budget, expected in (("4", "whole steps"), (f"{small:.9f}", "pieces of 5 chunks")):
        caplog.clear()
        with caplog.at_level("INFO", logger="training.loop"):
            assert cmb.main(_argv(tiny_root, tmp_path / budget, "--batch_size", "3", "--memory_budget", budget,
                                  "--loglevel", "INFO")) == 0
        assert any(expected in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records][:12]
