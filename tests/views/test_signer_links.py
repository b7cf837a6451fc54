"""Personal links after signing (issue 11): each signer's own copy, links that end, addresses
taken from PUBLIC_BASE_URL only, and ids no row can have.

Two guardians sign by link from different addresses and browsers; each downloads a copy whose
evidence page shows their own technical details and not the other's, while the archive copy
keeps both. Mail goes over real SMTP on loopback.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.models._base import utcnow
from formsvc.runtime import runtime
from formsvc.services import signing
from formsvc.services.sealing import trusted_certificates, verify
from tests.conftest import PASSWORD, World
from tests.helpers import pdf_text
from tests.smtp import SmtpServer
from tests.views.test_sign_link import (
    ASA,
    MARIA,
    mails_to,
    open_with_code,
    page,
    send_link,
    sign_by_link,
)
from tests.views.test_signing import send, sign_in_person, starting_today

PHONE_A = {"REMOTE_ADDR": "198.51.100.7", "HTTP_USER_AGENT": "TelefonA/1.0 (Åsas telefon)"}
PHONE_B = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "TelefonB/2.0 (Marias telefon)"}


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


@pytest.fixture
def sent(
    app: Flask, client: FlaskClient, auth: Any, world: World, consent_doc: Document
) -> Document:
    """The consent, in force from today, sent for signature by the caseworker (three signers)."""
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    return consent_doc


def sent_by_other_app(
    app: Flask, world: World, consent_doc: Document
) -> tuple[FlaskClient, Document]:
    """In an app built with other settings: the caseworker logs in and sends the consent."""
    client = app.test_client()
    client.post("/login", data={"username": "caseworker", "password": PASSWORD})
    doc = db.session.get(Document, consent_doc.id)
    send(client, starting_today(app, world, doc))
    return client, doc


def phone(app: Flask, environ: dict[str, str]) -> FlaskClient:
    """A signer's own browser: its own cookies, address and User-Agent."""
    c = app.test_client()
    c.environ_base.update(environ)
    return c


def sign_two_by_link(
    app: Flask, client: FlaskClient, smtp: SmtpServer, doc: Document
) -> tuple[tuple[FlaskClient, str, SignatureRequest], tuple[FlaskClient, str, SignatureRequest]]:
    """Åsa (participant) and Maria (guardian 1) sign by link from two phones; Johan in person."""
    participant, guardian1, guardian2 = signing.requests(doc)
    signed = []
    for req, address, name, env in (
        (participant, ASA, "Åsa Öberg", PHONE_A),
        (guardian1, MARIA, "Maria Öberg", PHONE_B),
    ):
        token = send_link(client, smtp, doc, req, address)
        signer = phone(app, env)
        open_with_code(signer, smtp, token, address)
        assert sign_by_link(signer, app, token, req, name).status_code == 302
        signed.append((signer, token, req))
    assert sign_in_person(client, app, doc, guardian2, "Johan Öberg").status_code == 200
    db.session.refresh(doc)
    assert doc.status == "active" and doc.sealed_pdf_sha256
    return signed[0], signed[1]


# --------------------------------------------------------------------------- each signer's copy


