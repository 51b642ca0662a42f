"""Bad input and how a command line reports it: one line naming the file and the problem, and an exit code.

Every script goes through `run_command`, so the codes and the wording of the last line are the same
everywhere: bad input (`DataError`, and the other exceptions a script declares as bad input) exits 2,
a non-finite loss 3 (training), a failed write 4.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Callable

log = logging.getLogger("soccernet")

EXIT_BAD_INPUT, EXIT_NON_FINITE, EXIT_WRITE_FAILED = 2, 3, 4


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
        raise
    return code if isinstance(code, int) else 0  # work that returns something else succeeded
