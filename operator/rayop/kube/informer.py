"""A label-scoped list+watch cache (an informer), so the operator never LISTs per reconcile pass.

kopf watches whole resource types and filters labels on the client; for pods that means caching every pod of the
cluster. rayop watches only what it owns, with a server-side ``labelSelector`` (KubeRay's manager cache does the
same), keeps the latest object per (namespace, name), and calls ``on_change`` so reconcilers can be woken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from .client import ApiError, KubeClient, resource_path

logger = logging.getLogger("rayop.kube.informer")

Key = tuple[str, str]


class Informer:
    """Cache of one resource type under one label selector, kept current by a watch."""

    def __init__(
        self, client: KubeClient, api_version: str, plural: str, *, label_selector: str | None = None,
        namespace: str | None = None, on_change: Callable[[str, dict[str, Any]], None] | None = None,
        index_label: str | None = None, transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.client = client
        self.api_version = api_version
        self.plural = plural
        self.label_selector = label_selector
        self.namespace = namespace
        self.on_change = on_change
        self.store: dict[Key, dict[str, Any]] = {}
        #: Optional secondary index: (namespace, value of ``index_label``) -> keys, so a reconcile pass reads its
        #: own cluster's pods without scanning every cached pod.
        self.index_label = index_label
        #: Reduces each object before it is cached (memory: keep only what readers use).
        self.transform = transform
        self.index: dict[Key, set[Key]] = {}
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"informer-{self.plural}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def items(self) -> list[dict[str, Any]]:
        return list(self.store.values())

    def by_index(self, namespace: str, value: str) -> list[dict[str, Any]]:
        """Cached objects whose ``index_label`` equals ``value`` in ``namespace``."""
        return [self.store[k] for k in self.index.get((namespace, value), ()) if k in self.store]

    def _index_key(self, obj: dict[str, Any]) -> Key | None:
        if self.index_label is None:
            return None
        value = (obj.get("metadata", {}).get("labels") or {}).get(self.index_label)
        return (obj["metadata"].get("namespace", ""), value) if value else None

    def _put(self, key: Key, obj: dict[str, Any]) -> None:
        # managedFields are often the largest part of an object and nothing in rayop reads them.
        obj.get("metadata", {}).pop("managedFields", None)
        if self.transform is not None:
            obj = self.transform(obj)
        old = self.store.get(key)
        if old is not None:
            self._unindex(key, old)
        self.store[key] = obj
        ikey = self._index_key(obj)
        if ikey is not None:
            self.index.setdefault(ikey, set()).add(key)

    def _pop(self, key: Key) -> None:
        old = self.store.pop(key, None)
        if old is not None:
            self._unindex(key, old)

    def _unindex(self, key: Key, obj: dict[str, Any]) -> None:
        ikey = self._index_key(obj)
        if ikey is not None and ikey in self.index:
            self.index[ikey].discard(key)
            if not self.index[ikey]:
                del self.index[ikey]

    async def _list(self) -> str:
        out = await self.client.request(
            "GET", resource_path(self.api_version, self.plural, self.namespace),
            params={"labelSelector": self.label_selector},
        )
        fresh = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in out.get("items", [])}
        gone = set(self.store) - set(fresh)
        self.store, self.index = {}, {}
        for key, obj in fresh.items():
            self._put(key, obj)
        for key in gone:
            self._notify("DELETED", {"metadata": {"namespace": key[0], "name": key[1]}})
        for obj in fresh.values():
            self._notify("ADDED", obj)
        return str(out.get("metadata", {}).get("resourceVersion", ""))

    def _notify(self, kind: str, obj: dict[str, Any]) -> None:
        if self.on_change is not None:
            try:
                self.on_change(kind, obj)
            except Exception:  # a bad callback must not kill the watch
                logger.exception("informer callback failed")

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                rv = await self._list()
                self.synced.set()
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
                        else:
                            self._put(key, obj)
                        self._notify(str(etype), obj)
                    backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # 410 Gone, network errors: relist
                logger.debug("informer %s restarting after %s", self.plural, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
