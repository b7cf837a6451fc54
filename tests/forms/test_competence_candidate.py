"""2.3 for a recruitment candidate: managers only, printed as such, never counted as staff."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms import competence_candidate
from formsvc.forms.competence_candidate import CandidateCompetenceForm
from formsvc.models import Document
from formsvc.services import users
from tests.conftest import PASSWORD, Auth, World
from tests.helpers import pdf_layout_text, pdf_text, post_data

URL = "/district/documents/new/competence_candidate"


def _data() -> dict[str, Any]:
    data = competence_candidate.sample()
    data["candidate_name"] = "Leila Haddad"
    data["position"] = "Samordnare, SIG unga vuxna"
    return data


def _post(client: FlaskClient, **overrides: str) -> Any:
    return client.post(URL, data=post_data(CandidateCompetenceForm, _data(), **overrides))


def test_a_manager_fills_it_for_an_applicant_and_the_pdf_says_so(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    assert URL in client.get("/staff/").get_data(as_text=True)
    page = client.get(URL).get_data(as_text=True)
    assert "Den sökandes namn" in page and "inte i uppföljningen" in page
    assert _post(client).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    assert doc.type_slug == "competence_candidate" and doc.subject_user_id is None
    assert doc.data["candidate_name"] == "Leila Haddad"
    text = " ".join(pdf_layout_text(client.get(f"/documents/{doc.id}/download.pdf").data).split())
    for expected in (
        "Checklista kompetenskrav lots/samordnare",
        "Underlag vid rekrytering",
        "gäller en sökande, inte en anställd",
        "Sökande Leila Haddad",
        "Sökt tjänst Samordnare, SIG unga vuxna",
        "Socionomexamen 2019",
    ):
        assert expected in text, expected
    assert "Medarbetare" not in text


def test_caseworkers_neither_create_nor_see_it(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    _post(client)
    doc = db.session.scalars(db.select(Document)).one()
    auth.logout()
    auth.login("caseworker")
    assert client.get(URL).status_code == 403
    assert URL not in client.get("/staff/").get_data(as_text=True)
    assert client.get(f"/documents/{doc.id}").status_code == 404
    assert client.get(f"/documents/{doc.id}/download.pdf").status_code == 404
    assert f"/documents/{doc.id}" not in client.get("/documents/").get_data(as_text=True)
    auth.logout()
    users.create_user(
        username="farsta_chef",
        full_name="Farsta Chef",
        role="manager",
        password=PASSWORD,
        district_id=world.other.id,
    )
    auth.login("farsta_chef")
    assert client.get(f"/documents/{doc.id}").status_code == 404


def test_an_applicant_is_not_counted_among_the_districts_staff(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    _post(client)
    html = client.get("/district/documents/new/district_checklist").get_data(as_text=True)
    assert "är ifylld för 0 av 2 medarbetare" in html
    assert "Leila Haddad" not in html


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Fältet måste fyllas i."),
        ("x" * 201, "Högst 200 tecken."),
        ("Leila\x00Haddad", None),
    ],
)
def test_hostile_applicant_names_are_refused_and_what_was_typed_is_kept(
    client: FlaskClient, auth: Auth, world: World, value: str, message: str | None
) -> None:
    auth.login("manager")
    resp = _post(client, candidate_name=value, training_plan="Behåll den här planen")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    if message:
        assert message in html
    assert "Behåll den här planen" in html
    assert db.session.scalars(db.select(Document)).first() is None


def test_markup_in_the_applicants_name_is_shown_as_typed(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    assert _post(client, candidate_name="<b>Leila</b> & {{ 7*7 }}").status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    assert doc.data["candidate_name"] == "<b>Leila</b> & {{ 7*7 }}"
    text = pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data)
    assert re.search(r"<b>Leila</b> & \{\{ 7\*7 \}\}", text)
