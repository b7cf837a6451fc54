"""Signing through the browser's path: send, in person, as staff, paper, withdraw, verify."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from tests.conftest import PASSWORD, Auth, World
from tests.helpers import pdf_text
from tests.services.test_signing import drawn_png

STATEMENTS_FIELD = "s-statements"


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def send(client: FlaskClient, doc: Document) -> list[SignatureRequest]:
    resp = client.post(f"/documents/{doc.id}/send")
    assert resp.status_code == 302
    db.session.refresh(doc)
    return signing.requests(doc)


def sign_in_person(
    client: FlaskClient, app: Flask, doc: Document, req: SignatureRequest, name: str, **extra: str
):
    dtype = runtime(app).registry[doc.type_slug]
    data: dict = {
        "s-name": name,
        STATEMENTS_FIELD: list(signing.statements_for(req, dtype)),
        **extra,
    }
    resp = client.post(f"/documents/{doc.id}/signatures/{req.id}/in-person", data=data)
    # the caseworker takes the tablet back: leaving the locked view needs their password
    client.post("/unlock", data={"password": PASSWORD})
    return resp


def starting_today(app: Flask, world: World, doc: Document) -> Document:
    """The consent sample, but in force from today for six months."""
    today = signing.today_local()
    data = dict(
        doc.data,
        period_from=today.isoformat(),
        period_to=(today + timedelta(days=180)).isoformat(),
    )
    dtype = runtime(app).registry["consent"]
    store = runtime(app).store
    return documents.update(doc, data, actor=world.users["caseworker"], store=store, dtype=dtype)


@pytest.fixture
def sent(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> Document:
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    return consent_doc


def test_the_document_page_offers_sending_and_then_lists_each_signer(
    client: FlaskClient, auth: Auth, consent_doc: Document
) -> None:
    auth.login("caseworker")
    page = client.get(f"/documents/{consent_doc.id}").get_data(as_text=True)
    assert "Skicka för underskrift" in page
    reqs = send(client, consent_doc)
    page = client.get(f"/documents/{consent_doc.id}").get_data(as_text=True)
    assert "Skicka för underskrift" not in page
    for r in reqs:
        assert f"/signatures/{r.id}/in-person" in page
    assert consent_doc.frozen_pdf_sha256 in page


def test_in_person_view_is_locked_to_one_signer_and_records_the_witness(
    app: Flask, client: FlaskClient, sent: Document, world: World
) -> None:
    req = signing.requests(sent)[0]
    page = client.get(f"/documents/{sent.id}/signatures/{req.id}/in-person").get_data(as_text=True)
    assert 'aria-label="Huvudmeny"' not in page  # no way out to other participants
    assert "Vittne" in page and "Test caseworker" in page
    resp = sign_in_person(
        client, app, sent, req, "Åsa Öberg", **{"s-signature_png": data_url(drawn_png())}
    )
    assert resp.status_code == 200
    assert "Underskriften från Deltagare är registrerad" in resp.get_data(as_text=True)
    db.session.refresh(req)
    assert req.status == "signed" and req.method == "in_person"
    assert req.actor_id == world.users["caseworker"].id
    assert req.signature_sha256 is not None


def test_unticked_statements_or_a_missing_name_keep_what_was_typed(
    app: Flask, client: FlaskClient, sent: Document
) -> None:
    req = signing.requests(sent)[1]
    resp = client.post(
        f"/documents/{sent.id}/signatures/{req.id}/in-person",
        data={"s-name": "Maria <b>Öberg</b>"},
    )
    body = resp.get_data(as_text=True)
    assert "Kryssa i alla påståenden" in body
    assert "Maria &lt;b&gt;Öberg&lt;/b&gt;" in body
    db.session.refresh(req)
    assert req.status == "open"


@pytest.mark.parametrize(
    ("name", "message"),
    [("Anna\x0bBo", "kontrolltecken"), ("Å" * 201, "Högst 200 tecken"), ("   ", "Skriv ditt namn")],
)
def test_hostile_names_are_refused(
    app: Flask, client: FlaskClient, sent: Document, name: str, message: str
) -> None:
    req = signing.requests(sent)[0]
    resp = sign_in_person(client, app, sent, req, name)
    assert message in resp.get_data(as_text=True)
    db.session.refresh(req)
    assert req.status == "open"


@pytest.mark.parametrize(
    "value",
    [
        "data:image/png;base64,!!!notbase64",
        "data:image/png;base64," + base64.b64encode(b"GIF89a fake").decode(),
        "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
        "data:image/png;base64," + "A" * 800_000,
    ],
    ids=["bad-base64", "not-png", "svg", "huge"],
)
def test_forged_signature_images_are_refused(
    app: Flask, client: FlaskClient, sent: Document, value: str
) -> None:
    req = signing.requests(sent)[0]
    resp = sign_in_person(client, app, sent, req, "Åsa Öberg", **{"s-signature_png": value})
    assert "underskriften" in resp.get_data(as_text=True)
    db.session.refresh(req)
    assert req.status == "open"


def test_a_decline_reason_is_shown_escaped_and_ends_the_request(
    app: Flask, client: FlaskClient, sent: Document
) -> None:
    req = signing.requests(sent)[2]
    xss = "<script>alert(1)</script> vill inte"
    resp = client.post(
        f"/documents/{sent.id}/signatures/{req.id}/in-person", data={"d-reason": xss}
    )
    assert resp.status_code == 200
    client.post("/unlock", data={"password": PASSWORD})
    page = client.get(f"/documents/{sent.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; vill inte" in page
    db.session.refresh(sent)
    assert sent.status == "declined"
    assert [r.status for r in signing.requests(sent)] == ["voided", "voided", "declined"]


def test_all_in_person_signatures_seal_the_consent_and_the_sealed_pdf_downloads(
    app: Flask, client: FlaskClient, sent: Document
) -> None:
    for req, name in zip(
        signing.requests(sent), ["Åsa Öberg", "Maria Öberg", "Johan Öberg"], strict=True
    ):
        assert sign_in_person(client, app, sent, req, name).status_code == 200
    db.session.refresh(sent)
    assert sent.status == "active" and sent.sealed_pdf_sha256
    resp = client.get(f"/documents/{sent.id}/signed.pdf")
    assert resp.status_code == 200
    text = pdf_text(resp.data)
    assert "Underskriftsbevis" in text and "Johan Öberg" in text
    page = client.get(f"/documents/{sent.id}").get_data(as_text=True)
    assert "Ladda ner signerad PDF" in page
    assert client.get(f"/documents/{sent.id}/edit").status_code == 302  # sealed: no edits


def test_other_documents_requests_and_other_districts_are_not_found(
    app: Flask, client: FlaskClient, auth: Auth, sent: Document, world: World
) -> None:
    dtype = runtime(app).registry["consent"]
    other = documents.create(
        dtype,
        dtype.sample(),
        actor=world.users["caseworker"],
        participant=world.participant,
        store=runtime(app).store,
    )
    req = signing.requests(sent)[0]
    assert client.get(f"/documents/{other.id}/signatures/{req.id}/in-person").status_code == 404
    assert client.get(f"/documents/{sent.id}/signatures/999999/in-person").status_code == 404
    auth.logout()
    auth.login("other_caseworker")
    assert client.get(f"/documents/{sent.id}/signatures/{req.id}/in-person").status_code == 404
    assert client.post(f"/documents/{sent.id}/send").status_code == 404
    assert client.get(f"/documents/{sent.id}/frozen.pdf").status_code == 404


def png_scan(size: tuple[int, int] = (1200, 1600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, format="PNG")
    return out.getvalue()


def test_paper_scan_signs_the_chosen_signers_and_keeps_its_pixels_re_encoded(
    app: Flask, client: FlaskClient, sent: Document, world: World
) -> None:
    reqs = signing.requests(sent)
    scan = png_scan()
    resp = client.post(
        f"/documents/{sent.id}/paper",
        data={"requests": [str(r.id) for r in reqs], "scan": (io.BytesIO(scan), "skanning.png")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    db.session.refresh(sent)
    assert sent.status == "active" and sent.sealed_pdf_sha256
    got = client.get(f"/documents/{sent.id}/signatures/{reqs[0].id}/scan")
    with Image.open(io.BytesIO(got.data)) as stored, Image.open(io.BytesIO(scan)) as sent_scan:
        assert stored.format == "PNG" and stored.tobytes() == sent_scan.tobytes()
    text = pdf_text(client.get(f"/documents/{sent.id}/signed.pdf").data)
    assert "underskriven på papper" in text
    assert "Test caseworker" in text  # who uploaded it


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "Välj en fil"),
        (b"%PDF-1.7 this is not really a pdf", "PDF-filen kunde inte läsas"),
        (b"MZ\x90\x00 an executable", "Ladda upp en PDF, PNG eller JPEG"),
        ("tiny", "för liten"),
        ("huge", "för stor"),
    ],
)
def test_fake_or_oversized_scans_are_refused(
    app: Flask, client: FlaskClient, sent: Document, payload: bytes | str, message: str
) -> None:
    if payload == "tiny":
        payload = png_scan((40, 40))
    elif payload == "huge":
        app.config["SCAN_MAX_BYTES"] = 100_000
        payload = b"%PDF-1.4\n" + b"0" * 120_000
    reqs = signing.requests(sent)
    resp = client.post(
        f"/documents/{sent.id}/paper",
        data={"requests": [str(reqs[0].id)], "scan": (io.BytesIO(payload), "x.pdf")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200
    assert message in resp.get_data(as_text=True)
    db.session.refresh(reqs[0])
    assert reqs[0].status == "open"


def test_staff_sign_as_themselves_after_reentering_their_password(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    dtype = runtime(app).registry["security_talk"]
    doc = documents.create(
        dtype,
        dtype.sample(),
        actor=world.users["manager"],
        employee=world.users["caseworker"],
        store=runtime(app).store,
    )
    auth.login("manager")
    manager_req, employee_req = send(client, doc)
    url = f"/documents/{doc.id}/signatures/{manager_req.id}/staff"
    resp = client.post(url, data={"s-name": "Test manager", "s-password": "fel-lösenord"})
    body = resp.get_data(as_text=True)
    assert "Fel lösenord" in body and 'value="Test manager"' in body
    failed = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "sign_password_failed")
    ).one()
    assert (failed.object_id, failed.actor_label) == (str(doc.id), "manager")
    # the employee's place is not the manager's to sign
    assert client.get(f"/documents/{doc.id}/signatures/{employee_req.id}/staff").status_code == 403
    resp = client.post(url, data={"s-name": "Test manager", "s-password": PASSWORD})
    assert resp.status_code == 200
    auth.logout()
    auth.login("caseworker")
    url = f"/documents/{doc.id}/signatures/{employee_req.id}/staff"
    assert (
        client.post(url, data={"s-name": "Test caseworker", "s-password": PASSWORD}).status_code
        == 200
    )
    db.session.refresh(doc)
    assert doc.status == "signed" and doc.sealed_pdf_sha256
    text = pdf_text(runtime(app).store.get(doc.sealed_pdf_sha256))
    assert "Lösenord" in text or "lösenord" in text


def sign_all_in_person(client: FlaskClient, app: Flask, doc: Document) -> None:
    names = ["Åsa Öberg", "Maria Öberg", "Johan Öberg"]
    for req, name in zip(signing.requests(doc), names, strict=True):
        assert sign_in_person(client, app, doc, req, name).status_code == 200
    db.session.refresh(doc)
    assert doc.sealed_pdf_sha256


def test_verify_page_says_intact_for_the_sealed_pdf_and_shows_what_was_recorded(
    app: Flask, client: FlaskClient, sent: Document
) -> None:
    sign_all_in_person(client, app, sent)
    sealed = client.get(f"/documents/{sent.id}/signed.pdf").data
    anon = app.test_client()  # the verify page needs no login
    resp = anon.post(
        "/verify", data={"pdf": (io.BytesIO(sealed), "dok.pdf")}, content_type="multipart/form-data"
    )
    body = resp.get_data(as_text=True)
    assert "Dokumentet är äkta och oförändrat" in body
    assert sent.reference in body and "Maria Öberg" in body and "På plats" in body


@pytest.mark.parametrize("damage", ["flip", "append", "garbage", "unsigned"])
def test_verify_page_reports_a_changed_or_foreign_pdf(
    app: Flask, client: FlaskClient, sent: Document, damage: str
) -> None:
    sign_all_in_person(client, app, sent)
    sealed = client.get(f"/documents/{sent.id}/signed.pdf").data
    if damage == "flip":
        i = len(sealed) // 3
        pdf = sealed[:i] + bytes([sealed[i] ^ 0x01]) + sealed[i + 1 :]
    elif damage == "append":
        pdf = sealed + b"\n1 0 obj\n<< /Evil true >>\nendobj\n%%EOF\n"
    elif damage == "garbage":
        pdf = b"<html><script>alert(1)</script></html>"
    else:
        pdf = runtime(app).store.get(sent.frozen_pdf_sha256)
    body = (
        app.test_client()
        .post(
            "/verify", data={"pdf": (io.BytesIO(pdf), "x.pdf")}, content_type="multipart/form-data"
        )
        .get_data(as_text=True)
    )
    assert "Dokumentet är äkta och oförändrat" not in body
    assert "<script>alert(1)</script>" not in body
    assert sent.reference not in body  # nothing recorded is shown for a file that is not ours


def test_withdrawal_by_the_caseworker_makes_its_own_document_listing_the_actors(
    app: Flask, client: FlaskClient, sent: Document, world: World
) -> None:
    sign_all_in_person(client, app, sent)
    page = client.get(f"/participants/{world.participant.id}").get_data(as_text=True)
    assert (
        "Fotbollsföreningen IK Kista" in page
    )  # shared with today (the sample starts 2026-12-01?)
    resp = client.post(
        f"/documents/{sent.id}/withdraw",
        data={
            "withdrawn_on": "2999-01-01",
            "how": "oral",
            "withdrawn_by": "participant",
            "details": "Sa det i telefon",
        },
    )
    assert "framtiden" in resp.get_data(as_text=True)
    assert "Sa det i telefon" in resp.get_data(as_text=True)
    resp = client.post(
        f"/documents/{sent.id}/withdraw",
        data={
            "withdrawn_on": signing.today_local().isoformat(),
            "how": "oral",
            "withdrawn_by": "participant",
            "details": "<b>Ringde</b>",
        },
    )
    assert resp.status_code == 302
    db.session.refresh(sent)
    assert sent.status == "withdrawn"
    new = db.session.scalars(
        db.select(Document).where(Document.type_slug == "consent_withdrawal")
    ).one()
    assert new.status == "final" and new.data["consent_id"] == sent.id
    assert "Fotbollsföreningen IK Kista" in [a["name"] for a in new.data["actors"]]
    text = pdf_text(client.get(f"/documents/{new.id}/download.pdf").data)
    assert "Fotbollsföreningen IK Kista" in text and "<b>Ringde</b>" in text
    page = client.get(f"/participants/{world.participant.id}").get_data(as_text=True)
    assert "Med ingen" in page
    assert (
        client.post(
            f"/documents/{sent.id}/withdraw",
            data={
                "withdrawn_on": signing.today_local().isoformat(),
                "how": "oral",
                "withdrawn_by": "participant",
            },
        ).status_code
        == 302
    )  # refused with a message, nothing doubled
    assert (
        db.session.scalar(
            db.select(db.func.count(Document.id)).where(Document.type_slug == "consent_withdrawal")
        )
        == 1
    )


def test_a_signed_consent_that_starts_later_is_not_shared_today(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    auth.login("caseworker")
    today = signing.today_local()
    dtype = runtime(app).registry["consent"]
    data = dict(
        consent_doc.data,
        period_from=(today + timedelta(days=10)).isoformat(),
        period_to=(today + timedelta(days=100)).isoformat(),
    )
    documents.update(
        consent_doc,
        data,
        actor=world.users["caseworker"],
        store=runtime(app).store,
        dtype=dtype,
    )
    send(client, consent_doc)
    sign_all_in_person(client, app, consent_doc)
    page = client.get(f"/documents/{consent_doc.id}").get_data(as_text=True)
    assert "gäller från startdatum" in page
    page = client.get(f"/participants/{world.participant.id}").get_data(as_text=True)
    assert "Med ingen" in page
