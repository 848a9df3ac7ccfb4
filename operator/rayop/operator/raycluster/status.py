"""RayCluster status from the spec, the observed pods and head Service, and the previous status (no I/O).

Follows KubeRay's ``calculateStatus``: replica counters, desired resources, ``state`` (ready / suspended), head
info and endpoints, and the conditions RayClusterProvisioned, HeadPodReady, ReplicaFailure, RayClusterSuspending and
RayClusterSuspended.  The caller writes the result only when :func:`status_changed` says it differs in substance,
so a quiet cluster causes no writes.

Fields KubeRay's ``RayClusterStatus`` tags ``omitempty`` are left out when zero, as KubeRay's JSON leaves them out
(kubectl shows a blank, not ``0``).  The status is written as a JSON merge patch, so such a field is set to None
here, which deletes a value written earlier; :func:`status_changed` treats None and absent alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rayop.api import labels as L
from rayop.api.conditions import condition
from rayop.api.raycluster import RayCluster
from rayop.operator.builders import resources
from rayop.operator.runtime.status import SPEC_VALID, status_differs

from .observed import PodView

PROVISIONED = "RayClusterProvisioned"
HEAD_POD_READY = "HeadPodReady"
REPLICA_FAILURE = "ReplicaFailure"
SUSPENDING = "RayClusterSuspending"
SUSPENDED = "RayClusterSuspended"


@dataclass(frozen=True)
class Failure:
    """A reconcile error to surface as ReplicaFailure (reason as in KubeRay, e.g. FailedCreateWorkerPod)."""

    reason: str
    message: str


def suspend_flags(cluster: RayCluster, pods: list[PodView], previous: dict[str, Any]) -> tuple[bool, bool]:
    """(suspending, suspended) after this observation: KubeRay's atomic suspend state machine."""
    conds = {c["type"]: c for c in previous.get("conditions", []) or []}
    suspending = conds.get(SUSPENDING, {}).get("status") == "True"
    suspended = conds.get(SUSPENDED, {}).get("status") == "True"
    live = [p for p in pods if not p.deleting]
    if suspending:
        if not pods:
            return False, True
        return True, False
    if suspended:
        return (False, False) if not cluster.spec.suspend else (False, True)
    if cluster.spec.suspend:
        return (True, False) if pods or live else (False, True)
    return False, False


def compute_status(
    cluster: RayCluster,
    pods: list[PodView],
    head_service: dict[str, Any] | None,
    previous: dict[str, Any],
    *,
    now: str,
    suspending: bool,
    suspended: bool,
    failure: Failure | None = None,
) -> dict[str, Any]:
    """The full status object for this pass."""
    generation = int(cluster.metadata.get("generation", 0) or 0)
    live = [p for p in pods if not p.deleting]
    workers = [p for p in live if p.node_type == L.NODE_TYPE_WORKER]
    head = next((p for p in live if p.node_type == L.NODE_TYPE_HEAD), None)
    totals = resources.replica_totals(cluster)
    status: dict[str, Any] = {
        **_omit_zero({
            "readyWorkerReplicas": sum(1 for p in workers if p.running_and_ready),
            "availableWorkerReplicas": sum(1 for p in workers if p.phase == "Running"),
            **totals,
            "observedGeneration": generation,
        }),
        # resource.Quantity is a struct, which Go's omitempty never omits: KubeRay writes "0".
        **resources.desired_status_resources(cluster),
        "lastUpdateTime": now,
    }
    prev_conds = {c["type"]: c for c in previous.get("conditions", []) or []}
    all_ready = (
        head is not None and head.running_and_ready and len(live) == totals["desiredWorkerReplicas"] + 1
        and all(p.running_and_ready for p in live)
    )
    state = previous.get("state")
    if suspended:
        state = "suspended"
    elif failure is None and all_ready:
        state = "ready"
    if state:
        status["state"] = state
    status["reason"] = None if state == "ready" else previous.get("reason") or None
    transitions = dict(previous.get("stateTransitionTimes") or {})
    if state and state != previous.get("state"):
        transitions[state] = now
    if transitions:
        status["stateTransitionTimes"] = transitions

    conds: list[dict[str, Any]] = []
    was_provisioned = prev_conds.get(PROVISIONED, {}).get("status") == "True"
    if suspended:
        conds.append(condition(PROVISIONED, False, "RayClusterPodsProvisioning", "RayCluster has been suspended",
                                generation, now, prev_conds))
    elif was_provisioned or all_ready:
        conds.append(condition(PROVISIONED, True, "AllPodRunningAndReadyFirstTime",
                                "All Ray Pods are ready for the first time", generation, now, prev_conds))
    else:
        conds.append(condition(PROVISIONED, False, "RayClusterPodsProvisioning",
                                "RayCluster Pods are being provisioned for first time", generation, now, prev_conds))
    conds.append(_head_readycondition(head, generation, now, prev_conds))
    if failure is not None:
        conds.append(condition(REPLICA_FAILURE, True, failure.reason, failure.message, generation, now, prev_conds))
    # KubeRay sets both on every cluster it admits, False (reason = the type, no message) unless suspending/suspended.
    conds.append(condition(SUSPENDING, suspending, SUSPENDING, "", generation, now, prev_conds))
    conds.append(condition(SUSPENDED, suspended, SUSPENDED, "", generation, now, prev_conds))
    if SPEC_VALID in prev_conds:
        conds.append(condition(SPEC_VALID, True, "Valid", "", generation, now, prev_conds))
    status["conditions"] = conds

    status["head"] = _head_info(head, head_service)
    endpoints = _endpoints(head_service)
    if endpoints:
        status["endpoints"] = endpoints
    return status


