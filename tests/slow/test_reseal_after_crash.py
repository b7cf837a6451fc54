"""A process killed (SIGKILL) while holding a document's finalise claim does not block sealing.

A real child process claims the sealing the way the service does and then blocks ("mid-seal");
while it lives, nobody else may seal; once it is killed with kill -9, `flask reseal` and the
finalise button seal the document at once, exactly once. SQLite and PostgreSQL (FORMSVC_TEST_DB).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from formsvc.extensions import db
from formsvc.models import Document
from formsvc.services import holders, signing
from tests.views.test_signing_concurrency import (  # noqa: F401 - fixtures
    broken_seal,
    count,
    sent,
    sign_all_but_the_seal_fails,
)

ROOT = Path(__file__).resolve().parents[2]

#: The child: build the app on the same database, claim the document's sealing, say so, block.
CHILD = """
import json, sys, time
from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import Document
from formsvc.models._base import utcnow
from formsvc.services import signing

config, doc_id = json.loads(sys.argv[1]), int(sys.argv[2])
app = create_app(config)
with app.app_context():
    doc = db.session.get(Document, doc_id)
    print("claimed" if signing.claim_finalise(doc, app.config, utcnow()) else "refused", flush=True)
    time.sleep(600)  # "rendering and sealing": killed long before this ends
"""


@pytest.fixture
def complete(
    app: Flask,
    client: FlaskClient,
    sent: Document,  # noqa: F811 - the imported fixture
    broken_seal: Flask,  # noqa: F811 - the imported fixture
) -> Document:
    """Every signature in, nothing sealed, no claim: the last signature's seal failed."""
    sign_all_but_the_seal_fails(app, client, sent, broken_seal)
    db.session.expire_all()
    doc = db.session.get(Document, sent.id)
    assert signing.all_signed(doc) and doc.sealed_pdf_sha256 is None
    assert doc.finalise_claimed_at is None
    return doc


@pytest.fixture
def holder(config: dict[str, Any], complete: Document) -> Iterator[subprocess.Popen[str]]:
    """A live child process holding the finalise claim of *complete*."""
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", CHILD, json.dumps(config), str(complete.id)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "claimed"
        yield child
    finally:
        child.kill()
        child.wait(timeout=60)
        if child.stdout is not None:
            child.stdout.close()


def _claim(doc_id: int) -> tuple[Any, str | None]:
    db.session.expire_all()
    doc = db.session.get(Document, doc_id)
    return doc.finalise_claimed_at, doc.finalise_claimed_by


def _kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=60) == -signal.SIGKILL


def test_reseal_respects_a_live_holder_and_seals_at_once_after_it_is_killed(
    app: Flask, runner: FlaskCliRunner, complete: Document, holder: subprocess.Popen[str]
) -> None:
    claimed_at, claimed_by = _claim(complete.id)
    assert claimed_at is not None and claimed_by and f"/{holder.pid}/" in claimed_by
    assert not holders.is_dead(claimed_by)

    alive = runner.invoke(args=["reseal"])
    assert alive.exit_code == 0 and "inga dokument väntar" in alive.output
    assert _claim(complete.id) == (claimed_at, claimed_by)  # the live holder's claim stands

    _kill(holder)
    assert holders.is_dead(claimed_by)
    result = runner.invoke(args=["reseal"])
    assert result.exit_code == 0, result.output
    assert f"{complete.reference}: förseglat" in result.output
    db.session.expire_all()
    doc = db.session.get(Document, complete.id)
    assert doc.status == "active" and doc.sealed_pdf_sha256
    assert (doc.finalise_claimed_at, doc.finalise_claimed_by) == (None, None)
    assert "inga dokument väntar" in runner.invoke(args=["reseal"]).output
    assert count("seal", doc) == 1


def test_the_finalise_button_seals_at_once_after_the_holder_is_killed(
    app: Flask, client: FlaskClient, complete: Document, holder: subprocess.Popen[str]
) -> None:
    url = f"/documents/{complete.id}/finalise"
    assert client.post(url).status_code == 302
    db.session.expire_all()
    assert db.session.get(Document, complete.id).sealed_pdf_sha256 is None  # holder alive

    _kill(holder)
    resp = client.post(url, follow_redirects=True)
    assert resp.status_code == 200
    assert "Dokumentet är förseglat" in resp.get_data(as_text=True)
    client.post(url)  # a second click changes nothing
    db.session.expire_all()
    doc = db.session.get(Document, complete.id)
    assert doc.status == "active" and doc.sealed_pdf_sha256
    assert count("seal", doc) == 1
