"""Hostile input in every text field of the consent: shown exactly as typed, or a clear error."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from markupsafe import escape

from formsvc.extensions import db
from formsvc.forms.consent import ConsentForm, sample
from formsvc.models import Document
from tests.conftest import Auth, World
from tests.helpers import docx_text, post_data

TEXT_FIELDS = [
    "police_contact",
    "actors-0-contact",
    "actors-2-other_name",
    "info_other",
    "guardians-0-name",
    "guardians-0-contact",
    "guardians-1-name",
    "withdraw_how",
    "contact_name",
    "contact_title",
]
#: fields with a format of their own: hostile values get that format's error
FORMAT_FIELDS = {"contact_phone": "Ange telefonnumret", "contact_email": "giltig e-postadress"}

PRINTABLE = {
    "markup": "Anna & Bo <b>fet</b> \"citat\" 'apostrof' </w:t>",
    "jinja": "{{ 7*7 }} {% for x in ().__class__.__mro__ %}x{% endfor %}",
    "rtl": "محمد عبد الله",
    "emoji": "Åsa 👩‍👧 Öberg",
}
CONTROL = {"vertical_tab": "Anna\x0bBo", "nul": "Anna\x00Bo", "escape": "Anna\x1bBo"}


def _url(world: World) -> str:
    return f"/participants/{world.participant.id}/documents/new/consent"


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("value", PRINTABLE.values(), ids=PRINTABLE.keys())
def test_printable_hostile_text_reaches_the_docx_exactly(
    client: FlaskClient, auth: Auth, world: World, field: str, value: str
) -> None:
    auth.login("caseworker")
    resp = client.post(_url(world), data=post_data(ConsentForm, sample(), **{field: value}))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    doc = db.session.scalars(db.select(Document)).one()
    docx = client.get(f"/documents/{doc.id}/download.docx")
    assert docx.status_code == 200
    assert value in docx_text(docx.data)


@pytest.mark.parametrize("field", TEXT_FIELDS + list(FORMAT_FIELDS))
@pytest.mark.parametrize("value", CONTROL.values(), ids=CONTROL.keys())
def test_control_characters_get_an_error_and_the_text_is_kept(
    client: FlaskClient, auth: Auth, world: World, field: str, value: str
) -> None:
    auth.login("caseworker")
    resp = client.post(_url(world), data=post_data(ConsentForm, sample(), **{field: value}))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    message = FORMAT_FIELDS.get(field, "osynliga kontrolltecken")
    assert message in html
    assert str(escape(value)) in html
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


@pytest.mark.parametrize("field", TEXT_FIELDS + list(FORMAT_FIELDS))
def test_ten_thousand_characters_get_a_length_error_and_are_kept(
    client: FlaskClient, auth: Auth, world: World, field: str
) -> None:
    auth.login("caseworker")
    value = "Å" * 10_000
    resp = client.post(_url(world), data=post_data(ConsentForm, sample(), **{field: value}))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Högst" in html and "tecken" in html
    assert value in html
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


@pytest.mark.parametrize("field", FORMAT_FIELDS)
@pytest.mark.parametrize("value", PRINTABLE.values(), ids=PRINTABLE.keys())
def test_format_fields_refuse_markup_with_their_own_message(
    client: FlaskClient, auth: Auth, world: World, field: str, value: str
) -> None:
    auth.login("caseworker")
    resp = client.post(_url(world), data=post_data(ConsentForm, sample(), **{field: value}))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert FORMAT_FIELDS[field] in html
    assert str(escape(value)) in html


WRONG_TYPES = {
    "period_from": "not-a-date",
    "period_to": "2027-02-30",
    "actors-0-actor": "police<script>",
    "actors-0-direction": "sideways",
    "info_kinds": "everything",
    "custody": "9999",
    "actors-2-secrecy": "maybe",
}


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES.items(), ids=WRONG_TYPES.keys())
def test_wrong_types_and_forged_choices_are_refused(
    client: FlaskClient, auth: Auth, world: World, field: str, value: str
) -> None:
    auth.login("caseworker")
    resp = client.post(_url(world), data=post_data(ConsentForm, sample(), **{field: value}))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'class="errors"' in html
    assert "Formuläret innehåller fel" in html
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0


def test_too_many_actor_rows_are_refused_not_crashing(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(ConsentForm, sample())
    for i in range(3, 60):
        data.add(f"actors-{i}-actor", "school")
    resp = client.post(_url(world), data=data)
    assert resp.status_code == 200
    assert "Högst 40 aktörer får anges." in resp.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0
