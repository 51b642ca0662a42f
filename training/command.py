"""A training command once the face has checked its arguments and set the process up (TensorFlow
started): the devices and the strategy of --distribute, then --mode predict, or a training run in a new
run folder (or the one of --resume); errors end as one line on stderr and the scripts' exit codes."""
from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import tensorflow as tf

from base import errors, files
from networks import kernels
from runtime import process, rundir
from training import cluster, distribution
from training.data import TrainingData, open_training_data
from training.loop import train
from training.predict import predict
from training.trainer import NonFiniteLoss

log = logging.getLogger(__name__)


def execute(args, *, defaults: dict, command: Sequence[str], state: dict | None = None,
            after_epoch: Callable[[int], None] | None = None, data: TrainingData | None = None) -> int:
    """Run ClassificationMinuteBased.py's command `args` (checked; on --resume, the run's arguments).

    Args:
        defaults: the command line's defaults by flag (--mode predict falls back on them).
        command: the command line, recorded in a new run's args.json.
        state: the resume state of --resume (`rundir.read_state`), None to start from scratch.
        after_epoch: passed to `training.loop.train` (a test hook).
        data: the training data, opened and checked before TensorFlow started (`open_training_data`);
            None: opened here.

    Returns:
        The exit code: 0, or `errors.EXIT_BAD_INPUT`, `errors.EXIT_NON_FINITE`, `errors.EXIT_WRITE_FAILED`,
        `errors.EXIT_CLUSTER_JOIN`, `errors.EXIT_PEER_LOST` (multiworker).
    """
    kernels.set_xla_descriptor(args.xla_descriptor)
    where = {"run": None, "chief": True}  # what the error lines and the clean-up need of the work below

    def work() -> None:
        distribution.configure_devices(args.distribute, args.replicas)
        replicas = distribution.make_replicas(args.distribute, args.replicas, not args.no_sync_bn, args.join_timeout,
                                              args.heartbeat_timeout)
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
        nonlocal data
        if data is None:
            data = open_training_data(args)  # all input checked before the run folder exists
        if where["chief"]:
            run = Path(args.resume) if args.resume else rundir.new_run_dir(args.tflog, args.outputPrefix)
            where["run"] = run
            process.setup_logging(args.loglevel, run / rundir.TRAIN_LOG)
            if not args.resume:
                files.write_json_atomic(run / rundir.ARGS_FILE, {"args": vars(args), "versions": process.versions(),
                                                                 "command": list(command)})
            log.info("run folder %s", run)
        else:  # another worker of the run: the same work, its files in a private folder removed at the end
            run = where["run"] = worker_scratch(args.resume)
            log.info("run folder: the chief's; this worker keeps its copy of the state in a private folder")
        log.info("arguments: %s", " ".join(f"--{k} {v}" for k, v in sorted(vars(args).items())))
        multiworker = replicas is not None and replicas.kind == "multiworker"
        watched = (peers_watched(where["run"] if where["chief"] else None, args.heartbeat_timeout) if multiworker
                   else contextlib.nullcontext())
        with watched:
            train(args, run, data, state, after_epoch, replicas)

    try:
        return errors.run_command(
            work, also=((NonFiniteLoss, errors.EXIT_NON_FINITE, lambda exc: f"{where['run']}: {exc}; training stopped, "
                         "the last good checkpoint and best model are kept"),
                        (cluster.PeerNotJoined, errors.EXIT_CLUSTER_JOIN, str),
                        (cluster.PeerLost, errors.EXIT_PEER_LOST, str)),
            write_failed=lambda exc: f"{exc.filename or where['run']}: {exc.strerror or exc}; the previous checkpoint "
                                     "and best model are kept")
    finally:
        if not where["chief"] and where["run"] is not None:
            shutil.rmtree(where["run"], ignore_errors=True)


@contextlib.contextmanager
def peers_watched(run: Path | None, heartbeat_timeout: float = cluster.HEARTBEAT_TIMEOUT_S):
    """Turn the errors of a lost peer in a multi-worker step (TensorFlow aborts the collectives when a task
    stops sending heartbeats) into `cluster.PeerLost`, naming the peer; on the chief, the line says how to
    resume its run folder from its last finished epoch."""
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
            tf.errors.DeadlineExceededError) as exc:
        config = cluster.read_tf_config()
        resume = (f"; resume from the last finished epoch with --resume {run}" if run is not None
                  else "; the chief's run folder resumes from its last finished epoch with --resume")
        raise cluster.PeerLost(f"{cluster.TF_CONFIG}: {cluster.name_peers(config, str(exc))} was lost (no heartbeat "
                               f"for {heartbeat_timeout:g} s, or its own error); this worker stopped"
                               f"{resume}") from None


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
