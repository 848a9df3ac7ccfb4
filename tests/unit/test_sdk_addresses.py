"""Which address the SDK hands out (rayop.sdk.addresses.choose): one that connects from here, or none with why."""

from __future__ import annotations

from typing import Any

from rayop.sdk.addresses import choose

CLUSTER: dict[str, Any] = {
    "metadata": {"namespace": "team-a", "name": "mine"},
    "status": {"head": {"podIP": "10.233.0.7", "serviceIP": "10.96.3.4", "serviceName": "mine-head-svc"},
               "endpoints": {"client": "10001", "dashboard": "8265"}},
}


def test_in_a_pod_the_cluster_dns_name_is_used() -> None:
    a = choose(CLUSTER, inside_pod=True, reachable=lambda h, p: True)
    assert (a.client_address, a.dashboard_address, a.via) == (
        "ray://mine-head-svc.team-a.svc.cluster.local:10001", "http://mine-head-svc.team-a.svc.cluster.local:8265",
        "cluster DNS")


def test_outside_a_pod_the_clusterip_is_preferred_when_it_answers() -> None:
    a = choose(CLUSTER, inside_pod=False, reachable=lambda h, p: True)
    assert (a.client_address, a.via) == ("ray://10.96.3.4:10001", "head Service ClusterIP")


def test_the_pod_ip_is_used_when_only_it_answers() -> None:
    a = choose(CLUSTER, inside_pod=False, reachable=lambda h, p: h == "10.233.0.7" and p == 10001)
    assert a.client_address == "ray://10.233.0.7:10001"
    assert a.tried == ("10.96.3.4 (head Service ClusterIP)", "10.233.0.7 (head pod IP)")


def test_nothing_reachable_says_so_and_names_the_port_forward() -> None:
    a = choose(CLUSTER, inside_pod=False, reachable=lambda h, p: False)
    assert a.client_address is None and a.dashboard_address is None
    assert "no address of RayCluster team-a/mine is reachable from here" in a.why
    assert "10.96.3.4 (head Service ClusterIP), 10.233.0.7 (head pod IP)" in a.why
    assert "kubectl port-forward -n team-a svc/mine-head-svc 10001 8265" in a.why


def test_require_raises_the_explanation_instead_of_returning_ray_none() -> None:
    import pytest

    from rayop.sdk.errors import Unreachable

    with pytest.raises(Unreachable, match="no address of RayCluster team-a/mine"):
        choose(CLUSTER, inside_pod=False, reachable=lambda h, p: False).require()


def test_ports_follow_the_head_services_named_ports() -> None:
    c = {**CLUSTER, "status": {**CLUSTER["status"], "endpoints": {"client": "20001", "dashboard": "9265"}}}
    a = choose(c, inside_pod=False, reachable=lambda h, p: p == 20001)
    assert (a.client_address, a.dashboard_address) == ("ray://10.96.3.4:20001", "http://10.96.3.4:9265")
