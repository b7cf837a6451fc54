"""Real job-queue components for tests: a private redis-server and `celery … worker` processes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import redis

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_until(what: str, predicate: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll *predicate* until it returns something true, at most *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


@contextmanager
def redis_serving(directory: Path) -> Iterator[str]:
    """A private redis-server (Debian's) on loopback and a free port; yields its URL."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--bind",
            HOST,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--protected-mode",
            "yes",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://{HOST}:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=1)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                assert proc.poll() is None, "redis-server exited"
                return False

        wait_until("redis-server answers", up, timeout=15)
        client.close()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private Redis for this test (nothing shared with other tests or helpers)."""
    with redis_serving(tmp_path / "redis") as url:
        yield url


def celery_config(config: Mapping[str, Any], redis_url: str, **overrides: Any) -> dict[str, Any]:
    """*config* in QUEUE_MODE celery on *redis_url*, with queue names and keys of its own."""
    prefix = f"t{secrets.token_hex(4)}-"
    return {
        **config,
        "QUEUE_MODE": "celery",
        "CELERY_BROKER_URL": redis_url,
        "QUEUE_KEY_PREFIX": f"formsvc-test:{prefix}",
        "QUEUE_NAME_PREFIX": prefix,
        "QUEUE_HEARTBEAT_TTL": 6,
        **overrides,
    }


class Worker:
    """One `celery -A formsvc.worker worker` process (its own process group)."""

    def __init__(self, config: Mapping[str, Any], instance: Path, concurrency: int = 1) -> None:
        instance.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORMSVC_")}
        # the worker builds its app from the environment, as in production
        env.update({f"FORMSVC_{key}": json.dumps(value) for key, value in config.items()})
        env["FORMSVC_INSTANCE_PATH"] = str(instance)
        env["PYTHONPATH"] = str(ROOT)
        prefix = str(config["QUEUE_NAME_PREFIX"])
        self.config = config
        self.log = instance / "worker.log"
        args = [
            *(CELERY, "-A", "formsvc.worker", "worker", "--loglevel", "INFO"),
            # one task at a time in the worker process itself (no pool to fork) unless the test
            # needs two at once
            *(("--pool", "solo") if concurrency == 1 else ("--concurrency", str(concurrency))),
            *("--hostname", f"{prefix}w{secrets.token_hex(3)}@%h"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ]
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 45) -> None:
        """Until the worker consumes (its log says 'ready')."""

        def ready() -> bool:
            assert self.proc.poll() is None, f"worker exited: {self.output()[-3000:]}"
            return " ready." in self.output()

        wait_until("the worker is ready", ready, timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill9(self) -> None:
        """`kill -9` of the worker and its pool processes (a machine dying)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), bounded; then whatever is left of the group is killed."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@contextmanager
def running_worker(
    config: Mapping[str, Any], instance: Path, concurrency: int = 1, warm_stop: bool = False
) -> Iterator[Worker]:
    """A worker that is ready; afterwards its process group is gone: stopped warm (as systemd
    or Ctrl-C would) with *warm_stop*, else killed at once (the test has seen its work done)."""
    worker = Worker(config, instance, concurrency)
    try:
        worker.wait_ready()
        yield worker
    finally:
        if warm_stop:
            worker.stop()
        elif worker.proc.poll() is None:
            worker.kill9()
