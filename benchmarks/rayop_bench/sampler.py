"""CPU seconds and resident memory of a process tree, read from /proc (psutil is not needed).

A sampler thread reads ``utime+stime`` and ``VmRSS`` of the operator process and its descendants every ``interval``
seconds, so a run reports CPU used in a window (difference of two readings), peak RSS (the larger of the sampled
tree maximum and the kernel's own high-water mark ``VmHWM`` of the main process) and a time series for plots.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after the last ')' is positional.
    return raw[raw.rindex(")") + 2:].split()


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's ``children`` file)."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += children(p)
    return seen


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` (including reaped children), in seconds; 0 if it is gone."""
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return sum(int(x) for x in f[11:15]) / CLK_TCK


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def hwm_bytes(pid: int) -> int:
    """The kernel's peak RSS of ``pid`` (``VmHWM``)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Sample:
    t: float
    cpu_s: float
    rss_bytes: int


@dataclass
class TreeSampler:
    """Samples a process tree in a background thread; ``t`` values are ``time.monotonic()``."""

    pid: int
    interval: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def read(self) -> Sample:
        pids = tree(self.pid)
        return Sample(time.monotonic(), sum(cpu_seconds(p) for p in pids), sum(rss_bytes(p) for p in pids))

    def start(self) -> TreeSampler:
        self.samples.append(self.read())
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.pid}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.read())

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.samples.append(self.read())

    def mark(self) -> Sample:
        """A reading now (also kept in the series): use two marks to measure a window."""
        s = self.read()
        self.samples.append(s)
        return s

    def peak_rss_bytes(self, since: float = 0.0) -> int:
        sampled = max((s.rss_bytes for s in self.samples if s.t >= since), default=0)
        return max(sampled, hwm_bytes(self.pid)) if since == 0.0 else sampled

    def window(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.t <= end]


def mib(n: float) -> float:
    return round(n / (1024 * 1024), 1)
