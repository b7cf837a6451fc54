"""Deployment settings: the rate-limit storage, gunicorn's configuration from the environment."""

from __future__ import annotations

import importlib
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from celery import Celery
from flask import Flask

from formsvc import create_app
from formsvc.runtime import runtime
from tests.processes import GUNICORN_CONF, ROOT, write_instance


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


def test_gunicorn_starts_with_an_empty_metrics_folder_and_forgets_dead_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = runpy.run_path(str(GUNICORN_CONF))
    folder = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    hooks["on_starting"](SimpleNamespace())  # no folder yet: made, private
    assert folder.is_dir() and folder.stat().st_mode & 0o077 == 0
    for name in ("counter_41.db", "gauge_livesum_41.db", "gauge_livesum_42.db"):
        (folder / name).write_bytes(b"")
    hooks["child_exit"](SimpleNamespace(), SimpleNamespace(pid=41))  # worker 41 died
    assert sorted(p.name for p in folder.iterdir()) == ["counter_41.db", "gauge_livesum_42.db"]
    hooks["on_starting"](SimpleNamespace())  # the next start: nothing of this run is added in
    assert list(folder.iterdir()) == []


# --------------------------------------------------------------------------- image and compose

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    assert not (ROOT / ".hadolint.yaml").exists()  # no blanket ignores
    hadolint = Path(sys.executable).with_name("hadolint")
    done = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint" in line:  # an ignore names one rule, after a comment saying why
            assert re.fullmatch(r"# hadolint ignore=DL\d{4}", line)
            assert lines[number - 1].startswith("# ") and "hadolint" not in lines[number - 1]


def test_the_image_runs_as_a_user_and_holds_no_secret() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^USER 10001:10001$", text, re.M)
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert not re.search(r"SECRET|PASSWORD|PASSPHRASE|\.p12|\.pem|storage-keys", code)
    assert "HEALTHCHECK" in text and "/healthz" in text
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:2] == ["*", "!pyproject.toml"]  # nothing else by default


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def test_compose_runs_the_projects_own_entry_points(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = compose()
    assert set(services) == {"migrate", "web", "worker", "beat", "redis", "postgres", "s3"}
    assert services["s3"]["profiles"] == ["s3"]

    web = services["web"]["command"]
    assert web[:3] == ["gunicorn", "-c", "/etc/formsvc/gunicorn.conf.py"]
    assert "COPY deploy/gunicorn.conf.py /etc/formsvc/gunicorn.conf.py" in DOCKERFILE.read_text()
    module, _, name = web[3].partition(":")
    monkeypatch.setenv("FORMSVC_INSTANCE_PATH", str(write_instance(tmp_path / "inst", config)))
    monkeypatch.delitem(sys.modules, module, raising=False)
    assert isinstance(getattr(importlib.import_module(module), name), Flask)

    assert services["migrate"]["command"] == ["flask", "--app", "formsvc", "db", "upgrade"]
    cli = create_app(config).test_cli_runner()
    assert cli.invoke(args=["db", "upgrade", "--help"]).exit_code == 0
    worker, beat = services["worker"]["command"], services["beat"]["command"]
    assert worker[:4] == ["celery", "-A", "formsvc.worker", "worker"]
    assert beat == ["celery", "-A", "formsvc.worker", "beat"]
    # `celery -A formsvc.worker` finds a Celery app there (built as compose's environment does:
    # QUEUE_MODE celery on a broker; nothing connects while it is built)
    queued = {**config, "QUEUE_MODE": "celery", "CELERY_BROKER_URL": "redis://127.0.0.1:9/0"}
    monkeypatch.setenv("FORMSVC_INSTANCE_PATH", str(write_instance(tmp_path / "wk", queued)))
    monkeypatch.delitem(sys.modules, "formsvc.worker", raising=False)
    celery = importlib.import_module("formsvc.worker").app
    assert isinstance(celery, Celery)
    served = set(worker[worker.index("-Q") + 1].split(","))
    assert served == {"default", "mail"} <= {q.name for q in celery.conf.task_queues}

    for service in ("web", "worker", "beat"):  # migrations run once, before any of them
        after = services[service]["depends_on"]["migrate"]["condition"]
        assert after == "service_completed_successfully"


def test_compose_takes_every_secret_from_the_environment_or_secret_files() -> None:
    for name, service in compose().items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"SECRET|PASSWORD|PASSPHRASE|ACCESS_KEY", key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:[?-][^}]*\}", str(value)), (name, key)
            assert not re.search(r"://[^:/@]+:(?!\$\{)[^@]+@", str(value)), (name, key)
        image = str(service.get("image", ""))
        assert "build" in service or (":" in image and not image.endswith(":latest")), name
    spec = yaml.safe_load(COMPOSE.read_text())
    assert all(set(s) == {"file"} for s in spec["secrets"].values())
