"""The run folder and the process set-up that every command-line script shares (no TensorFlow here).

A run folder is what `ClassificationMinuteBased.py` writes, `<tflog>/<outputPrefix>_<date>_<time>/`:

    args.json                      the arguments, versions and command of the run (`read_args`)
    best_model.keras               the model of the best validation epoch (`model_file`)
    test_report.json               the test of the best model on the run's --testing list; a run
                                   that holds it is finished (`find_run`)
    test_report_<list>.json        the test on another list (`--mode predict --testing LIST`)
    predictions_<list>.npz         test logits per chunk, for late fusion (`predictions_file`,
                                   `save_predictions`, `read_predictions`)
    metrics.csv, train.log         one row (`CSV_FIELDS`, `read_metrics_csv`), and log lines, per epoch
    training/ validation/ testing/ TensorBoard scalars
    checkpoint/state.json          where a killed run resumes from (`read_state`), pointing at
    checkpoint/last_state_<e>.npz  the state after epoch e, and
    checkpoint/best_state.npz      the state of the best epoch (`save_state`, `load_state`; checkpoint/
                                   is removed when the run finishes, unless --keep_checkpoint)

This module owns those names and the formats of those files (with numpy: the state functions take the
model's and the optimizer's variables, and import no TensorFlow). It also owns the process set-up of the
scripts (`setup_process`: `--GPU`, the allocator settings, one logging format with a progress-bar-friendly
handler), which must run before TensorFlow is imported, and the processor probe for bfloat16.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np

import dataset
from networks import names
from networks.machine import cpu_flags

TOP = Path(__file__).resolve().parent
log = logging.getLogger("runs")

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
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
# Exit codes of the scripts: 0 done; 2 bad input or usage (nothing written); 3 training diverged (a
# non-finite loss); 4 a write failed (a full disk, an unwritable folder). The last good files are kept.
EXIT_BAD_INPUT, EXIT_NON_FINITE, EXIT_WRITE_FAILED = 2, 3, 4
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


# ------------------------------------------------------------------------------------------------
# The run folder


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
        dataset.DataError: there is no such file.
    """
    path = Path(path)
    found = path / BEST_MODEL if path.is_dir() else path
    if not found.is_file():
        raise dataset.DataError(found, "model file not found")
    return found


