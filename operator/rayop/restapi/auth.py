"""Who is calling, and may they: TokenReview for the bearer token, SubjectAccessReview for the request.

Why TokenReview + SubjectAccessReview rather than impersonation: the API answers for the caller with Kubernetes'
own RBAC decision on exactly the verb/resource/namespace of the route, while it reads what the caller need not be
granted (the cluster's head Service and dashboard for streamed logs). Impersonation would also have to forward
every group of the caller as a repeated ``Impersonate-Group`` header, which the official Python client cannot send
(its headers are a plain dict), and a caller's group bindings would silently be lost. Reviews are cached for a few
seconds per token so a polling CI job does not double the API server's load.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from rayop.sdk.client import Client

TTL_S = 10.0


@dataclass(frozen=True)
class Caller:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)


class AuthError(Exception):
    """401 (no or bad token) or 403 (RBAC says no); ``message`` is what the response body says."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def bearer(header: str | None) -> str:
    if not header:
        raise AuthError(401, "no credentials: send the header 'Authorization: Bearer <token>' with a Kubernetes "
                             "token (e.g. kubectl create token SERVICEACCOUNT)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "the Authorization header must be 'Bearer <token>'")
    return token.strip()


class Authorizer:
    """TokenReview/SubjectAccessReview through the API's own identity (``client``), with a short cache."""

    def __init__(self, client: Client) -> None:
        from kubernetes import client as k8s

        self.authn = k8s.AuthenticationV1Api(client.api_client)
        self.authz = k8s.AuthorizationV1Api(client.api_client)
        self.client = client
        self._callers: dict[str, tuple[float, Caller | None]] = {}
        self._decisions: dict[tuple[str, ...], tuple[float, bool, str]] = {}

    def authenticate(self, token: str) -> Caller:
        key = hashlib.sha256(token.encode()).hexdigest()
        hit = self._callers.get(key)
        if hit and time.monotonic() - hit[0] < TTL_S:
            caller = hit[1]
        else:
            review = self.client.call(self.authn.create_token_review,
                                      {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                       "spec": {"token": token}})
            st = review.status
            caller = None
            if st is not None and st.authenticated and st.user is not None:
                caller = Caller(st.user.username or "", st.user.uid or "", tuple(st.user.groups or ()),
                                {k: list(v) for k, v in (st.user.extra or {}).items()})
            self._callers[key] = (time.monotonic(), caller)
        if caller is None:
            raise AuthError(401, "the bearer token is not valid for this Kubernetes cluster (TokenReview refused it)")
        return caller

    def authorize(self, caller: Caller, verb: str, resource: str, namespace: str, name: str = "",
                  subresource: str = "") -> None:
        key = (caller.username, *caller.groups, verb, resource, namespace, name, subresource)
        hit = self._decisions.get(key)
        if hit and time.monotonic() - hit[0] < TTL_S:
            allowed, reason = hit[1], hit[2]
        else:
            attrs: dict[str, Any] = {"group": "ray.io", "version": "v1", "resource": resource, "verb": verb,
                                     "namespace": namespace}
            if name:
                attrs["name"] = name
            if subresource:
                attrs["subresource"] = subresource
            review = self.client.call(self.authz.create_subject_access_review, {
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": caller.username, "uid": caller.uid, "groups": list(caller.groups),
                         "extra": caller.extra, "resourceAttributes": attrs}})
            allowed = bool(review.status and review.status.allowed)
            reason = (review.status.reason or "") if review.status else ""
            self._decisions[key] = (time.monotonic(), allowed, reason)
        if not allowed:
            what = f"{resource}.ray.io" + (f" \"{name}\"" if name else "") + (f"/{subresource}" if subresource else "")
            raise AuthError(403, f"{what} is forbidden: User \"{caller.username}\" cannot {verb} resource "
                                 f"\"{resource}\" in API group \"ray.io\" in the namespace \"{namespace}\""
                                 + (f": {reason}" if reason else ""))
