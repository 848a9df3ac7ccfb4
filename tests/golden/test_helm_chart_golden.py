"""The Helm chart, rendered by the real ``helm`` for each values file, compared with reviewed snapshots.

``tests/golden/helm_values/<name>.yaml`` → ``tests/golden/snapshots/helm/<name>.yaml``; regenerate on purpose with
``pytest tests/golden --update-golden`` and review the diff. Pure given the helm binary (built by ``make tools``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.helm import helm_binary, isolated_env

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "rayop"
HERE = Path(__file__).resolve().parent
VALUES = sorted((HERE / "helm_values").glob("*.yaml"))
SNAPSHOTS = HERE / "snapshots" / "helm"
HELM = helm_binary()

needs_helm = pytest.mark.skipif(not HELM.is_file(), reason=f"{HELM} not built (make tools)")


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, check=False,
                          env=isolated_env("rayop-helm-golden"))


def render(values: Path | None = None, *sets: str) -> subprocess.CompletedProcess[str]:
    args = ["template", "rayop", str(CHART), "--namespace", "rayop-system"]
    if values is not None:
        args += ["-f", str(values)]
    for s in sets:
        args += ["--set", s]
    return helm(*args)


@needs_helm
@pytest.mark.parametrize("values", VALUES, ids=[v.stem for v in VALUES])
def test_chart_renders_as_the_snapshot(values: Path, update_golden: bool) -> None:
    out = render(values)
    assert out.returncode == 0, out.stderr
    snapshot = SNAPSHOTS / f"{values.stem}.yaml"
    if update_golden:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(out.stdout)
    assert snapshot.exists(), f"{snapshot} is missing; run pytest tests/golden --update-golden"
    assert out.stdout == snapshot.read_text(), f"{snapshot} differs; review and run pytest tests/golden --update-golden"


@needs_helm
@pytest.mark.parametrize("values", [None, *VALUES], ids=["no-values", *(v.stem for v in VALUES)])
def test_helm_lint_is_clean(values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)] + (["-f", str(values)] if values else [])
    out = helm(*args)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout, out.stdout


def _docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


@needs_helm
def test_namespaced_mode_grants_roles_in_the_watched_namespace_and_no_cluster_role() -> None:
    docs = _docs(render(HERE / "helm_values" / "namespaced.yaml").stdout)
    kinds = {(d["kind"], d["metadata"].get("namespace")) for d in docs}
    assert ("Role", "team-a") in kinds and ("RoleBinding", "team-a") in kinds
    assert not any(d["kind"] in ("ClusterRole", "ClusterRoleBinding") for d in docs)
    env = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "RAYOP_NAMESPACES", "value": '["team-a"]'} in env


@needs_helm
def test_namespaced_mode_with_two_namespaces_is_refused_with_a_reason() -> None:
    out = render(None, "singleNamespaceInstall=true", "watchNamespace={team-a,team-b}")
    assert out.returncode != 0
    assert "one namespace per release" in out.stderr


@needs_helm
def test_two_replicas_without_leader_election_are_refused() -> None:
    out = render(None, "replicas=2", "leaderElectionEnabled=false")
    assert out.returncode != 0
    assert "needs leaderElectionEnabled" in out.stderr


@needs_helm
def test_every_kind_rayop_serves_has_rbac_for_it_and_its_status() -> None:
    docs = _docs(render().stdout)
    role = next(d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "rayop-rayop")
    granted = {(group, res) for rule in role["rules"] for group in rule["apiGroups"] for res in rule["resources"]}
    from rayop.crdgen.generate import resources

    for res in resources():
        assert (res.crd.group, res.crd.plural) in granted
        assert (res.crd.group, f"{res.crd.plural}/status") in granted


@needs_helm
def test_kubeflow_crds_are_installed_only_when_asked_and_kept_on_uninstall() -> None:
    def crds(*sets: str) -> list[dict]:
        out = helm("template", "rayop", str(CHART), *(a for s in sets for a in ("--set", s)))
        assert out.returncode == 0, out.stderr
        return [d for d in _docs(out.stdout) if d["kind"] == "CustomResourceDefinition"]

    assert crds() == []
    installed = crds("kubeflow.installCRDs=true")
    assert sorted(c["metadata"]["name"] for c in installed) == [
        "mpijobs.kubeflow.org", "pytorchjobs.kubeflow.org", "tfjobs.kubeflow.org", "xgboostjobs.kubeflow.org"]
    assert all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in installed)


@needs_helm
def test_podmonitor_selects_the_operator_pods_only_and_scrapes_their_metrics_port() -> None:
    docs = _docs(render(HERE / "helm_values" / "everything.yaml").stdout)
    (monitor,) = [d for d in docs if d["kind"] == "PodMonitor"]
    pods = {d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component"): d["spec"]["template"]
            for d in docs if d["kind"] == "Deployment"}
    assert set(pods) == {"operator", "api"}
    selector = monitor["spec"]["selector"]["matchLabels"].items()
    assert selector <= pods["operator"]["metadata"]["labels"].items()
    assert not selector <= pods["api"]["metadata"]["labels"].items()  # the REST API exports no operator series
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["rayop-system"]}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    (container,) = pods["operator"]["spec"]["containers"]
    port = next(p for p in container["ports"] if p["name"] == endpoint["port"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert str(port["containerPort"]) == env["RAYOP_METRICS_PORT"]  # the port the process serves /metrics on
    assert endpoint["path"] == pods["operator"]["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert render(None).stdout.count("kind: PodMonitor") == 0  # off by default: not every cluster has the CRD


@needs_helm
def test_the_lease_is_named_for_the_release_whatever_namespaces_it_serves() -> None:
    def lease(*sets: str) -> str:
        docs = _docs(render(None, *sets).stdout)
        env = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
        return next(e["value"] for e in env if e["name"] == "RAYOP_LEADER_ELECTION__LEASE_NAME")

    # An upgrade from the first to the second must hand over on one Lease, not start a second leader on another.
    assert lease() == lease("watchNamespace={team-*}") == lease("watchNamespace={team-*,ml}") == "rayop-rayop-leader"
    assert lease("leaderElection.leaseName=mine") == "mine"
