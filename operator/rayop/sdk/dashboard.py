"""The few Ray Jobs API calls the SDK makes itself (logs, info, stop), over plain HTTP.

Submitting with a ``working_dir`` goes through Ray's own ``JobSubmissionClient`` instead (see :mod:`rayop.sdk.jobs`),
because packaging and uploading the directory is exactly what Ray's job CLI does and should stay Ray's code.
"""

from __future__ import annotations

from typing import Any

import requests

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def _get(base: str, path: str, timeout: float = 10) -> Any:
    resp = requests.get(f"{base.rstrip('/')}/api/jobs/{path}", timeout=timeout)
    resp.raise_for_status()
    return resp.json()


def job_info(base: str, submission_id: str) -> dict[str, Any]:
    return dict(_get(base, submission_id))


def job_logs(base: str, submission_id: str) -> str:
    return str(_get(base, f"{submission_id}/logs").get("logs") or "")


def stop_job(base: str, submission_id: str) -> bool:
    resp = requests.post(f"{base.rstrip('/')}/api/jobs/{submission_id}/stop", timeout=10)
    resp.raise_for_status()
    return bool(resp.json().get("stopped"))
