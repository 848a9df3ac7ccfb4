"""The registry of storage namespaces rayop gave out, and which of them are orphans (pure).

Each entry lives in the Redis hash ``rayop:gcs-namespaces`` beside the data it describes: field = the storage
namespace, value = JSON naming the RayCluster (Kubernetes namespace, name, UID). Keeping it in Redis rather than in
Kubernetes means it outlives the RayCluster — which is the point: a cluster deleted with its finalizer force-removed
(Redis down, wrong password, operator gone) leaves an entry whose cluster no longer exists, and the sweep can find
its data later. A namespace rayop never registered is never an orphan: other tenants' data (or KubeRay's) sharing
the Redis is not rayop's to delete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Registration:
    storage_namespace: str
    namespace: str
    name: str
    uid: str
    registered_at: str = ""

    def record(self) -> str:
        return json.dumps({"namespace": self.namespace, "name": self.name, "uid": self.uid,
                           "registeredAt": self.registered_at, "by": "rayop"}, sort_keys=True)

    @classmethod
    def parse(cls, storage_namespace: str, record: str) -> Registration | None:
        """None for a value rayop did not write (the hash is rayop's, but Redis is shared: stay careful)."""
        try:
            data = json.loads(record)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("by") != "rayop" or not data.get("uid"):
            return None
        return cls(storage_namespace, str(data.get("namespace", "")), str(data.get("name", "")),
                   str(data["uid"]), str(data.get("registeredAt", "")))


def parse_registry(raw: dict[str, str]) -> list[Registration]:
    entries = (Registration.parse(ns, rec) for ns, rec in sorted(raw.items()))
    return [e for e in entries if e is not None]


def find_orphans(entries: list[Registration], live_uids: set[str],
                 namespaces_in_use: set[str]) -> list[Registration]:
    """Entries whose RayCluster (by UID) no longer exists and whose storage namespace no live cluster uses.

    The second test matters when a cluster is recreated under the same explicit ``externalStorageNamespace``:
    the old entry's UID is gone, but the data is the new cluster's now (its own registration overwrites the entry
    on its first probe; until then the namespace is still in use and must not be swept).
    """
    return [e for e in entries if e.uid not in live_uids and e.storage_namespace not in namespaces_in_use]
