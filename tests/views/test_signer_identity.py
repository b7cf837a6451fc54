"""A signature belongs to the designated signer (issue 10, defect 1), on every signing path.

The designated guardian is "Anna Lindqvist"; another name typed in person, by personal link or
on a paper upload is refused and nothing is stored. Tolerated spellings of her own name sign
under her name, which is what the sealed PDF, its evidence page and /verify then show, with
how her identity was established.
"""

from __future__ import annotations

import io
import unicodedata
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.forms.consent import ConsentForm, sample
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from formsvc.services.names import same_name
from tests.conftest import PASSWORD, Auth, World
from tests.helpers import pdf_text, post_data
from tests.smtp import SmtpServer
from tests.views.test_sign_link import open_with_code, send_link, sign_by_link
from tests.views.test_signing import png_scan, send, sign_in_person, starting_today

ANNA = "Anna Lindqvist"
ANNA_PNR = "19800101-1231"
WRONG = "Eva Svensson"


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


def with_guardian(app: Flask, world: World, doc: Document, name: str, pnr: str = "") -> Document:
    """The consent, in force today, with guardian 1 named *name* (and numbered *pnr*)."""
    doc = starting_today(app, world, doc)
    guardians = [dict(g) for g in doc.data["guardians"]]
    guardians[0] = {**guardians[0], "name": name, "personnummer": pnr}
    dtype = runtime(app).registry["consent"]
    return documents.update(
        doc,
        dict(doc.data, guardians=guardians),
        actor=world.users["caseworker"],
        store=runtime(app).store,
        dtype=dtype,
    )


@pytest.fixture
def sent(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> Document:
    """The consent sent for signature: Åsa Öberg, guardian Anna Lindqvist, guardian Johan Öberg."""
    auth.login("caseworker")
    send(client, with_guardian(app, world, consent_doc, ANNA, ANNA_PNR))
    return consent_doc


def guardian(doc: Document) -> SignatureRequest:
    return next(r for r in signing.requests(doc) if r.slot == "guardian1")


def sign_events(doc: Document) -> int:
    return db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.object_id == str(doc.id), AuditEvent.action == "sign"
        )
    )


# --------------------------------------------------------------------------- refused


def test_in_person_another_name_is_refused_clearly_and_nothing_is_stored(
    app: Flask, client: FlaskClient, sent: Document
) -> None:
    req = guardian(sent)
    resp = sign_in_person(client, app, sent, req, WRONG)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Namnet stämmer inte med den som ska skriva under" in body
    assert "Bara Anna Lindqvist kan skriva under här" in body
    assert f'value="{WRONG}"' in body  # what was typed is kept
    db.session.refresh(req)
    assert (req.status, req.signed_name, req.typed_name) == ("open", None, None)
    assert sign_events(sent) == 0


def test_by_personal_link_another_name_is_refused_and_the_link_still_works(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    req = guardian(sent)
    token = send_link(client, smtp_server, sent, req, "anna@example.se")
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, "anna@example.se")
    resp = sign_by_link(signer, app, token, req, WRONG)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Namnet stämmer inte" in body
    assert f'value="{WRONG}"' in body
    db.session.refresh(req)
    assert req.status == "open" and sign_events(sent) == 0
    # her own name, typed her way, signs under the designated name
    assert sign_by_link(signer, app, token, req, "anna lindqvist").status_code == 302
    db.session.refresh(req)
    assert (req.status, req.signed_name, req.typed_name) == (
        "signed",
        ANNA,
        "anna lindqvist",
    )
    assert req.verification == "Engångskod via e-post till a***@example.se"


