"""Finalizers, added and removed by the runtime for every kind that declares one.

A kind's ``finalize`` cleans up outside the cluster (stop the Ray job, remove GCS keys from Redis). It gets a
deadline counted from the object's ``deletionTimestamp`` (stored on the object, so it survives restarts): past it the
finalizer is removed anyway with a Warning event, so a dead dashboard or an unreachable Redis can never hang a
deletion (or a namespace deletion) forever. Patches carry the observed ``resourceVersion``, so a stale cache never
drops someone else's finalizer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rayop.kube.client import Conflict, KubeClient, NotFound

Body = dict[str, Any]


def has_finalizer(obj: Body, finalizer: str) -> bool:
    return finalizer in (obj.get("metadata", {}).get("finalizers") or [])


def finalizers_patch(obj: Body, finalizer: str, *, add: bool) -> Body:
    """A merge patch setting the whole finalizer list, guarded by the observed resourceVersion."""
    meta = obj["metadata"]
    current = list(meta.get("finalizers") or [])
    wanted = ([*current, finalizer] if finalizer not in current else current) if add else [
        f for f in current if f != finalizer]
    return {"metadata": {"finalizers": wanted, "resourceVersion": meta.get("resourceVersion")}}


def seconds_since_deletion(obj: Body, now: dt.datetime) -> float:
    stamp = obj.get("metadata", {}).get("deletionTimestamp")
    if not stamp:
        return 0.0
    deleted = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    return max(0.0, (now - deleted).total_seconds())


async def set_finalizer(client: KubeClient, plural: str, obj: Body, finalizer: str, *, add: bool) -> Body | None:
    """Add or remove ``finalizer``; returns the updated object, or None when it is gone or changed meanwhile
    (the watch brings the newer version and another pass)."""
    meta = obj["metadata"]
    try:
        return await client.patch(obj["apiVersion"], plural, meta["name"], finalizers_patch(obj, finalizer, add=add),
                                  meta["namespace"])
    except (Conflict, NotFound):
        return None
