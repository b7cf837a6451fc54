"""Checklista för stadsdelsförvaltningen: answered by management, answers proposed from facts."""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms import competence, contact_list, district_checklist, security_talk
from formsvc.forms.district_checklist import DistrictChecklistForm
from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services import checklists, documents, signing
from formsvc.services.facts import months_before
from tests.conftest import Auth, World
from tests.helpers import docx_text, post_data
from tests.services.test_signing import Flow

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
    since = months_before(signing.today_local(), 12).isoformat()
    assert talk["comment"] == (
        "Förslag från tjänsten: 0 av 2 medarbetare har ett undertecknat och förseglat "
        f"säkerhetssamtal (bilaga 2.0) som hölls {since} eller senare."
    )
    assert _question(rows, "samverkansforum") == {"answer": None, "comment": ""}

    listed = _create(app, world, "contact_list", _contacts(signing.today_local()))
    html = client.get(URL).get_data(as_text=True)
    rows = _rows(html)
    assert _question(rows, "kontaktlista")["answer"] == "yes"
    assert listed.reference in _question(rows, "kontaktlista")["comment"]
    # the same proposals are shown above the form
    notices = "\n".join(re.findall(r'<p class="flash warning" role="status">(.*?)</p>', html))
    assert "Har en kontaktlista för samverkan upprättats på strategisk nivå? " in notices
    assert f"Tjänstens förslag: Ja. Kontaktlistan {listed.reference} uppdaterades" in notices
    assert "0 av 2 medarbetare har ett undertecknat och förseglat säkerhetssamtal" in notices


def _create(app: Flask, world: World, slug: str, data: dict[str, Any], **kw: Any) -> Document:
    return documents.create(
        runtime(app).registry[slug],
        data,
        actor=world.users["manager"],
        store=runtime(app).store,
        **kw,
    )


def _contacts(updated: date, level: str = "both") -> dict[str, Any]:
    data = contact_list.sample()
    data["last_updated"] = updated.isoformat()
    data["contacts"] = [dict(row, level=level) for row in data["contacts"]]
    return data


def _talk(held: date) -> dict[str, Any]:
    data = security_talk.sample()
    data.update(talk_date=held.isoformat(), next_talk=(held + timedelta(days=300)).isoformat())
    return data


def _sealed_talk(app: Flask, world: World, employee: str, held: date) -> Document:
    doc = _create(app, world, "security_talk", _talk(held), employee=world.users[employee])
    flow = Flow(app, world, doc)
    for req, name in zip(flow.send(), ["Test manager", f"Test {employee}"], strict=True):
        flow.sign(req, name)
    assert flow.finalise()
    return db.session.get(Document, doc.id)


def test_security_talks_count_only_when_sealed_and_held_within_12_months(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    """A draft edited today, or a sealed talk held 13 months ago, is no yearly talk."""
    today = signing.today_local()
    sealed = _sealed_talk(app, world, "caseworker", today - timedelta(days=20))
    old = _sealed_talk(app, world, "manager", months_before(today, 13))
    _create(app, world, "security_talk", _talk(today), employee=world.users["manager"])
    waiting = _create(app, world, "security_talk", _talk(today), employee=world.users["manager"])
    Flow(app, world, waiting).send()
    auth.login("manager")
    talk = _question(_rows(client.get(URL).get_data(as_text=True)), "säkerhetssamtal")
    assert talk["answer"] == "no"
    assert (
        "1 av 2 medarbetare har ett undertecknat och förseglat säkerhetssamtal" in (talk["comment"])
    )
    held = (today - timedelta(days=20)).isoformat()
    assert f"Underlag: {sealed.reference} (Test caseworker, {held})." in talk["comment"]
    assert old.reference not in talk["comment"]
    assert (
        "2 samtal som är utkast eller inte undertecknade av alla räknas inte." in (talk["comment"])
    )
    # the manager's talk sealed: both have one, the proposal becomes yes
    _sealed_talk(app, world, "manager", today - timedelta(days=3))
    talk = _question(_rows(client.get(URL).get_data(as_text=True)), "säkerhetssamtal")
    assert talk["answer"] == "yes"
    assert "2 av 2 medarbetare" in talk["comment"]


def test_contact_list_counts_when_updated_within_the_period_and_strategic(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    today = signing.today_local()
    auth.login("manager")
    stale_day = months_before(today, 13)
    stale = _create(app, world, "contact_list", _contacts(stale_day))
    row = _question(_rows(client.get(URL).get_data(as_text=True)), "kontaktlista")
    assert row["answer"] == "no"
    assert f"Kontaktlistan {stale.reference} uppdaterades senast {stale_day}" in row["comment"]
    assert "Den räknas inte som aktuell" in row["comment"]
    assert "de senaste 12 månaderna" in row["comment"]

    operative = _create(app, world, "contact_list", _contacts(today, level="operative"))
    row = _question(_rows(client.get(URL).get_data(as_text=True)), "kontaktlista")
    assert row["answer"] == "no"
    assert f"Kontaktlistan {operative.reference}" in row["comment"]
    assert "har 0 kontakter på strategisk nivå" in row["comment"]

    current = _create(app, world, "contact_list", _contacts(today - timedelta(days=1)))
    # saved last, but the operative-only list has the newest "last updated" date: it counts
    row = _question(_rows(client.get(URL).get_data(as_text=True)), "kontaktlista")
    assert row["answer"] == "no"
    db.session.execute(
        db.update(Document).where(Document.id == operative.id).values(status="voided")
    )
    db.session.commit()
    row = _question(_rows(client.get(URL).get_data(as_text=True)), "kontaktlista")
    assert row["answer"] == "yes"
    assert f"Kontaktlistan {current.reference}" in row["comment"]
    assert "har 5 kontakter på strategisk nivå" in row["comment"]


def test_the_period_a_contact_list_stays_current_is_a_setting(make_app: Any, world: World) -> None:
    today = signing.today_local()
    app = make_app(CONTACT_LIST_CURRENT_MONTHS=24)
    client = app.test_client()
    Auth(client).login("manager")
    with app.app_context():
        _create(app, world, "contact_list", _contacts(months_before(today, 13)))
    row = _question(_rows(client.get(URL).get_data(as_text=True)), "kontaktlista")
    assert row["answer"] == "yes"


def test_competence_distinguishes_checklist_filled_from_requirements_met(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    met = competence.sample()
    met["requirements"] = [dict(r, answer="met") for r in met["requirements"]]
    _create(app, world, "competence", met, employee=world.users["manager"])
    planned = _create(
        app, world, "competence", competence.sample(), employee=world.users["caseworker"]
    )
    auth.login("manager")
    row = _question(_rows(client.get(URL).get_data(as_text=True)), "kompetenskrav")
    assert row["answer"] == "no"
    assert "är ifylld för 2 av 2 medarbetare" in row["comment"]
    assert "Alla krav är uppfyllda för 1 av 2" in row["comment"]
    assert f"{planned.reference} (Test caseworker, 2026-11-20)" in row["comment"]


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
