"""The operator as users deploy it: ``helm install`` of ``helm/rayop`` with real helm, the operator a pod on the
local node (in-cluster config, its ServiceAccount's RBAC, the Lease), scraped by a real Prometheus.

One module, one order, sharing one release (costs are paid once): install → the Lease → examples/01 runs a task
through ``ray://`` → Prometheus has KubeRay's series and the dashboard's queries name live series → namespaced mode
for team-a → two replicas hand over → ``helm upgrade`` while a cluster scales → ``helm uninstall`` keeps the user's
objects. Clusters that need no Ray run on kwok nodes (``rayop.io/node-type: kwok``).

The cluster-wide release watches ``helm-*`` (a glob, so still a ClusterRole and cluster-wide watches), so it never
competes with the session's in-process operator (``t-*``) nor serves team-b.
"""

from __future__ import annotations

import contextlib
import copy
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, watch

from rayop.local.controlplane.tools import bin_dir
from tests.helpers import wait_for
from tests.support.helm import helm_binary
from tests.support.promql import exported_names, metric_names
from tests.support.raycluster import cluster_pods, get_cluster, load_sample, wait_ready

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
# `make test` builds helm (`make tools`) and installs Debian's prometheus (`make sysdeps`); a bare `pytest` elsewhere
# may have neither, and then this module says so instead of failing.
pytestmark = [
    pytest.mark.skipif(not helm_binary().is_file(), reason=f"no helm at {helm_binary()} (make tools)"),
    pytest.mark.skipif(not Path(PROMETHEUS).is_file(), reason="no prometheus binary (make sysdeps)"),
]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "rayop"
LOCAL_VALUES = ROOT / "helm" / "values-local-node.yaml"
EXAMPLE = ROOT / "examples" / "01-raycluster-local" / "raycluster.yaml"
DASHBOARD = CHART / "dashboards" / "rayop.json"
OPS, APPS, TEAM_A, TEAM_B = "helm-op", "helm-apps", "team-a", "team-b"
WATCH, MORE = "helm-*", "helm2-*"  # served by the cluster-wide release, before and after its upgrade
KWOK = "raycluster-kuberay"  # the KubeRay sample, on kwok nodes
OPERATOR_PODS = "app.kubernetes.io/instance=rayop,app.kubernetes.io/component=operator"

CLIENT = """
import sys
import ray
ray.init(sys.argv[1], logging_level="ERROR")
@ray.remote(num_cpus=1)
def where():
    import socket
    return socket.gethostname()
print(ray.get(where.remote(), timeout=120))
ray.shutdown()
"""


# -- tools ----------------------------------------------------------------------------------------------------------
class Tools:
    def __init__(self, kubeconfig: str, home: Path) -> None:
        self.kubeconfig, self.home = kubeconfig, home
        self.env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "HELM_CACHE_HOME": str(home / "cache"),
                    "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([str(helm_binary()), "--kubeconfig", self.kubeconfig, *args], env=self.env,
                             capture_output=True, text=True, check=False, timeout=300)
        assert not check or out.returncode == 0, f"helm {' '.join(args)}: {out.stdout}{out.stderr}"
        return out

    def helm_popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(helm_binary()), "--kubeconfig", self.kubeconfig, *args], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_dir() / "kubectl"), "--kubeconfig", self.kubeconfig, *args], env=self.env,
                              capture_output=True, text=True, check=False, timeout=60)


