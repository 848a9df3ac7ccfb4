"""Node objects of the local nodes: registration (label ``rayop.io/node-type=local``, no kwok annotation, so kwok
leaves them alone), status with capacity and a Ready condition, and the heartbeat: a Lease in kube-node-lease
renewed every 10 s plus a status refresh every 60 s, as kubelet does with the NodeLease feature."""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import threading
from typing import Any

from . import network_plan as plan
from .kube import ApiError, KubeClient
from .status import now

log = logging.getLogger(__name__)

NODE_TYPE_LABEL = "rayop.io/node-type"
NODE_TYPE = "local"
LEASE_SECONDS = 40


def host_capacity() -> dict[str, str]:
    mem_kib = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{mem_kib}Ki"}


def build_node(name: str, index: int, capacity: dict[str, str], taint: bool = False) -> dict[str, Any]:
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "rayop-local",
        NODE_TYPE_LABEL: NODE_TYPE,
    }
    spec: dict[str, Any] = {"podCIDR": plan.node_pod_cidr(index), "podCIDRs": [plan.node_pod_cidr(index)]}
    if taint:
        spec["taints"] = [{"key": "rayop.io/local-node", "value": "true", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"rayop.io/local-node-agent": platform.node()},
        },
        "spec": spec,
    }


def node_status(capacity: dict[str, str]) -> dict[str, Any]:
    cap = {"pods": "110", "ephemeral-storage": "100Gi", **capacity}
    t = now()
    conds = [
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "rayop local node agent is posting ready status",
        },
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
        {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
    ]
    for c in conds:
        c.update({"lastHeartbeatTime": t, "lastTransitionTime": t})
    return {
        "capacity": cap,
        "allocatable": cap,
        "conditions": conds,
        "addresses": [{"type": "InternalIP", "address": plan.GATEWAY_IP}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": plan.KUBELET_PORT}},
        "nodeInfo": {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "osImage": "rayop local node (host processes)",
            "kernelVersion": platform.release(),
            "kubeletVersion": "v1.36.3-rayop-local",
            "kubeProxyVersion": "",
            "containerRuntimeVersion": "rayop-localnode://0.1",
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
        },
    }


class NodeHeartbeat:
    def __init__(
        self, client: KubeClient, names: list[str], capacity: dict[str, str], taint: bool = False
    ) -> None:
        self.client, self.names, self.capacity, self.taint = client, names, capacity, taint
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="node-heartbeat")

    def register(self) -> None:
        for i, name in enumerate(self.names):
            body = build_node(name, i, self.capacity, self.taint)
            try:
                self.client.create("/api/v1/nodes", body)
            except ApiError as err:
                if err.status != 409:
                    raise
                self.client.patch(
                    f"/api/v1/nodes/{name}",
                    {
                        "metadata": {"labels": body["metadata"]["labels"]},
                        "spec": {"taints": body["spec"].get("taints")},
                    },
                )
            self._post_status(name)
            self._renew_lease(name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _post_status(self, name: str) -> None:
        self.client.patch(
            f"/api/v1/nodes/{name}/status", {"status": node_status(self.capacity)}, strategic=True
        )

    def _renew_lease(self, name: str) -> None:
        renew = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        spec = {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": renew}
        try:
            self.client.patch(f"{path}/{name}", {"spec": spec})
        except ApiError as err:
            if err.status != 404:
                raise
            node = self.client.get(f"/api/v1/nodes/{name}")
            owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}
            self.client.create(path, {"metadata": {"name": name, "ownerReferences": [owner]}, "spec": spec})

    def _loop(self) -> None:
        ticks = 0
        while not self._stop.wait(10.0):
            ticks += 1
            for name in self.names:
                try:
                    self._renew_lease(name)
                    if ticks % 6 == 0:
                        self._post_status(name)
                except Exception as err:
                    log.warning("node %s heartbeat failed: %s", name, err)

    def delete_nodes(self) -> None:
        for name in self.names:
            try:
                self.client.delete(f"/api/v1/nodes/{name}")
            except Exception as err:
                log.warning("deleting node %s: %s", name, err)
