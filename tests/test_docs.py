"""The documentation stays true to the code (README.md and docs/*.md).

- Every command in a fenced code block that runs one of the project's scripts (`python X.py ...`,
  `.venv/bin/python X.py ...`, `python -m package.module ...`) gives only flags that the script's parser
  has: its `build_parser()` where the script defines one (imported, no TensorFlow), else its `--help`
  output in a subprocess. `make X` names a target of the Makefile.
- Every repository path the docs name, in a code block or in `backticks`, exists: a path with a `/`
  under one of the project's folders, a top-level `.py` / `.md` file, a top-level game list; a
  `tests/x.py::test_name` names a test of that file.
- Every relative Markdown link resolves, to a file and (after `#`) to one of its headings.
- `docs/benchmarks.md` is the page that `bench/run_all.py` writes, and that writing is atomic; a run
  replaces the page's run on its processor kind and keeps those on other kinds.

Placeholders (`<run>`, `RUN`, `{half}`, `*`, `...`) are skipped, as are paths outside the repository
(`/data/SoccerNet`, `data/...`, `runs/...`: written at run time) and flags in prose.
"""
from __future__ import annotations

import ast
import importlib
import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parent.parent
DOCS = [TOP / "README.md", *sorted((TOP / "docs").glob("*.md"))]

# The project's folders (the layout of docs/architecture.md): a path whose first part is one of these
# names a file of the repository.
PROJECT_FOLDERS = {"base", "runtime", "training", "spotting", "evaluation", "extraction", "experiments", "networks",
                   "bench", "tools", "tests", "docs", ".ci"}
# Written there at run time, not part of the repository.
GENERATED = ("bench/out",)
# Files the docs cite from elsewhere (the authors' repository, the SoccerNet package), by bare name.
ELSEWHERE = {"loupe.py", "trainer.py", "train.py", "ftpdataset.py", "networks.py", "Downloader.py"}
SEPARATORS = {"&&", "||", ";", "|"}
PLACEHOLDER = re.compile(r"[<>{}*$|\[\]…]|\.\.\.")
UPPER_WORD = re.compile(r"[A-Z][A-Z0-9_]*")  # RUN, LIST, RUN_FOLDER: a placeholder
FLAG = re.compile(r"--[A-Za-z][\w-]*")


# ---------------------------------------------------------------------------------------------------------
# Reading the Markdown

def fenced_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each fenced code block, dedented by its fence's indentation."""
    blocks, current, indent, start = [], None, 0, 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            if current is None:
                current, indent, start = [], len(line) - len(stripped), number + 1
            else:
                blocks.append((start, current))
                current = None
        elif current is not None:
            current.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
    return blocks


