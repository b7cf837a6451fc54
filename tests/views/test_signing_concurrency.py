"""Nothing lost, nothing doubled: real concurrent HTTP requests against a live, threaded server.

Runs on SQLite and on PostgreSQL (FORMSVC_TEST_DB). Two guardians signing at the same instant, the
same signature submitted twice at once, and a crash between "signature stored" and "sealed".
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select, update

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.models._base import utcnow
from formsvc.runtime import runtime
from formsvc.services import signing
from tests.conftest import PASSWORD, Auth, World
from tests.views.test_signing import send, sign_in_person, starting_today


def session_for(base: str, username: str) -> requests.Session:
    s = requests.Session()
    resp = s.post(f"{base}/login", data={"username": username, "password": PASSWORD}, timeout=30)
    assert resp.status_code == 200 and "Logga ut" in resp.text
    return s


def at_once(*calls: Any) -> list[requests.Response]:
    """Run the calls in threads released by one barrier; return their responses in order."""
    barrier = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int, call: Any) -> None:
        barrier.wait()
        try:
            out[i] = call()
        except Exception as exc:  # surfaced by the assertion below
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for r in out:
        assert isinstance(r, requests.Response), r
    return out


def count(action: str, doc: Document) -> int:
    return db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.action == action, AuditEvent.object_id == str(doc.id)
        )
    )


@pytest.fixture
def sent(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> Document:
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    return consent_doc


def form_for(app: Flask, doc: Document, req: SignatureRequest, name: str) -> dict[str, Any]:
    dtype = runtime(app).registry["consent"]
    return {"s-name": name, "s-statements": list(signing.statements_for(req, dtype))}


def test_two_guardians_signing_at_the_same_instant_are_both_recorded_and_sealed_once(
    app: Flask, client: FlaskClient, live_server: str, sent: Document
) -> None:
    participant, g1, g2 = signing.requests(sent)
    assert sign_in_person(client, app, sent, participant, "Åsa Öberg").status_code == 200
    a, b = session_for(live_server, "caseworker"), session_for(live_server, "manager")
    url = f"{live_server}/documents/{sent.id}/signatures/{{}}/in-person"
    d1, d2 = form_for(app, sent, g1, "Maria Öberg"), form_for(app, sent, g2, "Johan Öberg")
    responses = at_once(
        lambda: a.post(url.format(g1.id), data=d1, timeout=300),
        lambda: b.post(url.format(g2.id), data=d2, timeout=300),
    )
    assert [r.status_code for r in responses] == [200, 200]
    db.session.expire_all()
    assert [r.status for r in signing.requests(sent)] == ["signed", "signed", "signed"]
    doc = db.session.get(Document, sent.id)
    assert doc.status == "active" and doc.sealed_pdf_sha256
    assert count("sign", doc) == 3
    assert count("seal", doc) == 1


def test_the_same_signature_submitted_twice_at_once_counts_once(
    app: Flask, live_server: str, sent: Document
) -> None:
    req = signing.requests(sent)[0]
    a, b = session_for(live_server, "caseworker"), session_for(live_server, "caseworker")
    url = f"{live_server}/documents/{sent.id}/signatures/{req.id}/in-person"
    data = form_for(app, sent, req, "Åsa Öberg")
    responses = at_once(
        lambda: a.post(url, data=data, timeout=300), lambda: b.post(url, data=data, timeout=300)
    )
    assert [r.status_code for r in responses] == [200, 200]
    texts = " ".join(r.text for r in responses)
    assert "registrerad" in texts  # both see the signature as recorded; neither sees a 500
    db.session.expire_all()
    assert count("sign", sent) == 1
    assert db.session.get(SignatureRequest, req.id).status == "signed"


@pytest.fixture
def broken_seal(make_app: Any, tmp_path: Any) -> Flask:
    """The same database and files, but the seal cannot be loaded (a failure before sealing).

    Not a broken LibreOffice: the final PDF is the frozen PDF plus an update (ADR 014), made
    without converting again."""
    return make_app(SEAL_PKCS12_PATH=str(tmp_path / "no-seal-here" / "seal.p12"))


def sign_all_but_the_seal_fails(
    app: Flask, client: FlaskClient, sent: Document, broken: Flask
) -> Any:
    """Two signers sign; the third signs through *broken*, so sealing fails. The last response."""
    reqs = signing.requests(sent)
    for req, name in zip(reqs[:2], ["Åsa Öberg", "Maria Öberg"], strict=True):
        assert sign_in_person(client, app, sent, req, name).status_code == 200
    third = broken.test_client()
    third.post("/login", data={"username": "caseworker", "password": PASSWORD})
    return third.post(
        f"/documents/{sent.id}/signatures/{reqs[2].id}/in-person",
        data=form_for(app, sent, reqs[2], "Johan Öberg"),
    )


def test_a_failure_between_signature_and_seal_loses_nothing_and_reseal_finishes_once(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    sent: Document,
    broken_seal: Flask,
) -> None:
    resp = sign_all_but_the_seal_fails(app, client, sent, broken_seal)
    assert resp.status_code == 200
    assert "inget har gått förlorat" in resp.get_data(as_text=True)
    db.session.expire_all()
    doc = db.session.get(Document, sent.id)
    assert all(r.status == "signed" for r in signing.requests(doc))
    assert doc.sealed_pdf_sha256 is None and doc.finalise_claimed_at is None
    assert doc.status == "awaiting_signatures"

    result = runner.invoke(args=["reseal"])
    assert result.exit_code == 0, result.output
    assert doc.reference in result.output and "förseglat" in result.output
    db.session.expire_all()
    doc = db.session.get(Document, sent.id)
    assert doc.status == "active" and doc.sealed_pdf_sha256
    again = runner.invoke(args=["reseal"])
    assert "inga dokument väntar" in again.output
    assert count("seal", doc) == 1


def test_reseal_takes_over_a_stale_claim_but_not_a_fresh_one(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, sent: Document, broken_seal: Flask
) -> None:
    sign_all_but_the_seal_fails(app, client, sent, broken_seal)
    # a worker that died while holding the claim (killed, not an exception)
    db.session.execute(
        update(Document).where(Document.id == sent.id).values(finalise_claimed_at=utcnow())
    )
    db.session.commit()
    assert "inga dokument väntar" in runner.invoke(args=["reseal"]).output
    db.session.execute(
        update(Document)
        .where(Document.id == sent.id)
        .values(finalise_claimed_at=utcnow() - timedelta(hours=1))
    )
    db.session.commit()
    result = runner.invoke(args=["reseal"])
    assert "förseglat" in result.output, result.output
    db.session.expire_all()
    assert db.session.get(Document, sent.id).sealed_pdf_sha256
