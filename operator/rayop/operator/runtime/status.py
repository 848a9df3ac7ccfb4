"""Status writes and invalid-spec reports, the same way for every kind.

One writer: a kind computes its whole status (pure), the writer compares it with the stored one *in substance*
(only the fields the kind names, plus conditions without their transition times) and patches the status
subresource only when it differs, so a quiet object causes no writes. One reporter for specs the API server
accepted but the kind cannot act on: a Warning event and a ``SpecValid=False`` condition naming the field, written
once per generation and message (no event storm on resyncs), and turned back to True by the next valid pass.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable
from typing import Any

from rayop.api.conditions import condition
from rayop.kube.client import KubeClient, NotFound
from rayop.kube.events import EventRecorder

Body = dict[str, Any]

#: rayop's own condition for specs the API server accepted but validation rejects (KubeRay has none).
SPEC_VALID = "SpecValid"


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def present(value: Any) -> Any:
    """``value`` as stored after a merge patch: keys set to None are absent."""
    if isinstance(value, dict):
        return {k: present(v) for k, v in value.items() if v is not None}
    return value


def _conditions_in_substance(conds: list[Body] | None) -> list[tuple[Any, ...]]:
    return sorted((c.get("type"), c.get("status"), c.get("reason"), c.get("message"), c.get("observedGeneration"))
                  for c in conds or [])


def status_differs(old: Body, new: Body, compared: Iterable[str]) -> bool:
    """True when ``new`` differs from ``old`` in the ``compared`` fields or in the conditions (transition and
    update times alone do not count)."""
    if any(present(old.get(k)) != present(new.get(k)) for k in compared):
        return True
    return _conditions_in_substance(old.get("conditions")) != _conditions_in_substance(new.get("conditions"))


def spec_valid_condition(previous: Body, generation: int, now: str) -> Body | None:
    """``SpecValid=True`` after an earlier invalid spec was fixed; None when the object never had one."""
    prev = {c["type"]: c for c in previous.get("conditions", []) or []}
    if SPEC_VALID not in prev:
        return None
    return condition(SPEC_VALID, True, "Valid", "", generation, now, prev)


class StatusWriter:
    """Writes one kind's status subresource (``plural`` of ``api_version`` as the object says)."""

    def __init__(self, client: KubeClient, events: EventRecorder, plural: str) -> None:
        self.client = client
        self.events = events
        self.plural = plural

    async def write(self, obj: Body, status: Body) -> None:
        """Patch ``status`` (a merge patch: None removes a key); an object deleted meanwhile is not an error."""
        meta = obj["metadata"]
        with contextlib.suppress(NotFound):
            await self.client.patch_status(obj.get("apiVersion", ""), self.plural, meta["name"], status,
                                           meta["namespace"])

    async def write_if_changed(self, obj: Body, status: Body, compared: Iterable[str]) -> bool:
        """Write ``status`` when it differs in substance from the stored one; return whether it was written."""
        if not status_differs(obj.get("status") or {}, status, compared):
            return False
        await self.write(obj, status)
        return True

    async def report_invalid(self, obj: Body, reason: str, message: str, *, extra: Body | None = None) -> bool:
        """Warning event + ``SpecValid=False`` naming the field, once per generation and message.

        ``extra`` are kind-specific status fields written with it (RayCluster's ``reason``, RayJob's
        ``jobDeploymentStatus: ValidationFailed``). Returns whether anything was written.
        """
        previous = obj.get("status") or {}
        generation = int(obj["metadata"].get("generation", 0) or 0)
        conds = previous.get("conditions", []) or []
        already = any(c.get("type") == SPEC_VALID and c.get("status") == "False" and c.get("message") == message
                      and c.get("observedGeneration") == generation for c in conds)
        if already:
            return False
        self.events.warning(obj, reason, message)
        kept = [c for c in conds if c.get("type") != SPEC_VALID]
        kept.append({"type": SPEC_VALID, "status": "False", "reason": reason, "message": message,
                     "lastTransitionTime": now_rfc3339(), "observedGeneration": generation})
        await self.write(obj, {"conditions": kept, "observedGeneration": generation, **(extra or {})})
        return True
