"""The three committed game lists equal the soccernet package's, in the original format."""
from __future__ import annotations

import numpy as np
import pytest
from pathlib import Path

from SoccerNet.utils import getListGames

from conftest import TOP


@pytest.mark.parametrize("name, split, count, dtype", [
    ("listgame_Train_300.npy", "train", 300, "<U96"),
    ("listgame_Valid_100.npy", "valid", 100, "<U96"),
    ("listgame_Test_100.npy", "test", 100, "<U97"),
])
def test_game_list_matches_soccernet(name, split, count, dtype):
    games = np.load(TOP / name, allow_pickle=False)
    assert games.ndim == 1 and games.dtype == np.dtype(dtype) and len(games) == count
    assert games.tolist() == getListGames(split)


def test_splits_are_disjoint_and_first_entries_as_the_original():
    lists = [set(np.load(TOP / n).tolist()) for n in
             ("listgame_Train_300.npy", "listgame_Valid_100.npy", "listgame_Test_100.npy")]
    assert len(lists[0] | lists[1] | lists[2]) == 500
    assert np.load(TOP / "listgame_Test_100.npy")[0] == \
        "england_epl/2014-2015/2015-05-17 - 18-00 Manchester United 1 - 1 Arsenal"
    assert np.load(TOP / "listgame_Train_300.npy")[0] == \
        "england_epl/2014-2015/2015-02-21 - 18-00 Chelsea 1 - 1 Burnley"


