"""Kill the operator at a named step of a RayService rollout, restart it, and check the rollout still ends right.

For the integrator's acceptance test of issue #11 ("the operator killed at each rollout step and restarted: the
rollout completes, with no third cluster and no config on the wrong cluster"), and usable by hand. It needs a
RayService that serves (``examples/05-rayservice-local``, applied and Ready) and an operator it can SIGKILL and
start again (:class:`ProcessOperator`: ``rayop operator`` as a subprocess, as users run it and as
``tests/component/test_operator_process.py`` does).

The steps, each observed from outside (KubeRay's status fields and the RayClusters, see :func:`step_reached`):

========================= =================================================================================
``before-pending-create``  the operator is killed first and the spec changed while it is down: the restarted
                           operator finds an upgrade it has not started (``hit``: no new cluster existed then).
                           The window between naming the pending cluster in the status and creating it is one
                           API call wide; ``tests/component/test_rayservice.py`` seeds it on kwok
``after-pending-create``   a RayCluster that did not exist before the change exists
``after-config-apply``     ``status.pendingServiceStatus.applicationStatuses`` is not empty: the new config was
                           PUT to the pending cluster and its apps are reported
``after-switch``           the serve Service's selector (``ray.io/cluster``) names the new cluster
========================= =================================================================================

Checks after the restart (:class:`RolloutCheck`): the serve Service selects a new cluster, the RayService has it as
active and no pending, is Ready, every old cluster is gone, at most 2 RayClusters existed at any time, and no cluster
ever ran the wrong config: every live cluster's Serve applications are read from its head's dashboard
(``GET /api/serve/applications/``, as the operator does) every ``audit_interval`` seconds, from before the change to
the end, and a cluster that existed before the change must never show the new version's ``args.version``, one
created after it never the old one. The same holds for rayop's own record, each cluster's
``rayop.io/serve-config-hash`` annotation (every value it was seen with): never the new config's hash on an old
cluster nor the old one's on a new cluster, and the serving cluster ends with the new config's hash.

Usage (``asyncio.run`` from a sync test; in the test suite, a ``private_namespace`` that the session's in-process
operator does not watch, as ``tests/e2e/test_rayjob_restarts_real_ray.py`` does)::

    op = ProcessOperator(control_plane.kubeconfig, tmp_path, ["-n", namespace])
    op.start()
    ...  # apply examples/05-rayservice-local/rayservice.yaml in `namespace`, wait for Ready
    check = asyncio.run(kill_at_step(kubeconfig, op, "after-config-apply", namespace, to=V2))
    assert check.ok, check.problems

Chaining steps alternates the versions (``to=V2``, then ``to=V1`` ...): each is a full blue/green rollout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from rayop.kube.client import KubeClient
from rayop.kube.config import from_kubeconfig
from rayop.serve_rollout.hashing import serve_config_hash

from .rayservices import V1, V2, example, upgrade_to
from .rollout_watch import RolloutWatch
from .serveload import stays_on_this_machine

STEPS = ("before-pending-create", "after-pending-create", "after-config-apply", "after-switch")
#: A short lease, so the restarted operator takes over quickly from the one it replaces (killed without release).
LEASE_ENV = {"RAYOP_LEADER_ELECTION__LEASE_DURATION_SECONDS": "4", "RAYOP_LEADER_ELECTION__RENEW_DEADLINE_SECONDS": "3",
             "RAYOP_LEADER_ELECTION__RETRY_PERIOD_SECONDS": "0.5"}


class OperatorProcess(Protocol):
    """What :func:`kill_at_step` needs of the operator: a crash and a start."""

    def kill(self) -> None: ...

    def start(self) -> None: ...


@dataclass
class ProcessOperator:
    """``rayop operator`` as a subprocess (``rayop.local.devenv.start_operator``) with a short leader lease."""

    kubeconfig: Path
    logdir: Path
    extra: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: dict(LEASE_ENV))
    starts: int = 0
    _comp: Any = None

    def start(self) -> None:
        from rayop.local.devenv import start_operator

        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            self.starts += 1
            self._comp, _ = start_operator(self.kubeconfig, self.logdir / f"run-{self.starts}", self.extra)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def kill(self) -> None:
        """SIGKILL the operator's process group: no lease release, no cleanup, as a crash or an OOM kill."""
        if self._comp is not None and self._comp.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._comp.process.pid, signal.SIGKILL)
            self._comp.process.wait(10)

    def stop(self) -> None:
        if self._comp is not None:
            self._comp.stop()


