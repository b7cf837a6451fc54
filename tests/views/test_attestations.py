"""Attestations are true (issue 10, defect 2): nothing is signed that the document does not say.

A 3.3 threat assessment cannot be signed by the manager without the decision, its date, who
decided, the level and at least one measure; a security talk not without agreed measures or the
explicit choice that none are needed. The manager records the decision and signs in one step.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from formsvc.doctypes import RegistryError, check
from formsvc.extensions import db
from formsvc.models import AuditEvent, Document
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from tests.conftest import PASSWORD, Auth, World
from tests.helpers import pdf_text
from tests.views.test_signing import png_scan, send

DECISION = "Tillfälligt boende beviljas; ökad närvaro vid skolan i samråd med polisen."


def make(app: Flask, world: World, slug: str, **changes: Any) -> Document:
    dtype = runtime(app).registry[slug]
    kw: dict[str, Any] = (
        {"employee": world.users["caseworker"]}
        if slug == "security_talk"
        else {"participant": world.participant}
    )
    return documents.create(
        dtype,
        {**dtype.sample(), **changes},
        actor=world.users["manager"],
        store=runtime(app).store,
        **kw,
    )


def staff_sign(client: FlaskClient, doc: Document, rid: int, name: str) -> Any:
    return client.post(
        f"/documents/{doc.id}/signatures/{rid}/staff",
        data={"s-name": name, "s-password": PASSWORD},
    )


def decide(client: FlaskClient, doc: Document, **overrides: str) -> Any:
    data = {
        "b-decision": DECISION,
        "b-decided_on": signing.today_local().isoformat(),
        "b-level": "elevated",
        "s-name": "Test manager",
        "s-password": PASSWORD,
        **overrides,
    }
    return client.post(f"/documents/{doc.id}/decide", data=data)


# --------------------------------------------------------------------------- refused


def test_a_threat_assessment_without_a_decision_cannot_be_signed_by_the_manager(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(app, world, "threat_assessment")
    auth.login("manager")
    (req,) = send(client, doc)
    resp = staff_sign(client, doc, req.id, "Test manager")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "kan inte skriva under ännu" in body
    for label in ("Beslut om åtgärder", "Beslutsdatum", "Beslutet fattat av (arbetsledare)"):
        assert label in body.split("kan inte skriva under ännu", 1)[1]
    db.session.refresh(req)
    db.session.refresh(doc)
    assert req.status == "open" and doc.sealed_pdf_sha256 is None


def test_a_threat_assessment_without_measures_or_level_names_them(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(
        app,
        world,
        "threat_assessment",
        measures=[],
        level="",
        decision=DECISION,
        decided_on="2026-11-12",
        decided_by="Test manager",
    )
    auth.login("manager")
    (req,) = send(client, doc)
    body = staff_sign(client, doc, req.id, "Test manager").get_data(as_text=True)
    assert "Bedömd nivå (stadens egen skala)" in body and "minst en åtgärd" in body
    assert "Beslutsdatum" not in body.split("kan inte skriva under ännu", 1)[1]
    db.session.refresh(req)
    assert req.status == "open"


def test_the_service_refuses_on_every_path_also_paper(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(app, world, "threat_assessment")
    auth.login("manager")
    (req,) = send(client, doc)
    dtype = runtime(app).registry["threat_assessment"]
    runner = runtime(app).untrusted
    scan = signing.check_scan(png_scan(), runner=runner, settings=app.config)
    with pytest.raises(signing.SigningError, match="Beslut om åtgärder"):
        signing.sign_on_paper(
            [req],
            scan,
            names={},
            actor=world.users["manager"],
            store=runtime(app).store,
            dtype=dtype,
        )
    with pytest.raises(signing.SigningError, match="Beslut om åtgärder"):
        signing.sign(
            req,
            dtype,
            signing.Given(name="Test manager"),
            method="staff",
            actor=world.users["manager"],
            settings=app.config,
            store=runtime(app).store,
        )
    db.session.refresh(req)
    assert req.status == "open"


def test_a_security_talk_needs_measures_or_an_explicit_none_before_anyone_signs(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(app, world, "security_talk", measures=[])
    auth.login("manager")
    manager_req, _employee = send(client, doc)
    body = staff_sign(client, doc, manager_req.id, "Test manager").get_data(as_text=True)
    assert "Överenskomna åtgärder eller Inga åtgärder behövs" in body
    db.session.refresh(manager_req)
    assert manager_req.status == "open"


def test_an_explicit_none_lets_the_security_talk_be_signed_and_prints_it(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(app, world, "security_talk", measures=[], no_measures=True)
    auth.login("manager")
    manager_req, employee_req = send(client, doc)
    assert staff_sign(client, doc, manager_req.id, "Test manager").status_code == 200
    auth.logout()
    auth.login("caseworker")
    assert staff_sign(client, doc, employee_req.id, "Test caseworker").status_code == 200
    db.session.refresh(doc)
    assert doc.sealed_pdf_sha256
    assert "Inga åtgärder behövs." in pdf_text(runtime(app).store.get(doc.sealed_pdf_sha256))


def test_measures_and_none_together_are_refused_on_the_form(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(app, world, "security_talk")
    auth.login("manager")
    from formsvc.forms.security_talk import SecurityTalkForm
    from tests.helpers import post_data

    data = post_data(SecurityTalkForm, doc.data, no_measures="y")
    resp = client.post(f"/documents/{doc.id}/edit", data=data)
    assert resp.status_code == 200
    assert "kryssa ur Inga åtgärder behövs" in resp.get_data(as_text=True)


# --------------------------------------------------------------------------- decide and sign


def test_the_manager_decides_and_signs_in_one_step_and_the_sealed_pdf_says_so(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(app, world, "threat_assessment")
    auth.login("manager")
    (old,) = send(client, doc)
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert f"/documents/{doc.id}/decide" in page
    form = client.get(f"/documents/{doc.id}/decide").get_data(as_text=True)
    today = signing.today_local().isoformat()
    assert f'value="{today}"' in form and 'value="Test manager"' in form
    version = doc.version
    resp = decide(client, doc)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    db.session.refresh(doc)
    db.session.refresh(old)
    assert old.status == "voided"
    assert doc.version == version + 1
    assert doc.data["decision"] == DECISION and doc.data["decided_by"] == "Test manager"
    assert doc.data["decided_on"] == today
    (req,) = signing.requests(doc)
    assert req.status == "signed" and req.signed_name == "Test manager"
    assert doc.status == "signed" and doc.sealed_pdf_sha256
    text = " ".join(pdf_text(runtime(app).store.get(doc.sealed_pdf_sha256)).split())
    assert DECISION in text
    assert "har ännu inte registrerat något beslut" not in text
    assert "Lösenord (personalkonto manager)" in text
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == str(doc.id))
    ).all()
    assert "decide" in actions and "sign" in actions


def test_a_draft_can_be_decided_and_signed_directly(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(app, world, "threat_assessment")
    auth.login("manager")
    assert decide(client, doc).status_code == 302
    db.session.refresh(doc)
    assert doc.sealed_pdf_sha256 and doc.data["decision"] == DECISION


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"s-password": "fel"}, "Fel lösenord"),
        ({"s-name": "Test caseworker"}, "Namnet stämmer inte med ditt konto"),
        ({"b-decision": ""}, "Skriv beslutet om åtgärder"),
        ({"b-decision": "Beslut\x0bmed kontrolltecken"}, "kontrolltecken"),
        ({"b-decision": "Å" * 5000}, "Högst 4000 tecken"),
        ({"b-decision": "<w:t>&amp; {{ 7*7 }}</w:t>"}, None),  # accepted, printed as typed
        ({"b-level": "extreme"}, "Inte ett giltigt val"),
        ({"b-level": ""}, "Välj den bedömda nivån"),
        ({"b-decided_on": "2026-13-45"}, "Ange ett giltigt datum"),
    ],
    ids=["password", "name", "empty", "control", "huge", "markup", "bad-level", "no-level", "date"],
)
def test_hostile_or_wrong_decisions_change_nothing_and_keep_what_was_typed(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    overrides: dict[str, str],
    message: str | None,
) -> None:
    doc = make(app, world, "threat_assessment")
    auth.login("manager")
    send(client, doc)
    version = doc.version
    resp = decide(client, doc, **overrides)
    body = resp.get_data(as_text=True)
    db.session.refresh(doc)
    if message is None:
        assert resp.status_code == 302
        assert doc.data["decision"] == overrides["b-decision"]
        return
    assert resp.status_code == 200
    assert message in body or str(escape(message)) in body
    assert doc.version == version and not doc.data.get("decision")
    if overrides.get("b-decision") and len(overrides["b-decision"]) < 100:
        assert str(escape(overrides["b-decision"])) in body


def test_only_the_districts_managers_may_decide(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(app, world, "threat_assessment")
    auth.login("caseworker")
    assert client.get(f"/documents/{doc.id}/decide").status_code == 403
    assert decide(client, doc).status_code == 403
    auth.logout()
    auth.login("other_caseworker")
    assert client.get(f"/documents/{doc.id}/decide").status_code in (403, 404)
    consent = make(app, world, "consent")
    auth.logout()
    auth.login("manager")
    assert client.get(f"/documents/{consent.id}/decide").status_code == 404


def test_decide_refuses_when_the_assessment_lacks_measures(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(app, world, "threat_assessment", measures=[])
    auth.login("manager")
    page = client.get(f"/documents/{doc.id}/decide").get_data(as_text=True)
    assert "minst en åtgärd" in page and "Komplettera bedömningen" in page
    resp = decide(client, doc)
    assert resp.status_code == 200 and "minst en åtgärd" in resp.get_data(as_text=True)
    db.session.refresh(doc)
    assert doc.version == 1 and not doc.data.get("decision")


def test_a_requirement_naming_a_field_the_form_lacks_stops_the_app(app: Flask) -> None:
    registry = dict(runtime(app).registry)
    ta = registry["threat_assessment"]
    registry["threat_assessment"] = dataclasses.replace(
        ta, required_before_signing={"manager": ("decison",)}
    )
    with pytest.raises(RegistryError, match="decison"):
        check(registry)


def test_a_scan_upload_page_is_unaffected_for_consents(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = make(app, world, "consent")
    auth.login("caseworker")
    reqs = send(client, doc)
    resp = client.post(
        f"/documents/{doc.id}/paper",
        data={"requests": [str(reqs[0].id)], "scan": (io.BytesIO(png_scan()), "s.png")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
