"""The peers under test and how each one is started and driven.

* ``rayop``: ``rayop operator`` with its defaults (``rayop.local.devenv.start_operator``), rayop's CRDs.
* ``kuberay``: KubeRay's ``ray-operator`` with its default flags and its own CRDs. The only flags passed are the
  ones an out-of-cluster process needs: a leader-election namespace (leader election stays on, as by default) and
  loopback ports for metrics and probes (the defaults ``:8080``/``:8082`` may be taken on a shared machine).
* ``kuberay-c10``: the same with ``--reconcile-concurrency=10``.
* ``kuberay`` and ``kuberay-c10`` in cluster (the RayJob scenarios): the same binary as a pod on the local node,
  with in-cluster config (:mod:`.incluster`).
* ``ceiling``: no operator; a bare async client creates (and deletes) the pods and services the operator would,
  built by rayop's own builders from the same RayCluster manifest, as fast as the API server accepts them.

A driver is what a scenario uses to act: ``create`` a cluster and ``scale`` a worker group. For operators that means
writing RayCluster objects; for the ceiling, writing the pods directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
import urllib.request
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rayop.kube.client import KubeClient, NotFound
from rayop.local.controlplane.processes import Component, free_port

from . import kuberay

ROOT = Path(__file__).resolve().parents[2]
OPERATORS = ("rayop", "kuberay", "kuberay-c10", "ceiling")


@dataclass
class Peer:
    name: str
    component: Component | None = None
    version: str = ""
    flags: list[str] = field(default_factory=list)
    #: The operator's host pid when it runs in a pod (no component of ours: the local node runs it).
    pod_pid: int | None = None
    where: str = "host"

    @property
    def pid(self) -> int | None:
        if self.pod_pid is not None:
            return self.pod_pid
        return self.component.process.pid if self.component and self.component.process else None

    @property
    def is_operator(self) -> bool:
        return self.name != "ceiling"

    def stop(self) -> None:
        if self.component:
            self.component.stop()


def crd_files(name: str) -> list[Path]:
    if name.startswith("kuberay"):
        return kuberay.crd_files()
    return sorted((ROOT / "crds").glob("*.yaml"))


def prepare(name: str) -> None:
    """Everything slow that must happen before a control plane is started (building KubeRay)."""
    if name not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; choose from {', '.join(OPERATORS)}")
    if name.startswith("kuberay"):
        kuberay.ensure_binary()


def start(name: str, kubeconfig: Path, logdir: Path, env: dict[str, str] | None = None,
          in_cluster: bool = False) -> Peer:
    """Start the peer against ``kubeconfig``; returns once its health endpoint answers.

    ``in_cluster`` runs KubeRay as a pod on the local node (which must be running); rayop stays on the host.
    """
    if name == "ceiling":
        return Peer(name, version="bare aiohttp client")
    if name == "rayop":
        from rayop.local.devenv import start_operator

        saved = {k: os.environ.get(k) for k in env or {}}
        os.environ.update(env or {})
        try:
            comp, _ = start_operator(kubeconfig, logdir)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return Peer(name, comp, version=_rayop_version(), flags=[f"{k}={v}" for k, v in (env or {}).items()])
    tuning = ["--reconcile-concurrency=10"] if name == "kuberay-c10" else []
    if in_cluster:
        from . import incluster

        # The chart's defaults: leader election on, in the pod's namespace; probes and metrics on the pod's IP.
        pid, pod = incluster.start_kuberay(kubeconfig, tuning)
        return Peer(name, version=kuberay.version(), flags=tuning, pod_pid=pid, where=f"pod {pod}")
    binary = kuberay.ensure_binary()
    probe = free_port()
    flags = ["--leader-election-namespace=default", f"--metrics-addr=127.0.0.1:{free_port()}",
             f"--health-probe-bind-address=127.0.0.1:{probe}"]
    comp = Component(name, [str(binary), *flags, *tuning], logdir / f"{name}.log")
    comp.start(env={**os.environ, "KUBECONFIG": str(kubeconfig), **(env or {})})
    deadline = time.monotonic() + 60
    while True:
        comp.check_alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{probe}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            comp.stop()
            raise TimeoutError(f"{name} not ready:\n{comp.log_tail()}")
        time.sleep(0.2)
    return Peer(name, comp, version=kuberay.version(), flags=tuning)


def _rayop_version() -> str:
    import subprocess

    try:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "operator"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return f"git {sha}{'+dirty' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# -- drivers ------------------------------------------------------------------------------------------------------
class OperatorDriver:
    """Acts through RayCluster objects; the operator does the rest."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def create(self, manifest: dict[str, Any]) -> None:
        await self.client.create(manifest)

    async def scale(self, namespace: str, name: str, group: str, replicas: int) -> None:
        """Set the replicas of the manifest's only worker group with one JSON patch (no read first).

        The ``test`` op makes the patch fail rather than touch another group should the manifest ever change.
        """
        patch = [{"op": "test", "path": "/spec/workerGroupSpecs/0/groupName", "value": group},
                 {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": replicas}]
        await self.client.patch("ray.io/v1", "rayclusters", name, patch, namespace, kind="json")

    async def delete(self, namespace: str, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self.client.delete("ray.io/v1", "rayclusters", name, namespace)


class CeilingDriver:
    """Creates the operator's pods and head service directly (rayop's builders, no owner, no status, no events)."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.clusters: dict[tuple[str, str], Any] = {}
        self.workers: dict[tuple[str, str, str], list[str]] = {}

    async def create(self, manifest: dict[str, Any]) -> None:
        from rayop.api.raycluster import RayCluster
        from rayop.operator.builders import names
        from rayop.operator.builders.pod import build_head_pod
        from rayop.operator.builders.service import build_head_service

        cluster = RayCluster.parse(manifest)
        ns = manifest["metadata"]["namespace"]
        self.clusters[(ns, cluster.name)] = cluster
        head = build_head_pod(cluster, name=names.head_pod_name(cluster, _suffix()))
        jobs: list[Awaitable[Any]] = [self.client.create(build_head_service(cluster), ns), self.client.create(head, ns)]
        for g in manifest["spec"].get("workerGroupSpecs") or []:
            self.workers[(ns, cluster.name, g["groupName"])] = []
            jobs.append(self.scale(ns, cluster.name, g["groupName"], int(g.get("replicas", 0))))
        await asyncio.gather(*jobs)

    async def scale(self, namespace: str, name: str, group: str, replicas: int) -> None:
        from rayop.operator.builders import names
        from rayop.operator.builders.pod import build_worker_pod

        cluster = self.clusters[(namespace, name)]
        spec = next(g for g in cluster.spec.worker_group_specs or [] if g.group_name == group)
        current = self.workers[(namespace, name, group)]
        if replicas > len(current):
            new = [names.worker_pod_name(cluster, spec, _suffix()) for _ in range(replicas - len(current))]
            current += new
            await asyncio.gather(*(self.client.create(build_worker_pod(cluster, spec, name=n), namespace)
                                   for n in new))
        elif replicas < len(current):
            doomed = current[replicas:]
            del current[replicas:]
            await asyncio.gather(*(self.client.delete("v1", "pods", n, namespace) for n in doomed))

    async def delete(self, namespace: str, name: str) -> None:
        await self.client.request("DELETE", f"/api/v1/namespaces/{namespace}/pods",
                                  params={"labelSelector": f"ray.io/cluster={name}"})
        await self.client.request("DELETE", f"/api/v1/namespaces/{namespace}/services",
                                  params={"labelSelector": f"ray.io/cluster={name}"})


def _suffix() -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(5))


Driver = OperatorDriver | CeilingDriver


def driver_for(peer: Peer, client: KubeClient) -> Driver:
    return OperatorDriver(client) if peer.is_operator else CeilingDriver(client)
