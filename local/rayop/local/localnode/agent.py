"""The local node agent: registers the nodes, keeps their heartbeat, runs every Pod bound to them, and provides
cluster DNS, Service routing and container logs.

One agent per machine (the bridge and address plan are fixed): a lock file refuses a second one.  At start it
removes what a crashed agent left behind (container processes via their cgroups, mounts and files under the state
directory, ``rayop-`` network namespaces, ``rv*`` veths, RAYOP iptables chains).  Pods already bound to its nodes
are started afresh (like pods after a node reboot).  On stop every container is stopped (SIGTERM, then SIGKILL after
at most ``stop_grace`` seconds), the network is torn down and, unless ``keep_nodes``, the Node objects are deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import dns, netns, network_plan, services
from .ipam import IPPool
from .kube import KubeClient, pod_path, watch_forever
from .logs import LogServer
from .node import NodeHeartbeat, host_capacity
from .podrunner import PodRunner
from .procs import CgroupTree
from .runtime import NodeInfo, Runtime

log = logging.getLogger(__name__)

LOCK_FILE = "/run/rayop-localnode.lock"


@dataclass
class AgentConfig:
    kubeconfig: str
    nodes: int = 1
    node_prefix: str = "rayop-local"
    cpu: str | None = None
    memory: str | None = None
    state_dir: Path = Path("/var/lib/rayop-localnode")
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    taint: bool = False
    keep_nodes: bool = False
    serve_logs: bool = True
    stop_grace: float = 10.0
    #: Seconds to queue for the machine's lock behind another agent before giving up (0: fail at once). Checked
    #: every 0.2 s, so a queued agent takes the node as soon as it is free.
    lock_wait: float = 0.0
    #: Agent environment variables passed to every container (e.g. PYTHONPATH of a source checkout).
    pass_env: list[str] = field(default_factory=lambda: ["PYTHONPATH"])


def unmount_under(root: Path) -> None:
    with open("/proc/mounts") as fh:
        targets = [line.split()[1] for line in fh]
    for t in sorted((t for t in targets if t.startswith(str(root) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", t], capture_output=True, check=False)


class Agent:
    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.runners: dict[str, PodRunner] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._lockfh: Any = None
        self.heartbeat: NodeHeartbeat | None = None
        self.logs: LogServer | None = None
        self.dns: dns.DnsServer | None = None
        self.proxy: services.ServiceProxy | None = None
        self.cache: services.ClusterCache | None = None
        capacity = host_capacity()
        if cfg.cpu:
            capacity["cpu"] = cfg.cpu
        if cfg.memory:
            capacity["memory"] = cfg.memory
        self.capacity = capacity
        self.node_names = [f"{cfg.node_prefix}-{i}" for i in range(cfg.nodes)]
        self.nodes = {
            n: NodeInfo(n, i, IPPool(network_plan.node_pod_cidr(i)), dict(capacity))
            for i, n in enumerate(self.node_names)
        }

    # -- life cycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        t0 = time.monotonic()
        self._take_lock()
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        cgroups = CgroupTree()
        self.cleanup_leftovers(cgroups)
        netns.setup_host()
        self.client = KubeClient(self.cfg.kubeconfig)
        self.cache = services.ClusterCache(self.client)
        self.proxy = services.ServiceProxy(self.cache)
        self.proxy.start()
        self.cache.start()
        if not self.cache.synced.wait(30):
            raise TimeoutError("could not list Services/EndpointSlices within 30 s")
        dns.publish_service(self.client)
        self.dns = dns.DnsServer(self.cache)
        self.dns.start()
        base_env = {k: os.environ[k] for k in self.cfg.pass_env if k in os.environ}
        self.rt = Runtime(
            self.client,
            cgroups,
            self.cfg.state_dir,
            self.cache,
            self.cfg.backoff_initial,
            self.cfg.backoff_max,
            base_env,
        )
        if self.cfg.serve_logs:
            self.logs = LogServer(self._find, self.cfg.state_dir)
            self.logs.start()
        self.heartbeat = NodeHeartbeat(self.client, self.node_names, self.capacity, self.cfg.taint)
        self.heartbeat.register()
        self.heartbeat.start()
        for name in self.node_names:
            threading.Thread(
                target=watch_forever,
                daemon=True,
                name=f"watch-pods-{name}",
                args=(self.client, "/api/v1/pods", self._on_pod_event(name), self._stop),
                kwargs={
                    "params": {"fieldSelector": f"spec.nodeName={name}"},
                    "on_sync": self._on_pod_sync(name),
                },
            ).start()
        log.info(
            "local node agent ready in %.2fs: nodes %s", time.monotonic() - t0, ", ".join(self.node_names)
        )

    def stop(self) -> None:
        """Stop everything that was started (safe after a failed or partial start).

        An agent that never took the machine's lock touches nothing: the host's nat chains, bridge and pod cgroups
        belong to the agent holding it, and removing them from here once left a running node's Services without a
        single rule (a second ``python -m rayop.local.localnode`` exiting on the lock, while tests ran)."""
        self._stop.set()
        if self._lockfh is None:
            return
        with self._lock:
            runners = list(self.runners.values())
        threads = [
            threading.Thread(target=r.terminate, args=(min(self.cfg.stop_grace, self._grace(r.pod)),))
            for r in runners
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.cfg.stop_grace + 20)
        for r in runners:
            r.remove_files()
        if self.heartbeat is not None:
            self.heartbeat.stop()
            if not self.cfg.keep_nodes:
                self.heartbeat.delete_nodes()
        for part in (self.logs, self.dns, self.proxy, self.cache):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        services.remove_rules()
        netns.teardown_host_rules()
        self._release_lock()

    def cleanup_leftovers(self, cgroups: CgroupTree) -> None:
        killed = cgroups.cleanup_all()
        pods_dir = self.cfg.state_dir / "pods"
        unmount_under(self.cfg.state_dir)
        shutil.rmtree(pods_dir, ignore_errors=True)
        for d in self.cfg.state_dir.glob("kubelet-*"):
            shutil.rmtree(d, ignore_errors=True)
        removed = netns.cleanup_leftovers()
        services.remove_rules()
        if killed or removed:
            log.warning(
                "cleaned up a previous agent's leftovers: %d pod cgroups, %s", killed, ", ".join(removed)
            )

    def _take_lock(self) -> None:
        fh = open(LOCK_FILE, "w")  # noqa: SIM115 - held for the agent's lifetime
        deadline = time.monotonic() + self.cfg.lock_wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.close()
                    raise RuntimeError(
                        f"another local node agent is running on this machine (lock {LOCK_FILE})"
                    ) from None
                time.sleep(0.2)
        self._lockfh = fh

    def _release_lock(self) -> None:
        if self._lockfh is not None:
            fcntl.flock(self._lockfh, fcntl.LOCK_UN)
            self._lockfh.close()
            self._lockfh = None

    # -- pods ------------------------------------------------------------------------------------------------
    @staticmethod
    def _grace(pod: dict[str, Any]) -> float:
        meta = pod.get("metadata", {})
        g = meta.get("deletionGracePeriodSeconds")
        if g is None:
            g = pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
        return float(g or 0)

    def _find(self, namespace: str, name: str) -> PodRunner | None:
        with self._lock:
            return next((r for r in self.runners.values() if r.ns == namespace and r.name == name), None)

    def _on_pod_sync(self, node: str) -> Any:
        def handle(items: list[dict[str, Any]]) -> None:
            uids = {p["metadata"]["uid"] for p in items}
            with self._lock:
                gone = [r for r in self.runners.values() if r.node.name == node and r.uid not in uids]
            for r in gone:
                self._handle(node, "DELETED", r.pod)
            for p in items:
                self._handle(node, "ADDED", p)

        return handle

    def _on_pod_event(self, node: str) -> Any:
        return lambda etype, pod: self._handle(node, etype, pod)

    def _handle(self, node: str, etype: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            runner = self.runners.get(uid)
            if etype == "DELETED":
                if runner is not None:
                    self.runners.pop(uid, None)
                    threading.Thread(target=self._finish_deleted, args=(runner,), daemon=True).start()
                return
            deleting = pod["metadata"].get("deletionTimestamp") is not None
            if runner is None:
                if deleting:
                    threading.Thread(target=self._delete_object, args=(pod,), daemon=True).start()
                    return
                if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                    return
                runner = PodRunner(self.rt, self.nodes[node], pod)
                self.runners[uid] = runner
                runner.start()
                return
            runner.update(pod)
            if deleting and not runner.terminating.is_set():
                threading.Thread(
                    target=self._terminate_and_delete, args=(runner, self._grace(pod)), daemon=True
                ).start()

    def _terminate_and_delete(self, runner: PodRunner, grace: float) -> None:
        runner.terminate(grace)
        self._delete_object(runner.pod)

    def _delete_object(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(Exception):
            self.client.delete(
                pod_path(meta["namespace"], meta["name"]),
                {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}},
            )

    def _finish_deleted(self, runner: PodRunner) -> None:
        runner.terminate(0)
        runner.remove_files()

    # -- figures ---------------------------------------------------------------------------------------------
    def memory_by_pod(self) -> dict[str, int]:
        with self._lock:
            return {f"{r.ns}/{r.name}": r.memory_bytes() for r in self.runners.values()}
