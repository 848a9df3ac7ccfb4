"""Pure: container state records and the Pod status computed from them (phase, conditions, containerStatuses).

The agent sends the result as a JSON merge patch of ``status``, so lists (conditions, containerStatuses) are
replaced whole and a container's ``state`` never keeps a stale ``running`` next to a new ``terminated``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRecord:
    name: str
    image: str = ""
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    exit_code: int | None = None
    signal: int | None = None
    started_at: str = ""
    finished_at: str = ""
    restart_count: int = 0
    last_state: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    pid: int | None = None

    # -- transitions -----------------------------------------------------------------------------------------
    def set_waiting(self, reason: str, message: str = "") -> None:
        self.state, self.reason, self.message, self.ready, self.started, self.pid = (
            "waiting",
            reason,
            message,
            False,
            False,
            None,
        )

    def set_running(self, pid: int) -> None:
        self.state, self.reason, self.message = "running", "", ""
        self.exit_code, self.signal, self.pid = None, None, pid
        self.started_at, self.finished_at = now(), ""

    def set_terminated(self, returncode: int, reason: str = "", message: str = "") -> None:
        """``returncode`` as subprocess reports it: negative for a signal, exit code 128+N as a runtime does."""
        self.signal = -returncode if returncode < 0 else None
        self.exit_code = 128 + self.signal if self.signal else returncode
        self.state = "terminated"
        self.reason = reason or ("Completed" if self.exit_code == 0 else "Error")
        self.message, self.ready, self.pid = message, False, None
        self.finished_at = now()

    def record_restart(self) -> None:
        """Move the terminated state to lastState and count a restart."""
        self.last_state = {"terminated": self._terminated()}
        self.restart_count += 1

    def _terminated(self) -> dict[str, Any]:
        t: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at or None,
            "finishedAt": self.finished_at or now(),
        }
        if self.signal:
            t["signal"] = self.signal
        if self.message:
            t["message"] = self.message
        return t

    def to_status(self) -> dict[str, Any]:
        if self.state == "running":
            state: dict[str, Any] = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = {"terminated": self._terminated()}
        else:
            state = {
                "waiting": {"reason": self.reason, **({"message": self.message} if self.message else {})}
            }
        return {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "containerID": "",
            "state": state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
        }

    @property
    def succeeded(self) -> bool:
        return self.state == "terminated" and self.exit_code == 0


def pod_phase(
    init: list[ContainerRecord], main: list[ContainerRecord], restart_policy: str, init_failed: bool = False
) -> str:
    if init_failed:
        return "Failed"
    if any(not r.succeeded for r in init):
        return "Pending"
    if main and all(r.state == "terminated" for r in main):
        if all(r.succeeded for r in main):
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        # Always/OnFailure: the failed ones restart.
        return "Running"
    if any(r.state in ("running", "terminated") or r.restart_count > 0 for r in main):
        return "Running"
    return "Pending"


def _cond(ctype: str, ok: bool, reason: str = "") -> dict[str, Any]:
    c: dict[str, Any] = {
        "type": ctype,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now(),
    }
    if reason and not ok:
        c["reason"] = reason
    return c


def pod_status(
    *,
    phase: str,
    pod_ip: str,
    host_ip: str,
    start_time: str,
    sandbox_ready: bool,
    init: list[ContainerRecord],
    main: list[ContainerRecord],
    previous: dict[str, Any] | None = None,
    message: str = "",
    reason: str = "",
) -> dict[str, Any]:
    """The status subresource body; condition lastTransitionTime is kept when the status did not change."""
    initialized = all(r.succeeded for r in init)
    ready = bool(main) and all(r.ready for r in main) and phase == "Running"
    conds = [
        _cond("PodReadyToStartContainers", sandbox_ready),
        _cond("Initialized", initialized, "ContainersNotInitialized"),
        _cond("ContainersReady", ready, "ContainersNotReady"),
        _cond("Ready", ready, "ContainersNotReady"),
    ]
    if phase in ("Succeeded", "Failed"):
        for c in conds[2:]:
            c["status"], c["reason"] = "False", "PodCompleted"
    old = {c["type"]: c for c in (previous or {}).get("conditions", []) or []}
    for c in conds:
        o = old.get(c["type"])
        if o and o.get("status") == c["status"] and o.get("lastTransitionTime"):
            c["lastTransitionTime"] = o["lastTransitionTime"]
    # The patch is a JSON merge patch (lists replaced whole): keep conditions owned by others (PodScheduled, ...).
    conds = [c for t, c in old.items() if t not in {x["type"] for x in conds}] + conds
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conds,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": start_time,
        "initContainerStatuses": [r.to_status() for r in init],
        "containerStatuses": [r.to_status() for r in main],
        "qosClass": (previous or {}).get("qosClass") or "BestEffort",
        "message": message or None,
        "reason": reason or None,
    }
    if pod_ip:
        status["podIP"], status["podIPs"] = pod_ip, [{"ip": pod_ip}]
    return status
