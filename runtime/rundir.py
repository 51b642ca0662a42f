"""The run folder: the one owner of its file names and of the formats of its files (no TensorFlow here).

A run folder is what `ClassificationMinuteBased.py` writes, `<tflog>/<outputPrefix>_<date>_<time>/`:

    args.json                      the arguments, versions and command of the run (`read_args`)
    best_model.keras               the model of the best validation epoch (`model_file`)
    test_report.json               the test of the best model on the run's --testing list; a run
                                   that holds it is finished (`find_run`)
    test_report_<list>.json        the test on another list (`--mode predict --testing LIST`)
    predictions_<list>.npz         test logits per chunk, for late fusion (`predictions_file`,
                                   `save_predictions`, `read_predictions`)
    metrics.csv, train.log         one row (`CSV_FIELDS`, `read_metrics`), and log lines, per epoch
    training/ validation/ testing/ TensorBoard scalars
    checkpoint/state.json          where a killed run resumes from (`read_state`), pointing at
    checkpoint/last_state_<e>.npz  the state after epoch e, and
    checkpoint/best_state.npz      the state of the best epoch (`save_state`, `load_state`; checkpoint/
                                   is removed when the run finishes, unless --keep_checkpoint)

This module owns those names and the formats of those files (with numpy: the state functions take the
model's and the optimizer's variables, and import no TensorFlow).
"""
from __future__ import annotations

import csv
import datetime
import json
import os
import zipfile
from pathlib import Path

import numpy as np

import dataset
from base import classes, errors, files

ARGS_FILE = "args.json"
BEST_MODEL = "best_model.keras"
TEST_REPORT = "test_report.json"
METRICS_CSV = "metrics.csv"
TRAIN_LOG = "train.log"
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
BEST_STATE = "best_state.npz"
LAST_STATES = "last_state_*.npz"  # the glob of `last_state_file`
TENSORBOARD_SPLITS = ("training", "validation", "testing")


def predictions_file(run: str | os.PathLike, list_path: str | os.PathLike) -> Path:
    """`<run>/predictions_<list stem>.npz`: the logits of every chunk of a list."""
    return Path(run) / f"predictions_{Path(list_path).stem}.npz"


def predictions_list_name(path: str | os.PathLike) -> str:
    """The list stem of a `predictions_<list>.npz` file (the inverse of `predictions_file`)."""
    return Path(path).stem.removeprefix("predictions_")


def last_state_file(epoch: int) -> str:
    """Name of the state after `epoch` (1-based) in the checkpoint folder."""
    return f"last_state_{epoch:03d}.npz"


def model_file(path: str | os.PathLike) -> Path:
    """The `.keras` file of "a run folder or a .keras file".

    Raises:
        errors.DataError: there is no such file.
    """
    path = Path(path)
    found = path / BEST_MODEL if path.is_dir() else path
    if not found.is_file():
        raise errors.DataError(found, "model file not found")
    return found


