"""Head, serve and headless worker Services and the dashboard Ingress (KubeRay's service_test.go, ingress)."""

from __future__ import annotations

import pytest

from rayop.operator.builders import BuildError, BuildOptions
from rayop.operator.builders.ingress import build_ingress
from rayop.operator.builders.service import (
    build_head_service,
    build_headless_worker_service,
    build_serve_service,
    needs_headless_worker_service,
)
from tests.unit.raycluster_fixtures import make_cluster

pytestmark = pytest.mark.unit

PORTS = "spec.headGroupSpec.template.spec.containers.0.ports"


def test_head_service_is_headless_by_default():
    spec = build_head_service(make_cluster())["spec"]
    assert spec["clusterIP"] == "None"
    assert spec["publishNotReadyAddresses"] is True


def test_head_service_has_cluster_ip_when_enabled():
    spec = build_head_service(make_cluster(), BuildOptions(head_service_cluster_ip=True))["spec"]
    assert "clusterIP" not in spec


def test_head_service_name_and_selector():
    svc = build_head_service(make_cluster())
    assert svc["metadata"]["name"] == "raycluster-sample-head-svc"
    assert svc["spec"]["selector"] == {
        "ray.io/cluster": "raycluster-sample",
        "ray.io/node-type": "head",
        "ray.io/identifier": "raycluster-sample-head",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }


def test_head_service_without_container_ports_gets_five_default_ports_sorted():
    ports = build_head_service(make_cluster())["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [
        ("client", 10001),
        ("dashboard", 8265),
        ("gcs-server", 6379),
        ("metrics", 8080),
        ("serve", 8000),
    ]
    assert all(p["appProtocol"] == "tcp" for p in ports)


def test_head_service_with_one_port_adds_only_metrics():
    ports = build_head_service(make_cluster(**{PORTS: [{"name": "random", "containerPort": 1234}]}))["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [("metrics", 8080), ("random", 1234)]


def test_unnamed_container_port_is_named_after_its_number():
    ports = build_head_service(make_cluster(**{PORTS: [{"containerPort": 1234}]}))["spec"]["ports"]
    assert "1234-port" in [p["name"] for p in ports]


def test_head_service_annotations_come_from_the_spec():
    svc = build_head_service(make_cluster(**{"spec.headServiceAnnotations": {"a": "b"}}))
    assert svc["metadata"]["annotations"] == {"a": "b"}


def test_head_service_name_is_truncated_like_check_name():
    name = "a" * 53
    assert build_head_service(make_cluster(**{"metadata.name": name}))["metadata"]["name"] == ("a" * 41) + "-head-svc"


def test_custom_head_service_is_merged():
    custom = {
        "metadata": {"name": "custom", "labels": {"x": "y", "ray.io/cluster": "wrong"}, "annotations": {"k": "v"}},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "custom", "port": 12345}]},
    }
    svc = build_head_service(
        make_cluster(**{"spec.headGroupSpec.headService": custom, "spec.headServiceAnnotations": {"k": "w"}})
    )
    assert svc["metadata"]["name"] == "custom"
    assert svc["metadata"]["labels"]["x"] == "y"
    assert svc["metadata"]["labels"]["ray.io/cluster"] == "raycluster-sample"
    assert svc["metadata"]["annotations"] == {"k": "w"}
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["ports"][0] == {"name": "custom", "port": 12345}
    assert len(svc["spec"]["ports"]) == 6
    assert svc["spec"]["selector"]["ray.io/node-type"] == "head"


def test_serve_service_exposes_serve_ports_of_the_head():
    ports = [{"name": "serve", "containerPort": 8000}, {"name": "serve-grpc", "containerPort": 9000}]
    svc = build_serve_service(make_cluster(**{PORTS: ports}))
    assert svc["metadata"]["name"] == "raycluster-sample-serve-svc"
    assert svc["metadata"]["labels"] == {
        "ray.io/originated-from-cr-name": "raycluster-sample",
        "ray.io/originated-from-crd": "RayCluster",
        "ray.io/serve": "raycluster-sample-serve",
    }
    assert svc["spec"]["selector"] == {"ray.io/cluster": "raycluster-sample"}
    assert svc["spec"]["ports"] == [{"name": "serve", "port": 8000}, {"name": "serve-grpc", "port": 9000}]


def test_serve_service_of_a_head_that_declares_no_ports_exposes_the_default_serve_port():
    assert build_serve_service(make_cluster())["spec"]["ports"] == [{"name": "serve", "port": 8000}]


def test_serve_service_without_serve_port_is_an_error_with_kuberays_message():
    with pytest.raises(BuildError, match="Please specify a port named 'serve'"):
        build_serve_service(make_cluster(**{PORTS: [{"name": "dashboard", "containerPort": 8265}]}))


def test_headless_worker_service_only_for_multihost_groups():
    assert not needs_headless_worker_service(make_cluster())
    cluster = make_cluster(**{"spec.workerGroupSpecs.0.numOfHosts": 2})
    assert needs_headless_worker_service(cluster)
    svc = build_headless_worker_service(cluster)
    assert svc["metadata"]["name"] == "raycluster-sample-headless"
    assert svc["metadata"]["labels"] == {"ray.io/headless-worker-svc": "raycluster-sample"}
    assert svc["spec"] == {
        "clusterIP": "None",
        "type": "ClusterIP",
        "publishNotReadyAddresses": True,
        "selector": {"ray.io/cluster": "raycluster-sample", "ray.io/node-type": "worker"},
    }


def test_ingress_routes_root_prefix_to_dashboard_port():
    ingress = build_ingress(
        make_cluster(**{"metadata.annotations": {"kubernetes.io/ingress.class": "nginx", "a": "b"}})
    )
    assert ingress["metadata"]["name"] == "raycluster-sample-head-ingress"
    assert ingress["metadata"]["annotations"] == {"a": "b"}
    assert ingress["spec"]["ingressClassName"] == "nginx"
    path = ingress["spec"]["rules"][0]["http"]["paths"][0]
    assert path == {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": "raycluster-sample-head-svc", "port": {"number": 8265}}},
    }


def test_ingress_options_set_host_path_and_tls():
    opts = {"host": "ray.example.com", "path": "/ray", "pathType": "Exact", "tls": [{"hosts": ["ray.example.com"]}]}
    ingress = build_ingress(make_cluster(**{"spec.headGroupSpec.ingressOptions": opts}))
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "ray.example.com"
    assert rule["http"]["paths"][0]["path"] == "/ray"
    assert rule["http"]["paths"][0]["pathType"] == "Exact"
    assert ingress["spec"]["tls"] == [{"hosts": ["ray.example.com"]}]
