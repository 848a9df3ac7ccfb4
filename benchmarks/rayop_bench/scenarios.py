"""The scenarios of issue #6, each a coroutine that acts through a driver and measures through the watcher.

Every scale is a field of :class:`Params`, so the same code runs the issue's sizes (``Params()``), a reduced run
(``--clusters 50``) and the few-cluster smoke scenario of the test suite. Times are ``time.monotonic()`` on the
benchmark side: "ready" means seen Ready on the watch, which is what a user of the cluster would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from rayop.kube.client import Conflict, KubeClient

from .observe import BENCH_LABEL, ClusterPods, Key, Watcher
from .operators import Driver, Peer
from .sampler import TreeSampler, cpu_seconds, mib

SCENARIOS = ("burst", "fairness", "steady", "churn", "smoke", "rayjob", "rayjob-load", "gcs-ft", "rayservice",
             "rayservice-restarts", "rayservice-gcs-ft")
NAMESPACE = "bench"
WARMUP_NAMESPACE = "bench-warmup"
GROUP = "workers"
IMAGE = "rayproject/ray:2.52.0"


@dataclass
class Params:
    """Sizes of every scenario (defaults: the issue's figures)."""

    clusters: int = 200  # burst: RayClusters created at once
    workers: int = 4  # burst/steady: workers per cluster (plus one head)
    big_workers: int = 500  # fairness: the big scale-up
    fairness_delay: float = 2.0  # fairness: seconds between the big and the small scale request
    steady_pods: int = 1000  # steady: managed pods (clusters of 1 + workers)
    idle_seconds: float = 120.0  # steady: idle window
    churn_clusters: int = 50
    churn_cycles: int = 10  # churn: up-and-down cycles per cluster
    churn_low: int = 1
    churn_high: int = 4
    timeout: float = 1200.0  # any single wait
    client_connections: int = 32  # the harness's (and the ceiling's) HTTP/1.1 connections; 100 was slower (TLS, CPU)
    sample_interval: float = 0.5
    kwok_parallelism: int = 32  # kwok's podPlayStageParallelism (its default 4 caps Ready pods near 20/s)
    pod_watch_cache: bool = True  # False: kube-apiserver serves pod watches from etcd (--watch-cache-sizes=pods#0)
    kwok_per_node: bool = True  # one kwok per node, as one kubelet per node (False: one kwok for every node)
    rayjob_runs: int = 5  # rayjob: the example RayJob applied this many times, one after the other
    rayjob_jobs: int = 100  # rayjob-load: RayJobs on kwok nodes (their dashboards never answer)
    rayjob_cycles: int = 5  # rayjob-load: 1 <-> 4 cycles of the unrelated cluster, without and with the jobs
    rayjob_settle: float = 30.0  # rayjob-load: seconds with every job Running before the loaded cycles (idle CPU)
    kuberay_in_cluster: bool = True  # rayjob-load: KubeRay as a pod on the local node (no: on the host)
    #: rayjob-load: HTTPMode keeps every job Running (polling a dead dashboard); in K8sJobMode kwok completes the
    #: submitter pod at once (its pod-complete stage), so each job ends about 30 s later (submitter done, no job).
    rayjob_load_mode: str = "HTTPMode"
    rayservice_rate: float = 50.0  # rayservice: requests/s through the serve Service (each on a new connection)
    rayservice_concurrency: int = 4  # rayservice: load threads (requests in flight at most)
    rayservice_warm: float = 15.0  # rayservice: seconds of load before the upgrade
    rayservice_settle: float = 5.0  # rayservice: only the new version answers for this long = "new version only"
    rayservice_tail: float = 5.0  # rayservice: seconds of load after the old cluster is gone

    @classmethod
    def smoke(cls) -> Params:
        return cls(clusters=3, workers=2, churn_cycles=1, churn_low=1, churn_high=3, timeout=45.0)


def manifest(name: str, workers: int, namespace: str = NAMESPACE, max_workers: int = 1000,
             node_selector: dict[str, str] | None = None) -> dict[str, Any]:
    """The RayCluster both operators get (and the ceiling builds pods from): 1 head, one worker group, tiny requests.

    ``node_selector`` pins the pods to kwok nodes when a local node is up (it would run them as real processes).
    """
    def container(cname: str, ports: bool) -> dict[str, Any]:
        c: dict[str, Any] = {"name": cname, "image": IMAGE,
                             "resources": {"requests": {"cpu": "10m", "memory": "64Mi"},
                                           "limits": {"cpu": "1", "memory": "1Gi"}}}
        if ports:
            c["ports"] = [{"containerPort": 6379, "name": "gcs-server"},
                          {"containerPort": 8265, "name": "dashboard"},
                          {"containerPort": 10001, "name": "client"}]
        return c

    def template(cname: str, ports: bool) -> dict[str, Any]:
        spec: dict[str, Any] = {"containers": [container(cname, ports)]}
        if node_selector:
            spec["nodeSelector"] = dict(node_selector)
        return {"spec": spec}

    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name, "namespace": namespace, "labels": {BENCH_LABEL[0]: BENCH_LABEL[1]}},
        "spec": {
            "rayVersion": "2.52.0",
            "headGroupSpec": {"rayStartParams": {},
                              "template": template("ray-head", True)},
            "workerGroupSpecs": [{
                "groupName": GROUP, "replicas": workers, "minReplicas": 0, "maxReplicas": max(max_workers, workers),
                "rayStartParams": {}, "template": template("ray-worker", False),
            }],
        },
    }