def prose(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside the fenced code blocks."""
    lines, inside = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            inside = not inside
        elif not inside:
            lines.append((number, line))
    return lines


def logical_lines(lines: list[str], start: int) -> list[tuple[int, str, bool]]:
    """(line number, line, is a command) with backslash continuations joined. In a block with `$ `
    prompts, only the prompted lines are commands (the others are their output)."""
    prompted = any(line.startswith("$ ") for line in lines)
    joined, i = [], 0
    while i < len(lines):
        number, line = start + i, lines[i]
        command = not prompted or line.startswith("$ ")
        if line.startswith("$ "):
            line = line[2:]
        while line.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line.rstrip()[:-1] + " " + lines[i].strip()
        joined.append((number, line, command))
        i += 1
    return joined


def tokens(line: str) -> list[str]:
    """Shell words of a line, comments dropped (plain split where the line is not shell, e.g. Python)."""
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split("#")[0].split()


def inline_code(line: str) -> list[str]:
    return re.findall(r"`([^`]+)`", line)


# ---------------------------------------------------------------------------------------------------------
# Commands and their flags

def is_python(word: str) -> bool:
    return word in ("python", "python3") or word.endswith(("/python", "/python3"))


def commands(words: list[str]) -> list[tuple[str, list[str]]]:
    """(target, arguments) of each project command among a line's words: target 'X.py' (a script path),
    '-m package.module', or 'make'. The words after a `--` that start with a script are a command of
    their own (tools/launch_workers.py -- ClassificationMinuteBased.py ...)."""
    found, i = [], 0
    while i < len(words):
        word = words[i]
        target = None
        if is_python(word) and i + 1 < len(words):
            following = words[i + 1]
            if following == "-m" and i + 2 < len(words):
                target, i = "-m " + words[i + 2], i + 3
            elif following.endswith(".py"):
                target, i = following, i + 2
        elif word == "make":
            target, i = "make", i + 1
        if target is None:
            i += 1
            continue
        arguments = []
        while i < len(words) and words[i] not in SEPARATORS:
            arguments.append(words[i])
            i += 1
        if "--" in arguments and target != "make":
            cut = arguments.index("--")
            rest = arguments[cut + 1:]
            arguments = arguments[:cut]
            if rest and rest[0].endswith(".py"):
                found += commands(["python", *rest])
        found.append((target, arguments))
    return found


def module_of(target: str) -> tuple[str, Path] | None:
    """The importable name and file of a project script, None for a command of something else (pytest,
    pip) or a placeholder."""
    if PLACEHOLDER.search(target):
        return None
    if target.startswith("-m "):
        name = target[3:]
        parts = name.split(".")
        if parts[0] not in PROJECT_FOLDERS and not (TOP / f"{parts[0]}.py").is_file():
            return None
        path = TOP.joinpath(*parts[:-1], parts[-1] + ".py")
        return name, path
    path = Path(target)
    if path.is_absolute() or (len(path.parts) > 1 and path.parts[0] not in PROJECT_FOLDERS):
        return None
    return ".".join(path.with_suffix("").parts), TOP / path


def defines_build_parser(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == "build_parser" for node in tree.body)


@lru_cache(maxsize=None)
def options_of(target: str) -> frozenset[str] | str:
    """The option strings a project script takes, or why they could not be read."""
    name, path = module_of(target)
    if not path.is_file():
        return f"no such script: {path.relative_to(TOP)}"
    if defines_build_parser(path):
        try:
            parser = importlib.import_module(name).build_parser()
        except Exception as exc:  # a module being moved: say which, and go on with the others
            return f"cannot import {name}: {type(exc).__name__}: {exc}"
        return frozenset(option for action in parser._actions for option in action.option_strings)
    command = [sys.executable, "-m", name, "--help"] if target.startswith("-m ") else [sys.executable, str(path),
                                                                                       "--help"]
    out = subprocess.run(command, cwd=TOP, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        return f"--help failed: {out.stderr.strip()[-300:]}"
    return frozenset(FLAG.findall(out.stdout)) | {"-h"}


def make_targets() -> set[str]:
    text = (TOP / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([\w.-]+)\s*:", text, re.MULTILINE)}


def documented_commands() -> list[tuple[str, str, list[str]]]:
    """(where, target, arguments) of every project command in the docs' code blocks."""
    found = []
    for doc in DOCS:
        for start, lines in fenced_blocks(doc.read_text(encoding="utf-8")):
            for number, line, is_command in logical_lines(lines, start):
                if is_command:
                    where = f"{doc.relative_to(TOP)}:{number}"
                    found += [(where, target, arguments) for target, arguments in commands(tokens(line))]
    return found


def test_the_docs_show_the_faces_commands():
    """The collection works: the four top-level faces, the extraction and experiment modules and make."""
    targets = {target for _, target, _ in documented_commands()}
    assert {"ClassificationMinuteBased.py", "ClassificationSecondBased.py", "compute_mAP.py", "fusion.py",
            "-m extraction.extract_features", "-m extraction.spot_video", "-m extraction.fit_pca",
            "-m experiments.make_synthetic", "-m experiments.reproduce", "make"} <= targets


def test_every_documented_flag_exists():
    tensorflow_before = "tensorflow" in sys.modules
    offenders = []
    for where, target, arguments in documented_commands():
        if target == "make":
            continue
        if module_of(target) is None:
            continue
        options = options_of(target)
        if isinstance(options, str):
            offenders.append(f"{where}: {target}: {options}")
            continue
        for word in arguments:
            flag = word.split("=", 1)[0]
            if FLAG.fullmatch(flag) and flag not in options:
                offenders.append(f"{where}: {target} has no {flag}")
    assert offenders == [], "\n".join(offenders)
    if not tensorflow_before:  # reading the faces' parsers is cheap: it starts no TensorFlow
        assert "tensorflow" not in sys.modules


def test_every_documented_make_target_exists():
    targets = make_targets()
    offenders = []
    for where, target, arguments in documented_commands():
        if target != "make":
            continue
        for word in arguments:
            if "=" in word or word.startswith("-") or PLACEHOLDER.search(word):
                continue
            if word not in targets:
                offenders.append(f"{where}: make {word}: no such target")
    assert offenders == [], "\n".join(offenders)


# ---------------------------------------------------------------------------------------------------------
# Paths

def repository_path(word: str, bare_lists: bool = True) -> str | None:
    """The repository path a word names (with any `::test` kept), or None when it names none."""
    word = word.strip("\"'").lstrip("(").rstrip(".,;:)")
    path = word.split("::")[0]
    if not path or "://" in path or path.startswith(("/", "~", "-", "./")) or PLACEHOLDER.search(path):
        return None
    parts = path.rstrip("/").split("/")
    if any(UPPER_WORD.fullmatch(part) for part in parts):
        return None
    if len(parts) > 1 or path.endswith("/"):
        if parts[0] not in PROJECT_FOLDERS or path.startswith(GENERATED):
            return None
        return word
    if path.endswith((".py", ".md")) and path not in ELSEWHERE:
        return word
    if bare_lists and path.startswith("listgame_") and path.endswith(".npy"):
        return word
    return None


def documented_paths() -> list[tuple[str, str]]:
    """(where, path) of every repository path the docs name."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for start, lines in fenced_blocks(text):
            for number, line, is_command in logical_lines(lines, start):
                for word in tokens(line) if is_command else line.split():
                    # Output lines name the files they print in many ways: only paths with a folder count.
                    path = repository_path(word, bare_lists=is_command)
                    if path and (is_command or "/" in path):
                        found.append((f"{doc.relative_to(TOP)}:{number}", path))
        for number, line in prose(text):
            last_file = None
            for code in inline_code(line):
                if code.startswith("::") and last_file:  # `file::test_a`, `::test_b`
                    code = last_file + code
                for word in code.split():
                    path = repository_path(word)
                    if path:
                        found.append((f"{doc.relative_to(TOP)}:{number}", path))
                        last_file = path.split("::")[0]
    return found


def test_every_documented_path_exists():
    paths = documented_paths()
    assert len(paths) > 50
    offenders = []
    for where, word in paths:
        path, _, test = word.partition("::")
        if not (TOP / path).exists():
            offenders.append(f"{where}: {path} does not exist")
        elif test:
            name = test.split("[")[0]
            if not re.search(rf"^def {re.escape(name)}\(", (TOP / path).read_text(encoding="utf-8"), re.MULTILINE):
                offenders.append(f"{where}: {path} has no {name}")
    assert offenders == [], "\n".join(offenders)


def test_documented_tests_name_their_file():
    """`::test_name` alone continues a `tests/file.py::test` earlier on its line."""
    offenders = []
    for doc in DOCS:
        for number, line in prose(doc.read_text(encoding="utf-8")):
            seen = False
            for code in inline_code(line):
                if code.startswith("::") and not seen:
                    offenders.append(f"{doc.relative_to(TOP)}:{number}: {code} without its file")
                seen = seen or ".py::" in code
    assert offenders == [], "\n".join(offenders)


# ---------------------------------------------------------------------------------------------------------
# Links

def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[`*_]|\[([^]]*)\]\([^)]*\)", r"\1", heading.strip().lstrip("#").strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(line) for _, line in prose(path.read_text(encoding="utf-8")) if line.startswith("#")}


def test_every_relative_link_resolves():
    offenders = []
    for doc in DOCS:
        for number, line in prose(doc.read_text(encoding="utf-8")):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if "://" in target or target.startswith("mailto:"):
                    continue
                file, _, anchor = target.partition("#")
                path = (doc.parent / file).resolve() if file else doc
                where = f"{doc.relative_to(TOP)}:{number}"
                if not path.exists():
                    offenders.append(f"{where}: {target}: no such file")
                elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                    offenders.append(f"{where}: {target}: no such heading")
    assert offenders == [], "\n".join(offenders)


def test_the_readme_is_short_and_lists_every_page():
    readme = (TOP / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for page in sorted((TOP / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in readme, page.name


# ---------------------------------------------------------------------------------------------------------
# The benchmark page

def run_all():
    return importlib.import_module("bench.run_all")


def test_the_benchmark_page_is_run_alls():
    module = run_all()
    text = (TOP / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert text.startswith(module.PAGE_TITLE) and module.PAGE_MARKER in text
    assert module.table([]).splitlines()[0] in text
    assert re.search(r"^machine: .+$", text, re.MULTILINE)


def test_run_all_writes_its_page_atomically(tmp_path):
    module = run_all()
    rows = [dict(bench="pipeline", what="input pipeline", figure=2.5e4, unit="windows/s", target="> 10,000")]
    page = tmp_path / "docs" / "benchmarks.md"
    text = module.page_text(page, "a machine", module.table(rows), "2030-01-02", "bench/run_all.py --quick",
                            failed=["epoch"])
    module.write_page(page, text)
    assert page.read_text(encoding="utf-8") == text
    assert list(page.parent.iterdir()) == [page]  # no temporary left
    assert "machine: a machine" in text and "2030-01-02" in text and "| pipeline | input pipeline |" in text
    assert "bench/run_all.py --quick" in text and "epoch" in text
    module.write_page(page, "again\n")
    assert page.read_text(encoding="utf-8") == "again\n" and list(page.parent.iterdir()) == [page]


def test_the_benchmark_page_keeps_the_latest_run_of_each_processor_kind(tmp_path):
    module = run_all()
    page = tmp_path / "benchmarks.md"

    def run(machine, figure, previous):
        rows = [dict(bench="pipeline", what="input pipeline", figure=figure, unit="windows/s")]
        return module.page_text(page, machine, module.table(rows), "2030-01-02", "bench/run_all.py", previous=previous)

    avx2, avx512 = "AMD EPYC (avx2), 2 cores, 24 GiB RAM", "AMD EPYC (avx2 avx512f avx512_bf16), 2 cores, 24 GiB RAM"
    assert module.processor_kind(avx512) == "AMD EPYC (avx2 avx512f avx512_bf16)"
    first = run(avx2, 1.0e4, previous="")
    assert [kind for kind, _ in module.runs_on_page(first)] == ["AMD EPYC (avx2)"]
    second = run(avx512, 2.0e4, previous=first)
    kinds = [kind for kind, _ in module.runs_on_page(second)]
    assert kinds == ["AMD EPYC (avx2 avx512f avx512_bf16)", "AMD EPYC (avx2)"]
    assert second.index("2e+04 windows/s") < second.index(module.OTHER_KINDS) < second.index("1e+04 windows/s")
    # The same kind again replaces its own run and keeps the other one as it was.
    third = run(avx512, 3.0e4, previous=second)
    runs = dict(module.runs_on_page(third))
    assert list(runs) == kinds and "3e+04" in runs[kinds[0]] and "2e+04" not in third
    assert runs[kinds[1]] == dict(module.runs_on_page(first))[kinds[1]]
    # A page of one run written before runs were kept apart gives that run (docs/benchmarks.md until 2026-12-07).
    legacy = first.replace(module.RUN_BEGIN.format(kind="AMD EPYC (avx2)") + "\n", "").replace(module.RUN_END + "\n", "")
    assert module.runs_on_page(legacy) == module.runs_on_page(first)
    assert module.runs_on_page("# Benchmarks\n") == []


def test_run_all_page_flags():
    parser = run_all().build_parser()
    page_path = run_all().page_path
    assert page_path(parser.parse_args([])) == TOP / "docs" / "benchmarks.md"
    # A partial run (other sizes, some benchmarks) would replace its processor kind's full run: no page unless named.
    for partial in (["--quick"], ["--full_epoch"], ["--only", "networks", "spotting"]):
        assert page_path(parser.parse_args(partial)) is None
        assert page_path(parser.parse_args([*partial, "--page", "x.md"])) == Path("x.md")
    assert page_path(parser.parse_args(["--only", *run_all().BENCHMARKS])) == TOP / "docs" / "benchmarks.md"
    assert parser.parse_args(["--page", "x.md"]).page == "x.md"
    assert run_all().page_path(parser.parse_args(["--page", ""])) is None
    assert run_all().page_path(parser.parse_args(["--no_page"])) is None
    assert run_all().page_path(parser.parse_args(["--page", "x.md"])) == Path("x.md")


@pytest.mark.parametrize("line, expected", [
    (".venv/bin/python ClassificationMinuteBased.py --PCA --tflog Model",
     [("ClassificationMinuteBased.py", ["--PCA", "--tflog", "Model"])]),
    ("python -m extraction.fit_pca --training x.npy  # a comment --nothing",
     [("-m extraction.fit_pca", ["--training", "x.npy"])]),
    ("python tools/launch_workers.py --workers 2 -- ClassificationMinuteBased.py --distribute multiworker",
     [("ClassificationMinuteBased.py", ["--distribute", "multiworker"]),
      ("tools/launch_workers.py", ["--workers", "2"])]),
    ("make demo && python -m pytest -q", [("make", ["demo"]), ("-m pytest", ["-q"])]),
    (".venv-download/bin/python - <<'PY'", []),
])
def test_commands_are_read_as_a_shell_reads_them(line, expected):
    assert commands(tokens(line)) == expected


@pytest.mark.parametrize("word, expected", [
    ("networks/", "networks/"),
    ("tests/test_reliability.py::test_x,", "tests/test_reliability.py::test_x"),
    ("runs/<run>", None), ("Model/RUN", None), ("data/synthetic/listgame_Test_10.npy", None),
    ("/data/SoccerNet", None), ("bench/out/run_all", None), ("{half}_{features}.npy", None),
    ("1_ResNET_PCA512.npy", None), ("compute_mAP.py", "compute_mAP.py"), ("loupe.py", None),
    ("listgame_Test_100.npy", "listgame_Test_100.npy"), ("https://github.com/a/b", None),
])
def test_paths_are_recognised(word, expected):
    assert repository_path(word) == expected
