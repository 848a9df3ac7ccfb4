"""Small helpers on container env lists, shared by the pod, auth and GCS fault-tolerance builders."""

from __future__ import annotations

from typing import Any


def has_env(container: dict[str, Any], name: str) -> bool:
    """The container already sets ``name`` (a user's value always wins over the one rayop would add)."""
    return any(e.get("name") == name for e in container.get("env") or [])
