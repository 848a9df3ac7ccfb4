"""The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on loopback.

This is rayop's "envtest plus nodes": real Kubernetes components built from Go modules (see :mod:`.tools`), each on a
free port, with a CA, RBAC, service-account tokens and the default admission chain, so the operator is tested against
what a real cluster does (scheduling, garbage collection, Jobs, EndpointSlices, namespace deletion) rather than a
mock.  ``ControlPlane.start`` returns once every component is ready and reports where the start-up time went.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import kubeconfig as kc
from .network import blackhole_kwok_pod_ips, http_ok, https_ok
from .nodes import NodeShape, build_kwok_node, default_shapes, node_names
from .pki import CertificateAuthority, write_service_account_keys
from .processes import Component, free_port, stop_process_group
from .tools import CONTROL_PLANE_TOOLS, KWOK_STAGES_FILE, ensure_tools

#: Pod network plan shared with the local node agent (rayop.local.localnode.network_plan).
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
#: Host side of the local nodes' bridge; the API server advertises it so pods can reach it.
POD_GATEWAY_IP = "10.233.0.1"
#: Fake pod IPs kwok hands out; nothing ever connects to them.
KWOK_POD_CIDR = "10.234.0.0/16"


@dataclass
class ControlPlaneConfig:
    """What to start. Defaults give a small realistic cluster: several CPU nodes and one GPU node."""

    workdir: Path | None = None
    node_shapes: tuple[NodeShape, ...] = field(default_factory=default_shapes)
    with_scheduler: bool = True
    with_controller_manager: bool = True
    with_kwok: bool = True
    start_timeout: float = 120.0
    #: Extra kube-apiserver flags, appended last (the benchmarks use this to change the pod watch cache).
    apiserver_args: tuple[str, ...] = ()
    #: KwokConfiguration options added to kwok's config (the benchmarks raise ``podPlayStageParallelism``).
    kwok_options: dict[str, Any] = field(default_factory=dict)
    #: One kwok per node, watching only its node's pods as a kubelet does, instead of one kwok for all nodes: a
    #: single kwok falls behind in a burst, has its watch closed, relists and replays stages (benchmarks/README.md).
    kwok_per_node: bool = False


class ControlPlane:
    """A running local control plane. Use :meth:`start`, then :meth:`stop` (or use it as a context manager)."""

    def __init__(self, config: ControlPlaneConfig) -> None:
        self.config = config
        self._own_workdir = config.workdir is None
        self.workdir = Path(config.workdir or tempfile.mkdtemp(prefix="rayop-cp-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pki_dir = self.workdir / "pki"
        self.pki_dir.mkdir(exist_ok=True)
        self.logs = self.workdir / "logs"
        self.components: list[Component] = []
        self.timings: dict[str, float] = {}
        self.api_port = 0
        self.kubeconfig = self.workdir / "admin.kubeconfig"

    # -- life cycle ---------------------------------------------------------------------------------------------
    @classmethod
    def start(cls, config: ControlPlaneConfig | None = None) -> ControlPlane:
        cp = cls(config or ControlPlaneConfig())
        try:
            cp._start()
        except BaseException:
            cp.stop()
            raise
        return cp

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _phase(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.timings[name] = now - since
        return now

    def _start(self) -> None:
        t0 = t = time.monotonic()
        self.bin = ensure_tools(log=True, names=CONTROL_PLANE_TOOLS)
        t = self._phase("tools", t)
        self._write_pki()
        t = self._phase("pki", t)
        self._start_etcd()
        t = self._phase("etcd", t)
        self._start_apiserver()
        t = self._phase("kube-apiserver", t)
        if self.config.with_controller_manager:
            self._start_controller_manager()
        if self.config.with_scheduler:
            self._start_scheduler()
        if self.config.with_kwok:
            self._start_kwok()
        self._create_nodes()
        t = self._phase("nodes", t)
        self._wait_components_ready()
        t = self._phase("controllers", t)
        self.timings["total"] = t - t0
        summary = ", ".join(f"{k} {v:.2f}s" for k, v in self.timings.items())
        print(f"local control plane ready at https://127.0.0.1:{self.api_port} ({summary})", file=sys.stderr)

    def stop(self) -> None:
        """Stop every component (reverse start order) and remove the work directory if we created it."""
        for comp in reversed(self.components):
            comp.stop()
        self.components.clear()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kill_apiserver(self) -> None:
        """SIGKILL kube-apiserver (an outage, for tests of how clients survive one); see :meth:`restart_apiserver`."""
        comp = self._by_name("kube-apiserver")
        if comp.process is not None:
            stop_process_group(comp.process.pid, grace=0)
            comp.process.wait(timeout=10)

    def restart_apiserver(self) -> None:
        """Start kube-apiserver again on the same port and certificates; returns once it answers ``/readyz``."""
        comp = self._by_name("kube-apiserver")
        comp.start()
        self._wait(lambda: self._api_get("/readyz") is not None, comp, "kube-apiserver /readyz")

    def _by_name(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    # -- pieces -------------------------------------------------------------------------------------------------
    def _write_pki(self) -> None:
        ca = CertificateAuthority(self.pki_dir)
        self.ca_cert, self.ca_key = ca.pair.cert, ca.pair.key
        self.serving = ca.issue(
            "apiserver",
            "kube-apiserver",
            server=True,
            dns_names=(
                "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ips=("127.0.0.1", POD_GATEWAY_IP, KUBERNETES_SERVICE_IP),
        )
        self.admin = ca.issue("admin", "rayop-admin", org="system:masters")
        self.kcm_cert = ca.issue("controller-manager", "system:kube-controller-manager")
        self.sched_cert = ca.issue("scheduler", "system:kube-scheduler")
        self.kubelet_client = ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                       org="system:masters")
        sa = write_service_account_keys(self.pki_dir)
        self.sa_pub, self.sa_key = sa.cert, sa.key

    def _component(self, name: str, argv: list[str]) -> Component:
        comp = Component(name, argv, self.logs / f"{name}.log")
        comp.start()
        self.components.append(comp)
        return comp

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        etcd = self._component("etcd", [
            str(self.bin / "etcd"),
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=default=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
            "--quota-backend-bytes=4294967296",
        ])
        self._wait(lambda: http_ok(f"{self.etcd_url}/health"), etcd, "etcd /health")

    def _start_apiserver(self) -> None:
        self.api_port = free_port()
        apiserver = self._component("kube-apiserver", [
            str(self.bin / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            f"--secure-port={self.api_port}",
            # Reachable from pods of local nodes (through the bridge gateway) as well as from loopback.
            "--bind-address=0.0.0.0",
            f"--advertise-address={POD_GATEWAY_IP}",
            f"--cert-dir={self.pki_dir}",
            f"--tls-cert-file={self.serving.cert}",
            f"--tls-private-key-file={self.serving.key}",
            f"--client-ca-file={self.ca_cert}",
            f"--kubelet-client-certificate={self.kubelet_client.cert}",
            f"--kubelet-client-key={self.kubelet_client.key}",
            f"--service-account-key-file={self.sa_pub}",
            f"--service-account-signing-key-file={self.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            "--profiling=false",
            "--max-requests-inflight=1600",
            "--max-mutating-requests-inflight=800",
            "--v=0",
            *self.config.apiserver_args,
        ])
        self._write_kubeconfigs()
        self._wait(lambda: self._api_get("/readyz") is not None, apiserver, "kube-apiserver /readyz")

    def _write_kubeconfigs(self) -> None:
        server = f"https://127.0.0.1:{self.api_port}"
        kc.write(self.kubeconfig, server, self.ca_cert, self.admin)
        self.kcm_kubeconfig = self.workdir / "controller-manager.kubeconfig"
        kc.write(self.kcm_kubeconfig, server, self.ca_cert, self.kcm_cert)
        self.sched_kubeconfig = self.workdir / "scheduler.kubeconfig"
        kc.write(self.sched_kubeconfig, server, self.ca_cert, self.sched_cert)

    def _start_controller_manager(self) -> None:
        self._kcm_port = free_port()
        self._component("kube-controller-manager", [
            str(self.bin / "kube-controller-manager"),
            f"--kubeconfig={self.kcm_kubeconfig}",
            f"--authentication-kubeconfig={self.kcm_kubeconfig}",
            f"--authorization-kubeconfig={self.kcm_kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self._kcm_port}",
            f"--cert-dir={self.workdir / 'kcm-certs'}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.sa_key}",
            f"--root-ca-file={self.ca_cert}",
            f"--cluster-signing-cert-file={self.ca_cert}",
            f"--cluster-signing-key-file={self.ca_key}",
            "--controllers=*,-nodeipam,-service,-route,-cloud-node-lifecycle",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--concurrent-gc-syncs=20",
            "--v=0",
        ])

    def _start_scheduler(self) -> None:
        self._sched_port = free_port()
        cfg = self.workdir / "scheduler-config.yaml"
        cfg.write_text(yaml.safe_dump({
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": str(self.sched_kubeconfig), "qps": 200, "burst": 400},
            "leaderElection": {"leaderElect": False},
        }))
        self._component("kube-scheduler", [
            str(self.bin / "kube-scheduler"),
            f"--config={cfg}",
            f"--authentication-kubeconfig={self.sched_kubeconfig}",
            f"--authorization-kubeconfig={self.sched_kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self._sched_port}",
            f"--cert-dir={self.workdir / 'sched-certs'}",
            "--v=0",
        ])

    def _start_kwok(self) -> None:
        blackhole_kwok_pod_ips(KWOK_POD_CIDR)
        config = self.bin / KWOK_STAGES_FILE
        if self.config.kwok_options:
            config = self.workdir / "kwok.yaml"
            options = {"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokConfiguration",
                       "options": self.config.kwok_options}
            config.write_text(yaml.safe_dump(options) + "---\n" + (self.bin / KWOK_STAGES_FILE).read_text())
        common = [str(self.bin / "kwok"), f"--kubeconfig={self.kubeconfig}", f"--config={config}",
                  "--manage-all-nodes=false", f"--cidr={KWOK_POD_CIDR}", "--node-ip=10.234.0.1",
                  "--node-lease-duration-seconds=40"]
        if self.config.kwok_per_node:
            for name in node_names(self.config.node_shapes):
                self._component(f"kwok-{name}", [*common, f"--manage-single-node={name}",
                                                 f"--server-address=127.0.0.1:{free_port()}"])
        else:
            self._component("kwok", [*common, "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                                     "--manage-nodes-with-label-selector=",
                                     f"--server-address=127.0.0.1:{free_port()}"])

    def _create_nodes(self) -> None:
        for shape in self.config.node_shapes:
            for i in range(shape.count):
                self._api_request("POST", "/api/v1/nodes", build_kwok_node(f"{shape.name_prefix}-{i}", shape),
                                  ok_conflict=True)

    def _wait_components_ready(self) -> None:
        by_name = {c.name: c for c in self.components}
        if "kube-controller-manager" in by_name:
            self._wait(lambda: https_ok(self._kcm_port), by_name["kube-controller-manager"], "kcm /healthz")
            # The service-account controllers are up once the default namespace has its ServiceAccount.
            self._wait(lambda: self._api_get("/api/v1/namespaces/default/serviceaccounts/default") is not None,
                       by_name["kube-controller-manager"], "default ServiceAccount")
        if "kube-scheduler" in by_name:
            self._wait(lambda: https_ok(self._sched_port), by_name["kube-scheduler"], "scheduler /healthz")
        kwoks = [c for c in self.components if c.name == "kwok" or c.name.startswith("kwok-")]
        if kwoks and self.config.node_shapes:
            self._wait(self._kwok_nodes_ready, kwoks, "kwok nodes Ready")

    def _kwok_nodes_ready(self) -> bool:
        nodes = self._api_get("/api/v1/nodes?labelSelector=rayop.io%2Fnode-type%3Dkwok") or {}
        items = nodes.get("items", [])
        want = sum(s.count for s in self.config.node_shapes)
        ready = [
            n for n in items
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in n.get("status", {}).get("conditions", []))
        ]
        return len(ready) >= want

    # -- public helpers -----------------------------------------------------------------------------------------
    def apply_crds(self, paths: list[Path], timeout: float = 30.0) -> None:
        """Create (or replace) CRDs from YAML files and wait until each is Established."""
        names = []
        for path in paths:
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc:
                    continue
                name = doc["metadata"]["name"]
                names.append(name)
                current = self._api_get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                if current is None:
                    self._api_request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", doc)
                else:
                    doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    self._api_request("PUT", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", doc)
        deadline = time.monotonic() + timeout
        for name in names:
            while True:
                crd = self._api_get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}") or {}
                conds = (crd.get("status") or {}).get("conditions") or []
                if any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CRD {name} not Established: {conds}")
                time.sleep(0.05)

    def ready_nodes(self, node_type: str) -> int:
        """How many nodes labelled ``rayop.io/node-type=<node_type>`` are Ready."""
        nodes = self._api_get(f"/api/v1/nodes?labelSelector=rayop.io%2Fnode-type%3D{node_type}") or {}
        return sum(
            1 for n in nodes.get("items", [])
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (n.get("status") or {}).get("conditions") or [])
        )

    def component_pids(self) -> dict[str, int]:
        """Process ids of the running components (for ``rayop dev status`` and memory figures)."""
        return {c.name: c.process.pid for c in self.components if c.process is not None}

    # -- helpers ------------------------------------------------------------------------------------------------
    def _wait(self, check: Any, comps: Component | list[Component], what: str) -> None:
        comps = comps if isinstance(comps, list) else [comps]
        comp = comps[0]
        deadline = time.monotonic() + self.config.start_timeout
        while time.monotonic() < deadline:
            for c in comps:
                c.check_alive()
            with contextlib.suppress(Exception):
                if check():
                    return
            time.sleep(0.05)
        raise TimeoutError(f"timed out waiting for {what}; {comp.name} log:\n{comp.log_tail()}")

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_cert))
        ctx.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return ctx

    def _api_get(self, path: str) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(
                f"https://127.0.0.1:{self.api_port}{path}", context=self._ssl_context(), timeout=5
            ) as resp:
                body = resp.read()
                return json.loads(body) if body.startswith(b"{") else {"ok": body.decode()}
        except Exception:
            return None

    def _api_request(self, method: str, path: str, body: dict[str, Any], ok_conflict: bool = False) -> None:
        req = urllib.request.Request(
            f"https://127.0.0.1:{self.api_port}{path}", method=method, data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=10):
                pass
        except urllib.error.HTTPError as err:
            if not (ok_conflict and err.code == 409):
                detail = err.read().decode(errors="replace")
                raise RuntimeError(f"{method} {path}: HTTP {err.code}: {detail[:3000]}") from err
