"""Head and worker pods match what KubeRay builds (expectations from KubeRay's pod_test.go, kuberay.md 4.3)."""

from __future__ import annotations

import pytest

from rayop.operator.builders import BuildOptions, names
from rayop.operator.builders.pod import build_head_pod, build_worker_pod
from rayop.operator.builders.raystart import apply_group_resources, fill_from_container_resources, render_flags
from tests.unit.raycluster_fixtures import env_of, make_cluster

pytestmark = pytest.mark.unit

FQDN = "raycluster-sample-head-svc.default.svc.cluster.local"
ULIMIT = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; "


def head(**changes):
    return build_head_pod(make_cluster(**changes), name="raycluster-sample-head-abcde")


def worker(options: BuildOptions | None = None, **changes):
    cluster = make_cluster(**changes)
    group = cluster.spec.worker_group_specs[0]
    return build_worker_pod(cluster, group, options or BuildOptions(), name="w-1")


def ray_container(pod):
    return pod["spec"]["containers"][0]


# --- names ----------------------------------------------------------------------------------------------------


def test_head_pod_name_has_kuberay_shape_and_is_deterministic():
    cluster = make_cluster()
    name = names.head_pod_name(cluster)
    assert name.startswith("raycluster-sample-head-") and len(name) == len("raycluster-sample-head-") + 5
    assert names.head_pod_name(cluster) == name


def test_worker_pod_name_truncates_cluster_and_group_prefix_to_50_chars():
    cluster = make_cluster(**{"metadata.name": "c" * 40})
    name = names.worker_pod_name(cluster, "g" * 20, "xyz12")
    assert name == ("c" * 40 + "-" + "g" * 9) + "-worker-xyz12"


def test_check_name_keeps_the_last_50_characters_and_replaces_leading_digit():
    assert names.check_name("a" * 10 + "1" + "b" * 49) == "r" + "b" * 49


def test_name_suffix_uses_kubernetes_random_alphabet():
    assert set(names.name_suffix("seed")) <= set(names.SUFFIX_ALPHABET)


# --- head -----------------------------------------------------------------------------------------------------


def test_head_args_are_the_generated_ray_start_command():
    args = ray_container(head())["args"][0]
    assert args == (
        ULIMIT + "ray start --head  --block  --dashboard-agent-listen-port=52365  --dashboard-host=0.0.0.0  "
        "--memory=1073741824  --metrics-export-port=8080  --num-cpus=1 "
    )


def test_head_command_is_bash_c():
    assert ray_container(head())["command"] == ["/bin/bash", "-c", "--"]


def test_login_shell_option_uses_bash_cl():
    pod = build_head_pod(make_cluster(), BuildOptions(enable_login_shell=True), name="h")
    assert ray_container(pod)["command"] == ["/bin/bash", "-cl", "--"]