def _operator_pods(core: Any, namespace: str = OPS, release: str = "rayop") -> list[Any]:
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/component=operator"
    return [p for p in core.list_namespaced_pod(namespace, label_selector=selector).items
            if not p.metadata.deletion_timestamp]


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _lease(api_client: Any, namespace: str, name: str) -> Any:
    try:
        return client.CoordinationV1Api(api_client).read_namespaced_lease(name, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _holder_pod(api_client: Any, core: Any, namespace: str, name: str, release: str = "rayop") -> str | None:
    """The operator pod whose process holds the Lease (identity ``rayop-<hostname = pod name>-<pid>``)."""
    lease = _lease(api_client, namespace, name)
    holder = (lease.spec.holder_identity or "") if lease else ""
    return next((p.metadata.name for p in _operator_pods(core, namespace, release)
                 if holder.startswith(f"rayop-{p.metadata.name}-")), None)


def _metrics(pod_ip: str) -> str:
    with urllib.request.urlopen(f"http://{pod_ip}:8080/metrics", timeout=3) as resp:
        return str(resp.read().decode())


def _role(pod_ip: str) -> str:
    """What the process says of itself on ``/healthz`` (the probes' endpoint): leader or standby."""
    with urllib.request.urlopen(f"http://{pod_ip}:8081/healthz", timeout=3) as resp:
        return str(json.loads(resp.read())["role"])


def _is_leader(pod_ip: str) -> bool:
    try:
        text = _metrics(pod_ip)
    except OSError:
        return False
    return any(line.startswith("leader_election_master_status{") and line.rstrip().endswith(" 1.0")
               for line in text.splitlines())


def _kwok_cluster(name: str = KWOK, workers: int = 1) -> dict[str, Any]:
    body = copy.deepcopy(load_sample("ray-cluster.sample.yaml"))
    body["metadata"] = {"name": name}
    for template in [body["spec"]["headGroupSpec"]["template"],
                     *(g["template"] for g in body["spec"]["workerGroupSpecs"])]:
        template["spec"]["nodeSelector"] = {"rayop.io/node-type": "kwok"}
    body["spec"]["workerGroupSpecs"][0].update(replicas=workers, minReplicas=0, maxReplicas=10)
    return body


def _scale(custom: Any, namespace: str, name: str, replicas: int) -> None:
    spec = copy.deepcopy(get_cluster(custom, namespace, name)["spec"])
    spec["workerGroupSpecs"][0].update(replicas=replicas)
    custom.patch_namespaced_custom_object("ray.io", "v1", namespace, "rayclusters", name, {"spec": spec})


def _workers(core: Any, namespace: str, name: str) -> list[Any]:
    return [p for p in cluster_pods(core, namespace, name)
            if p.metadata.labels["ray.io/node-type"] == "worker" and not p.metadata.deletion_timestamp]


def _log(local_node: Any, pod: Any) -> str:
    """The operator container's log, as the local node wrote it (its kubelet keeps it under the pod's dir)."""
    path = local_node.cfg.state_dir / "pods" / pod.metadata.uid / "logs" / "rayop" / "0.log"
    return path.read_text() if path.exists() else ""


def _logs(local_node: Any, core: Any) -> str:
    """Every operator pod's log tail, for a failure message."""
    return "\n".join(f"== {p.metadata.name}\n{_log(local_node, p)[-3000:]}"
                     for p in core.list_namespaced_pod(OPS, label_selector=OPERATOR_PODS).items)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the shared release -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tools(control_plane: Any) -> Iterator[Tools]:
    with tempfile.TemporaryDirectory(prefix="rayop-helm-") as home:
        yield Tools(str(control_plane.kubeconfig), Path(home))


@pytest.fixture(scope="module")
def release(tools: Tools, local_node: Any, api_client: Any) -> Iterator[str]:
    """``helm install rayop helm/rayop`` in helm-op, placed on the local node, serving ``helm-*``."""
    core = client.CoreV1Api(api_client)
    for ns in (APPS, TEAM_A, TEAM_B):
        core.create_namespace({"metadata": {"name": ns}})
    try:
        tools.helm("install", "rayop", str(CHART), "-n", OPS, "--create-namespace", "-f", str(LOCAL_VALUES),
                   "--set", f"watchNamespace={{{WATCH}}}", "--wait", "--timeout", "3m")
        yield "rayop-rayop-leader"  # the chart names the Lease for the release
    finally:
        for name, ns in (("rayop", OPS), ("rayop-team-a", TEAM_A)):
            tools.helm("uninstall", name, "-n", ns, "--wait", check=False)
        for ns in (APPS, TEAM_A, TEAM_B, OPS):
            with contextlib.suppress(client.ApiException):
                core.delete_namespace(ns)


# -- the tests, in order -----------------------------------------------------------------------------------------
def test_installed_operator_runs_on_the_local_node_in_cluster_and_takes_the_lease(
        release: str, api_client: Any, core: Any, local_node: Any) -> None:
    (pod,) = _operator_pods(core)
    assert pod.spec.node_name.startswith("rayop-local")  # a real process, not a kwok simulation
    assert pod.spec.service_account_name == "rayop-rayop"
    env = {e.name for e in pod.spec.containers[0].env}
    assert "KUBECONFIG" not in env  # in-cluster config: the ServiceAccount token the API server mounted
    try:
        holder = wait_for(lambda: _holder_pod(api_client, core, OPS, release), timeout=90, what="Lease holder")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_logs(local_node, core)}") from exc
    assert holder == pod.metadata.name
    lines = [line for line in _log(local_node, pod).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # JSON by default in-cluster
    assert any(r["message"] == "became leader" for r in records)
    assert not any("healthz" in line for line in lines)  # probed every 5-10 s, never logged


def test_example_cluster_becomes_ready_and_runs_a_task_through_ray_client(
        release: str, custom: Any, core: Any, local_node: Any) -> None:
    body = yaml.safe_load(EXAMPLE.read_text())
    name = body["metadata"]["name"]
    custom.create_namespaced_custom_object("ray.io", "v1", APPS, "rayclusters", body)
    try:
        cluster = wait_ready(custom, APPS, name, timeout=300)
    except AssertionError as exc:
        pods = [(p.metadata.name, p.spec.node_name, p.status.phase, _ready(p)) for p in cluster_pods(core, APPS, name)]
        raise AssertionError(f"{exc}\nstatus={get_cluster(custom, APPS, name).get('status')}\npods={pods}\n"
                             f"{_logs(local_node, core)}") from exc
    worker = next(p for p in cluster_pods(core, APPS, name) if p.metadata.labels["ray.io/node-type"] == "worker")
    for _ in range(3):  # the head's per-client server can start slowly on 2 busy cores, as in the demo
        out = subprocess.run([sys.executable, "-c", CLIENT, f"ray://{cluster['status']['head']['podIP']}:10001"],
                             capture_output=True, text=True, timeout=240, check=False)
        if out.returncode == 0 or "ConnectionAbortedError" not in out.stderr:
            break
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == worker.metadata.name


def _annotated_targets(core: Any) -> list[dict[str, Any]]:
    """What Prometheus's ``kubernetes-pods`` job makes of the ``prometheus.io/*`` pod annotations in the release's
    namespace (keep the annotated pods, scrape the annotated port and path), as file_sd target groups: Debian's
    prometheus is built without the Kubernetes service discovery, so the test does that one step."""
    groups = []
    for pod in core.list_namespaced_pod(OPS).items:
        notes = pod.metadata.annotations or {}
        if notes.get("prometheus.io/scrape") == "true" and pod.status.pod_ip:
            groups.append({"targets": [f"{pod.status.pod_ip}:{notes['prometheus.io/port']}"],
                           "labels": {"pod": pod.metadata.name,
                                      "__metrics_path__": notes.get("prometheus.io/path", "/metrics")}})
    return groups


def test_prometheus_discovers_the_operator_pod_by_its_annotations_and_has_kuberays_series(
        release: str, api_client: Any, core: Any, tmp_path: Path) -> None:
    leader = next(p for p in _operator_pods(core) if p.metadata.name == _holder_pod(api_client, core, OPS, release))
    port = _free_port()
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "scrape_configs": [{"job_name": "kubernetes-pods", "file_sd_configs": [
                  {"files": [str(tmp_path / "pods.json")], "refresh_interval": "1s"}]}]}
    (tmp_path / "pods.json").write_text(json.dumps(_annotated_targets(core)))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"))  # noqa: SIM115

    def api(path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                return json.loads(resp.read())["data"]
        except OSError:
            return None

    def query(expr: str) -> list[dict[str, Any]]:
        return list((api("query", query=expr) or {}).get("result") or [])

    try:
        try:
            info = wait_for(lambda: query(f'kuberay_cluster_info{{namespace="{APPS}",name="demo-local"}}'),
                            timeout=90, interval=1, what="kuberay_cluster_info in Prometheus")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\ntargets={api('targets')}\n{(tmp_path / 'prometheus.log').read_text()[-3000:]}"
                                 ) from exc
        assert info[0]["metric"]["owner_kind"] == "None" and info[0]["metric"]["uid"]
        assert info[0]["metric"]["pod"] == leader.metadata.name  # found through the pod's annotations
        targets = api("targets", state="active")["activeTargets"]
        assert [(t["labels"]["pod"], t["scrapeUrl"]) for t in targets] == [
            (leader.metadata.name, f"http://{leader.status.pod_ip}:8080/metrics")]  # the metrics port, not health
        provisioned = query(f'kuberay_cluster_condition_provisioned{{namespace="{APPS}",name="demo-local"}}')
        assert [r["metric"]["condition"] for r in provisioned] == ["true"]
        assert query(f'leader_election_master_status{{pod="{leader.metadata.name}"}} == 1')
        assert query('controller_runtime_reconcile_total{controller="raycluster"}')
    finally:
        proc.terminate()
        proc.wait(30)


