"""The SDK against the real API server and operator on kwok nodes: typed CRUD, errors that carry the API server's
message, and a wait that fails with the scheduling reason instead of a bare timeout."""

from __future__ import annotations

from typing import Any

import pytest

from rayop.api.raycluster import RayCluster
from rayop.sdk import clusters, errors
from rayop.sdk.client import Client, Resource
from rayop.sdk.spec import ClusterShape, build_spec
from tests.helpers import wait_for


@pytest.fixture()
def sdk(control_plane: Any, namespace: str) -> Client:
    return Client.connect(kubeconfig=str(control_plane.kubeconfig), namespace=namespace)


SMALL = ClusterShape(workers=1, cpus="500m", memory="512Mi", head_cpus="500m", head_memory="512Mi")


def test_create_get_list_scale_suspend_resume_delete_with_typed_objects(operator: Any, sdk: Client,
                                                                        namespace: str) -> None:
    created = clusters.create(sdk, "mine", build_spec(SMALL))
    assert isinstance(created, RayCluster) and created.namespace == namespace
    ready = clusters.wait_ready(sdk, "mine", timeout=90, check_client=False)
    assert ready.status is not None and ready.status.state == "ready"
    assert [c.name for c in clusters.list_(sdk)] == ["mine"]
    scaled = clusters.scale(sdk, "mine", 2)
    assert scaled.spec.worker_group_specs is not None and scaled.spec.worker_group_specs[0].replicas == 2
    assert clusters.wait_workers(sdk, "mine", namespace, 2, timeout=90).status.ready_worker_replicas == 2  # type: ignore[union-attr]
    assert clusters.suspend(sdk, "mine").spec.suspend is True
    wait_for(lambda: clusters.get(sdk, "mine").status.state == "suspended", timeout=60,  # type: ignore[union-attr]
             what="suspended")
    assert clusters.resume(sdk, "mine").spec.suspend is False
    clusters.delete(sdk, "mine", wait=True, timeout=60)
    with pytest.raises(errors.NotFound, match=r'rayclusters\.ray\.io "mine" not found'):
        clusters.get(sdk, "mine")


def test_creating_twice_raises_conflict_with_the_servers_message(sdk: Client) -> None:
    clusters.create(sdk, "twice", build_spec(SMALL))
    with pytest.raises(errors.Conflict, match=r'rayclusters\.ray\.io "twice" already exists') as info:
        clusters.create(sdk, "twice", build_spec(SMALL))
    assert info.value.status == 409 and info.value.reason == "AlreadyExists"


def test_an_invalid_object_raises_invalid_naming_the_field(sdk: Client) -> None:
    body = build_spec(SMALL).to_wire()
    del body["workerGroupSpecs"][0]["groupName"]
    with pytest.raises(errors.Invalid, match=r"spec.workerGroupSpecs\[0\].groupName: Required value") as info:
        sdk.create(clusters.RAYCLUSTERS, {"apiVersion": "ray.io/v1", "kind": "RayCluster",
                                          "metadata": {"name": "bad"}, "spec": body})
    assert info.value.status == 422


def test_a_resource_type_the_server_does_not_serve_raises_crd_missing(sdk: Client) -> None:
    with pytest.raises(errors.CrdMissing, match=r"ray\.io/v1 rayfoos is not served by this API server"):
        sdk.get(Resource("ray.io", "v1", "rayfoos", "RayFoo"), "x")


def test_scaling_beyond_max_replicas_is_refused_before_the_server(sdk: Client) -> None:
    clusters.create(sdk, "bounded", build_spec(ClusterShape(workers=1, max_workers=2, cpus="100m", memory="64Mi")))
    with pytest.raises(errors.Invalid, match=r"replicas 5 is outside \[0, 2\] of group workergroup"):
        clusters.scale(sdk, "bounded", 5)


def test_a_cluster_that_cannot_be_scheduled_fails_with_the_schedulers_reason(operator: Any, sdk: Client,
                                                                             namespace: str) -> None:
    clusters.create(sdk, "huge", build_spec(ClusterShape(workers=2, cpus="500", memory="1Gi", head_cpus="500m",
                                                         head_memory="512Mi")))
    with pytest.raises(errors.NotReady) as info:
        wait_for(lambda: len(clusters.pods_of(sdk, "huge")) == 3, timeout=60, what="3 pods")
        clusters.wait_ready(sdk, "huge", timeout=8, check_client=False)
    msg = str(info.value)
    print(msg)
    assert msg.startswith(f"RayCluster {namespace}/huge is not ready after ")
    assert "2 worker pods Unschedulable (0/" in msg and "Insufficient cpu" in msg
    assert "preemption:" not in msg and "claims" not in msg