def _omit_zero(fields: dict[str, int]) -> dict[str, int | None]:
    """KubeRay's ``omitempty`` on int32/int64 status fields: 0 is not written (None deletes it in the patch)."""
    return {k: (v or None) for k, v in fields.items()}


def _head_readycondition(head: PodView | None, generation: int, now: str,
                          prev: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if head is None:
        return condition(HEAD_POD_READY, False, "HeadPodNotFound", "Head Pod not found", generation, now, prev)
    message = "; ".join(m for m in (head.ready_message, head.container_details) if m)
    if head.ready:
        return condition(HEAD_POD_READY, True, head.ready_reason or "HeadPodRunningAndReady",
                          message, generation, now, prev)
    reason = head.ready_reason or "Unknown"
    if reason == "ContainersNotReady" and head.waiting_reason:
        reason = head.waiting_reason
    return condition(HEAD_POD_READY, False, reason, message, generation, now, prev)


def _head_info(head: PodView | None, service: dict[str, Any] | None) -> dict[str, str | None]:
    # Absent fields are None, not missing: the status is written as a merge patch, where a missing key keeps the
    # old value (a gone head pod's name and IP would stay forever and never compare equal to the new status).
    info: dict[str, str | None] = {"podName": None, "podIP": None, "serviceName": None, "serviceIP": None}
    if head is not None:
        info["podName"] = head.name
        if head.pod_ip:
            info["podIP"] = head.pod_ip
    if service is not None:
        info["serviceName"] = service["metadata"]["name"]
        cluster_ip = (service.get("spec") or {}).get("clusterIP")
        if cluster_ip and cluster_ip != "None":
            info["serviceIP"] = cluster_ip
        elif head is not None and head.pod_ip:
            info["serviceIP"] = head.pod_ip
    return info


def _endpoints(service: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for port in ((service or {}).get("spec") or {}).get("ports", []) or []:
        name = port.get("name")
        if not name:
            continue
        value = port.get("nodePort") or port.get("targetPort") or port.get("port")
        out[name] = str(value)
    return out


#: The status fields that count as a change in substance (with the conditions): timestamps alone do not.
COMPARED = ("state", "reason", "readyWorkerReplicas", "availableWorkerReplicas", "desiredWorkerReplicas",
            "minWorkerReplicas", "maxWorkerReplicas", "endpoints", "head", "observedGeneration",
            "desiredCPU", "desiredMemory", "desiredGPU", "desiredTPU")


def status_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when the status differs in substance (lastUpdateTime and transition times alone do not count)."""
    return status_differs(old, new, COMPARED)
