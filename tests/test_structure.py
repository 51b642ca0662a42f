"""The layout rules of the README: the two Classification scripts are leaves, and the vocabulary and the
run-folder helpers load without TensorFlow."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
LEAVES = {"ClassificationMinuteBased", "ClassificationSecondBased"}
# (script, script it may import): none, the benchmarks import the libraries behind the scripts.
ALLOWED: set[tuple[str, str]] = set()


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args \
                and isinstance(node.args[0], ast.Constant):  # importlib.import_module("name")
            names.add(str(node.args[0].value))
    return names


def test_no_module_imports_a_classification_script():
    sources = [p for p in TOP.rglob("*.py") if ".venv" not in p.parts and "tests" not in p.parts
               and "data" not in p.parts]
    assert len(sources) > 15
    offenders = []
    for path in sources:
        relative = path.relative_to(TOP).as_posix()
        for leaf in LEAVES & imported_modules(path):
            if path.stem != leaf and (relative, leaf) not in ALLOWED:
                offenders.append(f"{relative} imports {leaf}")
    assert offenders == []


def test_libraries_load_without_tensorflow():
    code = ("import sys; import runs, dataset, compute_mAP, fusion, networks, "
            "experiments.reproduce, experiments.demo, experiments.make_synthetic, spotting.games, spotting.combine, "
            "ClassificationMinuteBased, ClassificationSecondBased, training.options, training.cluster, "
            "training.schedule, training.data, training.late_fusion; "
            "from evaluation import classification, outputs, candidates, reference, truth, report, plots, inputs; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=TOP, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_no_wheel_or_archive_is_tracked():
    listed = subprocess.run(["git", "ls-files"], cwd=TOP, capture_output=True, text=True, timeout=30)
    if listed.returncode != 0:  # not a git checkout (an exported tree): nothing to check
        return
    tracked = listed.stdout.split()
    assert not [f for f in tracked if f.endswith((".whl", ".zip", ".tar.gz", ".keras", ".npz"))]
    assert sorted(f for f in tracked if f.endswith(".npy")) == [
        "listgame_Test_100.npy", "listgame_Train_300.npy", "listgame_Valid_100.npy"]


def test_each_option_states_its_default_once():
    """Every script's --help gives an option's default at most once (not 'default: X (default: X)')."""
    import argparse
    import importlib
    import re

    scripts = ["ClassificationMinuteBased", "ClassificationSecondBased", "compute_mAP", "fusion",
               "experiments.reproduce", "experiments.demo", "experiments.make_synthetic", "extraction.fit_pca"]
    checked = 0
    for name in scripts:
        parser = importlib.import_module(name).build_parser()
        for action in parser._actions:
            if not action.option_strings or action.help is None:
                continue
            text = parser._get_formatter()._expand_help(action)  # the text --help prints
            assert len(re.findall(r"default", text, re.IGNORECASE)) <= 1, f"{name} {action.option_strings[0]}: {text}"
            if not (action.default is None or action.default is False or action.default is argparse.SUPPRESS):
                assert f"(default: {action.default}" in text, f"{name} {action.option_strings[0]}: {text}"
            checked += 1
    assert checked > 100


def test_one_convention_for_default_paths():
    """Game lists default to the repository's files wherever the script runs from; output folders are
    relative to the working directory (as the original's), and a reader defaults to its writer's folder."""
    import importlib

    defaults = {}
    for name in ("ClassificationMinuteBased", "ClassificationSecondBased", "compute_mAP"):
        parser = importlib.import_module(name).build_parser()
        defaults[name] = {a.dest: a.default for a in parser._actions}
        for flag in ("training", "validation", "testing"):
            if flag in defaults[name]:
                path = Path(defaults[name][flag])
                assert path.is_absolute() and path.parent == TOP and path.is_file(), (name, flag, path)
    assert defaults["compute_mAP"]["predictions"] == defaults["ClassificationSecondBased"]["output_dir"]


def test_scripts_log_the_devices_they_run_on(caplog):
    import logging

    import runs

    with caplog.at_level(logging.INFO, logger="runs"):
        tf = runs.start_tensorflow()
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("devices:")]
    if tf.config.list_physical_devices("GPU"):
        assert "GPU" in line
    else:
        assert line.startswith("devices: CPU only") and "TensorFlow sees no GPU" in line


def test_a_bare_model_reads_the_features_its_input_takes():
    """No args.json and no --PCA given: the PCA512 files for a 512-wide video input, the raw ones else; a
    given --architecture that is not the model's is refused."""
    import argparse

    import pytest

    import dataset
    import runs
    from networks import architectures

    args = argparse.Namespace(**{flag: None for flag in runs.MODEL_FLAGS})
    for width, pca in ((512, True), (2048, False)):
        model = architectures.build_model("VideoNetwork", num_frames=40, video_dim=width, vlad_k=4)
        settings = runs.resolve_settings(args, {}, Path("model.keras"))
        assert settings["PCA"] is None
        config, frames = runs.model_config(model, Path("model.keras"), settings)
        assert frames == 40 and config["video_dim"] == width and settings["PCA"] is pca
    recorded = runs.resolve_settings(args, {"PCA": False, "WindowSize": 20}, Path("m"))
    runs.model_config(model, Path("m"), recorded)
    assert recorded["PCA"] is False  # what the run recorded wins
    with pytest.raises(dataset.DataError, match="holds a VideoNetwork model, not AudioNetwork"):
        runs.model_config(model, Path("m"), runs.resolve_settings(args, {"architecture": "AudioNetwork"}, Path("m")))
