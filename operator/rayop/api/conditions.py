"""``metav1.Condition``, the one condition shape every rayop kind reports (RayCluster, RayJob, RayService and the
Kubeflow jobs), with the rules for setting one; the status writer of the runtime uses these for every kind."""

from __future__ import annotations

from typing import Any, Literal

from rayop.api.base import ApiModel
from rayop.api.types import DateTime, Int64


class Condition(ApiModel):
    """A metav1.Condition."""

    type: str
    """Condition type, e.g. HeadPodReady."""
    status: Literal["True", "False", "Unknown"]
    """Condition status."""
    reason: str
    """CamelCase reason of the last transition."""
    message: str = ""
    """Human-readable details."""
    last_transition_time: DateTime
    """When the status last changed."""
    observed_generation: Int64 | None = None
    """metadata.generation the condition was computed from."""


def condition(ctype: str, status: bool, reason: str, message: str, generation: int, now: str,
              previous: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A condition dict whose ``lastTransitionTime`` moves only when ``status`` changes (metav1 semantics)."""
    value = "True" if status else "False"
    old = previous.get(ctype)
    changed = old is None or old.get("status") != value
    return {
        "type": ctype, "status": value, "reason": reason, "message": message,
        "lastTransitionTime": now if changed or old is None else old.get("lastTransitionTime", now),
        "observedGeneration": generation,
    }
