"""Individuell behovs- och resursinventering (bilaga 3.1): nine fixed life areas, rated by the
participant; rows cannot be forged, duplicated or lost."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from formsvc.extensions import db
from formsvc.forms.needs_inventory import AREAS, NeedsInventoryForm, sample
from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services import documents
from tests.conftest import Auth, World
from tests.helpers import docx_text, post_data

AREA_NAMES = [
    "Boende",
    "Fysisk hälsa",
    "Psykisk hälsa",
    "Sysselsättning/skola",
    "Ekonomi och skulder",
    "Nätverk, familj och vänner",
    "Fritid",
    "Kriminalitet",
    "Missbruk",
]


def _url(world: World) -> str:
    return f"/participants/{world.participant.id}/documents/new/needs_inventory"


def _count() -> int:
    return db.session.scalar(db.select(db.func.count(Document.id)))


def _shown_areas(html: str) -> list[str]:
    """The area names of the table's rows, in the order shown."""
    return re.findall(r'name="areas-\d+-area"[^>]*><strong>([^<]*)</strong>', html)


def test_new_inventory_shows_the_nine_areas_by_name_with_labelled_fields(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.get(_url(world)).get_data(as_text=True)
    assert _shown_areas(html) == AREA_NAMES  # no blank extra row, none missing, in order
    # a screen reader hears which area a field in the table belongs to
    assert ">Egen skattning – Ekonomi och skulder</label>" in html
    assert ">Prioritet – Missbruk</label>" in html
    assert 'value="Åsa Öberg (deltagare), Test caseworker (lots/samordnare)"' in html


def test_saved_inventory_prints_every_area_its_rating_and_the_priorities(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    resp = client.post(_url(world), data=post_data(NeedsInventoryForm, sample()))
    assert resp.status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    assert [row["area"] for row in doc.data["areas"]] == list(AREAS)
    assert doc.data["areas"][3]["priority"] == "1"
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    for expected in (
        "Daniel Karlsson (deltagare), Karin Lind (lots/samordnare)",
        "Nätverk, familj och vänner",
        "1 – mycket dåligt",
        "Morbror Hassan och fotbollstränaren i IK Tensta.",
        "1. Sysselsättning/skola",
        "2. Ekonomi och skulder",
        "3. Kriminalitet",
        "trött på att se sig över axeln",
    ):
        assert expected in text
    page = client.get(f"/documents/{doc.id}").get_data(as_text=True)
    assert '<li value="1">Sysselsättning/skola</li>' in page


def test_forged_area_key_is_refused_with_a_swedish_error(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(NeedsInventoryForm, sample(), **{"areas-0-area": "garage"})
    resp = client.post(_url(world), data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Okänt livsområde. Ladda om sidan och fyll i igen." in html
    assert "Bor hos mamma i en tvåa" in html  # what was typed is kept
    assert _count() == 0


def test_an_area_twice_is_refused(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("caseworker")
    data = post_data(NeedsInventoryForm, sample(), **{"areas-1-area": "housing"})
    html = client.post(_url(world), data=data).get_data(as_text=True)
    assert "Livsområdet Boende finns redan i tabellen." in html
    assert _count() == 0


def test_a_priority_can_be_given_to_one_area_only(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(NeedsInventoryForm, sample(), **{"areas-0-priority": "1"})
    html = client.post(_url(world), data=data).get_data(as_text=True)
    assert "Prioritet 1 är redan given åt Boende." in html
    assert _count() == 0


def test_rows_removed_or_added_in_the_browser_still_give_the_nine_areas(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    posted = post_data(NeedsInventoryForm, sample())
    # "Ta bort" on the mental-health row, then "Lägg till rad" (a copy of the last row, left empty)
    data = MultiDict([(k, v) for k, v in posted.items(multi=True) if not k.startswith("areas-2-")])
    data.add("areas-9-area", "substance_use")
    assert client.post(_url(world), data=data).status_code == 302
    stored = db.session.scalars(db.select(Document)).one().data["areas"]
    assert [row["area"] for row in stored] == list(AREAS)
    assert stored[2] == {
        "area": "mental_health",
        "rating": "",
        "description": "",
        "resources": "",
        "wants_change": "",
        "priority": "",
    }


def test_a_filled_in_copy_of_a_row_is_refused_and_kept(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    data = post_data(NeedsInventoryForm, sample())
    data.add("areas-9-area", "substance_use")
    data.add("areas-9-description", "Dricker på helgerna")
    html = client.post(_url(world), data=data).get_data(as_text=True)
    assert "Livsområdet Missbruk finns redan i tabellen." in html
    assert "Dricker på helgerna" in html
    assert _count() == 0


def test_editing_stored_data_missing_an_area_shows_it_again(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    data = sample()
    data["areas"] = [row for row in data["areas"] if row["area"] != "leisure"]
    doc = documents.create(
        runtime(app).registry["needs_inventory"],
        data,
        actor=world.users["caseworker"],
        participant=world.participant,
        store=runtime(app).store,
    )
    auth.login("caseworker")
    html = client.get(f"/documents/{doc.id}/edit").get_data(as_text=True)
    assert _shown_areas(html) == AREA_NAMES
    # the document prints every area even so
    assert "Fritid" in docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
