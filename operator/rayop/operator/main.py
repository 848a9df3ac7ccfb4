"""The operator process: kopf configured from :class:`Settings`, handlers registered, liveness and logs set up.

``rayop operator`` calls :func:`run`; tests call :func:`run` in a thread or start ``rayop operator`` as a
subprocess against the local control plane.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import threading
from typing import Any

import kopf

from rayop.kube.client import KubeClient
from rayop.kube.config import load_connection

from .settings import Settings

logger = logging.getLogger("rayop.operator")

FINALIZER = "ray.io/rayop-finalizer"


def build_registry() -> kopf.OperatorRegistry:
    """A fresh registry with every rayop handler (importing the handler modules registers them)."""
    registry = kopf.OperatorRegistry()
    from .handlers import register_all

    register_all(registry)
    return registry


def _configure(settings: Settings, operator_settings: kopf.OperatorSettings) -> None:
    operator_settings.persistence.finalizer = FINALIZER
    operator_settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="rayop.io")
    operator_settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="rayop.io", key="last-handled-configuration")
    # Events are written by rayop itself (with KubeRay's reasons); kopf's own only for warnings and errors.
    operator_settings.posting.level = logging.WARNING
    # kopf's per-object workers only hand events to rayop's work queue, which bounds real concurrency itself; a
    # kopf worker limit would make events of some clusters wait for idle workers of others (seconds-long stalls).
    operator_settings.queueing.worker_limit = None
    operator_settings.watching.server_timeout = 300
    operator_settings.watching.client_timeout = 330
    operator_settings.networking.request_timeout = 60
    operator_settings.peering.standalone = True


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


def _configure_logging(settings: Settings) -> None:
    fmt = kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(verbose=settings.log_level == "DEBUG", log_format=fmt)
    logging.getLogger().setLevel(settings.log_level)


async def operator_main(
    settings: Settings,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
) -> None:
    """Run the operator until ``stop_flag`` is set (or forever)."""
    conn = load_connection(settings.kubeconfig)
    client = KubeClient(conn, field_manager=settings.operator_name, max_connections=settings.api_connections)
    registry = build_registry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=conn.server, ca_path=conn.ca_path, ca_data=conn.ca_data,
            certificate_path=conn.cert_path, certificate_data=conn.cert_data,
            private_key_path=conn.key_path, private_key_data=conn.key_data,
            token=conn.bearer_token(), insecure=conn.insecure or None,
            default_namespace=conn.namespace,
        )

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        _configure(settings_obj, settings)

    trimmer = asyncio.get_running_loop().create_task(_return_freed_memory(), name="malloc-trim")

    settings_obj = settings
    memo = kopf.Memo(settings=settings, client=client)
    liveness = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    try:
        await kopf.operator(
            registry=registry,
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            liveness_endpoint=liveness,
            standalone=True,
            memo=memo,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    finally:
        trimmer.cancel()
        await client.close()


def run(settings: Settings) -> None:
    """Blocking entry point of ``rayop operator``."""
    _configure_logging(settings)
    logger.info("starting rayop operator", extra={"namespaces": settings.namespaces or "all"})
    asyncio.run(operator_main(settings))
