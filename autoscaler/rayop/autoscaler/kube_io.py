"""The autoscaler's Kubernetes side: read the RayCluster and its pods, write the scale patch, explain decisions.

The scale patch has the shape Ray's autoscaler sends (``worker_replica_patch``/``worker_delete_patch`` in Ray's
``kuberay/node_provider.py``), so the operator cannot tell the two autoscalers apart, preceded by a
``resourceVersion`` test so a decision made on a stale read is rejected instead of applied::

    [{"op": "test", "path": "/metadata/resourceVersion", "value": "<rv>"},
     {"op": "replace", "path": "/spec/workerGroupSpecs/<i>/replicas", "value": N},
     {"op": "replace", "path": "/spec/workerGroupSpecs/<i>/scaleStrategy", "value": {"workersToDelete": [...]}}]

The latest decision (and the groups blocked because their pods were unschedulable) are kept in annotations, so
a restarted autoscaler continues where it left off; each new decision also becomes an Event on the RayCluster.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from rayop.api import labels as L
from rayop.autoscaler.state import Decision, GroupShape, WorkerPod
from rayop.kube.client import ApiError, KubeClient

log = logging.getLogger(__name__)

RAY_API = "ray.io/v1"
LAST_DECISION_ANNOTATION = "rayop.io/autoscaler-last-decision"
BLOCKED_GROUPS_ANNOTATION = "rayop.io/autoscaler-blocked-groups"
EVENT_COMPONENT = "rayop-autoscaler"


def parse_time(value: str | None) -> float | None:
    """RFC 3339 (``2026-01-02T03:04:05Z``) to epoch seconds."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def worker_pod(obj: dict[str, Any]) -> WorkerPod | None:
    """A worker pod as the planner sees it; None for the head and other pods of the cluster."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(L.RAY_NODE_TYPE) != "worker":
        return None
    since = None
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and \
                cond.get("reason") == "Unschedulable":
            since = parse_time(cond.get("lastTransitionTime"))
    return WorkerPod(
        name=str(meta.get("name", "")),
        group=str(labels.get(L.RAY_GROUP, "")),
        replica=labels.get(L.RAY_WORKER_GROUP_REPLICA_NAME),
        deleting=bool(meta.get("deletionTimestamp")),
        unschedulable_since=since,
    )


def blocked_groups(cluster: dict[str, Any]) -> dict[str, float]:
    """``{group: until}`` from the annotation (empty when absent or unreadable)."""
    raw = ((cluster.get("metadata") or {}).get("annotations") or {}).get(BLOCKED_GROUPS_ANNOTATION)
    try:
        parsed = json.loads(raw) if raw else {}
        return {str(k): float(v) for k, v in parsed.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def last_reasons(cluster: dict[str, Any]) -> list[str]:
    raw = ((cluster.get("metadata") or {}).get("annotations") or {}).get(LAST_DECISION_ANNOTATION)
    try:
        return [str(r) for r in json.loads(raw).get("reasons", [])] if raw else []
    except (ValueError, TypeError, AttributeError):
        return []


def build_scale_patch(cluster: dict[str, Any], groups: tuple[GroupShape, ...],
                      decision: Decision) -> list[dict[str, Any]]:
    """One JSON patch for every group whose replicas or workersToDelete change; [] when nothing changes."""
    specs = cluster["spec"].get("workerGroupSpecs") or []
    ops: list[dict[str, Any]] = []
    for group in sorted(groups, key=lambda g: g.index):
        target = decision.targets.get(group.name)
        if target is None:
            continue
        base = f"/spec/workerGroupSpecs/{group.index}"
        raw = specs[group.index]
        if target.replicas != group.replicas:
            ops.append({"op": "replace" if "replicas" in raw else "add", "path": f"{base}/replicas",
                        "value": target.replicas})
        if tuple(target.workers_to_delete) != group.workers_to_delete:
            ops.append({"op": "replace" if "scaleStrategy" in raw else "add", "path": f"{base}/scaleStrategy",
                        "value": {"workersToDelete": list(target.workers_to_delete)}})
    if not ops:
        return []
    rv = str((cluster.get("metadata") or {}).get("resourceVersion", ""))
    return [{"op": "test", "path": "/metadata/resourceVersion", "value": rv}, *ops]


def build_annotations(decision: Decision, now: float) -> dict[str, str | None]:
    """Annotation values (None removes one): latest decision with reasons, and blocked groups."""
    summary = {
        "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "targets": {name: t.replicas for name, t in sorted(decision.targets.items())},
        "reasons": decision.reasons,
        "unsatisfiable": decision.unsatisfiable,
    }
    blocked = {g: round(t, 3) for g, t in sorted(decision.blocked_until.items())}
    return {
        LAST_DECISION_ANNOTATION: json.dumps(summary, ensure_ascii=False, sort_keys=True),
        BLOCKED_GROUPS_ANNOTATION: json.dumps(blocked, sort_keys=True) if blocked else None,
    }


def build_event(cluster: dict[str, Any], reason: str, message: str, now: float, warning: bool = False,
                instance: str = "") -> dict[str, Any]:
    """A core/v1 Event about the RayCluster."""
    meta = cluster.get("metadata") or {}
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name', 'raycluster')}.", "namespace": meta.get("namespace")},
        "involvedObject": {"apiVersion": RAY_API, "kind": "RayCluster", "name": meta.get("name"),
                           "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                           "resourceVersion": meta.get("resourceVersion")},
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": EVENT_COMPONENT},
        "reportingComponent": EVENT_COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def event_reason(text: str) -> tuple[str, bool]:
    """(Event reason, is warning) for one decision reason line."""
    if text.startswith("unsatisfiable"):
        return "AutoscalerUnsatisfiable", True
    if text.startswith("cannot autoscale"):
        return "AutoscalerInvalidSpec", True
    if "unschedulable" in text:
        return "AutoscalerUnschedulable", True
    if "removing idle" in text:
        return "AutoscalerScaleDown", False
    if text.startswith("scaled group"):
        return "AutoscalerScaleUp", False
    return "AutoscalerDecision", False


class KubeIO:
    """Reads and writes for one RayCluster, with the pod's service account (or a kubeconfig for tests)."""

    def __init__(self, client: KubeClient, name: str, namespace: str, instance: str = "") -> None:
        self.client, self.name, self.namespace, self.instance = client, name, namespace, instance
        self._events_denied = False

    async def get_cluster(self) -> dict[str, Any]:
        return await self.client.get(RAY_API, "rayclusters", self.name, self.namespace)

    async def list_pods(self) -> list[dict[str, Any]]:
        return await self.client.list("v1", "pods", self.namespace, label_selector=f"{L.RAY_CLUSTER}={self.name}")

    async def patch_scale(self, patch: list[dict[str, Any]]) -> dict[str, Any]:
        """Apply the JSON patch; raises ApiError (409/422) when the resourceVersion test fails."""
        return await self.client.patch(RAY_API, "rayclusters", self.name, patch, self.namespace, kind="json")

    async def annotate(self, annotations: dict[str, str | None]) -> None:
        await self.client.patch(RAY_API, "rayclusters", self.name, {"metadata": {"annotations": annotations}},
                                self.namespace, kind="merge")

    async def emit(self, cluster: dict[str, Any], lines: list[str], now: float) -> None:
        """One Event per reason line; a missing ``events: create`` permission is logged once, not fatal."""
        for line in lines:
            if self._events_denied:
                return
            reason, warning = event_reason(line)
            try:
                await self.client.create(build_event(cluster, reason, line, now, warning, self.instance),
                                         self.namespace)
            except ApiError as exc:
                if exc.status == 403:
                    self._events_denied = True
                    log.warning("cannot create events (%s); decisions stay visible in the %s annotation",
                                exc.message, LAST_DECISION_ANNOTATION)
                else:
                    log.warning("event not recorded: %s", exc)
