"""The local control plane behaves like a real cluster: scheduling, kwok lifecycles, Jobs, GC, namespaces."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from tests.helpers import wait_for


def _pod(name: str, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox", "command": ["sleep", "3600"]}
    if resources:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}


def test_pod_is_scheduled_onto_a_kwok_node_and_becomes_running_ready_with_an_ip(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, _pod("p1"))

    def ready() -> Any:
        pod = core.read_namespaced_pod("p1", namespace)
        conds = {c.type: c.status for c in (pod.status.conditions or [])}
        return pod if pod.status.phase == "Running" and conds.get("Ready") == "True" and pod.status.pod_ip else None

    pod = wait_for(ready, what="pod Running+Ready")
    assert pod.spec.node_name.startswith("kwok-")
    assert pod.status.pod_ip.startswith("10.234.")


def test_pod_requesting_a_gpu_lands_only_on_the_gpu_node(core: Any, namespace: str) -> None:
    gpu = {"limits": {"nvidia.com/gpu": "1"}}
    for i in range(3):
        core.create_namespaced_pod(namespace, _pod(f"gpu-{i}", gpu))
    pods = wait_for(
        lambda: [p for p in core.list_namespaced_pod(namespace).items if p.spec.node_name] or None
        if len([p for p in core.list_namespaced_pod(namespace).items if p.spec.node_name]) == 3 else None,
        what="3 GPU pods bound",
    )
    assert {p.spec.node_name for p in pods} == {"kwok-gpu-0"}


def test_pod_requesting_more_gpus_than_any_node_has_stays_pending_unschedulable(core: Any, namespace: str) -> None:
    core.create_namespaced_pod(namespace, _pod("too-big", {"limits": {"nvidia.com/gpu": "64"}}))

    def unschedulable() -> bool:
        pod = core.read_namespaced_pod("too-big", namespace)
        return any(c.type == "PodScheduled" and c.reason == "Unschedulable" for c in (pod.status.conditions or []))

    wait_for(unschedulable, what="PodScheduled=False/Unschedulable")
    assert core.read_namespaced_pod("too-big", namespace).spec.node_name is None


def test_job_runs_to_complete(api_client: Any, namespace: str) -> None:
    batch = client.BatchV1Api(api_client)
    batch.create_namespaced_job(namespace, {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox", "command": ["true"]}]}}},
    })

    def complete() -> bool:
        job = batch.read_namespaced_job("j", namespace)
        return any(c.type == "Complete" and c.status == "True" for c in (job.status.conditions or []))

    wait_for(complete, timeout=60, what="Job Complete")


def test_deleting_an_owner_garbage_collects_its_children(core: Any, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    core.delete_namespaced_config_map("owner", namespace)

    def child_gone() -> bool:
        names = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
        return "child" not in names

    wait_for(child_gone, timeout=60, what="garbage collection of the child")


def test_deleting_a_namespace_completes(core: Any) -> None:
    core.create_namespace({"metadata": {"name": "doomed-ns"}})
    core.create_namespaced_pod("doomed-ns", _pod("p"))
    core.delete_namespace("doomed-ns")

    def gone() -> bool:
        return "doomed-ns" not in [n.metadata.name for n in core.list_namespace().items]

    wait_for(gone, timeout=90, what="namespace deletion")


def test_default_service_account_token_and_root_ca_are_provisioned(core: Any, namespace: str) -> None:
    wait_for(lambda: core.read_namespaced_service_account("default", namespace), what="default ServiceAccount")
    wait_for(lambda: core.read_namespaced_config_map("kube-root-ca.crt", namespace), what="kube-root-ca.crt")
