"""Failed RayCluster passes are retried with exponential back-off (KubeRay: controller-runtime's), not every 2 s."""

from __future__ import annotations

import pytest

from rayop.operator.runtime.workqueue import ERROR_BACKOFF_MAX_S, error_backoff

pytestmark = pytest.mark.unit


def test_the_first_retry_comes_after_two_seconds() -> None:
    assert error_backoff(1) == 2.0


def test_each_further_failure_doubles_the_delay() -> None:
    assert [error_backoff(n) for n in (2, 3, 4)] == [4.0, 8.0, 16.0]


def test_the_delay_is_capped_at_five_minutes_even_after_very_many_failures() -> None:
    assert error_backoff(9) == ERROR_BACKOFF_MAX_S == 300.0
    assert error_backoff(10_000) == 300.0
