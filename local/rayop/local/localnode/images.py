"""The images the local node stands in for, and what their containers expect of the filesystem (pure).

A local-node pod runs host processes (the host's virtualenv is every Ray image, the host's redis-server is the
redis image), so a container gets the host's filesystem instead of its image's root. Most programs do not mind;
some are configured for their image's layout — KubeRay's external-Redis sample gives redis-server ``dir /data``,
which the redis image has and the host does not. Each entry below declares, for one image, the working directory
its image sets and the paths its image provides writable; the pod runner makes them inside the container's private
mount namespace (a per-container directory bind-mounted over each path, so nothing on the host is written and two
pods never share one), and uses the working directory when the container sets none. Some images change a
distribution's configuration file (mpi-operator's images turn off ssh's host key prompt and sshd's StrictModes,
because their ``.ssh`` comes from a Secret): ``prepend`` lists, per file, the settings the image adds; the
container sees a private copy of the host's file with them first (OpenSSH takes a setting's first value).
Adding an image is one line.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class StandIn:
    #: fnmatch pattern on the repository path without registry, ``library/``, tag or digest (``redis``).
    repository: str
    working_dir: str = ""
    writable: tuple[str, ...] = ()
    #: (path, text): the host's file at ``path`` with ``text`` put first, as the image's Dockerfile edits it.
    prepend: tuple[tuple[str, str], ...] = ()
    note: str = ""


STAND_INS: tuple[StandIn, ...] = (
    StandIn("redis", working_dir="/data", writable=("/data",), note="the redis image's VOLUME and WORKDIR /data"),
    StandIn("bitnami/redis", writable=("/bitnami/redis/data",), note="bitnami's data directory"),
    StandIn("valkey/valkey", working_dir="/data", writable=("/data",), note="like redis"),
    StandIn("mpioperator/*", writable=("/run/sshd",),
            prepend=(("/etc/ssh/ssh_config", "StrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n"),
                     ("/etc/ssh/sshd_config", "StrictModes no\n")),
            note="mpi-operator's build/base: sshd's privilege separation dir, ssh without host key checks "
                 "(.ssh is a read-only Secret), sshd without StrictModes"),
)


def with_prepended(text: str, host_file: str) -> str:
    """``text`` followed by the host's ``host_file`` (empty when the host has none)."""
    try:
        with open(host_file) as fh:
            base = fh.read()
    except OSError:
        base = ""
    return (text if text.endswith("\n") else text + "\n") + base


def repository(image: str) -> str:
    """``docker.io/library/redis:7.4.0@sha256:...`` → ``redis``; ``ghcr.io/org/x:1`` → ``org/x``."""
    ref = image.split("@", 1)[0]
    parts = ref.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    if parts and parts[0] == "library":
        parts = parts[1:]
    path = "/".join(parts)
    name, _, _tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    return name


def stand_in_for(image: str) -> StandIn | None:
    repo = repository(image)
    return next((s for s in STAND_INS if fnmatch.fnmatchcase(repo, s.repository)), None)
