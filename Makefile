# rayop — the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv tools sysdeps demo test test-unit lint crds crds-check bench bench-kubeflow clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,ray,kubeflow]"
	touch $(STAMP)

venv: $(STAMP)

## Build (or reuse from cache) the Kubernetes tools from Go modules.
tools: venv
	$(BIN)/rayop dev tools

## Debian packages the local node and the tests need (netns/veth, iptables DNAT, conntrack, redis-server, prometheus).
sysdeps:
	@command -v redis-server >/dev/null && command -v ip >/dev/null && command -v iptables >/dev/null \
	  && command -v conntrack >/dev/null && command -v prometheus >/dev/null || (apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server iproute2 iptables conntrack curl >/dev/null \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null)
	@# The MPIJob real run: OpenMPI, sshd/ssh and Debian's mpi4py (for the system python3 that matches its openmpi).
	@command -v mpirun >/dev/null && test -x /usr/sbin/sshd && /usr/bin/python3 -c "import mpi4py" 2>/dev/null \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  openmpi-bin openssh-server openssh-client python3-mpi4py >/dev/null)

demo: venv tools sysdeps
	$(BIN)/python -m rayop.local.demo

test: venv tools sysdeps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/rayop crds check
	$(BIN)/pytest

test-unit: venv
	$(BIN)/pytest -m unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

crds: venv
	$(BIN)/rayop crds generate

crds-check: venv
	$(BIN)/rayop crds check

## Benchmarks vs KubeRay and the bare-client ceiling (benchmarks/README.md).
## E.g. make bench BENCH_SCENARIO=fairness BENCH_ARGS="--operator rayop,kuberay"; the RayJob scenarios
## (rayjob, rayjob-load) and rayservice start a local node, hence sysdeps.
BENCH_SCENARIO ?= burst
BENCH_ARGS ?=
bench: venv tools sysdeps
	$(BIN)/python -c "import matplotlib" 2>/dev/null || $(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python -m benchmarks.run --scenario $(BENCH_SCENARIO) --out benchmarks/results $(BENCH_ARGS)

## Kubeflow jobs on kwok: 50 PyTorchJobs x 8 replicas, apply -> all Running (prints the figure).
bench-kubeflow: venv tools
	$(BIN)/python -m benchmarks.kubeflow_burst --jobs 50 --replicas 8

clean:
	rm -rf $(VENV) build dist