def test_each_link_signer_gets_a_sealed_copy_with_only_their_own_technical_details(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    (asa, asa_token, asa_req), (maria, maria_token, maria_req) = sign_two_by_link(
        app, client, smtp_server, sent
    )
    store = runtime(app).store
    archive = pdf_text(store.get(sent.sealed_pdf_sha256))
    # the archive copy keeps everyone's address and browser
    for detail in ("198.51.100.7", "203.0.113.9", "TelefonA/1.0", "TelefonB/2.0", "127.0.0.1"):
        assert detail in archive, detail
    # the history says what happened in words, never a status name
    assert "awaiting_signatures" not in archive
    assert "Personlig länk skickad – caseworker till a***@example.se" in archive

    trust = trusted_certificates(app)
    for signer, token, req, own, other in (
        (asa, asa_token, asa_req, PHONE_A, PHONE_B),
        (maria, maria_token, maria_req, PHONE_B, PHONE_A),
    ):
        resp = signer.get(f"/s/{token}/copy.pdf")
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "no-store"
        db.session.refresh(req)
        assert hashlib.sha256(resp.data).hexdigest() == req.copy_sha256
        text = pdf_text(resp.data)
        assert own["REMOTE_ADDR"] in text and own["HTTP_USER_AGENT"].split()[0] in text
        assert other["REMOTE_ADDR"] not in text, "another signer's address in a signer's copy"
        assert "127.0.0.1" not in text  # nor the staff's (who sent the links, witnessed Johan)
        assert other["HTTP_USER_AGENT"].split()[0] not in text
        assert f"Exemplar för {req.role}" in " ".join(text.split())
        # the same document, names and signatures: only technical details differ
        for name in ("Åsa Öberg", "Maria Öberg", "Johan Öberg", sent.reference):
            assert name in text
        # sealed by the organisation like the archive copy, and known to /verify as a copy
        assert verify(resp.data, trust).ok
        shown = signer.post(
            "/verify",
            data={"pdf": (__import__("io").BytesIO(resp.data), "kopia.pdf")},
            content_type="multipart/form-data",
        ).get_data(as_text=True)
        assert "Undertecknarens eget exemplar" in shown and sent.reference in shown

    # the log records which copy belongs to whom
    seal = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "seal", AuditEvent.object_id == str(sent.id))
    )
    assert seal.details["copies"] == {
        str(asa_req.id): asa_req.copy_sha256,
        str(maria_req.id): maria_req.copy_sha256,
    }


def test_a_signer_without_a_copy_gets_one_made_once(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    """A document sealed before copies existed: the first download makes (and logs) the copy."""
    (asa, token, req), _ = sign_two_by_link(app, client, smtp_server, sent)
    db.session.execute(
        SignatureRequest.__table__.update()
        .where(SignatureRequest.id == req.id)
        .values(copy_sha256=None)
    )
    db.session.commit()
    first = asa.get(f"/s/{token}/copy.pdf")
    second = asa.get(f"/s/{token}/copy.pdf")
    assert first.status_code == second.status_code == 200 and first.data == second.data
    text = pdf_text(first.data)
    assert "198.51.100.7" in text and "203.0.113.9" not in text
    made = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "signer_copy", AuditEvent.object_id == str(sent.id)
        )
    ).all()
    assert len(made) == 1 and made[0].details["request"] == req.id


# --------------------------------------------------------------------------- links that end


