"""Choices made by measuring (`base.measured`) and the projection's forms chosen so
(`networks.kernels.product_forms`): the faster candidate taken, a disagreeing one refused, the cache used
and measured over when its key changes, the environment's fixed choice, and a training run through the
real entry point that measures and caches its forms."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import tensorflow as tf

import ClassificationMinuteBased as cmb
from base import measured
from conftest import training_argv
from networks import kernels


@pytest.fixture()
def measuring(tmp_path, monkeypatch):
    """Measuring on, a cache of this test's own."""
    monkeypatch.setenv(measured.MEASURE_ENV, "1")
    monkeypatch.setenv(measured.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(measured, "_logged", set())
    return tmp_path / "cache" / measured.CACHE_FILE


def sleeper(seconds, value=1.0, calls=None):
    def run():
        if calls is not None:
            calls.append(seconds)
        time.sleep(seconds)
        return np.full(3, value)
    return run


def test_the_faster_candidate_is_taken_and_cached(measuring):
    choice = measured.choose("demo", {"slow": sleeper(0.02), "fast": sleeper(0.001)}, "slow", {"shape": 4},
                             budget=0.05)
    assert choice == "fast"
    entry = json.loads(measuring.read_text())["demo"]
    (key,) = entry
    assert json.loads(key)["shape"] == "4" and entry[key]["choice"] == "fast"
    assert entry[key]["seconds"]["slow"] > entry[key]["seconds"]["fast"]
    # Cached: a later call measures nothing (the candidates would now say the opposite).
    calls = []
    again = measured.choose("demo", {"slow": sleeper(0.001, calls=calls), "fast": sleeper(0.02, calls=calls)},
                            "slow", {"shape": 4})
    assert again == "fast" and calls == []
    # Another key (e.g. another shape, or another machine) is measured again.
    assert measured.choose("demo", {"slow": sleeper(0.001, calls=calls), "fast": sleeper(0.02, calls=calls)},
                           "slow", {"shape": 5}, budget=0.05) == "slow"
    assert calls and len(json.loads(measuring.read_text())["demo"]) == 2
    # A new candidate (a kernel added to the choice) is measured again, and wins where it is the fastest.
    calls.clear()
    assert measured.choose("demo", {"slow": sleeper(0.02, calls=calls), "fast": sleeper(0.01, calls=calls),
                                    "faster": sleeper(0.001, calls=calls)}, "slow", {"shape": 4},
                           budget=0.05) == "faster"
    assert calls and len(json.loads(measuring.read_text())["demo"]) == 3


def test_the_candidates_take_turns_so_that_a_passing_load_does_not_decide(measuring):
    # A load on the machine during the first six runs, whichever candidate makes them: timed one after
    # the other (the warm-up and five runs of the first, then the second's), the faster candidate would
    # be timed under the load alone and the slower one taken, and cached for good.
    calls = []

    def candidate(name, seconds):
        def run():
            calls.append(name)
            time.sleep(seconds + (0.03 if len(calls) <= 6 else 0.0))
            return np.ones(3)
        return run

    choice = measured.choose("demo", {"fast": candidate("fast", 0.001), "slow": candidate("slow", 0.006)},
                             "slow", {}, budget=1.0)
    assert calls[:6] == ["fast", "slow"] * 3 and choice == "fast"
    (entry,) = json.loads(measuring.read_text())["demo"].values()
    seconds = entry["seconds"]
    assert seconds["fast"] < 0.006 < seconds["slow"] < 0.03


def test_a_candidate_that_disagrees_is_not_taken(measuring, caplog):
    choice = measured.choose("demo", {"right": sleeper(0.01, 1.0), "wrong": sleeper(0.0, 1.1)}, "right", {},
                             budget=0.02)
    assert choice == "right" and "disagrees" in caplog.text


def test_the_environment_fixes_or_turns_off_the_choice(measuring, monkeypatch):
    candidates = {"a": sleeper(0.01), "b": sleeper(0.0)}
    monkeypatch.setenv(measured.CHOICE_ENV + "DEMO", "a")
    assert measured.choose("demo", candidates, "b", {}) == "a"
    monkeypatch.setenv(measured.CHOICE_ENV + "DEMO", "c")
    with pytest.raises(ValueError, match="SOCCERNET_CHOICE_DEMO=c"):
        measured.choose("demo", candidates, "b", {})
    monkeypatch.delenv(measured.CHOICE_ENV + "DEMO")
    monkeypatch.setenv(measured.MEASURE_ENV, "0")
    assert measured.choose("demo", candidates, "a", {}) == "a" and not measuring.exists()


@pytest.mark.parametrize("content", ["{not json", '{"demo": ["an old format"]}', '["not a dict"]'])
def test_an_unreadable_cache_is_measured_over(measuring, content):
    measuring.parent.mkdir(parents=True)
    measuring.write_text(content)
    assert measured.choose("demo", {"a": sleeper(0.01), "b": sleeper(0.0)}, "a", {}, budget=0.02) == "b"
    assert json.loads(measuring.read_text())["demo"]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_projection_forms_are_measured_per_shape(measuring, monkeypatch, dtype):
    monkeypatch.setattr(kernels, "_FORMS_OF_SHAPE", {})
    forms = kernels.product_forms((None, 96), (96, 24), dtype)  # an unknown batch: the training batch's
    assert set(forms) == {"input_gradient", "transposed_half_forward"}
    assert forms["input_gradient"] in kernels.INPUT_GRADIENT_FORMS
    cache = json.loads(measuring.read_text())
    names = {"projection_input_gradient"} | ({"projection_half_forward"} if dtype == "bfloat16" else set())
    assert set(cache) == names
    (key,) = cache["projection_input_gradient"]
    assert json.loads(key)["inputs"] == "96" and json.loads(key)["rows"] == str(kernels._MEASURED_ROWS)
    assert kernels.product_forms((None, 96), (96, 24), dtype) is forms  # once per process and shape
    # Batches are measured in buckets: the power of two nearest, from 16 to 1024.
    assert [kernels.measured_rows(r) for r in (None, 1, 22, 23, 675, 3903)] == [256, 16, 16, 32, 512, 1024]
    # Fixed by the environment: the form named is the one taken.
    monkeypatch.setattr(kernels, "_FORMS_OF_SHAPE", {})
    monkeypatch.setenv("SOCCERNET_CHOICE_PROJECTION_INPUT_GRADIENT", "W_dyt_t")
    assert kernels.product_forms((8, 96), (96, 24), dtype)["input_gradient"] == "W_dyt_t"


def test_a_training_run_measures_its_forms_once(measuring, tiny_root, tmp_path, monkeypatch):
    monkeypatch.setattr(kernels, "_FORMS_OF_SHAPE", {})
    argv = training_argv(tiny_root, tmp_path / "runs", "--architecture", "VideoNetwork", "--max_epoch", "1")
    assert cmb.main(argv) == 0
    cache = json.loads(measuring.read_text())
    keys = [json.loads(k) for k in cache["projection_input_gradient"]]
    # VideoNetwork, NetVLAD k = 4 on 512-d PCA features: the pooled vectors are 4 * 512 wide.
    assert {k["inputs"] for k in keys} == {"2048"} and all(k["tensorflow"] == tf.__version__ for k in keys)


@pytest.mark.parametrize("centred", [False, True])
def test_the_half_precision_descriptor_form_is_measured_and_taken(measuring, monkeypatch, centred):
    monkeypatch.setattr(kernels, "_HALF_FORMS", {})
    form = kernels.half_descriptor_form((None, 12, 16), (None, 12, 4), centred, tf.bfloat16)
    (key,) = json.loads(measuring.read_text())["half_descriptor"]
    assert form in kernels.HALF_DESCRIPTOR_FORMS and json.loads(key)["clusters"] == "4"
    assert json.loads(key)["candidates"] == "float32_fused gram residuals"  # the fused operation is built
    rng = np.random.default_rng(4)
    x = tf.constant(rng.standard_normal((3, 12, 16)), tf.bfloat16)
    a = tf.nn.softmax(tf.constant(rng.standard_normal((3, 12, 4)), tf.float32))
    c = tf.constant(rng.standard_normal((16, 4)) / 4, tf.float32) if centred else None
    centres = [c] if centred else []
    # The float32 layers' descriptor of the same (bfloat16-valued) frames: what every form approximates.
    upstream = tf.constant(rng.standard_normal((3, 16, 4)), tf.bfloat16)

    def with_gradients(function, frames):
        with tf.GradientTape() as tape:
            tape.watch([frames, a])
            out = function(frames, a, c)
        return [tf.cast(t, tf.float32).numpy()
                for t in [out, *tape.gradient(out, [frames, a], output_gradients=tf.cast(upstream, out.dtype))]]

    exact = with_gradients(kernels._vlad_columns, tf.cast(x, tf.float32))
    for name, function in kernels.HALF_DESCRIPTOR_FORMS.items():
        # Each form, fixed by the environment, is the one the layers take ...
        monkeypatch.setattr(kernels, "_HALF_FORMS", {})
        monkeypatch.setenv("SOCCERNET_CHOICE_HALF_DESCRIPTOR", name)
        taken = kernels.vlad_columns(x, a, c)
        assert taken.dtype == tf.bfloat16
        np.testing.assert_array_equal(taken.numpy(), function(x, a, *centres).numpy())
        # ... and each agrees with float32's, value and gradients, to bfloat16's rounding (what the
        # measurement checks before it takes one); the float32 one's value is float32's rounded once.
        tolerance = 2.0 ** -8 if name == "float32_fused" else 3e-2
        np.testing.assert_allclose(tf.cast(taken, tf.float32).numpy(), exact[0], rtol=tolerance, atol=tolerance)
        for got, want in zip(with_gradients(kernels.vlad_columns, x)[1:], exact[1:]):
            np.testing.assert_allclose(got, want, atol=3e-2 * np.abs(want).max())
