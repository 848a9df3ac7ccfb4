"""Pure tests of the local node agent's building blocks (no servers, no root needed)."""

from __future__ import annotations

import socket
import struct

import pytest

from rayop.local.localnode import dns, expand, ipam, launcher, network_plan, services, status

pytestmark = pytest.mark.unit


# -- $(VAR) expansion ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$(A)-$(B)", "1-two"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("a$$b", "a$b"),
        ("$(A", "$(A"),
        ("$x$(A)", "$x1"),
        ("trailing$", "trailing$"),
        ("", ""),
    ],
)
def test_expand(text: str, want: str) -> None:
    assert expand.expand(text, {"A": "1", "B": "two"}) == want


POD = {
    "metadata": {"name": "p", "namespace": "ns1", "uid": "u-1", "labels": {"app": "web", "x": "y"}},
    "spec": {
        "nodeName": "n0",
        "serviceAccountName": "sa",
        "containers": [
            {
                "name": "c",
                "resources": {"limits": {"cpu": "1500m", "memory": "1Gi"}, "requests": {"cpu": "250m"}},
            }
        ],
    },
}


def _lookup(kind: str, name: str) -> dict[str, str] | None:
    store = {("secret", "s"): {"password": "hunter2"}, ("configmap", "cm"): {"MODE": "fast", "LEVEL": "3"}}
    return store.get((kind, name))


def test_resolve_env_sources_and_order() -> None:
    ctr = {
        **POD["spec"]["containers"][0],
        "envFrom": [
            {"configMapRef": {"name": "cm"}, "prefix": "CM_"},
            {"secretRef": {"name": "nope", "optional": True}},
        ],
        "env": [
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "GREETING", "value": "hi $(NAME) at $(IP) mode $(CM_MODE) $(LATER)"},
            {"name": "LATER", "value": "x"},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
            {"name": "LVL", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "LEVEL"}}},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {
                "name": "CPUM",
                "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}},
            },
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {"name": "NODEMEM", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}},
        ],
    }
    env = expand.resolve_env(
        POD,
        ctr,
        pod_ip="10.233.1.7",
        host_ip="10.233.0.1",
        service_env={"KUBERNETES_SERVICE_HOST": "10.96.0.1"},
        lookup=_lookup,
        node_alloc={"memory": "2Gi"},
    )
    assert env["GREETING"] == "hi p at 10.233.1.7 mode fast $(LATER)"
    assert env["CM_LEVEL"] == "3" and env["APP"] == "web" and env["PW"] == "hunter2" and env["LVL"] == "3"
    assert "OPT" not in env
    assert env["CPU"] == "2" and env["CPUM"] == "250" and env["MEM"] == "1024"
    assert env["NODEMEM"] == str(2**30)  # a missing request falls back to the limit (then node allocatable)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


def test_resolve_env_missing_secret_is_an_error() -> None:
    ctr = {"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]}
    with pytest.raises(expand.EnvError, match="not found"):
        expand.resolve_env(POD, ctr, pod_ip="", host_ip="", service_env={}, lookup=_lookup)


def test_command_expansion_and_missing_command() -> None:
    env = {"PORT": "8000"}
    ctr = {"command": ["python", "-m", "http.server"], "args": ["$(PORT)", "$$(PORT)"]}
    assert expand.expand_command(ctr, env) == ["python", "-m", "http.server", "8000", "$(PORT)"]
    assert expand.expand_command({"args": ["x"]}, env) is None


def test_service_links() -> None:
    env = expand.service_link_env(
        [
            {
                "metadata": {"name": "redis-main"},
                "spec": {
                    "clusterIP": "10.96.3.4",
                    "ports": [{"name": "redis", "port": 6379, "protocol": "TCP"}],
                },
            },
            {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}},
        ]
    )
    assert env["REDIS_MAIN_SERVICE_HOST"] == "10.96.3.4"
    assert env["REDIS_MAIN_SERVICE_PORT_REDIS"] == "6379"
    assert env["REDIS_MAIN_PORT_6379_TCP_ADDR"] == "10.96.3.4"
    assert not any(k.startswith("HEADLESS") for k in env)


