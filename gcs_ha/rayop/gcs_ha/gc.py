"""``rayop gcs gc``: list the storage namespaces rayop registered on one Redis whose RayCluster is gone, and delete
them on confirmation. Also the body of the operator's optional periodic sweep.

"Gone" is judged against every RayCluster the API server lists (all namespaces): an entry is an orphan only when
no cluster has its UID and no cluster uses its storage namespace (:func:`rayop.gcs_ha.registry.find_orphans`).
Namespaces rayop never registered (KubeRay's, other tenants') are never listed, let alone deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from rayop.kube.client import KubeClient

from .cleanup import Swept, delete_namespace, orphans
from .registry import Registration
from .store import Store

#: The storage namespace a RayCluster body uses (None: no GCS FT); the caller passes KubeRay's rule.
NamespaceOf = Callable[[dict[str, Any]], str | None]


@dataclass(frozen=True)
class LiveClusters:
    uids: set[str]
    storage_namespaces: set[str]


def live_from(bodies: Iterable[dict[str, Any]], namespace_of: NamespaceOf) -> LiveClusters:
    uids, used = set(), set()
    for body in bodies:
        uid = body.get("metadata", {}).get("uid")
        if uid:
            uids.add(str(uid))
        ns = namespace_of(body)
        if ns:
            used.add(ns)
    return LiveClusters(uids, used)


async def list_live(client: KubeClient, namespace_of: NamespaceOf) -> LiveClusters:
    return live_from(await client.list("ray.io/v1", "rayclusters"), namespace_of)


def describe(entry: Registration) -> str:
    return (f"{entry.storage_namespace}  (RayCluster {entry.namespace}/{entry.name}, uid {entry.uid}, "
            f"registered {entry.registered_at or '?'})")


async def run_gc(store: Store, live: LiveClusters, *, yes: bool, confirm: Callable[[str], bool],
                 out: TextIO) -> list[Swept]:
    """List the orphans; delete them if ``yes`` or ``confirm`` agrees. Returns what was deleted."""
    found = await orphans(store, live.uids, live.storage_namespaces)
    if not found:
        print("no orphaned GCS storage namespaces", file=out)
        return []
    print(f"{len(found)} orphaned GCS storage namespace(s):", file=out)
    for entry in found:
        print(f"  {describe(entry)}", file=out)
    if not yes and not confirm(f"delete the keys of these {len(found)} namespace(s)? [y/N] "):
        print("nothing deleted", file=out)
        return []
    swept = []
    for entry in found:
        deleted = await delete_namespace(store, entry.storage_namespace)
        swept.append(Swept(entry, deleted))
        print(f"deleted {deleted} keys of {entry.storage_namespace}", file=out)
    return swept
