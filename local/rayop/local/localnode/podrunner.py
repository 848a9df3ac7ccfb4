"""One Pod on a local node: sandbox (IP, netns, /etc files, /dev/shm, volumes), init containers in order, then
the containers under supervision (restartPolicy with kubelet-like back-off, probes), status reporting, and
graceful termination (preStop exec, SIGTERM, grace period, SIGKILL of the container's whole cgroup)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from . import expand, images, launcher, netns, status
from .kube import ApiError, pod_path
from .probes import Prober
from .runtime import NodeInfo, Runtime, default_path, host_tmp_roots
from .volumes import PodVolumes, VolumeError

log = logging.getLogger(__name__)

ENTRYPOINT_MSG = (
    "container {c!r} has no command: the local node runs host processes and cannot use the "
    "entrypoint of image {i!r}; set command (and args) in the container spec"
)


class PodRunner:
    def __init__(self, rt: Runtime, node: NodeInfo, pod: dict[str, Any]) -> None:
        self.rt, self.node, self.pod = rt, node, pod
        meta, spec = pod["metadata"], pod["spec"]
        self.uid, self.ns, self.name = meta["uid"], meta["namespace"], meta["name"]
        self.policy = spec.get("restartPolicy", "Always")
        self.dir = rt.pod_dir(self.uid)
        self.init = [
            status.ContainerRecord(c["name"], c.get("image", ""))
            for c in spec.get("initContainers", []) or []
        ]
        self.main = [status.ContainerRecord(c["name"], c.get("image", "")) for c in spec["containers"]]
        self.ip = ""
        self.netns = ""
        self.start_time = status.now()
        self.sandbox_ready = False
        self.init_failed = False
        self.message = ""
        self.volumes: PodVolumes | None = None
        self.envs: dict[str, dict[str, str]] = {}
        self.terminating = threading.Event()
        self.stopped = threading.Event()  # processes and network gone
        self._lock = threading.RLock()
        self._last_status: dict[str, Any] | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._kill_reason: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        self._main_thread = threading.Thread(target=self._run, daemon=True, name=f"pod-{self.name}")
        self.started_mono = time.monotonic()
        self.ready_mono: float | None = None

    # -- public ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._main_thread.start()

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod

    def terminate(self, grace: float) -> None:
        """Stop every container (SIGTERM, then SIGKILL after ``grace``) and tear the sandbox down."""
        with self._lock:
            first = not self.terminating.is_set()
            self.terminating.set()
        if not first:
            self.stopped.wait(grace + 15)
            return
        deadline = time.monotonic() + grace
        spec_by_name = {c["name"]: c for c in self.pod["spec"]["containers"]}
        for name, proc in list(self._procs.items()):
            pre = ((spec_by_name.get(name) or {}).get("lifecycle") or {}).get("preStop") or {}
            if "exec" in pre and proc.poll() is None:
                with contextlib.suppress(Exception):
                    subprocess.run(
                        launcher.exec_in_container_argv(proc.pid, pre["exec"]["command"]),
                        env=self.envs.get(name),
                        timeout=max(0.1, deadline - time.monotonic()),
                        capture_output=True,
                    )
        for proc in list(self._procs.values()):
            with contextlib.suppress(ProcessLookupError):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
        for proc in list(self._procs.values()):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        self._teardown()

    def remove_files(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_file(self, container: str, previous: bool = False) -> Path | None:
        d = self.dir / "logs" / container
        files = sorted(d.glob("*.log"), key=lambda p: int(p.stem)) if d.exists() else []
        if previous:
            return files[-2] if len(files) >= 2 else None
        return files[-1] if files else None

    def memory_bytes(self) -> int:
        return self.rt.cgroups.pss_bytes(self.rt.cgroups.pod_dir(self.uid))

    # -- life cycle ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._setup_sandbox()
        except Exception as err:
            log.exception("pod %s/%s: sandbox setup failed", self.ns, self.name)
            self.message = f"local node: sandbox setup failed: {err}"
            for r in self.init + self.main:
                r.set_waiting(
                    "CreateContainerConfigError" if isinstance(err, VolumeError) else "ContainerCreating",
                    str(err),
                )
            self.publish()
            return
        self.publish()
        for ctr, rec in zip(self.pod["spec"].get("initContainers", []) or [], self.init, strict=True):
            if not self._supervise(ctr, rec, is_init=True):
                if not self.terminating.is_set() and rec.state == "terminated":
                    self.init_failed = True
                    self.publish()
                    self._teardown()
                return
        for ctr, rec in zip(self.pod["spec"]["containers"], self.main, strict=True):
            t = threading.Thread(
                target=self._supervise, args=(ctr, rec), daemon=True, name=f"ctr-{self.name}"
            )
            self._threads.append(t)
            t.start()
        while not self.terminating.wait(5.0):
            if self.volumes is not None:
                self.volumes.refresh_tokens()
            if all(not t.is_alive() for t in self._threads):
                break
        if not self.terminating.is_set():  # all containers finished for good: Succeeded / Failed
            self.publish()
            self._teardown()

    def _setup_sandbox(self) -> None:
        self.ip = self.node.pool.allocate(self.uid)
        for sub in ("etc", "shm", "logs", "containers"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        spec = self.pod["spec"]
        hostname = spec.get("hostname") or self.name
        (self.dir / "etc" / "hosts").write_text(
            launcher.hosts_file(
                self.ip, hostname, spec.get("subdomain", ""), self.ns, spec.get("hostAliases")
            )
        )
        (self.dir / "etc" / "hostname").write_text(hostname + "\n")
        (self.dir / "etc" / "resolv.conf").write_text(launcher.resolv_conf(self.ns, spec.get("dnsConfig")))
        (self.dir / "etc" / "profile").write_text(launcher.login_profile(default_path().split(":")[0]))
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=50%", "tmpfs", str(self.dir / "shm")], check=True)
        self.netns = netns.create_pod_network(self.uid, self.ip)
        self.sandbox_ready = True
        self.volumes = PodVolumes(
            self.rt.client, self.pod, self.dir, self.ip, self.node.host_ip, self.node.allocatable
        )
        self.volumes.prepare()

    def _teardown(self) -> None:
        with self._lock:
            if self.stopped.is_set():
                return
            self.rt.cgroups.remove(self.rt.cgroups.pod_dir(self.uid))
            if self.volumes is not None:
                self.volumes.teardown()
            subprocess.run(["umount", "-l", str(self.dir / "shm")], capture_output=True, check=False)
            netns.delete_pod_network(self.uid)
            if self.ip:
                self.node.pool.release(self.ip)
            self.stopped.set()

    # -- containers ------------------------------------------------------------------------------------------
    def _env_for(self, ctr: dict[str, Any]) -> dict[str, str]:
        svc_env: dict[str, str] = {}
        kube = [s for s in self.rt.services.services_in("default") if s["metadata"]["name"] == "kubernetes"]
        if self.pod["spec"].get("enableServiceLinks", True):
            svc_env.update(expand.service_link_env(self.rt.services.services_in(self.ns)))
        if kube:
            https = next(
                (p for p in kube[0]["spec"].get("ports", []) if p.get("name") == "https"),
                kube[0]["spec"]["ports"][0],
            )
            svc_env.update(expand.service_link_env(kube))
            svc_env.update(
                {
                    "KUBERNETES_SERVICE_HOST": kube[0]["spec"]["clusterIP"],
                    "KUBERNETES_SERVICE_PORT": str(https["port"]),
                }
            )
        assert self.volumes is not None
        declared = expand.resolve_env(
            self.pod,
            ctr,
            pod_ip=self.ip,
            host_ip=self.node.host_ip,
            service_env=svc_env,
            lookup=self.volumes.lookup,
            node_alloc=self.node.allocatable,
        )
        hostname = self.pod["spec"].get("hostname") or self.name
        return {"PATH": default_path(), "HOSTNAME": hostname, "HOME": "/root", **self.rt.base_env, **declared}

    def _launch(
        self, ctr: dict[str, Any], rec: status.ContainerRecord, env: dict[str, str], argv: list[str]
    ) -> subprocess.Popen[bytes]:
        assert self.volumes is not None
        cdir = self.dir / "containers" / ctr["name"]
        (cdir / "tmp").mkdir(parents=True, exist_ok=True)
        os.chmod(cdir / "tmp", 0o1777)
        etc = self.dir / "etc"
        mounts = [
            launcher.Mount(str(cdir / "tmp"), "/tmp"),
            launcher.Mount(str(self.dir / "shm"), "/dev/shm"),
            launcher.Mount(str(etc / "hosts"), "/etc/hosts", is_file=True),
            launcher.Mount(str(etc / "hostname"), "/etc/hostname", is_file=True),
            launcher.Mount(str(etc / "resolv.conf"), "/etc/resolv.conf", is_file=True),
            launcher.Mount(str(etc / "profile"), "/etc/profile", is_file=True),
            *self.volumes.mounts_for(ctr, env),
        ]
        stand_in = images.stand_in_for(ctr.get("image", ""))
        for i, path in enumerate(stand_in.writable if stand_in else ()):
            if any(m.target.rstrip("/") == path.rstrip("/") for m in mounts):
                continue  # a volume the pod mounts there wins, as over the image's directory
            private = cdir / f"image-path-{i}"
            private.mkdir(exist_ok=True)
            mounts.append(launcher.Mount(str(private), path))
        for i, (path, text) in enumerate(stand_in.prepend if stand_in else ()):
            if any(m.target.rstrip("/") == path for m in mounts):
                continue
            private_file = cdir / f"image-file-{i}"
            private_file.write_text(images.with_prepended(text, path))
            mounts.append(launcher.Mount(str(private_file), path, read_only=True, is_file=True))
        keep = []
        for i, host in enumerate(host_tmp_roots()):
            staging = cdir / f"host-tmp-{i}"
            staging.mkdir(exist_ok=True)
            keep.append((host, str(staging)))
        cg = self.rt.cgroups.container_dir(self.uid, ctr["name"])
        spec = launcher.LaunchSpec(
            netns=self.netns,
            argv=argv,
            hostname=self.pod["spec"].get("hostname") or self.name,
            working_dir=ctr.get("workingDir", "") or (stand_in.working_dir if stand_in else ""),
            mounts=mounts,
            keep_host=keep,
            cgroup_procs=[str(cg / "cgroup.procs")] if cg else [],
        )
        logdir = self.dir / "logs" / ctr["name"]
        logdir.mkdir(parents=True, exist_ok=True)
        with open(logdir / f"{rec.restart_count}.log", "ab") as out:
            return subprocess.Popen(
                launcher.container_argv(spec),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )

    def _supervise(self, ctr: dict[str, Any], rec: status.ContainerRecord, is_init: bool = False) -> bool:
        """Run one container until it is done for good; True when it (finally) exited 0."""
        backoff = self.rt.backoff_initial
        while not self.terminating.is_set():
            try:
                env = self._env_for(ctr)
            except (expand.EnvError, VolumeError, ApiError) as err:
                rec.set_waiting("CreateContainerConfigError", str(err))
                self.publish()
                if self.terminating.wait(2.0):
                    return False
                continue
            argv = expand.expand_command(ctr, env)
            if argv is None:
                rec.set_waiting(
                    "ImageEntrypointUnavailable", ENTRYPOINT_MSG.format(c=ctr["name"], i=ctr.get("image"))
                )
                self.publish()
                return False
            with self._lock:
                if self.terminating.is_set():
                    return False
                proc = self._launch(ctr, rec, env, argv)
                self._procs[ctr["name"]] = proc
                self.envs[ctr["name"]] = env
                rec.set_running(proc.pid)
            began = time.monotonic()
            prober = None
            if is_init:
                rec.started = False
            else:
                prober = Prober(
                    ctr,
                    self.ip,
                    proc.pid,
                    env,
                    on_started=functools.partial(self._set, rec, started=True),
                    on_ready=functools.partial(self._set_ready, rec),
                    on_unhealthy=functools.partial(self._kill_unhealthy, ctr["name"], proc),
                )
                prober.start()
            self.publish()
            rc = proc.wait()
            if prober is not None:
                prober.stop()
            # The main process is gone: like a runtime, kill whatever else the container started.
            self.rt.cgroups.kill(self.rt.cgroups.container_path(self.uid, ctr["name"]))
            reason = self._kill_reason.pop(ctr["name"], "")
            rec.set_terminated(rc, message=reason)
            if self.terminating.is_set():
                self.publish()
                return rc == 0
            if time.monotonic() - began > 600:
                backoff = self.rt.backoff_initial
            restart = (self.policy == "Always" and not is_init) or (self.policy != "Never" and rc != 0)
            if not restart:
                self.publish()
                return rc == 0
            rec.record_restart()
            rec.set_waiting(
                "CrashLoopBackOff",
                f"back-off {backoff:g}s restarting failed container={ctr['name']} pod={self.name}",
            )
            self.publish()
            if self.terminating.wait(backoff):
                return False
            backoff = min(backoff * 2, self.rt.backoff_max)
        return False

    def _set(
        self, rec: status.ContainerRecord, *, started: bool | None = None, ready: bool | None = None
    ) -> None:
        with self._lock:
            if rec.state != "running":
                return
            if started is not None:
                rec.started = started
            if ready is not None:
                rec.ready = ready
        if ready and self.ready_mono is None and all(r.ready for r in self.main):
            self.ready_mono = time.monotonic()
            log.info(
                "pod %s/%s ready %.2fs after it was picked up",
                self.ns,
                self.name,
                self.ready_mono - self.started_mono,
            )
        self.publish()

    def _set_ready(self, rec: status.ContainerRecord, ok: bool) -> None:
        self._set(rec, ready=ok)

    def _kill_unhealthy(self, name: str, proc: subprocess.Popen[bytes], msg: str) -> None:
        log.info("pod %s/%s container %s: %s; restarting", self.ns, self.name, name, msg)
        self._kill_reason[name] = msg
        grace = float(self.pod["spec"].get("terminationGracePeriodSeconds", 30) or 0)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.rt.cgroups.kill(self.rt.cgroups.container_path(self.uid, name))

    # -- status ----------------------------------------------------------------------------------------------
    def phase(self) -> str:
        return status.pod_phase(self.init, self.main, self.policy, self.init_failed)

    def publish(self) -> None:
        with self._lock:
            body = status.pod_status(
                phase=self.phase(),
                pod_ip=self.ip if self.sandbox_ready else "",
                host_ip=self.node.host_ip,
                start_time=self.start_time,
                sandbox_ready=self.sandbox_ready and not self.stopped.is_set(),
                init=self.init,
                main=self.main,
                previous=self.pod.get("status"),
                message=self.message,
            )
            if body == self._last_status:
                return
            self._last_status = body
            try:
                updated = self.rt.client.patch(pod_path(self.ns, self.name) + "/status", {"status": body})
                if updated.get("metadata", {}).get("uid") == self.uid:
                    self.pod = updated
            except ApiError as err:
                if err.status != 404:
                    log.warning("pod %s/%s: status update failed: %s", self.ns, self.name, err)
                    self._last_status = None
            except Exception as err:  # network hiccup: retried at the next change
                log.warning("pod %s/%s: status update failed: %s", self.ns, self.name, err)
                self._last_status = None
