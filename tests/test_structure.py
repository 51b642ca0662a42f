"""The layout's rules (docs/architecture.md), checked with `ast` on every module of the project:

1. the stages are layers: a module imports only modules of its own stage or of a lower one (no arrow up, no
   import between two stages of the same rank), and the module graph has no circle;
2. a face (a module that runs as a script: `if __name__ == "__main__":`) is imported by no module;
3. library modules import at their top: no `import` inside a function or method of tensorflow, keras or a
   module of the project (faces, benchmarks and tools may: they decide the order of set-up);
4. no file over 600 lines (tests aside);
5. the faces and the vocabulary load without TensorFlow.
6. the two Classification scripts are leaves; no wheel or archive is tracked; every option states its default once.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from functools import lru_cache
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
    code = ("import sys; import dataset, compute_mAP, fusion, networks, networks.names, base.errors, base.files, "
            "base.fault_hook, base.precision, base.machine, runtime.rundir, runtime.model_flags, runtime.cli, "
            "runtime.process, "
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

    from runtime import process

    with caplog.at_level(logging.INFO, logger="runs"):
        tf = process.start_tensorflow()
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

    from base import errors
    from networks import architectures
    from runtime import model_flags, models

    args = argparse.Namespace(**{flag: None for flag in model_flags.MODEL_FLAGS})
    for width, pca in ((512, True), (2048, False)):
        model = architectures.build_model("VideoNetwork", num_frames=40, video_dim=width, vlad_k=4)
        settings = model_flags.resolve_settings(args, {}, Path("model.keras"))
        assert settings["PCA"] is None
        config, frames = models.model_config(model, Path("model.keras"), settings)
        assert frames == 40 and config["video_dim"] == width and settings["PCA"] is pca
    recorded = model_flags.resolve_settings(args, {"PCA": False, "WindowSize": 20}, Path("m"))
    models.model_config(model, Path("m"), recorded)
    assert recorded["PCA"] is False  # what the run recorded wins
    with pytest.raises(errors.DataError, match="holds a VideoNetwork model, not AudioNetwork"):
        models.model_config(model, Path("m"), model_flags.resolve_settings(args, {"architecture": "AudioNetwork"}, Path("m")))


# ------------------------------------------------------------------------------------------------
# The stages as layers
SKIP = {".venv", "tests", "data", "runs", "results", "docs", ".git"}
MAX_LINES = 600

# The stages from the ground up; a module of rank r imports modules of rank < r, or of its own stage.
RANKS = {
    "base": 0,
    "dataset": 1, "networks": 1,
    "runtime": 2,
    "evaluation": 3, "extraction": 3,
    "training": 4,
    "spotting": 5,
    "experiments": 6,
    "faces": 7,  # the top-level scripts
    "bench": 8, "tools": 8,
}
FACES = {"ClassificationMinuteBased", "ClassificationSecondBased", "compute_mAP", "fusion"}
HEAVY = {"tensorflow", "keras"}
# The one library function that imports TensorFlow: starting it is the moment the faces choose.
LATE_IMPORTS = {("runtime.process", "tensorflow"), ("evaluation.backend", "tensorflow")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(TOP).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    found = {}
    for path in TOP.rglob("*.py"):
        if not SKIP & set(path.relative_to(TOP).parts):
            found[module_name(path)] = path
    return found


def stage(name: str) -> str:
    """A module's stage: its folder's, or "faces" for a script (a face fronts the whole pipeline and may
    import any library, wherever it lives)."""
    first = name.split(".")[0]
    if first in FACES or (first not in ("bench", "tools") and is_face(modules()[name])):
        return "faces"
    return first


def is_face(path: Path) -> bool:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) \
                and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__":
            return True
    return False


def _resolve(name: str, importer: str, path: Path) -> str | None:
    """The project module an imported name refers to (bench/ and tools/ scripts import their folder's
    modules by bare name), or None for a third-party one."""
    known = modules()
    folder = importer.rsplit(".", 1)[0] if "." in importer else ""
    candidate = name
    while candidate:
        if candidate in known:
            return candidate
        candidate = candidate.rpartition(".")[0]
    sibling = f"{folder}.{name.split('.')[0]}"
    return sibling if folder and path.parent != TOP and sibling in known else None


def imports(name: str, path: Path) -> list[tuple[str, bool, int]]:
    """(imported project module or third-party top name, inside a function, line) for every import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[:len(package.split(".")) - (child.level - 1)] if package else []
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if base else alias.name for alias in child.names]
            for target in targets:
                resolved = _resolve(target, name, path)
                found.append((resolved or target.split(".")[0], in_function, child.lineno, resolved is not None))
            visit(child, inner)

    visit(tree, False)
    return [(target, inside, line) for target, inside, line, project in found if project or target in HEAVY]


