"""The chart's PodMonitor against the Prometheus operator's own CRD (``monitoring.coreos.com_podmonitors.yaml`` from
its Go module, pinned below, fetched through the Go module proxy, never copied here): installed in the real API
server, the rendered PodMonitor is accepted with strict field validation and stored as rendered (no field pruned),
so the Prometheus operator reads every field the chart sets."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.local.controlplane.tools import bin_dir
from tests.helpers import wait_for
from tests.support.helm import helm_binary, isolated_env

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "rayop"
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
CRD_PATH = "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml"

pytestmark = pytest.mark.skipif(not helm_binary().is_file(), reason=f"no helm at {helm_binary()} (make tools)")


def podmonitor_crd() -> dict[str, Any]:
    out = subprocess.run(["go", "mod", "download", "-json", PROMETHEUS_OPERATOR], capture_output=True, text=True,
                         check=True, timeout=300, cwd="/tmp")
    return dict(yaml.safe_load((Path(json.loads(out.stdout)["Dir"]) / CRD_PATH).read_text()))


def rendered_podmonitor(namespace: str) -> dict[str, Any]:
    out = subprocess.run([str(helm_binary()), "template", "rayop", str(CHART), "--namespace", namespace,
                          "--set", "metrics.podMonitor.enabled=true", "--set", "metrics.podMonitor.labels.team=ml",
                          "--show-only", "templates/podmonitor.yaml"],
                         capture_output=True, text=True, check=True, env=isolated_env("rayop-helm-podmonitor"))
    return dict(yaml.safe_load(out.stdout))


def test_the_charts_podmonitor_is_accepted_strictly_by_the_prometheus_operators_crd_and_kept_whole(
        control_plane: Any, api_client: Any, core: Any) -> None:
    from kubernetes import client

    crd = podmonitor_crd()
    ext = client.ApiextensionsV1Api(api_client)
    try:
        ext.create_custom_resource_definition(crd)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    wait_for(lambda: any(c.type == "Established" and c.status == "True"
                         for c in (ext.read_custom_resource_definition(crd["metadata"]["name"]).status.conditions
                                   or [])), timeout=30, what="PodMonitor CRD established")
    ns = f"pm-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": ns}})
    try:
        monitor = rendered_podmonitor(ns)
        kubectl = subprocess.run([str(bin_dir() / "kubectl"), "--kubeconfig", str(control_plane.kubeconfig),
                                  "create", "--validate=strict", "-f", "-", "-o", "json"],
                                 input=yaml.safe_dump(monitor), capture_output=True, text=True, check=False)
        assert kubectl.returncode == 0, kubectl.stderr
        stored = json.loads(kubectl.stdout)
        assert stored["spec"] == monitor["spec"]
        assert stored["metadata"]["labels"]["team"] == "ml"
        assert stored["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    finally:
        core.delete_namespace(ns)
