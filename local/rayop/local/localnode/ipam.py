"""Pod IP allocation: one /24 per local node, handed out round-robin so a freed address is not reused at once
(stale ARP/conntrack entries of a deleted pod then never hit its successor)."""

from __future__ import annotations

import ipaddress
import threading


class PoolExhausted(Exception):
    pass


class IPPool:
    def __init__(self, cidr: str) -> None:
        net = ipaddress.ip_network(cidr)
        # .0 of a /24 inside the /16 is a valid host address, but keep it (and .255) out for readability.
        self._hosts = [str(h) for h in net.hosts()]
        self._used: dict[str, str] = {}
        self._cursor = 0
        self._lock = threading.Lock()
        self.cidr = cidr

    def allocate(self, owner: str) -> str:
        with self._lock:
            for ip, who in self._used.items():
                if who == owner:
                    return ip
            n = len(self._hosts)
            for step in range(n):
                ip = self._hosts[(self._cursor + step) % n]
                if ip not in self._used:
                    self._used[ip] = owner
                    self._cursor = (self._cursor + step + 1) % n
                    return ip
        raise PoolExhausted(f"no free pod IP in {self.cidr}")

    def release(self, ip: str) -> None:
        with self._lock:
            self._used.pop(ip, None)

    def in_use(self) -> dict[str, str]:
        with self._lock:
            return dict(self._used)
