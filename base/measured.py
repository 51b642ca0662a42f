"""Choices made by measuring: where the fastest way to compute something depends on the machine, the
candidates are timed on the real shapes the first time the choice is needed, the fastest whose result
agrees with the first candidate's (within a tolerance) is taken, and the choice is cached per machine in
the user's cache folder, so that later processes take it at once. The one owner of the cache's file,
its key and the environment variables (no TensorFlow here: the caller passes the candidates and what
else the key needs, e.g. TensorFlow's version and the GPUs it sees).

- The cache: `$SOCCERNET_CACHE/measured_choices.json` (default `$XDG_CACHE_HOME/soccernet`, else
  `~/.cache/soccernet`); one entry per choice name and key (the processor's model and flags, the cores
  this process may use, TF_ENABLE_ONEDNN_OPTS, the caller's parts: library versions, devices, shapes,
  dtype; the candidates' names, so that a choice given a new candidate is measured again). A changed key
  measures again; an unreadable cache, or an entry not of this form, is measured over.
- `SOCCERNET_CHOICE_<NAME>=<candidate>` fixes a choice (NAME upper-cased); `SOCCERNET_MEASURE=0` takes the
  caller's first guess (its rule by processor flags) without measuring or reading the cache.
- Each choice is logged once per process.
- `networks.native` keeps the operations it builds in the same folder (`ops/`).
"""
from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from base.machine import cpu_flags, cpu_model

log = logging.getLogger(__name__)

CACHE_ENV = "SOCCERNET_CACHE"
MEASURE_ENV = "SOCCERNET_MEASURE"
CHOICE_ENV = "SOCCERNET_CHOICE_"
CACHE_FILE = "measured_choices.json"
_logged: set[tuple[str, str]] = set()


def cache_folder() -> Path:
    """The user's cache folder of this project (also where `networks.native` keeps the operations it builds)."""
    folder = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "soccernet"
    return Path(folder)


def cache_path() -> Path:
    return cache_folder() / CACHE_FILE


def machine_key(parts: Mapping[str, object]) -> str:
    """The key of a choice on this machine: the processor's model and flags, then the caller's parts."""
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma", "sse4")))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    machine = {"cpu": cpu_model(), "flags": " ".join(flags), "cores": str(cores),
               "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")}
    return json.dumps({**machine, **{k: str(v) for k, v in parts.items()}}, sort_keys=True)


def _read(path: Path) -> dict:
    try:
        content = json.loads(path.read_text())
        return content if isinstance(content, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: Path, content: dict) -> None:
    """Best effort (a cache): a temporary beside the file renamed onto it; nothing on failure. Not
    `base.files.write_json_atomic`: its writes are the fault points of the outputs' kill tests, and a cache
    written in one run and not the next must not shift them, nor may a cache that cannot be written fail
    a run."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(content, indent=1, sort_keys=True))
        os.replace(temporary, path)
    except OSError as error:
        log.debug("measured choices not cached (%s): %s", path, error)
        temporary.unlink(missing_ok=True)


def _say(name: str, choice: str, how: str) -> str:
    if (name, choice) not in _logged:
        _logged.add((name, choice))
        log.info("%s: %s (%s)", name, choice, how)
    return choice


def time_candidates(candidates: Mapping[str, Callable[[], object]], budget: float,
                    rounds: int = 5) -> dict[str, float]:
    """Each candidate's best time of up to `rounds` runs (each has run once before: its warm-up). The
    candidates take turns, one run each per round, so that a passing load on the machine (another
    process, a burst of page faults) falls on all of them, not on whichever one ran at that moment, which
    would make the cached choice wrong for good; the rounds end once about `budget` seconds per
    candidate, pooled, are spent."""
    best, spent = dict.fromkeys(candidates, float("inf")), 0.0
    for _ in range(rounds):
        for name, run in candidates.items():
            began = time.perf_counter()
            run()
            took = time.perf_counter() - began
            best[name], spent = min(best[name], took), spent + took
        if spent > budget * len(candidates):
            break
    return best


def choose(name: str, candidates: Mapping[str, Callable[[], object]], first_guess: str,
           key_parts: Mapping[str, object], tolerance: float = 1e-5, budget: float = 0.5) -> str:
    """The candidate to use for `name` (see the module's docstring for the order of precedence).

    Args:
        candidates: name -> a function computing the candidate's result on the real shapes (returning a
            NumPy-convertible array, converted once, for the agreement, not in the timed runs); the first
            is the reference the others must agree with.
        first_guess: the rule's choice, taken without measuring where SOCCERNET_MEASURE=0.
        key_parts: what else the choice depends on (shapes, dtype, library versions, devices).
        tolerance: relative agreement with the first candidate's result (on its largest magnitude).
        budget: seconds of timed runs per candidate, about (pooled: the rounds stop once all have spent
            budget times their number).
    Raises:
        ValueError: a fixed choice (SOCCERNET_CHOICE_<NAME>) that is not a candidate.
    """
    variable = CHOICE_ENV + name.upper()
    fixed = os.environ.get(variable)
    if fixed:
        if fixed not in candidates:
            raise ValueError(f"{variable}={fixed}: one of {', '.join(candidates)}")
        return _say(name, fixed, f"fixed by {variable}")
    if os.environ.get(MEASURE_ENV, "1") == "0":
        return _say(name, first_guess, f"the rule by processor flags, {MEASURE_ENV}=0")
    path, key = cache_path(), machine_key({**key_parts, "candidates": " ".join(sorted(candidates))})
    entries = _read(path).get(name)
    cached = entries.get(key) if isinstance(entries, dict) else None
    if isinstance(cached, dict) and cached.get("choice") in candidates:
        return _say(name, cached["choice"], f"measured earlier, cached in {path}")
    agreeing, reference = {}, None
    for candidate, run in candidates.items():
        result = np.asarray(run(), np.float64)  # its warm-up
        if reference is None:
            reference = result
            scale = max(float(np.max(np.abs(reference), initial=0.0)), 1e-30)
        elif (result.shape != reference.shape
              or float(np.max(np.abs(result - reference), initial=0.0)) > tolerance * scale):
            log.warning("%s: candidate %s disagrees with %s beyond %g: not taken", name, candidate,
                        next(iter(candidates)), tolerance)
            continue
        agreeing[candidate] = run
    times = time_candidates(agreeing, budget)
    choice = min(times, key=times.get)
    content = _read(path)
    if not isinstance(content.get(name), dict):  # absent, or not ours: measured over
        content[name] = {}
    content[name][key] = {"choice": choice, "seconds": times, "measured": time.strftime("%Y-%m-%d")}
    _write(path, content)
    how = ", ".join(f"{c} {s * 1e3:.1f} ms" for c, s in times.items())
    return _say(name, choice, f"measured: {how}; cached in {path}")
