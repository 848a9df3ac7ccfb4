"""The Redis operations rayop needs, behind a Protocol; :class:`RedisStore` is the real one (redis-py asyncio).

Ray keeps one hash per GCS table named ``RAY<namespace>@<TABLE>`` (``ray_interop.md`` §2). Deleting a cluster's
data is deleting every key with that prefix, found by SCAN (never KEYS, which blocks a shared Redis), with UNLINK
(DEL where UNLINK is unknown), as Ray's ``cleanup_redis_storage`` does. The registry of namespaces rayop gave out
is one hash beside the data (:data:`REGISTRY_KEY`). Every call opens its own short-lived connection: the operator
talks to Redis seldom (a probe every few seconds per cluster, a cleanup per deletion), and a connection per call
cannot go stale across a Redis restart.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from .address import RedisTarget

#: Field = storage namespace, value = JSON of the RayCluster it was given to (see :mod:`rayop.gcs_ha.registry`).
REGISTRY_KEY = "rayop:gcs-namespaces"
SCAN_COUNT = 500
T = TypeVar("T")


class RedisFailure(Exception):
    """A Redis call failed; ``reason`` classifies it for the condition (unreachable, authentication)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def key_pattern(storage_namespace: str) -> str:
    """SCAN MATCH pattern of a namespace's keys, glob metacharacters in the namespace escaped."""
    escaped = "".join("\\" + c if c in "*?[]\\" else c for c in storage_namespace)
    return f"RAY{escaped}@*"


@dataclass(frozen=True)
class ProbeInfo:
    """What a successful probe saw: the namespace's key count tells whether the GCS has written yet."""

    keys: int


class Store(Protocol):
    async def ping(self, storage_namespace: str) -> ProbeInfo: ...

    async def delete_namespace(self, storage_namespace: str) -> int:
        """Delete every ``RAY<ns>@*`` key; returns how many were deleted (0 is success too)."""
        ...

    async def register(self, storage_namespace: str, record: str) -> None: ...

    async def unregister(self, storage_namespace: str) -> None: ...

    async def registered(self) -> dict[str, str]: ...


def _classify(exc: BaseException) -> RedisFailure:
    import redis.exceptions as rex

    text = str(exc) or type(exc).__name__
    if isinstance(exc, rex.AuthenticationError | rex.AuthenticationWrongNumberOfArgsError) or (
            isinstance(exc, rex.ResponseError) and ("WRONGPASS" in text or "NOAUTH" in text or "NOPERM" in text)):
        return RedisFailure("RedisAuthenticationFailed", f"Redis refused the credentials: {text}")
    if isinstance(exc, rex.ConnectionError | rex.TimeoutError | OSError | TimeoutError):
        return RedisFailure("RedisUnreachable", f"cannot reach Redis: {text}")
    return RedisFailure("RedisError", f"Redis error: {text}")


class RedisStore:
    """:class:`Store` on one Redis endpoint."""

    def __init__(self, target: RedisTarget, *, timeout: float = 3.0, ca_file: str | None = None) -> None:
        """``ca_file``: the PEM bundle that verifies a ``rediss://`` server (None: the system's trust store)."""
        self.target = target
        self.timeout = timeout
        self.ca_file = ca_file

    def _client(self) -> Any:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        t = self.target
        # No retries inside a call: the caller's backoff and deadline decide when to try again.
        return aioredis.Redis(host=t.host, port=t.port, username=t.username, password=t.password, ssl=t.ssl,
                              ssl_ca_certs=self.ca_file if t.ssl else None,
                              socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                              retry=Retry(NoBackoff(), 0), decode_responses=True)

    async def _run(self, op: Any) -> Any:
        client = self._client()
        try:
            return await op(client)
        except Exception as exc:
            raise _classify(exc) from exc
        finally:
            await client.aclose()

    async def ping(self, storage_namespace: str) -> ProbeInfo:
        async def op(r: Any) -> ProbeInfo:
            await _await(r.ping())
            keys = 0
            async for _ in r.scan_iter(match=key_pattern(storage_namespace), count=SCAN_COUNT):
                keys += 1
            return ProbeInfo(keys=keys)

        return cast(ProbeInfo, await self._run(op))

    async def delete_namespace(self, storage_namespace: str) -> int:
        async def op(r: Any) -> int:
            deleted = 0
            batch: list[str] = []
            async for key in r.scan_iter(match=key_pattern(storage_namespace), count=SCAN_COUNT):
                batch.append(key)
                if len(batch) >= SCAN_COUNT:
                    deleted += await _unlink(r, batch)
                    batch = []
            if batch:
                deleted += await _unlink(r, batch)
            return deleted

        return cast(int, await self._run(op))

    async def register(self, storage_namespace: str, record: str) -> None:
        await self._run(lambda r: _await(r.hset(REGISTRY_KEY, storage_namespace, record)))

    async def unregister(self, storage_namespace: str) -> None:
        await self._run(lambda r: _await(r.hdel(REGISTRY_KEY, storage_namespace)))

    async def registered(self) -> dict[str, str]:
        return cast(dict[str, str], await self._run(lambda r: _await(r.hgetall(REGISTRY_KEY))))


async def _await(value: Awaitable[T] | T) -> T:
    """redis-py's asyncio stubs type some commands as ``Awaitable[T] | T``."""
    if isinstance(value, Awaitable):
        return cast(T, await value)
    return value


async def _unlink(r: Any, keys: list[str]) -> int:
    import redis.exceptions as rex

    try:
        return int(await r.unlink(*keys))
    except rex.ResponseError as exc:
        if "unknown command" not in str(exc).lower():
            raise
        return int(await r.delete(*keys))
