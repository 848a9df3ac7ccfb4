"""KubeRay's RayCluster validation messages (utils/validation.go, webhook), reported with field paths."""

from __future__ import annotations

import pytest

from rayop.operator.raycluster.validation import validate_raycluster
from tests.unit.raycluster_fixtures import SAMPLE, make_cluster

pytestmark = pytest.mark.unit

GROUP = "spec.workerGroupSpecs.0"
HEAD_ENV = "spec.headGroupSpec.template.spec.containers.0.env"


def messages(**changes):
    return [p.message for p in validate_raycluster(make_cluster(**changes))]


def test_sample_cluster_is_valid():
    assert messages() == []


def test_name_longer_than_53_characters():
    assert messages(**{"metadata.name": "a" * 54}) == ["RayCluster name should be no more than 53 characters"]


def test_name_must_be_dns1035_label():
    [msg] = messages(**{"metadata.name": "1abc"})
    assert msg.startswith("RayCluster name should be a valid DNS1035 label: [a DNS-1035 label must consist of")


def test_duplicate_group_names():
    group = SAMPLE["spec"]["workerGroupSpecs"][0]
    problems = validate_raycluster(make_cluster(**{"spec.workerGroupSpecs": [group, group]}))
    assert [(p.path, p.message) for p in problems] == [
        ("spec.workerGroupSpecs[1]", "worker group names must be unique")
    ]


def test_min_replicas_greater_than_max_replicas():
    assert messages(**{f"{GROUP}.minReplicas": 5, f"{GROUP}.maxReplicas": 2}) == [
        "worker group small-group has minReplicas 5 greater than maxReplicas 2"
    ]


def test_negative_min_replicas():
    assert "worker group small-group has negative minReplicas -1" in messages(**{f"{GROUP}.minReplicas": -1})


def test_missing_min_max_without_autoscaling():
    assert messages(**{f"{GROUP}.maxReplicas": None}) == [
        "worker group small-group must set both minReplicas and maxReplicas when autoscaling is disabled"
    ]


def test_resources_in_both_ray_start_params_and_group_resources():
    assert messages(**{f"{GROUP}.rayStartParams": {"num-cpus": "1"}, f"{GROUP}.resources": {"cpu": "1"}}) == [
        "resource fields should not be set in both rayStartParams and Resources for small-group group; "
        "please use only one"
    ]


def test_labels_in_ray_start_params_of_head():
    assert messages(**{"spec.headGroupSpec.rayStartParams": {"labels": "a=b"}}) == [
        "rayStartParams['labels'] is not supported for Head group; please use the top-level Labels field instead"
    ]


def test_invalid_group_label_key():
    [msg] = messages(**{f"{GROUP}.labels": {"bad key": "v"}})
    assert msg.startswith("invalid label key for small-group group: 'bad key', error: name part must consist of")


def test_ft_annotation_and_options_together():
    assert messages(
        **{
            "metadata.annotations": {"ray.io/ft-enabled": "true"},
            "spec.gcsFaultToleranceOptions": {"redisAddress": "r"},
        }
    ) == [
        "ray.io/ft-enabled annotation and GcsFaultToleranceOptions are both set. Please use only "
        "GcsFaultToleranceOptions to configure GCS fault tolerance"
    ]


def test_redis_address_env_without_ft():
    [msg] = messages(**{HEAD_ENV: [{"name": "RAY_REDIS_ADDRESS", "value": "r"}]})
    assert msg.startswith("RAY_REDIS_ADDRESS is set which implicitly enables GCS fault tolerance")


def test_redis_password_in_ray_start_params_with_ft_options():
    assert messages(
        **{
            "spec.gcsFaultToleranceOptions": {"redisAddress": "r"},
            "spec.headGroupSpec.rayStartParams": {"redis-password": "p"},
        }
    ) == [
        "cannot set `redis-password` in rayStartParams when GcsFaultToleranceOptions is enabled - use "
        "GcsFaultToleranceOptions.RedisPassword instead"
    ]


def test_redis_username_anywhere_but_ft_options():
    assert messages(**{"spec.headGroupSpec.rayStartParams": {"redis-username": "u"}}) == [
        "cannot set redis username in rayStartParams or environment variables - use "
        "GcsFaultToleranceOptions.RedisUsername instead"
    ]


def test_autoscaler_env_must_not_set_generated_start_command():
    [msg] = messages(
        **{"spec.autoscalerOptions": {"env": [{"name": "KUBERAY_GEN_AUTOSCALER_START_CMD", "value": "x"}]}}
    )
    assert msg.startswith("autoscalerOptions.env must not contain KUBERAY_GEN_AUTOSCALER_START_CMD")


def test_autoscaler_v2_env_without_autoscaling():
    [msg] = messages(**{HEAD_ENV: [{"name": "RAY_enable_autoscaler_v2", "value": "true"}]})
    assert msg.startswith("environment variable RAY_enable_autoscaler_v2 cannot be set to 'true'")


def test_group_suspend_with_autoscaling():
    assert messages(**{"spec.enableInTreeAutoscaling": True, f"{GROUP}.suspend": True}) == [
        "worker group small-group cannot be suspended with Autoscaler enabled"
    ]


def test_restart_policy_with_autoscaler_v2():
    assert messages(
        **{
            "spec.enableInTreeAutoscaling": True,
            "spec.autoscalerOptions": {"version": "v2"},
            "spec.headGroupSpec.template.spec.restartPolicy": "Always",
        }
    ) == ["restartPolicy for head Pod should be Never or unset when using autoscaler V2"]


def test_idle_timeout_requires_autoscaler_v2():
    [msg] = messages(**{f"{GROUP}.idleTimeoutSeconds": 30})
    assert msg.startswith("worker group small-group: idleTimeoutSeconds is set, but autoscaler v2 is not enabled.")


def test_priority_requires_ray_2_56():
    assert messages(**{f"{GROUP}.priority": 1}) == [
        "worker group small-group: priority is set, but minimum Ray version is 2.56.0, got 2.9.0"
    ]


def test_token_auth_requires_ray_2_52():
    assert messages(**{"spec.authOptions": {"mode": "token"}}) == [
        "authOptions.mode is 'token' but minimum Ray version is 2.52.0, got 2.9.0"
    ]


def test_k8s_token_auth_requires_token_mode():
    assert messages(**{"spec.authOptions": {"enableK8sTokenAuth": True}}) == [
        "authOptions.enableK8sTokenAuth is enabled but authOptions.mode not set to 'token'"
    ]


def test_upgrade_strategy_not_allowed_on_clusters_created_by_rayjob():
    assert messages(
        **{"metadata.labels": {"ray.io/originated-from-crd": "RayJob"}, "spec.upgradeStrategy": {"type": "Recreate"}}
    ) == ["upgradeStrategy cannot be set when RayCluster is created by RayJob"]


def test_alpha_network_policy_fails_like_kuberay_with_gate_off():
    assert messages(**{"spec.networkPolicy": {}}) == [
        "spec.networkPolicy requires the RayClusterNetworkPolicy feature gate to be enabled"
    ]


def test_suspending_and_suspended_both_true_is_an_invalid_status():
    cond = {"status": "True", "reason": "r", "lastTransitionTime": "2024-01-01T00:00:00Z"}
    status = {"conditions": [{"type": "RayClusterSuspending", **cond}, {"type": "RayClusterSuspended", **cond}]}
    [msg] = messages(status=status)
    assert msg.startswith("invalid RayCluster State")