@dataclass
class Context:
    peer: Peer
    client: KubeClient
    watcher: Watcher
    driver: Driver
    params: Params
    sampler: TreeSampler | None
    apiserver_pid: int | None
    etcd_pid: int | None
    #: Where the bench's own clusters go when a local node is up (kwok nodes only).
    node_selector: dict[str, str] | None = None

    def log(self, msg: str) -> None:
        print(f"[{self.peer.name} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def cluster_ready(self, workers: int) -> Callable[[ClusterPods, str], bool]:
        """Pods match the spec (and, for operators, the RayCluster reports ``ready``)."""
        need_state = self.peer.is_operator
        return lambda pods, state: pods.matches(GROUP, workers) and (not need_state or state == "ready")

    def pods_match(self, workers: int) -> Callable[[ClusterPods, str], bool]:
        return lambda pods, _state: pods.matches(GROUP, workers)

    def cpu(self) -> dict[str, float]:
        """Cumulative CPU seconds of the operator tree, kube-apiserver and etcd right now."""
        return {
            "operator": self.sampler.mark().cpu_s if self.sampler else 0.0,
            "apiserver": cpu_seconds(self.apiserver_pid) if self.apiserver_pid else 0.0,
            "etcd": cpu_seconds(self.etcd_pid) if self.etcd_pid else 0.0,
        }


def _cpu_delta(before: dict[str, float], after: dict[str, float], is_operator: bool) -> dict[str, float | None]:
    return {
        "operator_cpu_s": round(after["operator"] - before["operator"], 2) if is_operator else None,
        "apiserver_cpu_s": round(after["apiserver"] - before["apiserver"], 2),
        "etcd_cpu_s": round(after["etcd"] - before["etcd"], 2),
    }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 3)


async def ensure_namespace(client: KubeClient, name: str) -> None:
    with contextlib.suppress(Conflict):
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


async def warm_up(ctx: Context) -> float:
    """One 0-worker cluster to ready: proves the peer works (caches synced, workers running) before any clock starts.

    It stays (one idle head pod, in its own namespace): deleting it would leave the garbage collector removing its pod
    during the scenario, because the collector only learns new CRD types at its next 30 s discovery resync.
    """
    t = time.monotonic()
    key = (WARMUP_NAMESPACE, "warmup")
    await ctx.driver.create(manifest("warmup", 0, WARMUP_NAMESPACE, node_selector=ctx.node_selector))
    await ctx.watcher.wait(key, ctx.cluster_ready(0), 120)
    return round(time.monotonic() - t, 2)


