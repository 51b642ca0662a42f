"""The layout's rules (docs/architecture.md), checked with `ast` on every module of the project:

1. the stages are layers: a module imports only modules of its own stage or of a lower one (no arrow up, no
   import between two stages of the same rank), and the module graph has no circle;
2. a face (a module that runs as a script: `if __name__ == "__main__":`) is imported by no module;
3. library modules import at their top: no `import` inside a function or method of tensorflow, keras or a
   module of the project (faces, benchmarks and tools may: they decide the order of set-up);
4. no file over 600 lines (tests aside);
5. the faces and the vocabulary load without TensorFlow.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
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
    first = name.split(".")[0]
    return "faces" if first in FACES else first


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
    for candidate in (name, f"{folder}.{name}" if folder and path.parent != TOP else None):
        while candidate:
            if candidate in known:
                return candidate
            candidate = candidate.rpartition(".")[0]
    return None


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
            if inside:
                offenders.append(f"{path.relative_to(TOP)}:{line} imports {target} in a function")
    assert offenders == []
    init = (TOP / "networks" / "__init__.py").read_text(encoding="utf-8")
    assert "__getattr__" not in init and "import" not in init.replace("from __future__ import annotations", "")


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
