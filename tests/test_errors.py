"""How a command line reports what it cannot do: a usage error in two lines, an unexpected exception in
one line and exit 1 (its traceback only under --loglevel DEBUG, or in the script's log file), Ctrl-C in
one line and exit 130."""
from __future__ import annotations

import importlib
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from base import errors
from runtime import cli, process

TOP = Path(__file__).resolve().parent.parent

# Every script with a command line: the top-level scripts, the experiments' and the tools'.
FACES = ["ClassificationMinuteBased", "ClassificationSecondBased", "compute_mAP", "fusion", "experiments.demo",
         "experiments.reproduce", "experiments.make_synthetic", "tools.launch_workers", "tools.make_game_lists",
         "extraction.extract_features", "extraction.write_clip", "extraction.spot_video", "extraction.fit_pca"]


def _usage_error(module, argv, capsys) -> list[str]:
    with pytest.raises(SystemExit) as stop:
        module.main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("name", FACES)
def test_a_usage_error_is_two_lines(name, capsys):
    module = importlib.import_module(name)
    assert isinstance(module.build_parser(), cli.ArgumentParser)
    err = _usage_error(module, ["--no_such_flag"], capsys)
    prog = module.build_parser().prog
    # argparse names a missing required argument before an unknown one: either is the one line of the error.
    assert len(err) == 2 and err[0] == f"usage: {prog} [options] (see --help)", err
    assert err[1] == f"{prog}: error: unrecognized arguments: --no_such_flag" or \
        err[1].startswith(f"{prog}: error: the following arguments are required: "), err


@pytest.mark.parametrize("name", FACES)
def test_help_is_argparse_s_whole_text(name, capsys):
    module = importlib.import_module(name)
    with pytest.raises(SystemExit) as stop:
        module.build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and out.startswith("usage: ") and "[-h]" in out and "--help" in out
    assert len(out.splitlines()) > 2


def test_a_bad_value_and_a_script_s_own_check_are_two_lines(capsys):
    """A value a type refuses (--shard 3/2) and a check after parsing (parser.error): two lines each."""
    import ClassificationSecondBased as csb

    err = _usage_error(csb, ["--shard", "3/2"], capsys)
    assert len(err) == 2 and err[0].startswith("usage: ") and "--shard: 3/2: I must be between 1 and N" in err[1]
    err = _usage_error(csb, ["--model", "m", "--shard", "1/2", "--game", "g"], capsys)
    assert len(err) == 2 and "--shard splits a list" in err[1], err


def test_a_usage_error_in_a_real_process_is_two_lines():
    done = subprocess.run([sys.executable, str(TOP / "ClassificationSecondBased.py"), "--shard", "3/2"], cwd=TOP,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == ["usage: ClassificationSecondBased.py [options] (see --help)",
                                        "ClassificationSecondBased.py: error: argument --shard: 3/2: I must be "
                                        "between 1 and N"], done.stderr


@pytest.fixture
def logging_restored():
    """The process's logging set up by a test, removed after it."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_soccernet", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.WARNING)


def _broken():
    raise RuntimeError("something broke\nand a second line")


def test_an_unexpected_exception_is_one_line_and_exit_1(capsys, logging_restored):
    process.setup_logging("INFO")
    assert errors.run_command(_broken) == errors.EXIT_UNEXPECTED == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["error: unexpected RuntimeError: something broke (the traceback: rerun with "
                                "--loglevel DEBUG)"], err
    process.setup_logging("DEBUG")
    assert errors.run_command(_broken) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "in _broken" in err
    assert err.splitlines()[-1] == "error: unexpected RuntimeError: something broke"


def test_the_traceback_goes_to_the_log_file_at_any_level(tmp_path, capsys, logging_restored):
    log_file = tmp_path / "train.log"
    process.setup_logging("WARNING", log_file)
    assert errors.run_command(lambda: {}["missing"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: unexpected KeyError: 'missing' (the traceback is in {log_file})"], err
    text = log_file.read_text()
    assert "Traceback" in text and "KeyError: 'missing'" in text


def test_the_expected_failures_keep_their_codes_and_ctrl_c_is_130(capsys, logging_restored):
    process.setup_logging("INFO")

    def raising(exc):
        def work():
            raise exc
        return work

    assert errors.run_command(raising(errors.DataError("a.npy", "empty"))) == errors.EXIT_BAD_INPUT
    assert errors.run_command(raising(OSError(28, "No space left on device", "b.npy"))) == errors.EXIT_WRITE_FAILED
    assert errors.run_command(raising(ValueError("bad")), bad_input=(ValueError,)) == errors.EXIT_BAD_INPUT
    assert errors.run_command(raising(KeyboardInterrupt())) == errors.EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err.splitlines() == [
        "error: a.npy: empty", "error: b.npy: No space left on device", "error: bad", "interrupted"]
    with pytest.raises(SystemExit):  # a usage error, or a nested script's exit, passes through
        errors.run_command(raising(SystemExit(2)))
    assert errors.run_command(lambda: None) == 0 and errors.run_command(lambda: 5) == 5


def test_an_unexpected_exception_in_a_real_process():
    code = "from base import errors; raise SystemExit(errors.run_command(lambda: 1 / 0))"
    done = subprocess.run([sys.executable, "-c", code], cwd=TOP, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["error: unexpected ZeroDivisionError: division by zero (the traceback: rerun "
                                        "with --loglevel DEBUG)"], done.stderr


def test_launch_workers_refuses_bad_numbers_and_a_missing_script_before_starting(tmp_path, capsys, monkeypatch):
    from tools import launch_workers

    (tmp_path / "script.py").write_text("print('hi')\n")
    for argv, words in ((["--timeout", "-5"], "--timeout"), (["--timeout", "nan"], "--timeout"),
                        (["--timeout", "inf"], "--timeout"), (["--workers", "10000"], "--workers must be from 1 to 256"),
                        (["--workers", "0"], "--workers")):
        err = _usage_error(launch_workers, argv + ["--", str(tmp_path / "script.py")], capsys)
        assert len(err) == 2 and err[0].startswith("usage: ") and words in err[1], (argv, err)
    monkeypatch.setattr(launch_workers, "launch", lambda *a, **k: pytest.fail("workers started"))
    for script, words in ((tmp_path / "no_such.py", "script not found"), (tmp_path, "is a folder")):
        assert launch_workers.main(["--workers", "2", "--", str(script), "--flag"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"error: {script}: {words}" + (", not a script to run" if script == tmp_path else "")], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["script.py"]


def test_a_script_run_in_this_process_gives_its_exit_code_and_restores_argv(tmp_path, capsys):
    """`runtime.process.run_script` (spot_video's steps, the demo's commands): the script runs as `__main__`
    with its arguments, its exit code is returned (a message as SystemExit's code: printed, 1), and
    `sys.argv` is back as it was."""
    script = tmp_path / "face.py"
    script.write_text("import sys\nif __name__ == '__main__':\n    print('args', sys.argv[1:])\n"
                      "    code = sys.argv[1]\n    raise SystemExit(None if code == 'none' else "
                      "int(code) if code.isdigit() else code)\n")
    before = list(sys.argv)
    assert [process.run_script(script, [code]) for code in ("none", "0", "2", "6", "stopped")] == [0, 0, 2, 6, 1]
    assert sys.argv == before
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"args ['{c}']" for c in ("none", "0", "2", "6", "stopped")]
    assert captured.err.splitlines() == ["stopped"]
