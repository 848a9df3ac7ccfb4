"""The autoscaler sidecar, RBAC and auth injections of the head pod."""

from __future__ import annotations

import pytest

from rayop.operator.builders import BuildOptions
from rayop.operator.builders.auth import build_auth_secret, needs_auth_secret
from rayop.operator.builders.pod import build_head_pod, build_worker_pod
from rayop.operator.builders.rbac import build_autoscaler_rbac
from tests.unit.raycluster_fixtures import env_of, make_cluster

pytestmark = pytest.mark.unit

AUTOSCALING = {"spec.enableInTreeAutoscaling": True}


def sidecar(pod):
    return next(c for c in pod["spec"]["containers"] if c["name"] == "autoscaler")


KUBERAY_START_CMD = (
    "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
)
RAYOP_START_CMD = "rayop autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
RAYOP_IMAGE = BuildOptions(rayop_autoscaler_image="example.com/rayop:1")


def with_options(**options):
    return make_cluster(**AUTOSCALING, **{"spec.autoscalerOptions": options})


def test_by_default_the_sidecar_is_kuberays_running_rays_autoscaler_in_the_head_image():
    container = sidecar(build_head_pod(make_cluster(**AUTOSCALING), name="h"))
    assert container == {
        "name": "autoscaler",
        "image": "rayproject/ray:2.9.0",
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "RAY_CLUSTER_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}}},
            {"name": "RAY_CLUSTER_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "RAY_HEAD_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "KUBERAY_CRD_VER", "value": "v1"},
            {"name": "KUBERAY_GEN_AUTOSCALER_START_CMD", "value": KUBERAY_START_CMD},
        ],
        "command": ["/bin/bash", "-c", "--"],
        "args": [KUBERAY_START_CMD],
        "resources": {
            "limits": {"cpu": "500m", "memory": "512Mi"},
            "requests": {"cpu": "500m", "memory": "512Mi"},
        },
        "volumeMounts": [{"mountPath": "/tmp/ray", "name": "ray-logs"}],
    }


def test_the_default_sidecar_uses_a_login_shell_like_kuberay_when_enable_login_shell_is_set():
    pod = build_head_pod(make_cluster(**AUTOSCALING), BuildOptions(enable_login_shell=True), name="h")
    assert sidecar(pod)["command"] == ["/bin/bash", "-cl", "--"]


def test_a_configured_rayop_image_makes_the_sidecar_run_rayops_autoscaler_from_that_image():
    container = sidecar(build_head_pod(make_cluster(**AUTOSCALING), RAYOP_IMAGE, name="h"))
    assert container["image"] == "example.com/rayop:1"
    assert container["command"] == ["/bin/bash", "-c", "--"]
    assert container["args"] == [RAYOP_START_CMD]
    assert env_of(container)["KUBERAY_GEN_AUTOSCALER_START_CMD"]["value"] == RAYOP_START_CMD


def test_a_user_image_wins_over_the_rayop_image_and_then_runs_rays_autoscaler():
    container = sidecar(build_head_pod(with_options(image="custom:1"), RAYOP_IMAGE, name="h"))
    assert container["image"] == "custom:1"
    assert container["args"] == [KUBERAY_START_CMD]


def test_user_args_win_over_the_rayop_autoscaler_and_run_under_kuberays_bash():
    container = sidecar(build_head_pod(with_options(args=[KUBERAY_START_CMD]), RAYOP_IMAGE, name="h"))
    assert container["image"] == "example.com/rayop:1"
    assert container["command"] == ["/bin/bash", "-c", "--"]
    assert container["args"] == [KUBERAY_START_CMD]


def test_a_user_command_alone_gets_the_generated_start_command_as_its_argument_like_kuberay():
    container = sidecar(build_head_pod(with_options(command=["/bin/sh", "-c"]), name="h"))
    assert container["command"] == ["/bin/sh", "-c"]
    assert container["args"] == [KUBERAY_START_CMD]


def test_with_user_command_and_args_the_gen_start_cmd_env_holds_kuberays_generated_command():
    options = {"command": ["/bin/bash", "-lc", "--"], "args": ["echo hi; $KUBERAY_GEN_AUTOSCALER_START_CMD"]}
    container = sidecar(build_head_pod(with_options(**options), name="h"))
    assert container["command"] == ["/bin/bash", "-lc", "--"]
    assert container["args"] == ["echo hi; $KUBERAY_GEN_AUTOSCALER_START_CMD"]
    assert env_of(container)["KUBERAY_GEN_AUTOSCALER_START_CMD"]["value"] == KUBERAY_START_CMD


def test_with_the_rayop_image_the_gen_start_cmd_env_holds_the_rayop_command_the_operator_generated():
    options = {"args": ["ulimit -n 65536; $KUBERAY_GEN_AUTOSCALER_START_CMD"]}
    container = sidecar(build_head_pod(with_options(**options), RAYOP_IMAGE, name="h"))
    assert env_of(container)["KUBERAY_GEN_AUTOSCALER_START_CMD"]["value"] == RAYOP_START_CMD


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
    container = sidecar(build_head_pod(with_options(**options), name="h"))
    assert container["image"] == "custom:1"
    assert container["imagePullPolicy"] == "Always"
    assert container["resources"] == {"limits": {"cpu": "1"}}
    assert container["command"] == ["/bin/bash", "-c", "--"]
    assert container["args"] == ["ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME)"]
    assert list(env_of(container))[-1] == "X"
    assert container["envFrom"] == [{"configMapRef": {"name": "cm"}}]
    assert container["securityContext"] == {"runAsUser": 1000}


def test_user_volume_mounts_come_before_the_ray_logs_mount_like_kuberay():
    mount = {"name": "custom", "mountPath": "/etc/custom"}
    container = sidecar(build_head_pod(with_options(volumeMounts=[mount]), name="h"))
    assert container["volumeMounts"] == [mount, {"mountPath": "/tmp/ray", "name": "ray-logs"}]


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
