"""Ray version strings as KubeRay reads them (Go's ``version.ParseGeneric``): probes, validation and the
autoscaler choose behaviour by the Ray version a cluster declares, so the parsing lives once, here."""

from __future__ import annotations

import re

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_ray_version(version: str | None) -> tuple[int, int, int] | None:
    """``major.minor[.patch]`` of a Ray version string, or None when it does not parse (Go's ParseGeneric)."""
    match = _VERSION_RE.match((version or "").strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def version_at_least(version: str | None, minimum: tuple[int, int, int]) -> bool:
    """Whether ``version`` parses and is >= ``minimum``."""
    parsed = parse_ray_version(version)
    return parsed is not None and parsed >= minimum
