"""ray_gcs against a real GCS: a head and one worker node started here on loopback, a driver that creates demand.

Checks that pending tasks, a STRICT_SPREAD placement group and request_resources constraints are read, that a
node holding a detached actor (0 CPUs) is busy, that it turns idle once the actor is gone, and that drain_node
is accepted. Only the processes started here are stopped (by process group); never ``ray stop``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.ray
RAY = Path(sys.executable).with_name("ray")

DRIVER = r"""
import sys, time, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from ray.util.placement_group import placement_group
from ray.autoscaler.sdk import request_resources
ray.init(address=sys.argv[1], namespace="rayop-test", log_to_driver=False)
worker = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("special")][0]

@ray.remote(num_gpus=1)
def needs_gpu():
    return 1

@ray.remote
class Keeper:
    def ping(self):
        return 1

ref = needs_gpu.remote()
pg = placement_group([{"CPU": 1}] * 3, strategy="STRICT_SPREAD")
request_resources(bundles=[{"CPU": 1}] * 2)
keeper = Keeper.options(name="keeper", lifetime="detached", num_cpus=0,
                        scheduling_strategy=NodeAffinitySchedulingStrategy(worker, soft=False)).remote()
ray.get(keeper.ping.remote())
print("READY", flush=True)
sys.stdin.readline()
ray.kill(keeper)
print("KILLED", flush=True)
sys.stdin.readline()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[Any]) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _read_until(stream: Any, word: str) -> None:
    for line in stream:
        if line.strip() == word:
            return
    raise AssertionError(f"driver ended before printing {word}")


def _wait(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    if not RAY.exists():
        pytest.skip("ray is not installed in this venv")
    tmp = Path(tempfile.mkdtemp(prefix="rayop-as-", dir="/tmp"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    # rayop's autoscaler is a v2 autoscaler: request_resources() then goes to GCS as a cluster constraint.
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_enable_autoscaler_v2="1")
    procs: list[subprocess.Popen[Any]] = []

    def start(args: list[str], instance: str, group: str, log: str) -> None:
        out = open(tmp / log, "wb")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen(
            [str(RAY), "start", "--block", "--num-cpus=1", "--object-store-memory=80000000",
             f"--dashboard-agent-listen-port={_free_port()}", f"--metrics-export-port={_free_port()}", *args],
            env={**env, "RAY_CLOUD_INSTANCE_ID": instance, "RAY_NODE_TYPE_NAME": group},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start(["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
               f"--temp-dir={tmp}", "--no-monitor"], "head-pod", "headgroup", "head.log")
        address = f"127.0.0.1:{port}"
        from rayop.autoscaler.ray_gcs import wait_for_gcs

        assert wait_for_gcs(address, 120), (tmp / "head.log").read_text()[-3000:]
        start([f"--address={address}", "--node-ip-address=127.0.0.1", '--resources={"special": 1}'],
              "worker-pod", "small", "worker.log")
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def test_ray_gcs_reads_demand_busy_idle_and_drains(ray_cluster: str) -> None:
    from rayop.autoscaler.ray_gcs import RayGcs

    gcs = RayGcs(ray_cluster, head_pod_name="head-pod")
    _wait("worker node", lambda: [n for n in gcs.resource_state().nodes if n.pod_name == "worker-pod"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, ray_cluster], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        assert driver.stdout is not None and driver.stdin is not None
        _read_until(driver.stdout, "READY")

        def demand_seen() -> Any:
            snap = gcs.resource_state()
            ok = ({"CPU": 1.0, "GPU": 1.0} in snap.pending_tasks
                  and any(pg.strategy == "STRICT_SPREAD" and len(pg.bundles) == 3 for pg in snap.placement_groups)
                  and snap.constraints.count({"CPU": 1.0}) == 2)
            seen.append(snap)
            return snap if ok else None

        seen: list[Any] = []
        try:
            snap = _wait("pending demand", demand_seen, 60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {seen[-1] if seen else None}") from None
        nodes = {n.pod_name: n for n in snap.nodes}
        assert nodes["head-pod"].is_head and nodes["head-pod"].group == "headgroup"
        worker = nodes["worker-pod"]
        assert worker.group == "small" and worker.total["special"] == 1.0

        # The detached actor (0 CPUs) keeps the worker busy well past a short idle timeout.
        time.sleep(5)
        worker = next(n for n in gcs.resource_state().nodes if n.pod_name == "worker-pod")
        assert worker.busy, worker

        driver.stdin.write("\n")
        driver.stdin.flush()
        _read_until(driver.stdout, "KILLED")
        idle = _wait("worker idle", lambda: next(
            (n for n in gcs.resource_state().nodes if n.pod_name == "worker-pod" and not n.busy and n.idle_s > 1),
            None))

        accepted, message = gcs.drain_node(idle.node_id, "idle termination (test)", 0.0)
        assert accepted, message
        _wait("worker draining or gone", lambda: all(
            n.status == "DRAINING" for n in gcs.resource_state().nodes if n.pod_name == "worker-pod"), 60)
    finally:
        _stop(driver)
