"""A training command once the face has checked its arguments and set the process up (TensorFlow
started): the devices and the strategy of --distribute, then --mode predict, or a training run in a new
run folder (or the one of --resume); errors end as one line on stderr and the scripts' exit codes."""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import tensorflow as tf

from base import errors, files
from networks import kernels
from runtime import process, rundir
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
        state: the resume state of --resume (`rundir.read_state`), None to start from scratch.
        after_epoch: passed to `training.loop.train` (a test hook).

    Returns:
        The exit code: 0, or `errors.EXIT_BAD_INPUT`, `errors.EXIT_NON_FINITE`, `errors.EXIT_WRITE_FAILED`.
    """
    kernels.set_xla_descriptor(args.xla_descriptor)
    where = {"run": None, "chief": True}  # what the error lines and the clean-up need of the work below

    def work() -> None:
        distribution.configure_devices(args.distribute, args.replicas)
        replicas = distribution.make_replicas(args.distribute, args.replicas, not args.no_sync_bn)
        if args.deterministic:
            tf.config.experimental.enable_op_determinism()
        if args.formatdataset:
            log.info("--formatdataset: no chunk cache is needed here (windows are read by index)")
        if replicas is not None:
            log.info("%s", replicas.describe())
            where["chief"] = replicas.chief
        if args.mode == "predict":
            predict(args, defaults)
            return
        data = open_training_data(args)  # all input checked before the run folder exists
        if where["chief"]:
            run = Path(args.resume) if args.resume else rundir.new_run_dir(args.tflog, args.outputPrefix)
            where["run"] = run
            process.setup_logging(args.loglevel, run / rundir.TRAIN_LOG)
            if not args.resume:
                files.write_json_atomic(run / rundir.ARGS_FILE, {"args": vars(args), "versions": process.versions(),
                                                                 "command": list(command)})
        else:  # another worker of the run: the same work, its files in a private folder removed at the end
            run = where["run"] = worker_scratch(args.resume)
        log.info("run folder %s", run)
        log.info("arguments: %s", " ".join(f"--{k} {v}" for k, v in sorted(vars(args).items())))
        train(args, run, data, state, after_epoch, replicas)

    try:
        return errors.run_command(
            work, also=((NonFiniteLoss, errors.EXIT_NON_FINITE, lambda exc: f"{where['run']}: {exc}; training stopped, "
                         "the last good checkpoint and best model are kept"),),
            write_failed=lambda exc: f"{exc.filename or where['run']}: {exc.strerror or exc}; the previous checkpoint "
                                     "and best model are kept")
    finally:
        if not where["chief"] and where["run"] is not None:
            shutil.rmtree(where["run"], ignore_errors=True)


def worker_scratch(resume: str | None) -> Path:
    """The folder where a worker other than the chief keeps its copy of the run's state (the chief's run
    folder is the only one written; a worker needs its own best state for the learning-rate steps). On
    --resume it starts from a copy of the run's checkpoint/ (a shared file system, or a copy of the run
    folder at the same path on each machine)."""
    scratch = Path(tempfile.mkdtemp(prefix="soccernet-worker-"))
    if resume:
        source = Path(resume) / rundir.CHECKPOINT_DIR
        if source.is_dir():
            shutil.copytree(source, scratch / rundir.CHECKPOINT_DIR)
    return scratch
