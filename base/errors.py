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


class NonFiniteLoss(Exception):
    """Training met a loss or gradient that is not finite (exit 3)."""


def run_command(work: Callable[[], int | None], *, bad_input: tuple[type[BaseException], ...] = (DataError,),
                write_failed: Callable[[OSError], str] | None = None,
                non_finite: Callable[[NonFiniteLoss], str] | None = None) -> int:
    """Run a script's work and turn its failures into one line on stderr and an exit code.

    Args:
        work: the script's work after its arguments are checked; returns the exit code (None for 0).
        bad_input: the exceptions that mean bad input (exit 2, "error: <message>").
        write_failed: the line after "error: " for a failed write (exit 4); by default
            "<file>: <reason>".
        non_finite: the line after "error: " for a non-finite loss (exit 3); NonFiniteLoss propagates
            where it is not given.
    """
    try:
        code = work()
    except bad_input as exc:
        log.debug("bad input", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NonFiniteLoss as exc:
        if non_finite is None:
            raise
        log.debug("non-finite loss", exc_info=True)
        print(f"error: {non_finite(exc)}", file=sys.stderr)
        return EXIT_NON_FINITE
    except OSError as exc:
        log.debug("write failed", exc_info=True)
        line = write_failed(exc) if write_failed is not None else f"{exc.filename}: {exc.strerror or exc}"
        print(f"error: {line}", file=sys.stderr)
        return EXIT_WRITE_FAILED
    return 0 if code is None else code
