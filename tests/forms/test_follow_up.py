"""Uppföljning (bilaga 3.4): discharge details only at discharge, a source for every yes or no,
and a document without the participant's name (it is sent de-identified)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms.follow_up import INDICATORS, FollowUpForm, sample
from formsvc.models import Document
from tests.conftest import Auth, World
from tests.helpers import docx_text, pdf_text, post_data

ENROLMENT = {
    "assessment": "enrolment",
    "discharged_on": "",
    "discharge_reason": "",
    "discharge_comment": "",
}


def _url(world: World) -> str:
    return f"/participants/{world.participant.id}/documents/new/follow_up"


def _count() -> int:
    return db.session.scalar(db.select(db.func.count(Document.id)))


def _post(client: FlaskClient, world: World, **overrides: str) -> tuple[int, str]:
    resp = client.post(_url(world), data=post_data(FollowUpForm, sample(), **overrides))
    return resp.status_code, resp.get_data(as_text=True)


def test_enrolment_is_stored_flat_and_printed_without_the_participants_name(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    status, _ = _post(client, world, **ENROLMENT)
    assert status == 302
    doc = db.session.scalars(db.select(Document)).one()
    assert doc.data["assessment"] == "enrolment" and doc.data["discharged_on"] is None
    assert doc.data["debts_enforcement"] == "yes"
    assert doc.data["debts_enforcement_source"] == "other_actor"
    indicator_keys = {k for key in INDICATORS for k in (key, f"{key}_source")}
    assert set(doc.data) == indicator_keys | {
        "assessment",
        "assessed_on",
        "enrolled_on",
        "discharged_on",
        "discharge_reason",
        "discharge_comment",
        "gender",
        "target_group",
    }
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    assert "Första bedömning – vid inskrivning" in text
    # the group at the assessment as stored, though the participant is in SIG unga today
    assert world.participant.target_group == "sig_unga"
    assert "SIG unga vuxna (19–29 år)" in text and "SIG unga (12–20 år)" not in text
    assert "Utskrivningsdatum" not in text
    assert "Åsa Öberg" not in text and "Öberg" not in text


def test_discharge_prints_reason_and_indicators_in_the_pdf(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    status, _ = _post(client, world)
    assert status == 302
    doc = db.session.scalars(db.select(Document)).one()
    text = " ".join(pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data).split())
    for expected in (
        "Andra bedömning – vid utskrivning",
        "Planenligt avslut",
        "2026-11",
        "Misstänkt för brottslighet under de senaste sex månaderna",
        "Vet ej",
        "Socialtjänsten",
    ):
        assert expected in text
    assert "Öberg" not in text
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert "Har skulder hos Kronofogden: Ja (annan aktör)" in page


def test_discharge_requires_date_and_reason(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("caseworker")
    status, html = _post(client, world, discharged_on="", discharge_reason="")
    assert status == 200
    assert "Ange utskrivningsdatum vid utskrivning." in html
    assert "Ange orsak till utskrivningen." in html
    assert "Målen i handlingsplanen är uppnådda" in html  # what was typed is kept
    assert _count() == 0


def test_reason_other_must_be_described(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("caseworker")
    status, html = _post(client, world, discharge_reason="other", discharge_comment="")
    assert status == 200 and "Beskriv orsaken till utskrivningen." in html
    assert _count() == 0


def test_discharge_details_are_refused_at_enrolment(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    status, html = _post(client, world, assessment="enrolment")
    assert status == 200
    assert html.count("Fyll bara i utskrivningsuppgifter vid den andra bedömningen") == 3
    assert _count() == 0


def test_discharge_cannot_precede_enrolment(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("caseworker")
    status, html = _post(client, world, discharged_on="2025-11-30")
    assert status == 200
    assert "Utskrivningsdatumet kan inte vara före inskrivningsdatumet." in html
    assert _count() == 0


def test_yes_or_no_needs_a_source_but_unknown_does_not(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    status, html = _post(client, world, suspected_crime_source="")
    assert status == 200 and "Ange varifrån uppgiften kommer." in html
    assert _count() == 0
    status, _ = _post(client, world, suspected_crime="unknown", suspected_crime_source="")
    assert status == 302


def test_every_indicator_and_gender_must_be_answered(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    status, html = _post(client, world, housing="", gender="")
    assert status == 200
    assert "Svara ja, nej eller vet ej." in html
    assert "Välj kön (eller ”uppgift saknas”)." in html
    assert _count() == 0


def test_the_printed_copy_is_de_identified_as_its_title_says(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    """No name, assessor, document number or exact date: months only, in PDF and Word."""
    auth.login("caseworker")
    status, html = _post(client, world)
    assert status == 302
    doc = db.session.scalars(db.select(Document)).one()
    pdf = " ".join(pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data).split())
    docx = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    for text in (pdf, docx):
        assert "Avidentifierad utskrift" in text
        assert "avidentifierad till socialförvaltningen" in " ".join(text.split())
        for identifying in ("Öberg", "Test caseworker", doc.reference, "SIG-20", "Bedömd av"):
            assert identifying not in text, identifying
        assert not re.search(r"\d{4}-\d{2}-\d{2}", text), re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert "Inskrivningsmånad 2025-12" in pdf and "2026-11" in pdf
    # the stored data keeps the exact dates (statistics by period read them)
    assert doc.data["enrolled_on"] == "2025-12-03" and doc.data["discharged_on"] == "2026-11-27"
    form = client.get(f"/documents/{doc.id}/edit").get_data(as_text=True)
    assert "Skriv inga namn eller andra uppgifter som pekar ut deltagaren" in form


def test_relapse_into_crime_or_substance_abuse_are_reasons_of_their_own(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    """Issue 17: "substance" is a new key; "crime" keeps its key under the city's wording."""
    auth.login("caseworker")
    for reason, label in (
        ("substance", "Avbrott – återfall i missbruk"),
        ("crime", "Avbrott – återfall i brott"),
    ):
        status, _ = _post(client, world, discharge_reason=reason)
        assert status == 302
        doc = db.session.scalars(db.select(Document).order_by(Document.id.desc())).first()
        assert doc is not None and doc.data["discharge_reason"] == reason
        assert label in docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
        assert label in client.get(f"/documents/{doc.id}").get_data(as_text=True)
