"""Where a RayCluster's GCS keeps its state in Redis, and with which credentials (pure; Secrets read by the caller).

The head learns all of this from its env (see ``rayop.operator.builders.gcs_ft``); the operator needs the same facts
to probe Redis and to delete the cluster's keys, so it reads them from the same places the head does:

* ``gcsFaultToleranceOptions.redisAddress`` / ``redisUsername`` / ``redisPassword`` (value or ``valueFrom``), or
* with the legacy ``ray.io/ft-enabled`` annotation, the head container's ``RAY_REDIS_ADDRESS`` and ``REDIS_PASSWORD``
  env (value or ``valueFrom``) and a literal ``redis-password`` in its rayStartParams.

The address is parsed as KubeRay's cleanup Job parses it: the first entry of a comma-separated list, ``redis://``
prepended when it has no scheme, ``rediss://`` meaning TLS; a username/password inside the URI is the fallback
when no explicit credential is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from rayop.api.raycluster import RayCluster

DEFAULT_REDIS_PORT = 6379


class RedisConfigError(ValueError):
    """The cluster's Redis settings cannot be used (no address, unparsable address, missing Secret or key)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Credential:
    """A literal value or a ``secretKeyRef``/``configMapKeyRef`` to resolve in the cluster's namespace."""

    value: str | None = None
    secret: tuple[str, str] | None = None
    config_map: tuple[str, str] | None = None
    optional: bool = False


@dataclass(frozen=True)
class RedisSettings:
    """The unresolved Redis settings of one cluster."""

    address: Credential
    username: Credential | None
    password: Credential | None


@dataclass(frozen=True)
class RedisTarget:
    """A resolved Redis endpoint; ``password`` never appears in ``repr`` (it ends up in logs and test output)."""

    host: str
    port: int
    ssl: bool = False
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        scheme = "rediss" if self.ssl else "redis"
        user = f"{self.username}@" if self.username else ""
        return f"RedisTarget({scheme}://{user}{self.host}:{self.port}, password={'set' if self.password else 'unset'})"

    @property
    def display(self) -> str:
        return f"{'rediss' if self.ssl else 'redis'}://{self.host}:{self.port}"


def _credential(value: str | None, value_from: Any) -> Credential:
    source = value_from or {}
    if isinstance(source, dict):
        for field in ("secretKeyRef", "configMapKeyRef"):
            ref = source.get(field)
            if ref:
                pair = (str(ref.get("name", "")), str(ref.get("key", "")))
                optional = bool(ref.get("optional"))
                if field == "secretKeyRef":
                    return Credential(secret=pair, optional=optional)
                return Credential(config_map=pair, optional=optional)
    return Credential(value=value or "")


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e.get("name", ""): e for e in container.get("env") or []}


def redis_settings(cluster: RayCluster) -> RedisSettings:
    """The cluster's Redis settings from ``gcsFaultToleranceOptions`` or, legacy, from the head container."""
    options = cluster.spec.gcs_fault_tolerance_options
    if options is not None:
        user, pw = options.redis_username, options.redis_password
        return RedisSettings(
            address=Credential(value=options.redis_address or ""),
            username=_credential(user.value, user.value_from) if user is not None else None,
            password=_credential(pw.value, pw.value_from) if pw is not None else None,
        )
    template = cluster.spec.head_group_spec.template or {}
    containers = (template.get("spec") or {}).get("containers") or [{}]
    env = _env(containers[0])
    params = cluster.spec.head_group_spec.ray_start_params or {}
    address = env.get("RAY_REDIS_ADDRESS", {})
    password: Credential | None = None
    if "REDIS_PASSWORD" in env:
        password = _credential(env["REDIS_PASSWORD"].get("value"), env["REDIS_PASSWORD"].get("valueFrom"))
    elif params.get("redis-password") and not str(params["redis-password"]).startswith("$"):
        password = Credential(value=str(params["redis-password"]))
    return RedisSettings(address=_credential(address.get("value"), address.get("valueFrom")),
                         username=None, password=password)


def parse_address(address: str, *, username: str | None = None, password: str | None = None) -> RedisTarget:
    """KubeRay's cleanup-Job parsing of ``RAY_REDIS_ADDRESS``: first of a list, ``redis://`` if no scheme."""
    first = address.split(",")[0].strip()
    if not first:
        raise RedisConfigError("RedisAddressMissing", "no Redis address: set gcsFaultToleranceOptions.redisAddress")
    url = first if "://" in first else f"redis://{first}"
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        raise RedisConfigError("InvalidRedisAddress", f"Redis address {first!r}: scheme must be redis or rediss")
    try:
        port = parsed.port or DEFAULT_REDIS_PORT
    except ValueError:
        raise RedisConfigError("InvalidRedisAddress", f"Redis address {first!r} has an invalid port") from None
    if not parsed.hostname:
        raise RedisConfigError("InvalidRedisAddress", f"Redis address {first!r} has no host")
    return RedisTarget(
        host=parsed.hostname, port=port, ssl=parsed.scheme == "rediss",
        username=username if username is not None else (unquote(parsed.username) if parsed.username else None),
        password=password if password is not None else (unquote(parsed.password) if parsed.password else None),
    )


def storage_namespace_of(body: dict[str, Any]) -> str | None:
    """KubeRay's storage-namespace rule on a raw RayCluster body (None without GCS FT): UID, overridden by the
    ``ray.io/external-storage-namespace`` annotation, overridden by ``externalStorageNamespace``. The same rule as
    ``rayop.operator.builders.gcs_ft.external_storage_namespace`` (a unit test holds the two together), on raw bodies
    so the garbage collector never fails on a cluster whose spec does not parse."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    annotations = meta.get("annotations") or {}
    options = spec.get("gcsFaultToleranceOptions")
    if str(annotations.get("ray.io/ft-enabled", "")).lower() != "true" and options is None:
        return None
    namespace = annotations.get("ray.io/external-storage-namespace", meta.get("uid", ""))
    if isinstance(options, dict) and options.get("externalStorageNamespace"):
        namespace = options["externalStorageNamespace"]
    return str(namespace) or None
