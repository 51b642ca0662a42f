"""Training on several devices and machines, and the size of a step's pieces.

This module owns:
- the strategies of `ClassificationMinuteBased.py --distribute` (`training.options.DISTRIBUTE`): `none`
  (one device, the plain code path), `mirrored` (`tf.distribute.MirroredStrategy` over the local GPUs,
  or over logical CPU devices on a machine without one) and `multiworker`
  (`tf.distribute.MultiWorkerMirroredStrategy`, one process per machine, configured by the `TF_CONFIG`
  environment variable, which `training.cluster` reads and writes without TensorFlow); `Replicas` is
  what the trainer needs to know of them (replica count, which replicas this process feeds, whether it
  is the chief);
- how one optimizer step is shared: `step_plan` cuts a step's chunks into pieces (micro-batches) and
  each piece into one contiguous share per replica, so that the gradients summed over pieces and
  replicas are those of the whole step, and with synchronised batch norm a piece's statistics are
  those of the whole piece (all replicas together);
- the memory estimate of a step (`StepMemory`) and the choice of `--micro_batch auto`
  (`training.options.parse_micro_batch` reads the flag).

The original (`trainer.py`) runs on one device and takes every chunk of `--batch_size` halves in one
forward pass; nothing here changes what a step is.
"""
from __future__ import annotations

import math
import os
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf
# TensorFlow's own modules for the coordination service's timeouts, which its public API does not offer.
from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
from tensorflow.python.distribute import multi_worker_util
from tensorflow.python.eager import context

from base import errors
from networks import loupe
from training import batch_plans, cluster
from training.pipeline import PIPELINE_BYTES

# Share of the device memory that a step may plan for (the rest: fragmentation, the framework, the
# evaluation that runs beside it, estimate errors).
MEMORY_SHARE = 0.85
FLOAT_BYTES = 4


# ------------------------------------------------------------------------------------------------
# Strategies


def configure_devices(kind: str, replicas: int) -> None:
    """Before TensorFlow's runtime starts: on a machine without a GPU, `mirrored` splits the CPU into
    `replicas` logical devices (2 when 0), so that the mirrored code path runs (and is tested) on a CPU."""
    if kind != "mirrored" or tf.config.list_physical_devices("GPU"):
        return
    wanted = replicas or 2
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * wanted)
    except RuntimeError:  # the runtime has started (a second run in one process): keep its devices if they fit
        if len(tf.config.list_logical_devices("CPU")) != wanted:
            raise errors.DataError("--replicas", f"this process's CPU devices are set up already "
                                                  f"({len(tf.config.list_logical_devices('CPU'))}, not {wanted})") from None


