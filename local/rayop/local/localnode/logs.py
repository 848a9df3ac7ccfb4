"""The kubelet's container-log endpoint, so ``kubectl logs`` works for local-node pods.

The API server reaches a node at its InternalIP (the bridge gateway) and ``daemonEndpoints.kubeletEndpoint.Port``
over HTTPS; the harness's apiserver sets no ``--kubelet-certificate-authority``, so a self-signed serving
certificate is accepted.  Served: ``GET /containerLogs/<ns>/<pod>/<container>`` with ``follow``, ``previous``,
``tailLines`` and ``limitBytes``.  Not served: ``timestamps``, ``sinceSeconds``/``sinceTime`` (ignored), exec,
attach, port-forward, metrics.  Client certificates are not checked: the endpoint listens only on the bridge.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from . import network_plan as plan

log = logging.getLogger(__name__)

#: (namespace, pod) -> the runner's ``log_file(container, previous)`` and whether it still runs.
Finder = Callable[[str, str], Any]


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rayop-local-node")])
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(plan.GATEWAY_IP))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "kubelet.crt", directory / "kubelet.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class LogServer:
    def __init__(
        self, find: Finder, state_dir: Path, host: str = plan.GATEWAY_IP, port: int = plan.KUBELET_PORT
    ) -> None:
        certdir = Path(tempfile.mkdtemp(prefix="kubelet-", dir=state_dir))
        cert, key = self_signed(certdir)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug(fmt, *args)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "containerLogs":
                    self.send_error(
                        404, "only /containerLogs/<ns>/<pod>/<container> is served by a local node"
                    )
                    return
                q = {k: v[-1] for k, v in parse_qs(url.query).items()}
                runner = find(parts[1], parts[2])
                if runner is None:
                    self.send_error(404, f"pod {parts[1]}/{parts[2]} not found on this node")
                    return
                path = runner.log_file(parts[3], previous=q.get("previous") == "true")
                if path is None:
                    self.send_error(400, f"no logs for container {parts[3]} (previous={q.get('previous')})")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self._stream(path, q, runner)

            def _stream(self, path: Path, q: dict[str, str], runner: Any) -> None:
                limit = int(q["limitBytes"]) if q.get("limitBytes") else None
                with open(path, "rb") as fh:
                    data = b"".join(deque(fh, maxlen=int(q["tailLines"]))) if q.get("tailLines") else fh.read()
                    sent = 0
                    while True:
                        if limit is not None:
                            data = data[: max(0, limit - sent)]
                        if data:
                            self.wfile.write(data)
                            self.wfile.flush()
                            sent += len(data)
                        if q.get("follow") != "true" or (limit is not None and sent >= limit):
                            return
                        if runner.stopped.is_set() or runner.log_file(path.parent.name) != path:
                            self.wfile.write(fh.read())
                            return
                        time.sleep(0.2)
                        data = fh.read()

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True, name="kubelet-logs").start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
