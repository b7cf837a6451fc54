"""Hotbildsbedömning (bilaga 3.3): only a manager decides; only assigned staff and managers read."""

from __future__ import annotations

from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from formsvc.extensions import db
from formsvc.forms.threat_assessment import GUARDIAN_FIELDS, ThreatAssessmentForm, sample
from formsvc.models import Document, ParticipantAssignment, User
from formsvc.runtime import runtime
from formsvc.services import documents, users
from tests.conftest import PASSWORD, Auth, World
from tests.helpers import docx_text, pdf_layout_text, pdf_text, post_data

DECISION = "Skyddat boende beviljas i två veckor. Beslutat efter samråd med polisen."


def _url(world: World) -> str:
    return f"/participants/{world.participant.id}/documents/new/threat_assessment"


def _count() -> int:
    return db.session.scalar(db.select(db.func.count(Document.id)))


def _assign(world: World, user: User) -> None:
    db.session.add(ParticipantAssignment(participant_id=world.participant.id, user_id=user.id))
    db.session.commit()


def _saved(app: Flask, world: World) -> Document:
    dtype = runtime(app).registry["threat_assessment"]
    return documents.create(
        dtype,
        dtype.sample(),
        actor=world.users["manager"],
        participant=world.participant,
        store=runtime(app).store,
    )


