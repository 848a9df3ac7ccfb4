"""The ``rayservice`` scenario: a blue/green RayService upgrade under continuous load, on the local node.

``examples/05-rayservice-local/rayservice.yaml`` (a ConfigMap with the app's code and the RayService) is applied;
once the RayService is Ready and its serve Service answers ``v1`` from the host, the load generator
(:mod:`.serveload`) sends ``rayservice_rate`` requests/s through the Service's ClusterIP; ``rayservice_warm``
seconds later the spec is changed to ``rayservice-v2.yaml`` (the app's version and the head's image tag, so the
operator must roll out a new cluster). The load goes on until only ``v2`` has answered for ``rayservice_settle``
seconds **and** the old RayCluster is gone from the API, then ``rayservice_tail`` seconds more.

Figures: requests and failures (through the whole upgrade), p50/p99 latency, seconds from the spec change to the
new cluster's creation, to the serve Service's switch, to the last ``v1`` answer, to "v2 only", and to the old
cluster's deletion (the upgrade's duration); the most RayClusters that existed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from pathlib import Path
from typing import Any

import yaml

from rayop.kube.client import Conflict, KubeClient, NotFound

from . import serveload
from .rollout_watch import RolloutWatch
from .scenarios import NAMESPACE, Context

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "05-rayservice-local"
V1, V2 = EXAMPLE_DIR / "rayservice.yaml", EXAMPLE_DIR / "rayservice-v2.yaml"
SERVE_PORT = 8000


def example(path: Path, namespace: str = NAMESPACE) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ConfigMap, RayService) of one example file, placed in ``namespace``."""
    docs = {d["kind"]: d for d in yaml.safe_load_all(path.read_text()) if d}
    out = []
    for kind in ("ConfigMap", "RayService"):
        doc = copy.deepcopy(docs[kind])
        doc["metadata"]["namespace"] = namespace
        out.append(doc)
    return out[0], out[1]


def app_version(path: Path) -> str:
    """The ``args.version`` of the example's only Serve application (what its answers say)."""
    config = yaml.safe_load(example(path)[1]["spec"]["serveConfigV2"])
    return str(config["applications"][0]["args"]["version"])


async def apply_example(client: KubeClient, path: Path, namespace: str = NAMESPACE) -> dict[str, Any]:
    """Create the example's ConfigMap and RayService (as ``kubectl apply`` of the file would); returns the latter."""
    cm, svc = example(path, namespace)
    with contextlib.suppress(Conflict):
        await client.create(cm)
    await client.create(svc)
    return svc


async def upgrade_to(client: KubeClient, path: Path, namespace: str = NAMESPACE,
                     spec_extra: dict[str, Any] | None = None) -> None:
    """Give the running RayService the spec of ``path``, with ``spec_extra``'s top-level fields over it (one merge
    patch of ``spec``: lists are replaced whole)."""
    svc = example(path, namespace)[1]
    spec = {**svc["spec"], **(spec_extra or {})}
    await client.patch("ray.io/v1", "rayservices", svc["metadata"]["name"], {"spec": spec}, namespace)


async def answers(url: str, version: str, timeout: float) -> float:
    """Wait until ``GET url`` from the host answers ``version`` (one request a second); returns when."""
    parts = url.split("/")
    host, port = parts[2].rsplit(":", 1)
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        if not await asyncio.to_thread(serveload.stays_on_this_machine, host):
            raise RuntimeError(f"{host} is not routed to the local node: not sending requests there")
        sample = await asyncio.to_thread(serveload.request_once, host, int(port), "/", 3.0)
        if sample.ok and sample.version == version:
            return time.monotonic()
        last = sample.error or f"answered {sample.version}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer {version} within {timeout:.0f}s (last: {last})")
        await asyncio.sleep(1.0)


async def _require_crd(client: KubeClient, peer: str) -> None:
    try:
        await client.list("ray.io/v1", "rayservices", NAMESPACE)
    except NotFound as exc:
        raise RuntimeError(f"{peer}: the API server has no ray.io/v1 RayService (for rayop: is "
                           f"crds/ray.io_rayservices.yaml generated?)") from exc


def _since(t: float | None, origin: float) -> float | None:
    return None if t is None else round(t - origin, 2)


