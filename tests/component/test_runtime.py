"""The controller runtime on the real control plane, with small controllers of ConfigMaps: shared informers serve
several controllers from one watch, finalizers are added and removed, and a cleanup that never finishes cannot hang a
deletion past its deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from rayop.kube.client import KubeClient
from rayop.kube.config import load_connection
from rayop.kube.informers import Resource, SharedInformers
from rayop.operator.runtime.controller import Result, Watch, needs_pass_on_change
from rayop.operator.runtime.runner import Context, Runtime, start_controllers
from rayop.operator.settings import Settings

CONFIGMAPS = Resource("v1", "configmaps", "rayop-test/kind=demo")


class Recorder:
    """A controller that records every pass it was given (and optionally holds a finalizer)."""

    resource: ClassVar[Resource] = CONFIGMAPS
    kind: ClassVar[str] = "ConfigMap"
    component: ClassVar[str] = "recorder"
    finalizer: ClassVar[str | None] = None

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.seen: list[tuple[str, str]] = []
        self.finalized: list[str] = []
        self.finalize_hangs = False

    def watches(self) -> Sequence[Watch]:
        return ()

    def is_mine(self, obj: dict[str, Any]) -> bool:
        return True

    def needs_pass(self, old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
        return old is None or old.get("data") != new.get("data") or needs_pass_on_change(old, new)

    async def reconcile(self, obj: dict[str, Any]) -> Result:
        self.seen.append((obj["metadata"]["name"], (obj.get("data") or {}).get("v", "")))
        return Result.done()

    async def finalize(self, obj: dict[str, Any]) -> Result:
        if self.finalize_hangs:
            await asyncio.sleep(3600)
        self.finalized.append(obj["metadata"]["name"])
        return Result.done()

    def forget(self, key: tuple[str, str], obj: dict[str, Any]) -> None:
        pass

    async def close(self) -> None:
        pass


class OtherRecorder(Recorder):
    component: ClassVar[str] = "other-recorder"


class Finalizing(Recorder):
    component: ClassVar[str] = "finalizing"
    finalizer: ClassVar[str | None] = "rayop.io/test-cleanup"


def _settings(control_plane: Any, namespace: str, **queue: Any) -> Settings:
    return Settings(kubeconfig=str(control_plane.kubeconfig), namespaces=[namespace], health_port=0, metrics_port=0,
                    queue={"child_event_debounce_seconds": 0.0, **queue})


async def _until(predicate: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _cm(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": {"v": value},
            "metadata": {"name": name, "labels": {"rayop-test/kind": "demo"}}}


async def test_two_controllers_subscribed_to_one_informer_both_see_every_change(
        control_plane: Any, private_namespace: str) -> None:
    settings = _settings(control_plane, private_namespace)
    client = KubeClient(load_connection(settings.kubeconfig))
    informers = SharedInformers(client, private_namespace)
    runners = await start_controllers([Recorder, OtherRecorder], Runtime(client, settings, informers))
    try:
        assert len(informers) == 1  # one watch for both
        first, second = (r.controller for r in runners)
        for value in ("1", "2", "3"):
            obj = _cm("shared", value)
            if value == "1":
                await client.create(obj, private_namespace)
            else:
                await client.patch("v1", "configmaps", "shared", {"data": {"v": value}}, private_namespace)
            await _until(lambda v=value: ("shared", v) in first.seen and ("shared", v) in second.seen)  # type: ignore[attr-defined]
        assert [v for _, v in first.seen] == ["1", "2", "3"]  # type: ignore[attr-defined]
        assert [v for _, v in second.seen] == ["1", "2", "3"]  # type: ignore[attr-defined]
    finally:
        for r in runners:
            await r.close()
        await informers.stop()
        await client.close()


async def test_the_runtime_adds_a_finalizer_and_removes_it_after_finalize(
        control_plane: Any, private_namespace: str) -> None:
    settings = _settings(control_plane, private_namespace)
    client = KubeClient(load_connection(settings.kubeconfig))
    informers = SharedInformers(client, private_namespace)
    runners = await start_controllers([Finalizing], Runtime(client, settings, informers))
    controller: Any = runners[0].controller
    try:
        await client.create(_cm("fin", "1"), private_namespace)

        async def finalizers() -> list[str]:
            return list((await client.get("v1", "configmaps", "fin", private_namespace))["metadata"].get(
                "finalizers") or [])

        for _ in range(200):
            if await finalizers() == ["rayop.io/test-cleanup"]:
                break
            await asyncio.sleep(0.05)
        assert await finalizers() == ["rayop.io/test-cleanup"]
        await client.delete("v1", "configmaps", "fin", private_namespace)
        await _until(lambda: controller.finalized == ["fin"])
        await _until(lambda: informers.get(CONFIGMAPS).get(private_namespace, "fin") is None)
    finally:
        await runners[0].close()
        await informers.stop()
        await client.close()


async def test_a_cleanup_that_never_finishes_releases_the_finalizer_at_its_deadline(
        control_plane: Any, private_namespace: str) -> None:
    settings = _settings(control_plane, private_namespace, finalizer_deadline_seconds=3)
    client = KubeClient(load_connection(settings.kubeconfig))
    informers = SharedInformers(client, private_namespace)
    runners = await start_controllers([Finalizing], Runtime(client, settings, informers))
    controller: Any = runners[0].controller
    controller.finalize_hangs = True
    try:
        await client.create(_cm("stuck", "1"), private_namespace)
        cache = informers.get(CONFIGMAPS)
        await _until(lambda: "rayop.io/test-cleanup" in ((cache.get(private_namespace, "stuck") or {}).get(
            "metadata", {}).get("finalizers") or []))
        started = asyncio.get_running_loop().time()
        await client.delete("v1", "configmaps", "stuck", private_namespace)
        await _until(lambda: cache.get(private_namespace, "stuck") is None, timeout=30)
        took = asyncio.get_running_loop().time() - started
        print(f"deletion finished {took:.1f} s after the delete (deadline 3 s)")
        assert took >= 2.0  # not before the deadline (deletionTimestamp has whole seconds)
        # Events are posted by a background sender: the Warning may land just after the object is gone.
        for _ in range(100):
            events = await client.list("v1", "events", private_namespace)
            if any(e.get("reason") == "FinalizerDeadlineExceeded" for e in events):
                break
            await asyncio.sleep(0.1)
        assert any(e.get("reason") == "FinalizerDeadlineExceeded" for e in events)
    finally:
        await runners[0].close()
        await informers.stop()
        await client.close()