async def _create_and_wait(ctx: Context, names: list[str], workers: int) -> dict[str, Any]:
    """Create clusters at once; wait until each is ready. Figures relative to the first create."""
    keys: list[Key] = [(NAMESPACE, n) for n in names]
    total_pods = len(names) * (1 + workers)
    base_ready = ctx.watcher.ready_total
    base_live = ctx.watcher.live_total
    ctx.watcher.reset_clock()
    cpu0 = ctx.cpu()
    t0 = time.monotonic()
    await asyncio.gather(*(ctx.driver.create(manifest(n, workers)) for n in names))
    created_crs = time.monotonic() - t0
    ctx.log(f"created {len(names)} clusters in {created_crs:.1f}s; waiting for {total_pods} pods")
    progress = asyncio.create_task(_progress(ctx, base_ready + total_pods))
    try:
        done = await asyncio.gather(*(ctx.watcher.wait(k, ctx.cluster_ready(workers), ctx.params.timeout)
                                      for k in keys))
    finally:
        progress.cancel()
    end = max(done)
    cpu1 = ctx.cpu()
    per_cluster = [d - t0 for d in done]
    pods_ready = next((t for t, n in ctx.watcher.ready_series if n >= base_ready + total_pods), end - t0)
    created = next((t for t, n in ctx.watcher.created_series if n >= base_live + total_pods), None)
    first_pod = next((t for t, n in ctx.watcher.ready_series if n > base_ready), None)
    return {
        "clusters": len(names), "pods": total_pods,
        "create_s": round(created_crs, 2),
        "pods_created_s": round(created, 2) if created is not None else None,
        "pods_created_per_s": round(total_pods / created, 1) if created else None,
        "ready_s": round(end - t0, 2),
        "pods_ready_s": round(pods_ready, 2),
        "first_pod_ready_s": round(first_pod, 2) if first_pod is not None else None,
        "pods_per_s": round(total_pods / pods_ready, 1) if pods_ready else None,
        "cluster_ready_p50_s": _pct(per_cluster, 50),
        "cluster_ready_p99_s": _pct(per_cluster, 99),
        **_cpu_delta(cpu0, cpu1, ctx.peer.is_operator),
    }


async def _progress(ctx: Context, target: int) -> None:
    while True:
        await asyncio.sleep(10)
        ctx.log(f"{ctx.watcher.ready_total}/{target} pods ready after {ctx.watcher.since():.0f}s")