def test_every_dashboard_query_names_a_series_of_the_live_operator(
        release: str, api_client: Any, core: Any) -> None:
    leader = next(p for p in _operator_pods(core) if p.metadata.name == _holder_pod(api_client, core, OPS, release))
    exported = exported_names(_metrics(leader.status.pod_ip))
    queries = [t["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for t in panel["targets"]]
    missing = {expr: sorted(metric_names(expr) - exported) for expr in queries if metric_names(expr) - exported}
    assert not missing


def test_namespaced_install_serves_team_a_only_and_cannot_read_team_b(
        release: str, tools: Tools, api_client: Any, core: Any, custom: Any) -> None:
    tools.helm("install", "rayop-team-a", str(CHART), "-n", TEAM_A, "-f", str(LOCAL_VALUES),
               "--set", "singleNamespaceInstall=true", "--wait", "--timeout", "3m")
    sa = f"system:serviceaccount:{TEAM_A}:rayop-team-a-rayop"
    for ns, expected in ((TEAM_A, "yes"), (TEAM_B, "no")):
        for verb, resource in (("list", "rayclusters.ray.io"), ("get", "pods"), ("create", "pods")):
            out = tools.kubectl("auth", "can-i", verb, resource, "-n", ns, "--as", sa)
            assert out.stdout.strip() == expected, (ns, verb, resource, out.stdout, out.stderr)
    assert tools.kubectl("auth", "can-i", "list", "rayclusters.ray.io", "--all-namespaces", "--as", sa
                         ).stdout.strip() == "no"
    for ns in (TEAM_A, TEAM_B):
        custom.create_namespaced_custom_object("ray.io", "v1", ns, "rayclusters", _kwok_cluster())
    wait_ready(custom, TEAM_A, KWOK, timeout=90)
    assert _holder_pod(api_client, core, TEAM_A, "rayop-team-a-rayop-leader", "rayop-team-a")
    time.sleep(3)  # team-a is served; team-b had every chance to be, too
    assert cluster_pods(core, TEAM_B, KWOK) == []
    assert "status" not in get_cluster(custom, TEAM_B, KWOK)


def test_two_replicas_one_leads_and_deleting_the_leader_hands_over_with_a_scale_up_served(
        release: str, tools: Tools, api_client: Any, core: Any, custom: Any, local_node: Any) -> None:
    tools.helm("upgrade", "rayop", str(CHART), "-n", OPS, "--reuse-values", "--set", "replicas=2", "--wait",
               "--timeout", "3m")
    custom.create_namespaced_custom_object("ray.io", "v1", APPS, "rayclusters", _kwok_cluster(workers=1))
    wait_ready(custom, APPS, KWOK, timeout=90)
    wait_for(lambda: len([p for p in _operator_pods(core) if _ready(p)]) == 2, timeout=60, what="2 ready replicas")
    leader = _holder_pod(api_client, core, OPS, release)
    assert leader
    pods = _operator_pods(core)  # one acts, the other stands by: by the Lease, its gauge and its /healthz
    assert sorted((p.metadata.name == leader, _is_leader(p.status.pod_ip), _role(p.status.pod_ip)) for p in pods) == [
        (False, False, "standby"), (True, True, "leader")]
    before = _lease(api_client, OPS, release)
    transitions = before.spec.lease_transitions or 0

    deleted = time.monotonic()
    core.delete_namespaced_pod(leader, OPS)  # SIGTERM: the leader releases the Lease on its way out
    _scale(custom, APPS, KWOK, 3)  # made while leadership moves
    # Every write of the Lease from here on, through a watch (a poll could miss the short released state).
    holders = []  # the standby or the Deployment's replacement pod takes it, whichever asks first once released
    stream = watch.Watch().stream(client.CoordinationV1Api(api_client).list_namespaced_lease, OPS,
                                  field_selector=f"metadata.name={release}",
                                  resource_version=before.metadata.resource_version, timeout_seconds=30)
    for event in stream:
        holders.append(event["object"].spec.holder_identity or "")
        if holders[-1] not in ("", before.spec.holder_identity):
            break
    successor = _holder_pod(api_client, core, OPS, release)
    print(f"{successor} led {time.monotonic() - deleted:.1f} s after the leader's pod was deleted")
    assert successor not in (None, leader), (holders, _logs(local_node, core))
    assert "" in holders  # released on SIGTERM, not left to expire
    assert (_lease(api_client, OPS, release).spec.lease_transitions or 0) == transitions + 1
    wait_for(lambda: len(_workers(core, APPS, KWOK)) == 3, timeout=60, what="3 workers")
    time.sleep(2)
    assert len(_workers(core, APPS, KWOK)) == 3


def test_helm_upgrade_while_a_cluster_scales_rolls_with_one_leader_and_no_duplicate_or_missed_change(
        release: str, tools: Tools, api_client: Any, core: Any, custom: Any) -> None:
    wait_for(lambda: len([p for p in _operator_pods(core) if _ready(p)]) == 2, timeout=90, what="2 ready replicas")
    old_pods = {p.metadata.name for p in _operator_pods(core)}
    before = _lease(api_client, OPS, release)
    samples: list[tuple[int, int, int]] = []  # (processes surely leading at once, available replicas, workers)
    done = threading.Event()
    apps = client.AppsV1Api(api_client)

    def leaders(pods: list[Any]) -> set[str]:
        return {p.metadata.name for p in pods if p.status.pod_ip and _is_leader(p.status.pod_ip)}

    def sample() -> None:
        while not done.is_set():
            pods = core.list_namespaced_pod(OPS, label_selector=OPERATOR_PODS).items  # terminating ones too
            # Pods are read one after another, so a handover between two reads would show both as leaders. Read
            # them all twice: a pod leading at both of its reads led throughout, so two such pods overlapped.
            both = leaders(pods) & leaders(pods)
            available = apps.read_namespaced_deployment("rayop-rayop", OPS).status.available_replicas or 0
            samples.append((len(both), available, len(_workers(core, APPS, KWOK))))
            time.sleep(0.3)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # New values, one of which widens the namespaces served (as a user adding a team does): the new pods must still
    # stand by on the old pods' Lease.
    upgrade = tools.helm_popen("upgrade", "rayop", str(CHART), "-n", OPS, "--reuse-values", "--set",
                               "logging.level=DEBUG", "--set", f"watchNamespace={{{WATCH},{MORE}}}", "--wait",
                               "--timeout", "3m")
    try:
        for replicas in (5, 2, 6):
            time.sleep(4)
            _scale(custom, APPS, KWOK, replicas)
        assert upgrade.wait(240) == 0, upgrade.stdout.read() if upgrade.stdout else ""
        wait_for(lambda: len(_workers(core, APPS, KWOK)) == 6, timeout=90, what="6 workers after the upgrade")
        time.sleep(3)
    finally:
        done.set()
        sampler.join(10)
    pods = _operator_pods(core)
    assert len(pods) == 2 and not old_pods & {p.metadata.name for p in pods}  # both replaced
    env = [{c.name: c.value for c in p.spec.containers[0].env} for p in pods]
    assert all(e["RAYOP_LOG_LEVEL"] == "DEBUG" and json.loads(e["RAYOP_NAMESPACES"]) == [WATCH, MORE] for e in env)
    print(f"{len(samples)} samples over the upgrade; {sum(s[0] == 0 for s in samples)} with no leader")
    assert max(s[0] for s in samples) == 1  # never two processes acting at once
    after = _lease(api_client, OPS, release)
    assert _holder_pod(api_client, core, OPS, release) in {p.metadata.name for p in pods}  # the same Lease, taken over
    assert (after.spec.lease_transitions or 0) > (before.spec.lease_transitions or 0)  # it moved during the roll
    assert min(s[1] for s in samples) >= 1  # never a moment without a ready operator pod
    assert max(s[2] for s in samples) <= 6  # never more workers than the largest size asked for
    assert len(_workers(core, APPS, KWOK)) == 6


def test_helm_uninstall_keeps_the_users_rayclusters_and_the_crds(
        release: str, tools: Tools, api_client: Any, core: Any, custom: Any) -> None:
    tools.helm("uninstall", "rayop", "-n", OPS, "--wait")
    wait_for(lambda: not _operator_pods(core), timeout=60, what="operator pods gone")
    names = {c["metadata"]["name"] for c in custom.list_namespaced_custom_object(
        "ray.io", "v1", APPS, "rayclusters")["items"]}
    assert names == {"demo-local", KWOK}
    crds = {c.metadata.name for c in client.ApiextensionsV1Api(api_client).list_custom_resource_definition().items}
    assert {"rayclusters.ray.io", "rayjobs.ray.io"} <= crds
    assert len(_workers(core, APPS, KWOK)) == 6