def test_a_paper_upload_under_another_name_is_refused(client: FlaskClient, sent: Document) -> None:
    req = guardian(sent)
    resp = client.post(
        f"/documents/{sent.id}/paper",
        data={
            "requests": [str(req.id)],
            f"name-{req.id}": WRONG,
            "scan": (io.BytesIO(png_scan()), "skanning.png"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200
    assert "Namnet stämmer inte" in resp.get_data(as_text=True)
    db.session.refresh(req)
    assert req.status == "open" and sign_events(sent) == 0


def test_staff_sign_only_under_their_own_account_name(
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
    manager_req, _employee = send(client, doc)
    url = f"/documents/{doc.id}/signatures/{manager_req.id}/staff"
    resp = client.post(url, data={"s-name": "Test caseworker", "s-password": PASSWORD})
    assert "Namnet stämmer inte med ditt konto" in resp.get_data(as_text=True)
    db.session.refresh(manager_req)
    assert manager_req.status == "open"
    assert (
        client.post(url, data={"s-name": "TEST  MANAGER", "s-password": PASSWORD}).status_code
        == 200
    )
    db.session.refresh(manager_req)
    assert manager_req.signed_name == "Test manager"
    assert manager_req.verification == "Lösenord (personalkonto manager) angivet vid signering"


@pytest.mark.parametrize(
    "typed",
    [
        "Anna",
        "Lindqvist",
        "Anna Lindqvist Berg",
        "Lindqvist Anna",
        "A. Lindqvist",
        "Anna Lindquist",
    ],
)
def test_a_part_of_the_name_or_another_spelling_is_not_the_designated_name(
    app: Flask, client: FlaskClient, sent: Document, typed: str
) -> None:
    req = guardian(sent)
    assert "Namnet stämmer inte" in sign_in_person(client, app, sent, req, typed).get_data(
        as_text=True
    )
    db.session.refresh(req)
    assert req.status == "open"


# --------------------------------------------------------------------------- tolerated


@pytest.mark.parametrize(
    ("designated", "typed"),
    [
        ("Åsa-Maria Öberg", "asa-maria oberg"),
        ("Åsa-Maria Öberg", "ÅSA MARIA  ÖBERG"),
        ("Åsa-Maria Öberg", "Åsa–Maria Öberg"),  # en dash
        ("Åsa-Maria Öberg", "Åsa\u2010Maria\u00a0Öberg"),  # Unicode hyphen, no-break space
        ("Åsa-Maria Öberg", unicodedata.normalize("NFD", "Åsa-Maria Öberg")),
        ("Søren Kjær", "Soren Kjaer"),
        ("  Anna Lindqvist ", "anna lindqvist"),
    ],
)
def test_case_spacing_diacritics_and_hyphens_are_tolerated_and_the_designated_name_signs(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    consent_doc: Document,
    designated: str,
    typed: str,
) -> None:
    auth.login("caseworker")
    send(client, with_guardian(app, world, consent_doc, designated))
    req = guardian(consent_doc)
    resp = sign_in_person(client, app, consent_doc, req, typed)
    assert resp.status_code == 200 and "är registrerad" in resp.get_data(as_text=True)
    db.session.refresh(req)
    assert req.signed_name == designated.strip()
    assert req.typed_name == typed.strip()
    assert req.verification == "Bevittnad på plats av Test caseworker"


def test_name_matching_rules() -> None:
    assert same_name("ANNA-LENA  BERG", "Anna Lena Berg")
    assert not same_name("", "")
    assert not same_name("Anna\u202eBerg", "Anna Berg")  # bidi controls are not spaces


# --------------------------------------------------------------------------- what is printed


def test_sealed_pdf_evidence_and_verify_show_the_designated_signer_and_how_they_were_identified(
    app: Flask, client: FlaskClient, sent: Document, smtp_server: SmtpServer
) -> None:
    participant, anna, johan = signing.requests(sent)
    assert anna.expected_id == ANNA_PNR and johan.expected_id is None
    assert sign_in_person(client, app, sent, participant, "asa oberg").status_code == 200
    token = send_link(client, smtp_server, sent, anna, "anna@example.se")
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, "anna@example.se")
    assert sign_by_link(signer, app, token, anna, "ANNA LINDQVIST").status_code == 302
    resp = client.post(
        f"/documents/{sent.id}/paper",
        data={"requests": [str(johan.id)], "scan": (io.BytesIO(png_scan()), "s.png")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    db.session.refresh(sent)
    assert sent.sealed_pdf_sha256
    sealed = client.get(f"/documents/{sent.id}/signed.pdf").data
    text = " ".join(pdf_text(sealed).split())
    # the consent names the guardian with her number; the signature block shows designated names
    assert f"{ANNA} ({ANNA_PNR})" in text
    assert "asa oberg" not in text.split("Underskriftsbevis")[0]
    assert "ANNA LINDQVIST" not in text.split("Underskriftsbevis")[0]
    evidence = text.split("Underskriftsbevis", 1)[1]
    assert "Namn Åsa Öberg Skrev vid underskriften asa oberg" in evidence
    assert f"Personnummer {ANNA_PNR}" in evidence
    assert "Identitet styrkt genom Bevittnad på plats av Test caseworker" in evidence
    assert "Identitet styrkt genom Engångskod via e-post till a***@example.se" in evidence
    assert "Identitet styrkt genom Pappersblankett uppladdad av Test caseworker" in evidence

    resp = app.test_client().post(
        "/verify", data={"pdf": (io.BytesIO(sealed), "d.pdf")}, content_type="multipart/form-data"
    )
    body = resp.get_data(as_text=True)
    assert "Dokumentet är äkta och oförändrat" in body
    assert ANNA in body and "skrev: ANNA LINDQVIST" in body and "skrev: asa oberg" in body
    for how in (
        "Bevittnad på plats av Test caseworker",
        "Engångskod via e-post till a***@example.se",
        "Pappersblankett uppladdad av Test caseworker",
    ):
        assert how in body
    assert ANNA_PNR not in body  # the public page does not repeat identity numbers


# --------------------------------------------------------------------------- correcting


def test_correcting_the_designated_guardian_is_an_edit_that_voids_open_requests(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document,
    smtp_server: SmtpServer,
) -> None:  # fmt: skip
    auth.login("caseworker")
    send(client, with_guardian(app, world, consent_doc, "Ana Lindkvist"))
    old = guardian(consent_doc)
    token = send_link(client, smtp_server, consent_doc, old, "anna@example.se")
    assert "Namnet stämmer inte" in sign_in_person(client, app, consent_doc, old, ANNA).get_data(
        as_text=True
    )
    version = consent_doc.version
    data = post_data(ConsentForm, consent_doc.data, **{"guardians-0-name": ANNA})
    resp = client.post(f"/documents/{consent_doc.id}/edit", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    db.session.refresh(consent_doc)
    db.session.refresh(old)
    assert consent_doc.version == version + 1 and consent_doc.status == "draft"
    assert old.status == "voided"
    assert app.test_client().get(f"/s/{token}").status_code == 404  # the old link is gone
    send(client, consent_doc)
    new = guardian(consent_doc)
    assert new.expected_name == ANNA
    assert sign_in_person(client, app, consent_doc, new, ANNA).status_code == 200
    db.session.refresh(new)
    assert new.status == "signed" and new.signed_name == ANNA


# --------------------------------------------------------------------------- personnummer


def _new_consent_url(world: World) -> str:
    return f"/participants/{world.participant.id}/documents/new/consent"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("19800101-1231", "19800101-1231"),
        ("800101-1231", "19800101-1231"),
        (" 198001011231 ", "19800101-1231"),
        ("19800161-1238", "19800161-1238"),  # samordningsnummer
        ("", ""),
    ],
)
def test_a_guardians_number_is_optional_and_stored_in_long_form(
    client: FlaskClient, auth: Auth, world: World, value: str, stored: str
) -> None:
    auth.login("caseworker")
    data = post_data(ConsentForm, sample(), **{"guardians-0-personnummer": value})
    resp = client.post(_new_consent_url(world), data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    doc = db.session.scalars(select(Document)).one()
    assert doc.data["guardians"][0]["personnummer"] == stored


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("19800101-1234", "kontrollsiffran"),
        ("<w:t>&amp;</w:t>", "Ange numret som"),
        ("\u202e19800101-1231", "Ange numret som"),  # bidi override
        ("19800101\u200b-1231", "Ange numret som"),  # zero-width space
        ("1980\x0b0101-1231", "kontrolltecken"),
        ("1" * 10_000, "Högst 20 tecken"),
        ("{{ 7*7 }}", "Ange numret som"),
    ],
    ids=["checksum", "xml", "bidi", "zero-width", "control", "huge", "jinja"],
)
def test_hostile_guardian_numbers_get_a_clear_error_keep_the_text_and_store_nothing(
    client: FlaskClient, auth: Auth, world: World, value: str, message: str
) -> None:
    auth.login("caseworker")
    data = post_data(ConsentForm, sample(), **{"guardians-0-personnummer": value})
    resp = client.post(_new_consent_url(world), data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert message in html
    if len(value) < 100:
        assert str(escape(value)) in html
    assert db.session.scalar(select(func.count(Document.id))) == 0


def test_a_guardian_number_without_a_name_or_posted_twice_is_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(
        ConsentForm, sample(), **{"guardians-1-name": "", "guardians-1-personnummer": ANNA_PNR}
    )
    resp = client.post(_new_consent_url(world), data=data)
    assert resp.status_code == 200 and "Ange vårdnadshavarens namn" in resp.get_data(as_text=True)
    data = post_data(ConsentForm, sample())
    data.setlist("guardians-0-personnummer", ["19800101-1231", "x" * 50])  # a list, not a value
    resp = client.post(_new_consent_url(world), data=data)
    assert resp.status_code in (200, 302)
    if resp.status_code == 302:
        doc = db.session.scalars(select(Document)).one()
        assert doc.data["guardians"][0]["personnummer"] == "19800101-1231"
