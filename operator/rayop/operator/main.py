"""The operator process: settings, the API client, leader election, health, metrics and the list of controllers.

Adding a kind is one package under ``rayop.operator`` plus one line in :data:`CONTROLLERS`. The process owns
everything the kinds share (:class:`~rayop.operator.runtime.runner.Runtime`); it runs the controllers only while it
holds the leader Lease and stops them when it loses it, so two processes never both act.

``rayop operator`` calls :func:`run`; tests call :func:`operator_main` in a thread or start ``rayop operator`` as a
subprocess against the local control plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import hashlib
import logging
import os
import socket
import threading

from rayop.kube.client import KubeClient
from rayop.kube.config import load_connection
from rayop.kube.informers import SharedInformers
from rayop.kube.leader import LeaderElector

from .health import Health, serve_health
from .kubeflow.controller import KUBEFLOW_CONTROLLERS
from .logs import configure_logging
from .metrics import OperatorMetrics
from .raycluster.controller import RayClusterController
from .rayjob.controller import RayJobController
from .rayservice.controller import RayServiceController
from .runtime.runner import ControllerFactory, ControllerRunner, Runtime, start_controllers
from .settings import Settings

logger = logging.getLogger("rayop.operator")

#: Every kind the operator runs.
CONTROLLERS: tuple[ControllerFactory, ...] = (RayClusterController, RayJobController, RayServiceController,
                                              *KUBEFLOW_CONTROLLERS)


async def available_controllers(runtime: Runtime) -> list[ControllerFactory]:
    """The controllers to run: a kind may declare ``available(runtime)`` (the Kubeflow jobs: only when served)."""
    out = []
    for factory in CONTROLLERS:
        check = getattr(factory, "available", None)
        if check is None or await check(runtime):
            out.append(factory)
    return out

Flag = asyncio.Event | threading.Event


async def _return_freed_memory(period: float = 60.0) -> None:
    """Give memory freed after a burst (thousands of pod bodies built and parsed) back to the OS.

    CPython keeps freed blocks in its allocator arenas and glibc keeps freed heap pages; without ``malloc_trim`` the
    operator's RSS stays at its burst peak for good. Linux/glibc only; elsewhere this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    while True:
        await asyncio.sleep(period)
        gc.collect()
        libc.malloc_trim(0)


def lease_name(settings: Settings) -> str:
    """``rayop-leader``, or with a hash of the watched namespaces when they are restricted (see the setting)."""
    if settings.leader_election.lease_name:
        return settings.leader_election.lease_name
    if not settings.namespaces:
        return "rayop-leader"
    digest = hashlib.sha256(",".join(sorted(settings.namespaces)).encode()).hexdigest()[:10]
    return f"rayop-leader-{digest}"


def _lease_namespace(settings: Settings, conn_namespace: str | None) -> str:
    return settings.leader_election.namespace or conn_namespace or "default"


async def _wait_flag(flag: Flag | None) -> None:
    if flag is None:
        await asyncio.Event().wait()
    elif isinstance(flag, asyncio.Event):
        await flag.wait()
    else:
        while not flag.is_set():
            await asyncio.sleep(0.2)


def _set(flag: Flag | None) -> None:
    if flag is not None:
        flag.set()


async def _lead(settings: Settings, client: KubeClient, health: Health, metrics: OperatorMetrics,
                stop: asyncio.Task[None], elector: LeaderElector | None, ready_flag: Flag | None) -> bool:
    """Run every controller until ``stop`` or the loss of the lease; returns whether the lease was lost.

    Each term as leader starts from fresh informers (a LIST of everything), so nothing observed under an earlier
    term, or before an outage, is trusted.
    """
    only = settings.namespaces[0] if len(settings.namespaces) == 1 else None
    # One plain namespace narrows every watch; globs need cluster-wide watches filtered here.
    informers = SharedInformers(client, only if only and not any(ch in only for ch in "*?[") else None)
    runtime = Runtime(client=client, settings=settings, informers=informers, metrics=metrics)
    health.checks[:] = [informers.healthy]
    runners: list[ControllerRunner] = []
    try:
        runners = await start_controllers(await available_controllers(runtime), runtime)
        health.role = "leader"
        metrics.leader.labels(lease_name(settings)).set(1)
        _set(ready_flag)
        if elector is None:
            await stop
            return False
        hold = asyncio.create_task(elector.hold(), name="leader-hold")
        await asyncio.wait({stop, hold}, return_when=asyncio.FIRST_COMPLETED)
        if stop.done():
            hold.cancel()
            return False
        return True
    finally:
        health.role = "standby" if elector is not None else "stopping"
        metrics.leader.labels(lease_name(settings)).set(0)
        for runner in runners:
            await runner.close()
        metrics.forget_objects()
        await informers.stop()


async def operator_main(settings: Settings, *, stop_flag: Flag | None = None, ready_flag: Flag | None = None) -> None:
    """Run the operator until ``stop_flag`` is set (or forever).

    With leader election (the default) the process acts only while it holds the Lease. When it cannot renew it
    (another process took over, or the API server is unreachable past the renew deadline) it stops every controller
    and becomes a standby again, instead of exiting: after an API server outage the same process takes the lease
    back at its next retry and acts within seconds, with no supervisor restart needed.
    """
    conn = load_connection(settings.kubeconfig)
    client = KubeClient(conn, field_manager=settings.operator_name, max_connections=settings.api.connections)
    identity = f"{settings.operator_name}-{socket.gethostname()}-{os.getpid()}"
    health = Health(identity=identity)
    metrics = OperatorMetrics()
    tasks = [asyncio.create_task(_return_freed_memory(), name="malloc-trim")]
    stop = asyncio.create_task(_wait_flag(stop_flag), name="stop-flag")
    site = await serve_health(health, settings.health_port) if settings.health_port else None
    metrics.serve(settings.metrics_port)
    metrics.leader.labels(lease_name(settings)).set(0)
    elector: LeaderElector | None = None
    if settings.leader_election.enabled:
        le = settings.leader_election
        elector = LeaderElector(client, namespace=_lease_namespace(settings, conn.namespace), name=lease_name(settings),
                                identity=identity, lease_duration=le.lease_duration_seconds,
                                renew_deadline=le.renew_deadline_seconds, retry_period=le.retry_period_seconds)
    try:
        while not stop.done():
            if elector is not None:
                health.role = "standby"
                acquire = asyncio.create_task(elector.acquire(), name="leader-acquire")
                await asyncio.wait({acquire, stop}, return_when=asyncio.FIRST_COMPLETED)
                if stop.done():
                    acquire.cancel()
                    break
                logger.info("became leader", extra={"identity": identity, "lease": lease_name(settings)})
            lost = await _lead(settings, client, health, metrics, stop, elector, ready_flag)
            if lost:
                logger.warning("lost the leader lease; controllers stopped, standing by", extra={"identity": identity})
    finally:
        stop.cancel()
        if elector is not None and elector.is_leader:
            with contextlib.suppress(Exception):
                await elector.release()
        for task in tasks:
            task.cancel()
        if site is not None:
            await site.cleanup()
        await client.close()


def run(settings: Settings) -> None:
    """Blocking entry point of ``rayop operator``: stops cleanly (releasing the lease) on SIGTERM/SIGINT."""
    configure_logging(settings.log_format, settings.log_level)
    logger.info("starting rayop operator", extra={"namespaces": settings.namespaces or "all"})

    async def main() -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await operator_main(settings, stop_flag=stop)

    asyncio.run(main())


__all__ = ["CONTROLLERS", "lease_name", "operator_main", "run"]
