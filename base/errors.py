"""Bad input and how a command line reports it: one line naming the file and the problem, and an exit code.

Every script goes through `run_command`, so the codes and the wording of the last line are the same
everywhere: bad input (`DataError`, and the other exceptions a script declares as bad input) exits 2,
a non-finite loss 3 (training), a failed write 4, a multi-worker training whose peer did not join in time 5
and one whose peer was lost mid-run 6; any other exception is one line naming it and exit 1
(its traceback in the script's log file when it keeps one, and on stderr under `--loglevel DEBUG`), and
Ctrl-C one line and exit 130.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Callable

log = logging.getLogger("soccernet")

EXIT_UNEXPECTED, EXIT_BAD_INPUT, EXIT_NON_FINITE, EXIT_WRITE_FAILED = 1, 2, 3, 4
EXIT_CLUSTER_JOIN, EXIT_PEER_LOST = 5, 6  # multi-worker training (`training.cluster`)
EXIT_INTERRUPTED = 130  # a shell's code for a process stopped by SIGINT


class DataError(Exception):
    """Bad input data. The message is one line: the file, then the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def run_command(work: Callable[[], int | None], *, bad_input: tuple[type[BaseException], ...] = (DataError,),
                write_failed: Callable[[OSError], str] | None = None,
                also: tuple[tuple[type[BaseException], int, Callable[[BaseException], str]], ...] = ()) -> int:
    """Run a script's work and turn its failures into one line on stderr and an exit code.

    Args:
        work: the script's work after its arguments are checked; returns the exit code (0 for anything not an int).
        bad_input: the exceptions that mean bad input: exit 2, "error: <message>".
        write_failed: the line after "error: " for a failed write (exit 4); by default "<file>: <reason>".
        also: (exception, exit code, the line after "error: ") for a script's own failures, tried first
            (training's non-finite loss: exit 3).

    Any other exception: "error: unexpected <type>: <first line of its message>" and exit 1; Ctrl-C:
    "interrupted" and exit 130. `SystemExit` (argparse's usage errors, a nested script's exit) passes.
    """
    try:
        code = work()
    except BaseException as exc:
        for kind, exit_code, line in also:
            if isinstance(exc, kind):
                log.debug("stopped", exc_info=True)
                print(f"error: {line(exc)}", file=sys.stderr)
                return exit_code
        if isinstance(exc, bad_input):
            log.debug("bad input", exc_info=True)
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if isinstance(exc, OSError):
            log.debug("write failed", exc_info=True)
            line = write_failed(exc) if write_failed is not None else f"{exc.filename}: {exc.strerror or exc}"
            print(f"error: {line}", file=sys.stderr)
            return EXIT_WRITE_FAILED
        if isinstance(exc, KeyboardInterrupt):
            log.debug("interrupted", exc_info=True)
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        if isinstance(exc, Exception):
            return _unexpected(exc)
        raise
    return code if isinstance(code, int) else 0  # work that returns something else succeeded


def _log_files() -> list[logging.FileHandler]:
    """The script's log files: the file handlers `runtime.process.setup_logging` put on the root logger
    (training's train.log); handlers others attach (a test runner's) are not the script's."""
    return [handler for handler in logging.getLogger().handlers
            if isinstance(handler, logging.FileHandler) and getattr(handler, "_soccernet", False)]


def _unexpected(exc: Exception) -> int:
    """An exception no script expects: its traceback in the log file whatever the level, on stderr under
    DEBUG; otherwise one line naming it."""
    message = str(exc).strip().splitlines()
    name = type(exc).__name__
    text = f"unexpected {name}: {message[0]}" if message else f"unexpected {name}"
    files = _log_files()
    if log.isEnabledFor(logging.DEBUG):
        log.debug(text, exc_info=True)  # every handler, the log file's included
    elif files:  # the traceback kept in the log file at any level, not shown on stderr
        record = log.makeRecord(log.name, logging.ERROR, __file__, 0, text, (), (type(exc), exc, exc.__traceback__))
        for handler in files:
            handler.handle(record)
    if files:
        where = ", ".join(handler.baseFilename for handler in files)
        print(f"error: {text} (the traceback is in {where})", file=sys.stderr)
    elif log.isEnabledFor(logging.DEBUG):
        print(f"error: {text}", file=sys.stderr)
    else:
        print(f"error: {text} (the traceback: rerun with --loglevel DEBUG)", file=sys.stderr)
    return EXIT_UNEXPECTED
