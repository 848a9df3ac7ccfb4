"""The optional periodic orphan sweep (``RAYOP_GCS_HA__ORPHAN_SWEEP_INTERVAL_SECONDS``, 0 = off, the default).

Every interval it visits each Redis a probe of this operator reached, reads rayop's registry there and deletes the
namespaces whose RayCluster is gone (:func:`rayop.gcs_ha.cleanup.sweep`), judged against the shared RayCluster
cache. Only entries of namespaces this operator watches are candidates: a second rayop watching other namespaces
may register on the same Redis, and its live clusters are not in this operator's cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from rayop.gcs_ha.address import RedisTarget, storage_namespace_of
from rayop.gcs_ha.cleanup import delete_namespace, orphans
from rayop.gcs_ha.gc import live_from
from rayop.gcs_ha.store import Store
from rayop.kube.informers import Resource
from rayop.operator.runtime.runner import Context

logger = logging.getLogger("rayop.raycluster.gcs")
RAYCLUSTERS = Resource("ray.io/v1", "rayclusters")


class OrphanSweeper:
    def __init__(self, ctx: Context, reached: set[RedisTarget], store_for: Callable[[RedisTarget], Store]) -> None:
        self.ctx, self.reached, self.store_for = ctx, reached, store_for
        self.interval = ctx.settings.gcs_ha.orphan_sweep_interval_seconds
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop once (from a pass, inside the running loop); nothing when the sweep is off."""
        if self.interval > 0 and self.task is None:
            self.task = asyncio.create_task(self._loop(), name="gcs-orphan-sweep")

    async def sweep_once(self) -> int:
        informer = self.ctx.runtime.informers.get(RAYCLUSTERS)
        await informer.synced.wait()
        live = live_from(informer.items(), storage_namespace_of)
        removed = 0
        for target in list(self.reached):
            store = self.store_for(target)
            try:
                for entry in await orphans(store, live.uids, live.storage_namespaces):
                    if not self.ctx.runtime.watched(entry.namespace):
                        continue
                    keys = await delete_namespace(store, entry.storage_namespace)
                    removed += 1
                    logger.info("orphan sweep: deleted %d keys of storage namespace %s (RayCluster %s/%s, uid %s)",
                                keys, entry.storage_namespace, entry.namespace, entry.name, entry.uid)
            except Exception as exc:  # one bad Redis must not stop the sweep of the others
                logger.warning("orphan sweep of %s failed: %s", target.display, exc)
        return removed

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.sweep_once()

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