def test_a_signed_link_ends_signed_link_days_after_completion(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    (asa, token, req), _ = sign_two_by_link(app, client, smtp_server, sent)
    db.session.refresh(req)
    days = app.config["SIGNED_LINK_DAYS"]
    assert days == 90
    ends = req.token_expires_at
    assert abs(ends - (sent.sealed_at + timedelta(days=days))) < timedelta(minutes=5)
    # within the time: code, copy and withdrawal work (tested above and in test_sign_link)
    assert asa.get(f"/s/{token}/copy.pdf").status_code == 200
    # the day after it ends (the clock moved on; set in the database as time would)
    req.token_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    body = page(asa, f"/s/{token}")
    assert "Länken har slutat gälla" in body and "Kontakta din handläggare" in body
    assert "Ladda ner din kopia" not in body and "Återkalla" not in body
    # even the session that gave its code in time gets nothing more
    assert asa.get(f"/s/{token}/copy.pdf").status_code == 404
    assert asa.get(f"/s/{token}/document.pdf").status_code == 404
    gone = asa.post(f"/s/{token}/withdraw", data={"confirm": "yes"})
    assert gone.status_code == 404
    db.session.refresh(sent)
    assert sent.status == "active"
    # and no new code is mailed for it
    before = len(mails_to(smtp_server, ASA))
    asa.post(f"/s/{token}/code")
    assert len(mails_to(smtp_server, ASA)) == before


def test_with_zero_days_a_signed_link_ends_at_once(
    make_app: Any, world: World, consent_doc: Document, smtp_server: SmtpServer
) -> None:
    app = make_app(SIGNED_LINK_DAYS=0, **smtp_server.settings)
    with app.app_context():
        client, doc = sent_by_other_app(app, world, consent_doc)
        req = signing.requests(doc)[0]
        token = send_link(client, smtp_server, doc, req, ASA)
        signer = app.test_client()
        open_with_code(signer, smtp_server, token, ASA)
        assert sign_by_link(signer, app, token, req, "Åsa Öberg").status_code == 302
        assert "Länken har slutat gälla" in page(signer, f"/s/{token}")


# --------------------------------------------------------------------------- link addresses


def test_a_forged_host_header_never_reaches_a_mailed_link(
    client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    req = signing.requests(sent)[0]
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    # the whole visit comes with the forged host (a poisoned proxy or a crafted request)
    client.post("/login", data={"username": "caseworker", "password": PASSWORD}, headers=forged)
    resp = client.post(
        f"/documents/{sent.id}/signatures/{req.id}/link", data={"email": ASA}, headers=forged
    )
    assert resp.status_code == 302
    body = mails_to(smtp_server, ASA)[-1].get_content()
    assert "evil.example" not in body
    assert "http://localhost/s/" in body  # PUBLIC_BASE_URL of the test config


def test_without_a_public_address_no_link_is_sent(
    make_app: Any, world: World, consent_doc: Document, smtp_server: SmtpServer
) -> None:
    app = make_app(PUBLIC_BASE_URL=None, **smtp_server.settings)
    with app.app_context():
        client, doc = sent_by_other_app(app, world, consent_doc)
        req = signing.requests(doc)[0]
        resp = client.post(f"/documents/{doc.id}/signatures/{req.id}/link", data={"email": ASA})
        assert resp.status_code == 400
        body = resp.get_data(as_text=True)
        assert "Tjänstens publika adress är inte inställd" in body
        assert f'value="{ASA}"' in body  # what was typed is kept
        assert smtp_server.messages == []
        db.session.refresh(req)
        assert req.token_hash is None and req.email is None


@pytest.mark.parametrize(
    "value",
    [
        "localhost",
        "ftp://host",
        "https://host/path",
        "https://host?x=1",
        "https://user:pw@host",
        "https://",
        "javascript:alert(1)",
    ],
)
def test_a_malformed_public_address_refuses_to_start(config: dict[str, Any], value: str) -> None:
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
        create_app({**config, "PUBLIC_BASE_URL": value})


def test_a_public_address_is_kept_without_a_trailing_slash(config: dict[str, Any]) -> None:
    app = create_app({**config, "PUBLIC_BASE_URL": "https://blanketter.example.se:8443/"})
    assert app.config["PUBLIC_BASE_URL"] == "https://blanketter.example.se:8443"
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------- ids out of range


@pytest.mark.parametrize(
    "url",
    [
        "/documents/2147483648",
        "/documents/99999999999999999999999",
        "/participants/18446744073709551616",
        "/participants/18446744073709551616/edit",
        "/documents/9223372036854775808/signed.pdf",
    ],
)
def test_an_id_no_row_can_have_is_404_not_500(
    client: FlaskClient, auth: Any, world: World, url: str
) -> None:
    auth.login("caseworker")
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    "query", ["?participant=99999999999999999999", "?participant=-5", "?participant=x"]
)
def test_an_out_of_range_filter_is_ignored(
    client: FlaskClient, auth: Any, world: World, query: str
) -> None:
    auth.login("caseworker")
    assert client.get(f"/documents/{query}").status_code == 200


@pytest.mark.parametrize("before", ["99999999999999999999", "-1", "2147483648"])
def test_an_out_of_range_audit_page_is_an_empty_page(
    client: FlaskClient, auth: Any, world: World, before: str
) -> None:
    auth.login("manager")
    assert client.get(f"/audit/?before={before}&document={before}").status_code == 200


def test_an_out_of_range_assignee_changes_nothing(
    client: FlaskClient, auth: Any, world: World
) -> None:
    auth.login("manager")
    pid = world.participant.id
    resp = client.post(f"/participants/{pid}/assignments", data={"user_id": "99999999999999999999"})
    assert resp.status_code in (302, 400, 404)
