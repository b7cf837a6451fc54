"""Deployment settings: the rate-limit storage, gunicorn's configuration from the environment."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from formsvc import create_app
from formsvc.runtime import runtime
from tests.processes import GUNICORN_CONF


@pytest.mark.parametrize(
    "uri", ["mongodb://admin:hunter2@db.example/x", "memcached://127.0.0.1", "redis", "", "memory:"]
)
def test_a_rate_limit_storage_other_than_memory_or_redis_refuses_to_start(
    config: dict[str, Any], uri: str
) -> None:
    with pytest.raises(RuntimeError, match="RATELIMIT_STORAGE_URI must be") as exc:
        create_app({**config, "RATELIMIT_STORAGE_URI": uri})
    assert "hunter2" not in str(exc.value)


@pytest.mark.parametrize("value", ["abc", "0", "1e3", "-2", "9" * 30, "4 ; rm -rf /"])
def test_gunicorn_refuses_a_worker_count_that_is_not_a_small_whole_number(value: str) -> None:
    env = {**os.environ, "GUNICORN_WORKERS": value}
    cmd = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--check-config"]
    done = subprocess.run([*cmd, "formsvc.wsgi:app"], env=env, capture_output=True, timeout=60)
    assert done.returncode == 1
    assert b"GUNICORN_WORKERS must be" in done.stderr


def test_each_gunicorn_worker_gets_its_own_converter_ports_and_profiles(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = runpy.run_path(str(GUNICORN_CONF))
    server = SimpleNamespace(WORKERS={})
    for pid in (101, 102, 103):  # the master forks three workers: slots 0, 1, 2
        worker = SimpleNamespace()
        hooks["pre_fork"](server, worker)
        server.WORKERS[pid] = worker
    del server.WORKERS[102]  # worker 2 is recycled (max_requests): its successor takes slot 1
    successor = SimpleNamespace()
    hooks["pre_fork"](server, successor)
    assert [w.formsvc_slot for w in server.WORKERS.values()] + [successor.formsvc_slot] == [0, 2, 1]

    monkeypatch.setenv("FORMSVC_CONVERTER_SLOT", "0")  # restored (unset) after the test
    hooks["post_fork"](server, successor)  # in the worker, before formsvc.wsgi builds the app
    assert os.environ["FORMSVC_CONVERTER_SLOT"] == "1"
    settings = [
        runtime(create_app({**config, "CONVERTER_PROCESSES": 2, "CONVERTER_SLOT": n}))
        for n in (0, 1)
    ]
    first, second = (s.converter_settings for s in settings)
    assert second.base_port == first.base_port + 4  # two processes × two ports each
    assert Path(second.profile_root) == Path(first.profile_root) / "worker-1"
