"""A pod's volumes as host directories under ``<state>/pods/<uid>/volumes/<name>``, bind-mounted into its
containers by the launcher.

Supported: ``emptyDir`` (``medium: Memory`` is a tmpfs, sizeLimit honoured), ``configMap``, ``secret``,
``downwardAPI``, ``projected`` (serviceAccountToken via the TokenRequest API bound to the pod, configMap, secret,
downwardAPI), ``hostPath``.  A ``persistentVolumeClaim`` becomes an empty per-pod directory (data does not outlive
the pod).  ConfigMap/Secret contents are written once at pod start (no live update); service-account tokens are
re-requested when 80% of their lifetime has passed, written atomically (rename), as kubelet does.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rayop.api.quantity import quantity_value

from . import expand
from .kube import ApiError, KubeClient
from .launcher import Mount

log = logging.getLogger(__name__)


class VolumeError(Exception):
    pass


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class ApiLookup:
    """Secrets and ConfigMaps of one namespace, fetched on demand and cached for one pod start."""

    def __init__(self, client: KubeClient, namespace: str) -> None:
        self.client, self.ns = client, namespace
        self._cache: dict[tuple[str, str], dict[str, bytes] | None] = {}

    def raw(self, kind: str, name: str) -> dict[str, bytes] | None:
        key = (kind, name)
        if key not in self._cache:
            plural = "secrets" if kind == "secret" else "configmaps"
            obj = self.client.get_or_none(f"/api/v1/namespaces/{self.ns}/{plural}/{name}")
            if obj is None:
                self._cache[key] = None
            elif kind == "secret":
                self._cache[key] = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            else:
                data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
                data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
                self._cache[key] = data
        return self._cache[key]

    def __call__(self, kind: str, name: str) -> dict[str, str] | None:
        data = self.raw(kind, name)
        return None if data is None else {k: v.decode(errors="replace") for k, v in data.items()}


class PodVolumes:
    def __init__(
        self,
        client: KubeClient,
        pod: Mapping[str, Any],
        pod_dir: Path,
        pod_ip: str,
        host_ip: str,
        node_alloc: Mapping[str, str],
    ) -> None:
        self.client, self.pod, self.dir = client, pod, pod_dir / "volumes"
        self.ns = pod["metadata"]["namespace"]
        self.lookup = ApiLookup(client, self.ns)
        self.pod_ip, self.host_ip, self.node_alloc = pod_ip, host_ip, node_alloc
        self.paths: dict[str, Path] = {}
        self.tmpfs: list[Path] = []
        self._tokens: list[tuple[Path, dict[str, Any], float]] = []  # (file, source, refresh-at)

    # -- setup -----------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        for vol in self.pod["spec"].get("volumes", []) or []:
            name = vol["name"]
            path = self.dir / name
            path.mkdir(parents=True, exist_ok=True)
            self.paths[name] = path
            if "emptyDir" in vol:
                ed = vol["emptyDir"] or {}
                if ed.get("medium") == "Memory":
                    size = ed.get("sizeLimit")
                    opts = f"size={quantity_value(size)}" if size else "size=50%"
                    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
                    self.tmpfs.append(path)
            elif "configMap" in vol:
                self._write_items("configmap", vol["configMap"], path)
            elif "secret" in vol:
                src = dict(vol["secret"])
                src["name"] = src.get("secretName", "")
                self._write_items("secret", src, path)
            elif "downwardAPI" in vol:
                self._write_downward(
                    vol["downwardAPI"].get("items", []), path, vol["downwardAPI"].get("defaultMode", 0o644)
                )
            elif "projected" in vol:
                mode = vol["projected"].get("defaultMode", 0o644)
                for src in vol["projected"].get("sources", []) or []:
                    if "serviceAccountToken" in src:
                        self._write_token(src["serviceAccountToken"], path, mode)
                    elif "configMap" in src:
                        self._write_items("configmap", {"defaultMode": mode, **src["configMap"]}, path)
                    elif "secret" in src:
                        self._write_items("secret", {"defaultMode": mode, **src["secret"]}, path)
                    elif "downwardAPI" in src:
                        self._write_downward(src["downwardAPI"].get("items", []), path, mode)
            elif "hostPath" in vol:
                hp = vol["hostPath"]
                path.rmdir()
                self.paths[name] = Path(hp["path"])
                if hp.get("type") in ("DirectoryOrCreate", None, ""):
                    with contextlib.suppress(OSError):
                        Path(hp["path"]).mkdir(parents=True, exist_ok=True)
            elif "persistentVolumeClaim" in vol:
                log.warning(
                    "pod %s: PVC volume %s is an empty per-pod directory on a local node",
                    self.pod["metadata"]["name"],
                    name,
                )
            else:
                raise VolumeError(f"volume {name}: unsupported type {sorted(set(vol) - {'name'})}")

    def _write_items(self, kind: str, src: Mapping[str, Any], path: Path) -> None:
        data = self.lookup.raw(kind, src.get("name", ""))
        if data is None:
            if src.get("optional"):
                return
            raise VolumeError(f'{kind} "{src.get("name")}" not found')
        mode = src.get("defaultMode", 0o644)
        items = src.get("items")
        if items:
            for it in items:
                if it["key"] not in data:
                    if src.get("optional"):
                        continue
                    raise VolumeError(f'{kind} "{src.get("name")}": key {it["key"]} not found')
                write_atomic(path / it["path"], data[it["key"]], it.get("mode", mode))
        else:
            for key, value in data.items():
                write_atomic(path / key, value, mode)

    def _write_downward(self, items: list[Mapping[str, Any]], path: Path, mode: int) -> None:
        for it in items:
            if "fieldRef" in it:
                value = expand.field_ref(self.pod, it["fieldRef"]["fieldPath"], self.pod_ip, self.host_ip)
            else:
                ref = it["resourceFieldRef"]
                ctr = next(c for c in self.pod["spec"]["containers"] if c["name"] == ref.get("containerName"))
                value = expand.resource_field_ref(ctr, ref, self.node_alloc)
            write_atomic(path / it["path"], value.encode(), it.get("mode", mode))

    def _write_token(self, src: Mapping[str, Any], path: Path, mode: int) -> None:
        expiry = int(src.get("expirationSeconds", 3600) or 3600)
        meta = self.pod["metadata"]
        sa = self.pod["spec"].get("serviceAccountName") or "default"
        body: dict[str, Any] = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": expiry,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        if src.get("audience"):
            body["spec"]["audiences"] = [src["audience"]]
        try:
            resp = self.client.create(f"/api/v1/namespaces/{self.ns}/serviceaccounts/{sa}/token", body)
        except ApiError as err:
            raise VolumeError(f"service account token for {self.ns}/{sa}: {err}") from err
        target = path / src.get("path", "token")
        write_atomic(target, resp["status"]["token"].encode(), mode)
        refresh_at = time.monotonic() + 0.8 * expiry
        self._tokens = [t for t in self._tokens if t[0] != target] + [(target, dict(src), refresh_at)]

    def refresh_tokens(self) -> None:
        for target, src, at in list(self._tokens):
            if time.monotonic() >= at:
                try:
                    self._write_token(src, target.parent, 0o644)
                except VolumeError as err:
                    log.warning("token refresh failed: %s", err)

    # -- mounts ----------------------------------------------------------------------------------------------
    def mounts_for(self, container: Mapping[str, Any], env: Mapping[str, str]) -> list[Mount]:
        out: list[Mount] = []
        for vm in container.get("volumeMounts", []) or []:
            base = self.paths.get(vm["name"])
            if base is None:
                raise VolumeError(f"volumeMount {vm['name']}: no such volume")
            sub = vm.get("subPath") or (
                expand.expand(vm["subPathExpr"], env) if vm.get("subPathExpr") else ""
            )
            src = base / sub if sub else base
            if sub and not src.exists():
                src.mkdir(parents=True, exist_ok=True)
            out.append(Mount(str(src), vm["mountPath"], bool(vm.get("readOnly")), src.is_file()))
        return out

    def teardown(self) -> None:
        for path in self.tmpfs:
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
        self.tmpfs.clear()