# -- IPAM ---------------------------------------------------------------------------------------------------------
def test_ipam_round_robin_and_exhaustion() -> None:
    assert network_plan.node_pod_cidr(0) == "10.233.1.0/24"
    pool = ipam.IPPool("10.233.1.0/30")  # two usable hosts
    a = pool.allocate("pod-a")
    assert pool.allocate("pod-a") == a  # idempotent per owner
    b = pool.allocate("pod-b")
    assert {a, b} == {"10.233.1.1", "10.233.1.2"}
    with pytest.raises(ipam.PoolExhausted):
        pool.allocate("pod-c")
    pool.release(a)
    assert pool.allocate("pod-c") == a


def test_ipam_does_not_reuse_freed_address_at_once() -> None:
    pool = ipam.IPPool(network_plan.node_pod_cidr(3))
    first = pool.allocate("a")
    pool.release(first)
    assert pool.allocate("b") != first


# -- command building ---------------------------------------------------------------------------------------------
def test_container_argv_and_setup_script() -> None:
    spec = launcher.LaunchSpec(
        netns="rayop-x",
        argv=["/bin/bash", "-c", "--", "ray start --head --block"],
        hostname="head-0",
        working_dir="/home/ray",
        cgroup_procs=["/cg/procs"],
        mounts=[
            launcher.Mount("/s/vol", "/tmp/ray/x", read_only=True),
            launcher.Mount("/s/tmp", "/tmp"),
            launcher.Mount("/s/hosts", "/etc/hosts", is_file=True),
        ],
    )
    argv = launcher.container_argv(spec)
    assert argv[0].endswith("nsenter") and argv[1] == "--net=/run/netns/rayop-x"
    assert "--propagation" in argv and argv[-4:] == spec.argv
    script = argv[argv.index("-c") + 1]
    lines = script.splitlines()
    assert lines[1] == "echo $$ > /cg/procs"
    # /tmp is mounted before the volume below it; read-only volumes are remounted ro.
    tmp_i = next(i for i, x in enumerate(lines) if x.endswith("--bind /s/tmp /tmp"))
    vol_i = next(i for i, x in enumerate(lines) if x.endswith("--bind /s/vol /tmp/ray/x"))
    assert tmp_i < vol_i and "remount,bind,ro /tmp/ray/x" in lines[vol_i + 1]
    assert lines[-1] == 'exec "$@"' and "cd /home/ray" in lines[-2]


def test_resolv_conf_and_hosts() -> None:
    rc = launcher.resolv_conf("team-a")
    assert "nameserver 10.96.0.10" in rc and "search team-a.svc.cluster.local svc.cluster.local" in rc
    assert "timeout:1" in rc
    hosts = launcher.hosts_file("10.233.1.9", "w-0", "workers", "team-a")
    assert "10.233.1.9\tw-0.workers.team-a.svc.cluster.local w-0" in hosts


# -- status transitions -------------------------------------------------------------------------------------------
def test_container_record_transitions() -> None:
    r = status.ContainerRecord("c", "img")
    assert r.to_status()["state"] == {"waiting": {"reason": "ContainerCreating"}}
    r.set_running(42)
    assert "running" in r.to_status()["state"]
    r.set_terminated(-9)
    st = r.to_status()["state"]["terminated"]
    assert st["exitCode"] == 137 and st["signal"] == 9 and st["reason"] == "Error"
    r.record_restart()
    r.set_waiting("CrashLoopBackOff", "back-off 10s")
    s = r.to_status()
    assert s["restartCount"] == 1 and s["lastState"]["terminated"]["exitCode"] == 137
    assert s["state"]["waiting"]["reason"] == "CrashLoopBackOff"


def _rec(state: str, code: int | None = None, restarts: int = 0) -> status.ContainerRecord:
    r = status.ContainerRecord("c")
    if state == "running":
        r.set_running(1)
    elif state == "terminated":
        r.set_terminated(code or 0)
    r.restart_count = restarts
    return r


@pytest.mark.parametrize(
    ("init", "main", "policy", "want"),
    [
        ([_rec("running")], [_rec("waiting")], "Always", "Pending"),
        ([_rec("terminated", 0)], [_rec("running")], "Always", "Running"),
        ([], [_rec("terminated", 0), _rec("terminated", 0)], "Never", "Succeeded"),
        ([], [_rec("terminated", 0), _rec("terminated", 3)], "Never", "Failed"),
        ([], [_rec("terminated", 3)], "OnFailure", "Running"),
        ([], [_rec("waiting", restarts=2)], "Always", "Running"),
        ([], [_rec("waiting")], "Always", "Pending"),
    ],
)
def test_pod_phase(
    init: list[status.ContainerRecord], main: list[status.ContainerRecord], policy: str, want: str
) -> None:
    assert status.pod_phase(init, main, policy) == want