@dataclass
class RestartableComponent:
    """An operator already running as a :class:`~rayop.local.controlplane.processes.Component` (the benchmark's
    rayop peer): killed, then started again with the same command line, log and health port."""

    comp: Any
    health_timeout: float = 60.0

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.comp.process.pid, signal.SIGKILL)
        self.comp.process.wait(10)

    def start(self) -> None:
        self.comp.start()
        argv = list(self.comp.argv)
        port = argv[argv.index("--health-port") + 1] if "--health-port" in argv else ""
        deadline = time.monotonic() + self.health_timeout
        while port:
            self.comp.check_alive()
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                                                      timeout=2) as resp:
                if resp.status == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.comp.name} not healthy again:\n{self.comp.log_tail()}")
            time.sleep(0.2)


def step_reached(step: str, *, old: set[str], alive: list[str], pending: str, pending_apps: dict[str, Any],
                 selected: str) -> bool:
    """Whether a rollout away from the ``old`` clusters has reached ``step`` (pure; see the module's table)."""
    new = [c for c in alive if c not in old]
    if step == "before-pending-create":
        return bool(pending and pending not in old) or bool(new)
    if step == "after-pending-create":
        return bool(new)
    if step == "after-config-apply":
        return bool(new) and bool(pending_apps)
    if step == "after-switch":
        return bool(selected) and selected not in old
    raise ValueError(f"unknown step {step!r}; choose from {', '.join(STEPS)}")


def step_hit(step: str, *, old: set[str], alive: list[str], pending: str, pending_apps: dict[str, Any],
             selected: str) -> bool:
    """Whether the state at the kill was exactly ``step`` and not already the next one (else the kill came late:
    the operator moved on faster than the watch saw it)."""
    def at(s: str) -> bool:
        return step_reached(s, old=old, alive=alive, pending=pending, pending_apps=pending_apps, selected=selected)

    index = STEPS.index(step)
    later = STEPS[index + 1] if index + 1 < len(STEPS) else None
    return at(step) and (later is None or not at(later))


def _wrong_side(seen: dict[str, set[str]], old: set[str], old_value: str, new_value: str) -> list[tuple[str, str, str]]:
    """(side, cluster, value) for each cluster seen with the other side's value: the new one on an old cluster, the
    old one on a new cluster."""
    out = []
    for cluster, values in sorted(seen.items()):
        wrong = new_value if cluster in old else old_value
        if wrong in values:
            out.append(("old (active)" if cluster in old else "new (pending)", cluster, wrong))
    return out


def audit_problems(seen: dict[str, set[str]], old: set[str], old_version: str, new_version: str) -> list[str]:
    """Wrong configs among ``seen`` (cluster → every ``args.version`` its Serve apps ever showed): an old cluster
    with the new version, or a new one with the old version."""
    return [f"the {side} cluster {cluster} ran serve config {wrong}"
            for side, cluster, wrong in _wrong_side(seen, old, old_version, new_version)]


def hash_problems(hashes: dict[str, set[str]], old: set[str], old_hash: str, new_hash: str,
                  serving: str) -> list[str]:
    """Wrong records among ``hashes`` (cluster → every ``rayop.io/serve-config-hash`` it was seen with): the new
    config's hash on an old cluster, the old one's on a new cluster, or a serving cluster without the new one."""
    problems = [f"the {side} cluster {cluster} was annotated with serve config hash {wrong[:12]}"
                for side, cluster, wrong in _wrong_side(hashes, old, old_hash, new_hash)]
    if new_hash not in hashes.get(serving, set()):
        problems.append(f"the serving cluster {serving or '-'} was never annotated with the new serve config hash "
                        f"{new_hash[:12]} (seen: {sorted(hashes.get(serving, set()))})")
    return problems


