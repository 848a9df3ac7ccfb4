"""compute_status, suspend_flags and status_changed: KubeRay's calculateStatus (§2.7, §1.2) without I/O."""

from __future__ import annotations

from typing import Any

from rayop.api.raycluster import RayCluster
from rayop.operator.raycluster.observed import PodView
from rayop.operator.raycluster.status import Failure, compute_status, status_changed, suspend_flags

T0, T1, T2 = "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"

# --- builders ------------------------------------------------------------------------------------------------


def cluster(replicas: int = 2, *, suspend: bool | None = None, generation: int = 1, hosts: int = 1,
            group_suspend: bool | None = None) -> RayCluster:
    g: dict[str, Any] = {"groupName": "small", "replicas": replicas, "minReplicas": 0, "maxReplicas": 10,
                         "numOfHosts": hosts, "rayStartParams": {},
                         "template": {"spec": {"containers": [{"name": "ray-worker", "image": "ray",
                                                               "resources": {"requests": {"cpu": "2"}}}]}}}
    if group_suspend is not None:
        g["suspend"] = group_suspend
    spec: dict[str, Any] = {
        "headGroupSpec": {"rayStartParams": {}, "template": {"spec": {"containers": [
            {"name": "ray-head", "image": "ray", "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}}]}}},
        "workerGroupSpecs": [g],
    }
    if suspend is not None:
        spec["suspend"] = suspend
    return RayCluster.parse({"apiVersion": "ray.io/v1", "kind": "RayCluster",
                             "metadata": {"name": "rc", "namespace": "ns", "generation": generation}, "spec": spec})


def pod(name: str, *, node_type: str = "worker", phase: str = "Running", ready: bool | None = True,
        ready_reason: str | None = None, ready_message: str | None = None, deleting: bool = False,
        ip: str | None = None, container_states: list[tuple[str, dict[str, Any]]] | None = None) -> PodView:
    group = "headgroup" if node_type == "head" else "small"
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "labels": {
        "ray.io/cluster": "rc", "ray.io/node-type": node_type, "ray.io/group": group}}
    if deleting:
        meta["deletionTimestamp"] = T0
    status: dict[str, Any] = {"phase": phase}
    if ready is not None:
        cond: dict[str, Any] = {"type": "Ready", "status": "True" if ready else "False"}
        if ready_reason:
            cond["reason"] = ready_reason
        if ready_message:
            cond["message"] = ready_message
        status["conditions"] = [cond]
    if ip:
        status["podIP"] = ip
    if container_states is not None:
        status["containerStatuses"] = [{"name": n, "state": st} for n, st in container_states]
    return PodView.from_pod({"metadata": meta, "spec": {"containers": [{"name": "ray"}]}, "status": status})


def head(**kw: Any) -> PodView:
    kw.setdefault("ip", "10.0.0.1")
    return pod("rc-head-aaaaa", node_type="head", **kw)


def ready_pods(n: int = 2) -> list[PodView]:
    return [head(), *(pod(f"w{i}") for i in range(n))]


def service(cluster_ip: str = "10.96.0.10", ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "rc-head-svc"}, "spec": {"clusterIP": cluster_ip, "ports": ports or []}}


def status(c: RayCluster, pods: list[PodView], previous: dict[str, Any] | None = None, *, now: str = T1,
           svc: dict[str, Any] | None = None, suspending: bool = False, suspended: bool = False,
           failure: Failure | None = None) -> dict[str, Any]:
    return compute_status(c, pods, svc, previous or {}, now=now, suspending=suspending, suspended=suspended,
                          failure=failure)


def cond(st: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((x for x in st.get("conditions", []) if x["type"] == ctype), None)


def as_stored(st: dict[str, Any]) -> dict[str, Any]:
    """What the API server holds after a merge patch of ``st`` onto nothing: None-valued keys vanish."""
    def strip(v: Any) -> Any:
        return {k: strip(x) for k, x in v.items() if x is not None} if isinstance(v, dict) else v
    return strip(st)  # type: ignore[no-any-return]


def count(st: dict[str, Any], field: str) -> int:
    """A counter as a client reads KubeRay's status: omitted (omitempty) means 0."""
    return int(as_stored(st).get(field, 0))


# --- counters and resources ----------------------------------------------------------------------------------


def test_ready_workers_need_running_and_ready_while_available_needs_running_only() -> None:
    st = status(cluster(3), [head(), pod("w0"), pod("w1", ready=False), pod("w2", phase="Pending", ready=False)])
    assert (st["readyWorkerReplicas"], st["availableWorkerReplicas"]) == (1, 2)


def test_head_is_not_counted_as_a_worker() -> None:
    st = status(cluster(0), [head()])
    assert (count(st, "readyWorkerReplicas"), count(st, "availableWorkerReplicas")) == (0, 0)


def test_terminating_workers_are_not_counted() -> None:
    assert status(cluster(2), [head(), pod("w0"), pod("w1", deleting=True)])["readyWorkerReplicas"] == 1


def test_desired_min_max_and_resources_come_from_the_spec() -> None:
    st = status(cluster(3), [])
    assert (st["desiredWorkerReplicas"], count(st, "minWorkerReplicas"), st["maxWorkerReplicas"]) == (3, 0, 10)
    assert (st["desiredCPU"], st["desiredMemory"], st["desiredGPU"], st["desiredTPU"]) == ("7", "2Gi", "0", "0")


def test_desired_workers_multiply_by_num_of_hosts() -> None:
    st = status(cluster(2, hosts=4), [])
    assert (st["desiredWorkerReplicas"], st["maxWorkerReplicas"]) == (8, 40)


def test_suspended_group_is_excluded_from_desired_counts() -> None:
    st = status(cluster(2, group_suspend=True), [])
    assert (count(st, "desiredWorkerReplicas"), count(st, "maxWorkerReplicas"), st["desiredCPU"]) == (0, 0, "1")


def test_observed_generation_and_last_update_time_are_set() -> None:
    st = status(cluster(generation=7), [], now=T2)
    assert (st["observedGeneration"], st["lastUpdateTime"]) == (7, T2)


def test_zero_counters_are_omitted_like_kuberays_omitempty_fields() -> None:
    stored = as_stored(status(cluster(0), []))
    for field in ("readyWorkerReplicas", "availableWorkerReplicas", "desiredWorkerReplicas", "minWorkerReplicas"):
        assert field not in stored, field
    assert stored["maxWorkerReplicas"] == 10


def test_a_counter_that_drops_to_zero_is_deleted_by_the_merge_patch() -> None:
    stored = as_stored(status(cluster(2), ready_pods(2), now=T0))
    assert stored["availableWorkerReplicas"] == 2
    st = status(cluster(2), [head()], stored, now=T1)
    assert st["availableWorkerReplicas"] is None and st["readyWorkerReplicas"] is None
    assert "availableWorkerReplicas" not in merge_patch(stored, st)


def test_zero_desired_resources_are_still_written_as_kuberay_writes_quantities() -> None:
    st = status(cluster(0), [])
    assert (st["desiredGPU"], st["desiredTPU"]) == ("0", "0")


# --- state ---------------------------------------------------------------------------------------------------


def test_state_is_ready_when_all_pods_exist_and_are_running_and_ready() -> None:
    st = status(cluster(2), ready_pods(2))
    assert st["state"] == "ready" and as_stored(st).get("reason", "") == ""
    assert st["stateTransitionTimes"] == {"ready": T1}


def test_state_is_unset_while_a_worker_is_missing() -> None:
    assert "state" not in status(cluster(3), ready_pods(2))


def test_state_is_unset_while_a_pod_is_not_ready() -> None:
    assert "state" not in status(cluster(1), [head(), pod("w0", ready=False)])


def test_state_is_not_ready_with_a_reconcile_failure() -> None:
    assert "state" not in status(cluster(2), ready_pods(2), failure=Failure("FailedCreateWorkerPod", "boom"))


def test_ready_state_survives_later_pod_failures() -> None:
    prev = status(cluster(2), ready_pods(2))
    st = status(cluster(2), [head(ready=False)], prev, now=T2)
    assert st["state"] == "ready"
    assert st["stateTransitionTimes"] == {"ready": T1}


def test_state_is_suspended_when_suspended() -> None:
    prev = status(cluster(2), ready_pods(2))
    st = status(cluster(2, suspend=True), [], prev, now=T2, suspended=True)
    assert st["state"] == "suspended"
    assert st["stateTransitionTimes"] == {"ready": T1, "suspended": T2}


def test_state_stays_suspended_after_resume_until_ready() -> None:
    suspended = status(cluster(2, suspend=True), [], suspended=True)
    resuming = status(cluster(2), [head(ready=False)], suspended, now=T2)
    assert resuming["state"] == "suspended"
    assert status(cluster(2), ready_pods(2), resuming, now=T2)["state"] == "ready"


def test_reason_is_kept_until_ready_then_cleared() -> None:
    assert status(cluster(3), ready_pods(2), {"reason": "old"})["reason"] == "old"
    assert as_stored(status(cluster(2), ready_pods(2), {"reason": "old"})).get("reason", "") == ""


def test_an_empty_reason_is_omitted_like_kuberay() -> None:
    assert "reason" not in as_stored(status(cluster(3), ready_pods(2)))


def test_clearing_the_reason_deletes_it_through_the_merge_patch() -> None:
    st = status(cluster(2), ready_pods(2), {"reason": "old"})
    assert st["reason"] is None
    assert "reason" not in merge_patch({"reason": "old"}, st)


# --- RayClusterProvisioned -----------------------------------------------------------------------------------


def test_provisioned_is_false_while_pods_are_being_provisioned() -> None:
    c = cond(status(cluster(2), [head()]), "RayClusterProvisioned")
    assert c is not None and (c["status"], c["reason"], c["message"]) == (
        "False", "RayClusterPodsProvisioning", "RayCluster Pods are being provisioned for first time")


def test_provisioned_turns_true_when_all_pods_are_ready_for_the_first_time() -> None:
    c = cond(status(cluster(2), ready_pods(2)), "RayClusterProvisioned")
    assert c is not None and (c["status"], c["reason"], c["message"], c["lastTransitionTime"]) == (
        "True", "AllPodRunningAndReadyFirstTime", "All Ray Pods are ready for the first time", T1)


def test_provisioned_condition_never_flips_back_once_true() -> None:
    prev = status(cluster(2), ready_pods(2))
    st = status(cluster(2), [pod("w0", ready=False)], prev, now=T2)
    c = cond(st, "RayClusterProvisioned")
    assert c is not None and c["status"] == "True" and c["lastTransitionTime"] == T1


def test_provisioned_stays_true_while_suspending() -> None:
    prev = status(cluster(2), ready_pods(2))
    c = cond(status(cluster(2, suspend=True), ready_pods(2), prev, now=T2, suspending=True), "RayClusterProvisioned")
    assert c is not None and c["status"] == "True" and c["lastTransitionTime"] == T1


def test_provisioned_flips_false_once_suspended() -> None:
    prev = status(cluster(2), ready_pods(2))
    c = cond(status(cluster(2, suspend=True), [], prev, now=T2, suspended=True), "RayClusterProvisioned")
    assert c is not None and (c["status"], c["message"], c["lastTransitionTime"]) == (
        "False", "RayCluster has been suspended", T2)


def test_conditions_carry_the_generation() -> None:
    st = status(cluster(generation=4), [])
    assert {c["observedGeneration"] for c in st["conditions"]} == {4}


# --- HeadPodReady --------------------------------------------------------------------------------------------


def test_head_pod_ready_is_false_with_head_pod_not_found_when_there_is_no_head() -> None:
    c = cond(status(cluster(), []), "HeadPodReady")
    assert c is not None and (c["status"], c["reason"], c["message"]) == ("False", "HeadPodNotFound",
                                                                          "Head Pod not found")


def test_head_pod_ready_defaults_reason_when_ready_condition_has_none() -> None:
    c = cond(status(cluster(), [head()]), "HeadPodReady")
    assert c is not None and (c["status"], c["reason"], c["message"]) == ("True", "HeadPodRunningAndReady", "")


def test_head_pod_ready_mirrors_the_pod_ready_reason_and_message() -> None:
    c = cond(status(cluster(), [head(ready=False, ready_reason="PodFailed", ready_message="x")]), "HeadPodReady")
    assert c is not None and (c["status"], c["reason"], c["message"]) == ("False", "PodFailed", "x")


def test_head_pod_ready_reason_is_unknown_without_a_ready_condition() -> None:
    c = cond(status(cluster(), [head(ready=None, phase="Pending")]), "HeadPodReady")
    assert c is not None and (c["status"], c["reason"]) == ("False", "Unknown")


def test_head_pod_ready_reports_container_waiting_reason() -> None:
    h = head(ready=False, ready_reason="ContainersNotReady", ready_message="containers with unready status: [ray]",
             container_states=[("ray", {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling"}})])
    c = cond(status(cluster(), [h]), "HeadPodReady")
    assert c is not None and c["reason"] == "ImagePullBackOff"
    assert c["message"] == "containers with unready status: [ray]; ray: ImagePullBackOff: Back-off pulling"


def test_head_pod_ready_reports_terminated_container_reason() -> None:
    h = head(ready=False, ready_reason="ContainersNotReady",
             container_states=[("ray", {"terminated": {"reason": "OOMKilled", "message": ""}})])
    c = cond(status(cluster(), [h]), "HeadPodReady")
    assert c is not None and (c["reason"], c["message"]) == ("OOMKilled", "ray: OOMKilled: ")


def test_head_pod_ready_keeps_other_reasons_unchanged() -> None:
    h = head(ready=False, ready_reason="PodCompleted", container_states=[("ray", {"terminated": {"reason": "Done"}})])
    c = cond(status(cluster(), [h]), "HeadPodReady")
    assert c is not None and c["reason"] == "PodCompleted"


def test_condition_transition_time_changes_only_when_status_changes() -> None:
    prev = status(cluster(), [head(ready=False, ready_reason="A")], now=T0)
    same = cond(status(cluster(), [head(ready=False, ready_reason="B")], prev, now=T1), "HeadPodReady")
    flipped = cond(status(cluster(), [head()], prev, now=T2), "HeadPodReady")
    assert same is not None and same["lastTransitionTime"] == T0 and same["reason"] == "B"
    assert flipped is not None and flipped["lastTransitionTime"] == T2


# --- ReplicaFailure / SpecValid ------------------------------------------------------------------------------


def test_replica_failure_condition_reports_the_reconcile_error() -> None:
    c = cond(status(cluster(), [], failure=Failure("FailedCreateWorkerPod", "quota")), "ReplicaFailure")
    assert c is not None and (c["status"], c["reason"], c["message"]) == ("True", "FailedCreateWorkerPod", "quota")


def test_replica_failure_condition_is_removed_after_a_clean_pass() -> None:
    prev = status(cluster(), [], failure=Failure("FailedCreateWorkerPod", "quota"))
    assert cond(status(cluster(), [], prev), "ReplicaFailure") is None


def test_a_valid_pass_after_an_invalid_spec_sets_spec_valid_true() -> None:
    # SpecValid=False is written by the runtime's invalid-spec reporter; the next valid pass turns it True.
    prev = {"conditions": [{"type": "SpecValid", "status": "False", "reason": "InvalidRayClusterSpec",
                            "message": "spec.x: bad", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    c = cond(status(cluster(), [], prev), "SpecValid")
    assert c is not None and (c["status"], c["reason"]) == ("True", "Valid")


def test_spec_valid_is_absent_for_clusters_that_were_never_invalid() -> None:
    assert cond(status(cluster(), []), "SpecValid") is None


# --- suspend conditions and the suspend_flags state machine --------------------------------------------------


def conditions(suspending: bool = False, suspended: bool = False) -> dict[str, Any]:
    conds = []
    if suspending:
        conds.append({"type": "RayClusterSuspending", "status": "True"})
    if suspended:
        conds.append({"type": "RayClusterSuspended", "status": "True"})
    return {"conditions": conds}


def test_running_cluster_is_neither_suspending_nor_suspended() -> None:
    assert suspend_flags(cluster(), ready_pods(), {}) == (False, False)


def test_spec_suspend_with_pods_starts_suspending() -> None:
    assert suspend_flags(cluster(suspend=True), ready_pods(), {}) == (True, False)


def test_spec_suspend_without_pods_is_suspended_at_once() -> None:
    assert suspend_flags(cluster(suspend=True), [], {}) == (False, True)


def test_suspending_continues_while_pods_remain() -> None:
    assert suspend_flags(cluster(suspend=True), ready_pods(), conditions(suspending=True)) == (True, False)


def test_suspending_waits_for_terminating_pods_to_be_gone() -> None:
    assert suspend_flags(cluster(suspend=True), [pod("w0", deleting=True)], conditions(suspending=True)) == (
        True, False)


def test_suspended_after_last_pod_is_gone() -> None:
    assert suspend_flags(cluster(suspend=True), [], conditions(suspending=True)) == (False, True)


def test_suspending_is_atomic_even_if_spec_suspend_flips_back() -> None:
    assert suspend_flags(cluster(suspend=False), ready_pods(), conditions(suspending=True)) == (True, False)
    assert suspend_flags(cluster(suspend=False), [], conditions(suspending=True)) == (False, True)


def test_suspended_stays_suspended_while_spec_suspend_is_true() -> None:
    assert suspend_flags(cluster(suspend=True), [], conditions(suspended=True)) == (False, True)


def test_clearing_spec_suspend_resumes_a_suspended_cluster() -> None:
    assert suspend_flags(cluster(suspend=False), [], conditions(suspended=True)) == (False, False)


def test_suspending_condition_is_true_while_suspending() -> None:
    st = status(cluster(suspend=True), ready_pods(), suspending=True)
    c = cond(st, "RayClusterSuspending")
    assert c is not None and (c["status"], c["reason"]) == ("True", "RayClusterSuspending")
    assert cond(st, "RayClusterSuspended")["status"] == "False"  # type: ignore[index]


def test_suspending_and_suspended_are_never_both_true() -> None:
    prev = status(cluster(suspend=True), ready_pods(), suspending=True, now=T0)
    st = status(cluster(suspend=True), [], prev, suspended=True, now=T1)
    assert cond(st, "RayClusterSuspending")["status"] == "False"  # type: ignore[index]
    assert cond(st, "RayClusterSuspended")["status"] == "True"  # type: ignore[index]


def test_suspended_condition_turns_false_on_resume() -> None:
    prev = status(cluster(suspend=True), [], suspended=True, now=T0)
    c = cond(status(cluster(), [], prev, now=T1), "RayClusterSuspended")
    assert c is not None and (c["status"], c["lastTransitionTime"]) == ("False", T1)


def test_a_cluster_never_suspended_has_suspending_and_suspended_false_as_kuberay_writes_them() -> None:
    st = status(cluster(), ready_pods())
    for ctype in ("RayClusterSuspending", "RayClusterSuspended"):
        c = cond(st, ctype)
        assert c is not None and (c["status"], c["reason"], c["message"]) == ("False", ctype, ""), ctype


def test_the_false_suspend_conditions_keep_their_transition_time_across_passes() -> None:
    prev = as_stored(status(cluster(), ready_pods(), now=T0))
    st = status(cluster(), ready_pods(), prev, now=T2)
    assert cond(st, "RayClusterSuspended")["lastTransitionTime"] == T0  # type: ignore[index]
    assert cond(st, "RayClusterSuspending")["lastTransitionTime"] == T0  # type: ignore[index]


# --- head info and endpoints ---------------------------------------------------------------------------------


def test_head_info_names_pod_and_service() -> None:
    st = status(cluster(), [head(ip="10.0.0.9")], svc=service("10.96.1.1"))
    assert as_stored(st)["head"] == {"podName": "rc-head-aaaaa", "podIP": "10.0.0.9", "serviceName": "rc-head-svc",
                                     "serviceIP": "10.96.1.1"}


def test_headless_service_reports_the_head_pod_ip_as_service_ip() -> None:
    st = status(cluster(), [head(ip="10.0.0.9")], svc=service("None"))
    assert st["head"]["serviceIP"] == "10.0.0.9"


def test_head_info_clears_the_pod_fields_when_the_head_is_gone() -> None:
    st = status(cluster(), [], svc=service())
    assert st["head"]["podName"] is None and st["head"]["podIP"] is None  # merge patch null deletes stale values
    assert as_stored(st)["head"] == {"serviceName": "rc-head-svc", "serviceIP": "10.96.0.10"}


def test_endpoints_prefer_node_port_then_target_port() -> None:
    svc = service(ports=[{"name": "dashboard", "port": 8265, "targetPort": 8265, "nodePort": 30001},
                         {"name": "gcs", "port": 6379, "targetPort": 6379},
                         {"name": "client", "port": 10001, "targetPort": "client"},
                         {"port": 1}])
    assert status(cluster(), [], svc=svc)["endpoints"] == {"dashboard": "30001", "gcs": "6379", "client": "client"}


def test_no_service_means_no_endpoints() -> None:
    assert "endpoints" not in status(cluster(), [])


# --- status_changed ------------------------------------------------------------------------------------------


def test_recomputing_a_quiet_cluster_is_not_a_change() -> None:
    prev = as_stored(status(cluster(), ready_pods(), svc=service(), now=T0))
    assert not status_changed(prev, status(cluster(), ready_pods(), prev, svc=service(), now=T2))


def merge_patch(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386, as the API server applies the status patch."""
    out = dict(old)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_patch(out[k], v)
        else:
            out[k] = v
    return out


def test_suspended_cluster_goes_quiet_once_its_head_is_gone() -> None:
    stored = as_stored(status(cluster(), ready_pods(), svc=service(), now=T0))
    stored = merge_patch(stored, status(cluster(suspend=True), [], stored, svc=service(), suspended=True, now=T1))
    assert "podName" not in stored["head"] and "podIP" not in stored["head"]
    again = status(cluster(suspend=True), [], stored, svc=service(), suspended=True, now=T2)
    assert not status_changed(stored, again)


def test_head_pod_disappearing_is_a_change() -> None:
    prev = as_stored(status(cluster(), ready_pods(), svc=service(), now=T0))
    assert status_changed(prev, status(cluster(), ready_pods()[1:], prev, svc=service(), now=T1))


def test_counter_change_is_a_change() -> None:
    prev = as_stored(status(cluster(), ready_pods(), now=T0))
    assert status_changed(prev, status(cluster(), ready_pods(1), prev, now=T1))


def test_condition_reason_change_is_a_change() -> None:
    prev = as_stored(status(cluster(), [head(ready=False, ready_reason="A")], now=T0))
    assert status_changed(prev, status(cluster(), [head(ready=False, ready_reason="B")], prev, now=T1))


def test_generation_change_is_a_change() -> None:
    prev = as_stored(status(cluster(generation=1), ready_pods(), now=T0))
    assert status_changed(prev, status(cluster(generation=2), ready_pods(), prev, now=T1))


def test_last_update_and_transition_times_alone_are_not_a_change() -> None:
    prev = as_stored(status(cluster(), ready_pods(), now=T0))
    new = dict(prev, lastUpdateTime=T2, stateTransitionTimes={"ready": T2},
               conditions=[dict(c, lastTransitionTime=T2) for c in prev["conditions"]])
    assert not status_changed(prev, new)


def test_condition_order_does_not_matter() -> None:
    prev = as_stored(status(cluster(), ready_pods(), now=T0))
    assert not status_changed(prev, dict(prev, conditions=list(reversed(prev["conditions"]))))


def test_empty_previous_status_is_a_change() -> None:
    assert status_changed({}, status(cluster(), []))


def test_omitted_fields_sent_as_null_are_not_a_change() -> None:
    prev = as_stored(status(cluster(0), [head()], now=T0))
    assert "availableWorkerReplicas" not in prev and "reason" not in prev
    assert not status_changed(prev, status(cluster(0), [head()], prev, now=T1))