def read_args(run: str | os.PathLike, required: bool = True) -> dict:
    """The arguments a run was started with (`args.json`'s "args"); {} when it has none and not `required`.

    Raises:
        dataset.DataError: the file is missing (when required) or unreadable.
    """
    path = Path(run) / ARGS_FILE
    if not path.is_file():
        if required:
            raise dataset.DataError(path, "not found: not a run folder of ClassificationMinuteBased.py")
        return {}
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["args"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise dataset.DataError(path, f"unreadable run arguments ({exc!r})") from None
    if not isinstance(recorded, dict):
        raise dataset.DataError(path, "unreadable run arguments ('args' is not an object)")
    return recorded


def read_state(run: str | os.PathLike) -> dict:
    """The resume state of a run (`checkpoint/state.json`).

    Raises:
        dataset.DataError: missing or unreadable (the run cannot be resumed).
    """
    path = Path(run) / CHECKPOINT_DIR / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise dataset.DataError(Path(run), f"not a resumable run folder ({exc})") from None
    if not isinstance(state, dict) or "state_file" not in state or "epoch" not in state:
        raise dataset.DataError(path, "not a resume state (no 'epoch' or 'state_file')")
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


# ------------------------------------------------------------------------------------------------
# The files of a run: the states, metrics.csv, the test logits


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
    dataset.write_atomic(path, lambda temporary: np.savez(temporary, **arrays))


def load_state(path: Path, model, optimizer) -> None:
    """Assign the variables saved by `save_state`, matched by name (never by position: several NetVLAD
    variables share a shape). The optimizer's learning rate is restored too: set the schedule's
    afterwards.

    Raises:
        dataset.DataError: the file is not such a state, or its names or shapes are not this model's.
    """
    variables = state_variables(model, optimizer)
    try:
        saved = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise dataset.DataError(path, f"not a saved state ({exc})") from None
    with saved:
        missing = sorted(set(variables) - set(saved.files))
        unexpected = sorted(set(saved.files) - set(variables))
        if missing or unexpected:
            detail = "; ".join(f"{kind} {names[0]!r}" + (f" and {len(names) - 1} more" if len(names) > 1 else "")
                               for kind, names in (("missing", missing), ("unexpected", unexpected)) if names)
            raise dataset.DataError(path, f"saved state does not match this model's variables ({detail})")
        arrays = {name: saved[name] for name in variables}
    for name, variable in variables.items():
        if tuple(arrays[name].shape) != tuple(variable.shape):
            raise dataset.DataError(path, f"saved state does not match this model: {name!r} has shape "
                                          f"{tuple(arrays[name].shape)}, the model's {tuple(variable.shape)}")
    for name, variable in variables.items():
        variable.assign(arrays[name])


# The columns of metrics.csv, one row per epoch (1-based).
CSV_FIELDS = ["epoch", "learning_rate", "train_loss", "train_mAP", "valid_loss", "valid_mAP",
              "valid_AP_card", "valid_AP_subs", "valid_AP_goal", "best_mAP", "best_epoch", "bad_epochs",
              "action", "seconds"]


def append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def read_metrics_csv(path: str | os.PathLike) -> list[dict]:
    """The rows of a metrics.csv, as text by column name (`CSV_FIELDS`)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def truncate_csv(path: Path, epochs: int) -> None:
    """Keep the rows of the first `epochs` epochs (a run killed after logging an epoch but before
    its checkpoint replays that epoch on --resume)."""
    if not path.exists():
        return
    rows = [row for row in read_metrics_csv(path) if int(row["epoch"]) <= epochs]

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    dataset.write_atomic(path, write)


# The arrays of a predictions_<list>.npz that identify its chunks (two files score the same chunks when
# these are equal); "logits" holds the scores.
CHUNK_KEYS = ("games", "halves", "half_id", "start", "labels")


def save_predictions(path: Path, split: dataset.Split, index: dataset.WindowIndex, logits: np.ndarray) -> None:
    """Test logits with what identifies each chunk, for late fusion (fusion.py). Plain arrays only."""
    arrays = dict(logits=logits.astype(np.float32), labels=index.labels, half_id=index.half_id, start=index.start,
                  games=np.array([h.game for h in split.halves]),
                  halves=np.array([h.half for h in split.halves], np.int32))
    dataset.write_atomic(path, lambda temporary: np.savez(temporary, **arrays))


def read_predictions(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a `predictions_<list>.npz` (`save_predictions`).

    Raises:
        dataset.DataError: no such file, or not an .npz of plain arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise dataset.DataError(path, "no saved predictions (train the run to the end, or run "
                                      "ClassificationMinuteBased.py --mode predict --model RUN)")
    try:
        with np.load(path, allow_pickle=False) as saved:
            return {key: saved[key] for key in saved.files}
    except (OSError, ValueError) as exc:  # not an .npz of plain arrays
        raise dataset.DataError(path, f"unreadable saved predictions ({exc})") from None


# ------------------------------------------------------------------------------------------------
# The run's recorded settings, for the scripts that use a trained model

# Flags that describe a trained model and the data it reads; given with a trained run, each must agree
# with what the run recorded.
MODEL_FLAGS = ("architecture", "network", "VLAD_k", "WindowSize", "featuresVideo", "featuresAudio", "PCA",
               "featurePerSec")
# Used for a bare .keras file with no args.json beside it, where the command line does not say (--PCA
# then follows the model's video input: `model_config`).
MODEL_FLAG_DEFAULTS = {"featuresVideo": "ResNET", "featuresAudio": "VGGish", "featurePerSec": 2}


def resolve_settings(args: argparse.Namespace, recorded: dict, model_file: Path) -> dict:
    """The model flags (`MODEL_FLAGS`): the run's recorded ones, checked against those given on the
    command line (None in `args`: not given).

    Raises:
        dataset.DataError: a given flag contradicts the run.
    """
    normalise = {"architecture": names.resolve_architecture, "network": names.resolve_pooling,
                 "WindowSize": float, "VLAD_k": int, "featurePerSec": int, "PCA": bool}
    settings = {}
    for flag in MODEL_FLAGS:
        given, saved = getattr(args, flag, None), recorded.get(flag)
        convert = normalise.get(flag, str)
        if given is not None and saved is not None:
            try:
                same = convert(given) == convert(saved)
            except ValueError:
                same = False
            if not same:
                raise dataset.DataError(model_file, f"was trained with --{flag} {saved}, not {given}; "
                                                    f"leave --{flag} out to use the run's")
        value = saved if saved is not None else given
        try:
            settings[flag] = convert(value) if value is not None else MODEL_FLAG_DEFAULTS.get(flag)
        except ValueError as exc:
            raise dataset.DataError(model_file, f"--{flag}: {exc}") from None
    return settings


def model_config(model, model_file: Path, settings: dict) -> tuple[dict, int]:
    """The model's own build arguments (architecture, window N in frames, batch-norm mode, ...), checked
    against the settings (`resolve_settings`: given or recorded): the architecture and `--WindowSize` must
    agree with the model. `settings["PCA"]`, when nothing said it, becomes whether the video input is 512
    wide (the PCA512 files).

    Returns:
        (build config, window N in frames).
    Raises:
        dataset.DataError: not a model of this project's networks/, or a setting that disagrees.
    """
    from networks import architectures  # TensorFlow: imported once the process is set up

    config = architectures.model_build_config(model)
    if not config:
        raise dataset.DataError(model_file, "is not a model built by this project's networks/")
    if settings["architecture"] is not None and settings["architecture"] != config["architecture"]:
        raise dataset.DataError(model_file, f"holds a {config['architecture']} model, not {settings['architecture']}")
    if settings["PCA"] is None:  # neither recorded nor given
        settings["PCA"] = config.get("video_dim") == dataset.PCA_DIM
    frames = config["num_frames"]
    if settings["WindowSize"] is not None and settings["WindowSize"] * settings["featurePerSec"] != frames:
        raise dataset.DataError(model_file, f"takes {frames} frames, not a {settings['WindowSize']:g} s window at "
                                            f"{settings['featurePerSec']} features per second")
    return config, frames


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
        dataset.DataError: `tflog` cannot hold a new folder (not a folder, not writable, ...).
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
            raise dataset.DataError(tflog, f"cannot create a run folder there ({exc.strerror or exc})") from None
        if not os.access(run, os.W_OK):
            run.rmdir()
            raise dataset.DataError(tflog, "the run folder is not writable")
        return run


def load_model(path: str | os.PathLike):
    """The model of "a run folder or a .keras file", loaded in Keras's safe mode.

    Returns:
        (model, model file).
    Raises:
        dataset.DataError: no such file, or a file that is not a model this project saved (not a .keras
            archive, truncated, another architecture, a newer Keras...), in one line.
    """
    from networks import architectures  # TensorFlow: imported once the process is set up

    found = model_file(path)
    try:
        return architectures.load_model(found), found
    except Exception as exc:  # Keras raises many kinds here; each means "not a model we can load"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise dataset.DataError(found, f"not a model this project can load ({type(exc).__name__}"
                                       f"{': ' + first[:200] if first else ''})") from exc


def versions() -> dict:
    """Python, TensorFlow, Keras and numpy versions and the git commit, for `args.json`."""
    import keras
    import tensorflow as tf

    commit = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=TOP, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "git_commit": commit}


# ------------------------------------------------------------------------------------------------
# Command-line helpers


def argument_type(convert: Callable, name: str | None = None) -> Callable:
    """An argparse `type` from a function that raises ValueError with a readable message."""
    def parse(text: str):
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = name or getattr(convert, "__name__", "value")
    return parse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every script's help: the default after each option's text, once. Left out where the help already
    says what the default is, for None (the help says what no value means) and for off switches."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS \
                or "default" in text.lower():
            return text
        return super()._get_help_string(action)


def _log_level(text: str) -> str:
    level = str(text).strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown log level {text!r}; valid: {', '.join(LOG_LEVELS)}")
    return level


log_level = argument_type(_log_level, "log level")


def add_process_arguments(parser: argparse.ArgumentParser, gpu: bool = True) -> None:
    """`--loglevel` (and `--GPU`), the same in every script."""
    if gpu:
        parser.add_argument("--GPU", type=int, default=-1,
                            help="GPU to use (sets CUDA_VISIBLE_DEVICES before TensorFlow starts); -1: TensorFlow's choice")
    parser.add_argument("--loglevel", type=log_level, default="INFO", help=f"logging level ({', '.join(LOG_LEVELS)})")


def add_xla_descriptor_argument(parser) -> None:
    """`--xla_descriptor`, the same in the training and spotting scripts and the benchmarks; the caller
    passes it to `networks.kernels.set_xla_descriptor` once TensorFlow is started."""
    parser.add_argument("--xla_descriptor", action="store_true",
                        help="compile NetVLAD's and NetRVLAD's float32 descriptor with XLA "
                             "(networks.set_xla_descriptor): the same numbers up to float rounding, each new batch "
                             "shape compiled once; in mixed precision the descriptor has its own path, not compiled")


# ------------------------------------------------------------------------------------------------
# Process set-up (before TensorFlow is imported)


def tune_allocator() -> bool:
    """Keep freed memory for reuse instead of returning it to the system (glibc only).

    glibc serves blocks over 32 MB with fresh memory maps and unmaps them when freed, so every batch
    of windows (and every large TensorFlow temporary) pays for zero-filled page faults on first
    touch. With no mmap for large blocks and no trimming, freed blocks are reused (the README's
    benchmark section has the figures, `bench/bench_pipeline.py`). Resident memory then stays at its
    high-water mark. Call it early in a script's main(), before TensorFlow is imported; a no-op where
    glibc is absent.

    It also asks TensorFlow for its best-fit-with-coalescing CPU allocator (`TF_CPU_ALLOCATOR_USE_BFC`,
    unless the environment already says otherwise), which made the big poolings' training steps faster
    (`bench/bench_networks.py --compare_allocators`). It acts only if TensorFlow is not imported yet.

    Returns:
        True when the allocator was tuned.
    """
    import ctypes
    import ctypes.util

    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_max = -1, -4  # glibc malloc.h
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2 ** 31 - 1))
    except (OSError, AttributeError):
        return False


def progress_off(no_progress: bool) -> bool | None:
    """tqdm's `disable` for every progress bar: off when asked, and off when stderr is not a terminal
    (None: tqdm's own test), so that logs redirected to a file hold lines, not bar frames."""
    return True if no_progress else None


class TqdmHandler(logging.StreamHandler):
    """Log lines on stderr that do not break the progress bars."""

    def emit(self, record):
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must not raise
            self.handleError(record)


def setup_logging(level: str = "INFO", log_file: str | os.PathLike | None = None) -> None:
    """One logging format for every script: stderr through `TqdmHandler`, and `log_file` when given.
    Calling it again replaces the handlers it installed before."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_soccernet", False):
            root.removeHandler(handler)
            handler.close()
    handlers = [TqdmHandler()]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler._soccernet = True
        handler.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(_log_level(level))


def setup_process(args: argparse.Namespace) -> None:
    """What every script does first, before TensorFlow is imported: the GPU choice (`args.GPU`, when the
    script has it), the allocator settings, and the logging set-up (`args.loglevel`)."""
    gpu = getattr(args, "GPU", -1)
    if gpu is not None and gpu >= 0:
        os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    tune_allocator()
    setup_logging(getattr(args, "loglevel", "INFO"))


# What TensorFlow's CUDA build prints on a machine without NVIDIA's driver, straight to file descriptor 2
# and before its logging is set up (so TF_CPP_MIN_LOG_LEVEL cannot hide it): dropped on such machines.
CUDA_NOISE = ("cudart_stub.cc", "cuda_platform.cc", "cuInit", "cuda drivers", "cuda_executor.cc",
              "gpu_device.cc:2", "Unable to register cu")


def has_nvidia_driver() -> bool:
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists()


def _import_tensorflow_quietly():
    """Import TensorFlow and look for GPUs with file descriptor 2 sent to a temporary file, then write back
    what it caught except TensorFlow's CUDA start-up complaints (only on a machine without NVIDIA's driver;
    elsewhere nothing is caught). Returns (tensorflow, its physical GPUs)."""
    if "tensorflow" in sys.modules or has_nvidia_driver():
        import tensorflow as tf

        return tf, tf.config.list_physical_devices("GPU")
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not any(noise in line for noise in CUDA_NOISE)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    return tf, gpus


def start_tensorflow():
    """Import TensorFlow, let GPU memory grow on demand (so that spotting or the evaluator can run beside
    a training on the same GPU), and log the devices the script runs on, so that a silent CPU fallback
    shows. On a machine without NVIDIA's driver, TensorFlow's CUDA start-up errors are not shown. Returns
    the tensorflow module."""
    tf, gpus = _import_tensorflow_quietly()
    # TensorFlow's Python logger (the distribution strategies log every collective at INFO).
    logging.getLogger("tensorflow").setLevel(max(logging.WARNING, logging.getLogger().level))
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # already initialised: keep what is set
            pass
    if gpus:
        log.info("devices: %s", ", ".join(g.name for g in gpus))
    else:
        log.info("devices: CPU only (%d cores%s); TensorFlow sees no GPU", os.cpu_count() or 1,
                 ", bfloat16 instructions" if cpu_has_bf16() else "")
    return tf


def cpu_has_bf16() -> bool:
    """Whether the processor has bfloat16 instructions (avx512_bf16 or amx_bf16; Linux /proc/cpuinfo)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())