def deployed_versions(details: dict[str, Any]) -> set[str]:
    """The ``args.version`` of every application in a ``GET /api/serve/applications/`` answer."""
    out = set()
    for app in (details.get("applications") or {}).values():
        args = (app.get("deployed_app_config") or {}).get("args") or {}
        if "version" in args:
            out.add(str(args["version"]))
    return out


class ConfigAudit:
    """Reads every live cluster's Serve applications from its head's dashboard, every ``interval`` seconds."""

    def __init__(self, client: KubeClient, namespace: str, watch: RolloutWatch, interval: float = 0.5) -> None:
        self.client, self.namespace, self.watch, self.interval = client, namespace, watch, interval
        self.seen: dict[str, set[str]] = {}
        self.reads = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            for cluster in self.watch.alive():
                ip = await self._head_ip(cluster)
                local: bool = bool(ip) and await asyncio.to_thread(stays_on_this_machine, ip)
                if local:
                    details = await asyncio.to_thread(_serve_details, ip)
                    if details is not None:
                        self.reads += 1
                        self.seen.setdefault(cluster, set()).update(deployed_versions(details))
            await asyncio.sleep(self.interval)

    async def _head_ip(self, cluster: str) -> str:
        pods = await self.client.list("v1", "pods", self.namespace, f"ray.io/cluster={cluster},ray.io/node-type=head")
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return str((live[0].get("status") or {}).get("podIP") or "") if live else ""


def _serve_details(ip: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://{ip}:8265/api/serve/applications/?api_type=declarative",
                                    timeout=2) as resp:
            return dict(json.loads(resp.read()))
    except (OSError, ValueError):
        return None


@dataclass
class RolloutCheck:
    step: str
    hit: bool = False
    killed_s: float | None = None
    done_s: float | None = None
    max_clusters: int = 0
    clusters: list[str] = field(default_factory=list)
    serving: str = ""
    seen_versions: dict[str, list[str]] = field(default_factory=dict)
    seen_hashes: dict[str, list[str]] = field(default_factory=dict)
    audit_reads: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def version_of(serve_config: str) -> str:
    """The ``args.version`` of the example's only Serve application in a ``serveConfigV2``."""
    return str(yaml.safe_load(serve_config)["applications"][0]["args"]["version"])


async def kill_at_step(kubeconfig: Path, operator: OperatorProcess, step: str, namespace: str, *, to: Path = V2,
                       spec_extra: dict[str, Any] | None = None, down_seconds: float = 3.0,
                       timeout: float = 400.0) -> RolloutCheck:
    """Change the serving RayService of ``namespace`` to the spec of ``to`` (plus ``spec_extra``), SIGKILL the
    operator once ``step`` is seen, start it again ``down_seconds`` later, and check the rollout
    (:class:`RolloutCheck`)."""
    client = KubeClient(from_kubeconfig(kubeconfig), field_manager="rayop-rollout-kill")
    try:
        return await kill_at_step_with(client, operator, step, namespace, to=to, spec_extra=spec_extra,
                                       down_seconds=down_seconds, timeout=timeout)
    finally:
        await client.close()


