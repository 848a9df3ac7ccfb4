"""Resolve a cluster's Redis settings into a :class:`RedisTarget`, reading Secrets/ConfigMaps through a Protocol.

Called from the poller and from one-shot calls, never inside a reconcile pass. A missing Secret or key is a
:class:`RedisConfigError` with a reason the condition and the Warning event carry (``RedisSecretNotFound``), so a
misconfigured cluster is explained instead of showing as a crash-looping head.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Protocol

from rayop.kube.client import KubeClient, NotFound

from .address import Credential, RedisConfigError, RedisSettings, RedisTarget, parse_address


class ObjectReader(Protocol):
    """Reads one key of a Secret or ConfigMap; None when the object or the key does not exist."""

    async def secret_key(self, namespace: str, name: str, key: str) -> str | None: ...

    async def config_map_key(self, namespace: str, name: str, key: str) -> str | None: ...


def service_name(host: str, namespace: str, domain: str = "cluster.local") -> tuple[str, str] | None:
    """(namespace, Service) when ``host`` is a cluster Service name (``redis``, ``redis.ns``, ``redis.ns.svc``,
    ``redis.ns.svc.<domain>``); None for IPs and outside names."""
    if not host or host[0].isdigit() or ":" in host:
        return None
    parts = host.split(".")
    if len(parts) == 1:
        return namespace, parts[0]
    if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc" and ".".join(parts[3:]) in ("", domain)):
        return parts[1], parts[0]
    return None


class KubeReader:
    """:class:`ObjectReader` over the API server (one GET per call: credentials are read rarely).

    ``route_services``: an operator outside the cluster cannot resolve Service names (cluster DNS) nor reach
    ClusterIPs, so a Redis given as a Service name is reached at a ready endpoint's pod IP instead, as the RayJob
    controller reaches a dashboard at the head pod's IP.
    """

    def __init__(self, client: KubeClient, *, route_services: bool = False) -> None:
        self.client = client
        self.route_services = route_services

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

    async def route(self, target: RedisTarget, namespace: str) -> RedisTarget:
        """``target`` with a Service name replaced by a ready endpoint (when routing is on and it is one)."""
        svc_ref = service_name(target.host, namespace) if self.route_services else None
        if svc_ref is None:
            return target
        ns, name = svc_ref
        try:
            svc = await self.client.get("v1", "services", name, ns)
        except NotFound:
            return target  # not a Service after all (``host.tld``): the name is looked up as given
        port_name = next((str(p.get("name") or "") for p in (svc.get("spec") or {}).get("ports") or []
                          if p.get("port") == target.port), None)
        slices = await self.client.list("discovery.k8s.io/v1", "endpointslices", ns,
                                        label_selector=f"kubernetes.io/service-name={name}")
        for es in slices:
            port = next((int(p["port"]) for p in es.get("ports") or []
                         if port_name is not None and str(p.get("name") or "") == port_name and p.get("port")), None)
            for ep in es.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is not False and ep.get("addresses") and port:
                    return dataclasses.replace(target, host=str(ep["addresses"][0]), port=port)
        raise RedisConfigError("RedisUnreachable", f"Redis Service {ns}/{name} has no ready endpoint")


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
    target = parse_address(address, username=username or None, password=password or None)
    route = getattr(reader, "route", None)
    return await route(target, namespace) if route is not None else target
