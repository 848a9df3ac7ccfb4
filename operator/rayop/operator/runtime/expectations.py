"""Scale expectations: remember our own creates/deletes until the watch cache shows them.

Without this, a reconcile pass that runs before the cache has caught up would create the same pods again (or delete
more than intended). As in KubeRay, a group with unmet expectations is skipped for that pass; an expectation expires
after ``ttl`` seconds so a lost watch event cannot block a group forever. After a restart the cache is rebuilt from a
fresh LIST, so nothing here needs to survive the process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

ClusterKey = tuple[str, str]


@dataclass
class _Group:
    creates: dict[str, float] = field(default_factory=dict)  # pod name -> when
    deletes: dict[str, float] = field(default_factory=dict)  # pod uid -> when


class Expectations:
    """Per cluster and group, the pods we created or deleted and have not yet observed as such."""

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._data: dict[ClusterKey, dict[str, _Group]] = {}

    def expect_create(self, key: ClusterKey, group: str, name: str) -> None:
        self._data.setdefault(key, {}).setdefault(group, _Group()).creates[name] = time.monotonic()

    def expect_delete(self, key: ClusterKey, group: str, uid: str) -> None:
        self._data.setdefault(key, {}).setdefault(group, _Group()).deletes[uid] = time.monotonic()

    def drop_create(self, key: ClusterKey, group: str, name: str) -> None:
        """A create failed: stop waiting for that one pod (others of the batch stay expected)."""
        exp = self._data.get(key, {}).get(group)
        if exp is not None:
            exp.creates.pop(name, None)

    def forget(self, key: ClusterKey) -> None:
        self._data.pop(key, None)

    def pending_groups(self, key: ClusterKey, observed: Iterable[tuple[str, str, str, bool]]) -> frozenset[str]:
        """Groups still waiting; ``observed`` is (group, name, uid, deleting) of every cached pod."""
        groups = self._data.get(key)
        if not groups:
            return frozenset()
        observed = list(observed)  # read twice below; a generator would leave live_uids empty
        names = {name for _, name, _, _ in observed}
        live_uids = {uid for _, _, uid, deleting in observed if not deleting}
        now = time.monotonic()
        pending = set()
        for group, exp in list(groups.items()):
            exp.creates = {n: t for n, t in exp.creates.items() if n not in names and now - t < self.ttl}
            exp.deletes = {u: t for u, t in exp.deletes.items() if u in live_uids and now - t < self.ttl}
            if exp.creates or exp.deletes:
                pending.add(group)
            else:
                del groups[group]
        if not groups:
            self._data.pop(key, None)
        return frozenset(pending)
