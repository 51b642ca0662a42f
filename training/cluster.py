"""The cluster of a multi-worker training (`TF_CONFIG`), without TensorFlow.

`read_tf_config` checks the `TF_CONFIG` environment variable before TensorFlow starts (the training
face refuses a bad one with exit code 2), `is_chief` applies TensorFlow's rule for the worker that
writes the run folder, and `local_cluster` writes one TF_CONFIG per local worker on 127.0.0.1 ports
(`tools/launch_workers.py`, the tests). The strategies themselves are `training.distribution`'s.
"""
from __future__ import annotations

import errno
import json
import os
import re
import socket
from typing import Sequence

from base import errors

TF_CONFIG = "TF_CONFIG"
JOIN_TIMEOUT_S = 300.0  # --join_timeout's default: every worker has this long to join the cluster
HEARTBEAT_TIMEOUT_S = 20.0  # --heartbeat_timeout's default: a worker silent this long is lost; the others stop


class PeerNotJoined(Exception):
    """A peer did not join the cluster within --join_timeout (exit 5). The message is the error line."""


class PeerLost(Exception):
    """A peer was lost mid-run (exit 6). The message is the error line."""


def read_tf_config(environ=None) -> dict:
    """The `TF_CONFIG` of a multi-worker run, checked.

    `{"cluster": {"worker": ["host:port", ...], "chief": ["host:port"] (optional)},
    "task": {"type": "worker" | "chief", "index": i}}`, as TensorFlow reads it.

    Raises:
        errors.DataError: missing, not JSON, or not such a description.
    """
    environ = os.environ if environ is None else environ
    text = environ.get(TF_CONFIG)
    if not text:
        raise errors.DataError(TF_CONFIG, "--distribute multiworker needs the TF_CONFIG environment variable "
                                           "(the cluster and this worker's task; docs/distributed.md)")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.DataError(TF_CONFIG, f"not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) \
            or not isinstance(config.get("task"), dict):
        raise errors.DataError(TF_CONFIG, 'needs "cluster" and "task" objects')
    cluster, task = config["cluster"], config["task"]
    unknown = sorted(set(cluster) - {"worker", "chief"})
    if unknown:
        raise errors.DataError(TF_CONFIG, f"unknown job {unknown[0]!r} in the cluster (only chief and worker)")
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses):
            raise errors.DataError(TF_CONFIG, f'cluster job "{job}" must be a list of "host:port" addresses')
    if len(cluster.get("chief", [])) > 1:
        raise errors.DataError(TF_CONFIG, "a cluster has at most one chief")
    if "worker" not in cluster and "chief" not in cluster:
        raise errors.DataError(TF_CONFIG, "the cluster has no worker")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise errors.DataError(TF_CONFIG, f"task {kind!r} {index!r} is not in the cluster")
    return config


def is_chief(config: dict) -> bool:
    """TensorFlow's rule: the chief task, or worker 0 when the cluster has no chief."""
    task = config["task"]
    return task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0
                                        and "chief" not in config["cluster"])


def free_ports(count: int) -> list[int]:
    """`count` TCP ports free on 127.0.0.1 just now."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_cluster(workers: int, ports: Sequence[int] | None = None) -> list[dict]:
    """One TF_CONFIG per worker of a cluster on this machine, on 127.0.0.1 only (worker 0 is the chief)."""
    ports = list(ports) if ports is not None else free_ports(workers)
    addresses = [f"127.0.0.1:{port}" for port in ports[:workers]]
    return [{"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}} for i in range(workers)]


def own_address(config: dict) -> str:
    """This worker's "host:port" in the cluster."""
    task = config["task"]
    return config["cluster"][task["type"]][task["index"]]


def check_own_port(config: dict) -> None:
    """Refuse a port that another process holds before TensorFlow starts its server on it (TensorFlow
    listens on every interface at this worker's port, whatever the host).

    Raises:
        errors.DataError: the port is in use.
    """
    task = config["task"]
    address = own_address(config)
    port = int(address.rpartition(":")[2])
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC: a closed socket's TIME_WAIT is no user
        probe.bind(("", port))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "is in use by another process" if exc.errno == errno.EADDRINUSE else "needs privileges"
            raise errors.DataError(TF_CONFIG, f"{task['type']} {task['index']}'s port {port} ({address}) {why}") \
                from None
        raise
    finally:
        probe.close()


def name_peers(config: dict, message: str) -> str:
    """The tasks other than this one that a TensorFlow message names ("/job:worker/replica:0/task:1"), as
    "worker 1 (host:port)", joined; "a peer" when it names none."""
    task = config["task"]
    found = []
    for job, index in re.findall(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)", message):
        index = int(index)
        if (job, index) == (task["type"], task["index"]) or job not in config["cluster"]:
            continue
        addresses = config["cluster"][job]
        name = f"{job} {index}" + (f" ({addresses[index]})" if index < len(addresses) else "")
        if name not in found:
            found.append(name)
    return " and ".join(found) if found else "a peer"
