"""The local node agent against the local control plane: pods really run, are reachable, resolve and route
Services, talk to the API server in-cluster, restart per restartPolicy and leave nothing behind."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from typing import Any

import pytest
import requests

from rayop.local.localnode import netns
from tests.localnode.localnode_helpers import create_pod, get_pod, pod, pod_log, wait, wait_phase, wait_ready

pytestmark = pytest.mark.k8s

HTTP_SERVER = ["python", "-m", "http.server", "8000"]


def _http_get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    s = requests.Session()
    s.trust_env = False  # never through a proxy
    r = s.get(url, timeout=timeout)
    return r.status_code, r.text


def _web_pod(name: str, labels: dict[str, str], body: str = "") -> dict[str, Any]:
    # Serve a directory holding one file named after the pod, so a response says which backend answered.
    cmd = [
        "sh",
        "-c",
        f"mkdir -p /tmp/www && echo {body or name} > /tmp/www/who && cd /tmp/www && exec python -m "
        "http.server 8000",
    ]
    return pod(
        name,
        cmd,
        labels,
        container={
            "ports": [{"name": "http", "containerPort": 8000}],
            "readinessProbe": {"httpGet": {"path": "/who", "port": "http"}, "periodSeconds": 1},
        },
    )


def _service(name: str, selector: dict[str, str], port: int = 80, headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": selector,
        "ports": [{"name": "http", "port": port, "targetPort": 8000}],
    }
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def test_pod_reachable_from_host_and_by_service_name(kube: Any, ns: str, agent: Any) -> None:
    t0 = time.monotonic()
    create_pod(kube, ns, _web_pod("web", {"app": "web"}))
    p = wait_ready(kube, ns, "web")
    latency = time.monotonic() - t0
    ip = p["status"]["podIP"]
    assert ip.startswith("10.233.1.")
    assert _http_get(f"http://{ip}:8000/who") == (200, "web\n")
    kube.create(f"/api/v1/namespaces/{ns}/services", _service("web", {"app": "web"}))
    kube.create(f"/api/v1/namespaces/{ns}/services", _service("web-headless", {"app": "web"}, headless=True))
    script = (
        f"set -e; getent hosts web-headless.{ns}.svc.cluster.local; "
        f"curl -sf -m 5 http://web.{ns}.svc.cluster.local/who; curl -sf -m 5 http://web/who; "
        "echo HOST=$(hostname)"
    )
    create_pod(kube, ns, pod("client", ["sh", "-c", script], restartPolicy="Never"))
    done = wait_phase(kube, ns, "client")
    log = pod_log(kube, ns, "client")
    assert done["status"]["phase"] == "Succeeded", log
    assert log.splitlines()[0].split()[0] == ip  # headless Service → the pod IP
    assert log.count("web\n") == 2 and "HOST=client" in log
    print(f"\npod start→Ready latency: {latency:.2f}s")


def test_clusterip_follows_selector_change(kube: Any, ns: str) -> None:
    create_pod(kube, ns, _web_pod("blue", {"color": "blue"}))
    create_pod(kube, ns, _web_pod("green", {"color": "green"}))
    wait_ready(kube, ns, "blue")
    wait_ready(kube, ns, "green")
    svc = kube.create(f"/api/v1/namespaces/{ns}/services", _service("app", {"color": "blue"}))
    url = f"http://{svc['spec']['clusterIP']}/who"
    wait(lambda: _http_get(url)[1] == "blue\n", 10, "ClusterIP → blue")
    t0 = time.monotonic()
    kube.patch(f"/api/v1/namespaces/{ns}/services/app", {"spec": {"selector": {"color": "green"}}})
    wait(lambda: _http_get(url)[1] == "green\n", 5, "ClusterIP → green", interval=0.05)
    switched = time.monotonic() - t0
    # Every new connection now goes to green.
    assert {_http_get(url)[1] for _ in range(10)} == {"green\n"}
    assert switched < 2.0, f"selector change took {switched:.2f}s to reach the data path"
    print(f"\nselector change → traffic switched in {switched:.2f}s")


def test_a_second_agent_refused_by_the_lock_leaves_the_running_nodes_service_rules_alone(
        kube: Any, ns: str, agent: Any) -> None:
    from rayop.local.localnode.agent import Agent

    create_pod(kube, ns, _web_pod("kept", {"app": "kept"}))
    wait_ready(kube, ns, "kept")
    svc = kube.create(f"/api/v1/namespaces/{ns}/services", _service("kept", {"app": "kept"}))
    url = f"http://{svc['spec']['clusterIP']}/who"
    wait(lambda: _http_get(url)[1] == "kept\n", 10, "ClusterIP → kept")
    second = Agent(dataclasses.replace(agent.cfg, lock_wait=0))
    with pytest.raises(RuntimeError, match="another local node agent"):
        second.start()
    second.stop()  # what `python -m rayop.local.localnode` does when its start fails
    assert _http_get(url) == (200, "kept\n")


def test_in_cluster_service_account_lists_pods(kube: Any, ns: str) -> None:
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns
    kube.create(
        f"{rbac}/roles",
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        },
    )
    kube.create(
        f"{rbac}/rolebindings",
        {
            "metadata": {"name": "pod-reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}],
        },
    )
    code = (
        "from kubernetes import client, config; config.load_incluster_config(); "
        f"print('PODS', sorted(p.metadata.name for p in client.CoreV1Api().list_namespaced_pod('{ns}').items))"
    )
    create_pod(kube, ns, pod("lister", ["python", "-c", code], restartPolicy="Never"))
    done = wait_phase(kube, ns, "lister")
    log = pod_log(kube, ns, "lister")
    assert done["status"]["phase"] == "Succeeded", log
    assert "PODS ['lister']" in log


def test_killed_container_restarts_and_reports_exit_code(kube: Any, ns: str, agent: Any) -> None:
    create_pod(kube, ns, pod("sleeper", ["sleep", "3600"]))
    p = wait_ready(kube, ns, "sleeper")
    runner = agent.runners[p["metadata"]["uid"]]
    pid = runner.main[0].pid
    os.kill(pid, signal.SIGKILL)
    p = wait(
        lambda: (
            (x := get_pod(kube, ns, "sleeper"))["status"]["containerStatuses"][0]["restartCount"] >= 1
            and "running" in x["status"]["containerStatuses"][0]["state"]
            and x
        ),
        20,
        "restart",
    )
    last = p["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["reason"] == "Error"
    assert runner.main[0].pid != pid
    # restartPolicy Never: the exit code is reported and the pod fails.
    create_pod(kube, ns, pod("once", ["sh", "-c", "echo bye; exit 3"], restartPolicy="Never"))
    done = wait_phase(kube, ns, "once")
    assert done["status"]["phase"] == "Failed"
    assert done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert pod_log(kube, ns, "once") == "bye\n"


def test_env_volumes_and_missing_command(kube: Any, ns: str) -> None:
    kube.create(
        f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "cfg"}, "data": {"greeting": "hello"}}
    )
    kube.create(
        f"/api/v1/namespaces/{ns}/secrets", {"metadata": {"name": "sec"}, "stringData": {"pw": "s3cret"}}
    )
    script = (
        "echo $GREETING $(cat /etc/cfg/greeting) $PW $(cat /etc/sec/pw) $POD_NAME $(cat /etc/podinfo/name) "
        "$MEM_MI; touch /cache/x; mount | grep -c ' /dev/shm '; test -s /var/run/secrets/kubernetes.io/"
        "serviceaccount/token && echo TOKEN"
    )
    body = pod(
        "envtest",
        ["sh", "-c", script],
        restartPolicy="Never",
        container={
            "env": [
                {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {
                    "name": "MEM_MI",
                    "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
                },
            ],
            "resources": {"limits": {"memory": "256Mi"}},
            "volumeMounts": [
                {"name": "cfg", "mountPath": "/etc/cfg"},
                {"name": "sec", "mountPath": "/etc/sec"},
                {"name": "podinfo", "mountPath": "/etc/podinfo"},
                {"name": "cache", "mountPath": "/cache"},
            ],
        },
        volumes=[
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "sec", "secret": {"secretName": "sec"}},
            {
                "name": "podinfo",
                "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]},
            },
            {"name": "cache", "emptyDir": {"medium": "Memory"}},
        ],
    )
    create_pod(kube, ns, body)
    done = wait_phase(kube, ns, "envtest")
    log = pod_log(kube, ns, "envtest")
    assert done["status"]["phase"] == "Succeeded", log
    assert log.splitlines()[0] == "hello hello s3cret s3cret envtest envtest 256"
    assert "TOKEN" in log
    assert not os.path.exists("/cache/x")  # the emptyDir was mounted privately
    create_pod(
        kube,
        ns,
        {
            **pod("noentry", []),
            "spec": {
                **pod("noentry", [])["spec"],
                "containers": [{"name": "main", "image": "rayproject/ray:2.60.0"}],
            },
        },
    )
    p = wait(
        lambda: (
            (x := get_pod(kube, ns, "noentry"))["status"].get("containerStatuses")
            and x["status"]["containerStatuses"][0]["state"].get("waiting", {}).get("reason")
            == "ImageEntrypointUnavailable"
            and x
        ),
        20,
        "entrypoint message",
    )
    assert "entrypoint" in p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]


def test_graceful_termination_cleans_up(kube: Any, ns: str, agent: Any) -> None:
    script = "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.2; done"
    create_pod(kube, ns, pod("graceful", ["sh", "-c", script]))
    p = wait_ready(kube, ns, "graceful")
    uid = p["metadata"]["uid"]
    runner = agent.runners[uid]
    kube.delete(f"/api/v1/namespaces/{ns}/pods/graceful")
    wait(lambda: kube.get_or_none(f"/api/v1/namespaces/{ns}/pods/graceful") is None, 15, "pod object deleted")
    assert runner.stopped.is_set()
    assert (
        netns.netns_name(uid)
        not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    )
    assert agent.rt.cgroups.pids(agent.rt.cgroups.pod_dir(uid)) == []