def test_make_game_lists_help_writes_nothing_and_check_compares(tmp_path):
    import subprocess
    import sys

    script = TOP / "tools" / "make_game_lists.py"
    before = {name: (TOP / name).stat().st_mtime_ns for name in
              ("listgame_Train_300.npy", "listgame_Valid_100.npy", "listgame_Test_100.npy")}
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--output_dir" in done.stdout
    assert {name: (TOP / name).stat().st_mtime_ns for name in before} == before
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.count("same as") == 3
    done = subprocess.run([sys.executable, str(script), "--output_dir", str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    for name in before:
        np.testing.assert_array_equal(np.load(tmp_path / name), np.load(TOP / name))
        assert np.load(tmp_path / name).dtype == np.load(TOP / name).dtype
    (tmp_path / "listgame_Test_100.npy").unlink()
    done = subprocess.run([sys.executable, str(script), "--check", "--output_dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "DIFFERS" in done.stdout


def _package_downloader():
    """The installed package's Downloader.py, parsed (it cannot be imported here: its dependencies are
    not installed in this environment)."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("SoccerNet")
    path = Path(spec.origin).parent / "Downloader.py"
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SoccerNetDownloader"]
    constants, methods = {}, {}
    for node in cls.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            constants[node.targets[0].id] = ast.literal_eval(node.value)
        elif isinstance(node, ast.FunctionDef):
            methods[node.name] = node
    return source, constants, methods


def test_readme_download_recipe_matches_the_installed_package():
    """Each downloadGames call of the download recipe (docs/data.md) names files that the installed SoccerNet package
    serves from the source the call names, with arguments its signature takes."""
    import ast
    import textwrap

    source, constants, methods = _package_downloader()
    readme = (TOP / "docs" / "data.md").read_text(encoding="utf-8")
    block = readme[readme.index(".venv-download/bin/python - <<'PY'"):]
    code = textwrap.dedent(block.split("\n", 1)[1].split("\n   PY\n", 1)[0])
    calls = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") ==
             "downloadGames"]
    assert len(calls) == 2
    signature = methods["downloadGames"].args
    names = [a.arg for a in signature.args]
    assert {"files", "split", "source"} <= set(names)
    default_source = ast.literal_eval(signature.defaults[names.index("source") - len(names)])
    assert default_source == "HuggingFace"
    hugging_face = set(constants["_HF_FEATURE_BRANCH_BY_FILE"]) | set(constants["_HF_LABEL_FILES"])
    # The KAUST drive's non-challenge branches: "Labels" in the name, or one of these feature words.
    assert 'elif "Labels" in file:' in source and '["ResNET", "C3D", "I3D", "R25D"' in source
    for call in calls:
        keywords = {k.arg: k.value for k in call.keywords}
        files = ast.literal_eval(keywords["files"])
        where = ast.literal_eval(keywords["source"]) if "source" in keywords else default_source
        for file in files:
            if where == "HuggingFace":
                assert file in hugging_face, file
            else:
                assert where == "EXRCSDrive" and ("Labels" in file or "ResNET" in file), (where, file)
    # What docs/data.md says beside the calls.
    assert "1_ResNET_PCA512.npy" not in hugging_face
    assert constants["_HF_FEATURE_BRANCH_BY_FILE"]["1_ResNET_TF2_PCA512.npy"] == "resnet-tf2-pca512"
    assert "resnet-tf2-pca512" in readme and "DeprecationWarning" in source


def test_the_challenge_list(tmp_path):
    """--challenge adds the 50 challenge games (no public labels), none of them in the three lists."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(TOP / "tools" / "make_game_lists.py"), "--output_dir", str(tmp_path),
                           "--challenge"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    challenge = np.load(tmp_path / "listgame_Challenge_50.npy", allow_pickle=False)
    assert challenge.tolist() == getListGames("challenge") and len(challenge) == 50
    labelled = set().union(*(np.load(TOP / n).tolist() for n in
                             ("listgame_Train_300.npy", "listgame_Valid_100.npy", "listgame_Test_100.npy")))
    assert not labelled & set(challenge.tolist())


def test_the_v2_download_recipe_uses_what_the_package_serves():
    """docs/data.md's SoccerNet-v2 recipe: every file on Hugging Face (the default source), every split one
    that getListGames knows (the challenge's features come from SN-Features like the others)."""
    import ast

    source, constants, methods = _package_downloader()
    text = (TOP / "docs" / "data.md").read_text(encoding="utf-8")
    section = text[text.index("## Getting the real SoccerNet-v2 data"):]
    code = section[section.index(".venv-download/bin/python - <<'PY'"):].split("\n", 1)[1].split("\nPY\n", 1)[0]
    calls = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") ==
             "downloadGames"]
    assert len(calls) == 2
    served = set(constants["_HF_FEATURE_BRANCH_BY_FILE"]) | set(constants["_HF_LABEL_FILES"])
    for call in calls:
        keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        assert "source" not in keywords and set(keywords["files"]) <= served
        for split in keywords["split"]:
            assert getListGames(split)
    assert "Labels-v2.json" in constants["_HF_LABEL_FILES"]
    assert "elif file in self._HF_FEATURE_BRANCH_BY_FILE:" in source  # features for every split, challenge too


def test_make_game_lists_check_reads_an_unreadable_list_as_differing(tmp_path, capsys):
    from tools import make_game_lists

    (tmp_path / "listgame_Train_300.npy").write_bytes(b"")  # zero bytes
    (tmp_path / "listgame_Valid_100.npy").mkdir()           # a folder
    np.save(tmp_path / "listgame_Test_100.npy", np.array(getListGames("test")))
    assert make_game_lists.main(["--check", "--output_dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.count("DIFFERS") == 2 and out.count("same as") == 1


def test_make_game_lists_refuses_a_list_path_that_is_a_folder_before_writing(tmp_path, capsys):
    from tools import make_game_lists

    (tmp_path / "listgame_Test_100.npy").mkdir()
    (tmp_path / "a_file").write_text("x")
    for folder, named in ((tmp_path, str(tmp_path / "listgame_Test_100.npy")), (tmp_path / "a_file", "a_file")):
        assert make_game_lists.main(["--output_dir", str(folder)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and named in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "listgame_Test_100.npy"]
    assert list((tmp_path / "listgame_Test_100.npy").iterdir()) == []
