"""KubeRay's ``ray.io/initializing-timeout`` (a Go duration such as ``30m`` / ``1h30m`` or whole seconds such as
``1800``) and the terminal decision it drives: a RayService still Initializing after that long gives up for good."""

from __future__ import annotations

import datetime as dt
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float | None:
    """Seconds of a positive Go duration or integer; None when it is neither (or not positive)."""
    text = text.strip()
    if text.isdigit():
        value = float(int(text))
        return value if value > 0 else None
    if not text:
        return None
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or total <= 0:
        return None
    return total


def initializing_timed_out(timeout_s: float | None, ready_reason: str | None, ready_since: dt.datetime | None,
                           now: dt.datetime) -> bool:
    """KubeRay: ``Ready`` is False with reason Initializing for longer than the timeout since its last transition."""
    if timeout_s is None or ready_reason != "Initializing" or ready_since is None:
        return False
    return (now - ready_since).total_seconds() > timeout_s


def initializing_timeout_message(timeout_text: str, spent_s: float) -> str:
    """KubeRay's message for ``Ready=False/InitializingTimeout``."""
    return (f"RayService failed to become ready within the configured timeout of {timeout_text}. "
            f"Time spent initializing: {_go_duration(spent_s)}")


def _go_duration(seconds: float) -> str:
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"
