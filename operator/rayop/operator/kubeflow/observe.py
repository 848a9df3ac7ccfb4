"""What the engine reads of a job's pods: slimmed cache entries, their labels, per-type counts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rayop.api.kubeflow_common import JOB_NAME_LABEL, REPLICA_INDEX_LABEL, REPLICA_TYPE_LABEL

from .framework import Body, Counts

#: Annotation on a pod: how many pods of its replica index were replaced before it (restart-safe backoff count).
REPLACEMENTS_ANNOTATION = "rayop.io/replacements"
#: The scheduling gate rayop's gang start holds every new pod behind.
GANG_GATE = "rayop.io/gang"


def slim_pod(pod: Body) -> Body:
    """Keep what the engine and the gang check read (a training pod's full spec is large)."""
    meta = pod.get("metadata", {})
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    return {
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "labels", "annotations", "ownerReferences",
                                          "deletionTimestamp", "creationTimestamp") if k in meta},
        "spec": {"nodeName": spec.get("nodeName"), "schedulingGates": spec.get("schedulingGates"),
                 "nodeSelector": spec.get("nodeSelector"), "tolerations": spec.get("tolerations"),
                 "containers": [{"name": c.get("name"), "resources": c.get("resources")}
                                for c in spec.get("containers") or []],
                 "initContainers": [{"name": c.get("name"), "resources": c.get("resources")}
                                    for c in spec.get("initContainers") or []]},
        "status": {k: status[k] for k in ("phase", "containerStatuses", "initContainerStatuses", "podIP",
                                          "conditions") if k in status},
    }


def labels_of(pod: Body) -> dict[str, str | None]:
    lb = pod.get("metadata", {}).get("labels") or {}
    return {"job": lb.get(JOB_NAME_LABEL), "rtype": lb.get(REPLICA_TYPE_LABEL), "index": lb.get(REPLICA_INDEX_LABEL)}


def phase(pod: Body) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def deleting(pod: Body) -> bool:
    return bool(pod.get("metadata", {}).get("deletionTimestamp"))


def gated(pod: Body) -> bool:
    return any(g.get("name") == GANG_GATE for g in (pod.get("spec") or {}).get("schedulingGates") or [])


def replacements(pod: Body) -> int:
    try:
        return int((pod.get("metadata", {}).get("annotations") or {}).get(REPLACEMENTS_ANNOTATION, 0))
    except ValueError:
        return 0


def count(pods: Iterable[Body]) -> Counts:
    """``updateJobReplicaStatuses``: Running counts active (a terminating Running pod counts failed), Succeeded,
    and Failed pods that are not being deleted."""
    active = succeeded = failed = 0
    for pod in pods:
        p = phase(pod)
        if p == "Running":
            if deleting(pod):
                failed += 1
            else:
                active += 1
        elif p == "Succeeded":
            succeeded += 1
        elif p == "Failed" and not deleting(pod):
            failed += 1
    return Counts(active, succeeded, failed)


def restart_count(pod: Body) -> int:
    status = pod.get("status") or {}
    return sum(int(cs.get("restartCount", 0)) for key in ("containerStatuses", "initContainerStatuses")
               for cs in status.get(key) or [])


def by_type(pods: Iterable[Body]) -> dict[str, list[Body]]:
    out: dict[str, list[Body]] = {}
    for pod in pods:
        rt = labels_of(pod)["rtype"]
        if rt:
            out.setdefault(rt, []).append(pod)
    return out


def first(items: Iterable[Any]) -> Any:
    return next(iter(items), None)
