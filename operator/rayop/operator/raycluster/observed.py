"""What the operator observes of a RayCluster's pods, reduced to the facts reconciliation decides on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rayop.api import labels as L


def slim_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """The part of a pod that :meth:`PodView.from_pod` and the informer index read; cached instead of the whole pod
    (a Ray pod's spec is mostly its template: env, volumes, probes), which keeps the operator's memory flat."""
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}) or {}, pod.get("status", {}) or {}
    keep_meta = ("name", "namespace", "uid", "labels", "annotations", "deletionTimestamp", "creationTimestamp",
                 "resourceVersion")
    return {
        "metadata": {k: meta[k] for k in keep_meta if k in meta},
        "spec": {"containers": [{"name": c.get("name")} for c in (spec.get("containers") or [])[:1]],
                 "restartPolicy": spec.get("restartPolicy"), "nodeName": spec.get("nodeName")},
        "status": {k: status[k] for k in ("phase", "podIP", "conditions", "initContainerStatuses", "containerStatuses")
                   if k in status},
    }


@dataclass(frozen=True)
class PodView:
    """One pod of a RayCluster, as seen in the watch cache."""

    name: str
    uid: str
    node_type: str
    group: str
    phase: str
    ready: bool
    deleting: bool
    ray_container_terminated: bool
    restart_policy: str
    replica_name: str | None
    replica_index: int | None
    host_index: int | None
    recreate_hash: str | None
    operator_version: str | None
    pod_ip: str | None
    created: str
    waiting_reason: str | None = None
    #: "name: reason: message" of every waiting/terminated container, joined by ", " (KubeRay's containerStatusDetails).
    container_details: str = ""
    ready_reason: str | None = None
    ready_message: str | None = None
    requests: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_pod(cls, pod: dict[str, Any]) -> PodView:
        meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {}) or {}
        labels, annotations = meta.get("labels", {}) or {}, meta.get("annotations", {}) or {}
        containers = spec.get("containers", []) or []
        ray_name = containers[0].get("name") if containers else None
        terminated = False
        waiting = None
        details = []
        for cs in status.get("containerStatuses", []) or []:
            state = cs.get("state", {}) or {}
            stopped = state.get("waiting") or state.get("terminated")
            if stopped is not None:
                details.append(f"{cs.get('name', '')}: {stopped.get('reason', '')}: {stopped.get('message', '')}")
            if cs.get("name") == ray_name and "terminated" in state:
                terminated = True
            if "waiting" in state and waiting is None:
                waiting = state["waiting"].get("reason")
            if "terminated" in state and waiting is None:
                waiting = state["terminated"].get("reason")
        conditions = status.get("conditions", []) or []
        ready_cond: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})

        def _int(v: Any) -> int | None:
            try:
                return int(v)
            except (TypeError, ValueError):
                return None

        return cls(
            name=meta.get("name", ""),
            uid=meta.get("uid", ""),
            node_type=labels.get(L.RAY_NODE_TYPE, ""),
            group=labels.get(L.RAY_GROUP, ""),
            phase=status.get("phase", "Pending") or "Pending",
            ready=ready_cond.get("status") == "True",
            deleting=bool(meta.get("deletionTimestamp")),
            ray_container_terminated=terminated,
            restart_policy=spec.get("restartPolicy", "Always") or "Always",
            replica_name=labels.get(L.RAY_WORKER_GROUP_REPLICA_NAME),
            replica_index=_int(labels.get(L.RAY_WORKER_GROUP_REPLICA_INDEX)),
            host_index=_int(labels.get(L.RAY_REPLICA_HOST_INDEX)),
            recreate_hash=annotations.get(L.UPGRADE_STRATEGY_RECREATE_HASH),
            operator_version=annotations.get(L.KUBERAY_VERSION),
            pod_ip=status.get("podIP"),
            created=meta.get("creationTimestamp", ""),
            waiting_reason=waiting,
            container_details=", ".join(details),
            ready_reason=ready_cond.get("reason"),
            ready_message=ready_cond.get("message"),
        )

    @property
    def running_and_ready(self) -> bool:
        return self.phase == "Running" and self.ready

    def should_delete(self) -> bool:
        """KubeRay's shouldDeletePod: finished pods, and a dead Ray container that will never restart."""
        if self.phase in ("Failed", "Succeeded"):
            return True
        return self.phase == "Running" and self.ray_container_terminated and self.restart_policy == "Never"

    def describe(self) -> str:
        return (f"Pod status: {self.phase}; Pod restart policy: {self.restart_policy}; "
                f"Ray container terminated status: {self.ray_container_terminated}")
