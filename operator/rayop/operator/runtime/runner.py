"""Runs controllers: the wiring every kind shares, written once.

For each controller the runner subscribes to the shared informer of its own resource and of every resource it
watches, keeps one work-queue worker per object, and turns each pass's :class:`Result` into the next wake-up.
Its own events wake a pass only when :meth:`Controller.needs_pass` says so; a child's event wakes its owner (after
the child debounce). Deletion: a kind with a finalizer gets ``finalize`` (bounded by a deadline), a kind without
one is left to the garbage collector. ``Context`` is what a controller instance is given: the client, the shared
informers, its event recorder and status writer, expectations, metrics and the settings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fnmatch
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rayop.kube.client import KubeClient
from rayop.kube.events import EventRecorder
from rayop.kube.informer import Informer
from rayop.kube.informers import SharedInformers
from rayop.operator.metrics import OperatorMetrics
from rayop.operator.settings import Settings

from .controller import Body, Controller, Key, Outcome, Result, Watch
from .expectations import Expectations
from .finalizers import has_finalizer, seconds_since_deletion, set_finalizer
from .status import StatusWriter
from .workqueue import FAILED, Failed, WorkQueue

logger = logging.getLogger("rayop.runtime")


@dataclass
class Runtime:
    """What the process shares with every controller."""

    client: KubeClient
    settings: Settings
    informers: SharedInformers
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)

    def watched(self, namespace: str) -> bool:
        """Whether ``namespace`` is one the operator was told to watch (globs allowed; empty: all)."""
        patterns = self.settings.namespaces
        return not patterns or any(fnmatch.fnmatchcase(namespace, p) for p in patterns)


@dataclass
class Context:
    """Everything one controller's passes use."""

    runtime: Runtime
    events: EventRecorder
    status: StatusWriter
    expectations: Expectations
    _cache: Callable[[Watch], Any]
    _wake: Callable[[Key], None]

    @property
    def client(self) -> KubeClient:
        return self.runtime.client

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def metrics(self) -> OperatorMetrics:
        return self.runtime.metrics

    async def cache(self, watch: Watch) -> Informer:
        """The informer of ``watch``, started (and its events wired to owners) on first use: children only some
        objects have (autoscaler RBAC, Ingress, auth Secret) cost a watch only once such an object exists."""
        informer: Informer = await self._cache(watch)
        return informer

    def wake(self, key: Key) -> None:
        """Wake ``key``'s worker (e.g. a poller's new result)."""
        self._wake(key)


ControllerFactory = Callable[[Context], Controller]


