"""Deployment settings: the rate-limit storage, gunicorn's configuration from the environment."""

from __future__ import annotations

import importlib
import json
import os
import re
import runpy
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from celery import Celery
from flask import Config, Flask

from formsvc import create_app
from formsvc.config import defaults
from formsvc.extensions import db
from formsvc.runtime import runtime
from formsvc.services import keys
from formsvc.services.blobs_s3 import S3Backend, S3Settings
from formsvc.services.storage import StoredFileError
from tests.blob_backends import raw_blob
from tests.processes import GUNICORN_CONF, ROOT, write_instance
from tests.s3_server import WEED_VERSION, S3Server


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
COMPOSE_S3 = ROOT / "compose.s3.yaml"


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


def compose(path: Path = COMPOSE) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text())["services"])


def test_compose_runs_the_projects_own_entry_points(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = compose()
    assert set(services) == {"migrate", "web", "worker", "beat", "rotate-key", "redis", "postgres"}

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


# a variable or setting naming a secret: a word PASSWORD, PASSPHRASE, SECRET, KEY or TOKEN (not a
# path to a file holding one: *_PATH, *_FILE)
_SECRET_WORD = re.compile(r"(?:^|_)(?:PASSWORD|PASSPHRASE|SECRET|KEY|TOKEN)(?:_|$)", re.I)
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")
# the one secret-like variable that may default: no fallback keys unless rotating
_MAY_DEFAULT = {("FORMSVC_SECRET_KEY_FALLBACKS", ":-[]")}


def secret_like(name: str) -> bool:
    """*name* holds a secret (not the path of a file that does)."""
    return bool(_SECRET_WORD.search(name)) and not name.upper().endswith(("_PATH", "_FILE"))


def secret_problems(services: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(service, setting, why) for every secret compose could start without, or hold itself."""
    found = []
    for name, service in services.items():
        for key, raw in (service.get("environment") or {}).items():
            value = str(raw)
            if re.search(r"\$(?![{$])", value):
                found.append((name, key, "a $VAR without braces"))
            if secret_like(key) and not _REF.fullmatch(value):
                found.append((name, key, "not exactly one ${VAR}"))
            for var, rest in _REF.findall(value):
                required = rest.startswith(":?") or (var, rest) in _MAY_DEFAULT
                if (secret_like(key) or secret_like(var)) and not required:
                    found.append((name, key, f"${{{var}{rest}}} is not required (:?)"))
            if re.search(r"://[^:/@]+:(?!\$\{)[^@]+@", value):
                found.append((name, key, "a password in a URL"))
    return found


def test_compose_takes_every_secret_from_the_environment_or_secret_files() -> None:
    for path in (COMPOSE, COMPOSE_S3):
        spec = yaml.safe_load(path.read_text())
        assert secret_problems(spec["services"]) == [], path.name
        for name, service in spec["services"].items():
            if path == COMPOSE_S3 and name in compose():
                continue  # adds settings to compose.yaml's service
            image = str(service.get("image", ""))
            assert (
                "build" in service
                or image == "formsvc:latest"
                or (":" in image and not image.endswith(":latest"))
            ), name
        assert all(set(s) == {"file"} for s in spec["secrets"].values())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("POSTGRES_PASSWORD", "${POSTGRES_PASSWORD:-postgres}"),  # review D5's mutation
        ("POSTGRES_PASSWORD", "${POSTGRES_PASSWORD-postgres}"),
        ("POSTGRES_PASSWORD", "${POSTGRES_PASSWORD:-}"),
        ("POSTGRES_PASSWORD", "${POSTGRES_PASSWORD}"),
        ("POSTGRES_PASSWORD", "$POSTGRES_PASSWORD"),
        ("POSTGRES_PASSWORD", "hunter2"),
        ("FORMSVC_STORAGE_S3__access_key", "${FORMSVC_S3_ACCESS_KEY:-}"),
        ("FORMSVC_STORAGE_S3__secret_key", "${FORMSVC_S3_SECRET_KEY:-minio123}"),
        ("FORMSVC_METRICS_TOKEN", "${FORMSVC_METRICS_TOKEN:+x}"),
        ("FORMSVC_SECRET_KEY_FALLBACKS", '${FORMSVC_SECRET_KEY_FALLBACKS:-["old"]}'),
        ("FORMSVC_SECRET_KEY", "${FORMSVC_SECRET_KEY:?set it}${EXTRA:-x}"),
        # a secret inside another setting: the database URL with a default password
        ("FORMSVC_SQLALCHEMY_DATABASE_URI", "postgresql://u:${POSTGRES_PASSWORD:-pw}@db/x"),
        ("FORMSVC_SQLALCHEMY_DATABASE_URI", "postgresql://u:pw@db/x"),
    ],
)
def test_the_compose_secret_check_refuses_a_default_or_literal_secret(key: str, value: str) -> None:
    services = compose()
    services["web"] = {**services["web"], "environment": {**services["web"]["environment"]}}
    services["web"]["environment"][key] = value
    assert {(s, k) for s, k, _ in secret_problems(services)} == {("web", key)}


def interpolate(value: str, given: dict[str, str]) -> str:
    """compose's ${VAR:?message} and ${VAR:-default}, as `docker compose` fills them in."""

    def one(match: re.Match[str]) -> str:
        name, rest = match.groups()
        if rest.startswith(":?"):
            assert given.get(name), f"compose would stop: {name} is not set"
            return given[name]
        assert rest.startswith(":-"), rest
        return given.get(name) or rest[2:]

    return _REF.sub(one, value)


def required_variables(*paths: Path) -> set[str]:
    """The variables `docker compose` refuses to start without (${VAR:?…})."""
    return {v for p in paths for v, rest in _REF.findall(p.read_text()) if rest.startswith(":?")}


def app_config(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Config:
    """The settings create_app builds from *environment* (no instance/config.py in the image)."""
    with monkeypatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("FORMSVC_"):
                patch.delenv(name)
        for name, value in environment.items():
            patch.setenv(name, value)
        config = Config(str(ROOT), defaults(str(ROOT / "instance")))
        config.from_prefixed_env("FORMSVC")
    return config


APP_SERVICES = ("migrate", "web", "worker", "beat", "rotate-key")


def test_compose_s3_gives_every_app_container_a_storage_s3_that_formsvc_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, s3 = compose(), compose(COMPOSE_S3)
    assert set(s3) - set(base) == {"s3", "s3-bucket"}
    given = {name: f"v-{name.lower()}" for name in required_variables(COMPOSE, COMPOSE_S3)}
    assert {"FORMSVC_S3_ACCESS_KEY", "FORMSVC_S3_SECRET_KEY"} <= set(given)
    for name in APP_SERVICES:
        merged = {**base[name]["environment"], **s3[name]["environment"]}
        config = app_config({k: interpolate(str(v), given) for k, v in merged.items()}, monkeypatch)
        assert config["STORAGE_BACKEND"] == "s3"
        settings = S3Settings.from_mapping(config["STORAGE_S3"])  # raises as create_app would
        assert (settings.access_key, settings.secret_key) == (
            given["FORMSVC_S3_ACCESS_KEY"],
            given["FORMSVC_S3_SECRET_KEY"],
        )
        assert settings.endpoint_url == "http://s3:8333" and settings.bucket == "formsvc"
        # they start once the bucket is there
        assert s3[name]["depends_on"]["s3-bucket"]["condition"] == "service_completed_successfully"
        # compose.yaml alone: files in the database, and no S3 variable is needed
        alone = {k: interpolate(str(v), given) for k, v in base[name]["environment"].items()}
        config = app_config(alone, monkeypatch)
        assert (config["STORAGE_BACKEND"], config["STORAGE_S3"]) == ("database", {})
    assert not required_variables(COMPOSE) & {"FORMSVC_S3_ACCESS_KEY", "FORMSVC_S3_SECRET_KEY"}

    # the server checks signatures against an identity file, a secret; no bucket made on a write
    server = s3["s3"]
    assert "-s3.config=/run/secrets/s3_config" in server["command"]
    assert "-s3.autoCreateBucket=false" in server["command"]
    assert server["secrets"] == ["s3_config"] == s3["s3-bucket"]["secrets"]
    assert server["image"].split(":")[1] == WEED_VERSION  # the version the tests run
    assert "ports" not in server and "ports" not in s3["s3-bucket"]


def test_compose_s3_bucket_step_makes_the_bucket_once_and_checks_formsvcs_keys(
    s3_server: S3Server, tmp_path: Path
) -> None:
    step = compose(COMPOSE_S3)["s3-bucket"]
    assert step["command"][:2] == ["python", "-c"] and step["restart"] == "no"
    given = {name: f"v-{name.lower()}" for name in required_variables(COMPOSE, COMPOSE_S3)}
    env = {k: interpolate(str(v), given) for k, v in step["environment"].items()}
    identities = tmp_path / "s3.json"
    bucket = f"formsvc-compose-{secrets.token_hex(4)}"
    identities.write_text(
        json.dumps(  # the shape compose.s3.yaml's comment asks for (the server has these two)
            {
                "identities": [
                    {
                        "name": "formsvc",
                        "credentials": [
                            {"accessKey": s3_server.access_key, "secretKey": s3_server.secret_key}
                        ],
                    },
                    {
                        "name": "bucket-admin",
                        "credentials": [
                            {"accessKey": s3_server.admin_key, "secretKey": s3_server.admin_secret}
                        ],
                    },
                ]
            }
        )
    )
    env |= {
        "FORMSVC_STORAGE_S3__endpoint_url": s3_server.endpoint_url,  # instead of http://s3:8333
        "FORMSVC_STORAGE_S3__bucket": bucket,
        "FORMSVC_STORAGE_S3__access_key": s3_server.access_key,
        "FORMSVC_STORAGE_S3__secret_key": s3_server.secret_key,
        "S3_IDENTITIES": str(identities),
    }

    def run(**change: str) -> subprocess.CompletedProcess[bytes]:
        full = {"PATH": os.environ["PATH"], **env, **change}
        command = [sys.executable, "-c", step["command"][2]]
        return subprocess.run(command, env=full, capture_output=True, timeout=90)

    for _ in range(2):  # the second run finds the bucket there
        done = run()
        assert (done.returncode, done.stdout) == (0, f"bucket {bucket} ready\n".encode()), done
    assert bucket in {b["Name"] for b in s3_server.client().list_buckets()["Buckets"]}
    S3Backend({**s3_server.settings(bucket=bucket), "prefix": "files"}).check()
    # formsvc's keys in the environment differ from the identity file's: the step fails
    done = run(FORMSVC_STORAGE_S3__secret_key="not-" + s3_server.secret_key)
    assert done.returncode != 0 and b"403" in done.stderr


def test_compose_shares_one_keyring_folder_writable_only_by_the_rotate_key_step(
    config: dict[str, Any],
) -> None:
    services = compose()
    path = Path(services["web"]["environment"]["FORMSVC_STORAGE_KEYRING_PATH"])
    for name in APP_SERVICES:
        assert services[name]["environment"]["FORMSVC_STORAGE_KEYRING_PATH"] == str(path)
        assert "storage_keys" not in services[name].get("secrets", [])
        mode = "rw" if name == "rotate-key" else "ro"
        expected = f"./secrets/keyring:{path.parent}" + (":ro" if mode == "ro" else "")
        kept = ["beat-data:/var/lib/formsvc/instance"] if name == "beat" else []  # its schedule
        assert services[name]["volumes"] == [expected, *kept], name
    step = services["rotate-key"]
    assert step["profiles"] == ["keys"] and step["restart"] == "no"  # by hand, never by `up`
    assert step["command"] == ["flask", "--app", "formsvc", "storage", "rotate-key"]
    cli = create_app(config).test_cli_runner()
    for command in ("rotate-key", "retire-keys"):  # README: retire-keys through the same step
        assert cli.invoke(args=["storage", command, "--help"]).exit_code == 0


def test_a_rotation_in_the_shared_keyring_reaches_a_running_instance_but_not_a_copy(
    app: Flask, make_app: Callable[..., Flask], config: dict[str, Any], tmp_path: Path
) -> None:
    # `app` is the rotate-key step; `web` was started before it, reading the same keyring file;
    # `stale` has a copy of the keyring taken before the rotation (another machine's own copy)
    keyring = Path(config["STORAGE_KEYRING_PATH"])
    copy = tmp_path / "copy" / "storage-keys.json"
    copy.parent.mkdir(mode=0o700)
    copy.write_bytes(keyring.read_bytes())
    web, stale = make_app(), make_app(STORAGE_KEYRING_PATH=str(copy))
    with web.app_context():
        before = runtime(web).store.put(b"%PDF-1.7 before", "application/pdf").sha256
        db.session.commit()

    result = app.test_cli_runner().invoke(args=["storage", "rotate-key"])
    assert result.exit_code == 0, result.output
    new = keys.load_keyring(keyring).active_id

    with web.app_context():  # no restart: it reads the new keyring file and writes under the key
        store = runtime(web).store
        assert store.get(before) == b"%PDF-1.7 before"
        after = store.put(b"%PDF-1.7 after", "application/pdf").sha256
        db.session.commit()
        assert {key_id(raw_blob(store, sha)) for sha in (before, after)} == {new}
    # why every instance must have the new keyring before a rotation
    with stale.app_context(), pytest.raises(StoredFileError, match="key"):
        runtime(stale).store.get(before)


def key_id(blob: bytes) -> str:
    """The key id in a stored blob's header (formsvc.services.storage's format)."""
    return blob[5 : 5 + blob[4]].decode("ascii")
