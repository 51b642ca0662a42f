"""Multi-worker training that fails cleanly (127.0.0.1 ports, every process bounded in time): this worker's
port in use (exit 2 before TensorFlow starts), a peer that never joins (exit 5 after --join_timeout), a
worker killed mid-run (the other exits 6 naming it, tools/launch_workers.py says which failed first and
leaves no scratch folder, the chief's run folder resumes with --resume), a worker hung mid-run (the chief
exits 6 naming it after --heartbeat_timeout; SIGTERM ends the chief waiting for it at once)."""
from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ClassificationMinuteBased as cmb
from base import errors, fault_hook
from conftest import TOP
from runtime import rundir
from training import cluster

sys.path.insert(0, str(TOP / "tools"))
import launch_workers  # noqa: E402

SCRIPT = str(TOP / "ClassificationMinuteBased.py")


def _argv(root: Path, tflog: Path, *extra) -> list[str]:
    return ["--training", str(root / "listgame_Train_3.npy"), "--validation", str(root / "listgame_Valid_2.npy"),
            "--testing", str(root / "listgame_Test_2.npy"), "--PCA", "--WindowSize", "20", "--VLAD_k", "4",
            "--architecture", "AudioVideoArchi5", "--batch_size", "3", "--tflog", str(tflog), "--no_progress",
            "--loglevel", "WARNING", "--distribute", "multiworker", *extra]


def test_name_peers_reads_tensorflow_messages():
    config = cluster.local_cluster(3, ports=[5001, 5002, 5003])[0]
    barrier = ("Barrier timed out. Id: [Init]Wait_for_all_tasks_to_register::0.\n# of tasks that reached the "
               "barrier: 1/3.\nThe first task at the barrier: /job:worker/replica:0/task:0. Some timed out task "
               "names:\n/job:worker/replica:0/task:2\n/job:worker/replica:0/task:1\n")
    assert cluster.name_peers(config, barrier) == "worker 2 (127.0.0.1:5003) and worker 1 (127.0.0.1:5002)"
    heartbeat = ("Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks are "
                 "unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\n")
    assert cluster.name_peers(config, heartbeat) == "worker 1 (127.0.0.1:5002)"
    assert cluster.name_peers(config, "Deadline Exceeded") == "a peer"


def test_a_port_in_use_is_refused_before_tensorflow_starts(tiny_root, tmp_path, monkeypatch, capsys):
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        config = cluster.local_cluster(2, ports=[port, cluster.free_ports(1)[0]])[0]
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
        assert cmb.main(_argv(tiny_root, tmp_path / "runs")) == errors.EXIT_BAD_INPUT
    finally:
        holder.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: TF_CONFIG: worker 0's port {port} (127.0.0.1:{port}) is in use by another process"]
    assert not (tmp_path / "runs").exists()


def test_a_peer_that_never_joins_ends_each_waiting_worker_with_exit_5(tiny_root, tmp_path):
    """Worker 0 (the chief, which leads the cluster) and worker 1 of two two-worker clusters, each alone:
    both give up after --join_timeout, name the missing worker, and write nothing."""
    waiting = []
    for index in (0, 1):
        config = cluster.local_cluster(2)[index]
        env = dict(os.environ, TF_CONFIG=json.dumps(config))
        command = [sys.executable, SCRIPT, *_argv(tiny_root, tmp_path / f"runs{index}", "--join_timeout", "3")]
        waiting.append((config, subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                 text=True)))
    for index, (config, process) in enumerate(waiting):
        try:
            out, err = process.communicate(timeout=150)
        finally:
            process.kill()
        missing = config["cluster"]["worker"][1 - index]
        errors_said = [line for line in err.splitlines() if line.startswith("error")]
        assert process.returncode == errors.EXIT_CLUSTER_JOIN, err[-2000:]
        assert errors_said == [f"error: TF_CONFIG: worker {1 - index} ({missing}) did not join the cluster (not "
                               "started, or not reachable) within --join_timeout 3 s"], err[-2000:]
        assert "Traceback" not in err
        assert not (tmp_path / f"runs{index}").exists()


