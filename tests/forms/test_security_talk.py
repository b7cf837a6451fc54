"""Proaktivt säkerhetssamtal (bilaga 2.0): held by a manager, seen by managers and the employee."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms.security_talk import SecurityTalkForm, add_months, sample
from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services import checklists, documents, users
from tests.conftest import PASSWORD, Auth, World
from tests.helpers import docx_text, pdf_text, post_data


def _url(world: World) -> str:
    return f"/staff/{world.users['caseworker'].id}/documents/new/security_talk"


def _count() -> int:
    return db.session.scalar(db.select(db.func.count(Document.id)))


def _data(**changes: Any) -> dict[str, Any]:
    """The sample, answering the checklist items the database really has."""
    data = {**sample(), **changes}
    for field, slug in (("general", "security_general"), ("social_media", "security_social_media")):
        rows = data[field]
        data[field] = [
            {**rows[i], "item_id": e.item_id, "text": e.text}
            for i, e in enumerate(checklists.entries(slug))
        ]
    return data


def _saved(app: Flask, world: World) -> Document:
    dtype = runtime(app).registry["security_talk"]
    return documents.create(
        dtype,
        _data(),
        actor=world.users["manager"],
        employee=world.users["caseworker"],
        store=runtime(app).store,
    )


def test_new_talk_starts_with_the_manager_the_checklists_and_next_talk_a_year_on(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    html = client.get(_url(world)).get_data(as_text=True)
    assert 'value="Test manager"' in html
    assert "Platsdelning är avstängd i appar och på bilder." in html  # checklist 2.2, as data
    assert "Larm och rutin för ensamarbete är kända och fungerar." in html  # checklist 2.1
    assert "Skriv inte medarbetarens privata adress" in html
    assert f'value="{add_months(date.today(), 12).isoformat()}"' in html


def test_a_caseworker_cannot_hold_a_security_talk(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    assert client.get(_url(world)).status_code == 403
    resp = client.post(_url(world), data=post_data(SecurityTalkForm, _data()))
    assert resp.status_code == 403
    assert _count() == 0


def test_next_talk_more_than_twelve_months_on_is_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    resp = client.post(_url(world), data=post_data(SecurityTalkForm, _data(next_talk="2027-11-21")))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "högst 12 månader fram, alltså senast 2027-11-20" in html
    assert 'value="2027-11-21"' in html  # what was typed is kept
    assert _count() == 0


def test_next_talk_on_or_before_the_talk_is_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    resp = client.post(_url(world), data=post_data(SecurityTalkForm, _data(next_talk="2026-11-20")))
    assert resp.status_code == 200
    assert "Nästa samtal måste ligga efter dagens samtal." in resp.get_data(as_text=True)
    assert _count() == 0


def test_next_talk_exactly_a_year_on_is_accepted_and_stored(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    data = _data(talk_date="2026-02-28", next_talk="2027-02-28")
    resp = client.post(_url(world), data=post_data(SecurityTalkForm, data))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    doc = db.session.scalars(db.select(Document)).one()
    assert doc.subject_user_id == world.users["caseworker"].id
    assert doc.data["next_talk"] == "2027-02-28"
    assert doc.data["risk_threats"] is True
    assert doc.data["general"][2]["answer"] == "na"


def test_document_shows_risks_checklists_measures_and_both_signature_places(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    data = _data(risk_lives_near=True)
    assert client.post(_url(world), data=post_data(SecurityTalkForm, data)).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    for expected in (
        "Test caseworker",  # the employee the talk is about
        "Helena Sjöberg",
        "Bor i eller nära det område där hen arbetar\nJa",
        "Har skyddade personuppgifter\nNej",
        "Hembesök och andra möten där risk kan finnas görs två och två.\nNej\n"
        "Hembesök har gjorts ensam vid två tillfällen",
        "Ej aktuellt",
        "Ta bort arbetsgivaren från LinkedIn-profilen\nMedarbetaren\n2026-12-15",
        "16 av 16 punkter besvarade, varav 3 med svaret Nej.",
        "Nästa säkerhetssamtal ska hållas senast 2027-11-20.",
        "Arbetsledare",
        "Medarbetare",
        "delges säkerhetschef",
    ):
        assert expected in text, expected
    pdf = pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data)
    assert "Underskrifter" in pdf and "delges säkerhetschef" in pdf
    assert pdf.count("Namnförtydligande") == 2  # the manager's and the employee's


def test_without_measures_the_document_says_none_were_agreed(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    data = _data(measures=[])
    assert client.post(_url(world), data=post_data(SecurityTalkForm, data)).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    assert doc.data["measures"] == []
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    assert "Inga särskilda åtgärder har bestämts." in text


def test_only_managers_and_the_employee_see_a_talk_and_only_managers_edit_it(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = _saved(app, world)
    users.create_user(
        username="colleague",
        full_name="Kollega Samma Stadsdel",
        role="caseworker",
        password=PASSWORD,
        district_id=world.home.id,
    )
    auth.login("colleague")
    assert client.get(f"/documents/{doc.id}").status_code == 404
    assert client.get(f"/documents/{doc.id}/download.docx").status_code == 404
    auth.logout()

    auth.login("caseworker")  # the employee the talk is about
    assert client.get(f"/documents/{doc.id}").status_code == 200
    assert client.get(f"/documents/{doc.id}/edit").status_code == 403
    auth.logout()

    auth.login("manager")
    assert client.get(f"/documents/{doc.id}/edit").status_code == 200


def test_our_own_checklists_are_labelled_as_such_never_as_the_citys_annexes(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    """2.1/2.2 are drafted from the guidance: form, PDF and admin page say so."""
    auth.login("manager")
    form = client.get(_url(world)).get_data(as_text=True)
    assert "Generella proaktiva säkerhetsåtgärder (egen checklista)" in form
    assert "Bilaga 2.1 –" not in form and "Bilaga 2.2 –" not in form
    assert client.post(_url(world), data=post_data(SecurityTalkForm, _data())).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    pdf = " ".join(pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data).split())
    assert "Bilaga 2.1 –" not in pdf and "Bilaga 2.2 –" not in pdf
    for expected in (
        "Den är inte stadens bilaga 2.1 och kan ändras av administratören.",
        "Den är inte stadens bilaga 2.2 och kan ändras av administratören.",
        "Checklistorna är stadsdelens egna i stället för vägledningens bilaga 2.1 och 2.2.",
    ):
        assert expected in pdf, expected
    auth.logout()
    auth.login("admin")
    admin = client.get("/admin/checklists").get_data(as_text=True)
    assert admin.count("Egen checklista, skriven utifrån vägledningens text") == 2
