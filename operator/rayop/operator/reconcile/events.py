"""Kubernetes events on the RayCluster, with KubeRay's reasons (``CreatedWorkerPod``, ``FailedToCreateHeadPod``...).

Events are written only for actions the operator took (or failed to take), never for observations, so a quiet
cluster produces no events. Writing an event is best effort: a failure is logged, never raised.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from rayop.kube.client import KubeClient

logger = logging.getLogger("rayop.events")


def build_event(involved: dict[str, Any], event_type: str, reason: str, message: str, component: str,
                now: dt.datetime) -> dict[str, Any]:
    """A core/v1 Event about ``involved`` (a RayCluster body)."""
    meta = involved["metadata"]
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", "ray.io/v1"), "kind": involved.get("kind", "RayCluster"),
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventRecorder:
    """Posts events for one controller (``raycluster-controller`` etc.)."""

    def __init__(self, client: KubeClient, component: str) -> None:
        self.client = client
        self.component = component

    async def record(self, involved: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        body = build_event(involved, event_type, reason, message, self.component, dt.datetime.now(dt.UTC))
        try:
            await self.client.create(body)
        except Exception as exc:
            logger.warning("could not record event %s: %s", reason, exc)

    async def normal(self, involved: dict[str, Any], reason: str, message: str) -> None:
        await self.record(involved, "Normal", reason, message)

    async def warning(self, involved: dict[str, Any], reason: str, message: str) -> None:
        await self.record(involved, "Warning", reason, message)
