"""A real redis-server on loopback for tests (``make sysdeps`` installs it): random port, a password, no disk."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

PASSWORD = "s3cret-test"


@dataclass
class RedisServer:
    port: int
    password: str
    process: subprocess.Popen[bytes] | None
    workdir: Path
    #: TLS only (``--tls-port``, no plain port): the CA that signed the server's certificate for 127.0.0.1.
    ca_file: Path | None = None

    @property
    def address(self) -> str:
        return f"rediss://127.0.0.1:{self.port}" if self.ca_file else f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        tls = {"ssl": True, "ssl_ca_certs": str(self.ca_file)} if self.ca_file else {}
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, decode_responses=True,
                           socket_timeout=3, **tls)  # type: ignore[arg-type]

    def start(self) -> None:
        """(Re)start on the same port (a test that stops Redis starts it again)."""
        if self.process is not None and self.process.poll() is None:
            return
        ports = ["--port", str(self.port)]
        if self.ca_file is not None:
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.workdir / "server.crt"),
                     "--tls-key-file", str(self.workdir / "server.key"), "--tls-ca-cert-file", str(self.ca_file),
                     "--tls-auth-clients", "no"]
        self.process = subprocess.Popen(
            ["redis-server", *ports, "--bind", "127.0.0.1", "--requirepass", self.password,
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if self.client().ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _issue_certificates(workdir: Path) -> Path:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl); returns the CA's file."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=rayop-test-ca",
            "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr")
    (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "san.ext", "-out", "server.crt")
    return workdir / "ca.crt"


@contextlib.contextmanager
def redis_server(password: str = PASSWORD, tls: bool = False) -> Iterator[RedisServer]:
    """A redis-server on a free loopback port; with ``tls``, TLS only, its certificate signed by a fresh CA."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed: run `make sysdeps`")
    workdir = Path(tempfile.mkdtemp(prefix="rayop-redis-"))
    server = RedisServer(_free_port(), password, None, workdir, _issue_certificates(workdir) if tls else None)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
