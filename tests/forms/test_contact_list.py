"""Kontaktlista för samverkan (bilaga 1): function contacts only, actors named, versions kept."""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask.testing import FlaskClient
from markupsafe import escape

from formsvc.extensions import db
from formsvc.forms.contact_list import ContactListForm, sample
from formsvc.models import Document
from tests.conftest import Auth, World
from tests.helpers import docx_text, pdf_text, post_data

URL = "/district/documents/new/contact_list"


def _count() -> int:
    return db.session.scalar(db.select(db.func.count(Document.id)))


def test_new_list_warns_against_private_details_and_prefills(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.get(URL).get_data(as_text=True)
    assert "Ange funktionsnummer och funktionsadresser, inte privata uppgifter" in html
    assert f'value="{date.today().isoformat()}"' in html
    assert 'value="Test caseworker"' in html  # the author answers for the list by default
    assert "Annan (ange)" in html and "Maria Ungdom" in html


def test_free_mail_address_is_refused_on_its_row_and_kept(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(ContactListForm, sample(), **{"contacts-2-email": "mikael.nordin@Gmail.com"})
    html = client.post(URL, data=data).get_data(as_text=True)
    assert "mikael.nordin@Gmail.com ser ut att vara en privat e-postadress" in html
    assert "funktionsbrevlåda" in html
    assert 'value="mikael.nordin@Gmail.com"' in html
    assert _count() == 0
    hidden = post_data(ContactListForm, sample(), **{"contacts-0-deputy": "Sara, sara@hotmail.se"})
    html = client.post(URL, data=hidden).get_data(as_text=True)
    assert "sara@hotmail.se ser ut att vara en privat e-postadress" in html
    assert _count() == 0


def test_function_address_at_a_workplace_is_accepted(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(ContactListForm, sample(), **{"contacts-2-email": "rektor@gmail.com.se"})
    assert client.post(URL, data=data).status_code == 302


def test_row_must_name_its_actor(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("caseworker")
    no_actor = post_data(ContactListForm, sample(), **{"contacts-1-actor": ""})
    html = client.post(URL, data=no_actor).get_data(as_text=True)
    assert "Välj vilken aktör raden gäller." in html
    unnamed = post_data(ContactListForm, sample(), **{"contacts-4-other_name": ""})
    html = client.post(URL, data=unnamed).get_data(as_text=True)
    assert "Skriv namnet på aktören." in html
    only_level = post_data(
        ContactListForm, sample(), **{"contacts-5-level": "strategic", "contacts-5-actor": ""}
    )
    html = client.post(URL, data=only_level).get_data(as_text=True)
    assert "Välj vilken aktör raden gäller." in html
    assert _count() == 0


def test_last_updated_cannot_be_in_the_future(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    html = client.post(
        URL, data=post_data(ContactListForm, sample(), last_updated=tomorrow)
    ).get_data(as_text=True)
    assert "Datumet kan inte vara senare än i dag." in html
    assert _count() == 0


def test_saved_list_prints_every_contact_and_keeps_each_version(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(ContactListForm, sample(), **{"contacts-5-function": ""})  # a blank row
    assert client.post(URL, data=data).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    assert len(doc.data["contacts"]) == 5  # the blank row is dropped
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    for expected in (
        "Socialtjänst (enheter) – Barn och ungdom",
        "Fotbollsföreningen IK Kista",
        "Ersättare: Sara Holm, områdespolis",
        "Nås fredagar och lördagar till kl. 01",
        "faltassistenter.rinkeby-kista@stockholm.se",
        "Strategisk och operativ nivå",
        "5 (varav 2 på strategisk nivå)",
    ):
        assert expected in text, expected

    edited = post_data(
        ContactListForm,
        sample(),
        **{"contacts-0-contact_person": "Eva Ek", "contacts-0-deputy": ""},
    )
    assert client.post(f"/documents/{doc.id}/edit", data=edited).status_code == 302
    db.session.expire_all()
    assert doc.version == 2
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert "Versioner" in page and f"/documents/{doc.id}/v1/download.pdf" in page
    first = docx_text(client.get(f"/documents/{doc.id}/v1/download.docx").data)
    second = docx_text(client.get(f"/documents/{doc.id}/v2/download.docx").data)
    assert "Anders Berg" in first and "Anders Berg" not in second and "Eva Ek" in second
    assert "Sara Holm" not in second  # no empty "Ersättare:" line either
    assert "Ersättare: Jourhavande socialsekreterare" in second
    pdf = pdf_text(client.get(f"/documents/{doc.id}/download.pdf").data)
    assert "Kontaktlista för samverkan" in pdf and "Polisen/kommunpolis" in pdf


def test_mobile_numbers_get_a_second_look_when_editing(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    assert client.post(URL, data=post_data(ContactListForm, sample())).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    html = client.get(f"/documents/{doc.id}/edit").get_data(as_text=True)
    notices = re.findall(r'<p class="flash warning" role="status">(.*?)</p>', html)
    assert str(escape("Numret 076-123 45 67 är ett mobilnummer.")) in notices[1]
    assert "08-508" not in notices[1]  # landline numbers are not flagged


def test_empty_list_says_so(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("manager")
    data = post_data(ContactListForm, {**sample(), "contacts": []})
    assert client.post(URL, data=data).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    assert "Inga kontakter har förts in i listan." in text
