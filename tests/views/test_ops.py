"""/healthz, /readyz and /metrics (issue 15): each readiness check failing for real (a database
on a closed port, a storage directory nobody may write, a Redis server stopped, one that never
answers), and /metrics closed to outsiders, forged tokens and forged X-Forwarded-For."""

from __future__ import annotations

import io
import os
import runpy
import socket
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from formsvc import metrics as metrics_module
from formsvc.runtime import runtime

OUTSIDER = "203.0.113.9"
TOKEN = "metrics-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private redis-server on a free loopback port, no persistence; stop() for real."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/4"
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        try:
            for _ in range(200):  # up in ~50 ms; at most 200 tries
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    if self.proc.poll() is not None:
                        raise RuntimeError("redis-server exited") from None
                    time.sleep(0.05)
            self.stop()
            raise RuntimeError("redis-server did not answer")
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def readyz(app: Flask) -> tuple[int, dict[str, Any], str]:
    resp = app.test_client().get("/readyz")
    assert "Set-Cookie" not in resp.headers
    assert resp.mimetype == "application/json"
    return resp.status_code, resp.get_json(), resp.get_data(as_text=True)


# --------------------------------------------------------------------------- /healthz, /readyz


def test_healthz_answers_without_a_database(make_app: Callable[..., Flask]) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://u@127.0.0.1:{free_port()}/x")
    resp = app.test_client().get("/healthz")
    assert (resp.status_code, resp.get_data(as_text=True)) == (200, "ok\n")
    assert "Set-Cookie" not in resp.headers
    assert resp.headers["Cache-Control"] == "no-store"


def test_readyz_is_ok_when_the_database_and_storage_are(app: Flask) -> None:
    assert readyz(app)[:2] == (200, {"status": "ok", "checks": {"database": "ok", "storage": "ok"}})


