"""Signing through a personal link: the mail, the one-time code, signing, declining, withdrawing.

Mail goes over real SMTP on loopback (the `smtp_server` fixture); the signer is an anonymous
test client with its own cookies, as a signer's phone would be.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.models._base import utcnow
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from tests.conftest import NO_SMTP_PORT, Auth, World
from tests.services.test_signing import drawn_png
from tests.smtp import SmtpServer
from tests.views.test_signing import data_url, send, sign_in_person, starting_today

#: The link as the mail carries it (the test client's host is "localhost").
LINK = re.compile(r"http://localhost/s/([A-Za-z0-9_-]{40,})")
CODE = re.compile(r"\b(\d{6})\b")
ASA = "asa@example.se"
MARIA = "maria@example.se"


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


@pytest.fixture
def sent(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> Document:
    """The sample consent, sent for signature by the logged-in caseworker (three signers)."""
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    return consent_doc


# --------------------------------------------------------------------------- helpers


def mails_to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    return [m for m in smtp.messages if str(m["To"]) == address]


def send_link(
    client: FlaskClient, smtp: SmtpServer, doc: Document, req: SignatureRequest, address: str
) -> str:
    """The caseworker mails a personal link; returns the token read from the mail."""
    before = len(mails_to(smtp, address))
    resp = client.post(f"/documents/{doc.id}/signatures/{req.id}/link", data={"email": address})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    got = mails_to(smtp, address)
    assert len(got) == before + 1
    found = LINK.search(got[-1].get_content())
    assert found, got[-1].get_content()
    return found.group(1)


def request_code(signer: FlaskClient, smtp: SmtpServer, token: str, address: str) -> str:
    """The signer asks for a one-time code; returns the code read from the mail."""
    before = len(mails_to(smtp, address))
    assert signer.post(f"/s/{token}/code").status_code == 302
    got = mails_to(smtp, address)
    assert len(got) == before + 1
    assert str(got[-1]["Subject"]) == "Din engångskod"
    found = CODE.search(got[-1].get_content())
    assert found
    return found.group(1)


def give_code(signer: FlaskClient, token: str, code: str) -> Any:
    return signer.post(f"/s/{token}/verify", data={"code": code})


def open_with_code(signer: FlaskClient, smtp: SmtpServer, token: str, address: str) -> None:
    """Ask for a code and give it: the link's content is open in this session."""
    resp = give_code(signer, token, request_code(signer, smtp, token, address))
    assert resp.status_code == 302, resp.get_data(as_text=True)


def sign_by_link(
    signer: FlaskClient,
    app: Flask,
    token: str,
    req: SignatureRequest,
    name: str,
    *,
    follow_redirects: bool = False,
    **extra: str,
) -> Any:
    """Post the sign form as a browser would: the name, every statement ticked, *extra* fields."""
    dtype = runtime(app).registry[req.document.type_slug]
    data: dict[str, Any] = {
        "s-name": name,
        "s-statements": list(signing.statements_for(req, dtype)),
        **extra,
    }
    return signer.post(f"/s/{token}/sign", data=data, follow_redirects=follow_redirects)


def page(client: FlaskClient, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def sign_events(req: SignatureRequest) -> list[AuditEvent]:
    events = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "sign", AuditEvent.object_id == str(req.document_id)
        )
    )
    return [e for e in events if e.details.get("request") == req.id]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --------------------------------------------------------------------------- 1. sending the link


