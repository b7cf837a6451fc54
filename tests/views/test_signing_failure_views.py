"""Every staff signing view says the same when the last signature is stored but sealing fails
(record_and_finalise's one error policy): in person, as staff, on paper and the manager's
decision; the personal link tells its signer what it means for them, without the technical
reason. The failure is real: a second app on the same database whose seal
certificate (PKCS#12) is missing. SQLite and PostgreSQL (FORMSVC_TEST_DB)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from tests.conftest import PASSWORD, World
from tests.smtp import SmtpServer
from tests.views.test_attestations import decide, staff_sign
from tests.views.test_sign_link import open_with_code, send_link, sign_by_link
from tests.views.test_signing import png_scan, send, sign_in_person, starting_today

#: What the signer is told, whichever view took the last signature.
SAID = (
    "Underskriften är sparad, men det slutliga dokumentet kunde inte skapas just nu "
    "(Sigillcertifikatet (PKCS#12-filen) saknas på servern.). Det görs automatiskt senare; "
    "inget har gått förlorat."
)
#: What a signer outside the organisation (personal link) is told instead: what it means for
#: them, not the technical reason (that is for staff, in the log and on the document's page).
SAID_PUBLIC = (
    "Din underskrift är sparad. Alla har skrivit under, men dokumentet kunde inte förseglas just "
    "nu. Socialtjänsten gör det så snart som möjligt; du behöver inte göra något mer."
)
ERRORS = re.compile(r'<p class="flash error" role="alert"[^>]*>(.*?)</p>', re.S)


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


@pytest.fixture
def no_seal(make_app: Any, tmp_path: Path) -> Flask:
    """The same database, files and mail, but the seal certificate is not on this server."""
    return make_app(SEAL_PKCS12_PATH=str(tmp_path / "no-seal-here" / "seal.p12"))


def logged_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    resp = client.post("/login", data={"username": username, "password": PASSWORD})
    assert resp.status_code == 302, resp.status_code
    return client


def create(app: Flask, world: World, slug: str, **changes: Any) -> Document:
    dtype = runtime(app).registry[slug]
    who: dict[str, Any] = (
        {"employee": world.users["caseworker"]}
        if slug == "security_talk"
        else {"participant": world.participant}
    )
    return documents.create(
        dtype,
        {**dtype.sample(), **changes},
        actor=world.users["caseworker"],
        store=runtime(app).store,
        **who,
    )


def consent_two_signed(app: Flask, world: World, client: FlaskClient, doc: Document) -> Any:
    """The consent sent, participant and first guardian signed in person: one to go."""
    reqs = send(client, starting_today(app, world, doc))
    for req, name in zip(reqs[:2], ["Åsa Öberg", "Maria Öberg"], strict=True):
        assert sign_in_person(client, app, doc, req, name).status_code == 200
    return reqs


def by_link(app: Flask, world: World, broken: Flask, smtp: SmtpServer, doc: Document) -> str:
    client = logged_in(app, "caseworker")
    last = consent_two_signed(app, world, client, doc)[2]
    token = send_link(client, smtp, doc, last, "johan@example.se")
    signer = broken.test_client()
    open_with_code(signer, smtp, token, "johan@example.se")
    resp = sign_by_link(signer, app, token, last, "Johan Öberg", follow_redirects=True)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Alla har skrivit under. Det signerade dokumentet görs i ordning" in page
    assert "Alla har inte skrivit under ännu" not in page  # the receipt does not contradict it
    return page


def in_person(app: Flask, world: World, broken: Flask, smtp: SmtpServer, doc: Document) -> str:
    last = consent_two_signed(app, world, logged_in(app, "caseworker"), doc)[2]
    resp = sign_in_person(logged_in(broken, "caseworker"), app, doc, last, "Johan Öberg")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def on_paper(app: Flask, world: World, broken: Flask, smtp: SmtpServer, doc: Document) -> str:
    reqs = send(logged_in(app, "caseworker"), starting_today(app, world, doc))
    resp = logged_in(broken, "caseworker").post(
        f"/documents/{doc.id}/paper",
        data={"requests": [str(r.id) for r in reqs], "scan": (io.BytesIO(png_scan()), "s.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def as_staff(app: Flask, world: World, broken: Flask, smtp: SmtpServer, _doc: Document) -> str:
    doc = create(app, world, "security_talk", measures=[], no_measures=True)
    manager = logged_in(app, "manager")
    manager_req, employee_req = send(manager, doc)
    assert staff_sign(manager, doc, manager_req.id, "Test manager").status_code == 200
    resp = staff_sign(logged_in(broken, "caseworker"), doc, employee_req.id, "Test caseworker")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def deciding(app: Flask, world: World, broken: Flask, smtp: SmtpServer, _doc: Document) -> str:
    doc = create(app, world, "threat_assessment")
    client = logged_in(broken, "manager")
    resp = decide(client, doc)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return client.get(resp.headers["Location"]).get_data(as_text=True)


PATHS: dict[str, Callable[..., str]] = {
    "personal link": by_link,
    "in person": in_person,
    "paper": on_paper,
    "staff": as_staff,
    "decision": deciding,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_a_failed_seal_after_the_last_signature_says_the_same_on_every_path(
    path: str,
    app: Flask,
    world: World,
    no_seal: Flask,
    smtp_server: SmtpServer,
    consent_doc: Document,
) -> None:
    page = PATHS[path](app, world, no_seal, smtp_server, consent_doc)
    if path == "personal link":
        assert ERRORS.findall(page) == []
        assert str(escape(SAID_PUBLIC)) in page and "PKCS#12" not in page
    else:
        assert ERRORS.findall(page) == [str(escape(SAID))]
    db.session.expire_all()
    doc = db.session.scalars(
        select(Document).where(Document.status == "awaiting_signatures")
    ).one()  # nothing sealed, nothing lost, and nothing holds the claim: reseal can finish it
    assert signing.all_signed(doc) and doc.sealed_pdf_sha256 is None
    assert doc.finalise_claimed_at is None


def test_the_finalise_button_then_seals_once(
    app: Flask, world: World, no_seal: Flask, smtp_server: SmtpServer, consent_doc: Document
) -> None:
    in_person(app, world, no_seal, smtp_server, consent_doc)
    client = logged_in(app, "caseworker")
    page = client.post(f"/documents/{consent_doc.id}/finalise", follow_redirects=True)
    assert "Dokumentet är förseglat och arkiverat" in page.get_data(as_text=True)
    again = client.post(f"/documents/{consent_doc.id}/finalise", follow_redirects=True)
    assert not ERRORS.findall(again.get_data(as_text=True))
    seals = select(func.count(AuditEvent.id)).where(AuditEvent.action == "seal")
    assert db.session.scalar(seals) == 1
