"""What the real-run Kubeflow jobs execute in their pods (``python kubeflow_workloads.py <framework>``): each reads
only the env contract rayop injected and proves the replicas found each other through it.

* ``tf``: every task of ``TF_CONFIG`` listens on its own address and reaches every other one by name;
* ``pytorch``: a gloo-free all-reduce: workers send ``RANK + 1`` to ``MASTER_ADDR:MASTER_PORT``, the master sums
  and answers, everyone checks the sum against ``WORLD_SIZE`` (the rendezvous torch.distributed does first);
* ``mpi``: an ``allreduce`` over MPI.COMM_WORLD, started by ``mpirun`` on the launcher over SSH into the workers;
* ``xgboost``: the master (RANK 0) runs XGBoost's Rabit tracker on ``MASTER_PORT``; all ``WORLD_SIZE`` ranks join
  it and train one booster together on a synthetic data set sharded by rank, with an all-reduce check.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

DEADLINE = time.monotonic() + 90


def resolve(host: str) -> str:
    while True:
        try:
            return socket.gethostbyname(host)
        except OSError:
            if time.monotonic() > DEADLINE:
                raise
            time.sleep(0.5)


def connect(host: str, port: int) -> socket.socket:
    while True:
        try:
            return socket.create_connection((resolve(host), port), timeout=5)
        except OSError:
            if time.monotonic() > DEADLINE:
                raise
            time.sleep(0.5)


def tf() -> None:
    config = json.loads(os.environ["TF_CONFIG"])
    assert config["environment"] == "cloud", config
    task = config["task"]
    me = config["cluster"][task["type"]][task["index"]]
    peers = [a for addrs in config["cluster"].values() for a in addrs if a != me]
    server = socket.create_server(("0.0.0.0", int(me.rsplit(":", 1)[1])))
    heard: set[str] = set()

    def serve() -> None:
        while len(heard) < len(peers):
            conn, _ = server.accept()
            with conn:
                heard.add(conn.recv(256).decode())
                conn.sendall(b"ok")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    for peer in peers:
        host, port = peer.rsplit(":", 1)
        with connect(host, int(port)) as s:
            s.sendall(me.encode())
            assert s.recv(16) == b"ok"
    t.join(timeout=max(DEADLINE - time.monotonic(), 1))
    assert len(heard) == len(peers), (heard, peers)
    print(f"tf task {task}: reached {len(peers)} peers, heard from {sorted(heard)}")


def pytorch() -> None:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    expected = world * (world + 1) // 2
    if rank == 0:
        server = socket.create_server(("0.0.0.0", port))
        conns, total = [], 1
        while len(conns) < world - 1:
            conn, _ = server.accept()
            total += int(conn.recv(64).decode())
            conns.append(conn)
        for conn in conns:
            conn.sendall(str(total).encode())
            conn.close()
    else:
        with connect(addr, port) as s:
            s.sendall(str(rank + 1).encode())
            total = int(s.recv(64).decode())
    assert total == expected, (total, expected)
    print(f"pytorch rank {rank}/{world}: all-reduce sum {total} via {addr}:{port}")


def xgboost() -> None:
    import numpy as np
    import xgboost as xgb
    from xgboost import collective
    from xgboost.tracker import RabitTracker

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    tracker = None
    if rank == 0:
        tracker = RabitTracker(n_workers=world, host_ip=socket.gethostbyname(socket.gethostname()), port=port,
                               sortby="task")
        tracker.start()
    with collective.CommunicatorContext(dmlc_tracker_uri=resolve(addr), dmlc_tracker_port=port,
                                        dmlc_task_id=str(rank), dmlc_retry=60, dmlc_timeout=90):
        rng = np.random.default_rng(rank)
        x = rng.normal(size=(500, 4))
        y = (x[:, 0] + x[:, 1] > 0).astype(float)
        booster = xgb.train({"objective": "binary:logistic", "tree_method": "hist"}, xgb.DMatrix(x, y), 5)
        total = collective.allreduce(np.array([1.0]), collective.Op.SUM)
        assert int(total[0]) == world, total
        assert collective.get_world_size() == world
        print(f"xgboost rank {collective.get_rank()}/{world}: trained {booster.num_boosted_rounds()} rounds")
    if tracker is not None:
        tracker.wait_for(60)


def mpi() -> None:
    from mpi4py import MPI  # Debian's python3-mpi4py, run by the system python3 that matches Debian's openmpi

    comm = MPI.COMM_WORLD
    n = comm.Get_size()
    total = comm.allreduce(comm.Get_rank() + 1, op=MPI.SUM)
    assert total == n * (n + 1) // 2, (total, n)
    print(f"mpi rank {comm.Get_rank()}/{n} on {MPI.Get_processor_name()}: allreduce sum {total}")


if __name__ == "__main__":
    {"tf": tf, "pytorch": pytorch, "xgboost": xgboost, "mpi": mpi}[sys.argv[1]]()
