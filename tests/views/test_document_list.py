"""The district's document list: filters, pages, and only what the user may see."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services import bulk, documents
from tests.conftest import Auth, World


def _consent(app: Flask, world: World, participant: object = None) -> Document:
    dtype = runtime(app).registry["consent"]
    return documents.create(
        dtype,
        dtype.sample(),
        actor=world.users["caseworker"],
        participant=participant or world.participant,
        store=runtime(app).store,
    )


def test_list_filters_by_type_status_participant_and_date(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    older = _consent(app, world)
    older.updated_at -= timedelta(days=400)
    older.status = "expired"
    db.session.commit()
    other = world.add_participant(world.home, "Bertil", "Kvist", world.participant.birth_date)
    newer = _consent(app, world, other)
    auth.login("caseworker")
    html = client.get("/documents/").get_data(as_text=True)
    assert f"/documents/{older.id}" in html and f"/documents/{newer.id}" in html
    html = client.get("/documents/?status=expired").get_data(as_text=True)
    assert f"/documents/{older.id}" in html and f"/documents/{newer.id}" not in html
    html = client.get(f"/documents/?participant={other.id}").get_data(as_text=True)
    assert f'/documents/{newer.id}"' in html and f'/documents/{older.id}"' not in html
    since = (newer.updated_at - timedelta(days=1)).date().isoformat()
    html = client.get(f"/documents/?from={since}").get_data(as_text=True)
    assert f'/documents/{newer.id}"' in html and f'/documents/{older.id}"' not in html
    html = client.get("/documents/?type=nope&status=<x>&from=bad&page=-5").get_data(as_text=True)
    assert f'/documents/{newer.id}"' in html  # nonsense filters are ignored, not a 500


def test_list_pages_through_many_documents(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    bulk.seed(
        district_id=world.home.id,
        documents=120,
        participants=10,
        registry=runtime(app).registry,
        store=runtime(app).store,
    )
    auth.login("caseworker")
    first = client.get("/documents/").get_data(as_text=True)
    assert first.count('href="/documents/') - first.count("/documents/new") >= 50
    assert 'rel="next"' in first and 'rel="prev"' not in first
    third = client.get("/documents/?page=3").get_data(as_text=True)
    assert 'rel="next"' not in third and 'rel="prev"' in third


def test_list_never_shows_other_districts(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    doc = _consent(app, world)
    auth.login("other_caseworker")
    assert f'/documents/{doc.id}"' not in client.get("/documents/").get_data(as_text=True)
