"""The autoscaler sidecar, RBAC and auth injections of the head pod."""

from __future__ import annotations

import pytest

from rayop.operator.builders import RAYOP_AUTOSCALER_COMMAND, BuildOptions
from rayop.operator.builders.auth import build_auth_secret, needs_auth_secret
from rayop.operator.builders.pod import build_head_pod, build_worker_pod
from rayop.operator.builders.rbac import build_autoscaler_rbac
from tests.unit.raycluster_fixtures import env_of, make_cluster

pytestmark = pytest.mark.unit

AUTOSCALING = {"spec.enableInTreeAutoscaling": True}


def sidecar(pod):
    return next(c for c in pod["spec"]["containers"] if c["name"] == "autoscaler")


def test_autoscaling_injects_autoscaler_container_running_rayop():
    pod = build_head_pod(make_cluster(**AUTOSCALING), name="h")
    container = sidecar(pod)
    assert container["command"] == list(RAYOP_AUTOSCALER_COMMAND)
    assert container["image"] == "rayproject/ray:2.9.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"] == {
        "limits": {"cpu": "500m", "memory": "512Mi"},
        "requests": {"cpu": "500m", "memory": "512Mi"},
    }
    assert list(env_of(container)) == [
        "RAY_CLUSTER_NAME",
        "RAY_CLUSTER_NAMESPACE",
        "RAY_HEAD_POD_NAME",
        "KUBERAY_CRD_VER",
        "KUBERAY_GEN_AUTOSCALER_START_CMD",
    ]
    assert container["volumeMounts"] == [{"mountPath": "/tmp/ray", "name": "ray-logs"}]


def test_empty_autoscaler_command_option_runs_kuberay_autoscaler_exactly_like_kuberay():
    pod = build_head_pod(make_cluster(**AUTOSCALING), BuildOptions(autoscaler_command=()), name="h")
    container = sidecar(pod)
    assert container["command"] == ["/bin/bash", "-c", "--"]
    assert container["args"] == [
        "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
    ]


def test_autoscaler_options_override_image_resources_command_and_append_env():
    options = {
        "image": "custom:1",
        "imagePullPolicy": "Always",
        "resources": {"limits": {"cpu": "1"}},
        "command": ["/bin/bash", "-c", "--"],
        "args": ["ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME)"],
        "env": [{"name": "X", "value": "1"}],
        "envFrom": [{"configMapRef": {"name": "cm"}}],
        "securityContext": {"runAsUser": 1000},
    }
    container = sidecar(build_head_pod(make_cluster(**AUTOSCALING, **{"spec.autoscalerOptions": options}), name="h"))
    assert container["image"] == "custom:1"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == {"limits": {"cpu": "1"}}
    assert container["command"] == ["/bin/bash", "-c", "--"]
    assert container["args"] == ["ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME)"]
    assert list(env_of(container))[-1] == "X"
    assert container["envFrom"] == [{"configMapRef": {"name": "cm"}}]
    assert container["securityContext"] == {"runAsUser": 1000}


def test_user_args_alone_run_under_bash_like_kuberay():
    options = {"args": ["echo hi; $KUBERAY_GEN_AUTOSCALER_START_CMD"]}
    container = sidecar(build_head_pod(make_cluster(**AUTOSCALING, **{"spec.autoscalerOptions": options}), name="h"))
    assert container["command"] == ["/bin/bash", "-c", "--"]


def test_autoscaling_adds_no_monitor_and_ray_logs_to_head():
    pod = build_head_pod(make_cluster(**AUTOSCALING), name="h")
    ray = pod["spec"]["containers"][0]
    assert " --no-monitor " in ray["args"][0]
    assert {"name": "ray-logs", "emptyDir": {}} in pod["spec"]["volumes"]
    assert pod["spec"]["serviceAccountName"] == "raycluster-sample"


def test_autoscaler_v2_sets_env_and_restart_policy_never_on_head_and_workers():
    cluster = make_cluster(**AUTOSCALING, **{"spec.autoscalerOptions": {"version": "v2"}})
    head = build_head_pod(cluster, name="h")
    assert env_of(head["spec"]["containers"][0])["RAY_enable_autoscaler_v2"]["value"] == "true"
    assert head["spec"]["restartPolicy"] == "Never"
    worker = build_worker_pod(cluster, cluster.spec.worker_group_specs[0], name="w")
    assert worker["spec"]["restartPolicy"] == "Never"


def test_autoscaler_v1_sets_env_false():
    cluster = make_cluster(**AUTOSCALING, **{"spec.autoscalerOptions": {"version": "v1"}})
    head = build_head_pod(cluster, name="h")
    assert env_of(head["spec"]["containers"][0])["RAY_enable_autoscaler_v2"]["value"] == "false"


def test_autoscaler_rbac_is_kuberays_plus_events_for_decision_explanations():
    sa, role, binding = build_autoscaler_rbac(make_cluster(**AUTOSCALING))
    assert sa["metadata"]["name"] == "raycluster-sample"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
        {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    ]
    assert binding["roleRef"]["name"] == "raycluster-sample"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "raycluster-sample", "namespace": "default"}]


def test_token_auth_injects_mode_and_secret_reference_everywhere():
    cluster = make_cluster(**AUTOSCALING, **{"spec.authOptions": {"mode": "token"}})
    head = build_head_pod(cluster, name="h")
    ray_env = env_of(head["spec"]["containers"][0])
    assert ray_env["RAY_AUTH_MODE"]["value"] == "token"
    assert ray_env["RAY_AUTH_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "raycluster-sample", "key": "auth_token"}
    }
    assert "RAY_AUTH_TOKEN" in env_of(sidecar(head))
    worker = build_worker_pod(cluster, cluster.spec.worker_group_specs[0], name="w")
    assert "RAY_AUTH_TOKEN" in env_of(worker["spec"]["initContainers"][0])


def test_auth_secret_holds_token_under_auth_token_key():
    cluster = make_cluster(**{"spec.authOptions": {"mode": "token"}})
    secret = build_auth_secret(cluster, "tok")
    assert secret["metadata"]["name"] == "raycluster-sample"
    assert secret["data"] == {"auth_token": "dG9r"}
    assert needs_auth_secret(cluster)


def test_no_auth_secret_with_user_secret_name():
    assert not needs_auth_secret(make_cluster(**{"spec.authOptions": {"mode": "token", "secretName": "mine"}}))


def test_gcs_ft_options_wire_redis_into_head_and_reconnect_timeout_into_workers():
    ft = {"redisAddress": "redis:6379", "redisPassword": {"valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}}}}
    cluster = make_cluster(**{"spec.gcsFaultToleranceOptions": ft})
    head = build_head_pod(cluster, name="h")
    env = env_of(head["spec"]["containers"][0])
    assert env["RAY_REDIS_ADDRESS"]["value"] == "redis:6379"
    assert env["REDIS_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "s", "key": "p"}}
    assert env["RAY_external_storage_namespace"]["value"] == "0b2f3c1e"
    assert " --redis-password=$REDIS_PASSWORD " in head["spec"]["containers"][0]["args"][0]
    assert head["metadata"]["annotations"]["ray.io/ft-enabled"] == "true"
    assert head["metadata"]["annotations"]["ray.io/external-storage-namespace"] == "0b2f3c1e"
    worker = build_worker_pod(cluster, cluster.spec.worker_group_specs[0], name="w")
    assert env_of(worker["spec"]["containers"][0])["RAY_gcs_rpc_server_reconnect_timeout_s"]["value"] == "600"
