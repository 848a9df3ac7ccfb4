"""``rayservice-gcs-ft``: a GCS fault-tolerant RayService keeps serving while its head pod is deleted, under load.

``examples/08-rayservice-gcs-ft/rayservice.yaml`` (the version app, the RayService with ``gcsFaultToleranceOptions``,
KubeRay's sample Redis) is applied as a user applies it. Once the serve Service answers, the load generator
(:mod:`.serveload`) sends ``rayservice_rate`` requests/s through the Service's ClusterIP, and the head pod is
deleted ``BENCH_SERVE_FT_KILLS`` times (default 3). After each deletion the scenario waits for a new head pod to be
Ready and the RayService to be Ready again, then ``rayservice_settle`` seconds more.

Figures: requests and failures (whole run and per kill, with the first errors), p50/p99 latency, per kill the seconds
to a Ready head and to a Ready RayService, and whether the RayService stayed on the same RayCluster with the same
worker pods (a head kill must never roll out a new cluster). The same for every operator: only KubeRay's status
fields, labels and names are read.
"""

from __future__ import annotations

import asyncio
import copy
import os
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from . import serveload
from .gcs_ft import live_pods, pod_ready, wait_until
from .rayservices import SERVE_PORT, answers
from .rollout_watch import RolloutWatch
from .scenarios import NAMESPACE, Context

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "08-rayservice-gcs-ft" / "rayservice.yaml"
KILLS = int(os.environ.get("BENCH_SERVE_FT_KILLS", "3"))


def example_docs(namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """Every document of the example, placed in ``namespace``; nothing else changed."""
    docs = [copy.deepcopy(d) for d in yaml.safe_load_all(EXAMPLE.read_text()) if d]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    return docs


def _window(samples: list[serveload.Sample], start: float, end: float) -> dict[str, Any]:
    inside = [s for s in samples if start <= s.start < end]
    failed = [s for s in inside if not s.ok]
    return {"requests": len(inside), "failed": len(failed), "first_errors": [s.error for s in failed[:3]]}


async def rayservice_gcs_ft(ctx: Context) -> dict[str, Any]:
    if not ctx.peer.is_operator:
        raise ValueError("the rayservice-gcs-ft scenario needs an operator (the bare client has no RayService)")
    p = ctx.params
    docs = example_docs()
    name = next(d for d in docs if d["kind"] == "RayService")["metadata"]["name"]
    watch = RolloutWatch(ctx.client, NAMESPACE, name)
    await watch.start()
    gen: serveload.LoadGenerator | None = None
    out: dict[str, Any] = {"rate": p.rayservice_rate, "concurrency": p.rayservice_concurrency}
    try:
        t0 = time.monotonic()
        for doc in docs:
            await ctx.client.create(doc)
        await watch.wait(lambda: watch.ready() and bool(watch.cluster_ip) and bool(watch.selected()),
                         p.timeout, f"RayService {name} Ready with a serve Service")
        url = f"http://{watch.cluster_ip}:{SERVE_PORT}/"
        out["ready_s"] = round(await answers(url, "v1", p.timeout) - t0, 2)
        cluster = watch.active()
        head_sel = f"ray.io/cluster={cluster},ray.io/node-type=head"
        worker_sel = f"ray.io/cluster={cluster},ray.io/node-type=worker"
        workers = sorted(w["metadata"]["uid"] for w in await live_pods(ctx, worker_sel))
        ctx.log(f"{name} serves at {url} after {out['ready_s']}s on {cluster}; load at {p.rayservice_rate}/s, "
                f"{KILLS} head deletions")
        gen = serveload.LoadGenerator(url, p.rayservice_concurrency, p.rayservice_rate,
                                      max_seconds=KILLS * (p.timeout + 60) + 120).start()
        await asyncio.sleep(p.rayservice_warm)
        kills: list[dict[str, Any]] = []
        for i in range(1, KILLS + 1):
            (old,) = await live_pods(ctx, head_sel)
            old_name = old["metadata"]["name"]
            killed = gen.mark(f"kill-{i}")
            await ctx.client.delete("v1", "pods", old_name, NAMESPACE)

            async def new_head_ready(old_name: str = old_name) -> bool:
                return any(h["metadata"]["name"] != old_name and pod_ready(h) for h in await live_pods(ctx, head_sel))

            head_ready = await wait_until(new_head_ready, p.timeout)
            service_ready = await watch.wait(watch.ready, p.timeout, f"RayService {name} Ready after kill {i}")
            await asyncio.sleep(p.rayservice_settle)
            kills.append({
                "kill": i, "t": killed,
                "head_ready_s": round(head_ready, 2) if head_ready is not None else None,
                "service_ready_s": round(service_ready - killed, 2),
                "same_cluster": watch.active() == cluster and watch.alive() == [cluster],
                "workers_kept": sorted(w["metadata"]["uid"] for w in await live_pods(ctx, worker_sel)) == workers,
            })
            ctx.log(f"kill {i}: head Ready {kills[-1]['head_ready_s']}s, RayService Ready "
                    f"{kills[-1]['service_ready_s']}s, same cluster {kills[-1]['same_cluster']}, workers kept "
                    f"{kills[-1]['workers_kept']}")
        await asyncio.sleep(p.rayservice_tail)
        samples = gen.stop()
        gen = None
        ends = [k["t"] for k in kills[1:]] + [time.monotonic() + 1]
        for kill, end in zip(kills, ends, strict=True):
            kill.update(_window(samples, kill.pop("t"), end))
        summary = serveload.summarize(samples, samples[0].start if samples else 0.0, "v1", "v1")
        ready = [k["head_ready_s"] for k in kills if k["head_ready_s"] is not None]
        out.update({
            "kills": len(kills),
            "requests": summary["requests"], "failed": summary["failed"], "errors": summary["errors"],
            "first_errors": summary["first_errors"], "p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"],
            "max_ms": summary["max_ms"], "pods": summary["pods"],
            "head_ready_p50_s": round(statistics.median(ready), 2) if ready else None,
            "head_ready_max_s": max(ready) if ready else None,
            "same_cluster": sum(k["same_cluster"] for k in kills),
            "workers_kept": sum(k["workers_kept"] for k in kills),
            "max_clusters": watch.max_clusters, "samples": kills,
        })
        ctx.log(f"{out['requests']} requests, {out['failed']} failed (per kill "
                f"{[k['failed'] for k in kills]}), p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms; head Ready "
                f"p50 {out['head_ready_p50_s']}s max {out['head_ready_max_s']}s; at most {watch.max_clusters} "
                f"cluster(s)")
    finally:
        if gen is not None:
            gen.stop()
        await watch.stop()
    return out


SERVE_FT_RUNNERS = {"rayservice-gcs-ft": rayservice_gcs_ft}