@dataclass
class Replicas:
    """A strategy and what the trainer needs to know of it.

    Attributes:
        strategy: the `tf.distribute` strategy (variables are made in its scope, steps run with its `run`).
        kind: "mirrored" or "multiworker".
        chief: this process writes the run folder (the others keep private scratch copies).
        local_ids: the global replica numbers this process feeds, in order.
        sync_batch_norm: batch-norm statistics over all replicas of a piece (`BatchNorm.synchronized`).
        devices: the devices of this process's replicas (for the log).
    """

    strategy: object
    kind: str
    chief: bool
    local_ids: tuple[int, ...]
    sync_batch_norm: bool
    devices: tuple[str, ...]

    @property
    def count(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    def describe(self) -> str:
        where = "this machine" if self.kind == "mirrored" else f"{self.workers} worker processes"
        return (f"--distribute {self.kind}: {self.count} replicas on {where} (this process: replicas "
                f"{', '.join(map(str, self.local_ids))} on {', '.join(self.devices)}{', chief' if self.chief else ''}); "
                f"batch-norm statistics {'synchronised across replicas' if self.sync_batch_norm else 'per replica'}")

    @property
    def workers(self) -> int:
        return max(1, self.count // max(1, len(self.local_ids)))


def make_replicas(kind: str, replicas: int = 0, sync_batch_norm: bool = True,
                  join_timeout: float = cluster.JOIN_TIMEOUT_S,
                  heartbeat_timeout: float = cluster.HEARTBEAT_TIMEOUT_S) -> Replicas | None:
    """The strategy of `--distribute` (None for "none"). Call it right after TensorFlow starts, before
    any other TensorFlow work (MultiWorkerMirroredStrategy must come first), after `configure_devices`.

    Args:
        replicas: mirrored: replicas to use (0: every GPU, or 2 logical CPU devices without a GPU).
        join_timeout: multiworker: seconds every worker has to join the cluster.
        heartbeat_timeout: multiworker: seconds of silence after which a worker is lost.

    Raises:
        cluster.PeerNotJoined: multiworker, a peer did not join in time.
    """
    if kind == "none":
        return None
    if kind == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        if replicas:
            if replicas > len(devices):
                raise errors.DataError("--replicas", f"{replicas} replicas asked, {len(devices)} devices here")
            devices = devices[:replicas]
        strategy = tf.distribute.MirroredStrategy(devices)
        chief = True
    else:
        config = cluster.read_tf_config()
        strategy = _multi_worker_strategy(config, join_timeout, heartbeat_timeout)
        _default_sigterm()
        chief = cluster.is_chief(config)
    # The global numbers of the replicas this process feeds, asked of the strategy itself.
    def replica_id():
        return tf.distribute.get_replica_context().replica_id_in_sync_group

    ids = tf.function(lambda: strategy.run(replica_id), autograph=False)()
    local_ids = tuple(int(i) for i in strategy.experimental_local_results(ids))
    devices = tuple(strategy.extended.worker_devices)
    return Replicas(strategy, kind, chief, local_ids, sync_batch_norm, devices)


def _default_sigterm() -> None:
    """SIGTERM back to its default action (the process ends), once the cluster has formed. The strategy's
    coordination service installs TensorFlow's preemption notifier (tsl's SigtermNotifier), which catches
    SIGTERM and only records it for tf.distribute's PreemptionCheckpointHandler, which this project does not
    use: a worker waiting in a collective for a hung peer then outlived the SIGTERM of a scheduler or of
    tools/launch_workers.py until --heartbeat_timeout or a SIGKILL. The notifier is installed while the
    strategy waits for its peers to join, with the interpreter held, so a SIGTERM then still waits for the
    join (at most --join_timeout). Only the main thread may set a handler; elsewhere nothing changes."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _multi_worker_strategy(config: dict, join_timeout: float, heartbeat_timeout: float = cluster.HEARTBEAT_TIMEOUT_S):
    """MultiWorkerMirroredStrategy with bounded waits. TensorFlow's coordination service (which the strategy
    starts, led by the chief) waits for every task forever by default and stops sending errors only when
    told: here a task not registered within `join_timeout` fails every waiting one, and a task silent for
    `heartbeat_timeout` aborts the others' collectives (an UnavailableError in the step)."""
    spec = tf.train.ClusterSpec(config["cluster"])
    milliseconds = int(join_timeout * 1000)
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(spec),
        cluster_register_timeout_in_ms=milliseconds, heartbeat_timeout_in_ms=max(1, round(heartbeat_timeout * 1000)),
        shutdown_barrier_timeout_in_ms=milliseconds,
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(config["cluster"][job]))
                          for job in ("chief", "worker") if job in config["cluster"]])
    # The leader too gives up on a task that never registers (else only the others time out).
    context.context().coordination_service.cluster_register_with_barrier = True
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except (tf.errors.DeadlineExceededError, tf.errors.UnavailableError) as exc:
        raise cluster.PeerNotJoined(
            f"{cluster.TF_CONFIG}: {cluster.name_peers(config, str(exc))} did not join the cluster (not started, or not "
            f"reachable) within "
            f"--join_timeout {join_timeout:g} s") from None
    except tf.errors.UnknownError as exc:  # another process took the port since it was checked
        if "gRPC server" not in str(exc):
            raise
        raise errors.DataError(cluster.TF_CONFIG, f"could not listen on this worker's address "
                                                  f"{cluster.own_address(config)}: {str(exc).strip()}") from None


def step_plan(step: np.ndarray, micro_batch: int, replicas: int) -> list[list[np.ndarray]]:
    """How one optimizer step runs: pieces of at most `micro_batch` chunks per replica (0: the whole
    step at once), each cut into `replicas` contiguous shares (near-equal; a share can be empty when a
    piece has fewer chunks than replicas). With one replica this is `batch_plans.split_batch`."""
    pieces = batch_plans.split_batch(step, micro_batch * replicas if micro_batch else None)
    return [np.array_split(piece, replicas) for piece in pieces]


# ------------------------------------------------------------------------------------------------
# Memory of a training step (--micro_batch auto)

# Floats kept per chunk by a pooling layer in one training pass (forward activations kept for the
# backward pass, and the backward's temporaries), per unit of: its pooled vector P (K*D for NetVLAD and
# NetRVLAD, 2*K*D for NetFV, K for SoftDBoW), its input frames N*D, its assignment N*K. Fitted to
# TensorFlow's peak allocation of one forward+backward pass (bench/bench_step_memory.py prints the
# measured peaks beside these estimates), rounded up.
POOLING_FLOATS = {
    "NetVLAD": (5.5, 1.5, 1.0), "NetRVLAD": (5.5, 1.5, 1.0), "NetFV": (5.0, 10.0, 4.0), "SoftDBoW": (0.0, 0.2, 6.5),
    "TemporalPooling": (0.0, 4.0, 0.0), "ConvPooling": (0.0, 1.2, 0.0), "FCPooling": (0.0, 1.2, 0.0),
}
# Copies of a chunk's input windows alive at once in host memory while its piece runs: the batch in the
# step and the array it was gathered into. What the pipeline gathers ahead is bounded apart, in bytes
# (`training.pipeline.PIPELINE_BYTES`, a fixed term of the estimate).
INPUT_COPIES = 2
# Per trainable parameter: weights, gradient, gradient accumulator, Adam's two moments and one
# temporary of the update.
PARAMETER_COPIES = 6


