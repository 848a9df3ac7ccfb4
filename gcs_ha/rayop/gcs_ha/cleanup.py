"""Delete one storage namespace's GCS keys and its registry entry; find and sweep orphans on one Redis.

One call is one attempt (bounded by the socket timeouts); the caller retries with :func:`deletion.backoff` until
its deadline. The keys go first and the registry entry last, so a failure between the two leaves an entry that the
orphan sweep will find again, never keys without an entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .address import RedisSettings, RedisTarget
from .credentials import ObjectReader, resolve
from .registry import Registration, find_orphans, parse_registry
from .store import Store


async def delete_namespace(store: Store, storage_namespace: str) -> int:
    deleted = await store.delete_namespace(storage_namespace)
    await store.unregister(storage_namespace)
    return deleted


async def cleanup_cluster(settings: RedisSettings, namespace: str, storage_namespace: str, reader: ObjectReader,
                          store_for: Callable[[RedisTarget], Store]) -> int:
    """Resolve the cluster's Redis (Secrets may be gone: that is a :class:`RedisConfigError`), delete its keys."""
    target = await resolve(settings, namespace, reader)
    return await delete_namespace(store_for(target), storage_namespace)


@dataclass(frozen=True)
class Swept:
    registration: Registration
    deleted_keys: int


async def orphans(store: Store, live_uids: set[str], namespaces_in_use: set[str]) -> list[Registration]:
    return find_orphans(parse_registry(await store.registered()), live_uids, namespaces_in_use)


async def sweep(store: Store, live_uids: set[str], namespaces_in_use: set[str]) -> list[Swept]:
    """Delete every orphan's keys and entry; the lists are read just before, so a cluster created meanwhile
    under an orphan's namespace is a (harmless, documented) race only for explicit namespaces."""
    out = []
    for entry in await orphans(store, live_uids, namespaces_in_use):
        out.append(Swept(entry, await delete_namespace(store, entry.storage_namespace)))
    return out
