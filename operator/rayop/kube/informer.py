"""A label-scoped list+watch cache (an informer), so the operator never LISTs per reconcile pass.

rayop watches only what it owns, with a server-side ``labelSelector`` (KubeRay's manager cache does the same), keeps
the latest object per (namespace, name) and tells every subscriber about each change. One informer serves every
controller that watches the same resource and selector (see :mod:`rayop.kube.informers`): RayJob and RayService
read the RayClusters the RayCluster controller already watches, at no extra watch.

Indexes answer "what does this owner have" without a scan: by a label value (``ray.io/cluster``) and by the uid
of the controlling ownerReference.

After an API server outage the informer must come back fast: a failed connection is retried every
``RECONNECT_S`` (it costs nothing while the server is down, and the first try after it is back succeeds), while an
answer that refuses the request (403 without RBAC, 404 without the CRD) backs off to ``REFUSED_MAX_S`` and is logged
as a warning, since it will not fix itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from .client import ApiError, KubeClient, resource_path

logger = logging.getLogger("rayop.kube.informer")

Key = tuple[str, str]
Subscriber = Callable[[str, dict[str, Any]], None]
#: Maps an object to the index keys it is filed under (none, one or several).
IndexFn = Callable[[dict[str, Any]], list[Key]]

RECONNECT_S = 1.0
REFUSED_FIRST_S = 1.0
REFUSED_MAX_S = 30.0
#: A refused list/watch is logged at most this often per informer.
WARN_EVERY_S = 60.0
OWNER_UID_INDEX = "owner-uid"


def label_index(label: str) -> IndexFn:
    """Index objects by ``(namespace, value of label)``."""

    def index(obj: dict[str, Any]) -> list[Key]:
        meta = obj.get("metadata", {})
        value = (meta.get("labels") or {}).get(label)
        return [(meta.get("namespace", ""), value)] if value else []

    return index


def owner_uid_index(obj: dict[str, Any]) -> list[Key]:
    """Index objects by ``(namespace, uid of their controlling owner)``."""
    meta = obj.get("metadata", {})
    return [(meta.get("namespace", ""), ref["uid"]) for ref in meta.get("ownerReferences") or []
            if ref.get("controller") and ref.get("uid")]


def _is_refusal(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.status not in (410, 500, 502, 503, 504)


class Informer:
    """Cache of one resource type under one label selector, kept current by a watch."""

    def __init__(
        self, client: KubeClient, api_version: str, plural: str, *, label_selector: str | None = None,
        namespace: str | None = None, on_change: Subscriber | None = None,
        index_label: str | None = None, transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.client = client
        self.api_version = api_version
        self.plural = plural
        self.label_selector = label_selector
        self.namespace = namespace
        self.store: dict[Key, dict[str, Any]] = {}
        #: Reduces each object before it is cached (memory: keep only what readers use).
        self.transform = transform
        self.index_label = index_label
        self._subscribers: list[Subscriber] = [on_change] if on_change is not None else []
        self._indexers: dict[str, IndexFn] = {OWNER_UID_INDEX: owner_uid_index}
        if index_label is not None:
            self._indexers[index_label] = label_index(index_label)
        self._indexes: dict[str, dict[Key, set[Key]]] = {name: {} for name in self._indexers}
        self.synced = asyncio.Event()
        #: Set while the watch is established; cleared while the informer is reconnecting.
        self.connected = False
        self._task: asyncio.Task[None] | None = None
        self._last_warning = 0.0

    # -- subscribers and indexes ------------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(event_type, obj)`` for every change from now on (after a relist, for every object)."""
        self._subscribers.append(callback)

    def add_index(self, name: str, fn: IndexFn) -> None:
        """Add an index (no-op if one of that name exists); objects already cached are filed at once."""
        if name in self._indexers:
            return
        self._indexers[name] = fn
        self._indexes[name] = {}
        for key, obj in self.store.items():
            for ikey in fn(obj):
                self._indexes[name].setdefault(ikey, set()).add(key)

    def by_index(self, namespace: str, value: str, index: str | None = None) -> list[dict[str, Any]]:
        """Cached objects filed under ``(namespace, value)`` in ``index`` (default: the ``index_label`` index)."""
        name = index or self.index_label
        if name is None:
            raise ValueError(f"informer {self.plural} has no default index")
        return [self.store[k] for k in self._indexes[name].get((namespace, value), ()) if k in self.store]

    def owned_by(self, namespace: str, uid: str) -> list[dict[str, Any]]:
        """Cached objects whose controlling ownerReference has ``uid``."""
        return self.by_index(namespace, uid, OWNER_UID_INDEX)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.get((namespace, name))

    def items(self) -> list[dict[str, Any]]:
        return list(self.store.values())

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"informer-{self.plural}")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- cache ------------------------------------------------------------------------------------------------
    def _put(self, key: Key, obj: dict[str, Any]) -> None:
        # managedFields are often the largest part of an object and nothing in rayop reads them.
        obj.get("metadata", {}).pop("managedFields", None)
        if self.transform is not None:
            obj = self.transform(obj)
        old = self.store.get(key)
        if old is not None:
            self._unindex(key, old)
        self.store[key] = obj
        for name, fn in self._indexers.items():
            for ikey in fn(obj):
                self._indexes[name].setdefault(ikey, set()).add(key)

    def _pop(self, key: Key) -> dict[str, Any] | None:
        old = self.store.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: Key, obj: dict[str, Any]) -> None:
        for name, fn in self._indexers.items():
            index = self._indexes[name]
            for ikey in fn(obj):
                if ikey in index:
                    index[ikey].discard(key)
                    if not index[ikey]:
                        del index[ikey]

    async def _list(self) -> str:
        out = await self.client.request(
            "GET", resource_path(self.api_version, self.plural, self.namespace),
            params={"labelSelector": self.label_selector},
        )
        fresh = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in out.get("items", [])}
        gone = {key: self.store[key] for key in set(self.store) - set(fresh)}
        self.store = {}
        self._indexes = {name: {} for name in self._indexers}
        for key, obj in fresh.items():
            self._put(key, obj)
        for obj in gone.values():
            # The last cached body (with its labels, owners and uid), so subscribers can map it to its owner.
            self._notify("DELETED", obj)
        for key in fresh:
            self._notify("ADDED", self.store[key])
        return str(out.get("metadata", {}).get("resourceVersion", ""))

    def _notify(self, kind: str, obj: dict[str, Any]) -> None:
        for callback in self._subscribers:
            try:
                callback(kind, obj)
            except Exception:  # a bad subscriber must not kill the watch or starve the others
                logger.exception("informer %s subscriber failed", self.plural)

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            logger.warning("informer %s: the API server refuses list/watch (%s); retrying", self.plural, exc)

    async def _run(self) -> None:
        refused_backoff = REFUSED_FIRST_S
        while True:
            try:
                rv = await self._list()
                self.synced.set()
                self.connected = True
                refused_backoff = REFUSED_FIRST_S
                while True:
                    async for event in self.client.watch(
                        self.api_version, self.plural, self.namespace, resource_version=rv,
                        label_selector=self.label_selector,
                    ):
                        etype, obj = event.get("type"), event.get("object", {})
                        if etype == "ERROR":
                            raise ApiError(int(obj.get("code", 500)), obj, str(obj.get("message")))
                        rv = obj.get("metadata", {}).get("resourceVersion", rv)
                        if etype == "BOOKMARK":
                            continue
                        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                        if etype == "DELETED":
                            self._pop(key)
                            self._notify("DELETED", obj)
                        else:
                            self._put(key, obj)
                            self._notify(str(etype), self.store[key])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                if _is_refusal(exc):
                    self._warn(exc)
                    await asyncio.sleep(refused_backoff)
                    refused_backoff = min(refused_backoff * 2, REFUSED_MAX_S)
                else:  # 410 Gone (relist), a dropped connection, the API server down or restarting
                    level = logging.DEBUG if isinstance(exc, ApiError | aiohttp.ClientError | OSError) else (
                        logging.WARNING)
                    logger.log(level, "informer %s reconnecting after %r", self.plural, exc)
                    await asyncio.sleep(RECONNECT_S)
