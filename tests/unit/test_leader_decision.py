"""The pure leader-election rule (client-go's tryAcquireOrRenew) and the Lease record it reads and writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rayop.kube.leader import (
    LEASE_NAME,
    Acquire,
    Create,
    LeaseRecord,
    Observation,
    Renew,
    Standby,
    decide,
    format_microtime,
    lease_object,
    parse_microtime,
    released,
)

WALL = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
EARLIER = WALL - timedelta(minutes=5)
ME, OTHER = "rayop-7d9f_1", "rayop-5c2b_2"
LEASE = LEASE_NAME


def held_by(holder: str, *, duration: int = 15, transitions: int = 3, renewed: datetime = EARLIER) -> LeaseRecord:
    return LeaseRecord(holder, duration, EARLIER, renewed, transitions)


def test_a_missing_lease_is_created_holding_it_with_zero_transitions() -> None:
    decision = decide(None, None, now=100.0, wall=WALL, identity=ME, lease_duration=15)
    assert decision.action == Create(LeaseRecord(ME, 15, WALL, WALL, 0))


def test_own_lease_is_renewed_keeping_acquire_time_and_transitions() -> None:
    decision = decide(held_by(ME), None, now=100.0, wall=WALL, identity=ME, lease_duration=15)
    assert decision.action == Renew(LeaseRecord(ME, 15, EARLIER, WALL, 3))


def test_a_foreign_live_lease_is_waited_on_until_it_could_expire() -> None:
    lease = held_by(OTHER)
    seen = Observation(lease, at=95.0)
    decision = decide(lease, seen, now=100.0, wall=WALL, identity=ME, lease_duration=15)
    assert decision.action == Standby(OTHER, 10.0)
    assert decision.observation == seen


def test_a_foreign_lease_first_seen_now_is_valid_for_a_full_duration() -> None:
    decision = decide(held_by(OTHER), None, now=100.0, wall=WALL, identity=ME, lease_duration=15)
    assert decision.action == Standby(OTHER, 15.0)
    assert decision.observation == Observation(held_by(OTHER), 100.0)


def test_a_renewed_foreign_lease_restarts_the_expiry_clock() -> None:
    seen = Observation(held_by(OTHER, renewed=EARLIER), at=80.0)
    renewed = held_by(OTHER, renewed=EARLIER + timedelta(seconds=2))
    decision = decide(renewed, seen, now=100.0, wall=WALL, identity=ME, lease_duration=15)
    assert decision.action == Standby(OTHER, 15.0)


def test_an_expired_foreign_lease_is_taken_over_with_one_more_transition() -> None:
    lease = held_by(OTHER)
    decision = decide(lease, Observation(lease, at=80.0), now=100.0, wall=WALL, identity=ME, lease_duration=15)
    assert decision.action == Acquire(LeaseRecord(ME, 15, WALL, WALL, 4))


def test_expiry_uses_the_holders_lease_duration_not_ours() -> None:
    lease = held_by(OTHER, duration=30)
    decision = decide(lease, Observation(lease, at=80.0), now=100.0, wall=WALL, identity=ME, lease_duration=15)
    assert decision.action == Standby(OTHER, 10.0)


def test_a_released_lease_is_taken_at_once_though_just_observed() -> None:
    lease = released(held_by(OTHER), WALL)
    decision = decide(lease, None, now=100.0, wall=WALL, identity=ME, lease_duration=15)
    assert decision.action == Acquire(LeaseRecord(ME, 15, WALL, WALL, 4))


def test_a_remote_renew_time_far_in_the_past_does_not_expire_a_lease_just_renewed() -> None:
    # The holder's clock is an hour behind ours: its renewTime looks ancient, but the record changed just now.
    skewed = held_by(OTHER, renewed=WALL - timedelta(hours=1))
    decision = decide(skewed, Observation(held_by(OTHER), at=50.0), now=100.0, wall=WALL, identity=ME,
                      lease_duration=15)
    assert isinstance(decision.action, Standby)


def test_a_remote_renew_time_in_the_future_does_not_keep_an_unchanged_lease_alive() -> None:
    # The holder's clock is an hour ahead, but it stopped renewing: what counts is how long we saw no change.
    skewed = held_by(OTHER, renewed=WALL + timedelta(hours=1))
    decision = decide(skewed, Observation(skewed, at=80.0), now=100.0, wall=WALL, identity=ME, lease_duration=15)
    assert isinstance(decision.action, Acquire)


def test_release_clears_the_holder_with_a_one_second_duration_and_keeps_transitions() -> None:
    assert released(held_by(ME, transitions=7), WALL) == LeaseRecord("", 1, WALL, WALL, 7)


def test_microtime_has_six_fractional_digits_in_utc() -> None:
    assert format_microtime(WALL) == "2026-12-01T10:00:00.000000Z"
    assert parse_microtime("2026-12-01T10:00:00.123456Z") == WALL.replace(microsecond=123456)


def test_a_lease_record_survives_the_round_trip_through_a_lease_object() -> None:
    record = LeaseRecord(ME, 15, EARLIER, WALL.replace(microsecond=42), 2)
    assert LeaseRecord.from_lease(lease_object("ns", LEASE, record)) == record


def test_a_write_keeps_the_read_resource_version_for_optimistic_concurrency() -> None:
    read = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": LEASE, "namespace": "ns", "resourceVersion": "812"},
            "spec": {"holderIdentity": OTHER, "leaseDurationSeconds": 15}}
    body = lease_object("ns", LEASE, LeaseRecord(ME, 15, WALL, WALL, 1), read)
    assert body["metadata"]["resourceVersion"] == "812"
    assert body["spec"]["holderIdentity"] == ME


def test_a_lease_without_election_fields_reads_as_released_and_expired() -> None:
    empty = LeaseRecord.from_lease({"metadata": {"name": LEASE}, "spec": {}})
    decision = decide(empty, None, now=100.0, wall=WALL, identity=ME, lease_duration=15)
    assert decision.action == Acquire(LeaseRecord(ME, 15, WALL, WALL, 1))