def test_a_worker_killed_mid_run_ends_the_other_with_exit_6_and_the_run_resumes(tiny_root, tmp_path, monkeypatch):
    """Worker 1 is killed (SIGKILL) in its third step, in epoch 2: the chief names it in one line (its lost
    connections end the step before any --heartbeat_timeout, 8 s here, which the line states) and exits 6,
    the launcher says worker 1 failed first and waits that and 40 s more at most, its scratch folder is
    gone and no output names it; the chief's run folder, one finished epoch in it, resumes on one process
    and ends."""
    scratch_parent = tmp_path / "tmp"
    scratch_parent.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_parent))  # where the launcher makes its scratch folder
    out = io.StringIO()
    command = [SCRIPT, *_argv(tiny_root, tmp_path / "runs", "--max_epoch", "3", "--heartbeat_timeout", "8")]
    assert launch_workers.grace_of(command) == 48 and launch_workers.grace_of(command[:-2]) == 60
    status = launch_workers.launch(command, workers=2,
                                   timeout=240, out=out, environs=[{}, {"SOCCERNET_FAULT": "step@3"}])
    text = out.getvalue()
    assert status == 128 + 9, text[-3000:]
    lines = text.splitlines()
    assert "launch_workers: worker 1 failed first (killed by SIGKILL); waiting up to 48 s" in text, text[-3000:]
    assert lines[-1] == "launch_workers: worker 0: exit code 6, worker 1: killed by SIGKILL", text[-3000:]
    (run,) = (tmp_path / "runs").iterdir()
    said = [line for line in lines if line.startswith("[worker 0] error")]
    address = [line for line in lines if "127.0.0.1:" in line and line.startswith("[worker 0] error")]
    assert len(said) == 1 and said == address, text[-3000:]
    assert " worker 1 (127.0.0.1:" in said[0] and ") was lost (no heartbeat for 8 s, or its own" in said[0], said
    assert said[0].endswith(f"resume from the last finished epoch with --resume {run}"), said
    assert "Traceback" not in text and str(scratch_parent) not in text
    assert list(scratch_parent.iterdir()) == []
    assert len((run / rundir.METRICS_CSV).read_text().splitlines()) == 2  # the header and epoch 1

    assert cmb.main(["--resume", str(run), "--no_progress", "--loglevel", "WARNING"]) == 0
    assert [row.split(",")[0] for row in (run / rundir.METRICS_CSV).read_text().splitlines()[1:]] == ["1", "2", "3"]
    assert rundir.is_finished(run)


def _stopped(pid: int) -> bool:
    """The process is stopped (state T in /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return False


def _start_with_a_hung_worker(tiny_root: Path, tmp_path: Path, step: int, heartbeat: int):
    """A two-worker training whose worker 1 stops (SIGSTOP: alive, silent, its connections open) in its
    step `step`. Returns the two processes and their stderr files."""
    processes, logs = [], [tmp_path / f"worker{i}.err" for i in range(2)]
    for index, config in enumerate(cluster.local_cluster(2)):
        env = {k: v for k, v in os.environ.items() if k not in (fault_hook.FAULT_ENV, fault_hook.FAULT_SIGNAL_ENV)}
        env.update(TF_CONFIG=json.dumps(config), TMPDIR=str(tmp_path))  # worker 1's scratch folder: the test's
        if index == 1:
            env.update({fault_hook.FAULT_ENV: f"step@{step}", fault_hook.FAULT_SIGNAL_ENV: "STOP"})
        command = [sys.executable, SCRIPT, *_argv(tiny_root, tmp_path / "runs", "--max_epoch", "3",
                                                  "--heartbeat_timeout", str(heartbeat))]
        with open(logs[index], "w") as err:  # a file: a pipe nobody reads could fill and block the worker
            processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err))
    return processes, logs


def test_a_hung_worker_is_lost_after_the_heartbeat_timeout(tiny_root, tmp_path):
    """Worker 1 stops in its third step: the chief names it in one line and exits 6 once
    --heartbeat_timeout (6 s here, 20 by default) has passed without its heartbeat, not before and not at
    the default."""
    processes, logs = _start_with_a_hung_worker(tiny_root, tmp_path, step=3, heartbeat=6)
    chief, hung = processes
    try:
        began, stopped_at = time.monotonic(), None
        while chief.poll() is None and time.monotonic() - began < 180:
            if stopped_at is None and _stopped(hung.pid):
                stopped_at = time.monotonic()
            time.sleep(0.05)
        ended_at = time.monotonic()
    finally:
        for process in processes:
            process.kill()
            process.wait()
    err = logs[0].read_text()
    assert chief.returncode == errors.EXIT_PEER_LOST and stopped_at is not None, err[-2000:]
    said = [line for line in err.splitlines() if line.startswith("error")]
    assert len(said) == 1 and " worker 1 (127.0.0.1:" in said[0], err[-2000:]
    assert ") was lost (no heartbeat for 6 s, or its own error)" in said[0], said
    # From the last heartbeat before the stop, checked every few seconds: at 6 s, 7.7 s after the stop here.
    assert 3 <= ended_at - stopped_at < 18, ended_at - stopped_at


def test_a_worker_waiting_for_a_hung_peer_ends_on_sigterm(tiny_root, tmp_path):
    """Worker 1 stops in its first step; the chief, waiting for it in the step's collective, gets SIGTERM (a
    scheduler's, or tools/launch_workers.py's) and ends by it within seconds, long before
    --heartbeat_timeout (120 s here). TensorFlow's preemption notifier would catch the signal and keep it
    waiting (`training.distribution._default_sigterm`)."""
    processes, logs = _start_with_a_hung_worker(tiny_root, tmp_path, step=1, heartbeat=120)
    chief, hung = processes
    try:
        began = time.monotonic()
        while not _stopped(hung.pid) and chief.poll() is None and time.monotonic() - began < 120:
            time.sleep(0.05)
        assert _stopped(hung.pid), logs[1].read_text()[-2000:]
        time.sleep(1.0)  # the chief reaches the collective that waits for worker 1
        assert chief.poll() is None, logs[0].read_text()[-2000:]
        chief.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            chief.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        ended = time.monotonic() - sent
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert chief.returncode == -signal.SIGTERM and ended < 10, (chief.returncode, ended, logs[0].read_text()[-2000:])
