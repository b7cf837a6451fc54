"""Checklist items are data: administrators edit them; filled documents keep their texts."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import ChecklistItem, Document
from formsvc.runtime import runtime
from formsvc.services import checklists
from tests.conftest import Auth, World
from tests.helpers import docx_text, post_data


def _items(slug: str) -> list[ChecklistItem]:
    return checklists.items(slug, include_retired=True)


def _fill_competence(app: Flask, client: FlaskClient, world: World) -> Document:
    dtype = runtime(app).registry["competence"]
    entries = checklists.entries("competence")
    data = {
        "assessed_on": "2026-11-20",
        "training_plan": "",
        "requirements": [{"item_id": e.item_id, "answer": "met", "comment": ""} for e in entries],
    }
    uid = world.users["caseworker"].id
    resp = client.post(
        f"/staff/{uid}/documents/new/competence", data=post_data(dtype.form_class, data)
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return db.session.scalars(db.select(Document)).one()


def test_admin_adds_edits_retires_and_reorders(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("admin")
    html = client.get("/admin/checklists").get_data(as_text=True)
    assert "Genomförs minst ett säkerhetssamtal" in html  # the guidance's defaults
    resp = client.post(
        "/admin/checklists?list=competence",
        data={"text": "Kunskap om <traumamedvetet> arbete & bemötande"},
    )
    assert resp.status_code == 302
    items = _items("competence")
    added = items[-1]
    assert added.text == "Kunskap om <traumamedvetet> arbete & bemötande"
    client.post(f"/admin/checklists/items/{added.id}/up")
    assert [i.id for i in _items("competence")][-2] == added.id
    client.post(f"/admin/checklists/items/{added.id}", data={"text": "Traumamedvetet arbete"})
    client.post(f"/admin/checklists/items/{added.id}/retire")
    db.session.expire_all()
    assert added.text == "Traumamedvetet arbete" and added.active is False
    assert added.id not in [e.item_id for e in checklists.entries("competence")]


def test_bad_checklist_input_is_refused(client: FlaskClient, auth: Auth, world: World) -> None:
    auth.login("admin")
    html = client.post("/admin/checklists?list=competence", data={"text": "x\x0by"}).get_data(
        as_text=True
    )
    assert "kontrolltecken" in html and "x\x0by" in html
    assert client.post("/admin/checklists?list=nope", data={"text": "x"}).status_code == 404
    assert client.post("/admin/checklists/items/999999/retire").status_code == 404
    item = _items("competence")[0]
    assert client.post(f"/admin/checklists/items/{item.id}/explode").status_code == 404
    html = client.post(f"/admin/checklists/items/{item.id}", data={"text": "Å" * 1001}).get_data(
        as_text=True
    )
    assert "Högst 1000 tecken" in html


def test_filled_document_keeps_item_texts_after_admin_edits(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    doc = _fill_competence(app, client, world)
    first = _items("competence")[0]
    original = first.text
    checklists.edit(first, "Helt ny formulering av kravet", actor=world.users["admin"])
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    assert original in text and "Helt ny formulering" not in text
    # editing the old document still shows its own items
    assert original in client.get(f"/documents/{doc.id}/edit").get_data(as_text=True)


def test_forged_checklist_item_ids_are_refused(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    dtype = runtime(app).registry["competence"]
    entries = checklists.entries("competence")
    rows = [{"item_id": e.item_id, "answer": "met", "comment": ""} for e in entries]
    for forged in ("999999", "abc", str(entries[0].item_id)):
        data = {"assessed_on": "2026-11-20", "requirements": [*rows, {"item_id": forged}]}
        resp = client.post(
            f"/staff/{world.users['caseworker'].id}/documents/new/competence",
            data=post_data(dtype.form_class, data),
        )
        assert resp.status_code == 200
        assert "punkter som inte finns" in resp.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0