async def kill_at_step_with(client: KubeClient, operator: OperatorProcess, step: str, namespace: str, *,
                            to: Path = V2, spec_extra: dict[str, Any] | None = None, down_seconds: float = 3.0,
                            timeout: float = 400.0) -> RolloutCheck:
    """:func:`kill_at_step` with a client of the caller's (the benchmark's)."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; choose from {', '.join(STEPS)}")
    name = example(to)[1]["metadata"]["name"]
    current = await client.get("ray.io/v1", "rayservices", name, namespace)
    new_config = str(example(to)[1]["spec"]["serveConfigV2"])
    old_config = str(current["spec"]["serveConfigV2"])
    new_version, old_version = version_of(new_config), version_of(old_config)
    new_hash, old_hash = serve_config_hash(new_config), serve_config_hash(old_config)
    assert new_hash and old_hash
    if new_version == old_version:
        raise ValueError(f"{to} serves {new_version}, as the running RayService already does: nothing to roll out")
    watch = RolloutWatch(client, namespace, name)
    check = RolloutCheck(step)
    audit = ConfigAudit(client, namespace, watch)
    try:
        await watch.start()
        if not (watch.ready() and watch.selected()):
            raise RuntimeError(f"RayService {namespace}/{name} does not serve yet (status {watch.status})")
        old = set(watch.alive())
        watch.max_clusters = len(old)
        audit.start()
        t0 = time.monotonic()

        def state() -> dict[str, Any]:
            return {"old": old, "alive": watch.alive(), "pending": watch.pending(),
                    "pending_apps": watch.pending_apps(), "selected": watch.selected()}

        if step == "before-pending-create":
            operator.kill()  # the change lands while the operator is down (see the module's table)
            check.killed_s = 0.0
            await upgrade_to(client, to, namespace, spec_extra)
            await asyncio.sleep(down_seconds)
            check.hit = not step_reached("after-pending-create", **state())
        else:
            await upgrade_to(client, to, namespace, spec_extra)
            await watch.wait(lambda: step_reached(step, **state()), timeout, f"rollout step {step}")
            check.hit = step_hit(step, **state()) and (step != "after-switch" or bool(old & set(watch.alive())))
            operator.kill()
            check.killed_s = round(time.monotonic() - t0, 2)
            await asyncio.sleep(down_seconds)
        operator.start()

        def done() -> bool:
            target = watch.selected()
            return (bool(target) and target not in old and watch.active() == target and not watch.pending()
                    and watch.ready() and not old & set(watch.alive()))

        try:
            check.done_s = round(await watch.wait(done, timeout, "rollout complete after the restart") - t0, 2)
        except TimeoutError as exc:
            check.problems.append(str(exc))
        await asyncio.sleep(2 * audit.interval)  # one more read of the final cluster
    finally:
        await audit.stop()
        await watch.stop()
    check.max_clusters = watch.max_clusters
    check.clusters = sorted(watch.clusters)
    check.serving = watch.selected()
    check.seen_versions = {c: sorted(v) for c, v in audit.seen.items()}
    check.seen_hashes = {c: sorted(v) for c, v in watch.config_hashes.items()}
    check.audit_reads = audit.reads
    if check.max_clusters > 2:
        check.problems.append(f"{check.max_clusters} RayClusters existed at once (at most 2 allowed): "
                              f"{check.clusters}")
    check.problems += audit_problems(audit.seen, old, old_version, new_version)
    if new_version not in audit.seen.get(check.serving, set()):
        check.problems.append(f"the serving cluster {check.serving or '-'} never showed config {new_version}")
    check.problems += hash_problems(watch.config_hashes, old, old_hash, new_hash, check.serving)
    return check


async def _main(kubeconfig: Path, namespace: str, steps: list[str], logdir: Path) -> int:
    """By hand: an operator started here, the example applied, then each step in turn (alternating versions)."""
    from .rayservices import apply_example

    op = ProcessOperator(kubeconfig, logdir, ["-n", namespace])
    op.start()
    client = KubeClient(from_kubeconfig(kubeconfig), field_manager="rayop-rollout-kill")
    try:
        name = example(V1)[1]["metadata"]["name"]
        watch = RolloutWatch(client, namespace, name)
        await watch.start()
        if not watch.status:
            await apply_example(client, V1, namespace)
        await watch.wait(lambda: watch.ready() and bool(watch.selected()), 400, "RayService Ready")
        await watch.stop()
        failed = 0
        target = V2
        for step in steps:
            check = await kill_at_step(kubeconfig, op, step, namespace, to=target)
            print(json.dumps({**check.__dict__, "ok": check.ok}, indent=1), flush=True)
            failed += not check.ok
            target = V1 if target == V2 else V2
        return 1 if failed else 0
    finally:
        await client.close()
        op.stop()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m benchmarks.rayop_bench.rollout_kill",
                                 description="Kill rayop at each RayService rollout step and check the rollout.")
    ap.add_argument("--kubeconfig", type=Path, required=True)
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--step", action="append", choices=STEPS, help="repeatable; default: every step in order")
    ap.add_argument("--logdir", type=Path, default=Path("rollout-kill-logs"))
    args = ap.parse_args()
    raise SystemExit(asyncio.run(_main(args.kubeconfig, args.namespace, args.step or list(STEPS), args.logdir)))