def read_args(run: str | os.PathLike, required: bool = True) -> dict:
    """The arguments a run was started with (`args.json`'s "args"); {} when it has none and not `required`.

    Raises:
        errors.DataError: the file is missing (when required) or unreadable.
    """
    path = Path(run) / ARGS_FILE
    if not path.is_file():
        if required:
            raise errors.DataError(path, "not found: not a run folder of ClassificationMinuteBased.py")
        return {}
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["args"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise errors.DataError(path, f"unreadable run arguments ({exc!r})") from None
    if not isinstance(recorded, dict):
        raise errors.DataError(path, "unreadable run arguments ('args' is not an object)")
    return recorded


def read_state(run: str | os.PathLike) -> dict:
    """The resume state of a run (`checkpoint/state.json`).

    Raises:
        errors.DataError: missing or unreadable (the run cannot be resumed).
    """
    path = Path(run) / CHECKPOINT_DIR / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.DataError(Path(run), f"not a resumable run folder ({exc})") from None
    if not isinstance(state, dict) or "state_file" not in state or "epoch" not in state:
        raise errors.DataError(path, "not a resume state (no 'epoch' or 'state_file')")
    return state


def has_state(run: str | os.PathLike) -> bool:
    """Whether a run has written a resume state (it finished at least one epoch)."""
    return (Path(run) / CHECKPOINT_DIR / STATE_FILE).is_file()


def is_finished(run: str | os.PathLike) -> bool:
    """A run is finished when its best model has been tested."""
    return (Path(run) / TEST_REPORT).is_file()


def read_test_report(run: str | os.PathLike) -> dict:
    return json.loads((Path(run) / TEST_REPORT).read_text(encoding="utf-8"))


def test_report_file(run: str | os.PathLike, list_path: str | os.PathLike,
                     run_testing: str | os.PathLike | None) -> Path:
    """Where the test of a run's model on a list goes: `test_report.json` for the run's own --testing
    list (`run_testing`; the report `find_run` and reproduce.py read), `test_report_<list stem>.json` for
    any other list. Lists are told apart by their stem, as `predictions_file` does."""
    stem = Path(list_path).stem
    if run_testing is not None and stem == Path(run_testing).stem:
        return Path(run) / TEST_REPORT
    return Path(run) / f"{Path(TEST_REPORT).stem}_{stem}.json"


def read_metrics(run: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a run's `metrics.csv`, one per epoch, as ClassificationMinuteBased.py wrote them (text
    values keyed by its columns: epoch, train_mAP, valid_mAP, action, ...)."""
    with open(Path(run) / METRICS_CSV, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def find_run(runs: str | os.PathLike, prefix: str) -> tuple[Path | None, bool]:
    """The newest finished run folder of `<runs>/<prefix>_*`, else the newest resumable one.

    Returns:
        (folder or None, whether it is finished).
    """
    candidates = sorted(p for p in Path(runs).glob(f"{prefix}_*") if (p / ARGS_FILE).is_file())
    for run in reversed(candidates):
        if is_finished(run):
            return run, True
    for run in reversed(candidates):
        if has_state(run):
            return run, False
    return None, False


def new_run_dir(tflog: str | os.PathLike, prefix: str) -> Path:
    """A new run folder `<tflog>/<prefix>_<YYYY-MM-DD>_<HH-MM-SS>` (the original's name; `_2`, `_3`, ...
    when it exists). Creating it is the test: two runs started in the same second get two folders.

    Raises:
        errors.DataError: `tflog` cannot hold a new folder (not a folder, not writable, ...).
    """
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    base = Path(tflog) / (f"{prefix}_{stamp}" if prefix else stamp)
    run, number = base, 1
    while True:
        try:
            run.mkdir(parents=True)
        except FileExistsError:
            number += 1
            run = base.with_name(f"{base.name}_{number}")
            continue
        except OSError as exc:
            raise errors.DataError(tflog, f"cannot create a run folder there ({exc.strerror or exc})") from None
        if not os.access(run, os.W_OK):
            run.rmdir()
            raise errors.DataError(tflog, "the run folder is not writable")
        return run


def state_variables(model, optimizer) -> dict:
    """Every variable of the model and the optimizer (weights, batch-norm statistics, dropout generator
    states, Adam moments, step and learning rate) by a stable name: "model/<path>", "optimizer/<path>"
    (the layers are named and the session cleared before each build, so the paths are the same in every
    build of the same run)."""
    named = {f"model/{v.path}": v for v in model.variables}
    named.update({f"optimizer/{v.path}": v for v in optimizer.variables})
    if len(named) != len(model.variables) + len(optimizer.variables):
        raise ValueError("two variables share a path: the state could not be matched by name")
    return named


def save_state(path: Path, model, optimizer) -> None:
    """All model and optimizer variables as one .npz of plain arrays keyed by name, written atomically."""
    arrays = {name: np.asarray(v.numpy()) for name, v in state_variables(model, optimizer).items()}
    files.write_atomic(path, lambda temporary: np.savez(temporary, **arrays))


def load_state(path: Path, model, optimizer) -> None:
    """Assign the variables saved by `save_state`, matched by name (never by position: several NetVLAD
    variables share a shape). The optimizer's learning rate is restored too: set the schedule's
    afterwards.

    Raises:
        errors.DataError: the file is not such a state, or its names or shapes are not this model's.
    """
    variables = state_variables(model, optimizer)
    try:
        saved = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise errors.DataError(path, f"not a saved state ({exc})") from None
    with saved:
        missing = sorted(set(variables) - set(saved.files))
        unexpected = sorted(set(saved.files) - set(variables))
        if missing or unexpected:
            detail = "; ".join(f"{kind} {names[0]!r}" + (f" and {len(names) - 1} more" if len(names) > 1 else "")
                               for kind, names in (("missing", missing), ("unexpected", unexpected)) if names)
            raise errors.DataError(path, f"saved state does not match this model's variables ({detail})")
        arrays = {name: saved[name] for name in variables}
    for name, variable in variables.items():
        if tuple(arrays[name].shape) != tuple(variable.shape):
            raise errors.DataError(path, f"saved state does not match this model: {name!r} has shape "
                                          f"{tuple(arrays[name].shape)}, the model's {tuple(variable.shape)}")
    for name, variable in variables.items():
        variable.assign(arrays[name])

def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def csv_fields(spotted: classes.ClassSet = classes.V1) -> list[str]:
    """The columns of metrics.csv: the validation AP of each class of the run's class set
    (valid_AP_card, valid_AP_subs, valid_AP_goal for v1; valid_AP_penalty, ... for v2)."""
    return (["epoch", "learning_rate", "train_loss", "train_mAP", "valid_loss", "valid_mAP"]
            + [f"valid_AP_{name}" for name in spotted.identifiers[1:]]
            + ["best_mAP", "best_epoch", "bad_epochs", "action", "seconds"])


CSV_FIELDS = csv_fields()  # a v1 run's


def append_csv(path: Path, row: dict) -> None:
    """One epoch's row; the columns are the file's, or for a new file the row's (`csv_fields`' order)."""
    new = not path.exists()
    fields = list(row) if new else _header(path)
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow(row)


def truncate_csv(path: Path, epochs: int) -> None:
    """Keep the rows of the first `epochs` epochs (a run killed after logging an epoch but before
    its checkpoint replays that epoch on --resume)."""
    if not path.exists():
        return
    rows = [row for row in read_metrics(path.parent) if int(row["epoch"]) <= epochs]
    fields = _header(path)

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    files.write_atomic(path, write)

# these are equal); "logits" holds the scores.
CHUNK_KEYS = ("games", "halves", "half_id", "start", "labels")


def save_predictions(path: Path, split: dataset.Split, index: dataset.WindowIndex, logits: np.ndarray) -> None:
    """Test logits with what identifies each chunk, for late fusion (fusion.py). Plain arrays only."""
    arrays = dict(logits=logits.astype(np.float32), labels=index.labels, half_id=index.half_id, start=index.start,
                  games=np.array([h.game for h in split.halves]),
                  halves=np.array([h.half for h in split.halves], np.int32))
    files.write_atomic(path, lambda temporary: np.savez(temporary, **arrays))


def read_predictions(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a `predictions_<list>.npz` (`save_predictions`).

    Raises:
        errors.DataError: no such file, not an .npz of plain arrays, an array missing, or logits that are not
            finite (chunks, 1 + C) floats beside labels of the same shape.
    """
    path = Path(path)
    if not path.is_file():
        raise errors.DataError(path, "no saved predictions (train the run to the end, or run "
                                      "ClassificationMinuteBased.py --mode predict --model RUN)")
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in saved.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # not an .npz of plain arrays
        raise errors.DataError(path, f"unreadable saved predictions ({exc})") from None
    missing = [key for key in ("logits",) + CHUNK_KEYS if key not in arrays]
    if missing:
        raise errors.DataError(path, f"saved predictions without {', '.join(missing)}")
    logits, labels = arrays["logits"], arrays["labels"]
    if logits.ndim != 2 or logits.shape != labels.shape or logits.dtype.kind != "f":
        raise errors.DataError(path, f"logits {logits.dtype} {logits.shape} do not match labels {labels.shape}")
    if not np.isfinite(logits).all():
        raise errors.DataError(path, f"{int((~np.isfinite(logits)).sum())} logits are not finite (NaN or infinite)")
    return arrays
