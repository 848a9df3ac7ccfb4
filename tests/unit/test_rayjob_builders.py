"""What a RayJob creates: the submit script, the submitter, the RayCluster, the RayJob head Service and the HTTPMode
request.  Golden strings are KubeRay's, from ``ray-operator/controllers/ray/common/job_test.go`` (``rayJobTemplate``,
``TestBuildJobSubmitCommandWith*``) and ``rayjob_controller_unit_test.go`` (``TestGetSubmitterTemplate``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from rayop.api.raycluster import RayCluster
from rayop.api.rayjob import RayJob
from rayop.operator.builders import BuildError, BuildOptions
from rayop.operator.builders.rayjob import (
    build_cluster_for_job,
    build_job_head_service,
    build_submitter_job,
    job_submit_request,
)
from rayop.operator.builders.service import head_service_labels
from rayop.operator.builders.submitter import (
    build_sidecar_submitter,
    go_json,
    go_quote,
    runtime_env_json,
    submit_command,
    submit_script,
)
from tests.unit.raycluster_fixtures import env_of, make_cluster

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kuberay-samples"
ENTRYPOINT = "echo no quote 'single quote' \"double quote\""
HEALTH = (
    "python -c \"import urllib.request; r=urllib.request.urlopen('{url}', timeout=10); "
    "exit(0 if b'success' in r.read() else 1)\""
)


def wait_loop(health_url: str, address: str = "http://127.0.0.1:8265") -> list[str]:
    """The wait loop every KubeRay golden starts with (``utils.BasePythonHealthCommand``, timeout 10)."""
    return [
        "until", HEALTH.format(url=health_url), ">/dev/null", "2>&1", ";",
        "do", "echo", f'"Waiting for Ray Dashboard GCS to become healthy at {address} ..."', ";",
        "sleep", "2", ";", "done", ";",
    ]  # fmt: skip


TEMPLATE_FLAGS = [
    "--runtime-env-json", '"{\\"test\\":\\"test\\"}"',
    "--metadata-json", '"{\\"testKey\\":\\"testValue\\"}"',
    "--submission-id", "testJobId",
    "--entrypoint-num-cpus", "1.000000",
    "--entrypoint-num-gpus", "0.500000",
    "--entrypoint-resources", '"{\\"Custom_1\\": 1, \\"Custom_2\\": 5.5}"',
    "--", ENTRYPOINT, ";",
]  # fmt: skip
STATUS_GUARD = [
    "if", "!", "ray", "job", "status", "--address", "http://127.0.0.1:8265", "testJobId", ">/dev/null", "2>&1",
    ";", "then",
]  # fmt: skip
FOLLOW = ["fi", ";", "ray", "job", "logs", "--address", "http://127.0.0.1:8265", "--follow", "testJobId"]


def make_job(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **meta: Any) -> RayJob:
    """KubeRay's ``rayJobTemplate()`` unless ``spec`` is given; a head container with a dashboard port."""
    if spec is None:
        spec = {
            "runtimeEnvYAML": "test: test",
            "metadata": {"testKey": "testValue"},
            "rayClusterSpec": {
                "rayVersion": "2.6.0",
                "headGroupSpec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "ray-head",
                                    "image": "rayproject/ray:2.9.0",
                                    "ports": [{"name": "dashboard", "containerPort": 8265}],
                                }
                            ]
                        }
                    }
                },
            },
            "entrypoint": ENTRYPOINT,
            "entrypointNumCpus": 1,
            "entrypointNumGpus": 0.5,
            "entrypointResources": '{"Custom_1": 1, "Custom_2": 5.5}',
        }
    if status is None:
        status = {"dashboardURL": "http://127.0.0.1:8265", "jobId": "testJobId"}
    metadata = {"name": "test-rayjob", "namespace": "default", **meta}
    return RayJob.parse({"metadata": metadata, "spec": spec, "status": status})


def with_spec(**changes: Any) -> RayJob:
    job = make_job()
    spec = job.spec.model_dump(by_alias=True, exclude_none=True)
    spec.update(changes)
    return make_job(spec={k: v for k, v in spec.items() if v is not None})


# --- the submit script (common/job_test.go) ----------------------------------------------------------------