@dataclass(frozen=True)
class StepMemory:
    """Estimated peak memory of a training step on one replica: `fixed + per_chunk * chunks` bytes of
    device memory; on a CPU the input windows count too (`input_fixed + input_per_chunk * chunks`)."""

    fixed: float
    per_chunk: float
    input_per_chunk: float
    input_fixed: float = float(PIPELINE_BYTES)

    def peak(self, chunks: int, with_inputs: bool = True) -> float:
        inputs = self.input_fixed + chunks * self.input_per_chunk if with_inputs else 0.0
        return self.fixed + chunks * self.per_chunk + inputs

    def model(self, chunks: int) -> float:
        """The model's own memory: weights, gradients, optimizer state, one piece's activations."""
        return self.fixed + chunks * self.per_chunk

    def largest_piece(self, budget: float, with_inputs: bool = True) -> int:
        """The most chunks whose step fits `budget` bytes (0 when not even one does)."""
        room = budget - self.fixed - (self.input_fixed if with_inputs else 0.0)
        each = self.per_chunk + (self.input_per_chunk if with_inputs else 0.0)
        return max(0, int(room // each)) if room > 0 else 0


def step_memory(model) -> StepMemory:
    """The memory formula of a built model: its parameters, and for each pooling layer the sizes that
    set its activations (from the layer's input shape and configuration)."""
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    per_chunk = 0.0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        floats = POOLING_FLOATS.get(type(layer).__name__)
        if floats is None:
            continue
        _, frames, features = layer.input.shape
        if isinstance(layer, loupe.LoupePooling):
            k = layer.cluster_size
            pooled = layer._pooled_dim(features)
        else:
            k, pooled = 0, 0
        a, b, c = floats
        per_chunk += FLOAT_BYTES * (a * pooled + b * frames * features + c * frames * k)
    inputs = model.input if isinstance(model.input, dict) else {"video": model.input}
    input_floats = sum(int(t.shape[1]) * int(t.shape[2]) for t in inputs.values())
    return StepMemory(fixed=float(FLOAT_BYTES * PARAMETER_COPIES * params), per_chunk=per_chunk,
                      input_per_chunk=float(FLOAT_BYTES * INPUT_COPIES * input_floats))


def available_memory(devices: Sequence[str] = ()) -> tuple[float, str]:
    """Memory a step may use on one replica's device, and where the figure comes from.

    On a GPU: the total memory of the first GPU (`nvidia-smi`, which comes with NVIDIA's driver), less
    what TensorFlow already holds there. On a CPU: MemAvailable of /proc/meminfo, shared by the
    replicas of this process. Either times `MEMORY_SHARE`.
    """
    gpus = [d for d in devices if "GPU" in d.upper()]
    if gpus:
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=20, check=True).stdout.split()
            total = float(out[0]) * 2 ** 20
            return MEMORY_SHARE * total, f"{total / 2 ** 30:.0f} GiB of GPU memory (nvidia-smi)"
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            pass
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kib = next(int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemAvailable:"))
        total = kib * 1024.0
    except (OSError, StopIteration, ValueError):
        total = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    shared = max(1, len(devices))
    return MEMORY_SHARE * total / shared, (f"{total / 2 ** 30:.1f} GiB of available RAM"
                                          + (f" shared by {shared} replicas" if shared > 1 else ""))


def choose_micro_batch(memory: StepMemory, largest_share: int, budget: float, where: str,
                       on_gpu: bool = False) -> tuple[int, str]:
    """`--micro_batch auto`: the whole step (0) when its largest share fits `budget`, else the largest
    piece that fits. Returns the micro-batch and the log line that says what was chosen and why."""
    need = memory.peak(largest_share, with_inputs=not on_gpu)
    if need <= budget:
        return 0, (f"--micro_batch auto: whole steps ({largest_share} chunks per replica at most, estimated "
                   f"peak {need / 2 ** 30:.1f} GiB of {budget / 2 ** 30:.1f} GiB usable: {where}), batch-norm "
                   "statistics of the whole step as in the original")
    piece = memory.largest_piece(budget, with_inputs=not on_gpu)
    if piece < 1:
        raise errors.DataError("--micro_batch", f"not even one chunk fits: the model alone needs an estimated "
                                                 f"{memory.fixed / 2 ** 30:.1f} GiB of {budget / 2 ** 30:.1f} GiB ({where})")
    pieces = math.ceil(largest_share / piece)
    return piece, (f"--micro_batch auto: pieces of {piece} chunks per replica ({pieces} per step at most; the whole "
                   f"step, {largest_share} chunks, would need an estimated {need / 2 ** 30:.1f} GiB of "
                   f"{budget / 2 ** 30:.1f} GiB usable: {where}); batch-norm statistics are then those of each "
                   "piece, not of the whole step")
