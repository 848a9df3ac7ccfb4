"""A load generator for a RayService's serve Service, and the pure summary of what it saw during an upgrade.

Each worker thread sends ``GET <url>`` one after the other, each on a **new TCP connection** (``Connection:
close``): kube-proxy (and the local node's stand-in) picks an endpoint per connection, so a fresh connection per
request is what follows a Service's selector change at once, as an ingress or a client without keep-alive sees it.
Every request is recorded: start and end (``time.monotonic()``), outcome, and which version and pod answered (the
example app answers ``{"version": ..., "pod": ...}``). A failed request is a failure: nothing is retried.

The load is bounded in count and time and stops by itself (``max_requests``, ``max_seconds``); its target is the
ClusterIP of a Service on this machine's local node (reached from the host through the node's DNAT), never anything
outside this machine: :func:`stays_on_this_machine` is checked before the first request and every second after, and
the load stops when the route leaves the machine (the local node's routes to the Service range go with its agent;
without them a ClusterIP would go to the default gateway).

:func:`summarize` turns the samples and the moment of the spec change into the figures of the ``rayservice``
scenario: requests, failures, p50/p99 latency, and how long after the change the old version still answered and
when only the new one did.

Also a small CLI, to watch an upgrade by hand::

    python -m benchmarks.rayop_bench.serveload http://10.96.0.57:8000/ --seconds 120 --rate 50
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import statistics
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One request: monotonic start and end, and what came back (``version``/``pod`` empty on failure)."""

    start: float
    end: float
    ok: bool
    version: str = ""
    pod: str = ""
    error: str = ""

    @property
    def latency(self) -> float:
        return self.end - self.start


def parse_answer(status: int, body: bytes) -> tuple[bool, str, str, str]:
    """(ok, version, pod, error) of one HTTP answer: ok only for a 200 whose JSON names a version."""
    if status != 200:
        return False, "", "", f"HTTP {status}: {body[:120].decode(errors='replace')}"
    try:
        data = json.loads(body)
    except ValueError:
        return False, "", "", f"not JSON: {body[:120].decode(errors='replace')}"
    if not isinstance(data, dict) or not data.get("version"):
        return False, "", "", f"no version in {body[:120].decode(errors='replace')}"
    return True, str(data["version"]), str(data.get("pod", "")), ""


def request_once(host: str, port: int, path: str, timeout: float) -> Sample:
    """One GET on a new connection."""
    start = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read()
        ok, version, pod, error = parse_answer(resp.status, body)
    except (OSError, http.client.HTTPException) as exc:
        ok, version, pod, error = False, "", "", f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return Sample(start, time.monotonic(), ok, version, pod, error)


#: Where a target may be routed: loopback, or the local node's bridge (``rayop.local.localnode.network_plan``).
LOCAL_DEVICES = ("lo", "rayop0")


def route_device(output: str) -> str:
    """The ``dev`` of one ``ip route get`` answer ("" if it names none)."""
    words = output.split()
    return words[words.index("dev") + 1] if "dev" in words[:-1] else ""


def stays_on_this_machine(host: str) -> bool:
    """True if packets to ``host`` stay on this machine: a loopback address, or one the kernel routes onto the local
    node's bridge (pods, and the Service range while the agent runs)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if addr.is_loopback:
        return True
    out = subprocess.run(["ip", "route", "get", str(addr)], capture_output=True, text=True, check=False)
    return out.returncode == 0 and route_device(out.stdout) in LOCAL_DEVICES


@dataclass
class LoadGenerator:
    """``concurrency`` threads sending requests to ``url`` at ``rate`` requests/s in all (0 = as fast as answers
    come), until :meth:`stop`, ``max_requests`` or ``max_seconds``."""

    url: str
    concurrency: int = 4
    rate: float = 50.0
    timeout: float = 5.0
    max_requests: int = 20000
    max_seconds: float = 900.0
    samples: list[Sample] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._path = parts.path or "/"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.started = 0.0
        self.stopped_by_guard = False

    def start(self) -> LoadGenerator:
        if not stays_on_this_machine(self._host):
            raise ValueError(f"{self._host} is not routed to loopback or the local node's bridge: refusing to load it")
        self.started = time.monotonic()
        for i in range(self.concurrency):
            t = threading.Thread(target=self._worker, args=(i,), daemon=True, name=f"serveload-{i}")
            t.start()
            self._threads.append(t)
        threading.Thread(target=self._guard, daemon=True, name="serveload-guard").start()
        return self

    def _guard(self) -> None:
        """Stop the load as soon as the target would leave the machine (the local node went away)."""
        while not self._stop.wait(1.0):
            if not stays_on_this_machine(self._host):
                self.stopped_by_guard = True
                self._stop.set()

    def mark(self, label: str) -> float:
        """Record a moment (e.g. ``change``: the spec was changed) on the load's clock; returns it."""
        now = time.monotonic()
        self.marks[label] = now
        return now

    def _worker(self, index: int) -> None:
        interval = self.concurrency / self.rate if self.rate > 0 else 0.0
        # Spread the threads over one interval so the requests do not go out in lockstep.
        next_at = self.started + interval * index / max(1, self.concurrency)
        deadline = self.started + self.max_seconds
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                return
            if next_at > now:
                self._stop.wait(next_at - now)
                continue
            sample = request_once(self._host, self._port, self._path, self.timeout)
            with self._lock:
                if len(self.samples) >= self.max_requests:
                    return
                self.samples.append(sample)
            next_at = max(next_at + interval, time.monotonic()) if interval else 0.0

    def stop(self) -> list[Sample]:
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 1)
        with self._lock:
            return sorted(self.samples, key=lambda s: s.start)

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)


