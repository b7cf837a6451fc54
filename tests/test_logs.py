"""Logs (issue 15): JSON or text lines, a request id per request in the response and in every
line, one access line naming the endpoint (never the path: signing links carry tokens), and
hostile X-Request-ID values replaced, never echoed."""

from __future__ import annotations

import json
import logging
import re
import runpy
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from formsvc import logs

HEX32 = re.compile(r"[0-9a-f]{32}")


def json_lines(err: str) -> list[dict[str, Any]]:
    """Every line formsvc's handler wrote; each must be one JSON object."""
    return [json.loads(line) for line in err.splitlines() if line.strip()]


@pytest.fixture
def json_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(LOG_FORMAT="json")


def test_a_well_formed_request_id_is_kept_and_in_every_line_of_the_request(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a closed port: /readyz logs why the database check failed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(
        LOG_FORMAT="json", SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://127.0.0.1:{port}/x"
    )
    capsys.readouterr()
    with app.app_context():
        resp = app.test_client().get("/readyz", headers={"X-Request-ID": "lb-4f2a.9_Z-1"})
    assert resp.headers["X-Request-ID"] == "lb-4f2a.9_Z-1"
    lines = json_lines(capsys.readouterr().err)
    warning = next(li for li in lines if li["logger"] == "formsvc.services.health")
    assert warning["level"] == "WARNING" and "database" in warning["message"]
    assert {li["request_id"] for li in lines} == {"lb-4f2a.9_Z-1"}


HOSTILE_IDS = [
    "abc\ndef",
    "abc\r\nSet-Cookie: x=1",
    'x", "level": "CRITICAL", "y": "',
    "}{",
    "a" * 129,
    "a" * 100_000,
    "a b",
    "",
    "\xc3\x28\xff\xfe",  # bytes that are not UTF-8, as WSGI hands them over (latin-1)
    "ok\u0000",
    "../../etc/passwd",
    "%0d%0a",
]


def test_a_malformed_request_id_is_replaced(
    json_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    with json_app.app_context():
        client = json_app.test_client()
        for hostile in HOSTILE_IDS:
            capsys.readouterr()
            # straight into the WSGI environ: the test client's own headers refuse a newline
            resp = client.get("/login", environ_base={"HTTP_X_REQUEST_ID": hostile})
            rid = resp.headers["X-Request-ID"]
            assert HEX32.fullmatch(rid), hostile
            lines = json_lines(capsys.readouterr().err)  # every line still one JSON object
            assert [li["request_id"] for li in lines] == [rid], hostile
            assert all(li["level"] == "INFO" for li in lines), hostile


def test_every_request_gets_its_own_id(json_app: Flask) -> None:
    with json_app.app_context():
        client = json_app.test_client()
        ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5 and all(HEX32.fullmatch(i) for i in ids)


def test_the_access_line_names_the_endpoint_not_the_path_or_query(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    token = "Hemlig-signeringslank-token-1234567890"
    json_app = make_app(LOG_FORMAT="json")
    capsys.readouterr()
    with json_app.app_context():
        client = json_app.test_client()
        client.get(f"/s/{token}?code=987654&next=%0a")
        client.get("/login?next=/secret-place")
    err = capsys.readouterr().err
    assert token not in err and "987654" not in err and "secret-place" not in err
    access = [li for li in json_lines(err) if li["logger"] == "formsvc.access"]
    assert [(a["method"], a["endpoint"], a["status"]) for a in access] == [
        ("GET", "public.link", 404),
        ("GET", "auth.login", 200),
    ]
    assert all(isinstance(a["duration_ms"], float) and a["request_id"] for a in access)


def test_probes_are_logged_at_debug_only(
    json_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    with json_app.app_context():
        for path in ("/healthz", "/readyz", "/metrics"):
            json_app.test_client().get(path)
    assert capsys.readouterr().err == ""  # LOG_LEVEL INFO


def test_text_lines_carry_the_request_id(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(LOG_FORMAT="text", LOG_LEVEL="debug")
    capsys.readouterr()
    with app.app_context():
        app.test_client().get("/healthz", headers={"X-Request-ID": "trace-1"})
    (line,) = [li for li in capsys.readouterr().err.splitlines() if "formsvc.access" in li]
    assert re.search(r" DEBUG formsvc\.access \[trace-1\] GET ops\.healthz 200 [0-9.]+ ms$", line)


def test_an_unknown_log_format_refuses_to_start(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        make_app(LOG_FORMAT="xml")


def test_request_id_is_none_outside_a_request_and_a_task_can_carry_it() -> None:
    assert logs.request_id() is None
    seen: dict[str, str | None] = {}

    def task(rid: str | None) -> None:  # what a worker does with the id the task carried
        with logs.bound_request_id(rid) as bound:
            seen[str(rid)] = logs.request_id()
            assert bound == logs.request_id()
        seen[f"after {rid}"] = logs.request_id()

    for rid in ("from-request-1", "bad\nid", None):
        worker = threading.Thread(target=task, args=(rid,))
        worker.start()
        worker.join(timeout=10)
    assert seen["from-request-1"] == "from-request-1"
    assert HEX32.fullmatch(seen["bad\nid"] or "") and HEX32.fullmatch(seen["None"] or "")
    assert seen["after from-request-1"] is None and logs.request_id() is None


def test_the_development_servers_path_lines_are_not_logged(json_app: Flask) -> None:
    # werkzeug's request lines carry the path, and a signing link's token is in the path
    assert logging.getLogger("werkzeug").getEffectiveLevel() >= logging.WARNING


def test_gunicorn_writes_no_access_log_of_its_own() -> None:
    # its request line ("%(r)s") and referer hold the path: a signing link's token
    conf = runpy.run_path(str(Path(__file__).parents[1] / "deploy" / "gunicorn.conf.py"))
    assert conf["accesslog"] is None


def test_a_path_with_a_newline_cannot_forge_a_text_log_line(make_app: Any) -> None:
    """Text format (the default): control characters a client put in a logged value are
    escaped, so each record stays one line (review O4)."""
    app = make_app(LOG_FORMAT="text")
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "formsvc", False))
    assert isinstance(handler.formatter, logs.TextFormatter)
    lines: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(handler.format(record))

    grab = Grab()
    grab.addFilter(logs.RequestIdFilter())
    logging.getLogger().addHandler(grab)
    forged = "2026-12-08 02:00:00,000 INFO formsvc.audit [00000000] admin deleted everything"
    try:
        for sep in ("%0A", "%0D", "%E2%80%A8", "%C2%85"):
            app.test_client().get("/%ff" + sep + forged.replace(" ", "%20"))
    finally:
        logging.getLogger().removeHandler(grab)
    assert lines, "the invalid path is logged"
    for line in lines:
        assert "\n" not in line and "\r" not in line and "\u2028" not in line, line
        assert "\x85" not in line, line
    assert any("\\n" + forged in line for line in lines)  # still readable, escaped


def test_a_traceback_stays_under_its_record() -> None:
    formatter = logs.TextFormatter()
    try:
        raise ValueError("bad\nINFO forged")
    except ValueError:
        record = logging.LogRecord(
            "formsvc.x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info()
        )
    record.request_id = "-"
    first, *rest = formatter.format(record).split("\n")
    assert first.endswith("boom") and rest
    assert all(line.startswith("    ") for line in rest)
