"""Expectations: our own creates/deletes are remembered until the watch cache shows them (KubeRay §2.6 item 8)."""

from __future__ import annotations

import pytest

from rayop.operator.runtime import expectations as exp_mod
from rayop.operator.runtime.expectations import Expectations

KEY = ("ns", "rc")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(exp_mod.time, "monotonic", c)
    return c


def seen(*pods: tuple[str, str, str, bool]) -> list[tuple[str, str, str, bool]]:
    return list(pods)


def test_nothing_expected_means_nothing_pending() -> None:
    assert Expectations().pending_groups(KEY, []) == frozenset()


def test_created_pod_keeps_its_group_pending_until_the_cache_shows_it(clock: Clock) -> None:
    e = Expectations()
    e.expect_create(KEY, "small", "w0")
    assert e.pending_groups(KEY, []) == {"small"}
    assert e.pending_groups(KEY, seen(("small", "w0", "u0", False))) == frozenset()


def test_satisfied_create_stays_satisfied_after_the_pod_goes_away(clock: Clock) -> None:
    e = Expectations()
    e.expect_create(KEY, "small", "w0")
    e.pending_groups(KEY, seen(("small", "w0", "u0", False)))
    assert e.pending_groups(KEY, []) == frozenset()


def test_created_pod_seen_already_terminating_satisfies_the_expectation(clock: Clock) -> None:
    e = Expectations()
    e.expect_create(KEY, "small", "w0")
    assert e.pending_groups(KEY, seen(("small", "w0", "u0", True))) == frozenset()


def test_deleted_pod_keeps_its_group_pending_while_the_cache_shows_it_live(clock: Clock) -> None:
    e = Expectations()
    e.expect_delete(KEY, "small", "u0")
    assert e.pending_groups(KEY, seen(("small", "w0", "u0", False))) == {"small"}


def test_delete_is_satisfied_once_the_pod_is_terminating(clock: Clock) -> None:
    e = Expectations()
    e.expect_delete(KEY, "small", "u0")
    assert e.pending_groups(KEY, seen(("small", "w0", "u0", True))) == frozenset()


def test_delete_is_satisfied_once_the_pod_is_gone(clock: Clock) -> None:
    e = Expectations()
    e.expect_delete(KEY, "small", "u0")
    assert e.pending_groups(KEY, []) == frozenset()


def test_delete_expectation_matches_uid_not_name(clock: Clock) -> None:
    e = Expectations()
    e.expect_delete(KEY, "headgroup", "old-uid")
    assert e.pending_groups(KEY, seen(("headgroup", "rc-head", "new-uid", False))) == frozenset()


def test_only_the_group_with_unmet_expectations_is_pending(clock: Clock) -> None:
    e = Expectations()
    e.expect_create(KEY, "small", "w0")
    e.expect_create(KEY, "big", "b0")
    assert e.pending_groups(KEY, seen(("small", "w0", "u0", False))) == {"big"}


def test_group_stays_pending_until_every_expectation_is_met(clock: Clock) -> None:
    e = Expectations()
    e.expect_create(KEY, "small", "w0")
    e.expect_create(KEY, "small", "w1")
    assert e.pending_groups(KEY, seen(("small", "w0", "u0", False))) == {"small"}
    assert e.pending_groups(KEY, seen(("small", "w0", "u0", False), ("small", "w1", "u1", False))) == frozenset()


def test_expectations_expire_after_the_ttl(clock: Clock) -> None:
    e = Expectations(ttl=30.0)
    e.expect_create(KEY, "small", "w0")
    e.expect_delete(KEY, "big", "u9")
    clock.now += 29.9
    assert e.pending_groups(KEY, seen(("big", "b9", "u9", False))) == {"small", "big"}
    clock.now += 0.2
    assert e.pending_groups(KEY, seen(("big", "b9", "u9", False))) == frozenset()


def test_clusters_are_independent(clock: Clock) -> None:
    e = Expectations()
    e.expect_create(("ns", "a"), "small", "w0")
    assert e.pending_groups(("ns", "b"), []) == frozenset()
    assert e.pending_groups(("ns", "a"), []) == {"small"}


def test_forget_drops_every_expectation_of_the_cluster(clock: Clock) -> None:
    e = Expectations()
    e.expect_create(KEY, "small", "w0")
    e.expect_delete(KEY, "big", "u1")
    e.expect_create(("other", "rc"), "small", "x")
    e.forget(KEY)
    assert e.pending_groups(KEY, []) == frozenset()
    assert e.pending_groups(("other", "rc"), []) == {"small"}


def test_forget_of_unknown_cluster_is_harmless() -> None:
    Expectations().forget(KEY)


def test_observed_pods_may_be_a_one_shot_iterator(clock: Clock) -> None:
    e = Expectations()
    e.expect_delete(KEY, "small", "u0")
    observed = (p for p in [("small", "w0", "u0", False)])
    assert e.pending_groups(KEY, observed) == {"small"}


def test_met_expectations_are_pruned(clock: Clock) -> None:
    e = Expectations()
    e.expect_create(KEY, "small", "w0")
    e.pending_groups(KEY, seen(("small", "w0", "u0", False)))
    assert e._data == {}
