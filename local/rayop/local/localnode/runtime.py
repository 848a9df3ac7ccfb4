"""What every pod runner of one agent shares: the API client, the node it runs on, cgroups, the state directory,
the Service cache (for service-link environment variables) and tuning knobs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import network_plan as plan
from .ipam import IPPool
from .kube import KubeClient
from .procs import CgroupTree


class ServiceSource(Protocol):
    def services_in(self, namespace: str) -> list[dict[str, Any]]: ...


@dataclass
class NodeInfo:
    name: str
    index: int
    pool: IPPool
    allocatable: dict[str, str]
    host_ip: str = plan.GATEWAY_IP


def host_tmp_roots() -> list[str]:
    """Host directories under /tmp that containers must still see although each gets a private /tmp: the top
    directory (``/tmp/<x>``) of the agent's virtualenv and of every import path, e.g. a checkout cloned to /tmp."""
    roots: set[str] = set()
    for path in [sys.prefix, os.path.dirname(sys.executable), *sys.path]:
        parts = os.path.abspath(path or ".").split(os.sep)
        if len(parts) > 2 and parts[1] == "tmp" and parts[2] and os.path.isdir(os.path.join("/tmp", parts[2])):
            roots.add(os.path.join("/tmp", parts[2]))
    return sorted(roots)


def default_path() -> str:
    """PATH inside containers: the agent's own virtualenv first (so ``ray``/``rayop`` resolve), then the system."""
    venv_bin = os.path.dirname(sys.executable)
    return f"{venv_bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Runtime:
    client: KubeClient
    cgroups: CgroupTree
    state_dir: Path
    services: ServiceSource
    #: kubelet uses 10 s doubling to 300 s; tests may shorten it.
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    #: Extra variables every container gets (e.g. PYTHONPATH of a source checkout), below the pod's own env.
    base_env: dict[str, str] = field(default_factory=dict)

    def pod_dir(self, uid: str) -> Path:
        return self.state_dir / "pods" / uid
