"""What the benchmark sees of the cluster: every Ray pod (ready or not, live or deleting) and every RayCluster's state.

Both trackers are rayop's own informer (list + watch) with a callback stamping ``time.monotonic()`` on arrival, so
all operators (and the bare-client ceiling) are observed by exactly the same code. Pods are selected by KubeRay's
``ray.io/is-ray-node=yes`` label, which rayop, KubeRay and the ceiling all set.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rayop.kube.client import KubeClient
from rayop.kube.informer import Informer

Key = tuple[str, str]
POD_SELECTOR = "ray.io/is-ray-node=yes"
BENCH_LABEL = ("rayop.io/bench", "true")


@dataclass
class PodState:
    group: str
    node_type: str
    ready: bool
    deleting: bool


@dataclass
class ClusterPods:
    """The pods of one cluster as last seen."""

    pods: dict[str, PodState] = field(default_factory=dict)

    def live(self, group: str | None = None) -> list[PodState]:
        return [p for p in self.pods.values() if not p.deleting and (group is None or p.group == group)]

    def workers(self, group: str) -> int:
        return len([p for p in self.live(group) if p.node_type == "worker"])

    def ready_workers(self, group: str) -> int:
        return len([p for p in self.live(group) if p.node_type == "worker" and p.ready])

    def head_ready(self) -> bool:
        return any(p.node_type == "head" and p.ready for p in self.live())

    def matches(self, group: str, replicas: int) -> bool:
        """Exactly ``replicas`` live workers, all Ready, nothing of the group still terminating, head Ready."""
        terminating = [p for p in self.pods.values() if p.deleting and p.group == group]
        return (self.head_ready() and self.workers(group) == replicas and self.ready_workers(group) == replicas
                and not terminating)


def _pod_ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


class Watcher:
    """Pods and RayClusters of the whole cluster, with waiters woken per cluster."""

    def __init__(self, client: KubeClient, watch_rayclusters: bool = True) -> None:
        self.client = client
        self.t0 = time.monotonic()
        self.clusters: dict[Key, ClusterPods] = defaultdict(ClusterPods)
        self.cluster_state: dict[Key, str] = {}
        self.first_ready_at: dict[Key, float] = {}
        self.ready_total = 0
        #: Live (not terminating) pods; with ``created_series`` this separates the operator's own speed (creating
        #: pods) from the rest of the pipeline (scheduler, kwok marking pods Ready).
        self.live_total = 0
        self.created_series: list[tuple[float, int]] = []
        #: (seconds since ``t0``, Ready live pods) at every change.
        self.ready_series: list[tuple[float, int]] = []
        self._events: dict[Key, asyncio.Event] = defaultdict(asyncio.Event)
        self._pods = Informer(client, "v1", "pods", label_selector=POD_SELECTOR, on_change=self._on_pod)
        self._rcs = (Informer(client, "ray.io/v1", "rayclusters", label_selector="=".join(BENCH_LABEL),
                              on_change=self._on_rc) if watch_rayclusters else None)

    async def start(self) -> None:
        self._pods.start()
        if self._rcs:
            self._rcs.start()
            await asyncio.wait_for(self._rcs.synced.wait(), 60)
        await asyncio.wait_for(self._pods.synced.wait(), 60)

    async def stop(self) -> None:
        await self._pods.stop()
        if self._rcs:
            await self._rcs.stop()

    def reset_clock(self) -> None:
        """Start the series (and ``since``) from now."""
        self.t0 = time.monotonic()
        self.ready_series = [(0.0, self.ready_total)]
        self.created_series = [(0.0, self.live_total)]

    def since(self) -> float:
        return time.monotonic() - self.t0

    # -- callbacks ----------------------------------------------------------------------------------------------
    def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        cluster = labels.get("ray.io/cluster")
        if not cluster:
            # An informer relist reports deletions with only namespace and name: look the pod up everywhere.
            for ckey, cp in self.clusters.items():
                if ckey[0] == meta.get("namespace") and meta.get("name") in cp.pods:
                    gone = cp.pods.pop(meta["name"])
                    self._changed(ckey, -1 if gone.ready and not gone.deleting else 0, 0 if gone.deleting else -1)
                    break
            return
        key = (meta.get("namespace", ""), cluster)
        pods = self.clusters[key].pods
        old = pods.pop(meta["name"], None)
        delta = -1 if old is not None and old.ready and not old.deleting else 0
        live = -1 if old is not None and not old.deleting else 0
        if kind != "DELETED":
            new = PodState(
                group=labels.get("ray.io/group", ""), node_type=labels.get("ray.io/node-type", ""),
                ready=_pod_ready(pod), deleting=bool(meta.get("deletionTimestamp")),
            )
            pods[meta["name"]] = new
            delta += 1 if new.ready and not new.deleting else 0
            live += 0 if new.deleting else 1
        self._changed(key, delta, live)

    def _changed(self, key: Key, delta: int, live: int = 0) -> None:
        if live:
            self.live_total += live
            self.created_series.append((round(self.since(), 3), self.live_total))
        if delta:
            self.ready_total += delta
            self.ready_series.append((round(self.since(), 3), self.ready_total))
        self._events[key].set()

    def _on_rc(self, kind: str, rc: dict[str, Any]) -> None:
        meta = rc.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if kind == "DELETED":
            self.cluster_state.pop(key, None)
        else:
            state = str((rc.get("status") or {}).get("state", ""))
            self.cluster_state[key] = state
            if state == "ready" and key not in self.first_ready_at:
                self.first_ready_at[key] = time.monotonic()
        self._events[key].set()

    # -- waiting ------------------------------------------------------------------------------------------------
    async def wait(self, key: Key, predicate: Callable[[ClusterPods, str], bool], timeout: float) -> float:
        """Wait until ``predicate(pods, raycluster_state)`` holds for ``key``; returns ``time.monotonic()`` then."""
        event = self._events[key]
        deadline = time.monotonic() + timeout
        while True:
            event.clear()
            if predicate(self.clusters[key], self.cluster_state.get(key, "")):
                return time.monotonic()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{key}: condition not reached in {timeout:.0f}s "
                                   f"(state={self.cluster_state.get(key)!r}, pods={self.clusters[key].pods})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 5.0))

    def reset_ready(self, keys: list[Key]) -> None:
        for key in keys:
            self.first_ready_at.pop(key, None)
