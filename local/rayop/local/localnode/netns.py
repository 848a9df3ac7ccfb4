"""Host network (bridge, forwarding, safety rules) and per-pod network namespaces (``ip netns`` + veth).

Host side: bridge ``rayop0`` with the gateway address, ``ip_forward`` and ``bridge-nf-call-iptables`` on, a route
for the Service range onto the bridge, and filter rules (chain RAYOP-FIREWALL) that REJECT anything from the bridge
that would leave the machine and any packet still addressed to the Service range after DNAT (a Service without
endpoints), so no pod or test ever sends a packet beyond this host.
Pod side: netns ``rayop-<uid prefix>``, veth ``rv<hash>`` on the bridge (hairpin on, so a pod can reach itself
through its own Service) and ``eth0`` inside with the pod IP, loopback up and a default route via the gateway.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path

from . import network_plan as plan

log = logging.getLogger(__name__)


def run(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(argv), capture_output=True, text=True, input=input)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
    return res


def netns_name(pod_uid: str) -> str:
    return f"{plan.NETNS_PREFIX}{pod_uid[:18]}"


def veth_name(pod_uid: str) -> str:
    return f"{plan.VETH_PREFIX}{hashlib.sha1(pod_uid.encode()).hexdigest()[:11]}"  # 13 chars < IFNAMSIZ


def _write_sysctl(path: str, value: str) -> None:
    p = Path("/proc/sys") / path
    if p.exists() and p.read_text().strip() != value:
        p.write_text(value)


#: Filter chains and the built-in chain each is jumped to from.
FIREWALL_CHAINS = {"RAYOP-FIREWALL": "FORWARD", "RAYOP-FIREWALL-OUT": "OUTPUT"}


def firewall_rules() -> dict[str, list[list[str]]]:
    """Rules of the filter chains: nothing leaves the host from the bridge, nothing reaches an unserved ClusterIP."""
    return {
        "RAYOP-FIREWALL": [
            ["-d", plan.SERVICE_CIDR, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
            ["-d", plan.SERVICE_CIDR, "-j", "REJECT"],
            ["-i", plan.BRIDGE_NAME, "!", "-o", plan.BRIDGE_NAME, "-j", "REJECT"],
        ],
        "RAYOP-FIREWALL-OUT": [
            ["-d", plan.SERVICE_CIDR, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
            ["-d", plan.SERVICE_CIDR, "-j", "REJECT"],
        ],
    }


def setup_host() -> None:
    if run("ip", "link", "show", plan.BRIDGE_NAME, check=False).returncode != 0:
        run("ip", "link", "add", plan.BRIDGE_NAME, "type", "bridge")
    addrs = run("ip", "-o", "-4", "addr", "show", "dev", plan.BRIDGE_NAME).stdout
    if f" {plan.GATEWAY_IP}/" not in addrs:
        run("ip", "addr", "add", f"{plan.GATEWAY_IP}/{plan.POD_PREFIX_LEN}", "dev", plan.BRIDGE_NAME)
    run("ip", "link", "set", plan.BRIDGE_NAME, "up")
    run("ip", "route", "replace", plan.SERVICE_CIDR, "dev", plan.BRIDGE_NAME, "src", plan.GATEWAY_IP)
    _write_sysctl("net/ipv4/ip_forward", "1")
    _write_sysctl("net/bridge/bridge-nf-call-iptables", "1")
    for chain, rules in firewall_rules().items():
        if run("iptables", "-t", "filter", "-L", chain, "-n", check=False).returncode != 0:
            run("iptables", "-t", "filter", "-N", chain)
        run("iptables", "-t", "filter", "-F", chain)
        for rule in rules:
            run("iptables", "-t", "filter", "-A", chain, *rule)
        hook = FIREWALL_CHAINS[chain]
        if run("iptables", "-t", "filter", "-C", hook, "-j", chain, check=False).returncode != 0:
            run("iptables", "-t", "filter", "-I", hook, "1", "-j", chain)


def teardown_host_rules() -> None:
    for chain, hook in FIREWALL_CHAINS.items():
        run("iptables", "-t", "filter", "-D", hook, "-j", chain, check=False)
        run("iptables", "-t", "filter", "-F", chain, check=False)
        run("iptables", "-t", "filter", "-X", chain, check=False)


def create_pod_network(pod_uid: str, ip: str) -> str:
    """Create the pod's netns and veth; returns the netns name."""
    ns, veth = netns_name(pod_uid), veth_name(pod_uid)
    delete_pod_network(pod_uid)
    run("ip", "netns", "add", ns)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    run("ip", "link", "set", veth, "master", plan.BRIDGE_NAME)
    run("ip", "link", "set", veth, "type", "bridge_slave", "hairpin", "on", check=False)
    run("ip", "link", "set", veth, "up")
    batch = (
        "\n".join(
            [
                "link set lo up",
                f"addr add {ip}/{plan.POD_PREFIX_LEN} dev eth0",
                "link set eth0 up",
                f"route add default via {plan.GATEWAY_IP} dev eth0",
            ]
        )
        + "\n"
    )
    run("ip", "-n", ns, "-batch", "-", input=batch)
    return ns


def delete_pod_network(pod_uid: str) -> None:
    ns, veth = netns_name(pod_uid), veth_name(pod_uid)
    run("ip", "netns", "delete", ns, check=False)
    run("ip", "link", "delete", veth, check=False)


def cleanup_leftovers() -> list[str]:
    """Remove every rayop- netns and rv* veth (a crashed agent's leftovers).  Returns what was removed."""
    removed: list[str] = []
    for line in run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(plan.NETNS_PREFIX):
            run("ip", "netns", "delete", name, check=False)
            removed.append(f"netns {name}")
    for line in run("ip", "-o", "link", "show", "type", "veth", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(plan.VETH_PREFIX):
            run("ip", "link", "delete", name, check=False)
            removed.append(f"veth {name}")
    return removed
