"""The SDK's exceptions: every failed API call raises one, carrying the API server's own message.

Why: a notebook cell must go red on failure. The API server already says what is wrong ("rayclusters.ray.io "mine"
already exists", "spec.workerGroupSpecs[0].replicas: Invalid value ..."), so that text is the exception's message,
and the HTTP code picks the class (404 NotFound, 409 Conflict, 422 Invalid, 401/403 Unauthorized/Forbidden). A 404 for
the *resource type* (no CRD installed) is its own class, because the fix is different (install the CRDs).
"""

from __future__ import annotations

import json
from typing import Any


class RayopError(Exception):
    """Base of every SDK error."""


class ApiError(RayopError):
    """The API server refused a request; ``status`` is the HTTP code, ``reason`` the Status reason."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "", body: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.body = body or {}


class NotFound(ApiError):
    """The object does not exist (404)."""


class CrdMissing(NotFound):
    """The API server does not serve the resource type at all: the ray.io CRDs are not installed (404)."""


class Conflict(ApiError):
    """The object already exists, or was changed since it was read (409)."""


class Invalid(ApiError):
    """The API server rejected the object: schema, CEL or admission (422, or 400 for a malformed request)."""


class Unauthorized(ApiError):
    """No or bad credentials (401)."""


class Forbidden(ApiError):
    """RBAC does not allow this request (403)."""


class ConfigError(RayopError):
    """No usable Kubernetes configuration (no kubeconfig, unknown context, not in a pod)."""


class NotReady(RayopError):
    """A cluster or job did not get where it was waited for; the message says why (events, pod conditions)."""


class Unreachable(RayopError):
    """No address of the Ray head can be reached from where this code runs; the message says what was tried."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: Invalid, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 422: Invalid,
}


def from_response(status: int, body: str | bytes | None, resource: str = "") -> ApiError:
    """The exception for an API server error response (a metav1.Status body, or plain text)."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    parsed: dict[str, Any] = {}
    try:
        loaded = json.loads(text) if text else {}
        parsed = loaded if isinstance(loaded, dict) else {}
    except ValueError:
        pass
    message = str(parsed.get("message") or text.strip() or f"HTTP {status}")
    reason = str(parsed.get("reason") or "")
    details = parsed.get("details") or {}
    cls = _BY_STATUS.get(status, ApiError)
    if status == 404 and not details.get("name") and resource:
        # An object that is not there comes back with details.name; a resource type that is not served has none.
        cls = CrdMissing
        message = f"{resource} is not served by this API server (are the ray.io CRDs installed?): {message}"
    return cls(message, status=status, reason=reason, body=parsed)
