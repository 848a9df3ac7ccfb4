"""Service routing for local-node pods: a stand-in for kube-proxy in iptables mode.

What it emulates: for every Service with a ClusterIP (types ClusterIP, NodePort and LoadBalancer alike), each
port/protocol is DNATed to the *ready* endpoints of its EndpointSlices, chosen at random per connection with
equal weight (``statistic --mode random``, as kube-proxy does).  Rules sit in nat chains RAYOP-SERVICES (jumped
to from PREROUTING, for pod traffic arriving on the bridge, and from OUTPUT, for host processes) and are
rewritten with one ``iptables-restore --noflush`` transaction, debounced to 50 ms after any Service or
EndpointSlice change, so traffic follows selector changes well within a second.  A pod reaching itself through
its Service is masqueraded (hairpin).  Packets to a ClusterIP without endpoints are rejected (see netns.py).
Not emulated: NodePorts, externalIPs, LoadBalancer ingress, sessionAffinity, internal/externalTrafficPolicy,
topology hints, terminating-endpoint fallback, conntrack flushing of removed UDP endpoints.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from .kube import KubeClient, watch_forever

log = logging.getLogger(__name__)

Obj = dict[str, Any]
SERVICES_CHAIN = "RAYOP-SERVICES"
POSTROUTING_CHAIN = "RAYOP-POSTROUTING"
MASQ_MARK = "0x40000/0x40000"
HOOKS = (("PREROUTING", SERVICES_CHAIN), ("OUTPUT", SERVICES_CHAIN), ("POSTROUTING", POSTROUTING_CHAIN))


def _key(obj: Obj) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


class ClusterCache:
    """Services and EndpointSlices of the whole cluster, kept by list+watch; ``listeners`` run on every change."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.services: dict[tuple[str, str], Obj] = {}
        self.slices: dict[tuple[str, str], Obj] = {}
        self.lock = threading.Lock()
        self.listeners: list[Callable[[], None]] = []
        self.synced = threading.Event()
        self._synced_kinds: set[str] = set()
        self._stop = threading.Event()

    def start(self) -> None:
        for path, store, kind in (
            ("/api/v1/services", self.services, "svc"),
            ("/apis/discovery.k8s.io/v1/endpointslices", self.slices, "eps"),
        ):
            threading.Thread(
                target=watch_forever,
                daemon=True,
                name=f"watch-{kind}",
                args=(self.client, path, self._on_event(store), self._stop),
                kwargs={"on_sync": self._on_sync(store, kind)},
            ).start()

    def stop(self) -> None:
        self._stop.set()

    def _notify(self) -> None:
        for fn in self.listeners:
            fn()

    def _on_event(self, store: dict[tuple[str, str], Obj]) -> Callable[[str, Obj], None]:
        def handle(etype: str, obj: Obj) -> None:
            with self.lock:
                if etype == "DELETED":
                    store.pop(_key(obj), None)
                else:
                    store[_key(obj)] = obj
            self._notify()

        return handle

    def _on_sync(self, store: dict[tuple[str, str], Obj], kind: str) -> Callable[[list[Obj]], None]:
        def handle(items: list[Obj]) -> None:
            with self.lock:
                store.clear()
                store.update({_key(o): o for o in items})
                self._synced_kinds.add(kind)
                if len(self._synced_kinds) == 2:
                    self.synced.set()
            self._notify()

        return handle

    def services_in(self, namespace: str) -> list[Obj]:
        with self.lock:
            return [s for (ns, _), s in self.services.items() if ns == namespace]

    def snapshot(self) -> tuple[list[Obj], list[Obj]]:
        with self.lock:
            return list(self.services.values()), list(self.slices.values())


def slices_of(svc: Obj, slices: list[Obj]) -> list[Obj]:
    ns, name = _key(svc)
    return [
        s
        for s in slices
        if s["metadata"].get("namespace") == ns
        and (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == name
    ]


def ready_endpoints(svc: Obj, slices: list[Obj], port_name: str, protocol: str) -> list[tuple[str, int]]:
    """(ip, port) of ready endpoints for one Service port, sorted for stable rules."""
    out: set[tuple[str, int]] = set()
    for sl in slices_of(svc, slices):
        if sl.get("addressType", "IPv4") != "IPv4":
            continue
        ports = [
            p
            for p in sl.get("ports") or []
            if (p.get("name") or "") == port_name
            and (p.get("protocol") or "TCP") == protocol
            and p.get("port") is not None
        ]
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            for p in ports:
                out.update((addr, int(p["port"])) for addr in ep.get("addresses", [])[:1])
    return sorted(out)


def _chain(kind: str, *parts: object) -> str:
    return f"RAYOP-{kind}-" + hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:16].upper()


