"""The RayJob scenarios: a real job end to end on the local node, and RayJobs as load next to a RayCluster.

* ``rayjob``: ``examples/04-rayjob-local/rayjob.yaml`` (K8sJobMode; head and submitter on the local node, a real Ray
  head process) applied ``rayjob_runs`` times, one after the other under unique names: apply → ``jobStatus:
  SUCCEEDED`` seen on the bench's watch, and the steps on the way. Each run waits for the previous one's cluster to be
  gone (``ttlSecondsAfterFinished: 10``) so every job starts on an idle local node.
* ``rayjob-load``: an unrelated RayCluster scaled 1 ↔ 4 ``rayjob_cycles`` times alone, then ``rayjob_jobs`` RayJobs
  (``rayjob_load_mode``, HTTPMode by default) whose clusters live on kwok nodes (their dashboards never answer: kwok
  pod IPs are blackholed on this machine), all Running, a quiet ``rayjob_settle`` window, and the same cycles again:
  the cluster's scale latency with and without the jobs, and the operator's CPU in each window.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from rayop.kube.client import KubeClient
from rayop.kube.informer import Informer

from .incluster import KWOK_SELECTOR
from .observe import BENCH_LABEL
from .scenarios import GROUP, IMAGE, NAMESPACE, Context, _churn, ensure_namespace, manifest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "04-rayjob-local" / "rayjob.yaml"
JOBS_NAMESPACE = "bench-jobs"
FINAL = ("Complete", "Failed")


class JobWatch:
    """Every RayJob of a namespace as last seen, and when each ``jobDeploymentStatus`` and ``jobStatus`` was first
    seen (``time.monotonic()``), from rayop's informer as the pod watcher does."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.status: dict[str, dict[str, Any]] = {}
        self.first_seen: dict[str, dict[str, float]] = defaultdict(dict)
        self._events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._any = asyncio.Event()
        self._informer = Informer(client, "ray.io/v1", "rayjobs", namespace=namespace, on_change=self._on_job)

    async def start(self) -> None:
        self._informer.start()
        await asyncio.wait_for(self._informer.synced.wait(), 60)

    async def stop(self) -> None:
        await self._informer.stop()

    def _on_job(self, kind: str, job: dict[str, Any]) -> None:
        name = (job.get("metadata") or {}).get("name", "")
        now = time.monotonic()
        status = dict(job.get("status") or {})
        self.status[name] = status
        seen = self.first_seen[name]
        for key in ("jobDeploymentStatus", "jobStatus"):
            if status.get(key):
                seen.setdefault(f"{key}={status[key]}", now)
        if status.get("rayClusterName"):
            seen.setdefault("rayClusterName", now)
        self._events[name].set()
        self._any.set()

    async def wait(self, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> float:
        event = self._events[name]
        deadline = time.monotonic() + timeout
        while True:
            event.clear()
            if predicate(self.status.get(name, {})):
                return time.monotonic()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"RayJob {name}: not reached in {timeout:.0f}s (status {self.status.get(name)})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 5.0))

    def counts(self, key: str = "jobDeploymentStatus") -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for status in self.status.values():
            out[str(status.get(key) or "")] += 1
        return dict(sorted(out.items()))


def _refuse_ceiling(ctx: Context) -> None:
    if not ctx.peer.is_operator:
        raise ValueError("the RayJob scenarios need an operator (the bare client has no RayJob)")


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


async def _local_pods_gone(client: KubeClient, namespace: str, timeout: float) -> float | None:
    """Seconds until no pod of ``namespace`` is still running or pending (the finished submitter may stay); None if
    some still run after ``timeout`` (the operator did not delete the cluster): the next run then shares the node."""
    start = time.monotonic()
    while True:
        pods = await client.list("v1", "pods", namespace)
        if all((p.get("status") or {}).get("phase") in ("Succeeded", "Failed") for p in pods):
            return round(time.monotonic() - start, 2)
        if time.monotonic() - start > timeout:
            return None
        await asyncio.sleep(0.5)


async def rayjob(ctx: Context) -> dict[str, Any]:
    """The example RayJob, ``rayjob_runs`` times in a row: apply → SUCCEEDED, median and every run."""
    _refuse_ceiling(ctx)
    p = ctx.params
    example = yaml.safe_load(EXAMPLE.read_text())
    jobs = JobWatch(ctx.client, NAMESPACE)
    await jobs.start()
    runs: list[dict[str, Any]] = []
    cpu0 = ctx.cpu()
    try:
        for i in range(p.rayjob_runs):
            name = f"{example['metadata']['name']}-{i}"
            body = copy.deepcopy(example)
            body["metadata"].update({"name": name, "namespace": NAMESPACE})
            t0 = time.monotonic()
            await ctx.client.create(body)
            done = await jobs.wait(name, lambda s: s.get("jobDeploymentStatus") in FINAL, p.timeout)
            seen = jobs.first_seen[name]
            status = jobs.status[name]
            run = {"name": name, "jobStatus": status.get("jobStatus"),
                   "jobDeploymentStatus": status.get("jobDeploymentStatus"), "reason": status.get("reason"),
                   "final_s": round(done - t0, 2)}
            for label, key in (("cluster_named_s", "rayClusterName"),
                               ("initializing_s", "jobDeploymentStatus=Initializing"),
                               ("deployment_running_s", "jobDeploymentStatus=Running"),
                               ("job_running_s", "jobStatus=RUNNING"), ("succeeded_s", "jobStatus=SUCCEEDED"),
                               ("complete_s", "jobDeploymentStatus=Complete")):
                run[label] = round(seen[key] - t0, 2) if key in seen else None
            run["teardown_s"] = await _local_pods_gone(ctx.client, NAMESPACE, 30)
            ctx.log(f"{name}: {run['jobDeploymentStatus']}/{run['jobStatus'] or '-'} ({run['reason'] or '-'}) in "
                    f"{run['final_s']}s, SUCCEEDED at {run['succeeded_s']} s, local node idle "
                    f"{run['teardown_s']} s later")
            runs.append(run)
    finally:
        await jobs.stop()
    cpu1 = ctx.cpu()

    def med(key: str) -> float | None:
        return _median([r[key] for r in runs if r.get(key) is not None])

    return {
        "runs": len(runs), "succeeded": sum(1 for r in runs if r["jobStatus"] == "SUCCEEDED"),
        "succeeded_p50_s": med("succeeded_s"),
        "succeeded_min_s": min((r["succeeded_s"] for r in runs if r["succeeded_s"] is not None), default=None),
        "succeeded_max_s": max((r["succeeded_s"] for r in runs if r["succeeded_s"] is not None), default=None),
        "complete_p50_s": med("complete_s"), "deployment_running_p50_s": med("deployment_running_s"),
        "job_running_p50_s": med("job_running_s"), "teardown_p50_s": med("teardown_s"),
        "operator_cpu_s": round(cpu1["operator"] - cpu0["operator"], 2),
        "apiserver_cpu_s": round(cpu1["apiserver"] - cpu0["apiserver"], 2),
        "samples": runs,
    }


def load_job(name: str, mode: str = "HTTPMode") -> dict[str, Any]:
    """A RayJob whose head (and, in K8sJobMode, submitter) go to kwok nodes: its cluster gets ready, its dashboard
    never answers."""
    body: dict[str, Any] = {
        "apiVersion": "ray.io/v1", "kind": "RayJob",
        "metadata": {"name": name, "namespace": JOBS_NAMESPACE, "labels": {BENCH_LABEL[0]: BENCH_LABEL[1]}},
        "spec": {"entrypoint": "python -c 'print(42)'", "submissionMode": mode,
                 "rayClusterSpec": manifest(name, 0, JOBS_NAMESPACE, node_selector=KWOK_SELECTOR)["spec"]},
    }
    if mode == "K8sJobMode":
        submitter = {"name": "ray-job-submitter", "image": IMAGE,
                     "resources": {"requests": {"cpu": "10m", "memory": "64Mi"},
                                   "limits": {"cpu": "1", "memory": "1Gi"}}}
        body["spec"]["submitterPodTemplate"] = {"spec": {"restartPolicy": "Never", "nodeSelector": dict(KWOK_SELECTOR),
                                                         "containers": [submitter]}}
    return body


def _window_cpu(ctx: Context, before: dict[str, float], seconds: float) -> dict[str, float]:
    after = ctx.cpu()
    minutes = seconds / 60
    return {"operator_cpu_s_per_min": round((after["operator"] - before["operator"]) / minutes, 2),
            "apiserver_cpu_s_per_min": round((after["apiserver"] - before["apiserver"]) / minutes, 2)}


async def rayjob_load(ctx: Context) -> dict[str, Any]:
    """Scale one RayCluster 1 ↔ 4 alone, then next to ``rayjob_jobs`` RayJobs that never finish."""
    _refuse_ceiling(ctx)
    p = ctx.params
    await ensure_namespace(ctx.client, JOBS_NAMESPACE)
    key = (NAMESPACE, "rc-scale")
    await ctx.driver.create(manifest(key[1], 1, node_selector=KWOK_SELECTOR))
    await ctx.watcher.wait(key, ctx.cluster_ready(1), p.timeout)
    out: dict[str, Any] = {"jobs": p.rayjob_jobs, "cycles": p.rayjob_cycles, "mode": p.rayjob_load_mode}

    async def quiet(label: str) -> None:
        cpu0 = ctx.cpu()
        await asyncio.sleep(p.rayjob_settle)
        out.update({f"{label}_{k}": v for k, v in _window_cpu(ctx, cpu0, p.rayjob_settle).items()})

    async def cycles(label: str) -> None:
        got = await _churn(ctx, [key[1]], p.rayjob_cycles, 1, 4)
        for k in ("latency_p50_s", "latency_p99_s", "latency_max_s", "up_p50_s", "down_p50_s", "churn_total_s",
                  "churn_operator_cpu_s", "samples"):
            out[f"{label}_{k}"] = got[k]
        ctx.log(f"{label}: scale p50 {got['latency_p50_s']}s p99 {got['latency_p99_s']}s, "
                f"operator CPU {got['churn_operator_cpu_s']}s")

    await quiet("alone_idle")
    await cycles("alone")
    jobs = JobWatch(ctx.client, JOBS_NAMESPACE)
    await jobs.start()
    try:
        names = [f"job-{i:04d}" for i in range(p.rayjob_jobs)]
        cpu0 = ctx.cpu()
        t0 = time.monotonic()
        await asyncio.gather(*(ctx.client.create(load_job(n, p.rayjob_load_mode)) for n in names))
        ctx.log(f"created {len(names)} RayJobs; waiting for each to be Running")
        running = await asyncio.gather(*(jobs.wait(n, lambda s: s.get("jobDeploymentStatus") in ("Running", *FINAL),
                                                   p.timeout) for n in names))
        out["jobs_running_s"] = round(max(running) - t0, 2)
        out["jobs_setup_operator_cpu_s"] = round(ctx.cpu()["operator"] - cpu0["operator"], 2)
        ctx.log(f"{len(names)} RayJobs Running after {out['jobs_running_s']}s: {jobs.counts()}")
        await quiet("jobs_idle")
        await cycles("jobs")
        out["jobs_final_deployment_status"] = jobs.counts()
        out["jobs_final_job_status"] = jobs.counts("jobStatus")
        out["jobs_final_reason"] = jobs.counts("reason")
    finally:
        await jobs.stop()
    for k in ("latency_p50_s", "latency_p99_s", "churn_operator_cpu_s"):
        a, b = out.get(f"alone_{k}"), out.get(f"jobs_{k}")
        out[f"jobs_over_alone_{k}"] = round(b / a, 2) if a and b is not None else None
    a, b = out.get("alone_idle_operator_cpu_s_per_min"), out.get("jobs_idle_operator_cpu_s_per_min")
    out["jobs_over_alone_idle_cpu"] = round(b / a, 2) if a and b is not None else None
    out["group"] = GROUP
    return out


RAYJOB_RUNNERS = {"rayjob": rayjob, "rayjob-load": rayjob_load}
