"""A training command once the face has checked its arguments and set the process up (TensorFlow
started): the devices and the strategy of --distribute, then --mode predict, or a training run in a new
run folder (or the one of --resume); errors end as one line on stderr and the scripts' exit codes."""
from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import tensorflow as tf

import dataset
import runs
from networks import kernels
from training import distribution
from training.data import open_training_data
from training.loop import train
from training.predict import predict
from training.trainer import NonFiniteLoss

log = logging.getLogger(__name__)


def execute(args, *, defaults: dict, command: Sequence[str], state: dict | None = None,
            after_epoch: Callable[[int], None] | None = None) -> int:
    """Run ClassificationMinuteBased.py's command `args` (checked; on --resume, the run's arguments).

    Args:
        defaults: the command line's defaults by flag (--mode predict falls back on them).
        command: the command line, recorded in a new run's args.json.
        state: the resume state of --resume (`runs.read_state`), None to start from scratch.
        after_epoch: passed to `training.loop.train` (a test hook).

    Returns:
        The exit code: 0, or `runs.EXIT_BAD_INPUT`, `runs.EXIT_NON_FINITE`, `runs.EXIT_WRITE_FAILED`.
    """
    kernels.set_xla_descriptor(args.xla_descriptor)
    run, chief = None, True
    try:
        distribution.configure_devices(args.distribute, args.replicas)
        replicas = distribution.make_replicas(args.distribute, args.replicas, not args.no_sync_bn)
        if args.deterministic:
            tf.config.experimental.enable_op_determinism()
        if args.formatdataset:
            log.info("--formatdataset: no chunk cache is needed here (windows are read by index)")
        if replicas is not None:
            log.info("%s", replicas.describe())
            chief = replicas.chief
        if args.mode == "predict":
            predict(args, defaults)
            return 0
        data = open_training_data(args)  # all input checked before the run folder exists
        if chief:
            run = Path(args.resume) if args.resume else runs.new_run_dir(args.tflog, args.outputPrefix)
            runs.setup_logging(args.loglevel, run / runs.TRAIN_LOG)
            if not args.resume:
                dataset.write_json_atomic(run / runs.ARGS_FILE, {"args": vars(args), "versions": runs.versions(),
                                                                 "command": list(command)})
        else:  # another worker of the run: the same work, its files in a private folder removed at the end
            run = worker_scratch(args.resume)
        log.info("run folder %s", run)
        log.info("arguments: %s", " ".join(f"--{k} {v}" for k, v in sorted(vars(args).items())))
        train(args, run, data, state, after_epoch, replicas)
    except dataset.DataError as exc:
        log.debug("bad input", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return runs.EXIT_BAD_INPUT
    except NonFiniteLoss as exc:
        log.debug("non-finite loss", exc_info=True)
        print(f"error: {run}: {exc}; training stopped, the last good checkpoint and best model are kept",
              file=sys.stderr)
        return runs.EXIT_NON_FINITE
    except OSError as exc:
        log.debug("write failed", exc_info=True)
        print(f"error: {exc.filename or run}: {exc.strerror or exc}; the previous checkpoint and best model are "
              "kept", file=sys.stderr)
        return runs.EXIT_WRITE_FAILED
    finally:
        if not chief and run is not None:
            shutil.rmtree(run, ignore_errors=True)
    return 0


def worker_scratch(resume: str | None) -> Path:
    """The folder where a worker other than the chief keeps its copy of the run's state (the chief's run
    folder is the only one written; a worker needs its own best state for the learning-rate steps). On
    --resume it starts from a copy of the run's checkpoint/ (a shared file system, or a copy of the run
    folder at the same path on each machine)."""
    scratch = Path(tempfile.mkdtemp(prefix="soccernet-worker-"))
    if resume:
        source = Path(resume) / runs.CHECKPOINT_DIR
        if source.is_dir():
            shutil.copytree(source, scratch / runs.CHECKPOINT_DIR)
    return scratch