def test_k8s_job_mode_command_is_kuberays_golden():
    expected = [
        *wait_loop("http://127.0.0.1:8265/api/gcs_healthz"),
        *STATUS_GUARD,
        "ray", "job", "submit", "--address", "http://127.0.0.1:8265", "--no-wait",
        *TEMPLATE_FLAGS,
        *FOLLOW,
    ]  # fmt: skip
    assert submit_command(make_job(), "http://127.0.0.1:8265") == expected


def test_sidecar_mode_command_is_kuberays_golden_plain_submit_to_localhost():
    expected = [
        *wait_loop("http://localhost:8265/api/gcs_healthz"),
        "ray", "job", "submit", "--address", "http://127.0.0.1:8265",
        *TEMPLATE_FLAGS,
    ]  # fmt: skip
    assert submit_command(make_job(), sidecar=True) == expected


def test_sidecar_mode_with_submitter_restart_gate_guards_submission_and_follows_logs():
    expected = [
        *wait_loop("http://localhost:8265/api/gcs_healthz"),
        *STATUS_GUARD,
        "ray", "job", "submit", "--address", "http://127.0.0.1:8265", "--no-wait",
        *TEMPLATE_FLAGS,
        *FOLLOW,
    ]  # fmt: skip
    assert submit_command(make_job(), sidecar=True, submitter_restart=True) == expected


def test_sidecar_mode_uses_the_head_containers_dashboard_port():
    job = make_job()
    assert job.spec.ray_cluster_spec is not None
    job.spec.ray_cluster_spec.head_group_spec.template["spec"]["containers"][0]["ports"][0]["containerPort"] = 9000
    command = submit_command(job, sidecar=True)
    assert "localhost:9000/api/gcs_healthz" in command[1]
    assert command[command.index("submit") + 2] == "http://127.0.0.1:9000"


def test_sidecar_mode_without_a_dashboard_port_uses_8265():
    job = make_job()
    assert job.spec.ray_cluster_spec is not None
    del job.spec.ray_cluster_spec.head_group_spec.template["spec"]["containers"][0]["ports"]
    assert "--address http://127.0.0.1:8265 " in submit_script(job, sidecar=True)


def test_runtime_env_yaml_is_converted_to_go_json():
    job = with_spec(
        runtimeEnvYAML='\nworking_dir: "https://github.com/ray-project/serve_config_examples/archive/'
        'b393e77bbd6aba0881e3d94c05f968f05a387b96.zip"\npip: ["python-multipart==0.0.6"]\n'
    )
    # TestGetRuntimeEnvJsonFromYAML compares as maps; Go's json.Marshal writes the keys sorted.
    assert runtime_env_json(job) == (
        '{"pip":["python-multipart==0.0.6"],"working_dir":"https://github.com/ray-project/serve_config_examples/'
        'archive/b393e77bbd6aba0881e3d94c05f968f05a387b96.zip"}'
    )


def test_runtime_env_json_is_strconv_quoted_in_the_command():
    command = submit_command(with_spec(runtimeEnvYAML="pip: [a]\nenv_vars: {K: 'x<y'}"), "h:8265")
    quoted = command[command.index("--runtime-env-json") + 1]
    assert quoted == '"{\\"env_vars\\":{\\"K\\":\\"x\\\\u003cy\\"},\\"pip\\":[\\"a\\"]}"'


def test_yaml_y_and_n_are_booleans_and_dates_stay_strings_as_in_go_yaml():
    assert runtime_env_json(with_spec(runtimeEnvYAML="a: y\nb: N\nc: 2024-01-02\nd: 1.0")) == (
        '{"a":true,"b":false,"c":"2024-01-02","d":1}'
    )


def test_invalid_runtime_env_yaml_is_a_build_error():
    with pytest.raises(BuildError, match="error converting YAML to JSON"):
        submit_command(with_spec(runtimeEnvYAML="a: [1, 2"), "h:8265")


def test_metadata_is_kept_for_cluster_selector_jobs():
    job = make_job(
        spec={
            "clusterSelector": {"ray.io/cluster": "existing-cluster"},
            "metadata": {"tenant": "tenant1", "team": "ml-platform"},
            "entrypoint": "python /app/batch_inference.py",
        },
        status={"dashboardURL": "http://existing-cluster-head-svc:8265", "jobId": "cluster-selector-job-id"},
    )
    command = submit_command(job, "http://existing-cluster-head-svc:8265")
    quoted = command[command.index("--metadata-json") + 1]
    assert quoted == '"{\\"team\\":\\"ml-platform\\",\\"tenant\\":\\"tenant1\\"}"'