async def burst(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    return await _create_and_wait(ctx, [f"rc-{i:04d}" for i in range(p.clusters)], p.workers)


async def fairness(ctx: Context) -> dict[str, Any]:
    """A scales 0 → big; ``fairness_delay`` later B scales 0 → 1; B's latency is the figure."""
    p = ctx.params
    big, small = (NAMESPACE, "rc-big"), (NAMESPACE, "rc-small")
    for key in (big, small):
        await ctx.driver.create(manifest(key[1], 0, max_workers=p.big_workers))
    await asyncio.gather(*(ctx.watcher.wait(k, ctx.cluster_ready(0), p.timeout) for k in (big, small)))
    ctx.watcher.reset_clock()
    cpu0 = ctx.cpu()
    t0 = time.monotonic()
    big_scale = asyncio.create_task(ctx.driver.scale(*big, GROUP, p.big_workers))
    await asyncio.sleep(p.fairness_delay)
    t1 = time.monotonic()
    big_ready_at_small = ctx.watcher.clusters[big].ready_workers(GROUP)
    await ctx.driver.scale(*small, GROUP, 1)
    small_done = await ctx.watcher.wait(small, ctx.pods_match(1), p.timeout)
    ctx.log(f"small cluster scaled in {small_done - t1:.2f}s; waiting for {p.big_workers} workers")
    big_done = await ctx.watcher.wait(big, ctx.pods_match(p.big_workers), p.timeout)
    await big_scale
    cpu1 = ctx.cpu()
    return {
        "big_workers": p.big_workers, "delay_s": p.fairness_delay,
        "small_latency_s": round(small_done - t1, 2),
        "big_ready_s": round(big_done - t0, 2),
        "big_workers_ready_when_small_asked": big_ready_at_small,
        "big_pods_per_s": round(p.big_workers / (big_done - t0), 1),
        **_cpu_delta(cpu0, cpu1, ctx.peer.is_operator),
    }


async def steady(ctx: Context) -> dict[str, Any]:
    """About ``steady_pods`` pods under management, then an idle window: memory and CPU per minute."""
    p = ctx.params
    n = max(1, p.steady_pods // (1 + p.workers))
    setup = await _create_and_wait(ctx, [f"rc-{i:04d}" for i in range(n)], p.workers)
    await asyncio.sleep(5)  # let status writes and events settle before the quiet window
    ctx.log(f"{setup['pods']} pods ready; idle for {p.idle_seconds:.0f}s")
    cpu0 = ctx.cpu()
    t0 = time.monotonic()
    await asyncio.sleep(p.idle_seconds)
    cpu1 = ctx.cpu()
    minutes = (time.monotonic() - t0) / 60
    out: dict[str, Any] = {"clusters": n, "pods": setup["pods"], "setup_s": setup["ready_s"],
                           "idle_s": p.idle_seconds}
    if ctx.sampler:
        window = ctx.sampler.window(t0, time.monotonic())
        out["rss_mib"] = mib(window[-1].rss_bytes)
        out["rss_mean_mib"] = mib(statistics.fmean(s.rss_bytes for s in window))
        out["operator_cpu_s_per_min"] = round((cpu1["operator"] - cpu0["operator"]) / minutes, 2)
    else:
        out["rss_mib"] = out["rss_mean_mib"] = out["operator_cpu_s_per_min"] = None
    out["apiserver_cpu_s_per_min"] = round((cpu1["apiserver"] - cpu0["apiserver"]) / minutes, 2)
    return out


async def _churn(ctx: Context, names: list[str], cycles: int, low: int, high: int) -> dict[str, Any]:
    p = ctx.params
    ups: list[float] = []
    downs: list[float] = []

    async def one(name: str) -> None:
        key = (NAMESPACE, name)
        for _ in range(cycles):
            for target, sink in ((high, ups), (low, downs)):
                t = time.monotonic()
                await ctx.driver.scale(*key, GROUP, target)
                sink.append(await ctx.watcher.wait(key, ctx.pods_match(target), p.timeout) - t)

    cpu0 = ctx.cpu()
    t0 = time.monotonic()
    await asyncio.gather(*(one(n) for n in names))
    cpu1 = ctx.cpu()
    both = ups + downs
    return {
        "churn_clusters": len(names), "cycles": cycles, "low": low, "high": high, "changes": len(both),
        "churn_total_s": round(time.monotonic() - t0, 2),
        "latency_p50_s": _pct(both, 50), "latency_p99_s": _pct(both, 99),
        "latency_max_s": round(max(both), 3) if both else None,
        "up_p50_s": _pct(ups, 50), "up_p99_s": _pct(ups, 99),
        "down_p50_s": _pct(downs, 50), "down_p99_s": _pct(downs, 99),
        **{f"churn_{k}": v for k, v in _cpu_delta(cpu0, cpu1, ctx.peer.is_operator).items()},
        # Every sample, in completion order, for anyone who wants the distribution (not shown in tables).
        "samples": {"up_s": [round(x, 3) for x in ups], "down_s": [round(x, 3) for x in downs]},
    }


async def churn(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    names = [f"rc-{i:04d}" for i in range(p.churn_clusters)]
    setup = await _create_and_wait(ctx, names, p.churn_low)
    ctx.log(f"{len(names)} clusters ready in {setup['ready_s']}s; churning")
    return {"setup_s": setup["ready_s"], **await _churn(ctx, names, p.churn_cycles, p.churn_low, p.churn_high)}


async def smoke(ctx: Context) -> dict[str, Any]:
    """A tiny burst, then one up-and-down cycle of each cluster: every code path of the harness, in seconds."""
    p = ctx.params
    names = [f"rc-{i:04d}" for i in range(p.clusters)]
    out = await _create_and_wait(ctx, names, p.workers)
    out.update(await _churn(ctx, names, p.churn_cycles, p.churn_low, p.churn_high))
    return out


RUNNERS: dict[str, Callable[[Context], Awaitable[dict[str, Any]]]] = {
    "burst": burst, "fairness": fairness, "steady": steady, "churn": churn, "smoke": smoke,
}


def params_dict(p: Params) -> dict[str, Any]:
    return asdict(p)
