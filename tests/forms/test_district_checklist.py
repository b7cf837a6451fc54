"""Checklista för stadsdelsförvaltningen: answered by management, answers proposed from facts."""

from __future__ import annotations

import re
import subprocess
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms import contact_list, district_checklist
from formsvc.forms.district_checklist import DistrictChecklistForm
from formsvc.models import Document
from formsvc.services import checklists, documents
from tests.conftest import Auth, World
from tests.helpers import docx_text, post_data

URL = "/district/documents/new/district_checklist"


def _rows(html: str) -> dict[str, dict[str, Any]]:
    """Question text -> the answer checked and the comment shown, as the form page has them."""
    out = {}
    for index, text in re.findall(r'<span id="questions-(\d+)-answer-q">([^<]*)</span>', html):
        checked = re.search(
            rf'<input checked[^>]*name="questions-{index}-answer"[^>]*value="(\w+)"', html
        )
        comment = re.search(rf'<input[^>]*name="questions-{index}-comment"[^>]*>', html)
        value = re.search(r'value="([^"]*)"', comment.group(0)) if comment else None
        out[text] = {
            "answer": checked.group(1) if checked else None,
            "comment": value.group(1) if value else "",
        }
    return out


def _layout_text(pdf: bytes) -> str:
    """The PDF's text laid out as printed, so a question and its boxes share a line."""
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return out.stdout.decode()


def _question(rows: dict[str, dict[str, Any]], word: str) -> dict[str, Any]:
    return next(row for text, row in rows.items() if word in text.lower())


def _data() -> dict[str, Any]:
    """The sample with the database's item ids (the form only accepts the active items)."""
    data = district_checklist.sample()
    entries = checklists.entries("district")
    data["questions"] = [
        {**row, "item_id": e.item_id, "text": e.text}
        for row, e in zip(data["questions"], entries, strict=True)
    ]
    return data


def test_only_the_districts_management_answers_it(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    assert client.get(URL).status_code == 403
    auth.logout()
    auth.login("manager")
    html = client.get(URL).get_data(as_text=True)
    assert 'value="Test manager, Lots/samordnare"' in html  # answered by: the author
    assert len(_rows(html)) == 8


def test_answers_are_proposed_from_what_the_service_knows(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    rows = _rows(client.get(URL).get_data(as_text=True))
    assert _question(rows, "kontaktlista") == {
        "answer": "no",
        "comment": "Förslag från tjänsten: Det finns ingen kontaktlista för samverkan "
        "(bilaga 1) för stadsdelen.",
    }
    talk = _question(rows, "säkerhetssamtal")
    assert talk["answer"] == "no"
    assert talk["comment"] == (
        "Förslag från tjänsten: 0 av 2 medarbetare har haft säkerhetssamtal de senaste 12 "
        "månaderna."
    )
    assert _question(rows, "samverkansforum") == {"answer": None, "comment": ""}

    store = app.extensions["formsvc.store"]
    documents.create(
        app.extensions["formsvc.registry"]["contact_list"],
        contact_list.sample(),
        actor=world.users["caseworker"],
        store=store,
    )
    competence = app.extensions["formsvc.registry"]["competence"]
    for who in ("caseworker", "manager"):
        documents.create(
            competence,
            competence.sample(),
            actor=world.users["manager"],
            employee=world.users[who],
            store=store,
        )
    html = client.get(URL).get_data(as_text=True)
    rows = _rows(html)
    assert _question(rows, "kontaktlista")["answer"] == "yes"
    competence_row = _question(rows, "kompetenskrav")
    assert competence_row["answer"] == "yes"
    assert "2 av 2 medarbetare har gått igenom checklistan" in competence_row["comment"]
    # the same proposals are shown above the form
    notices = "\n".join(re.findall(r'<p class="flash warning" role="status">(.*?)</p>', html))
    assert "Har en kontaktlista för samverkan upprättats på strategisk nivå? " in notices
    assert "Tjänstens förslag: Ja. Det finns en kontaktlista för samverkan" in notices
    assert "0 av 2 medarbetare har haft säkerhetssamtal" in notices


def test_proposals_follow_the_item_text_an_administrator_edits(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    items = {i.text: i for i in checklists.items("district")}
    talk = next(i for t, i in items.items() if "säkerhetssamtal" in t)
    forum = next(i for t, i in items.items() if "samverkansforum" in t)
    admin = world.users["admin"]
    checklists.edit(talk, "Har all operativ personal haft samtal om säkerhet i år?", actor=admin)
    checklists.edit(forum, "Finns en aktuell kontaktlista för samverkan?", actor=admin)
    auth.login("manager")
    rows = _rows(client.get(URL).get_data(as_text=True))
    assert rows["Har all operativ personal haft samtal om säkerhet i år?"]["answer"] is None
    assert rows["Finns en aktuell kontaktlista för samverkan?"]["answer"] == "no"


def test_answers_and_comments_are_printed_question_by_question(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    data = _data()
    unanswered = post_data(
        DistrictChecklistForm, data, **{"questions-5-answer": "", "questions-5-comment": ""}
    )
    assert client.post(URL, data=unanswered).status_code == 302
    doc = db.session.scalars(db.select(Document)).one()
    assert doc.data["questions"][0]["comment"] == "Lokalt BRÅ, Rinkeby-Kista, möts varje kvartal"
    assert doc.data["questions"][0]["text"].startswith("Finns det ett samverkansforum")
    text = docx_text(client.get(f"/documents/{doc.id}/download.docx").data)
    assert "Ja 5, nej 2, obesvarade 1 (av 8)" in text
    assert "Kommentar: 5 av 6 medarbetare; samtal med den sjätte bokat i december" in text
    assert "Maria Lindqvist, avdelningschef individ- och familjeomsorg" in text
    pdf = _layout_text(client.get(f"/documents/{doc.id}/download.pdf").data)
    lines = [re.sub(r"\s+", " ", line).strip() for line in pdf.splitlines()]
    forum = next(line for line in lines if "samverkansforum på övergripande" in line)
    assert forum.endswith("☒ Ja ☐ Nej")
    follow_up = next(line for line in lines if "efterfrågan på uppföljning" in line)
    assert follow_up.endswith("☐ Ja ☒ Nej")
    structures = next(line for line in lines if "tydliga strukturer" in line)
    assert structures.endswith("☐ Ja ☐ Nej")  # left unanswered


def test_who_answered_is_required_and_answers_are_yes_or_no(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    html = client.post(
        URL, data=post_data(DistrictChecklistForm, _data(), answered_by="")
    ).get_data(as_text=True)
    assert "Ange vem som besvarade checklistan." in html
    html = client.post(
        URL, data=post_data(DistrictChecklistForm, _data(), **{"questions-0-answer": "na"})
    ).get_data(as_text=True)
    assert "Välj ett av svaren." in html
    assert db.session.scalar(db.select(db.func.count(Document.id))) == 0