def test_metadata_is_kept_when_ray_version_is_unset():
    job = with_spec(rayClusterSpec={"headGroupSpec": {"template": {"spec": {"containers": [{}]}}}})
    assert "--metadata-json" in submit_command(job, "h:8265")


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("not-a-version", "failed to parse Ray version: not-a-version"),
        ("2.5.0", "the Ray version must be at least 2.6.0 to use the metadata field"),
        ("2.10.0-rc1", "the Ray version must be at least 2.6.0"),
    ],
)
def test_metadata_is_rejected_for_an_unparsable_old_or_prerelease_ray_version(version: str, message: str):
    job = make_job()
    assert job.spec.ray_cluster_spec is not None
    job.spec.ray_cluster_spec.ray_version = version
    with pytest.raises(BuildError, match=message):
        submit_command(job, "h:8265")


def test_dashboard_address_without_scheme_gets_http():
    command = submit_command(make_job(), "svc.ns.svc.cluster.local:8265")
    assert command[command.index("submit") + 2] == "http://svc.ns.svc.cluster.local:8265"
    assert "'http://svc.ns.svc.cluster.local:8265/api/gcs_healthz'" in command[1]


def test_optional_flags_are_omitted_and_the_entrypoint_is_trimmed():
    job = make_job(spec={"entrypoint": "  python x.py \n"}, status={"jobId": "id-1"})
    command = submit_command(job, "h:8265")
    submit = command[command.index("then") + 1 :]
    assert submit[:7] == ["ray", "job", "submit", "--address", "http://h:8265", "--no-wait", "--submission-id"]
    assert submit[7:11] == ["id-1", "--", "python x.py", ";"]


def test_without_a_job_id_there_is_no_submission_id_flag():
    command = submit_command(make_job(status={}), "h:8265")
    assert "--submission-id" not in command


def test_entrypoint_amounts_are_printed_with_percent_f_at_float32_precision():
    command = submit_command(with_spec(entrypointNumCpus=1234567.1, entrypointNumGpus=0.1), "h:8265")
    assert command[command.index("--entrypoint-num-cpus") + 1] == "1234567.125000"
    assert command[command.index("--entrypoint-num-gpus") + 1] == "0.100000"


def test_go_quote_escapes_like_strconv_quote():
    assert go_quote('a"b\\c\n\x01\u00e9\u200b') == '"a\\"b\\\\c\\n\\x01\u00e9\\u200b"'


def test_go_json_writes_floats_like_encoding_json():
    text = go_json({"b": 1e21, "a": 1e-7, "c": 1e16, "d": -0.5})
    assert text == '{"a":1e-7,"b":1e+21,"c":10000000000000000,"d":-0.5}'


# --- the submitter pod template and Job (rayjob_controller_unit_test.go TestGetSubmitterTemplate) -------------


HEAD_CONTAINER = "spec.headGroupSpec.template.spec.containers.0"


def submitter_job_for(job: RayJob, cluster: RayCluster | None = None, **kw: Any) -> dict[str, Any]:
    cluster = cluster or make_cluster(**{f"{HEAD_CONTAINER}.image": "rayproject/ray:custom"})
    return build_submitter_job(job, cluster=cluster, dashboard_address="test-url", submission_id="test-job-id", **kw)


GOLDEN_ARGS = (
    "until " + HEALTH.format(url="http://test-url/api/gcs_healthz") + " >/dev/null 2>&1 ; "
    'do echo "Waiting for Ray Dashboard GCS to become healthy at http://test-url ..." ; sleep 2 ; done ; '
    "if ! ray job status --address http://test-url test-job-id >/dev/null 2>&1 ; then ray job submit --address "
    "http://test-url --no-wait --submission-id test-job-id -- echo no quote 'single quote' \"double quote\" ; fi ; "
    "ray job logs --address http://test-url --follow test-job-id"
)


def container0(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"]["containers"][0])


def test_default_submitter_runs_the_golden_script_in_the_head_image():
    container = container0(submitter_job_for(make_job(spec={"entrypoint": ENTRYPOINT})))
    assert container["name"] == "ray-job-submitter"
    assert container["image"] == "rayproject/ray:custom"
    assert container["command"] == ["/bin/bash", "-ce", "--"]
    assert container["args"] == [GOLDEN_ARGS]


def test_default_submitter_has_kuberays_resources_and_never_restarts():
    template = submitter_job_for(make_job())["spec"]["template"]
    assert template["spec"]["restartPolicy"] == "Never"
    assert container0({"spec": {"template": template}})["resources"] == {
        "limits": {"cpu": "1", "memory": "1Gi"},
        "requests": {"cpu": "500m", "memory": "200Mi"},
    }


def test_submitter_env_has_unbuffered_python_dashboard_address_and_submission_id():
    env = container0(submitter_job_for(make_job()))["env"]
    assert env == [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "RAY_DASHBOARD_ADDRESS", "value": "test-url"},
        {"name": "RAY_JOB_SUBMISSION_ID", "value": "test-job-id"},
    ]


def test_user_submitter_template_with_a_command_keeps_it():
    template = {"spec": {"containers": [{"name": "mine", "image": "img", "command": ["user-command"]}]}}
    job = make_job(spec={"entrypoint": ENTRYPOINT, "submitterPodTemplate": template})
    container = container0(submitter_job_for(job))
    assert container["command"] == ["user-command"]
    assert "args" not in container
    assert env_of(container)["RAY_JOB_SUBMISSION_ID"]["value"] == "test-job-id"


def test_user_submitter_template_without_a_command_gets_the_golden_script():
    template = {"spec": {"containers": [{"name": "mine", "image": "img", "command": []}]}}
    job = make_job(spec={"entrypoint": ENTRYPOINT, "submitterPodTemplate": template})
    container = container0(submitter_job_for(job))
    assert container["command"] == ["/bin/bash", "-ce", "--"]
    assert container["args"] == [GOLDEN_ARGS]
    assert container["image"] == "img"


def test_user_submitter_template_is_not_modified():
    template = {"metadata": {"labels": {"mine": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    job = make_job(spec={"entrypoint": "x", "submitterPodTemplate": copy.deepcopy(template)})
    submitter_job_for(job)
    assert job.spec.submitter_pod_template == template


def test_user_submitter_template_without_containers_is_a_build_error():
    job = make_job(spec={"entrypoint": "x", "submitterPodTemplate": {"spec": {"containers": []}}})
    with pytest.raises(BuildError, match="at least one container"):
        submitter_job_for(job)


def test_login_shell_option_makes_the_command_bash_cel():
    assert container0(submitter_job_for(make_job(), options=BuildOptions(enable_login_shell=True)))["command"] == [
        "/bin/bash", "-cel", "--",
    ]  # fmt: skip


def test_submitter_job_is_named_after_the_rayjob_and_labelled_for_it():
    obj = submitter_job_for(make_job())
    labels = {
        "ray.io/originated-from-cr-name": "test-rayjob",
        "ray.io/originated-from-crd": "RayJob",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    assert (obj["apiVersion"], obj["kind"]) == ("batch/v1", "Job")
    assert obj["metadata"] == {"name": "test-rayjob", "namespace": "default", "labels": labels}
    assert obj["spec"]["template"]["metadata"]["labels"] == labels


def test_submitter_pod_labels_keep_the_users_labels():
    template = {"metadata": {"labels": {"team": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    labels = submitter_job_for(make_job(spec={"entrypoint": "x", "submitterPodTemplate": template}))["spec"][
        "template"
    ]["metadata"]["labels"]
    assert labels["team"] == "a"
    assert labels["ray.io/originated-from-crd"] == "RayJob"


def test_submitter_backoff_limit_defaults_to_two():
    assert submitter_job_for(make_job())["spec"]["backoffLimit"] == 2


def test_submitter_backoff_limit_follows_submitter_config_even_zero():
    job = make_job(spec={"entrypoint": "x", "submitterConfig": {"backoffLimit": 0}})
    assert submitter_job_for(job)["spec"]["backoffLimit"] == 0


def test_submitter_gets_the_token_env_when_the_cluster_uses_token_auth():
    cluster = make_cluster(**{"spec.authOptions": {"mode": "token"}})
    env = env_of(container0(submitter_job_for(make_job(), cluster)))
    assert env["RAY_AUTH_MODE"]["value"] == "token"
    assert env["RAY_AUTH_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "raycluster-sample", "key": "auth_token"}}


def test_submitter_mounts_the_projected_token_with_k8s_token_auth():
    cluster = make_cluster(**{"spec.authOptions": {"mode": "token", "enableK8sTokenAuth": True}})
    pod_spec = submitter_job_for(make_job(), cluster)["spec"]["template"]["spec"]
    assert [v["name"] for v in pod_spec["volumes"]] == ["ray-token"]
    assert pod_spec["containers"][0]["volumeMounts"][0]["name"] == "ray-token"
    assert env_of(pod_spec["containers"][0])["RAY_ENABLE_K8S_TOKEN_AUTH"]["value"] == "true"


# --- the RayCluster (constructRayClusterForRayJob) ---------------------------------------------------------


def test_cluster_carries_job_labels_and_the_three_originated_labels():
    job = make_job(labels={"team": "a", "ray.io/originated-from-crd": "spoof"})
    cluster = build_cluster_for_job(job, cluster_name="test-rayjob-abcde")
    assert cluster["metadata"]["name"] == "test-rayjob-abcde"
    assert cluster["metadata"]["namespace"] == "default"
    assert cluster["metadata"]["labels"] == {
        "team": "a",
        "ray.io/originated-from-cr-name": "test-rayjob",
        "ray.io/originated-from-crd": "RayJob",
        "ray.io/job-submission-mode": "K8sJobMode",
    }


def test_cluster_in_k8s_job_mode_is_the_jobs_spec_unchanged():
    job = make_job(annotations={"a": "b"})
    cluster = build_cluster_for_job(job, cluster_name="c")
    assert job.spec.ray_cluster_spec is not None
    assert RayCluster.parse(cluster).spec == job.spec.ray_cluster_spec
    assert cluster["metadata"]["annotations"] == {"a": "b"}
    assert "ownerReferences" not in cluster["metadata"]


def test_cluster_spec_is_a_deep_copy():
    job = make_job()
    cluster = build_cluster_for_job(job, cluster_name="c")
    cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert job.spec.ray_cluster_spec is not None
    assert job.spec.ray_cluster_spec.head_group_spec.template["spec"]["containers"][0]["image"] != "changed"


def test_cluster_without_annotations_has_no_annotations():
    assert "annotations" not in build_cluster_for_job(make_job(), cluster_name="c")["metadata"]


def test_sidecar_cluster_disables_provisioned_head_restart():
    cluster = build_cluster_for_job(with_spec(submissionMode="SidecarMode"), cluster_name="c")
    assert cluster["metadata"]["annotations"] == {"ray.io/disable-provisioned-head-restart": "true"}
    assert cluster["metadata"]["labels"]["ray.io/job-submission-mode"] == "SidecarMode"


def test_sidecar_cluster_appends_the_submitter_and_never_restarts_the_head():
    pod_spec = build_cluster_for_job(with_spec(submissionMode="SidecarMode"), cluster_name="c")["spec"][
        "headGroupSpec"
    ]["template"]["spec"]
    assert [c["name"] for c in pod_spec["containers"]] == ["ray-head", "ray-job-submitter"]
    assert pod_spec["restartPolicy"] == "Never"


def test_sidecar_submitter_runs_the_sidecar_script_with_kuberays_env():
    job = with_spec(submissionMode="SidecarMode")
    container = build_sidecar_submitter(job, cluster_name="c")
    assert container["image"] == "rayproject/ray:2.9.0"
    assert container["command"] == ["/bin/bash", "-ce", "--"]
    assert container["args"] == [submit_script(job, sidecar=True)]
    assert "restartPolicy" not in container
    # status.dashboardURL is copied as it is when the cluster is built (empty in KubeRay's flow).
    assert env_of(container)["RAY_DASHBOARD_ADDRESS"]["value"] == "http://127.0.0.1:8265"
    assert env_of(container)["RAY_JOB_SUBMISSION_ID"]["value"] == "testJobId"


def test_sidecar_submitter_with_the_restart_gate_restarts_on_failure():
    job = with_spec(submissionMode="SidecarMode")
    container = build_sidecar_submitter(job, cluster_name="c", submitter_restart=True)
    assert container["restartPolicy"] == "OnFailure"
    assert "--no-wait" in container["args"][0]


def test_sidecar_submitter_token_env_points_at_the_new_clusters_secret():
    job = make_job()
    spec = job.spec.model_dump(by_alias=True, exclude_none=True)
    spec["rayClusterSpec"]["authOptions"] = {"mode": "token"}
    env = env_of(build_sidecar_submitter(make_job(spec=spec), cluster_name="test-rayjob-xyz12"))
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "test-rayjob-xyz12"


def test_cluster_needs_a_ray_cluster_spec():
    job = make_job(spec={"entrypoint": "x", "clusterSelector": {"ray.io/cluster": "c"}})
    with pytest.raises(BuildError, match="rayClusterSpec"):
        build_cluster_for_job(job, cluster_name="c")


# --- the RayJob head Service (BuildHeadServiceForRayJob) ---------------------------------------------------


def test_job_head_service_is_named_and_labelled_for_the_job_but_selects_the_clusters_head():
    cluster = make_cluster()
    svc = build_job_head_service(make_job(), cluster)
    assert svc["metadata"]["name"] == "test-rayjob-head-svc"
    assert svc["metadata"]["labels"] == {
        "ray.io/originated-from-cr-name": "test-rayjob",
        "ray.io/originated-from-crd": "RayJob",
        "ray.io/node-type": "head",
        "ray.io/identifier": "test-rayjob-head",
    }
    assert svc["spec"]["selector"] == head_service_labels(cluster)
    assert svc["spec"]["clusterIP"] == "None"


def test_job_head_service_ignores_a_custom_head_service_name():
    cluster = make_cluster(**{"spec.headGroupSpec.headService": {"metadata": {"name": "custom"}}})
    assert build_job_head_service(make_job(), cluster)["metadata"]["name"] == "test-rayjob-head-svc"


def test_job_head_service_name_keeps_the_last_50_characters():
    name = "j" * 45 + "-long"
    svc = build_job_head_service(make_job(name=name), make_cluster())
    assert svc["metadata"]["name"] == (name + "-head-svc")[-50:]


# --- the HTTPMode request (ConvertRayJobToReq) -------------------------------------------------------------


def test_submit_request_carries_every_field_as_ray_expects_them():
    assert job_submit_request(make_job(), "testJobId") == {
        "runtime_env": {"test": "test"},
        "metadata": {"testKey": "testValue"},
        "entrypoint_resources": {"Custom_1": 1.0, "Custom_2": 5.5},
        "entrypoint": ENTRYPOINT,
        "submission_id": "testJobId",
        "entrypoint_num_cpus": 1.0,
        "entrypoint_num_gpus": 0.5,
    }


def test_submit_request_omits_empty_fields_but_always_sends_the_entrypoint():
    assert job_submit_request(make_job(spec={}), "") == {"entrypoint": ""}


def test_submit_request_sends_amounts_at_float32_precision():
    body = job_submit_request(with_spec(entrypointNumCpus=0.1234567891), "id")
    assert json.dumps(body["entrypoint_num_cpus"]) == "0.12345679"


def test_submit_request_rejects_non_numeric_entrypoint_resources():
    with pytest.raises(BuildError, match="must be a number"):
        job_submit_request(with_spec(entrypointResources='{"a": "1"}'), "id")


def test_submit_request_rejects_a_runtime_env_that_is_not_a_mapping():
    with pytest.raises(BuildError, match="failed to unmarshal RuntimeEnvYAML"):
        job_submit_request(with_spec(runtimeEnvYAML="- a\n- b"), "id")


# --- every KubeRay RayJob sample -----------------------------------------------------------------------------


def load_job(path: Path) -> RayJob:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "RayJob"]
    job = RayJob.parse(docs[0])
    job.metadata.setdefault("namespace", "default")
    return job


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("ray-job.*.yaml")), ids=lambda p: p.name)
def test_every_kuberay_rayjob_sample_builds(path: Path):
    job = load_job(path)
    mode = job.spec.submission_mode or "K8sJobMode"
    if job.spec.ray_cluster_spec is not None:
        cluster = RayCluster.parse(build_cluster_for_job(job, cluster_name=f"{job.name}-abcde"))
        assert build_job_head_service(job, cluster)["metadata"]["name"] == f"{job.name}-head-svc"
    else:
        cluster = make_cluster()
    dashboard = f"{cluster.name}-head-svc.default.svc.cluster.local:8265"
    if mode == "K8sJobMode":
        args = container0(build_submitter_job(job, cluster=cluster, dashboard_address=dashboard, submission_id="s"))
        assert args["args"][0].endswith("ray job logs --address http://" + dashboard + " --follow s")
    elif mode == "SidecarMode":
        containers = cluster.spec.head_group_spec.template["spec"]["containers"]
        assert containers[-1]["args"][0].endswith(go_trim(job.spec.entrypoint) + " ;")
    if job.spec.entrypoint:
        assert job_submit_request(job, "s")["entrypoint"] == job.spec.entrypoint


def go_trim(text: str | None) -> str:
    return (text or "").strip()
