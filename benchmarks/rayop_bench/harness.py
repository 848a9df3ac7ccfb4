"""One run = one scenario against one peer on a fresh local control plane; returns (and writes) its JSON record."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from rayop.kube.client import KubeClient
from rayop.kube.config import from_kubeconfig
from rayop.local.controlplane.cluster import ControlPlane, ControlPlaneConfig
from rayop.local.controlplane.nodes import NodeShape

from . import incluster, kuberay, operators
from .gcs_ft import GCS_FT_RUNNERS
from .observe import Watcher
from .rayjobs import RAYJOB_RUNNERS
from .rayservices import RAYSERVICE_RUNNERS
from .sampler import TreeSampler, mib
from .scenarios import NAMESPACE, RUNNERS, WARMUP_NAMESPACE, Context, Params, ensure_namespace, params_dict, warm_up
from .serve_ft import SERVE_FT_RUNNERS

ALL_RUNNERS = {**RUNNERS, **RAYJOB_RUNNERS, **GCS_FT_RUNNERS, **RAYSERVICE_RUNNERS, **SERVE_FT_RUNNERS}


def needs_local_node(scenario: str, params: Params) -> bool:
    """``rayjob`` runs real Ray on a local node; ``rayjob-load`` needs one only for KubeRay in a pod, and then
    starts it for every peer alike (the agent's own CPU is part of the machine's load); ``rayservice`` serves
    from real Ray on it."""
    return (scenario in ("rayjob", "gcs-ft", "rayservice", "rayservice-restarts", "rayservice-gcs-ft")
            or (scenario == "rayjob-load" and params.kuberay_in_cluster))


def node_shapes(params: Params) -> tuple[NodeShape, ...]:
    """kwok nodes with ample room: 200 pods each, enough nodes for the largest step of the scenario (at least 10)."""
    need = max(params.clusters * (1 + params.workers), params.big_workers + 10, params.steady_pods + 250,
               params.churn_clusters * (1 + params.churn_high), params.rayjob_jobs * 2 + 10)
    count = max(10, -(-int(need * 1.2) // 200))
    return (NodeShape("bench", count=count, cpu="256", memory="2Ti", pods=200),)


def kwok_rejected_plays(logs: Path) -> int:
    """Stage plays kwok logged as failed: duplicate ``pod-ready`` plays the API server rejected (422, a second pod
    IP) after kwok relisted, and ``pod-delete`` plays on pods already gone (404)."""
    total = 0
    for path in logs.glob("kwok*.log"):
        with path.open(errors="replace") as f:
            total += sum(1 for line in f if "failed to apply stage" in line)
    return total


async def api_counters(client: KubeClient) -> dict[str, int]:
    """:func:`parse_api_counters` of the API server's ``/metrics`` now."""
    return parse_api_counters(str((await client.request("GET", "/metrics")).get("message", "")))


def parse_api_counters(metrics: str) -> dict[str, int]:
    """The API server's request counts by verb and resource (``PATCH pods/status``, ``POST events`` ...; lease
    renewals left out), plus ``terminated pod watches``: pod watches it closed because their client read too slowly
    (each forces the client to re-watch, or to relist when its resource version has left the watch cache)."""
    out: dict[str, int] = {}
    for line in metrics.splitlines():
        if line.startswith("apiserver_terminated_watchers_total") and 'resource="pods"' in line:
            out["terminated pod watches"] = out.get("terminated pod watches", 0) + int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("apiserver_request_total{"):
            labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.rindex("}")].split(","))
            verb, resource = labels["verb"].strip('"'), labels["resource"].strip('"')
            if verb in ("POST", "PUT", "PATCH", "DELETE", "LIST") and resource != "leases":
                sub = labels.get("subresource", '""').strip('"')
                key = f"{verb} {resource}{'/' + sub if sub else ''}"
                out[key] = out.get(key, 0) + int(float(line.rsplit(" ", 1)[1]))
    return out


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError):
        mem_kib = 0
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version(), "hostname": platform.node()}


