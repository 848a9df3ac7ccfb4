"""The training-operator's condition algebra (``pkg/util/status.go``), pure.

* once ``Failed=True`` is present nothing is ever added;
* adding ``Running`` removes ``Restarting`` and adding ``Restarting`` removes ``Running``;
* adding ``Succeeded`` or ``Failed`` turns an existing ``Running`` to ``False``;
* the same type with the same status and reason changes nothing; with the same status the transition time is kept;
* an updated condition moves to the end of the list (so "the last condition" is the job's state, as
  ``kubectl get`` shows it).
"""

from __future__ import annotations

from typing import Any

from rayop.api.kubeflow_common import ConditionType as C

Cond = dict[str, Any]


def find(conds: list[Cond], ctype: str) -> Cond | None:
    return next((c for c in conds if c.get("type") == ctype), None)


def is_true(conds: list[Cond], ctype: str) -> bool:
    c = find(conds, ctype)
    return c is not None and c.get("status") == "True"


def is_finished(conds: list[Cond]) -> bool:
    return is_true(conds, C.SUCCEEDED) or is_true(conds, C.FAILED)


def update(conds: list[Cond], ctype: str, reason: str, message: str, now: str, status: bool = True) -> list[Cond]:
    """``conds`` with ``ctype`` set (a new list; the input is not changed)."""
    if is_true(conds, C.FAILED):
        return conds
    value = "True" if status else "False"
    current = find(conds, ctype)
    if current is not None and current.get("status") == value and current.get("reason") == reason:
        return conds
    transition = current.get("lastTransitionTime", now) if current is not None and current.get(
        "status") == value else now
    kept: list[Cond] = []
    for c in conds:
        if c.get("type") == ctype:
            continue
        if {ctype, c.get("type")} == {C.RUNNING, C.RESTARTING}:
            continue
        if ctype in (C.SUCCEEDED, C.FAILED) and c.get("type") == C.RUNNING and c.get("status") != "False":
            c = {**c, "status": "False"}
        kept.append(c)
    kept.append({"type": ctype, "status": value, "reason": reason, "message": message,
                 "lastUpdateTime": now, "lastTransitionTime": transition})
    return kept
