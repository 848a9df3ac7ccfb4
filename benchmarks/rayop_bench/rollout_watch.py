"""What a RayService rollout looks like from outside, for the ``rayservice`` scenario and ``rollout_kill``.

One :class:`RolloutWatch` per namespace keeps, from rayop's informers (list + watch, ``time.monotonic()`` stamped
on arrival, the same code for every operator):

* every RayCluster of the namespace: when it appeared and when it was gone, and the most that existed at once
  (``max_clusters``: a blue/green upgrade needs 2; a third is the bug KubeRay users report as stacked clusters);
* the RayService's last status (Ready condition, active and pending cluster names, application statuses);
* the serve Service ``<svc>-serve-svc``: its ClusterIP and which cluster its selector (``ray.io/cluster``) points
  at, with the moment each switch was seen — the switch of traffic in both operators.

Only what both KubeRay v1.5.0 and rayop write is read (KubeRay's names, labels and status fields).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rayop.kube.client import KubeClient
from rayop.kube.informer import Informer

#: The annotation on which rayop records the serve config (by hash) applied to a cluster
#: (``rayop.operator.builders.rayservice.SERVE_CONFIG_HASH``, spelled out: the bench imports no operator internals).
SERVE_CONFIG_HASH = "rayop.io/serve-config-hash"


@dataclass
class ClusterLife:
    name: str
    added: float
    gone: float | None = None


@dataclass
class RolloutWatch:
    client: KubeClient
    namespace: str
    service: str
    clusters: dict[str, ClusterLife] = field(default_factory=dict)
    max_clusters: int = 0
    status: dict[str, Any] = field(default_factory=dict)
    #: (time seen, cluster the serve Service selects), in order; the first entry is the initial selection.
    switches: list[tuple[float, str]] = field(default_factory=list)
    cluster_ip: str = ""
    #: Every ``rayop.io/serve-config-hash`` annotation each RayCluster was seen with (rayop's record of which serve
    #: config it applied where; KubeRay writes none).
    config_hashes: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._changed = asyncio.Event()
        self._informers = [
            Informer(self.client, "ray.io/v1", "rayclusters", namespace=self.namespace, on_change=self._on_cluster),
            Informer(self.client, "ray.io/v1", "rayservices", namespace=self.namespace, on_change=self._on_service),
            Informer(self.client, "v1", "services", namespace=self.namespace, on_change=self._on_svc),
        ]

    async def start(self) -> None:
        for inf in self._informers:
            inf.start()
        await asyncio.wait_for(asyncio.gather(*(inf.synced.wait() for inf in self._informers)), 60)

    async def stop(self) -> None:
        for inf in self._informers:
            await inf.stop()

    # -- callbacks ----------------------------------------------------------------------------------------------
    def _on_cluster(self, kind: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        now = time.monotonic()
        applied = (obj["metadata"].get("annotations") or {}).get(SERVE_CONFIG_HASH)
        if applied:
            self.config_hashes.setdefault(name, set()).add(applied)
        if kind == "DELETED":
            if name in self.clusters and self.clusters[name].gone is None:
                self.clusters[name].gone = now
        elif name not in self.clusters or self.clusters[name].gone is not None:
            self.clusters[name] = ClusterLife(name, now)
        self.max_clusters = max(self.max_clusters, len(self.alive()))
        self._changed.set()

    def _on_service(self, kind: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == self.service:
            self.status = {} if kind == "DELETED" else dict(obj.get("status") or {})
            self._changed.set()

    def _on_svc(self, kind: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] != f"{self.service}-serve-svc" or kind == "DELETED":
            return
        spec = obj.get("spec") or {}
        self.cluster_ip = str(spec.get("clusterIP") or "")
        target = str((spec.get("selector") or {}).get("ray.io/cluster", ""))
        if not self.switches or self.switches[-1][1] != target:
            self.switches.append((time.monotonic(), target))
        self._changed.set()

    # -- queries ------------------------------------------------------------------------------------------------
    def alive(self) -> list[str]:
        return sorted(n for n, life in self.clusters.items() if life.gone is None)

    def ready(self) -> bool:
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in self.status.get("conditions") or [])

    def active(self) -> str:
        return str((self.status.get("activeServiceStatus") or {}).get("rayClusterName") or "")

    def pending(self) -> str:
        return str((self.status.get("pendingServiceStatus") or {}).get("rayClusterName") or "")

    def pending_apps(self) -> dict[str, Any]:
        return dict((self.status.get("pendingServiceStatus") or {}).get("applicationStatuses") or {})

    def selected(self) -> str:
        """The cluster the serve Service's selector points at now ("" before the Service exists)."""
        return self.switches[-1][1] if self.switches else ""

    def switched_at(self, to: str) -> float | None:
        return next((t for t, target in self.switches if target == to), None)

    async def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> float:
        """Wait until ``predicate()`` holds (checked on every change, and every second); return when it did."""
        deadline = time.monotonic() + timeout
        while True:
            self._changed.clear()
            if predicate():
                return time.monotonic()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{what}: not reached in {timeout:.0f}s (clusters {self.alive()}, serve "
                                   f"Service -> {self.selected() or '-'}, status {self.status})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1.0))
