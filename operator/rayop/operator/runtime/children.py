"""Owned children: owner references, and one cache-checked ``ensure`` for every child kind.

Every pass checks each desired child against the informer cache, as KubeRay checks its cached client: a child a
user (or anything) deleted is created again on the next pass, which its DELETED event triggers. Nothing is
remembered in process memory, so a restarted operator behaves exactly like a running one.

An object of the desired name that the owner does not control is never overwritten: one carrying no controller
is adopted when it has the owner's name label (it was made for this owner, e.g. by an operator that crashed
between create and its owner reference), anything else is reported as a Warning event and left alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from rayop.kube.client import ApiError, Conflict, KubeClient
from rayop.kube.events import EventRecorder
from rayop.kube.informer import Informer

Body = dict[str, Any]


def owner_reference(owner: Body) -> Body:
    """A controlling ownerReference to ``owner`` (its own apiVersion and kind: RayCluster, RayJob, TFJob...)."""
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def owned(obj: Body, owner: Body) -> Body:
    """``obj`` in the owner's namespace with the owner's controlling reference (mutates and returns ``obj``)."""
    meta = obj.setdefault("metadata", {})
    meta["namespace"] = owner["metadata"]["namespace"]
    meta["ownerReferences"] = [owner_reference(owner)]
    return obj


def controller_uid(obj: Body) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


class Ensured(enum.Enum):
    CREATED = "created"
    PRESENT = "present"
    ADOPTED = "adopted"
    FOREIGN = "foreign"


@dataclass(frozen=True)
class Child:
    """One desired child and the event reasons of its kind (KubeRay's: ``CreatedService``/``FailedToCreateService``)."""

    obj: Body
    created_reason: str
    failed_reason: str
    #: A label whose value names the owner; an uncontrolled object with it is adopted (None: never adopt).
    owner_label: str | None = None


class ChildError(Exception):
    """Creating a child failed; ``reason`` is the child kind's failure reason, already posted as an event."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


async def ensure(client: KubeClient, events: EventRecorder, owner: Body, child: Child, cache: Informer) -> Ensured:
    """Make sure ``child`` exists, checked against ``cache`` (an informer whose selector covers it)."""
    obj = child.obj
    meta = obj["metadata"]
    namespace, name = owner["metadata"]["namespace"], meta["name"]
    existing = cache.get(namespace, name)
    owner_uid = owner["metadata"]["uid"]
    if existing is not None:
        holder = controller_uid(existing)
        if holder == owner_uid:
            return Ensured.PRESENT
        labels = existing.get("metadata", {}).get("labels") or {}
        if holder is None and child.owner_label and labels.get(child.owner_label) == owner["metadata"]["name"]:
            await client.patch(obj["apiVersion"], cache.plural, name,
                               {"metadata": {"ownerReferences": [owner_reference(owner)]}}, namespace)
            return Ensured.ADOPTED
        events.warning(owner, child.failed_reason,
                       f"{obj['kind']} {namespace}/{name} exists and is not controlled by {owner['kind']} "
                       f"{namespace}/{owner['metadata']['name']}; leaving it alone")
        return Ensured.FOREIGN
    try:
        await client.create(owned(obj, owner))
    except Conflict:
        return Ensured.PRESENT  # created meanwhile (our own earlier create the cache does not show yet)
    except ApiError as exc:
        message = f"Failed to create {obj['kind']} {namespace}/{name}: {exc.message}"
        events.warning(owner, child.failed_reason, message)
        raise ChildError(child.failed_reason, message) from exc
    events.normal(owner, child.created_reason, f"Created {obj['kind'].lower()} {namespace}/{name}")
    return Ensured.CREATED
