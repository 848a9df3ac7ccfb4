"""``gcs-ft``: head kills on a GCS fault-tolerant RayCluster, the same for every peer (rayop, KubeRay v1.5.0).

KubeRay's ``ray-cluster.external-redis.yaml`` (its redis Deployment included) on the local node, placed there by a
nodeSelector and nothing else changed. A detached actor (0.5 CPU) and a Serve app (0.1 CPU), both on the worker, are
created through the Ray client; then the head pod is deleted ``BENCH_GCS_KILLS`` times (default 10) in a row. For each
kill: seconds until a new head pod is Ready (``head_ready_s``), until the actor answers with the next counter value
through the new head (``actor_s``), whether the worker pods are the same pods, and whether Serve answered on the
worker. The measure is the operator's (how fast it recreates the head) plus Ray's (GCS restore from Redis); it is
taken from outside, from the pods and the Ray client, so every peer is measured alike.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .scenarios import NAMESPACE, Context

SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "kuberay-samples" / "ray-cluster.external-redis.yaml"
LOCAL = {"rayop.io/node-type": "local"}
KILLS = int(os.environ.get("BENCH_GCS_KILLS", "10"))

#: Both the actor and the Serve replica ask for some CPU, so both land on the worker (the head has num-cpus 0): Serve
#: runs its proxy only on nodes with a replica (EveryNode), and a 0-CPU replica placed on the head left the worker
#: without a proxy (seen once in a clean-clone run: the worker refused port 8000).
SETUP = """
import sys, ray
from ray import serve
ray.init(sys.argv[1], namespace="default_namespace", logging_level="ERROR")
@ray.remote(num_cpus=0.5)
class Counter:
    def __init__(self):
        self.value = 0
    def increment(self):
        self.value += 1
        return self.value
c = Counter.options(name="counter_actor", lifetime="detached").remote()
print(ray.get(c.increment.remote(), timeout=120))
@serve.deployment(ray_actor_options={"num_cpus": 0.1})
def hello(request):
    return "hello from serve"
serve.start(http_options={"host": "0.0.0.0", "location": "EveryNode"})
serve.run(hello.bind(), route_prefix="/")
ray.shutdown()
"""
INCREMENT = """
import sys, ray
ray.init(sys.argv[1], namespace="default_namespace", logging_level="ERROR")
print(ray.get(ray.get_actor("counter_actor").increment.remote(), timeout=60))
ray.shutdown()
"""


def _docs() -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(SAMPLE.read_text()) if d]
    for doc in docs:
        doc.setdefault("metadata", {})["namespace"] = NAMESPACE
        if doc["kind"] == "Deployment":
            doc["spec"]["template"]["spec"]["nodeSelector"] = dict(LOCAL)
        if doc["kind"] == "RayCluster":
            for group in [doc["spec"]["headGroupSpec"], *doc["spec"]["workerGroupSpecs"]]:
                group["template"]["spec"]["nodeSelector"] = dict(LOCAL)
    return docs


def _client_script(script: str, head_ip: str, timeout: float = 180) -> str | None:
    try:
        out = subprocess.run([sys.executable, "-c", script, f"ray://{head_ip}:10001"], capture_output=True,
                             text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    return out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else None


def pod_ready(pod: dict[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


async def live_pods(ctx: Context, selector: str) -> list[dict[str, Any]]:
    """The pods matching ``selector`` in the bench namespace that are not being deleted."""
    return [p for p in await ctx.client.list("v1", "pods", NAMESPACE, label_selector=selector)
            if not p["metadata"].get("deletionTimestamp")]


async def wait_until(predicate: Any, timeout: float, step: float = 0.25) -> float | None:
    """Seconds until ``await predicate()`` held (polled every ``step``), None if not within ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await predicate():
            return time.monotonic() - start
        await asyncio.sleep(step)
    return None


def _serve(ip: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{ip}:8000/", timeout=5) as resp:
            return resp.read().decode() == "hello from serve"
    except OSError:
        return False


async def gcs_ft(ctx: Context) -> dict[str, Any]:
    name = "raycluster-external-redis"
    for doc in _docs():
        await ctx.client.create(doc)
    head_sel = f"ray.io/cluster={name},ray.io/node-type=head"
    worker_sel = f"ray.io/cluster={name},ray.io/node-type=worker"

    async def cluster_ready() -> bool:
        obj = await ctx.client.get("ray.io/v1", "rayclusters", name, NAMESPACE)
        return (obj.get("status") or {}).get("state") == "ready"

    if await wait_until(cluster_ready, ctx.params.timeout) is None:
        raise RuntimeError("the external-redis sample never became ready")
    (head,) = await live_pods(ctx, head_sel)
    loop = asyncio.get_running_loop()
    first = await loop.run_in_executor(None, _client_script, SETUP, head["status"]["podIP"], 300)
    if first != "1":
        raise RuntimeError(f"actor/Serve setup failed: {first!r}")
    workers = sorted(p["metadata"]["uid"] for p in await live_pods(ctx, worker_sel))
    worker_ip = (await live_pods(ctx, worker_sel))[0]["status"]["podIP"]
    kills: list[dict[str, Any]] = []
    for i in range(1, KILLS + 1):
        (old,) = await live_pods(ctx, head_sel)
        t0 = time.monotonic()
        await ctx.client.delete("v1", "pods", old["metadata"]["name"], NAMESPACE)

        async def new_head_ready(old_name: str = old["metadata"]["name"]) -> bool:
            return any(p["metadata"]["name"] != old_name and pod_ready(p) for p in await live_pods(ctx, head_sel))

        head_ready = await wait_until(new_head_ready, 300)
        new = [p for p in await live_pods(ctx, head_sel) if p["metadata"]["name"] != old["metadata"]["name"]]
        value = None
        while new and value is None and time.monotonic() - t0 < 300:
            value = await loop.run_in_executor(None, _client_script, INCREMENT, new[0]["status"]["podIP"], 90)
        actor_s = time.monotonic() - t0 if value is not None else None
        kill = {"kill": i, "head_ready_s": round(head_ready, 2) if head_ready is not None else None,
                "actor_s": round(actor_s, 2) if actor_s is not None else None,
                "counter": value, "counter_kept": value == str(i + 1),
                "workers_kept": sorted(p["metadata"]["uid"] for p in await live_pods(ctx, worker_sel)) == workers,
                "serve_answers": await loop.run_in_executor(None, _serve, worker_ip)}
        ctx.log(f"kill {i}: head ready {kill['head_ready_s']} s, actor answered {kill['actor_s']} s "
                f"(counter {value}), workers kept {kill['workers_kept']}, serve {kill['serve_answers']}")
        kills.append(kill)

    def stats(key: str) -> tuple[float | None, float | None]:
        values = [k[key] for k in kills if k[key] is not None]
        return (round(statistics.median(values), 2) if values else None, max(values) if values else None)

    (ready_p50, ready_max), (actor_p50, actor_max) = stats("head_ready_s"), stats("actor_s")
    return {"kills": len(kills), "head_ready_p50_s": ready_p50, "head_ready_max_s": ready_max,
            "actor_p50_s": actor_p50, "actor_max_s": actor_max,
            "counter_kept": sum(k["counter_kept"] for k in kills),
            "workers_kept": sum(k["workers_kept"] for k in kills),
            "serve_answered": sum(k["serve_answers"] for k in kills), "samples": kills}


GCS_FT_RUNNERS = {"gcs-ft": gcs_ft}
