"""The cluster's nodes and bound pods for the gang check: one cache per process, shared by the four job
controllers, opened when the first job needs a gang decision (a cluster without training jobs pays nothing).

Cluster-wide on purpose, even when the operator watches a few namespaces: capacity is taken by every pod of the
node. With one lock around decide-and-admit and :class:`~.gang.Reservations`, two jobs never both take the same
free room, whatever order their passes run in.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rayop.kube.client import KubeClient
from rayop.kube.informer import Informer

from .gang import Reservations
from .observe import slim_pod


def _slim_node(node: dict[str, Any]) -> dict[str, Any]:
    meta, spec, status = node.get("metadata", {}), node.get("spec") or {}, node.get("status") or {}
    return {"metadata": {"name": meta.get("name"), "labels": meta.get("labels")},
            "spec": {"unschedulable": spec.get("unschedulable"), "taints": spec.get("taints")},
            "status": {"allocatable": status.get("allocatable")}}


def _bound_pod(pod: dict[str, Any]) -> dict[str, Any]:
    slim = slim_pod(pod)
    return {"metadata": {k: slim["metadata"][k] for k in ("name", "namespace") if k in slim["metadata"]},
            "spec": {"nodeName": slim["spec"].get("nodeName"), "containers": slim["spec"]["containers"],
                     "initContainers": slim["spec"]["initContainers"]},
            "status": {"phase": slim["status"].get("phase")}}


class Capacity:
    def __init__(self, client: KubeClient) -> None:
        self.nodes = Informer(client, "v1", "nodes", transform=_slim_node)
        self.pods = Informer(client, "v1", "pods", transform=_bound_pod)
        self.lock = asyncio.Lock()
        self.reservations = Reservations()
        self._started = False

    async def ready(self) -> None:
        if not self._started:
            self._started = True
            self.nodes.start()
            self.pods.start()
        await asyncio.gather(self.nodes.synced.wait(), self.pods.synced.wait())

    async def close(self) -> None:
        if self._started:
            await self.nodes.stop()
            await self.pods.stop()


_SHARED: dict[int, Capacity] = {}


def shared(client: KubeClient) -> Capacity:
    """The process's one :class:`Capacity` (per API client)."""
    cap = _SHARED.get(id(client))
    if cap is None:
        cap = _SHARED[id(client)] = Capacity(client)
    return cap


async def release(client: KubeClient) -> None:
    cap = _SHARED.pop(id(client), None)
    if cap is not None:
        await cap.close()
