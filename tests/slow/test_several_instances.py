"""Two instances (two gunicorn processes, two apps) on one database and one Redis share their
limits: the /verify upload limit lives in Redis (Flask-Limiter), the login lockout in the
database (services/throttle.py). Without Redis each process limits on its own and the public
pages keep answering (config: RATELIMIT_IN_MEMORY_FALLBACK_ENABLED)."""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from fpdf import FPDF

from formsvc.services import users
from tests.conftest import PASSWORD
from tests.processes import Gunicorn, Redis, gunicorns, redis_server, stop, write_instance
from tests.views.test_login_throttle import LOCKED, WRONG

Pair = tuple[Gunicorn, Gunicorn, Redis, str]


@pytest.fixture
def pair(app: Flask, config: dict[str, Any], tmp_path: Path) -> Iterator[Pair]:
    prefix = f"t{secrets.token_hex(6)}"  # the key prefix of this test only
    with redis_server(tmp_path / "redis") as server:
        shared = {
            **config,
            "RATELIMIT_STORAGE_URI": server.url,
            "RATELIMIT_KEY_PREFIX": prefix,
            "VERIFY_RATE_LIMIT": "4 per minute",
            "LOGIN_ACCOUNT_FAILURES": 3,
            "LOGIN_LOCKOUT_SECONDS": 600,
        }
        folders = [write_instance(tmp_path / name, shared) for name in ("a", "b")]
        with gunicorns(*folders) as (a, b):
            yield a, b, server, prefix


def verify(server: Gunicorn) -> int:
    """An empty /verify upload: the form refuses it (200), but every POST counts."""
    return requests.post(f"{server.url}/verify", timeout=10).status_code


def login(server: Gunicorn, password: str) -> str:
    data = {"username": "anna", "password": password}
    return requests.post(f"{server.url}/login", data=data, timeout=10).text


def test_two_instances_share_their_limits_keep_limiting_without_redis_and_stop_cleanly(
    pair: Pair,
) -> None:
    a, b, server, prefix = pair
    # a real upload: the untrusted-file runner (a fork server) works inside a gunicorn worker
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica")
    pdf.cell(text="Ingen försegling")
    upload = {"pdf": ("kopia.pdf", bytes(pdf.output()), "application/pdf")}
    checked = requests.post(f"{a.url}/verify", files=upload, timeout=60)
    assert checked.status_code == 200 and "Filen har inget elektroniskt sigill" in checked.text
    # … and it counted: the limit is 4 per minute over both instances together
    assert [verify(s) for s in (b, a, b, a, b)] == [200, 200, 200, 429, 429]
    keys = redis.Redis(port=server.port).keys("*")
    assert keys and all(f"/{prefix}/".encode() in key for key in keys)

    users.create_user(
        username="anna", full_name="Anna", role="analyst", password=PASSWORD, district_id=None
    )
    assert LOCKED not in login(a, WRONG)
    assert LOCKED not in login(b, WRONG)
    assert LOCKED in login(a, WRONG)  # the third failure, on A, locks the name …
    assert LOCKED in login(b, PASSWORD)  # … on B too: the right password is refused

    os.kill(server.proc.pid, signal.SIGSTOP)  # Redis accepts connections but never answers
    try:
        # each process counts on its own (from zero): A refuses its fifth, B has its own four
        assert [verify(a) for _ in range(5)] == [200, 200, 200, 200, 429]
        assert verify(b) == 200
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)

    # gunicorn refuses a request line or a header longer than a browser sends
    assert requests.get(f"{a.url}/login?q={'x' * 5000}", timeout=10).status_code == 414
    huge = {"X-Padding": "y" * 9000}
    assert requests.get(f"{a.url}/login", headers=huge, timeout=10).status_code == 431
    many = {f"X-H{n}": "1" for n in range(101)}
    assert requests.get(f"{a.url}/login", headers=many, timeout=10).status_code == 431

    # SIGTERM: gunicorn finishes and exits 0 well within its graceful timeout
    assert stop(a.proc, grace=30) == 0
    assert "Shutting down: Master" in a.output()
