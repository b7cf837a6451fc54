"""Handlingsplan (bilaga 3.5): goals, follow-up as new versions, recipients covered by consent."""

from __future__ import annotations

from datetime import date

from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms.action_plan import ActionPlanForm, sample
from formsvc.models import Document, DocumentRevision
from tests import factories
from tests.conftest import Auth, World
from tests.helpers import docx_text, post_data


def _url(world: World) -> str:
    return f"/participants/{world.participant.id}/documents/new/action_plan"


def _plans() -> list[Document]:
    return list(db.session.scalars(db.select(Document).where(Document.type_slug == "action_plan")))


def _not_followed_up() -> dict:
    """The sample as first written: no follow-up yet."""
    data = sample()
    data["follow_up_date"] = None
    data["follow_up_note"] = ""
    data["goals"] = [{**g, "status": ""} for g in data["goals"]]
    return data


def test_without_consent_the_plan_goes_to_nobody(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.get(_url(world)).get_data(as_text=True)
    assert "Det finns inget sekretessbrytande medgivande (bilaga 3.2) som gäller i dag" in html
    assert f'value="{date.today().isoformat()}"' in html
    resp = client.post(_url(world), data=post_data(ActionPlanForm, sample()))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert (
        "Polismyndigheten får inte handlingsplanen: Det finns inget medgivande som gäller" in html
    )
    assert "Skola/elevhälsa får inte handlingsplanen" in html
    assert _plans() == []
    alone = {**sample(), "distribution": []}
    assert client.post(_url(world), data=post_data(ActionPlanForm, alone)).status_code == 302
    assert len(_plans()) == 1


def test_new_plan_lists_the_actors_that_may_receive_from_us_today(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    factories.consent(app, world.participant, world.users["caseworker"])
    auth.login("caseworker")
    html = client.get(_url(world)).get_data(as_text=True)
    assert 'name="distribution-0-actor" type="text" value="Polismyndigheten"' in html
    assert 'value="Skola/elevhälsa"' in html
    assert 'value="Fotbollsföreningen IK Kista"' in html
    assert 'value="Frivården"' not in html  # it only gives information to us
    assert "Får ta emot uppgifter: Polismyndigheten, Skola/elevhälsa, Fotbollsföreningen" in html


def test_a_draft_consent_covers_nobody(
    client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    """Issue 10 defect 5: an actor only in an unsigned draft is refused."""
    auth.login("caseworker")
    html = client.get(_url(world)).get_data(as_text=True)
    assert f"Medgivandet {consent_doc.reference} räknas inte (utkast)" in html
    assert 'value="Fotbollsföreningen IK Kista"' not in html
    resp = client.post(_url(world), data=post_data(ActionPlanForm, sample()))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Skola/elevhälsa får inte handlingsplanen: Det finns inget medgivande som gäller" in html
    assert _plans() == []


def test_the_consent_in_force_counts_not_the_newest_draft(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    """Issue 10 defect 5: the signed consent covers BUP; a newer draft names Kriminalvården."""
    author = world.users["caseworker"]
    factories.consent(
        app, world.participant, author, actors=[{"actor": "bup", "direction": "both"}]
    )
    draft = factories.consent(
        app, world.participant, author, status="draft",
        actors=[{"actor": "krim", "direction": "both"}],
    )  # fmt: skip
    auth.login("caseworker")
    to_bup = post_data(ActionPlanForm, sample(), **{"distribution-1-actor": "BUP"})
    assert client.post(_url(world), data=to_bup).status_code == 302
    to_krim = post_data(ActionPlanForm, sample(), **{"distribution-1-actor": "Kriminalvården"})
    html = client.post(_url(world), data=to_krim).get_data(as_text=True)
    assert "Kriminalvården får inte handlingsplanen: Kriminalvården finns inte i något" in html
    assert f"Medgivandet {draft.reference} räknas inte (utkast)" in html
    assert 'value="Kriminalvården"' in html
    assert len(_plans()) == 1


def test_names_are_compared_without_case_or_spacing(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    factories.consent(app, world.participant, world.users["caseworker"])
    auth.login("caseworker")
    data = post_data(
        ActionPlanForm,
        sample(),
        **{"distribution-0-actor": "polismyndigheten", "distribution-1-actor": " SKOLA/ELEVHÄLSA "},
    )
    assert client.post(_url(world), data=data).status_code == 302


def test_follow_up_is_a_new_version_with_each_goals_status(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    factories.consent(app, world.participant, world.users["caseworker"])
    auth.login("caseworker")
    first = _not_followed_up()
    assert client.post(_url(world), data=post_data(ActionPlanForm, first)).status_code == 302
    doc = _plans()[0]
    v1 = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    assert "Planen har inte följts upp än." in v1 and "Inte uppföljt" in v1

    no_date = post_data(ActionPlanForm, first, **{"goals-1-status": "achieved"})
    html = client.post(f"/documents/{doc.id}/edit", data=no_date).get_data(as_text=True)
    assert "Ange datum för uppföljningen när du anger målens status." in html

    assert (
        client.post(
            f"/documents/{doc.id}/edit", data=post_data(ActionPlanForm, sample())
        ).status_code
        == 302
    )
    db.session.expire_all()
    assert doc.version == 2
    revisions = db.session.scalars(
        db.select(DocumentRevision)
        .where(DocumentRevision.document_id == doc.id)
        .order_by(DocumentRevision.version)
    ).all()
    assert [[g["status"] for g in r.data["goals"]] for r in revisions] == [
        ["", "", ""],
        ["ongoing", "achieved", "not_achieved"],
    ]
    v2 = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    for expected in ("Planen följdes upp 2027-02-01", "Pågår", "Uppnått", "Ej uppnått"):
        assert expected in v2, expected
    assert "Skuldmötet blev inte av" in v2
    old = docx_text(client.get(f"/documents/{doc.id}/v1/download.docx").data)
    assert "Planen har inte följts upp än." in old and "Uppnått" not in old


def test_goal_rules(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("caseworker")
    data = sample()
    data["goals"] = []
    html = client.post(_url(world), data=post_data(ActionPlanForm, data)).get_data(as_text=True)
    assert "Ange minst ett mål." in html
    bad = post_data(
        ActionPlanForm,
        sample(),
        **{"goals-0-area": "", "goals-1-goal": "", "goals-2-end": "2027-01-01"},
    )
    html = client.post(_url(world), data=bad).get_data(as_text=True)
    assert "Välj behovsområde." in html
    assert "Skriv ett mätbart mål." in html
    assert "Slutdatumet kan inte vara före startdatumet." in html
    early = post_data(ActionPlanForm, sample(), next_follow_up="2027-01-15")
    html = client.post(_url(world), data=early).get_data(as_text=True)
    assert "Nästa uppföljningsmöte kan inte vara före 2027-02-01." in html
    assert _plans() == []


def test_guardian_signs_only_when_the_participant_is_under_18(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    factories.consent(app, world.participant, world.users["caseworker"])
    auth.login("caseworker")
    assert client.post(_url(world), data=post_data(ActionPlanForm, sample())).status_code == 302
    adult = world.add_participant(world.home, "Vuxen", "Person", date(2000, 5, 5))
    factories.consent(app, adult, world.users["caseworker"])
    url = f"/participants/{adult.id}/documents/new/action_plan"
    assert client.post(url, data=post_data(ActionPlanForm, sample())).status_code == 302
    minor, grown = sorted(_plans(), key=lambda d: d.id)
    text = docx_text(client.get(f"/documents/{minor.id}/download.docx").data)
    assert "Deltagare" in text and "Lots/samordnare" in text and "Vårdnadshavare\n" in text
    text = docx_text(client.get(f"/documents/{grown.id}/download.docx").data)
    assert "Vuxen Person" in text and "Test caseworker" in text
    assert "Vårdnadshavare\n" not in text
