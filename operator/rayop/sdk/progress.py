"""Live progress for waits: a rich spinner line on a terminal or in a notebook, plain lines otherwise.

Plain mode (CI logs, pipes) prints a line only when the text changes, prefixed with the elapsed seconds, so a log
shows each transition once instead of a spinner's carriage returns.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return shell is not None and hasattr(shell, "kernel")


def interactive(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    return in_notebook() or (hasattr(stream, "isatty") and stream.isatty())


class Progress:
    """``with Progress("Creating RayCluster a/b") as p: p.update("state ...")``; ``quiet`` shows nothing."""

    def __init__(self, title: str, *, stream: TextIO | None = None, rich: bool | None = None,
                 quiet: bool = False) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.rich = interactive(self.stream) if rich is None else rich
        self.started = time.monotonic()
        self._last = ""
        self._status: Any = None

    def __enter__(self) -> Progress:
        if self.quiet:
            return self
        if self.rich:
            from rich.console import Console

            console = Console(file=self.stream, force_jupyter=None)
            self._status = console.status(f"{self.title}: waiting", spinner="dots")
            self._status.__enter__()
        else:
            self._emit("waiting")
        return self

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, text: str) -> None:
        """Show ``text``; the live display refreshes its clock on every call, plain lines only on a change."""
        if self.quiet:
            return
        if self._status is not None:
            self._last = text
            self._status.update(f"{self.title} [{self.elapsed():.0f} s]: {text}")
        elif text != self._last:
            self._last = text
            self._emit(text)

    def _emit(self, text: str) -> None:
        print(f"[{self.elapsed():5.1f}s] {self.title}: {text}", file=self.stream, flush=True)

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self.quiet:
            return
        if self._status is not None:
            self._status.__exit__(et, ev, tb)
            mark = "[green]✓[/green]" if et is None else "[red]✗[/red]"
            self._status.console.print(f"{mark} {self.title} [{self.elapsed():.0f} s]: {self._last}")
        elif et is None:
            self._emit(f"done ({self._last})" if self._last else "done")