def build_rules(services: list[Obj], slices: list[Obj]) -> tuple[list[str], list[str]]:
    """(chains, rules) of the nat table, in iptables-restore syntax, for the given state."""
    chains = [SERVICES_CHAIN, POSTROUTING_CHAIN]
    rules = [f"-A {POSTROUTING_CHAIN} -m mark --mark {MASQ_MARK} -j MASQUERADE"]
    for svc in sorted(services, key=_key):
        spec = svc.get("spec", {})
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or spec.get("type") == "ExternalName":
            continue
        ns, name = _key(svc)
        for port in spec.get("ports") or []:
            proto = (port.get("protocol") or "TCP").upper()
            if proto not in ("TCP", "UDP", "SCTP"):
                continue
            pname = port.get("name") or ""
            eps = ready_endpoints(svc, slices, pname, proto)
            if not eps:
                continue  # RAYOP-FIREWALL rejects it
            p = proto.lower()
            svc_chain = _chain("SVC", ns, name, pname, proto)
            chains.append(svc_chain)
            rules.append(
                f"-A {SERVICES_CHAIN} -d {ip}/32 -p {p} -m {p} --dport {port['port']} "
                f'-m comment --comment "{ns}/{name}:{pname}" -j {svc_chain}'
            )
            for i, (eip, eport) in enumerate(eps):
                sep = _chain("SEP", ns, name, pname, proto, eip, eport)
                chains.append(sep)
                left = len(eps) - i
                prob = f"-m statistic --mode random --probability {1.0 / left:.10f} " if left > 1 else ""
                rules.append(f"-A {svc_chain} {prob}-j {sep}")
                rules.append(f"-A {sep} -s {eip}/32 -j MARK --set-xmark {MASQ_MARK}")
                rules.append(f"-A {sep} -p {p} -m {p} -j DNAT --to-destination {eip}:{eport}")
    return chains, rules


def restore_payload(chains: list[str], rules: list[str], existing: list[str]) -> str:
    stale = [c for c in existing if c not in chains]
    lines = (
        ["*nat"] + [f":{c} - [0:0]" for c in chains + stale] + rules + [f"-X {c}" for c in stale] + ["COMMIT"]
    )
    return "\n".join(lines) + "\n"


def existing_chains() -> list[str]:
    out = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=False).stdout
    return [line[1:].split()[0] for line in out.splitlines() if line.startswith(":RAYOP-")]


class ServiceProxy:
    def __init__(self, cache: ClusterCache) -> None:
        self.cache = cache
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self.syncs = 0
        cache.listeners.append(self._dirty.set)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="service-proxy")

    def start(self) -> None:
        for hook, chain in HOOKS:
            subprocess.run(
                ["iptables", "-w", "5", "-t", "nat", "-N", chain], capture_output=True, check=False
            )
            if (
                subprocess.run(
                    ["iptables", "-w", "5", "-t", "nat", "-C", hook, "-j", chain],
                    capture_output=True,
                    check=False,
                ).returncode
                != 0
            ):
                subprocess.run(["iptables", "-w", "5", "-t", "nat", "-I", hook, "1", "-j", chain], check=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()

    def sync(self) -> None:
        services, slices = self.cache.snapshot()
        chains, rules = build_rules(services, slices)
        payload = restore_payload(chains, rules, existing_chains())
        res = subprocess.run(
            ["iptables-restore", "-w", "5", "--noflush"],
            input=payload,
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            log.error("iptables-restore failed: %s\n%s", res.stderr, payload[:2000])
        self.syncs += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            if self._stop.is_set():
                return
            self._stop.wait(0.05)
            self._dirty.clear()
            try:
                self.sync()
            except Exception:
                log.exception("service proxy sync failed")


def remove_rules() -> None:
    """Delete every RAYOP nat chain and hook (agent shutdown, or leftovers of a crashed agent)."""
    for hook, chain in HOOKS:
        subprocess.run(
            ["iptables", "-w", "5", "-t", "nat", "-D", hook, "-j", chain], capture_output=True, check=False
        )
    existing = existing_chains()
    if existing:
        payload = (
            "*nat\n"
            + "".join(f":{c} - [0:0]\n" for c in existing)
            + "".join(f"-X {c}\n" for c in existing)
            + "COMMIT\n"
        )
        subprocess.run(
            ["iptables-restore", "-w", "5", "--noflush"],
            input=payload,
            capture_output=True,
            text=True,
            check=False,
        )