def versions() -> dict[str, str]:
    from rayop.local.controlplane.tools import KUBERNETES_VERSION

    out = {"kubernetes": KUBERNETES_VERSION, "kuberay": kuberay.version(), "rayop": operators._rayop_version()}
    for dist in ("kopf", "aiohttp"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "missing"
    return out


def run_one(scenario: str, operator: str, params: Params, outdir: Path, env: dict[str, str] | None = None,
            ) -> dict[str, Any]:
    """Build what is needed, start a fresh control plane and the peer, run the scenario, stop everything."""
    operators.prepare(operator)
    outdir.mkdir(parents=True, exist_ok=True)
    logdir = outdir / "logs" / operator
    logdir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "scenario": scenario, "operator": operator, "params": params_dict(params),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(), "loadavg_before": os.getloadavg(),
    }
    workdir = Path(tempfile.mkdtemp(prefix="rayop-bench-"))
    # kwok's default podPlayStageParallelism (4 pods moved through a stage at a time) caps Ready pods near 20/s on
    # this machine for every peer alike, the bare client included, which would hide the operators' differences.
    cp = ControlPlane.start(ControlPlaneConfig(
        workdir=workdir, node_shapes=node_shapes(params), kwok_per_node=params.kwok_per_node,
        kwok_options={"podPlayStageParallelism": params.kwok_parallelism, "nodePlayStageParallelism": 8,
                      "nodeLeaseParallelism": 8},
        apiserver_args=() if params.pod_watch_cache else ("--watch-cache-sizes=pods#0",)))
    peer: operators.Peer | None = None
    agent = None
    local = needs_local_node(scenario, params)
    try:
        cp.apply_crds(operators.crd_files(operator))
        record["control_plane_start_s"] = round(cp.timings.get("total", 0.0), 2)
        if local:
            t = time.monotonic()
            agent = incluster.start_local_node(cp, logdir)
            record["local_node_start_s"] = round(time.monotonic() - t, 2)
        t = time.monotonic()
        peer = operators.start(operator, cp.kubeconfig, logdir, env,
                               in_cluster=local and operator.startswith("kuberay"))
        record["operator_start_s"] = round(time.monotonic() - t, 2)
        record["operator_version"] = peer.version
        record["operator_flags"] = peer.flags
        record["operator_where"] = peer.where
        pids = cp.component_pids()
        selector = incluster.KWOK_SELECTOR if local else None
        record.update(asyncio.run(_run_async(scenario, peer, cp.kubeconfig, params, pids, selector)))
        record["status"] = "ok"
    except BaseException as exc:
        record["status"] = f"failed: {type(exc).__name__}: {exc}"[:2000]
        if peer and peer.component:
            record["operator_log_tail"] = peer.component.log_tail(40)
        raise
    finally:
        record["loadavg_after"] = os.getloadavg()
        if peer:
            peer.stop()
        if peer and peer.pod_pid is not None and (pod_log := incluster.log_of()):
            shutil.copy(pod_log, logdir / f"{operator}.log")
        if agent:
            agent.stop(grace=30)  # stops every container it runs (KubeRay's pod, Ray heads), then the network
        cp.stop()
        record.setdefault("figures", {})["kwok_rejected_plays"] = kwok_rejected_plays(workdir / "logs")
        for src in (workdir / "logs").glob("*.log"):
            if src.name.startswith(("kube-apiserver", "kube-controller-manager", "kwok")):
                shutil.copy(src, logdir / src.name)
        shutil.rmtree(workdir, ignore_errors=True)
        (outdir / f"{operator}.json").write_text(json.dumps(record, indent=1, default=str))
    return record


async def _run_async(scenario: str, peer: operators.Peer, kubeconfig: Path, params: Params,
                     pids: dict[str, int], node_selector: dict[str, str] | None = None) -> dict[str, Any]:
    client = KubeClient(from_kubeconfig(kubeconfig), field_manager="rayop-bench",
                        max_connections=params.client_connections)
    watcher = Watcher(client, watch_rayclusters=peer.is_operator)
    sampler = TreeSampler(peer.pid, params.sample_interval).start() if peer.pid else None
    try:
        await watcher.start()
        for ns in (NAMESPACE, WARMUP_NAMESPACE):
            await ensure_namespace(client, ns)
        ctx = Context(peer, client, watcher, operators.driver_for(peer, client), params, sampler,
                      pids.get("kube-apiserver"), pids.get("etcd"), node_selector)
        warm = await warm_up(ctx)
        ctx.log(f"warm-up cluster ready in {warm}s; running {scenario}")
        t0 = sampler.mark().t if sampler else time.monotonic()
        api0 = await api_counters(client)
        figures = await ALL_RUNNERS[scenario](ctx)
        figures["warmup_s"] = warm
        api1 = await api_counters(client)
        delta = {k: v - api0.get(k, 0) for k, v in sorted(api1.items()) if v - api0.get(k, 0)}
        figures["terminated_pod_watches"] = delta.pop("terminated pod watches", 0)
        figures["api_writes"] = sum(v for k, v in delta.items() if not k.startswith("LIST"))
        figures["api_requests"] = delta
        if sampler:
            figures["peak_rss_mib"] = mib(sampler.peak_rss_bytes())
            figures["final_rss_mib"] = mib(sampler.mark().rss_bytes)
            kept = [s for s in sampler.samples if s.t >= t0]
            series: dict[str, Any] = {"rss_mib": [(round(s.t - t0, 2), mib(s.rss_bytes)) for s in kept],
                                      "cpu_s": [(round(s.t - t0, 2), round(s.cpu_s, 2)) for s in kept]}
        else:
            figures["peak_rss_mib"] = figures["final_rss_mib"] = None
            series = {}
        series["ready_pods"] = watcher.ready_series
        series["live_pods"] = watcher.created_series
        ctx.log("figures: " + ", ".join(f"{k}={v}" for k, v in figures.items() if not isinstance(v, dict)))
        return {"figures": figures, "series": series}
    finally:
        if sampler:
            sampler.stop()
        await watcher.stop()
        await client.close()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
