"""How the rayop CLI prints: kubectl-like tables for people, the objects themselves for -o json|yaml."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from rayop.cli import main
from rayop.usercli.output import CLUSTER_COLUMNS, age, cluster_row, key_values, render, table

OBJ = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "mine", "namespace": "team-a"},
       "status": {"state": "ready", "desiredWorkerReplicas": 2, "availableWorkerReplicas": 1, "desiredCPU": "3",
                  "desiredGPU": "0", "desiredMemory": "6Gi"}}


def test_a_table_aligns_columns_like_kubectl_get() -> None:
    assert table([{"A": "x", "BB": "long-value"}, {"A": "yyy", "BB": None}], ["A", "BB"]).splitlines() == [
        "A     BB", "x     long-value", "yyy"]


def test_cluster_rows_show_workers_resources_and_state() -> None:
    text = render([OBJ], None, CLUSTER_COLUMNS, cluster_row)
    header, row = text.splitlines()
    assert header.split()[:2] == ["NAME", "NAMESPACE"]
    assert row.split()[:8] == ["mine", "team-a", "2", "1", "3", "0", "6Gi", "ready"]


def test_json_of_one_named_object_is_the_object() -> None:
    assert json.loads(render([OBJ], "json", CLUSTER_COLUMNS, cluster_row, single=True)) == OBJ


def test_yaml_of_a_listing_is_a_kubernetes_list() -> None:
    data = yaml.safe_load(render([OBJ, OBJ], "yaml", CLUSTER_COLUMNS, cluster_row))
    assert data["kind"] == "List" and len(data["items"]) == 2


def test_an_empty_listing_says_so() -> None:
    assert render([], None, CLUSTER_COLUMNS, cluster_row) == "No resources found."


def test_age_is_kubectl_style() -> None:
    now = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    assert [age(t, now) for t in ("2026-12-02T11:59:15Z", "2026-12-02T11:48:00Z", "2026-11-30T12:00:00Z")] == \
        ["45s", "12m", "2d"]


def test_key_value_flags_parse_and_a_malformed_pair_is_named() -> None:
    assert key_values("a=b, c=d") == {"a": "b", "c": "d"}
    with pytest.raises(ValueError, match="'oops'"):
        key_values("a=b,oops")


def test_create_dry_run_prints_the_manifest_from_kubectl_ray_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "create", "mine", "--dry-run", "--worker-replicas", "3", "--worker-cpu", "1",
                 "--worker-node-selectors", "rayop.io/node-type=local", "-o", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    group = body["spec"]["workerGroupSpecs"][0]
    assert (body["metadata"]["name"], group["replicas"]) == ("mine", 3)
    assert group["template"]["spec"]["nodeSelector"] == {"rayop.io/node-type": "local"}


def test_the_operators_own_subcommands_are_still_registered() -> None:
    from rayop.cli import build_parser

    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"operator", "crds", "dev", "autoscaler", "cluster", "job", "service", "session", "api"} <= set(choices)


def test_plain_progress_prints_each_change_once() -> None:
    import io

    from rayop.sdk.progress import Progress

    out = io.StringIO()
    with Progress("RayCluster a/b", stream=out, rich=False) as p:
        for text in ("state pending", "state pending", "state ready"):
            p.update(text)
    lines = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines == ["RayCluster a/b: waiting", "RayCluster a/b: state pending", "RayCluster a/b: state ready",
                     "RayCluster a/b: done (state ready)"]