def test_readyz_fails_on_a_database_that_does_not_answer(make_app: Callable[..., Flask]) -> None:
    port = free_port()  # nothing listens here
    app = make_app(SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://dbuser:s3cret@127.0.0.1:{port}/x")
    with app.app_context():
        status, body, raw = readyz(app)
    assert status == 503
    assert body == {"status": "failed", "checks": {"database": "failed", "storage": "ok"}}
    for secret in ("s3cret", "dbuser", str(port), "127.0.0.1", "psycopg", "Error"):
        assert secret not in raw


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """*path* refuses new files, even to root (the immutable flag; chmod is enough otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    root = os.geteuid() == 0
    if root:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o500)
    try:
        yield
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o700)


def test_readyz_fails_on_storage_it_cannot_write(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    files = tmp_path / "locked-files"
    app = make_app(STORAGE_DIR=str(files))
    with app.app_context(), unwritable(files):
        status, body, raw = readyz(app)
    assert status == 503
    assert body["checks"] == {"database": "ok", "storage": "failed"}
    assert str(tmp_path) not in raw and "locked-files" not in raw
    assert list(files.iterdir()) == []  # no probe file left behind


def test_readyz_fails_on_storage_that_is_not_a_directory(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("x")
    app = make_app(STORAGE_DIR=str(tmp_path / "a-file"))
    with app.app_context():
        assert readyz(app)[1]["checks"]["storage"] == "failed"


def test_readyz_creates_a_missing_storage_directory_like_the_first_upload(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app(STORAGE_DIR=str(tmp_path / "new" / "files"))
    with app.app_context():
        assert readyz(app)[0] == 200
    assert (tmp_path / "new" / "files").is_dir()


def test_readyz_checks_the_database_storage_backend_in_a_session_of_its_own(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(STORAGE_BACKEND="database")
    with app.app_context():
        assert readyz(app)[:2] == (
            200,
            {"status": "ok", "checks": {"database": "ok", "storage": "ok"}},
        )
    closed = make_app(
        STORAGE_BACKEND="database",
        SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://u@127.0.0.1:{free_port()}/x",
    )
    with closed.app_context():
        assert readyz(closed)[1]["checks"] == {"database": "failed", "storage": "failed"}


def test_readyz_pings_redis_and_fails_when_it_stops(
    make_app: Callable[..., Flask], redis_server: RedisServer
) -> None:
    app = make_app(RATELIMIT_STORAGE_URI=redis_server.url, CELERY_BROKER_URL=redis_server.url)
    with app.app_context():
        status, body, _raw = readyz(app)
        assert (status, body["checks"]["redis_ratelimit"], body["checks"]["redis_broker"]) == (
            200,
            "ok",
            "ok",
        )
        redis_server.stop()
        status, body, raw = readyz(app)
    assert status == 503  # the broker is needed: jobs would be lost
    assert body["checks"] == {
        "database": "ok",
        "storage": "ok",
        "redis_ratelimit": "degraded",  # limits fall back to each process's memory
        "redis_broker": "failed",
    }
    assert str(redis_server.port) not in raw


def test_readyz_stays_ready_without_the_rate_limit_redis_while_limits_fall_back(
    make_app: Callable[..., Flask], redis_server: RedisServer
) -> None:
    """A down rate-limit Redis degrades (each instance limits alone) but must not take every
    instance out of the load balancer at once; without the fallback it does fail."""
    redis_server.stop()
    app = make_app(RATELIMIT_STORAGE_URI=redis_server.url)
    with app.app_context():
        status, body, _raw = readyz(app)
    assert (status, body["status"], body["checks"]["redis_ratelimit"]) == (200, "ok", "degraded")
    strict = make_app(
        RATELIMIT_STORAGE_URI=redis_server.url, RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=False
    )
    with strict.app_context():
        status, body, _raw = readyz(strict)
    assert (status, body["checks"]["redis_ratelimit"]) == (503, "failed")


def test_readyz_gives_up_on_a_redis_that_never_answers(make_app: Callable[..., Flask]) -> None:
    # a listening socket nobody reads: the connection opens, PING gets no answer
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/4"
        app = make_app(CELERY_BROKER_URL=url, READYZ_TIMEOUT=0.5)
        with app.app_context():
            status, body, _raw = readyz(app)
    assert (status, body["checks"]["redis_broker"], body["checks"]["database"]) == (
        503,
        "failed",
        "ok",
    )


def test_readyz_ignores_settings_that_name_no_redis(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATELIMIT_STORAGE_URI="memory://", CELERY_BROKER_URL="amqp://x@127.0.0.1:1//")
    with app.app_context():
        assert set(readyz(app)[1]["checks"]) == {"database", "storage"}


def test_readyz_asks_for_a_worker_heartbeat_in_celery_mode(
    make_app: Callable[..., Flask], redis_server: RedisServer
) -> None:
    # celery mode needs a broker (formsvc.queue refuses to start without); no worker runs, the
    # heartbeat is written as a worker's bootstep writes it (formsvc.worker), into the real Redis
    app = make_app(QUEUE_MODE="celery", CELERY_BROKER_URL=redis_server.url)
    queue = runtime(app).queue
    assert queue is not None
    with app.app_context():
        checks = {"database": "ok", "storage": "ok", "redis_broker": "ok", "worker": "failed"}
        assert readyz(app)[:2] == (503, {"status": "failed", "checks": checks})
        queue.beat("worker-1@host")
        assert readyz(app)[:2] == (200, {"status": "ok", "checks": {**checks, "worker": "ok"}})
        queue.forget("worker-1@host")  # its TTL ran out (or it stopped)
        assert readyz(app)[1]["checks"]["worker"] == "failed"
        redis_server.stop()  # the heartbeat cannot be read either
        assert readyz(app)[1]["checks"] == {**checks, "redis_broker": "failed"}


# --------------------------------------------------------------------------- /metrics


def metrics(client: FlaskClient, remote: str = "127.0.0.1", **headers: str) -> Any:
    return client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote})


def test_metrics_from_loopback_counts_requests_by_endpoint_never_by_path(
    client: FlaskClient,
) -> None:
    token = "Hemlig-signeringslank-token-1234567890"
    client.get(f"/s/{token}?code=987654")
    client.get("/healthz")
    client.get(f"/no-such-page/{token}")
    resp = metrics(client)
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    assert "Set-Cookie" not in resp.headers
    text = resp.get_data(as_text=True)
    assert 'endpoint="public.link"' in text
    assert 'endpoint="ops.healthz",method="GET",status="2xx"' in text
    assert 'endpoint="none",method="GET",status="4xx"' in text
    assert token not in text and "987654" not in text and "no-such-page" not in text
    for name in (
        "formsvc_seals_total",
        "formsvc_conversions_total",
        "formsvc_converter_restarts_total",
        "formsvc_task_duration_seconds",
        "formsvc_task_failures_total",
        "formsvc_queue_depth",
    ):
        assert f"# TYPE {name} " in text


def test_metrics_is_a_404_for_everyone_else(make_app: Callable[..., Flask]) -> None:
    app = make_app(METRICS_TOKEN=TOKEN)
    client = app.test_client()
    forged = [
        {},
        {"Authorization": "Bearer " + TOKEN[:-1]},
        {"Authorization": "Bearer " + TOKEN + "x"},
        {"Authorization": "Bearer " + TOKEN.upper()},
        {"Authorization": "Basic " + TOKEN},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer " + "A" * 100_000},
        {"Authorization": "Bearer " + TOKEN[:10] + "\xe9\xff" + TOKEN[12:]},
        {"X-Metrics-Token": TOKEN},
    ]
    with app.app_context():
        for headers in forged:
            resp = metrics(client, OUTSIDER, **headers)
            assert resp.status_code == 404, headers
            assert b"formsvc_" not in resp.data
        for remote in ("10.0.0.1", "::2", "128.0.0.1", "not-an-address"):
            assert metrics(client, remote).status_code == 404
        assert metrics(client, OUTSIDER, Authorization=f"Bearer {TOKEN}").status_code == 200
        assert metrics(client, OUTSIDER, Authorization=f"bearer  {TOKEN} ").status_code == 200
        assert metrics(client, "::1").status_code == 200
        assert metrics(client, "::ffff:127.0.0.1").status_code == 200


def test_metrics_allow_networks_and_token_are_checked_at_start(
    make_app: Callable[..., Flask],
) -> None:
    with pytest.raises(RuntimeError, match="METRICS_TOKEN"):
        make_app(METRICS_TOKEN="short")
    with pytest.raises(RuntimeError, match="METRICS_ALLOW"):
        make_app(METRICS_ALLOW=["10.0.0.0/33"])
    app = make_app(METRICS_ALLOW="10.1.0.0/16")  # one network as a plain string
    with app.app_context():
        assert metrics(app.test_client(), "10.1.2.3").status_code == 200
        assert metrics(app.test_client(), "127.0.0.1").status_code == 404


def test_forwarded_for_never_makes_an_outsider_local(make_app: Callable[..., Flask]) -> None:
    # no proxy configured: a forwarding header means an unannounced proxy (a loopback nginx
    # would make everyone local), so the address does not count
    direct = make_app()
    with direct.app_context():
        client = direct.test_client()
        for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
            assert metrics(client, "127.0.0.1", **{header: OUTSIDER}).status_code == 404
        assert metrics(client, OUTSIDER, **{"X-Forwarded-For": "127.0.0.1"}).status_code == 404
    # one proxy (on loopback) in front: ProxyFix takes the address it appended
    proxied = make_app(PROXY_FIX_X_FOR=1)
    with proxied.app_context():
        client = proxied.test_client()
        for xff in (OUTSIDER, f"127.0.0.1, {OUTSIDER}", f"::1,127.0.0.1, {OUTSIDER}"):
            assert metrics(client, "127.0.0.1", **{"X-Forwarded-For": xff}).status_code == 404
        # the outsider wrote "127.0.0.1" and the proxy appended one more: more entries than hops
        assert (
            metrics(client, "127.0.0.1", **{"X-Forwarded-For": "127.0.0.1, 127.0.0.1"}).status_code
            == 404
        )
        # a scraper on the proxy's host, through the proxy; and one asking the app directly
        assert metrics(client, "127.0.0.1", **{"X-Forwarded-For": "127.0.0.1"}).status_code == 200
        assert metrics(client, "127.0.0.1").status_code == 200


def test_ops_routes_need_no_login_or_csrf_and_set_no_cookie(make_app: Callable[..., Flask]) -> None:
    # (no rate limit either: the blueprint is exempt; a RATELIMIT_DEFAULT here would outlive
    # this app, Flask-Limiter's object being one per process)
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        client = app.test_client()
        for _ in range(5):
            for path in ("/healthz", "/readyz", "/metrics"):
                resp = client.get(path)
                assert resp.status_code == 200, path
                assert "Set-Cookie" not in resp.headers
        assert client.post("/healthz").status_code == 405


#: a process that counts one seal: formsvc/metrics.py loaded alone (not the whole app: fast)
COUNT_A_SEAL = textwrap.dedent(
    """
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("formsvc_metrics", sys.argv[1])
    metrics = sys.modules["formsvc_metrics"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(metrics)
    metrics.SEALS.labels(outcome="ok").inc()
    metrics.QUEUE_DEPTH.labels(queue="mail").set(int(sys.argv[2]))
    """
)


def test_metrics_adds_up_every_process_in_multiprocess_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    pids = []
    for depth in ("3", "5"):  # two processes, one after the other
        proc = subprocess.Popen(
            [sys.executable, "-c", COUNT_A_SEAL, metrics_module.__file__, depth]
        )
        assert proc.wait(timeout=60) == 0
        pids.append(proc.pid)
    # gunicorn's master, told a worker died: its live gauges go, its counts stay
    conf = runpy.run_path(str(Path(__file__).parents[2] / "deploy" / "gunicorn.conf.py"))
    conf["child_exit"](None, types.SimpleNamespace(pid=pids[0]))
    text = metrics_module.exposition()[0].decode()
    assert 'formsvc_seals_total{outcome="ok"} 2.0' in text
    assert 'formsvc_queue_depth{queue="mail"} 5.0' in text  # the latest one set


def test_seals_and_conversions_are_counted_where_they_happen(app: Flask) -> None:
    from prometheus_client import REGISTRY
    from pypdf import PdfWriter

    from formsvc.services.conversion import ConversionError, ConverterPool

    def value(name: str, outcome: str) -> float:
        return REGISTRY.get_sample_value(name, {"outcome": outcome}) or 0.0

    page = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(page)
    sealed_before = value("formsvc_seals_total", "ok")
    sealed = runtime(app).sealer().seal(page.getvalue(), reason="test", location="Stockholm")
    assert sealed.startswith(b"%PDF") and value("formsvc_seals_total", "ok") == sealed_before + 1

    failed_before = value("formsvc_conversions_total", "failed")
    pool = ConverterPool(runtime(app).converter_settings)  # never started: LibreOffice not asked
    with pytest.raises(ConversionError):
        pool.convert(b"not a word file")
    assert value("formsvc_conversions_total", "failed") == failed_before + 1