def test_head_env_matches_kuberay():
    env = env_of(ray_container(head()))
    assert env["RAY_ADDRESS"]["value"] == "127.0.0.1:6379"
    assert env["RAY_PORT"]["value"] == "6379"
    assert env["RAY_USAGE_STATS_KUBERAY_IN_USE"]["value"] == "1"
    assert env["RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE"]["value"] == "1"
    assert env["RAY_USAGE_STATS_EXTRA_TAGS"]["value"] == "kuberay_version=nightly;kuberay_crd=RayCluster"
    assert env["RAY_CLUSTER_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['ray.io/cluster']"
    assert env["RAY_CLUSTER_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["RAY_NODE_TYPE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['ray.io/group']"
    assert env["RAY_CLOUD_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "FQ_RAY_IP" not in env


def test_generated_command_is_exported_as_kuberay_gen_ray_start_cmd():
    container = ray_container(head())
    assert container["args"][0] == ULIMIT + env_of(container)["KUBERAY_GEN_RAY_START_CMD"]["value"]


def test_user_env_values_are_not_overridden():
    pod = head(**{"spec.headGroupSpec.template.spec.containers.0.env": [{"name": "RAY_ADDRESS", "value": "x"}]})
    assert env_of(ray_container(pod))["RAY_ADDRESS"]["value"] == "x"


def test_head_labels():
    labels = head()["metadata"]["labels"]
    assert labels == {
        "ray.io/is-ray-node": "yes",
        "ray.io/cluster": "raycluster-sample",
        "ray.io/node-type": "head",
        "ray.io/group": "headgroup",
        "ray.io/identifier": "raycluster-sample-head",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }


def test_template_labels_cannot_override_cluster_node_type_or_group():
    pod = head(**{"spec.headGroupSpec.template.metadata": {"labels": {"ray.io/cluster": "x", "team": "a"}}})
    assert pod["metadata"]["labels"]["ray.io/cluster"] == "raycluster-sample"
    assert pod["metadata"]["labels"]["team"] == "a"


def test_head_volumes_are_exactly_shared_memory_sized_by_memory_limit():
    pod = head()
    assert pod["spec"]["volumes"] == [{"name": "shared-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}]
    assert ray_container(pod)["volumeMounts"] == [{"mountPath": "/dev/shm", "name": "shared-mem"}]


def test_plasma_directory_skips_shared_memory_volume():
    pod = head(**{"spec.headGroupSpec.rayStartParams": {"plasma-directory": "/tmp"}})
    assert "volumes" not in pod["spec"] or pod["spec"]["volumes"] == []


def test_metrics_port_is_appended_to_ray_container():
    assert ray_container(head())["ports"] == [{"name": "metrics", "containerPort": 8080}]


def test_head_annotations_carry_ft_flag_version_and_spec_hash():
    annotations = head()["metadata"]["annotations"]
    assert annotations["ray.io/ft-enabled"] == "false"
    assert annotations["ray.io/kuberay-version"] == "nightly"
    assert len(annotations["ray.io/upgrade-strategy-recreate-hash"]) == 32


def test_pod_is_forced_into_the_cluster_namespace():
    pod = head(**{"spec.headGroupSpec.template.metadata": {"namespace": "elsewhere"}})
    assert pod["metadata"]["namespace"] == "default"


def test_user_command_is_prefixed_to_the_generated_command():
    pod = head(
        **{
            "spec.headGroupSpec.template.spec.containers.0.command": ["echo 123"],
            "spec.headGroupSpec.template.spec.containers.0.args": ["456"],
        }
    )
    assert ray_container(pod)["args"][0].startswith(" echo 123  456  && " + ULIMIT + "ray start --head ")


def test_overwrite_container_cmd_annotation_keeps_user_command():
    pod = head(
        **{
            "metadata.annotations": {"ray.io/overwrite-container-cmd": "true"},
            "spec.headGroupSpec.template.spec.containers.0.command": ["/bin/bash", "-c", "--"],
            "spec.headGroupSpec.template.spec.containers.0.args": ["echo head; $KUBERAY_GEN_RAY_START_CMD"],
        }
    )
    assert ray_container(pod)["args"] == ["echo head; $KUBERAY_GEN_RAY_START_CMD"]
    assert pod["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"


def test_rayservice_cluster_head_is_not_serving_initially():
    pod = head(**{"metadata.labels": {"ray.io/originated-from-crd": "RayService"}})
    assert pod["metadata"]["labels"]["ray.io/serve"] == "false"


# --- probes ---------------------------------------------------------------------------------------------------


def test_head_probes_use_wget_exec_before_ray_2_53():
    container = ray_container(head())
    command = container["livenessProbe"]["exec"]["command"]
    assert command == [
        "bash",
        "-c",
        "wget --tries 1 -T 2 -q -O- http://localhost:52365/api/local_raylet_healthz | grep success && "
        "wget --tries 1 -T 10 -q -O- http://localhost:8265/api/gcs_healthz | grep success",
    ]
    assert container["livenessProbe"]["failureThreshold"] == 120
    assert container["readinessProbe"]["failureThreshold"] == 10
    assert container["livenessProbe"]["timeoutSeconds"] == 5


def test_probes_use_http_healthz_from_ray_2_53():
    container = ray_container(head(**{"spec.rayVersion": "2.53.0"}))
    assert container["livenessProbe"]["httpGet"] == {"path": "/api/healthz", "port": 52365}
    assert container["readinessProbe"]["httpGet"] == {"path": "/api/healthz", "port": 52365}


def test_worker_probe_timeout_is_two_seconds():
    container = ray_container(worker())
    assert container["livenessProbe"]["timeoutSeconds"] == 2
    assert container["readinessProbe"]["initialDelaySeconds"] == 10


def test_custom_agent_port_is_probed():
    container = ray_container(head(**{"spec.headGroupSpec.rayStartParams": {"dashboard-agent-listen-port": "9999"}}))
    assert "http://localhost:9999/api/local_raylet_healthz" in container["livenessProbe"]["exec"]["command"][2]


def test_user_probes_are_untouched():
    probe = {"httpGet": {"path": "/custom", "port": 1}}
    container = ray_container(head(**{"spec.headGroupSpec.template.spec.containers.0.livenessProbe": probe}))
    assert container["livenessProbe"] == probe


def test_rayservice_worker_readiness_checks_serve_proxy_with_threshold_one():
    container = ray_container(worker(**{"metadata.labels": {"ray.io/originated-from-crd": "RayService"}}))
    assert "-/healthz" in container["readinessProbe"]["exec"]["command"][2]
    assert container["readinessProbe"]["failureThreshold"] == 1
    assert "-/healthz" not in container["livenessProbe"]["exec"]["command"][2]


def test_probes_injection_can_be_disabled():
    pod = build_head_pod(make_cluster(), BuildOptions(enable_probes_injection=False), name="h")
    assert "livenessProbe" not in ray_container(pod)


# --- worker ---------------------------------------------------------------------------------------------------


def test_worker_args_match_kuberay():
    args = ray_container(worker())["args"][0]
    assert args == (
        ULIMIT + f"ray start  --address={FQDN}:6379  --block  --dashboard-agent-listen-port=52365  "
        "--memory=1073741824  --metrics-export-port=8080  --num-cpus=1  --num-gpus=3  --port=6379 "
    )


def test_worker_env_points_at_the_head_service():
    env = env_of(ray_container(worker()))
    assert env["RAY_ADDRESS"]["value"] == f"{FQDN}:6379"
    assert env["FQ_RAY_IP"]["value"] == FQDN
    assert env["RAY_IP"]["value"] == "raycluster-sample-head-svc"
    assert "RAY_USAGE_STATS_EXTRA_TAGS" not in env


def test_default_container_envs_are_injected():
    options = BuildOptions(default_container_envs=({"name": "FOO", "value": "bar"},))
    assert env_of(ray_container(worker(options)))["FOO"]["value"] == "bar"


def test_worker_gets_wait_gcs_ready_init_container():
    init = worker()["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["wait-gcs-ready"]
    assert f"ray health-check --address {FQDN}:6379" in init[0]["args"][0]
    assert init[0]["resources"] == {
        "limits": {"cpu": "200m", "memory": "256Mi"},
        "requests": {"cpu": "200m", "memory": "256Mi"},
    }
    assert env_of(init[0])["FQ_RAY_IP"]["value"] == FQDN


def test_init_container_copies_pull_policy_and_user_env():
    pod = worker(
        **{
            "spec.workerGroupSpecs.0.template.spec.containers.0.imagePullPolicy": "Always",
            "spec.workerGroupSpecs.0.template.spec.containers.0.env": [{"name": "A", "value": "1"}],
        }
    )
    init = pod["spec"]["initContainers"][0]
    assert init["imagePullPolicy"] == "Always"
    assert env_of(init)["A"]["value"] == "1"


def test_init_container_injection_can_be_disabled():
    assert "initContainers" not in worker(BuildOptions(enable_init_container_injection=False))["spec"]


def test_worker_labels_carry_group_and_replica_index():
    labels = worker()["metadata"]["labels"]
    assert labels["ray.io/group"] == "small-group"
    assert labels["ray.io/node-type"] == "worker"
    assert labels["ray.io/worker-group-replica-index"] == "0"
    assert "ray.io/replica-host-index" not in labels


def test_multihost_workers_carry_replica_name_and_host_index():
    cluster = make_cluster(**{"spec.workerGroupSpecs.0.numOfHosts": 2})
    group = cluster.spec.worker_group_specs[0]
    pod = build_worker_pod(cluster, group, name="w", replica_index=1, replica_name="small-group-abcde", host_index=1)
    labels = pod["metadata"]["labels"]
    assert labels["ray.io/worker-group-replica-name"] == "small-group-abcde"
    assert labels["ray.io/replica-host-index"] == "1"
    assert labels["ray.io/worker-group-replica-index"] == "1"


def test_rayservice_workers_are_serving():
    pod = worker(**{"metadata.labels": {"ray.io/originated-from-crd": "RayService"}})
    assert pod["metadata"]["labels"]["ray.io/serve"] == "true"
    assert env_of(ray_container(pod))["RAY_timeout_ms_task_wait_for_death_info"]["value"] == "0"


def test_group_labels_become_ray_node_labels_and_pod_labels():
    pod = worker(**{"spec.workerGroupSpecs.0.labels": {"b": "2", "a": "1"}})
    assert " --labels=a=1,b=2 " in ray_container(pod)["args"][0]
    assert pod["metadata"]["labels"]["a"] == "1"


# --- ray start flags ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"nvidia.com/gpu": "1"}, " --num-gpus=1 "),
        ({"nvidia.com/mig-2g.32gb": "1"}, " --num-gpus=1 "),
        ({"google.com/tpu": "4"}, """ --resources='{"TPU":4}' """),
        (
            {"aws.amazon.com/neuroncore": "4", "nvidia.com/gpu": "1"},
            """ --num-gpus=1  --resources='{"neuron_cores":4}' """,
        ),
        ({"aws.amazon.com/neuroncore": "4", "google.com/tpu": "4"}, """ --resources='{"neuron_cores":4}' """),
    ],
)
def test_accelerator_limits_become_ray_start_flags(limits, expected):
    params: dict[str, str] = {}
    fill_from_container_resources(params, {"limits": limits})
    assert render_flags(params) == expected


def test_existing_resources_param_is_merged_with_accelerators():
    params = {"resources": """'{"custom_resource":2}'"""}
    fill_from_container_resources(params, {"limits": {"aws.amazon.com/neuroncore": "4"}})
    assert params["resources"] == """'{"custom_resource":2,"neuron_cores":4}'"""


def test_unparsable_resources_param_is_kept_verbatim():
    params = {"resources": "{"}
    fill_from_container_resources(params, {"limits": {"google.com/tpu": "4"}})
    assert render_flags(params) == " --resources={ "


def test_explicit_false_flags_render_with_their_value():
    assert render_flags({"include-log-monitor": "false", "disable-usage-stats": "False"}) == (
        " --include-log-monitor=false "
    )


def test_group_resources_override_cpu_memory_gpu_and_custom():
    params: dict[str, str] = {}
    apply_group_resources(params, {"CPU": "500m", "memory": "1Gi", "nvidia.com/gpu": "2", "custom": "1.5"})
    assert params == {"num-cpus": "1", "memory": "1073741824", "num-gpus": "2", "resources": """'{"custom":1.5}'"""}


def test_cpu_request_is_used_when_there_is_no_cpu_limit():
    params: dict[str, str] = {}
    fill_from_container_resources(params, {"requests": {"cpu": "2"}})
    assert params == {"num-cpus": "2"}
