"""One informer per watched resource and selector, shared by every controller of the process.

Controllers ask for ``(api_version, plural, label_selector)``; the first ask creates the informer, later asks get the
same one (and may add indexes to it), so a process opens one watch per resource and selector however many kinds
read it — the shape of controller-runtime's shared cache, which KubeRay's manager uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .client import KubeClient
from .informer import IndexFn, Informer, label_index


@dataclass(frozen=True)
class Resource:
    """A watched resource: its API group/version, plural, an optional server-side label selector and an optional
    transform that slims cached objects (the first controller to ask decides it; later asks must agree)."""

    api_version: str
    plural: str
    label_selector: str | None = None
    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.api_version, self.plural, self.label_selector)


class SharedInformers:
    """The process's informers, keyed by resource and selector; started and stopped together."""

    def __init__(self, client: KubeClient, namespace: str | None = None) -> None:
        self.client = client
        #: One plain namespace narrows every watch; None watches the whole cluster.
        self.namespace = namespace
        self._informers: dict[tuple[str, str, str | None], Informer] = {}

    def get(self, resource: Resource, *, index_labels: tuple[str, ...] = ()) -> Informer:
        """The informer of ``resource``, created on first use, with label indexes for ``index_labels``."""
        informer = self._informers.get(resource.key)
        if informer is None:
            informer = Informer(self.client, resource.api_version, resource.plural,
                                label_selector=resource.label_selector, namespace=self.namespace,
                                index_label=index_labels[0] if index_labels else None,
                                transform=resource.transform)
            self._informers[resource.key] = informer
        elif resource.transform is not None and informer.transform is not resource.transform:
            raise ValueError(f"{resource.plural} ({resource.label_selector}) is already cached with another transform")
        for label in index_labels:
            informer.add_index(label, label_index(label))
        return informer

    def add_index(self, resource: Resource, name: str, fn: IndexFn) -> None:
        self.get(resource).add_index(name, fn)

    def all(self) -> list[Informer]:
        return list(self._informers.values())

    def __len__(self) -> int:
        return len(self._informers)

    async def start(self, first: list[Informer] | None = None) -> None:
        """Start every informer and wait until each has listed once; ``first`` are listed before the others
        (children before owners, so an owner's first pass already sees its children)."""
        ordered = list(first or []) + [i for i in self._informers.values() if i not in (first or [])]
        split = len(first or [])
        for group in (ordered[:split], ordered[split:]):
            for informer in group:
                informer.start()
            await asyncio.gather(*(i.synced.wait() for i in group))

    async def stop(self) -> None:
        for informer in self._informers.values():
            await informer.stop()

    def healthy(self) -> bool:
        """Every informer task is alive (a reconnecting informer is alive; a dead task is a bug)."""
        return all(i.running for i in self._informers.values())
