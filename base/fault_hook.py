"""A test hook: SIGKILL this process at a named point, as a scheduler or the out-of-memory killer would.

The reliability tests set `$SOCCERNET_FAULT` to "POINT" or "POINT@N" (the N-th time the point is reached,
default the first), or "*@N" (the N-th point reached, whatever its name: every write of a run in turn), and
check that what the killed process leaves behind is whole. Unset, the hook does nothing. Points:
"write:<file name>" (a file written, not yet renamed into place), "publish:<file name>" (a staged file
about to move into its output folder; both `base.files`) and those the training loop names ("step",
"validate"). With `$SOCCERNET_FAULT_SIGNAL` set to "STOP" the process is stopped there (SIGSTOP) instead of
killed: a hung process, alive but silent.
"""
from __future__ import annotations

import os
import signal

FAULT_ENV = "SOCCERNET_FAULT"
FAULT_SIGNAL_ENV = "SOCCERNET_FAULT_SIGNAL"
_fault_counts: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL (or stop it: `$SOCCERNET_FAULT_SIGNAL`) here when `$SOCCERNET_FAULT`
    names this point (tests only)."""
    wanted = os.environ.get(FAULT_ENV)
    if not wanted:
        return
    point, _, count = wanted.partition("@")
    key = "*" if point == "*" else name  # "*": every point counts, whatever its name
    _fault_counts[key] = _fault_counts.get(key, 0) + 1
    if point in ("*", name) and _fault_counts[key] == int(count or 1):
        stop = os.environ.get(FAULT_SIGNAL_ENV) == "STOP"
        os.kill(os.getpid(), signal.SIGSTOP if stop else signal.SIGKILL)