class ControllerRunner:
    """One controller's queue and subscriptions."""

    def __init__(self, factory: ControllerFactory, runtime: Runtime) -> None:
        s = runtime.settings
        self.runtime = runtime
        self._started: dict[tuple[str, str, str | None], Informer] = {}
        self._lock = asyncio.Lock()
        self.queue = WorkQueue(self._run_pass, concurrency=s.queue.max_concurrent_reconciles,
                               resync=s.queue.resync_seconds, child_debounce=s.queue.child_event_debounce_seconds)
        # The component and resource are class attributes: the recorder and writer exist before the instance.
        declared: Any = factory
        self.events = EventRecorder(runtime.client, declared.component)
        self.ctx = Context(runtime=runtime, events=self.events,
                           status=StatusWriter(runtime.client, self.events, declared.resource.plural),
                           expectations=Expectations(ttl=s.queue.expectations_ttl_seconds),
                           _cache=self._cache_for, _wake=self.queue.wake)
        self.controller = factory(self.ctx)
        self.own = runtime.informers.get(self.controller.resource)
        self.own.subscribe(self._on_own)
        self.eager: list[Informer] = []
        for watch in self.controller.watches():
            informer = runtime.informers.get(watch.resource, index_labels=watch.index_labels)
            informer.subscribe(self._child_callback(watch))
            self._started[watch.resource.key] = informer
            self.eager.append(informer)

    # -- events ------------------------------------------------------------------------------------------------
    def _on_own(self, kind: str, obj: Body) -> None:
        meta = obj.get("metadata", {})
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if not self.runtime.watched(key[0]):
            return
        if kind == "DELETED":
            self.queue.discard(key)
            self.ctx.expectations.forget(key)
            self.controller.forget(key, obj)
        else:
            self.queue.upsert(key, obj, wake=self.controller.needs_pass(self.queue.body(key), obj))

    def _child_callback(self, watch: Watch) -> Callable[[str, Body], None]:
        def on_child(_: str, obj: Body) -> None:
            key = watch.owner_of(obj)
            if key is not None:
                self.queue.wake(key)

        return on_child

    async def _cache_for(self, watch: Watch) -> Informer:
        informer = self._started.get(watch.resource.key)
        if informer is None:
            async with self._lock:
                informer = self._started.get(watch.resource.key)
                if informer is None:
                    informer = self.runtime.informers.get(watch.resource, index_labels=watch.index_labels)
                    informer.subscribe(self._child_callback(watch))
                    informer.start()
                    self._started[watch.resource.key] = informer
        await informer.synced.wait()
        return informer

    # -- passes ------------------------------------------------------------------------------------------------
    async def _run_pass(self, body: Body) -> float | Failed | None:
        # controller-runtime labels its series with the lower-case kind (``raycluster``).
        name = self.controller.kind.lower()
        started = time.monotonic()
        try:
            result = await self._pass(body)
        except Exception:
            self.runtime.metrics.reconcile_total.labels(name, "error").inc()
            raise
        finally:
            self.runtime.metrics.reconcile_seconds.labels(name).observe(time.monotonic() - started)
        failed = result.outcome is Outcome.FAILED
        self.runtime.metrics.reconcile_total.labels(name, "error" if failed else "success").inc()
        return self.delay(result)

    def delay(self, result: Result) -> float | Failed | None:
        """The queue's next wake-up for ``result``: None waits for an event (or the resync)."""
        if result.outcome is Outcome.REQUEUE:
            return result.after
        if result.outcome is Outcome.WAITING:
            return self.ctx.expectations.ttl
        if result.outcome is Outcome.FAILED:
            return FAILED
        return None

    async def _pass(self, body: Body) -> Result:
        controller = self.controller
        if not controller.is_mine(body):
            return Result.done()
        finalizer = self._finalizer_of(body)
        deleting = bool(body.get("metadata", {}).get("deletionTimestamp"))
        if finalizer is None:
            return Result.done() if deleting else await controller.reconcile(body)
        if deleting:
            return await self._finalize(body, finalizer) if has_finalizer(body, finalizer) else Result.done()
        if not has_finalizer(body, finalizer):
            updated = await set_finalizer(self.ctx.client, controller.resource.plural, body, finalizer, add=True)
            if updated is None:
                return Result.done()  # changed or gone meanwhile: its watch event brings the next pass
            body = updated
        return await controller.reconcile(body)

    def _finalizer_of(self, body: Body) -> str | None:
        """The class's finalizer, or the object's own when the kind decides per object (``finalizer_for``: the
        RayCluster holds one only with GCS fault tolerance)."""
        per_object = getattr(self.controller, "finalizer_for", None)
        return per_object(body) if per_object is not None else self.controller.finalizer

    async def _finalize(self, body: Body, finalizer: str) -> Result:
        deadline = self.runtime.settings.queue.finalizer_deadline_seconds
        per_object = getattr(self.controller, "finalizer_deadline", None)
        if per_object is not None:
            deadline = per_object(body, deadline)
        elapsed = seconds_since_deletion(body, dt.datetime.now(dt.UTC))
        result = Result.failed("finalizer deadline passed")
        if elapsed < deadline:
            try:
                result = await asyncio.wait_for(self.controller.finalize(body), timeout=max(1.0, deadline - elapsed))
            except TimeoutError:
                result = Result.failed("finalize did not finish within its deadline")
            if result.outcome is not Outcome.DONE:
                return result if result.outcome is not Outcome.FAILED else Result.requeue(
                    min(5.0, max(1.0, deadline - elapsed)))
        else:
            self.events.warning(body, "FinalizerDeadlineExceeded",
                                f"Removed finalizer {finalizer} after {int(elapsed)} s without a finished cleanup")
        await set_finalizer(self.ctx.client, self.controller.resource.plural, body, finalizer, add=False)
        return Result.done()

    async def close(self) -> None:
        await self.queue.close()
        await self.controller.close()
        await self.events.close()


async def start_controllers(factories: Sequence[ControllerFactory], runtime: Runtime) -> list[ControllerRunner]:
    """Wire every controller, then start the informers: children first, each kind's own resource last, so the
    first passes already see every child cached."""
    runners = [ControllerRunner(f, runtime) for f in factories]
    children = [i for r in runners for i in r.eager]
    await runtime.informers.start(first=list(dict.fromkeys(children)))
    return runners