def test_caseworker_cannot_record_the_decision_and_keeps_what_was_typed(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    _assign(world, world.users["caseworker"])
    auth.login("caseworker")
    html = client.get(_url(world)).get_data(as_text=True)
    assert "Beslutsdelen fylls i av arbetsledaren" in html
    data = post_data(
        ThreatAssessmentForm,
        sample(),
        decision=DECISION,
        decided_on="2026-11-12",
        decided_by="Test caseworker",
    )
    resp = client.post(_url(world), data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.count("Bara arbetsledare kan registrera beslutet.") == 3
    assert str(escape(DECISION)) in html and 'value="2026-11-12"' in html
    assert _count() == 0
    # the same assessment without a decision is the caseworker's to save
    assert (
        client.post(_url(world), data=post_data(ThreatAssessmentForm, sample())).status_code == 302
    )


def test_manager_records_the_decision_and_it_is_printed_for_signing(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    html = client.get(_url(world)).get_data(as_text=True)
    assert "Beslutsdelen fylls i av arbetsledaren" not in html
    assert "Sekretess enligt 26 kap. 1 § OSL" in html
    data = post_data(
        ThreatAssessmentForm,
        sample(),
        decision=DECISION,
        decided_on="2026-11-12",
        decided_by="Test manager",
    )
    assert client.post(_url(world), data=data).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    assert doc.data["decision"] == DECISION and doc.data["decided_on"] == "2026-11-12"
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    for expected in (
        DECISION,
        "2026-11-12",
        "Arbetsledare, beslut",
        "Test manager",
        "Beslut ska fattas i samarbete med polismyndigheten.",
    ):
        assert expected in text, expected
    assert "Arbetsledaren har ännu inte registrerat något beslut." not in text
    ptext = pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data)
    assert "Sekretess enligt 26 kap. 1 § OSL" in ptext and "Förhöjd risk" in ptext


def test_decision_cannot_predate_the_assessment(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    data = post_data(ThreatAssessmentForm, sample(), decision=DECISION, decided_on="2026-11-01")
    html = client.post(_url(world), data=data).get_data(as_text=True)
    assert "Beslutet kan inte vara fattat före bedömningen." in html
    assert _count() == 0


def test_level_and_kind_of_measure_are_required(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    html = client.post(
        _url(world), data=post_data(ThreatAssessmentForm, sample(), level="")
    ).get_data(as_text=True)
    assert "Välj den bedömda nivån." in html
    html = client.post(
        _url(world), data=post_data(ThreatAssessmentForm, sample(), **{"measures-1-kind": ""})
    ).get_data(as_text=True)
    assert "Välj slag av åtgärd." in html
    assert "Samtal om skuldsituationen med budget- och skuldrådgivare" in html
    assert _count() == 0


def test_unassigned_caseworker_of_the_district_cannot_open_it(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = _saved(app, world)
    auth.login("caseworker")  # same district, not assigned to the participant
    for url in (
        f"/documents/{doc.id}",
        f"/documents/{doc.id}/edit",
        f"/documents/{doc.id}/download.pdf",
        f"/documents/{doc.id}/v1/download.docx",
    ):
        assert client.get(url).status_code == 404, url
    assert (
        client.post(
            f"/documents/{doc.id}/edit", data=post_data(ThreatAssessmentForm, sample())
        ).status_code
        == 404
    )
    listing = client.get("/documents/").get_data(as_text=True)
    assert f"/documents/{doc.id}" not in listing
    db.session.expire_all()
    assert doc.version == 1


def test_manager_and_assigned_caseworker_can_open_it(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = _saved(app, world)
    auth.login("manager")
    assert client.get(f"/documents/{doc.id}").status_code == 200
    assert f"/documents/{doc.id}" in client.get("/documents/").get_data(as_text=True)
    auth.logout()
    colleague = users.create_user(
        username="assigned_cw",
        full_name="Karin Lind",
        role="caseworker",
        password=PASSWORD,
        district_id=world.home.id,
    )
    _assign(world, colleague)
    auth.login("assigned_cw")
    assert client.get(f"/documents/{doc.id}").status_code == 200
    docx = client.get(f"/documents/{doc.id}/download.docx")
    assert docx.status_code == 200 and "Elias Haddad" not in docx_text(docx.data)
    assert "Åsa Öberg" in docx_text(docx.data)


def test_unassigned_caseworker_cannot_start_an_assessment(client, auth, world) -> None:  # noqa: ANN001
    """Creating a 3.3 is for assigned staff and managers, like reading one."""
    auth.login("caseworker")
    url = f"/participants/{world.participant.id}/documents/new/threat_assessment"
    assert client.get(url).status_code == 403


def _pdf(client: FlaskClient, doc_id: int) -> str:
    return " ".join(pdf_layout_text(client.get(f"/documents/{doc_id}/download.pdf").data).split())


def test_guardians_access_is_a_recorded_menprovning_not_an_absolute_rule(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    """Åsa is 16: without a recorded prövning the PDF says none is recorded, never "never"."""
    auth.login("manager")
    blank = {name: "" for name in GUARDIAN_FIELDS}
    assert client.post(_url(world), data=post_data(ThreatAssessmentForm, sample(), **blank))
    doc = db.session.scalars(db.select(Document)).one()
    text = _pdf(client, doc.id)
    assert "Lämnas inte ut till vårdnadshavare" not in text
    assert "Ingen menprövning är dokumenterad." in text
    assert "12 kap. 3 § OSL" in text and "betydande men" in text
    # recorded: who, when, outcome and the reasoning are printed
    data = post_data(
        ThreatAssessmentForm,
        sample(),
        guardian_outcome="partly",
        guardian_assessed_on="2026-11-13",
        guardian_assessed_by="Helena Sjöberg, enhetschef",
        guardian_reasoning="Uppgifterna om hotaktörerna lämnas inte ut.",
    )
    assert client.post(f"/documents/{doc.id}/edit", data=data).status_code == 302
    text = _pdf(client, doc.id)
    for expected in (
        "Vårdnadshavares insyn (menprövning)",
        "Utfall Kan lämnas ut till vårdnadshavare delvis",
        "Prövad av Helena Sjöberg, enhetschef",
        "Datum 2026-11-13",
        "Uppgifterna om hotaktörerna lämnas inte ut.",
    ):
        assert expected in text, expected
    assert "Ingen menprövning är dokumenterad." not in text


def test_a_menprovning_needs_who_when_outcome_and_reasoning(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    html = client.post(
        _url(world),
        data=post_data(
            ThreatAssessmentForm,
            sample(),
            guardian_outcome="withhold",
            guardian_assessed_on="",
            guardian_assessed_by="",
            guardian_reasoning="",
        ),
    ).get_data(as_text=True)
    for message in (
        "Ange när prövningen gjordes.",
        "Ange vem som gjorde prövningen.",
        "Motivera utfallet kort.",
    ):
        assert message in html
    html = client.post(
        _url(world),
        data=post_data(
            ThreatAssessmentForm,
            sample(),
            guardian_outcome="",
            guardian_assessed_on="2026-11-01",
            guardian_reasoning="Skäl\u202e som skrivits",
        ),
    ).get_data(as_text=True)
    assert "Välj utfallet av prövningen." in html
    assert "Prövningen kan inte vara gjord före bedömningen." in html
    html = client.post(
        _url(world),
        data=post_data(
            ThreatAssessmentForm,
            sample(),
            guardian_outcome="forged",
            guardian_assessed_on="2999-01-01",
            guardian_assessed_by="x" * 201,
        ),
    ).get_data(as_text=True)
    assert "Datumet kan inte vara senare än i dag." in html
    assert "Högst 200 tecken." in html
    assert "x" * 201 in html  # what was typed is kept
    assert _count() == 0


def test_an_adults_assessment_says_guardians_have_no_right_to_it(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    adult = world.add_participant(world.home, "Nils", "Vuxensson", date(2000, 5, 1))
    auth.login("manager")
    url = f"/participants/{adult.id}/documents/new/threat_assessment"
    html = client.post(url, data=post_data(ThreatAssessmentForm, sample())).get_data(as_text=True)
    assert "Deltagaren är myndig: vårdnadshavare har ingen rätt till uppgifterna." in html
    blank = {name: "" for name in GUARDIAN_FIELDS}
    assert (
        client.post(url, data=post_data(ThreatAssessmentForm, sample(), **blank)).status_code == 302
    )
    doc = db.session.scalars(db.select(Document)).one()
    text = _pdf(client, doc.id)
    assert "Deltagaren var 18 år eller äldre vid bedömningen." in text
    assert "Ingen menprövning är dokumenterad." not in text


def test_level_is_the_citys_own_scale_and_police_may_not_have_assessed(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    html = client.post(
        _url(world), data=post_data(ThreatAssessmentForm, sample(), police_view="")
    ).get_data(as_text=True)
    assert "Ange om polisen har bedömt hotbilden." in html
    html = client.post(
        _url(world),
        data=post_data(ThreatAssessmentForm, sample(), police_view="differs", police_view_note=""),
    ).get_data(as_text=True)
    assert "Skriv polisens bedömning." in html
    assert _count() == 0
    data = post_data(
        ThreatAssessmentForm, sample(), police_view="not_assessed", police_view_note=""
    )
    assert client.post(_url(world), data=data).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    text = _pdf(client, doc.id)
    assert "polisens skala" not in text.lower()
    assert "Polisens bedömning Ej bedömd av polisen" in text
    assert "Skalan är stadens egen indelning för den här blanketten" in text
    assert "det är inte polisens bedömningsskala" in text


def test_police_suitability_and_crime_history_have_their_place(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    html = client.post(
        _url(world),
        data=post_data(ThreatAssessmentForm, sample(), suitability_on=""),
    ).get_data(as_text=True)
    assert "Ange när polisen gjorde bedömningen." in html
    assert (
        client.post(_url(world), data=post_data(ThreatAssessmentForm, sample())).status_code == 302
    )
    doc = db.session.scalars(db.select(Document)).one()
    text = _pdf(client, doc.id)
    for expected in (
        "Underlag inför inskrivning",
        "avgörande för det fortsatta arbetet",
        "Lämplighet enligt polisen Lämplig",
        "Brottsdebut 14 år",
        "Självrapporterad brottslighet Berättar om att ha sålt narkotika",
        "De senaste sex månaderna Inga nya misstankar",
    ):
        assert expected in text, expected
    # without them the section is left out
    empty = {
        name: ""
        for name in (
            "suitability",
            "suitability_on",
            "suitability_note",
            "crime_debut",
            "crime_confirmed",
            "crime_self_reported",
            "crime_recent",
        )
    }
    data = post_data(ThreatAssessmentForm, sample(), **empty)
    assert client.post(f"/documents/{doc.id}/edit", data=data).status_code == 302
    assert "Underlag inför inskrivning" not in _pdf(client, doc.id)


def test_the_sample_writes_down_no_whereabouts_and_the_form_warns_against_it(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    text = " ".join(str(v) for v in _strings(sample()))
    for place in ("Uppsala", "skyddat boende hos", "adress"):
        assert place not in text
    auth.login("manager")
    html = client.get(_url(world)).get_data(as_text=True)
    assert "Skriv inte var en hotad person bor eller vistas" in html


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []
