"""The env contract of each framework, byte for byte as the training-operator writes it (golden strings from its
``pod_test.go`` / ``envvar.go`` / ``xgboost.go``)."""

from __future__ import annotations

from rayop.operator.kubeflow.pods import build_pod, build_service
from rayop.operator.kubeflow.pytorch import PyTorch
from rayop.operator.kubeflow.tf import TensorFlow, tf_config
from rayop.operator.kubeflow.xgboost import XGBoost
from tests.unit.kubeflow_fixtures import body, env_of, replica, view

TF, PT, XGB = TensorFlow(), PyTorch(), XGBoost()


def tfjob(**roles: int) -> dict:
    return body(TF, {k: replica("tensorflow", n) for k, n in roles.items()}, name="test-tfjob", namespace="ns3")


def test_tf_config_matches_the_training_operators_golden_string() -> None:
    job = view(TF, tfjob(PS=1, Worker=1, Evaluator=1))
    assert tf_config(job, "Worker", 0) == (
        '{"cluster":{"evaluator":["test-tfjob-evaluator-0.ns3.svc:2222"],"ps":["test-tfjob-ps-0.ns3.svc:2222"],'
        '"worker":["test-tfjob-worker-0.ns3.svc:2222"]},"task":{"type":"worker","index":0},"environment":"cloud"}')


def test_tf_config_appends_the_custom_cluster_domain() -> None:
    job = view(TF, tfjob(Worker=2))
    assert tf_config(job, "Worker", 1, "cluster.local") == (
        '{"cluster":{"worker":["test-tfjob-worker-0.ns3.svc.cluster.local:2222",'
        '"test-tfjob-worker-1.ns3.svc.cluster.local:2222"]},"task":{"type":"worker","index":1},'
        '"environment":"cloud"}')


def test_tf_config_uses_the_tfjob_port_of_the_role() -> None:
    b = body(TF, {"Worker": replica("tensorflow", 1, port=("tfjob-port", 3333)),
                  "PS": replica("tensorflow", 1)}, name="j", namespace="n")
    assert '"worker":["j-worker-0.n.svc:3333"]' in tf_config(view(TF, b), "PS", 0)


def test_a_non_distributed_tfjob_gets_no_tf_config() -> None:
    pod = build_pod(TF, view(TF, tfjob(Worker=1)), "Worker", 0)
    assert "TF_CONFIG" not in env_of(pod)


def test_tf_config_goes_only_to_the_tensorflow_container() -> None:
    b = tfjob(Worker=2)
    b["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"].insert(0, {"name": "side", "image": "x"})
    pod = build_pod(TF, view(TF, b), "Worker", 1)
    assert env_of(pod, 0) == {}
    assert env_of(pod, 1)["TF_CONFIG"].endswith('"task":{"type":"worker","index":1},"environment":"cloud"}')


def test_pytorch_master_and_worker_env() -> None:
    b = body(PT, {"Master": replica("pytorch", 1), "Worker": replica("pytorch", 2)}, name="pt")
    job = view(PT, b)
    assert env_of(build_pod(PT, job, "Master", 0)) == {
        "PYTHONUNBUFFERED": "1", "MASTER_PORT": "23456", "PET_MASTER_PORT": "23456", "MASTER_ADDR": "pt-master-0",
        "PET_MASTER_ADDR": "pt-master-0", "WORLD_SIZE": "3", "RANK": "0", "PET_NODE_RANK": "0", "PET_NNODES": "3",
        "PET_NPROC_PER_NODE": "auto"}
    worker = env_of(build_pod(PT, job, "Worker", 1))
    assert (worker["RANK"], worker["PET_NODE_RANK"], worker["WORLD_SIZE"]) == ("2", "2", "3")


def test_pytorch_world_size_multiplies_an_integer_nproc_per_node() -> None:
    b = body(PT, {"Master": replica("pytorch", 1), "Worker": replica("pytorch", 1)}, nprocPerNode="4")
    env = env_of(build_pod(PT, view(PT, b), "Worker", 0))
    assert (env["WORLD_SIZE"], env["PET_NPROC_PER_NODE"]) == ("8", "4")


def test_pytorch_without_a_master_sets_only_pet_variables() -> None:
    b = body(PT, {"Worker": replica("pytorch", 2)})
    env = env_of(build_pod(PT, view(PT, b), "Worker", 0))
    assert not {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"} & set(env)
    assert env["PET_NNODES"] == "2"


def test_pytorch_elastic_env() -> None:
    b = body(PT, {"Worker": replica("pytorch", 2)}, name="echo", elasticPolicy={
        "rdzvBackend": "c10d", "minReplicas": 1, "maxReplicas": 2, "maxRestarts": 100,
        "rdzvConf": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]})
    env = env_of(build_pod(PT, view(PT, b), "Worker", 1))
    assert env["PET_RDZV_ENDPOINT"] == "echo-worker-0:23456"
    assert (env["PET_RDZV_BACKEND"], env["PET_NNODES"], env["PET_MAX_RESTARTS"]) == ("c10d", "1:2", "100")
    assert env["PET_RDZV_CONF"] == "a=1,b=2"


def test_xgboost_env_with_master_and_two_workers() -> None:
    b = body(XGB, {"Master": replica("xgboost", 1, port=("xgboostjob-port", 9991)),
                   "Worker": replica("xgboost", 2, port=("xgboostjob-port", 9991))}, name="xgb")
    job = view(XGB, b)
    assert env_of(build_pod(XGB, job, "Worker", 1)) == {
        "MASTER_PORT": "9991", "MASTER_ADDR": "xgb-master-0", "WORLD_SIZE": "3", "RANK": "2",
        "PYTHONUNBUFFERED": "0", "WORKER_PORT": "9991", "WORKER_ADDRS": "xgb-worker-0,xgb-worker-1"}


def test_default_ports_are_added_to_the_default_container() -> None:
    for fw, container, port in ((TF, "tensorflow", 2222), (PT, "pytorch", 23456), (XGB, "xgboost", 9999)):
        b = body(fw, {fw.roles[-1]: replica(container, 1)} if fw is TF else {"Master": replica(container, 1)})
        job = view(fw, b)
        rtype = next(iter(job.replicas))
        svc = build_service(fw, job, rtype, 0)
        assert svc["spec"]["ports"] == [{"name": fw.port_name, "port": port}]
        assert svc["spec"]["clusterIP"] == "None"


def test_pods_carry_kubeflows_labels_and_the_mapped_restart_policy() -> None:
    b = body(XGB, {"Master": replica("xgboost", 1), "Worker": replica("xgboost", 2, restart="ExitCode")}, name="x")
    job = view(XGB, b)
    master, worker = build_pod(XGB, job, "Master", 0), build_pod(XGB, job, "Worker", 1)
    assert master["metadata"]["name"] == "x-master-0" and worker["metadata"]["name"] == "x-worker-1"
    assert master["metadata"]["labels"] == {
        "training.kubeflow.org/operator-name": "xgboostjob-controller", "training.kubeflow.org/job-name": "x",
        "training.kubeflow.org/replica-type": "master", "training.kubeflow.org/replica-index": "0",
        "training.kubeflow.org/job-role": "master"}
    assert "training.kubeflow.org/job-role" not in worker["metadata"]["labels"]
    assert (master["spec"]["restartPolicy"], worker["spec"]["restartPolicy"]) == ("Never", "Never")


def test_lower_case_replica_types_are_read_as_kubeflows_camel_case() -> None:
    b = body(TF, {"worker": replica("tensorflow", 2), "ps": replica("tensorflow", 1)})
    assert set(view(TF, b).replicas) == {"Worker", "PS"}


def mpijob(workers: int = 2, **spec: object) -> dict:
    from rayop.operator.kubeflow.mpi import MPI

    return body(MPI(), {"Launcher": replica("mpi", 1, command=["mpirun", "hostname"]),
                        "Worker": replica("mpi", workers)}, name="pi", slotsPerWorker=2, **spec)


def test_mpi_hostfile_lists_each_worker_by_its_service_name_with_its_slots() -> None:
    from rayop.operator.kubeflow.mpi import MPI, hostfile

    assert hostfile(view(MPI(), mpijob())) == "pi-worker-0.pi.ns.svc slots=2\npi-worker-1.pi.ns.svc slots=2\n"


def test_mpi_launcher_gets_openmpi_env_and_the_config_and_ssh_mounts() -> None:
    from rayop.operator.kubeflow.mpi import MPI

    fw = MPI()
    job = view(fw, mpijob())
    launcher = build_pod(fw, job, "Launcher", 0)
    assert env_of(launcher) == {"K_MPI_JOB_ROLE": "launcher", "OMPI_MCA_orte_keep_fqdn_hostnames": "true",
                                "OMPI_MCA_orte_default_hostfile": "/etc/mpi/hostfile",
                                "OMPI_MCA_plm_rsh_args": "-o ConnectionAttempts=10",
                                "OMPI_MCA_orte_set_default_slots": "2"}
    assert (launcher["spec"]["hostname"], launcher["spec"]["subdomain"]) == ("pi-launcher", "pi")
    mounts = {m["mountPath"] for m in launcher["spec"]["containers"][0]["volumeMounts"]}
    assert mounts == {"/root/.ssh", "/etc/mpi"}
    worker = build_pod(fw, job, "Worker", 1)
    assert worker["spec"]["containers"][0]["command"] == ["/usr/sbin/sshd", "-De"]
    assert worker["metadata"]["labels"]["training.kubeflow.org/replica-type"] == "worker"


def test_mpi_children_are_a_headless_job_service_a_config_map_and_one_ssh_secret() -> None:
    from rayop.operator.kubeflow.mpi import MPI

    fw = MPI()
    job = view(fw, mpijob())
    kinds = [(o["kind"], o["metadata"]["name"]) for o in fw.extra_children(job, [], have_secret=False)]
    assert kinds == [("Service", "pi"), ("ConfigMap", "pi-config"), ("Secret", "pi-ssh")]
    secret = fw.extra_children(job, [], have_secret=False)[2]
    assert secret["type"] == "kubernetes.io/ssh-auth"
    assert secret["stringData"]["ssh-privatekey"].startswith("-----BEGIN EC PRIVATE KEY-----")
    assert secret["stringData"]["ssh-publickey"].startswith("ecdsa-sha2-nistp521 ")
    assert len(fw.extra_children(job, [])) == 2


def test_mpi_deprecated_top_level_clean_pod_policy_is_read() -> None:
    from rayop.operator.kubeflow.mpi import MPI

    assert view(MPI(), mpijob(cleanPodPolicy="Running")).clean_pod_policy == "Running"


def test_mpi_discover_hosts_lists_the_running_workers_by_their_fqdn_sorted() -> None:
    from rayop.operator.kubeflow.mpi import MPI, discover_hosts

    fw = MPI()
    job = view(fw, mpijob(workers=3))
    pods = [{**build_pod(fw, job, "Worker", i), "status": {"phase": phase}}
            for i, phase in ((2, "Running"), (0, "Running"), (1, "Pending"))]
    pods.append({**build_pod(fw, job, "Launcher", 0), "status": {"phase": "Running"}})
    assert discover_hosts(job, pods) == "#!/bin/sh\necho pi-worker-0.pi.ns.svc\necho pi-worker-2.pi.ns.svc\n"