def project_edges() -> dict[str, set[str]]:
    known = modules()
    edges = {}
    for name, path in known.items():
        edges[name] = {target for target, _, _ in imports(name, path) if target in known and target != name}
    return edges


def test_every_module_belongs_to_a_stage():
    unknown = sorted(name for name in modules() if stage(name) not in RANKS)
    assert unknown == [], "modules outside the stage folders: " + ", ".join(unknown)
    assert len(modules()) > 40


def test_no_arrow_up_and_no_import_across_a_rank():
    offenders = []
    for name, targets in project_edges().items():
        for target in targets:
            mine, theirs = stage(name), stage(target)
            if mine != theirs and RANKS[theirs] >= RANKS[mine]:
                offenders.append(f"{name} ({mine}) imports {target} ({theirs})")
    assert offenders == []


def test_no_circle():
    edges = project_edges()
    state: dict[str, int] = {}
    cycles = []

    def walk(node, trail):
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                walk(target, trail + [target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            walk(node, [node])
    assert cycles == []


def test_no_module_imports_a_face():
    known = modules()
    faces = {name for name, path in known.items() if is_face(path)}
    assert FACES <= faces and {"experiments.demo", "experiments.reproduce", "extraction.spot_video"} <= faces
    offenders = [f"{name} imports {target}" for name, targets in project_edges().items()
                 for target in targets & faces]
    assert offenders == []


def test_libraries_import_at_their_top():
    known = modules()
    offenders = []
    for name, path in known.items():
        if is_face(path) or stage(name) in ("bench", "tools"):
            continue
        for target, inside, line in imports(name, path):
            if inside and (name, target) not in LATE_IMPORTS:
                offenders.append(f"{path.relative_to(TOP)}:{line} imports {target} in a function")
    assert offenders == []
    # networks/__init__.py is its docstring only: importing the vocabulary (networks.names) imports nothing else.
    body = ast.parse((TOP / "networks" / "__init__.py").read_text(encoding="utf-8")).body
    assert all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
               or isinstance(node, ast.ImportFrom) and node.module == "__future__" for node in body)


def test_no_file_is_over_600_lines():
    long = sorted(f"{path.relative_to(TOP)}: {n}" for path in modules().values()
                  if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES)
    assert long == []


def test_the_rules_catch_a_breach(tmp_path):
    """The checks above see what they look for (a face, a function-local import, a relative import)."""
    face = tmp_path / "face.py"
    face.write_text("import os\n\ndef main():\n    import tensorflow as tf\n    from . import sibling\n\n"
                    "if __name__ == '__main__':\n    main()\n")
    assert is_face(face)
    found = imports("pkg.face", face)
    assert ("tensorflow", True, 4) in found


def test_faces_and_vocabulary_load_without_tensorflow():
    names = sorted(FACES | {"dataset", "networks.names", "base.errors", "base.files", "base.precision",
                            "evaluation.classification", "evaluation.outputs", "evaluation.candidates"})
    code = (f"import importlib, sys; [importlib.import_module(m) for m in {names!r}]; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=TOP, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_modules_that_open_ports_share_one_test_process():
    """Under `make test` (pytest-xdist, `--dist loadfile`), the test modules that start clusters on
    127.0.0.1 run in one process (tests/conftest.py `scope_of`, whatever folder the node ids start from),
    every other module in one process of its own: a new module that starts a cluster must join PORT_MODULES."""
    import re

    from conftest import PORT_MODULES, scope_of

    starts_clusters = re.compile(r"\b(local_cluster|free_ports|launch_workers\.launch)\(")
    opening = sorted(p.name for p in (TOP / "tests").glob("test_*.py") if starts_clusters.search(p.read_text()))
    assert opening == sorted(PORT_MODULES)
    ids = [f"{folder}{m}::test_x[a::b]" for m in PORT_MODULES for folder in ("tests/", "", "main/tests/")]
    assert len({scope_of(nodeid) for nodeid in ids}) == 1
    assert scope_of("tests/test_demo.py::test_x") == "tests/test_demo.py"
    assert len({scope_of(f"tests/{name}::test_x") for name in ("test_demo.py", "test_dataset.py", opening[0])}) == 3
