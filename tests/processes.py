"""Real processes for the deployment tests: a private redis-server and gunicorn instances.

Each listens on a free loopback port and is stopped (then, if it must be, killed) on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(ready: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll *ready* until it is true; fail after *seconds*."""
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not ready after {seconds} s")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes], grace: float = 20) -> int:
    """SIGTERM, wait up to *grace* seconds, then SIGKILL the group; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return int(proc.returncode)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class Redis:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[Redis]:
    """A private redis-server (no persistence) on a free port."""
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    cmd += ["--appendonly", "no", "--dir", str(tmp)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers_ping(port), 10, "redis-server")
        yield Redis(port, proc)
    finally:
        stop(proc)


def write_instance(folder: Path, config: Mapping[str, Any]) -> Path:
    """An instance folder whose config.py holds *config* (what `make setup` writes by hand)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{key} = {value!r}\n" for key, value in config.items()]
    (folder / "config.py").write_text("".join(lines))
    return folder


@dataclass
class Gunicorn:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_gunicorn(
    instance: Path, env: Mapping[str, str] | None = None, port: int | None = None
) -> Gunicorn:
    """gunicorn with deploy/gunicorn.conf.py serving formsvc.wsgi:app from *instance*.

    On *port* if given (a restart behind a load balancer), else on a free one."""
    port = port or free_port()
    environ = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FORMSVC_INSTANCE_PATH": str(instance),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
        "GUNICORN_WORKER_TMP_DIR": str(instance),
        **(env or {}),
    }
    log = instance / f"gunicorn-{port}.log"
    cmd = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "formsvc.wsgi:app"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=instance,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Gunicorn(proc, f"http://127.0.0.1:{port}", log)


def wait_serving(server: Gunicorn, seconds: float = 60) -> None:
    """Wait until GET /login answers 200; fail with gunicorn's output if it exits first."""

    def ready() -> bool:
        if server.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited {server.proc.returncode}:\n{server.output()}")
        try:
            return requests.get(f"{server.url}/login", timeout=10).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False

    wait_for(ready, seconds, f"gunicorn at {server.url}")


@contextlib.contextmanager
def gunicorns(*instances: Path, env: Mapping[str, str] | None = None) -> Iterator[list[Gunicorn]]:
    """Several gunicorn instances, started together, stopped on exit."""
    servers = [start_gunicorn(i, env) for i in instances]
    try:
        for server in servers:
            wait_serving(server)
        yield servers
    finally:
        for server in servers:
            stop(server.proc)