def test_pod_status_keeps_foreign_conditions_and_transition_times() -> None:
    r = _rec("running")
    r.ready = True
    prev = {
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"},
        ]
    }
    st = status.pod_status(
        phase="Running",
        pod_ip="10.233.1.2",
        host_ip="10.233.0.1",
        start_time="t",
        sandbox_ready=True,
        init=[],
        main=[r],
        previous=prev,
    )
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["PodScheduled"]["status"] == "True"
    assert (
        conds["Ready"]["status"] == "True" and conds["Ready"]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    )
    assert st["podIP"] == "10.233.1.2"


# -- services and DNS ---------------------------------------------------------------------------------------------
SVC = {
    "metadata": {"name": "web", "namespace": "ns1"},
    "spec": {"clusterIP": "10.96.5.5", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
}
HEADLESS = {"metadata": {"name": "workers", "namespace": "ns1"}, "spec": {"clusterIP": "None"}}


def _slice(svc: str, eps: list[tuple[str, bool, str | None]], port: int = 8000) -> dict[str, object]:
    return {
        "metadata": {"name": f"{svc}-abc", "namespace": "ns1", "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ok}, **({"hostname": h} if h else {})}
            for ip, ok, h in eps
        ],
    }


def test_build_rules_ready_endpoints_only() -> None:
    sl = _slice("web", [("10.233.1.2", True, None), ("10.233.1.3", True, None), ("10.233.1.4", False, None)])
    chains, rules = services.build_rules([SVC, HEADLESS], [sl])
    dnat = [r for r in rules if "DNAT" in r]
    assert sorted(r.split()[-1] for r in dnat) == ["10.233.1.2:8000", "10.233.1.3:8000"]
    assert any("-d 10.96.5.5/32 -p tcp -m tcp --dport 80" in r for r in rules)
    assert any("--probability 0.5000000000" in r for r in rules)
    payload = services.restore_payload(chains, rules, existing=["RAYOP-SVC-OLD"])
    assert ":RAYOP-SVC-OLD - [0:0]" in payload and "-X RAYOP-SVC-OLD" in payload
    assert payload.startswith("*nat") and payload.rstrip().endswith("COMMIT")


def test_dns_lookup() -> None:
    sl = _slice("workers", [("10.233.1.7", True, "w-0"), ("10.233.1.8", False, "w-1")])
    svcs, slices = [SVC, HEADLESS], [sl]
    assert dns.lookup("web.ns1.svc.cluster.local", svcs, slices) == ["10.96.5.5"]
    assert dns.lookup("workers.ns1.svc.cluster.local", svcs, slices) == ["10.233.1.7"]
    assert dns.lookup("w-0.workers.ns1.svc.cluster.local", svcs, slices) == ["10.233.1.7"]
    assert dns.lookup("w-9.workers.ns1.svc.cluster.local", svcs, slices) is None
    assert dns.lookup("web.other.svc.cluster.local", svcs, slices) is None
    assert dns.lookup("10-233-1-9.ns1.pod.cluster.local", svcs, slices) == ["10.233.1.9"]
    assert dns.lookup("example.com", svcs, slices) is None


def _query(name: str, qtype: int = 1) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


class _FakeCache:
    def snapshot(self) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        return [SVC], []


def test_dns_wire_answer() -> None:
    reply = dns.answer(_query("web.ns1.svc.cluster.local"), _FakeCache())  # type: ignore[arg-type]
    qid, flags, _qd, an, _ns, _ar = struct.unpack("!HHHHHH", reply[:12])
    assert qid == 0x1234 and flags & 0x8000 and flags & 0xF == 0 and an == 1
    assert socket.inet_ntoa(reply[-4:]) == "10.96.5.5"
    nx = dns.answer(_query("nope.ns1.svc.cluster.local"), _FakeCache())  # type: ignore[arg-type]
    assert struct.unpack("!H", nx[2:4])[0] & 0xF == 3
    aaaa = dns.answer(_query("web.ns1.svc.cluster.local", 28), _FakeCache())  # type: ignore[arg-type]
    assert struct.unpack("!HHHHHH", aaaa[:12])[3] == 0 and struct.unpack("!H", aaaa[2:4])[0] & 0xF == 0