def new_only_since(samples: list[Sample], new_version: str, after: float) -> float | None:
    """The moment from which on only ``new_version`` answered: the end of the last request that ended after
    ``after`` without a ``new_version`` answer (an old answer or a failure), or ``after`` itself if there is none.
    None if the last request did not get ``new_version`` (the load ended before the upgrade did)."""
    ordered = sorted(samples, key=lambda s: s.start)
    if not ordered or not (ordered[-1].ok and ordered[-1].version == new_version):
        return None
    since = after
    for s in ordered:
        if s.end >= after and not (s.ok and s.version == new_version):
            since = max(since, s.end)
    return since


def _pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _rel(t: float | None, origin: float) -> float | None:
    return None if t is None else round(t - origin, 2)


def summarize(samples: list[Sample], change_at: float, old_version: str, new_version: str) -> dict[str, Any]:
    """The figures of an upgrade under load. Times are seconds after ``change_at`` (the spec change):

    * ``requests``, ``failed`` (and the first few distinct errors), ``p50_ms``/``p99_ms``/``max_ms`` over answered
      requests;
    * ``answers``: how many answers each version gave; ``pods``: how many each pod gave;
    * ``last_old_s``: the end of the last answer from ``old_version``;
    * ``first_new_s``: the end of the first answer from ``new_version``;
    * ``new_only_s``: from when on only ``new_version`` answered (:func:`new_only_since`), None if it never did;
    * ``failed_after_change``: failures among requests started after the change.
    """
    ordered = sorted(samples, key=lambda s: s.start)
    ok = [s for s in ordered if s.ok]
    failed = [s for s in ordered if not s.ok]
    latencies = [s.latency for s in ok]
    old = [s.end for s in ok if s.version == old_version]
    new = [s.end for s in ok if s.version == new_version and s.start >= change_at]
    errors = Counter(s.error.split(":", 1)[0] for s in failed)
    span = (ordered[-1].end - ordered[0].start) if ordered else 0.0
    return {
        "requests": len(ordered),
        "failed": len(failed),
        "failed_after_change": sum(1 for s in failed if s.start >= change_at),
        "errors": dict(errors.most_common(5)),
        "first_errors": [s.error for s in failed[:3]],
        "requests_per_s": round(len(ordered) / span, 1) if span > 0 else None,
        "p50_ms": _ms(_pct(latencies, 50)),
        "p99_ms": _ms(_pct(latencies, 99)),
        "max_ms": _ms(max(latencies)) if latencies else None,
        "answers": dict(Counter(s.version for s in ok)),
        "pods": dict(Counter(s.pod for s in ok)),
        "last_old_s": _rel(max(old), change_at) if old else None,
        "first_new_s": _rel(min(new), change_at) if new else None,
        "new_only_s": _rel(new_only_since(ordered, new_version, change_at), change_at),
    }


def samples_json(samples: list[Sample], origin: float) -> list[dict[str, Any]]:
    """Samples with times relative to ``origin``, for a run's JSON record."""
    out = []
    for s in samples:
        d = asdict(s)
        d["start"], d["end"] = round(s.start - origin, 4), round(s.end - origin, 4)
        out.append(d)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.rayop_bench.serveload", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=50.0, help="requests per second in all (0: closed loop)")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--max-requests", type=int, default=20000)
    args = ap.parse_args(argv)
    gen = LoadGenerator(args.url, args.concurrency, args.rate, max_requests=args.max_requests,
                        max_seconds=args.seconds).start()
    last: tuple[str, ...] = ()
    try:
        while time.monotonic() - gen.started < args.seconds:
            time.sleep(1)
            recent = [s for s in gen.snapshot() if s.end > time.monotonic() - 1]
            seen = tuple(sorted({s.version or "FAILED" for s in recent}))
            if seen != last:
                print(f"{time.monotonic() - gen.started:7.1f}s answers from {', '.join(seen) or '-'}", flush=True)
                last = seen
    except KeyboardInterrupt:
        pass
    samples = gen.stop()
    versions = sorted({s.version for s in samples if s.ok})
    print(json.dumps(summarize(samples, gen.started, versions[0] if versions else "",
                               versions[-1] if versions else ""), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
