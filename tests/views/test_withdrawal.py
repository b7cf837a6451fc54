"""Withdrawing a consent wholly or in part, and what /verify says about it afterwards (issue 10,
defects 4 and 6). Through HTTP, on SQLite and PostgreSQL (FORMSVC_TEST_DB)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document
from formsvc.services import consents, signing
from tests.conftest import PASSWORD, Auth, World
from tests.helpers import pdf_text
from tests.views.test_signing import send, sign_all_in_person, starting_today
from tests.views.test_signing_concurrency import at_once, session_for

KISTA = "Fotbollsföreningen IK Kista"
OTHER_KIND = "Andra uppgifter: Uppgifter om fritidsaktiviteter"


@pytest.fixture
def active(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> Document:
    """The sample consent, in force from today, signed by all three and sealed."""
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    sign_all_in_person(client, app, consent_doc)
    assert consent_doc.status == "active"
    return consent_doc


def withdraw(client: FlaskClient, doc: Document, **fields: Any) -> Any:
    data: dict[str, Any] = {
        "withdrawn_on": signing.today_local().isoformat(),
        "how": "oral",
        "withdrawn_by": "participant",
        "extent": "all",
        **fields,
    }
    return client.post(f"/documents/{doc.id}/withdraw", data=data)


def records() -> list[Document]:
    return list(
        db.session.scalars(
            select(Document).where(Document.type_slug == "consent_withdrawal").order_by(Document.id)
        )
    )


def verify(app: Flask, pdf: bytes) -> str:
    resp = app.test_client().post(
        "/verify", data={"pdf": (io.BytesIO(pdf), "dok.pdf")}, content_type="multipart/form-data"
    )
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def state_box(body: str) -> str:
    """The "does it still apply" section of /verify, tags removed, whitespace folded."""
    found = re.search(r'<section class="state state-(\w+)".*?</section>', body, re.S)
    assert found, body
    return found.group(1) + " " + " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split())


# --------------------------------------------------------------------------- /verify (defect 4)


def test_verify_tells_a_withdrawn_consent_no_longer_applies_beside_genuine_and_unchanged(
    app: Flask, client: FlaskClient, active: Document
) -> None:
    sealed = client.get(f"/documents/{active.id}/signed.pdf").data
    period = f"{active.data['period_from']} – {active.data['period_to']}"
    before = verify(app, sealed)
    assert state_box(before).startswith("ok ")
    assert "Gäller" in state_box(before) and period in state_box(before)
    assert withdraw(client, active, details="Ringde").status_code == 302

    body = verify(app, sealed)
    box = state_box(body)
    # the file is still the one we sealed, and the page says so separately ...
    assert "Dokumentet är äkta och oförändrat" in body
    # ... but it no longer applies: in words, with a date, an icon and the "bad" tone
    assert box.startswith("bad ")
    assert "Återkallat – gäller inte längre" in box
    assert f"Återkallat helt den {signing.today_local().isoformat()}" in box
    assert period in box
    assert 'class="state-icon"' in body
    assert ">Gäller<" not in body.replace(" ", "")


def test_verify_of_a_partly_withdrawn_consent_names_what_is_withdrawn_and_what_remains(
    app: Flask, client: FlaskClient, active: Document
) -> None:
    sealed = client.get(f"/documents/{active.id}/signed.pdf").data
    resp = withdraw(client, active, extent="part", scope_actors=["a2"], scope_kinds=["other"])
    assert resp.status_code == 302
    box = state_box(verify(app, sealed))
    assert box.startswith("warn ")
    assert "Delvis återkallat" in box
    assert f"Aktörer: {KISTA}" in box and f"Slag av uppgifter: {OTHER_KIND}" in box
    assert "Gäller fortfarande för" in box and "Skola/elevhälsa" in box
    assert not re.search(r"<strong>\s*Gäller\s*</strong>", verify(app, sealed))


@pytest.mark.parametrize(
    ("change", "words", "tone"),
    [
        ({"status": "voided"}, "Makulerat – gäller inte", "bad"),
        ({"data_period": ("2020-01-01", "2020-06-30")}, "giltighetstiden har gått ut", "bad"),
        ({"data_period": ("2999-01-01", "2999-06-30")}, "giltighetstiden har inte börjat", "warn"),
    ],
)
def test_verify_tells_voided_expired_and_not_yet_started(
    app: Flask, client: FlaskClient, active: Document, change: dict, words: str, tone: str
) -> None:
    sealed = client.get(f"/documents/{active.id}/signed.pdf").data
    values: dict[str, Any] = {}
    if "status" in change:
        values["status"] = change["status"]
    else:
        start, end = change["data_period"]
        values["data"] = {**active.data, "period_from": start, "period_to": end}
    # a core UPDATE, as retention and expiry do: the sealed row's ORM guard stays in place
    db.session.execute(update(Document).where(Document.id == active.id).values(**values))
    db.session.commit()
    box = state_box(verify(app, sealed))
    assert box.startswith(f"{tone} ") and words in box


# --------------------------------------------------------------------------- partial (defect 6)


def test_partial_withdrawal_for_an_actor_and_the_free_text_kind_keeps_the_rest_in_force(
    app: Flask, client: FlaskClient, active: Document, world: World
) -> None:
    form = client.get(f"/documents/{active.id}/withdraw").get_data(as_text=True)
    assert "Vårdnadshavare Maria Öberg" in form and KISTA in form and OTHER_KIND in form
    resp = withdraw(
        client,
        active,
        extent="part",
        scope_actors=["a2"],
        scope_kinds=["other"],
        withdrawn_by="guardian:0",
        how="written",
    )
    assert resp.status_code == 302
    db.session.refresh(active)
    assert active.status == "active"  # a partial withdrawal does not end the consent
    [record] = records()
    assert record.data["scope"] == "part" and record.data["consent_id"] == active.id
    assert record.data["withdrawn_by"] == "guardian"
    assert record.data["withdrawn_by_name"] == "Maria Öberg"
    assert record.data["recorded_by"] == "Test caseworker"
    assert record.data["recorded_by_id"] == world.users["caseworker"].id

    # who may we share with today: the club is gone, the school stays
    shared = page(client, f"/participants/{world.participant.id}")
    assert KISTA not in shared and "Skola/elevhälsa" in shared
    assert "Uppgifter om fritidsaktiviteter" not in shared

    # links both ways
    consent_page = page(client, f"/documents/{active.id}")
    assert f'href="/documents/{record.id}"' in consent_page and record.reference in consent_page
    assert "Delvis återkallat" in consent_page
    record_page = page(client, f"/documents/{record.id}")
    assert f'href="/documents/{active.id}"' in record_page
    assert "Vårdnadshavare Maria Öberg" in record_page and "Test caseworker" in record_page

    # the printed record: what the consent covered (with the free text), what is withdrawn,
    # who withdrew, who recorded it, whom to tell
    text = " ".join(pdf_text(client.get(f"/documents/{record.id}/download.pdf").data).split())
    assert "Medgivandet återkallas delvis" in text
    assert text.count(OTHER_KIND) == 2  # covered, and withdrawn
    assert "Vårdnadshavare Maria Öberg" in text and "Test caseworker" in text
    assert "Skriftligt" in text
    for covered in ("Polismyndigheten", "Skola/elevhälsa", "Frivården", KISTA):
        assert covered in text, covered
    assert (
        "Medgivandet gäller fortfarande för: Polismyndigheten, Skola/elevhälsa, Frivården" in text
    )


def test_may_share_subtracts_withdrawn_actors_kinds_and_the_free_text(
    client: FlaskClient, active: Document, world: World
) -> None:
    from formsvc.forms.consent import FROM_ACTOR, TO_ACTOR

    today = signing.today_local()
    pid = world.participant.id
    assert consents.may_share(pid, KISTA, "housing", TO_ACTOR, today).allowed
    assert consents.may_share(pid, "Skola/elevhälsa", "school", FROM_ACTOR, today).allowed
    resp = withdraw(
        client, active, extent="part", scope_actors=["a2"], scope_kinds=["school", "other"]
    )
    assert resp.status_code == 302
    assert not consents.may_share(pid, KISTA, "housing", TO_ACTOR, today).allowed
    assert not consents.may_share(pid, "Skola/elevhälsa", "school", FROM_ACTOR, today).allowed
    assert consents.may_share(pid, "Skola/elevhälsa", "housing", FROM_ACTOR, today).allowed
    assert consents.may_share(pid, "Polismyndigheten", "police", TO_ACTOR, today).allowed
    [(_doc, cover)] = consents.on_day(pid, today).valid
    assert cover.other == ""  # the free-text kind is withdrawn too


def test_successive_partial_withdrawals_then_the_last_actor_ends_the_consent(
    client: FlaskClient, active: Document
) -> None:
    assert withdraw(client, active, extent="part", scope_kinds=["police"]).status_code == 302
    assert withdraw(client, active, extent="part", scope_actors=["a0", "a1"]).status_code == 302
    db.session.refresh(active)
    assert active.status == "active"
    first, second = records()
    assert second.data["earlier"] == [first.reference]
    # a kind already withdrawn is not offered again, and a forged re-post changes nothing
    form = page(client, f"/documents/{active.id}/withdraw")
    assert "Polisens uppgifter om misstankar" not in form and "Skola/elevhälsa" not in form
    assert withdraw(client, active, extent="part", scope_kinds=["police"]).status_code == 200
    assert len(records()) == 2
    # taking the remaining actors away leaves nothing: the consent ends
    resp = withdraw(client, active, extent="part", scope_actors=["police", "a2"])
    assert resp.status_code == 302
    db.session.refresh(active)
    assert active.status == "withdrawn"
    assert records()[-1].data["scope"] == "all"
    consent_page = page(client, f"/documents/{active.id}")
    for r in records():
        assert f'href="/documents/{r.id}"' in consent_page
    assert "Återkalla medgivandet" not in consent_page


def test_someone_else_must_be_named(client: FlaskClient, active: Document) -> None:
    resp = withdraw(client, active, withdrawn_by="other", withdrawn_by_name="")
    assert "Skriv namnet på den som återkallade." in resp.get_data(as_text=True)
    resp = withdraw(client, active, withdrawn_by="other", withdrawn_by_name="Farbror Sven")
    assert resp.status_code == 302
    [record] = records()
    assert record.data["withdrawn_by"] == "other"
    assert record.data["withdrawn_by_name"] == "Farbror Sven"


# --------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "fields",
    [
        {"extent": "part", "scope_actors": ["a99"]},
        {"extent": "part", "scope_actors": ["a0\u202e"]},
        {"extent": "part", "scope_actors": ["<a2/>&"]},
        {"extent": "part", "scope_actors": ["a" * 100_000]},
        {"extent": "part", "scope_kinds": ["debts"]},
        {"extent": "part", "scope_kinds": ["other\u200b"]},
        {"extent": "part", "scope_kinds": ["Andra uppgifter: Uppgifter om fritidsaktiviteter"]},
        {"extent": "part"},  # nothing chosen
        {"extent": "some"},
        {"withdrawn_by": "guardian:7"},
        {"withdrawn_by": "guardian:-1"},
        {"withdrawn_by": "guardian:x"},
        {"withdrawn_by": "guardian"},  # not one of this consent's guardians by name
        {"withdrawn_by": "staff"},
        {"withdrawn_by": "other", "withdrawn_by_name": "Sven\u202eevS"},
        {"withdrawn_by": "other", "withdrawn_by_name": "Sven\x00"},
        {"withdrawn_by": "other", "withdrawn_by_name": "S" * 201},
    ],
)
def test_forged_or_hostile_scope_is_refused_in_swedish_and_nothing_is_withdrawn(
    client: FlaskClient, active: Document, fields: dict[str, Any]
) -> None:
    resp = withdraw(client, active, **fields)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200, body[:500]
    assert 'class="errors"' in body
    assert "Not a valid choice" not in body
    db.session.refresh(active)
    assert active.status == "active" and records() == []
    assert consents.withdrawn_scope(active).actors == frozenset()


def test_xml_breaking_name_of_someone_else_is_printed_literally(
    client: FlaskClient, active: Document
) -> None:
    name = '<w:t>&amp; "Sven" {{ 7*7 }}'
    resp = withdraw(client, active, withdrawn_by="other", withdrawn_by_name=name)
    assert resp.status_code == 302
    [record] = records()
    text = pdf_text(client.get(f"/documents/{record.id}/download.pdf").data)
    assert name in " ".join(text.split())


def test_a_consent_of_another_district_cannot_be_withdrawn(
    app: Flask, client: FlaskClient, auth: Auth, active: Document
) -> None:
    other = app.test_client()
    other.post("/login", data={"username": "other_caseworker", "password": PASSWORD})
    assert other.get(f"/documents/{active.id}/withdraw").status_code == 404
    resp = other.post(
        f"/documents/{active.id}/withdraw",
        data={
            "withdrawn_on": signing.today_local().isoformat(),
            "how": "oral",
            "withdrawn_by": "participant",
            "extent": "all",
        },
    )
    assert resp.status_code == 404
    db.session.refresh(active)
    assert active.status == "active" and records() == []


def test_an_unsigned_consent_is_withdrawn_wholly_or_not_at_all(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    assert "Bara för vissa aktörer" not in page(client, f"/documents/{consent_doc.id}/withdraw")
    resp = withdraw(client, consent_doc, extent="part", scope_actors=["a2"])
    assert resp.status_code == 302
    db.session.refresh(consent_doc)
    assert consent_doc.status == "awaiting_signatures" and records() == []


# --------------------------------------------------------------------------- parallel


@pytest.mark.parametrize("extent", ["part", "all"])
def test_parallel_withdrawals_happen_once(
    app: Flask, live_server: str, active: Document, extent: str
) -> None:
    sessions = [session_for(live_server, "caseworker") for _ in range(4)]
    url = f"{live_server}/documents/{active.id}/withdraw"
    data = {
        "withdrawn_on": signing.today_local().isoformat(),
        "how": "oral",
        "withdrawn_by": "participant",
        "extent": extent,
        "scope_actors": ["a2"],
    }
    responses = at_once(
        *(lambda s=s: s.post(url, data=data, allow_redirects=False) for s in sessions)
    )
    assert all(r.status_code in (200, 302) for r in responses), [r.status_code for r in responses]
    db.session.expire_all()
    assert len(records()) == 1
    action = "withdraw" if extent == "all" else "withdraw_part"
    assert (
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == action, AuditEvent.object_id == str(active.id)
            )
        )
        == 1
    )


def page(client: FlaskClient, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)