def test_a_personal_link_is_mailed_and_only_its_hash_is_stored(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    req = signing.requests(sent)[0]
    token = send_link(client, smtp_server, sent, req, ASA)
    [mail] = smtp_server.messages
    assert smtp_server.envelopes[0][1] == [ASA]  # one recipient, nobody in copy
    assert str(mail["Subject"]) == "Dokument att skriva under"
    body = mail.get_content()
    assert sent.reference in body and f"http://localhost/s/{token}" in body
    db.session.refresh(req)
    assert req.email == ASA and req.method == "link" and req.link_sent_at is not None
    assert req.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # the token itself is in no column of any table (a database copy must not open links)
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)):
            assert token not in repr(tuple(row)), table.name
    shown = page(client, f"/documents/{sent.id}")
    assert ASA in shown and token not in shown
    assert page(app.test_client(), f"/s/{token}")  # the mailed URL opens the link page


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("a@b.se\r\nBcc: x@y.se", "a@b.se\r\nBcc: x@y.se"),
        ("inte-en-adress", "inte-en-adress"),
        ('"><script>alert(1)</script>@x.se', "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@x.se"),
    ],
    ids=["header-injection", "no-at", "html"],
)
def test_an_invalid_address_is_refused_and_kept_on_the_page(
    client: FlaskClient, sent: Document, smtp_server: SmtpServer, typed: str, shown: str
) -> None:
    req = signing.requests(sent)[0]
    resp = client.post(f"/documents/{sent.id}/signatures/{req.id}/link", data={"email": typed})
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "Ange en giltig e-postadress." in body
    assert f'value="{shown}"' in body
    assert "<script>alert(1)</script>" not in body
    assert smtp_server.messages == []
    db.session.refresh(req)
    assert req.email is None and req.token_hash is None and req.link_sent_at is None


def test_with_no_mail_server_the_caseworker_is_told_and_the_request_is_unchanged(
    make_app: Any, sent: Document
) -> None:
    down = make_app(MAIL_PORT=NO_SMTP_PORT)
    caseworker = down.test_client()
    Auth(caseworker).login("caseworker")
    req = signing.requests(sent)[0]
    resp = caseworker.post(f"/documents/{sent.id}/signatures/{req.id}/link", data={"email": ASA})
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "E-post kunde inte skickas just nu. Försök igen om en stund." in body
    assert f'value="{ASA}"' in body  # the address is kept for another try
    db.session.refresh(req)
    assert req.status == "open" and req.method is None
    assert req.email is None and req.token_hash is None and req.link_sent_at is None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "link_sent")) is None


# --------------------------------------------------------------------------- 2. before the code


