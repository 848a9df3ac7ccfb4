"""The pure parts of benchmarks/rayop_bench/rollout_kill.py: which rollout step a RayService is at, and which
serve configs count as applied to the wrong cluster."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.rayop_bench.rollout_kill import (
    audit_problems,
    deployed_versions,
    hash_problems,
    step_hit,
    step_reached,
)

OLD = {"svc-aaaaa"}


def state(alive: list[str], pending: str = "", apps: dict[str, Any] | None = None,
          selected: str = "svc-aaaaa") -> dict[str, Any]:
    return {"old": OLD, "alive": alive, "pending": pending, "pending_apps": apps or {}, "selected": selected}


BEFORE = state(["svc-aaaaa"])
NAMED = state(["svc-aaaaa"], pending="svc-bbbbb")
CREATED = state(["svc-aaaaa", "svc-bbbbb"], pending="svc-bbbbb")
APPLIED = state(["svc-aaaaa", "svc-bbbbb"], pending="svc-bbbbb", apps={"version": {"status": "DEPLOYING"}})
SWITCHED = state(["svc-aaaaa", "svc-bbbbb"], selected="svc-bbbbb")


def test_nothing_is_reached_before_the_operator_acts_on_the_change() -> None:
    assert not any(step_reached(s, **BEFORE) for s in
                   ("before-pending-create", "after-pending-create", "after-config-apply", "after-switch"))


def test_a_named_pending_cluster_that_does_not_exist_yet_is_exactly_before_pending_create() -> None:
    assert step_hit("before-pending-create", **NAMED)


def test_a_kill_seen_only_once_the_cluster_exists_is_reached_but_not_hit() -> None:
    assert step_reached("before-pending-create", **CREATED)
    assert not step_hit("before-pending-create", **CREATED)


def test_after_pending_create_needs_a_cluster_that_did_not_exist_before() -> None:
    assert step_hit("after-pending-create", **CREATED)
    assert not step_reached("after-pending-create", **NAMED)


def test_after_config_apply_needs_the_pending_apps_reported() -> None:
    assert step_hit("after-config-apply", **APPLIED)
    assert not step_reached("after-config-apply", **CREATED)


def test_after_switch_is_the_serve_service_selecting_a_new_cluster() -> None:
    assert step_hit("after-switch", **SWITCHED)
    assert not step_reached("after-switch", **APPLIED)


def test_an_unknown_step_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown step"):
        step_reached("midway", **BEFORE)


def test_the_old_cluster_showing_the_new_version_is_a_problem() -> None:
    got = audit_problems({"svc-aaaaa": {"v1", "v2"}, "svc-bbbbb": {"v2"}}, OLD, "v1", "v2")
    assert got == ["the old (active) cluster svc-aaaaa ran serve config v2"]


def test_the_new_cluster_showing_the_old_version_is_a_problem() -> None:
    assert audit_problems({"svc-bbbbb": {"v1"}}, OLD, "v1", "v2") == [
        "the new (pending) cluster svc-bbbbb ran serve config v1"]


def test_each_cluster_on_its_own_version_is_no_problem() -> None:
    assert audit_problems({"svc-aaaaa": {"v1"}, "svc-bbbbb": {"v2"}}, OLD, "v1", "v2") == []


def test_versions_are_read_from_each_applications_deployed_config_args() -> None:
    details = {"applications": {"version": {"status": "RUNNING", "deployed_app_config": {
        "name": "version", "import_path": "version_app:app", "args": {"version": "v2"}}},
        "other": {"deployed_app_config": {"import_path": "x:y"}}}}
    assert deployed_versions(details) == {"v2"}
    assert deployed_versions({"controller_info": {}, "proxies": {}, "applications": {}}) == set()


def test_the_new_configs_hash_recorded_on_an_old_cluster_is_a_problem() -> None:
    problems = hash_problems({"svc-aaaaa": {"h-old", "h-new"}, "svc-bbbbb": {"h-new"}}, OLD, "h-old", "h-new",
                             "svc-bbbbb")
    assert problems == ["the old (active) cluster svc-aaaaa was annotated with serve config hash h-new"]


def test_the_old_configs_hash_recorded_on_a_new_cluster_is_a_problem() -> None:
    problems = hash_problems({"svc-aaaaa": {"h-old"}, "svc-bbbbb": {"h-old", "h-new"}}, OLD, "h-old", "h-new",
                             "svc-bbbbb")
    assert problems == ["the new (pending) cluster svc-bbbbb was annotated with serve config hash h-old"]


def test_a_serving_cluster_never_recorded_with_the_new_config_is_a_problem() -> None:
    assert hash_problems({"svc-aaaaa": {"h-old"}}, OLD, "h-old", "h-new", "svc-bbbbb")
    assert hash_problems({"svc-aaaaa": {"h-old"}, "svc-bbbbb": {"h-new"}}, OLD, "h-old", "h-new", "svc-bbbbb") == []
