"""Pure: the command lines that start a container process and run an exec probe inside a pod.

A container is started as::

    nsenter --net=/run/netns/<ns> -- unshare --mount --uts --propagation private -- /bin/sh -c <setup> sh <argv...>

``nsenter`` and ``unshare`` exec (neither forks), so the process the agent spawns *is* the container's main
process once the setup script ``exec``s it.  The setup script, run inside the new private mount namespace, joins
the container's cgroup, bind-mounts the per-container ``/tmp``, the pod's ``/dev/shm``, the pod's ``/etc/hosts``,
``/etc/hostname`` and ``/etc/resolv.conf`` and every volume at its mountPath (read-only ones remounted ro),
sets the hostname, changes to ``workingDir`` and execs the command with the container's environment.
Mount targets that do not exist are created on the host filesystem as empty directories/files (there is no
container root filesystem); targets under /tmp land in the private per-container /tmp.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass, field

from . import network_plan as plan


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = False
    is_file: bool = False


@dataclass
class LaunchSpec:
    netns: str
    argv: list[str]
    hostname: str
    working_dir: str = ""
    cgroup_procs: list[str] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    #: (host path under /tmp, empty staging dir outside /tmp): host paths re-exposed over the private /tmp.
    keep_host: list[tuple[str, str]] = field(default_factory=list)


def _bin(name: str) -> str:
    return shutil.which(name) or f"/usr/bin/{name}"


def setup_script(spec: LaunchSpec) -> str:
    q = shlex.quote
    mount, mkdir, touch = _bin("mount"), _bin("mkdir"), _bin("touch")
    lines = ["set -e"]
    lines += [f"echo $$ > {q(p)}" for p in spec.cgroup_procs]
    # Host paths under /tmp (a virtualenv or checkout cloned there) are staged before /tmp is covered.
    for host, staging in spec.keep_host:
        lines.append(f"{mount} --bind {q(host)} {q(staging)}")
    # Parents before children: /tmp first, then volumes sorted by depth.
    for m in sorted(spec.mounts, key=lambda m: (m.target.rstrip("/").count("/"), m.target)):
        t = q(m.target)
        if m.is_file:
            lines.append(f"{mkdir} -p $(dirname {t}); [ -e {t} ] || {touch} {t}")
        else:
            lines.append(f"{mkdir} -p {t}")
        lines.append(f"{mount} --bind {q(m.source)} {t}")
        if m.read_only:
            lines.append(f"{mount} -o remount,bind,ro {t}")
        if m.target.rstrip("/") == "/tmp":
            for host, staging in spec.keep_host:
                lines.append(f"{mkdir} -p {q(host)}")
                lines.append(f"{mount} --bind {q(staging)} {q(host)}")
    lines.append(f"{_bin('hostname')} {q(spec.hostname[:63])}")
    if spec.working_dir:
        lines.append(f"{mkdir} -p {q(spec.working_dir)}; cd {q(spec.working_dir)}")
    lines.append('exec "$@"')
    return "\n".join(lines)


def container_argv(spec: LaunchSpec) -> list[str]:
    return [
        _bin("nsenter"),
        f"--net=/run/netns/{spec.netns}",
        "--",
        _bin("unshare"),
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        setup_script(spec),
        "sh",
        *spec.argv,
    ]


def exec_in_container_argv(pid: int, argv: list[str], working_dir: str = "") -> list[str]:
    """Run ``argv`` in the namespaces (net, mount, uts) of the container whose main process is ``pid``."""
    wd = [f"--wd={working_dir}"] if working_dir else []
    return [_bin("nsenter"), "-t", str(pid), "-n", "-m", "-u", *wd, "--", *argv]


def resolv_conf(namespace: str, dns_config: dict[str, object] | None = None) -> str:
    domain = plan.CLUSTER_DOMAIN
    searches = [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]
    nameservers = [plan.CLUSTER_DNS_IP]
    options = ["ndots:5", "timeout:1", "attempts:2"]
    if dns_config:
        nameservers += [str(n) for n in dns_config.get("nameservers", []) or []]  # type: ignore[attr-defined]
        searches += [str(s) for s in dns_config.get("searches", []) or []]  # type: ignore[attr-defined]
        for opt in dns_config.get("options", []) or []:  # type: ignore[attr-defined]
            options.append(f"{opt['name']}:{opt['value']}" if opt.get("value") else opt["name"])
    return (
        "".join(f"nameserver {n}\n" for n in nameservers)
        + f"search {' '.join(searches)}\n"
        + f"options {' '.join(options)}\n"
    )


def hosts_file(
    pod_ip: str,
    hostname: str,
    subdomain: str,
    namespace: str,
    host_aliases: list[dict[str, object]] | None = None,
) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    names = [hostname]
    if subdomain:
        names.insert(0, f"{hostname}.{subdomain}.{namespace}.svc.{plan.CLUSTER_DOMAIN}")
    lines.append(f"{pod_ip}\t{' '.join(names)}")
    for alias in host_aliases or []:
        lines.append(f"{alias['ip']}\t{' '.join(alias.get('hostnames', []))}")  # type: ignore[arg-type]
    return "\n".join(lines) + "\n"


def login_profile(venv_bin: str, host_profile: str = "/etc/profile") -> str:
    """/etc/profile for containers: the host's, then the virtualenv put back on PATH.  Login shells
    (``bash -lc``, which KubeRay uses) reset PATH in /etc/profile; the Ray image's profile adds its Python, and
    here the virtualenv stands in for that image."""
    try:
        with open(host_profile) as fh:
            base = fh.read()
    except OSError:
        base = ""
    return f'{base}\nexport PATH="{venv_bin}:$PATH"\n'