def test_before_the_code_the_link_shows_only_the_masked_address(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    token = send_link(client, smtp_server, sent, signing.requests(sent)[0], ASA)
    signer = app.test_client()
    body = page(signer, f"/s/{token}")
    assert "a***@example.se" in body and ASA not in body
    assert sent.reference in body  # the signer can tell which document the mail is about
    for secret in (
        "Åsa",
        "Öberg",
        "Fotbollsföreningen IK Kista",
        "Uppgifter om fritidsaktiviteter",
    ):
        assert secret not in body
    assert f"/s/{token}/document.pdf" not in body and f"/s/{token}/sign" not in body
    assert signer.get(f"/s/{token}/document.pdf").status_code == 404
    assert signer.get(f"/s/{token}/copy.pdf").status_code == 404


def test_the_link_address_is_prefilled_from_the_guardians_contact_when_it_is_an_email(
    client: FlaskClient, sent: Document
) -> None:
    html = page(client, f"/documents/{sent.id}")
    by_role = {r.role: r for r in signing.requests(sent)}
    second, first = by_role["Vårdnadshavare 2"], by_role["Vårdnadshavare 1"]
    field = re.search(rf'<input[^>]*id="email-{second.id}"[^>]*>', html)
    assert field and 'value="johan.oberg@example.se"' in field.group(0)
    # guardian 1's contact is a phone number: nothing is guessed
    field = re.search(rf'<input[^>]*id="email-{first.id}"[^>]*>', html)
    assert field and 'value=""' in field.group(0)


def test_the_code_field_asks_phones_for_the_code_and_a_digit_keypad(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    token = send_link(client, smtp_server, sent, signing.requests(sent)[0], ASA)
    body = page(app.test_client(), f"/s/{token}")
    field = re.search(r'<input[^>]*name="code"[^>]*>', body)
    assert field, "the one-time code field is on the page"
    assert 'autocomplete="one-time-code"' in field.group(0)
    assert 'inputmode="numeric"' in field.group(0)


# --------------------------------------------------------------------------- 3. the one-time code


def test_wrong_codes_say_how_many_tries_are_left_then_lock_the_code(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    token = send_link(client, smtp_server, sent, signing.requests(sent)[0], ASA)
    signer = app.test_client()
    code = request_code(signer, smtp_server, token, ASA)
    tries = int(app.config["OTP_MAX_ATTEMPTS"])
    for left in range(tries - 1, 0, -1):
        body = give_code(signer, token, wrong(code)).get_data(as_text=True)
        assert f"Fel kod. Du har {left} försök kvar med den här koden." in body
    body = give_code(signer, token, wrong(code)).get_data(as_text=True)
    assert "Fel kod. Begär en ny kod." in body
    # the right code no longer helps: guessing cannot go on behind the last try
    body = give_code(signer, token, code).get_data(as_text=True)
    assert "Begär en ny kod: den förra har använts för många gånger." in body
    assert signer.get(f"/s/{token}/document.pdf").status_code == 404
    fresh = request_code(signer, smtp_server, token, ASA)
    assert give_code(signer, token, fresh).status_code == 302
    assert signer.get(f"/s/{token}/document.pdf").status_code == 200


def test_no_more_codes_than_allowed_are_sent(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    token = send_link(client, smtp_server, sent, signing.requests(sent)[0], ASA)
    signer = app.test_client()
    most = int(app.config["OTP_MAX_SENDS"])
    for _ in range(most):
        request_code(signer, smtp_server, token, ASA)
    resp = signer.post(f"/s/{token}/code", follow_redirects=True)
    assert "Det har skickats för många koder." in resp.get_data(as_text=True)
    assert len(mails_to(smtp_server, ASA)) == 1 + most  # the link and the codes, no more


def test_an_expired_code_is_refused(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    req = signing.requests(sent)[0]
    token = send_link(client, smtp_server, sent, req, ASA)
    signer = app.test_client()
    code = request_code(signer, smtp_server, token, ASA)
    db.session.refresh(req)
    req.otp_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    body = give_code(signer, token, code).get_data(as_text=True)
    assert "Koden har gått ut. Begär en ny kod." in body
    assert signer.get(f"/s/{token}/document.pdf").status_code == 404


def test_the_right_code_opens_exactly_the_frozen_pdf_and_the_sign_form_once(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    token = send_link(client, smtp_server, sent, signing.requests(sent)[0], ASA)
    signer = app.test_client()
    code = request_code(signer, smtp_server, token, ASA)
    assert give_code(signer, token, code).status_code == 302
    pdf = signer.get(f"/s/{token}/document.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert hashlib.sha256(pdf.data).hexdigest() == sent.frozen_pdf_sha256
    body = page(signer, f"/s/{token}")
    assert f'action="/s/{token}/sign"' in body
    assert "Fotbollsföreningen IK Kista" in body  # the summary of what is signed
    assert 'value="Åsa Öberg"' in body  # the name is suggested, the signer may change it
    # a code works once: the same code in another browser opens nothing
    other = app.test_client()
    assert give_code(other, token, code).status_code == 200
    assert other.get(f"/s/{token}/document.pdf").status_code == 404


# --------------------------------------------------------------------------- 4. signing


@pytest.mark.parametrize("drawn", [False, True], ids=["typed", "drawn"])
def test_signing_by_link_gives_a_receipt_and_the_link_never_signs_again(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer, drawn: bool
) -> None:
    req = signing.requests(sent)[0]
    token = send_link(client, smtp_server, sent, req, ASA)
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, ASA)
    extra = {"s-signature_png": data_url(drawn_png())} if drawn else {}
    assert sign_by_link(signer, app, token, req, "Åsa Öberg", **extra).status_code == 302
    body = page(signer, f"/s/{token}")
    assert "Kvitto" in body and "Åsa Öberg skrev under som Deltagare" in body
    assert f'action="/s/{token}/sign"' not in body
    db.session.refresh(req)
    assert req.status == "signed" and req.method == "link"
    assert req.verification == "Engångskod via e-post till a***@example.se"
    assert (req.signature_sha256 is not None) is drawn
    if drawn:
        assert runtime(app).store.get(req.signature_sha256).startswith(b"\x89PNG")
    signed_at = req.signed_at
    # a second submit (back button, a double click, someone else with the session) changes nothing
    again = sign_by_link(signer, app, token, req, "Någon Annan", follow_redirects=True)
    assert "Kvitto" in again.get_data(as_text=True)
    db.session.refresh(req)
    assert req.signed_name == "Åsa Öberg" and req.signed_at == signed_at
    assert len(sign_events(req)) == 1
    signer.post(f"/s/{token}/sign", data={"d-reason": "ångrar mig"})
    db.session.refresh(req)
    db.session.refresh(sent)
    assert req.status == "signed" and sent.status == "awaiting_signatures"


def test_once_everyone_has_signed_the_link_serves_the_sealed_copy_after_a_fresh_code(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    participant, guardian1, guardian2 = signing.requests(sent)
    token = send_link(client, smtp_server, sent, participant, ASA)
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, ASA)
    assert sign_by_link(signer, app, token, participant, "Åsa Öberg").status_code == 302
    assert "Alla har inte skrivit under ännu" in page(signer, f"/s/{token}")
    assert signer.get(f"/s/{token}/copy.pdf").status_code == 404
    assert sign_in_person(client, app, sent, guardian1, "Maria Öberg").status_code == 200
    assert sign_in_person(client, app, sent, guardian2, "Johan Öberg").status_code == 200
    db.session.refresh(sent)
    assert sent.status == "active" and sent.sealed_pdf_sha256
    sealed = runtime(app).store.get(sent.sealed_pdf_sha256)
    # a new browser (the link opened again weeks later) needs a new code first
    later = app.test_client()
    body = page(later, f"/s/{token}")
    assert "Länken kan inte användas för att skriva under igen" in body
    assert later.get(f"/s/{token}/copy.pdf").status_code == 404
    open_with_code(later, smtp_server, token, ASA)
    assert "Ladda ner din kopia (signerad PDF)" in page(later, f"/s/{token}")
    copy = later.get(f"/s/{token}/copy.pdf")
    # the signer's own sealed copy (tests/views/test_signer_copy.py): same document, own evidence
    db.session.refresh(participant)
    assert copy.status_code == 200 and copy.data != sealed
    assert hashlib.sha256(copy.data).hexdigest() == participant.copy_sha256
    assert "attachment" in copy.headers["Content-Disposition"]


def test_a_link_signature_on_an_edited_version_never_claims_the_new_version(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer, world: World
) -> None:
    participant = signing.requests(sent)[0]
    token = send_link(client, smtp_server, sent, participant, ASA)
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, ASA)
    assert sign_by_link(signer, app, token, participant, "Åsa Öberg").status_code == 302
    # the caseworker changes the consent, sends the new version and everyone signs it in person
    signed_version = sent.version
    dtype = runtime(app).registry["consent"]
    documents.update(
        sent,
        dict(sent.data, info_other="Också fritidsgården"),
        actor=world.users["caseworker"],
        store=runtime(app).store,
        dtype=dtype,
    )
    for req, name in zip(
        send(client, sent), ["Åsa Öberg", "Maria Öberg", "Johan Öberg"], strict=True
    ):
        assert sign_in_person(client, app, sent, req, name).status_code == 200
    db.session.refresh(sent)
    assert sent.version == signed_version + 1
    assert sent.status == "active" and sent.sealed_pdf_sha256

    later = app.test_client()
    open_with_code(later, smtp_server, token, ASA)
    body = page(later, f"/s/{token}")
    assert "Dokumentet har ändrats efter att du skrev under" in body
    # not the new version's checksum, copy or withdrawal: Åsa signed the earlier one here
    assert sent.frozen_pdf_sha256 not in body
    assert "Ladda ner din kopia" not in body and "Återkalla mitt medgivande" not in body
    assert later.get(f"/s/{token}/copy.pdf").status_code == 404
    assert later.get(f"/s/{token}/document.pdf").status_code == 404
    resp = later.post(f"/s/{token}/withdraw", data={"confirm": "yes"})
    assert resp.status_code == 404
    db.session.refresh(sent)
    assert sent.status == "active"


# --------------------------------------------------------------------------- 5. dead links

GONE = "Länken gäller inte"


def assert_gone(client: FlaskClient, token: str, smtp: SmtpServer, *never: str) -> None:
    """Every link URL answers 404 with the same clear page, and shows none of *never*."""
    sent_before = len(smtp.messages)
    for method, url in [
        ("get", f"/s/{token}"),
        ("post", f"/s/{token}/code"),
        ("post", f"/s/{token}/verify"),
        ("post", f"/s/{token}/sign"),
        ("post", f"/s/{token}/withdraw"),
    ]:
        resp = getattr(client, method)(url, data={"code": "123456", "s-name": "X"})
        body = resp.get_data(as_text=True)
        assert resp.status_code == 404, url
        assert GONE in body and "Kontakta din handläggare" in body, url
        for text in never:
            assert text not in body, (url, text)
    for url in (f"/s/{token}/document.pdf", f"/s/{token}/copy.pdf"):
        resp = client.get(url)
        assert resp.status_code == 404 and not resp.data.startswith(b"%PDF")
    assert len(smtp.messages) == sent_before  # no code went anywhere


def test_a_forged_token_gets_the_same_clear_page_and_nothing_else(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    send_link(client, smtp_server, sent, signing.requests(sent)[0], ASA)
    assert_gone(app.test_client(), secrets.token_urlsafe(32), smtp_server, sent.reference)
    assert_gone(app.test_client(), "x" * 500, smtp_server, sent.reference)


def test_a_replaced_link_stops_working_and_the_new_one_works(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    req = signing.requests(sent)[0]
    old = send_link(client, smtp_server, sent, req, "fel@example.se")
    new = send_link(client, smtp_server, sent, req, ASA)
    assert_gone(app.test_client(), old, smtp_server, sent.reference, "example.se")
    signer = app.test_client()
    open_with_code(signer, smtp_server, new, ASA)
    assert mails_to(smtp_server, "fel@example.se")[1:] == []  # no code to the old address


def test_an_expired_link_says_so_and_neither_signs_nor_declines(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    req = signing.requests(sent)[0]
    token = send_link(client, smtp_server, sent, req, ASA)
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, ASA)  # opened just before it expired
    db.session.refresh(req)
    req.token_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    body = page(signer, f"/s/{token}")
    assert "Länken har gått ut." in body
    assert "Fotbollsföreningen IK Kista" not in body and f"/s/{token}/sign" not in body
    assert signer.get(f"/s/{token}/document.pdf").status_code == 404
    resp = sign_by_link(signer, app, token, req, "Åsa Öberg", follow_redirects=True)
    assert "Länken har gått ut." in resp.get_data(as_text=True)
    resp = signer.post(f"/s/{token}/sign", data={"d-reason": "nej"}, follow_redirects=True)
    assert "Länken har gått ut." in resp.get_data(as_text=True)
    before = len(smtp_server.messages)
    resp = signer.post(f"/s/{token}/code", follow_redirects=True)
    assert "Länken kan inte längre användas" in resp.get_data(as_text=True)
    assert len(smtp_server.messages) == before
    db.session.refresh(req)
    db.session.refresh(sent)
    assert req.status == "open" and sent.status == "awaiting_signatures"
    assert sign_events(req) == []


def test_editing_after_sending_makes_the_link_say_it_no_longer_applies(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer, world: World
) -> None:
    req = signing.requests(sent)[0]
    token = send_link(client, smtp_server, sent, req, ASA)
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, ASA)
    dtype = runtime(app).registry["consent"]
    documents.update(
        sent,
        dict(sent.data, info_other="Också fritidsgården"),
        actor=world.users["caseworker"],
        store=runtime(app).store,
        dtype=dtype,
    )
    # even the session that had the code open sees nothing of the old or the new version
    assert_gone(signer, token, smtp_server, sent.reference, "fritids", "Öberg")
    db.session.refresh(req)
    assert req.status == "voided"


def test_a_token_for_one_document_never_shows_another(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer, world: World
) -> None:
    dtype = runtime(app).registry["consent"]
    olle = world.add_participant(world.home, "Olle", "Bergkvist", date(2001, 1, 1))
    other = documents.create(
        dtype,
        dict(dtype.sample(), info_other="Hemligt för dokument B"),
        actor=world.users["caseworker"],
        participant=olle,
        store=runtime(app).store,
    )
    [b_req] = send(client, starting_today(app, world, other))  # an adult: one signer
    token_b = send_link(client, smtp_server, other, b_req, "olle@example.se")
    token_a = send_link(client, smtp_server, sent, signing.requests(sent)[0], ASA)

    signer = app.test_client()
    open_with_code(signer, smtp_server, token_a, ASA)
    body = page(signer, f"/s/{token_a}")
    assert sent.reference in body and "Fotbollsföreningen IK Kista" in body
    for b_only in (other.reference, "Hemligt för dokument B", "Olle", "Bergkvist"):
        assert b_only not in body
    pdf_a = signer.get(f"/s/{token_a}/document.pdf").data
    assert hashlib.sha256(pdf_a).hexdigest() == sent.frozen_pdf_sha256 != other.frozen_pdf_sha256
    # A's code does not open B in the same browser
    body = page(signer, f"/s/{token_b}")
    assert "Hemligt för dokument B" not in body and "Bergkvist" not in body
    assert signer.get(f"/s/{token_b}/document.pdf").status_code == 404
    sign_by_link(signer, app, token_b, b_req, "Åsa Öberg")
    db.session.refresh(b_req)
    assert b_req.status == "open"


def test_a_signer_never_sees_another_signers_address_or_what_they_gave(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    participant, guardian1, _guardian2 = signing.requests(sent)
    token_asa = send_link(client, smtp_server, sent, participant, ASA)
    token_maria = send_link(client, smtp_server, sent, guardian1, MARIA)
    maria = app.test_client()
    maria.environ_base["HTTP_USER_AGENT"] = "MariasTelefon/1.0"
    open_with_code(maria, smtp_server, token_maria, MARIA)
    extra = {"s-signature_png": data_url(drawn_png())}
    assert (
        sign_by_link(maria, app, token_maria, guardian1, "maria  ÖBERG", **extra).status_code == 302
    )
    db.session.refresh(guardian1)
    assert guardian1.status == "signed"

    asa = app.test_client()
    never = ("maria@", "m***@", "MariasTelefon", "maria  ÖBERG", guardian1.signature_sha256)
    assert all(text not in page(asa, f"/s/{token_asa}") for text in never)
    open_with_code(asa, smtp_server, token_asa, ASA)
    assert all(text not in page(asa, f"/s/{token_asa}") for text in never)
    assert sign_by_link(asa, app, token_asa, participant, "Åsa Öberg").status_code == 302
    receipt = page(asa, f"/s/{token_asa}")
    assert "Kvitto" in receipt and all(text not in receipt for text in never)
    assert all("maria" not in m.get_content().lower() for m in mails_to(smtp_server, ASA))
    # and Maria's browser shows nothing of Åsa's link
    assert ASA not in page(maria, f"/s/{token_maria}")


# --------------------------------------------------------------------------- 6. declining


def test_a_decline_by_link_is_escaped_for_the_caseworker_and_declines_the_document(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    req = signing.requests(sent)[1]
    token = send_link(client, smtp_server, sent, req, MARIA)
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, MARIA)
    reason = "<script>alert(1)</script> Vi vill inte"
    assert signer.post(f"/s/{token}/sign", data={"d-reason": reason}).status_code == 302
    assert "Du har avböjt att skriva under." in page(signer, f"/s/{token}")
    shown = page(client, f"/documents/{sent.id}")
    assert "<script>alert(1)</script>" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Vi vill inte" in shown
    db.session.refresh(sent)
    assert sent.status == "declined"
    assert [r.status for r in signing.requests(sent)] == ["voided", "declined", "voided"]
    db.session.refresh(req)
    assert req.method == "link" and req.decline_reason == reason


# --------------------------------------------------------------------------- 7. withdrawing


def test_withdrawing_through_the_receipt_ends_the_consent(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer, world: World
) -> None:
    participant, guardian1, guardian2 = signing.requests(sent)
    token = send_link(client, smtp_server, sent, participant, ASA)
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, ASA)
    assert sign_by_link(signer, app, token, participant, "Åsa Öberg").status_code == 302
    sign_in_person(client, app, sent, guardian1, "Maria Öberg")
    sign_in_person(client, app, sent, guardian2, "Johan Öberg")
    db.session.refresh(sent)
    assert sent.status == "active"
    assert "Fotbollsföreningen IK Kista" in page(client, f"/participants/{world.participant.id}")
    assert "Återkalla mitt medgivande" in page(signer, f"/s/{token}")

    # without the tick nothing happens
    resp = signer.post(f"/s/{token}/withdraw", data={"details": "Nej"}, follow_redirects=True)
    assert "Kryssa i rutan" in resp.get_data(as_text=True)
    db.session.refresh(sent)
    assert sent.status == "active"

    # she reads the page in English: what is recorded stays the document's Swedish
    signer.get("/lang/en")
    resp = signer.post(
        f"/s/{token}/withdraw",
        data={"confirm": "yes", "details": "Jag har flyttat"},
        follow_redirects=True,
    )
    assert "Your consent has been withdrawn." in resp.get_data(as_text=True)
    db.session.refresh(sent)
    assert sent.status == "withdrawn"
    [withdrawal] = db.session.scalars(
        select(Document).where(Document.type_slug == "consent_withdrawal")
    ).all()
    assert withdrawal.data["how"] == "link" and withdrawal.data["consent_id"] == sent.id
    assert withdrawal.data["details"] == "Jag har flyttat"
    assert withdrawal.data["recorded_by"] == "Deltagare Åsa Öberg via personlig länk"
    assert "Med ingen" in page(client, f"/participants/{world.participant.id}")
    # a second withdrawal doubles nothing
    signer.post(f"/s/{token}/withdraw", data={"confirm": "yes"})
    count = db.session.scalar(
        select(db.func.count(Document.id)).where(Document.type_slug == "consent_withdrawal")
    )
    assert count == 1


# --------------------------------------------------------------------------- 8. rate limit


def test_code_requests_beyond_the_rate_limit_are_answered_429(
    make_app: Any, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    token = send_link(client, smtp_server, sent, signing.requests(sent)[0], ASA)
    # a moving window: a fixed one would start afresh if the test straddled a full minute
    limited = make_app(
        SIGN_RATE_LIMIT="5 per minute", RATELIMIT_STRATEGY="moving-window"
    ).test_client()
    for _ in range(5):
        assert limited.post(f"/s/{token}/code").status_code == 302
    resp = limited.post(f"/s/{token}/code")
    assert resp.status_code == 429
    assert "För många försök" in resp.get_data(as_text=True)
    assert len(mails_to(smtp_server, ASA)) == 1 + 5  # the link and five codes


def test_receipt_tells_the_signer_the_consent_was_withdrawn_in_part_and_then_wholly(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    participant, guardian1, guardian2 = signing.requests(sent)
    token = send_link(client, smtp_server, sent, participant, ASA)
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, ASA)
    assert sign_by_link(signer, app, token, participant, "Åsa Öberg").status_code == 302
    sign_in_person(client, app, sent, guardian1, "Maria Öberg")
    sign_in_person(client, app, sent, guardian2, "Johan Öberg")
    receipt = page(signer, f"/s/{token}")
    assert "Ditt medgivande i dag" in receipt and "state-ok" in receipt

    today = signing.today_local().isoformat()
    base = {"withdrawn_on": today, "how": "oral", "withdrawn_by": "participant"}
    client.post(
        f"/documents/{sent.id}/withdraw",
        data={**base, "extent": "part", "scope_actors": ["a2"]},
    )
    receipt = page(signer, f"/s/{token}")
    assert "Delvis återkallat" in receipt and "state-warn" in receipt
    assert "Fotbollsföreningen IK Kista" in receipt.split("Återkallat delvis")[1]
    assert "Återkalla mitt medgivande" in receipt  # the rest can still be withdrawn

    signer.post(f"/s/{token}/withdraw", data={"confirm": "yes"})
    receipt = page(signer, f"/s/{token}")
    assert "Återkallat – gäller inte längre" in receipt and "state-bad" in receipt
    folded = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", receipt))
    assert f"Återkallat helt den {today}" in folded
    assert "Återkalla mitt medgivande" not in receipt
    last = db.session.scalars(
        select(Document)
        .where(Document.type_slug == "consent_withdrawal")
        .order_by(Document.id.desc())
    ).first()
    assert last is not None
    assert last.data["withdrawn_by"] == "participant"
    assert last.data["withdrawn_by_name"] == "Åsa Öberg"
    assert last.data["earlier"] and last.data["scope"] == "all"
