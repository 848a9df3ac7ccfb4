"""Resolve a cluster's Redis settings into a :class:`RedisTarget`, reading Secrets/ConfigMaps through a Protocol.

Called from the poller and from one-shot calls, never inside a reconcile pass. A missing Secret or key is a
:class:`RedisConfigError` with a reason the condition and the Warning event carry (``RedisSecretNotFound``), so a
misconfigured cluster is explained instead of showing as a crash-looping head.
"""

from __future__ import annotations

import base64
from typing import Protocol

from rayop.kube.client import KubeClient, NotFound

from .address import Credential, RedisConfigError, RedisSettings, RedisTarget, parse_address


class ObjectReader(Protocol):
    """Reads one key of a Secret or ConfigMap; None when the object or the key does not exist."""

    async def secret_key(self, namespace: str, name: str, key: str) -> str | None: ...

    async def config_map_key(self, namespace: str, name: str, key: str) -> str | None: ...


class KubeReader:
    """:class:`ObjectReader` over the API server (one GET per call: credentials are read rarely)."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def secret_key(self, namespace: str, name: str, key: str) -> str | None:
        try:
            secret = await self.client.get("v1", "secrets", name, namespace)
        except NotFound:
            return None
        if key in (secret.get("stringData") or {}):
            return str(secret["stringData"][key])
        raw = (secret.get("data") or {}).get(key)
        return None if raw is None else base64.b64decode(raw).decode()

    async def config_map_key(self, namespace: str, name: str, key: str) -> str | None:
        try:
            cm = await self.client.get("v1", "configmaps", name, namespace)
        except NotFound:
            return None
        value = (cm.get("data") or {}).get(key)
        return None if value is None else str(value)


async def _value(cred: Credential | None, what: str, namespace: str, reader: ObjectReader) -> str | None:
    if cred is None:
        return None
    if cred.secret is not None:
        name, key = cred.secret
        value = await reader.secret_key(namespace, name, key)
        if value is None and not cred.optional:
            raise RedisConfigError("RedisSecretNotFound",
                                   f"Redis {what}: key {key!r} of Secret {namespace}/{name} not found")
        return value
    if cred.config_map is not None:
        name, key = cred.config_map
        value = await reader.config_map_key(namespace, name, key)
        if value is None and not cred.optional:
            raise RedisConfigError("RedisSecretNotFound",
                                   f"Redis {what}: key {key!r} of ConfigMap {namespace}/{name} not found")
        return value
    return cred.value


async def resolve(settings: RedisSettings, namespace: str, reader: ObjectReader) -> RedisTarget:
    """The Redis endpoint with literal credentials; raises :class:`RedisConfigError` when it cannot be built."""
    address = await _value(settings.address, "address", namespace, reader) or ""
    username = await _value(settings.username, "username", namespace, reader)
    password = await _value(settings.password, "password", namespace, reader)
    return parse_address(address, username=username or None, password=password or None)