async def rayservice(ctx: Context) -> dict[str, Any]:
    if not ctx.peer.is_operator:
        raise ValueError("the rayservice scenario needs an operator (the bare client has no RayService)")
    p = ctx.params
    await _require_crd(ctx.client, ctx.peer.name)
    old_version, new_version = app_version(V1), app_version(V2)
    name = example(V1)[1]["metadata"]["name"]
    watch = RolloutWatch(ctx.client, NAMESPACE, name)
    await watch.start()
    out: dict[str, Any] = {"rate": p.rayservice_rate, "concurrency": p.rayservice_concurrency}
    gen: serveload.LoadGenerator | None = None
    try:
        t0 = time.monotonic()
        await apply_example(ctx.client, V1)
        await watch.wait(lambda: watch.ready() and bool(watch.cluster_ip) and bool(watch.selected()),
                         p.timeout, f"RayService {name} Ready with a serve Service")
        url = f"http://{watch.cluster_ip}:{SERVE_PORT}/"
        served = await answers(url, old_version, p.timeout)
        out["ready_s"] = round(served - t0, 2)
        old_clusters = watch.alive()
        ctx.log(f"{name} serves {old_version} at {url} after {out['ready_s']}s (clusters {old_clusters}); "
                f"load at {p.rayservice_rate}/s for {p.rayservice_warm}s, then the upgrade")
        gen = serveload.LoadGenerator(url, p.rayservice_concurrency, p.rayservice_rate,
                                      max_seconds=p.timeout + p.rayservice_warm + 60).start()
        await asyncio.sleep(p.rayservice_warm)
        cpu0 = ctx.cpu()
        change = gen.mark("change")
        await upgrade_to(ctx.client, V2)
        load = gen

        def new_only_settled() -> bool:
            recent = [s for s in load.snapshot() if s.start >= time.monotonic() - p.rayservice_settle]
            return (time.monotonic() - change > p.rayservice_settle and bool(recent)
                    and all(s.ok and s.version == new_version for s in recent))

        new_only = await watch.wait(new_only_settled, p.timeout, f"only {new_version} answers")
        ctx.log(f"only {new_version} answered for {p.rayservice_settle}s at {new_only - change:.1f}s after the "
                f"change; waiting for {old_clusters} to be gone")
        gone = await watch.wait(lambda: not set(old_clusters) & set(watch.alive()), p.timeout,
                                f"old cluster(s) {old_clusters} deleted")
        await asyncio.sleep(p.rayservice_tail)
        samples = gen.stop()
        gen = None
        cpu1 = ctx.cpu()
        new_clusters = [life for n, life in watch.clusters.items() if n not in old_clusters]
        created = min((life.added for life in new_clusters), default=None)
        target = watch.selected()
        out.update(serveload.summarize(samples, change, old_version, new_version))
        out.update({
            "pending_created_s": _since(created, change),
            "switch_s": _since(watch.switched_at(target) if target not in old_clusters else None, change),
            "old_gone_s": round(gone - change, 2),
            "max_clusters": watch.max_clusters,
            "clusters_seen": len(watch.clusters),
            "serving_cluster": target,
            "final_active": watch.active(), "final_pending": watch.pending(),
            "upgrade_operator_cpu_s": round(cpu1["operator"] - cpu0["operator"], 2),
            "load_samples": {"origin": "the spec change", "samples": serveload.samples_json(samples, change)},
        })
        ctx.log(f"upgrade: {out['requests']} requests, {out['failed']} failed, p50 {out['p50_ms']} ms, p99 "
                f"{out['p99_ms']} ms; switch at {out['switch_s']}s, last {old_version} at {out['last_old_s']}s, "
                f"old cluster gone at {out['old_gone_s']}s; at most {out['max_clusters']} clusters")
    finally:
        if gen is not None:
            gen.stop()
        await watch.stop()
    return out


async def rayservice_restarts(ctx: Context) -> dict[str, Any]:
    """rayop only: the example's upgrade four times (v1 → v2 → v1 ...), the operator SIGKILLed at one rollout step
    each time and restarted (:mod:`.rollout_kill`); every check's outcome is a figure."""
    from .rollout_kill import STEPS, RestartableComponent, kill_at_step_with

    if ctx.peer.name != "rayop" or ctx.peer.component is None:
        raise ValueError("rayservice-restarts kills and restarts the operator process: rayop on the host only")
    p = ctx.params
    await _require_crd(ctx.client, ctx.peer.name)
    name = example(V1)[1]["metadata"]["name"]
    watch = RolloutWatch(ctx.client, NAMESPACE, name)
    await watch.start()
    try:
        await apply_example(ctx.client, V1)
        await watch.wait(lambda: watch.ready() and bool(watch.selected()), p.timeout, f"RayService {name} Ready")
    finally:
        await watch.stop()
    operator = RestartableComponent(ctx.peer.component)
    out: dict[str, Any] = {"steps": list(STEPS)}
    target = V2
    passed = 0
    for step in STEPS:
        check = await kill_at_step_with(ctx.client, operator, step, NAMESPACE, to=target, timeout=p.timeout)
        key = step.replace("-", "_")
        out[f"{key}_ok"] = check.ok
        out[f"{key}_hit"] = check.hit
        out[f"{key}_done_s"] = check.done_s
        out[f"{key}_max_clusters"] = check.max_clusters
        out[f"{key}_check"] = {**check.__dict__, "ok": check.ok}
        passed += check.ok
        ctx.log(f"killed at {step} ({'hit' if check.hit else 'late'}, {check.killed_s}s after the change): "
                f"{'ok' if check.ok else 'FAILED ' + '; '.join(check.problems)}; done at {check.done_s}s, "
                f"at most {check.max_clusters} clusters, versions seen {check.seen_versions}")
        target = V1 if target == V2 else V2
    out["steps_ok"] = passed
    return out


RAYSERVICE_RUNNERS = {"rayservice": rayservice, "rayservice-restarts": rayservice_restarts}
