"""``python -m benchmarks.kubeflow_burst``: N Kubeflow jobs x R replicas on kwok, apply -> every job Running.

A fresh local control plane (kwok nodes), rayop in-process, ``--jobs`` PyTorchJobs of 1 Master + (R-1) Workers
(small CPU requests, so every gang fits and the figure measures the operator, not the queue). Prints the seconds
from the first apply until all pods are Running and until every job shows ``Running``, and the pods per second.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def job(name: str, replicas: int) -> dict[str, Any]:
    container = {"name": "pytorch", "image": "x", "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}
    spec = {"template": {"spec": {"containers": [container]}}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, **spec},
                                             "Worker": {"replicas": replicas - 1, **spec}}}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--no-gang", action="store_true", help="create pods ungated (RAYOP_KUBEFLOW__GANG_START=false)")
    args = ap.parse_args()

    from kubernetes import client, config

    from rayop.local.controlplane.cluster import ControlPlane, ControlPlaneConfig
    from rayop.operator.main import operator_main
    from rayop.operator.settings import KubeflowSettings, LeaderElectionSettings, Settings

    cp = ControlPlane.start(ControlPlaneConfig())
    stop, ready = threading.Event(), threading.Event()
    try:
        cp.apply_crds(sorted((ROOT / "crds").glob("*.yaml")))
        settings = Settings(kubeconfig=str(cp.kubeconfig), namespaces=["bench-*"], health_port=0, metrics_port=0,
                            log_format="plain", log_level="WARNING",
                            leader_election=LeaderElectionSettings(enabled=False),
                            kubeflow=KubeflowSettings(gang_start=not args.no_gang))
        thread = threading.Thread(target=lambda: asyncio.run(operator_main(settings, stop_flag=stop,
                                                                           ready_flag=ready)), daemon=True)
        thread.start()
        ready.wait(60)
        api = config.new_client_from_config(str(cp.kubeconfig))
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        ns = "bench-kubeflow"
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        start = time.monotonic()
        for i in range(args.jobs):
            custom.create_namespaced_custom_object("kubeflow.org", "v1", ns, "pytorchjobs", job(f"j{i}", args.replicas))
        applied = time.monotonic() - start
        want = args.jobs * args.replicas
        pods_at = jobs_at = created_at = admitted_at = None
        while time.monotonic() - start < args.timeout and jobs_at is None:
            if pods_at is None:
                pods = core.list_namespaced_pod(ns).items
                now = time.monotonic() - start
                if created_at is None and len(pods) >= want:
                    created_at = now
                gated = any(p.spec and p.spec.scheduling_gates for p in pods)
                if admitted_at is None and len(pods) >= want and not gated:
                    admitted_at = now
                if sum(1 for p in pods if p.status and p.status.phase == "Running") >= want:
                    pods_at = now
            if pods_at is not None:
                listed: Any = custom.list_namespaced_custom_object("kubeflow.org", "v1", ns, "pytorchjobs")
                items = listed["items"]
                if sum(1 for j in items if ((j.get("status") or {}).get("conditions") or [{}])[-1].get(
                        "type") == "Running") == args.jobs:
                    jobs_at = time.monotonic() - start
            time.sleep(0.5)
        print(f"kubeflow burst: {args.jobs} PyTorchJobs x {args.replicas} replicas = {want} pods on kwok, "
              f"gang start {'off' if args.no_gang else 'on'} (figures are upper bounds: each poll lists every pod)")
        pods_s = f"{pods_at:.1f}s" if pods_at else "timeout"
        jobs_s = f"{jobs_at:.1f}s" if jobs_at else "timeout"
        rate = f" ({want / pods_at:.0f} pods/s)" if pods_at else ""
        print(f"  applied in {applied:.1f}s; all pods created at {created_at or 0:.1f}s, all gates lifted at "
              f"{admitted_at or 0:.1f}s; all pods Running at {pods_s}; all jobs Running at {jobs_s}{rate}")
    finally:
        stop.set()
        cp.stop()


if __name__ == "__main__":
    main()
