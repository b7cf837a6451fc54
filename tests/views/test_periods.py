"""Closed statistics periods through HTTP: who closes, hostile input, the edit lock, corrections."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.forms.follow_up import FollowUpForm, sample
from formsvc.models import ClosedPeriod, Document, PeriodCorrection
from formsvc.runtime import runtime
from formsvc.services import documents, periods, statistics
from tests.conftest import PASSWORD, Auth, World
from tests.helpers import post_data

URL = "/statistics/periods/"
H1 = {"from": "2025-01-01", "to": "2025-06-30", "confirm": "yes"}


def follow_up(app: Flask, world: World, **data: Any) -> Document:
    dtype = runtime(app).registry["follow_up"]
    return documents.create(
        dtype,
        {**sample(), **data},
        actor=world.users["caseworker"],
        participant=world.participant,
        store=runtime(app).store,
    )


def enrolment(on: str) -> dict[str, Any]:
    return {
        "assessment": "enrolment",
        "enrolled_on": on,
        "discharged_on": None,
        "discharge_reason": "",
        "discharge_comment": "",
    }


def closed_count() -> int:
    db.session.remove()
    return db.session.scalar(select(func.count(ClosedPeriod.id))) or 0


@pytest.fixture
def locked(app: Flask, world: World) -> Document:
    """A follow-up enrolled in 2025's first half, which the analyst has closed."""
    doc = follow_up(app, world, **enrolment("2025-03-01"))
    periods.close(
        date(2025, 1, 1), date(2025, 6, 30), actor=world.users["analyst"], today=date(2026, 12, 7)
    )
    return doc


# --------------------------------------------------------------------------- who


@pytest.mark.parametrize(
    ("who", "get", "post"),
    [
        (None, 302, 302),
        ("caseworker", 403, 403),
        ("manager", 200, 403),
        ("admin", 403, 403),
        ("analyst", 200, 302),
    ],
)
def test_analysts_close_managers_look_others_are_refused(
    client: FlaskClient, auth: Auth, world: World, who: str | None, get: int, post: int
) -> None:
    if who:
        auth.login(who)
    page = client.get(URL)
    assert page.status_code == get
    if get == 200:
        assert ("Stäng perioden" in page.text) == (who == "analyst")
    resp = client.post(URL, data=H1)
    assert resp.status_code == post
    if who is None:
        assert "/login" in resp.headers["Location"]
    assert closed_count() == (1 if who == "analyst" else 0)


def test_closing_shows_the_period_with_who_and_when(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("analyst")
    resp = client.post(URL, data=H1, follow_redirects=True)
    assert resp.status_code == 200
    assert "Perioden 2025-01-01–2025-06-30 är stängd." in resp.text
    assert "analyst" in resp.text and "Hela staden" in resp.text
    assert "statistics/?from=2025-01-01&amp;to=2025-06-30" in resp.text


# --------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({**H1, "from": "2025-13-01"}, "Ange startdatum som ÅÅÅÅ-MM-DD"),
        ({**H1, "to": "30/6 2025"}, "Ange slutdatum som ÅÅÅÅ-MM-DD"),
        ({**H1, "from": ""}, "Ange startdatum"),
        ({**H1, "from": "2025-01-01" + "9" * 100_000}, "Ange startdatum"),
        ({**H1, "to": "<script>alert(1)</script>"}, "Ange slutdatum"),
        ({**H1, "from": "2025-07-01", "to": "2025-06-30"}, "kan inte vara före startdatumet"),
        ({**H1, "to": "9999-12-31"}, "har tagit slut"),
        ({k: v for k, v in H1.items() if k != "confirm"}, "Bekräfta att du förstår"),
        ({**H1, "confirm": "on"}, "Bekräfta att du förstår"),
    ],
)
def test_bad_input_closes_nothing_and_says_why(
    client: FlaskClient, auth: Auth, world: World, form: dict[str, str], message: str
) -> None:
    auth.login("analyst")
    resp = client.post(URL, data=form)
    assert resp.status_code == 400
    assert message in resp.text
    assert "<script>alert" not in resp.text
    assert closed_count() == 0


def test_closing_again_or_overlapping_is_refused_with_a_clear_message(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("analyst")
    assert client.post(URL, data=H1).status_code == 302
    again = client.post(URL, data=H1)
    assert again.status_code == 409
    assert "Perioden 2025-01-01–2025-06-30 är redan stängd (av analyst)." in again.text
    overlap = client.post(URL, data={**H1, "from": "2025-06-01", "to": "2025-12-31"})
    assert overlap.status_code == 400
    assert "överlappar den stängda perioden 2025-01-01–2025-06-30" in overlap.text
    assert closed_count() == 1


def test_a_close_without_the_csrf_token_is_refused(make_app: Any, world: World) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        login = client.get("/login")
        token = login.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        client.post(
            "/login", data={"username": "analyst", "password": PASSWORD, "csrf_token": token}
        )
        assert client.get(URL).status_code == 200
        assert client.post(URL, data=H1).status_code == 400
        assert client.post(URL, data={**H1, "csrf_token": "forged"}).status_code == 400
    assert closed_count() == 0


# --------------------------------------------------------------------------- the lock


def test_editing_a_locked_follow_up_sends_to_the_correction_with_a_message(
    client: FlaskClient, auth: Auth, locked: Document
) -> None:
    auth.login("caseworker")
    resp = client.get(f"/documents/{locked.id}/edit")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/documents/{locked.id}/correction")
    page = client.get(resp.headers["Location"])
    assert "räknas i den stängda perioden 2025-01-01–2025-06-30" in page.text
    assert "Skäl till rättelsen" in page.text


def test_a_forged_edit_post_changes_nothing(
    client: FlaskClient, auth: Auth, locked: Document
) -> None:
    auth.login("caseworker")
    data = post_data(FollowUpForm, {**locked.data, "gender": "female"})
    resp = client.post(f"/documents/{locked.id}/edit", data=data, follow_redirects=True)
    assert "kan inte längre ändras som utkast" in resp.text
    db.session.remove()
    doc = db.session.get(Document, locked.id)
    assert doc.version == 1 and doc.data["gender"] == "male"


def test_the_document_page_offers_a_correction_not_an_edit(
    client: FlaskClient, auth: Auth, locked: Document
) -> None:
    auth.login("caseworker")
    page = client.get(f"/documents/{locked.id}")
    assert f'href="/documents/{locked.id}/edit"' not in page.text
    assert f'href="/documents/{locked.id}/correction"' in page.text


def test_a_correction_needs_a_reason_and_keeps_what_was_typed(
    client: FlaskClient, auth: Auth, locked: Document
) -> None:
    auth.login("caseworker")
    data = post_data(FollowUpForm, {**locked.data, "gender": "female"}, reason="   ")
    resp = client.post(f"/documents/{locked.id}/correction", data=data)
    assert resp.status_code == 200
    assert "Skriv varför uppgifterna rättas." in resp.text
    assert '<option selected value="female">' in resp.text
    too_long = post_data(FollowUpForm, dict(locked.data), reason="x" * 1001)
    resp = client.post(f"/documents/{locked.id}/correction", data=too_long)
    assert "högst 1000 tecken" in resp.text
    db.session.remove()
    assert db.session.get(Document, locked.id).version == 1


def test_a_correction_is_saved_and_shown_on_the_document_and_the_period_list(
    client: FlaskClient, auth: Auth, locked: Document
) -> None:
    auth.login("caseworker")
    data = post_data(
        FollowUpForm, {**locked.data, "gender": "female"}, reason="Fel kön <b>registrerat</b>"
    )
    resp = client.post(f"/documents/{locked.id}/correction", data=data, follow_redirects=True)
    assert "Rättelsen är sparad som version 2." in resp.text
    assert "Rättelse efter stängd period 2025-01-01–2025-06-30, version 2" in resp.text
    assert "Fel kön &lt;b&gt;registrerat&lt;/b&gt;" in resp.text
    db.session.remove()
    assert db.session.get(Document, locked.id).data["gender"] == "female"
    assert db.session.scalar(select(PeriodCorrection.reason)) == "Fel kön <b>registrerat</b>"
    auth.logout()
    auth.login("analyst")
    listing = client.get(URL).text
    assert '<td class="num">1</td>' in listing


def test_another_districts_caseworker_cannot_correct(
    client: FlaskClient, auth: Auth, locked: Document
) -> None:
    auth.login("other_caseworker")
    data = post_data(FollowUpForm, dict(locked.data), reason="Rättelse")
    assert client.post(f"/documents/{locked.id}/correction", data=data).status_code == 404
    db.session.remove()
    assert db.session.scalar(select(func.count(PeriodCorrection.id))) == 0


def test_a_new_follow_up_dated_in_a_closed_period_is_saved_as_a_late_entry(
    client: FlaskClient, auth: Auth, world: World, locked: Document
) -> None:
    auth.login("caseworker")
    data = post_data(FollowUpForm, {**sample(), **enrolment("2025-05-05"), "gender": "female"})
    resp = client.post(
        f"/participants/{world.participant.id}/documents/new/follow_up",
        data=data,
        follow_redirects=True,
    )
    assert resp.status_code == 200
    assert "Registrerad efter att perioden 2025-01-01–2025-06-30 stängdes, version 1" in resp.text
    db.session.remove()
    assert db.session.scalars(select(PeriodCorrection.kind)).all() == ["late_entry"]


def test_the_list_says_when_a_frozen_snapshot_was_changed_behind_the_application(
    client: FlaskClient, auth: Auth, locked: Document
) -> None:
    auth.login("analyst")
    assert "stämmer" in client.get(URL).text
    assert "Stämmer inte" not in client.get(URL).text
    cp = db.session.scalars(select(ClosedPeriod)).one()
    cp.snapshot = []
    db.session.commit()
    assert "Stämmer inte: de frysta uppgifterna har ändrats" in client.get(URL).text


def test_an_edit_moving_a_follow_up_into_a_closed_period_becomes_a_correction(
    app: Flask, client: FlaskClient, auth: Auth, world: World, locked: Document
) -> None:
    free = follow_up(app, world, **enrolment("2025-07-01"))
    auth.login("caseworker")
    moved = {**free.data, "enrolled_on": "2025-06-30"}
    resp = client.post(f"/documents/{free.id}/edit", data=post_data(FollowUpForm, moved))
    assert resp.status_code == 200
    assert "kan inte längre ändras som utkast" in resp.text
    assert 'value="2025-06-30"' in resp.text  # what was typed is kept
    assert f'action="/documents/{free.id}/correction"' in resp.text
    db.session.remove()
    assert db.session.get(Document, free.id).version == 1
    data = post_data(FollowUpForm, moved, reason="Fel inskrivningsdatum")
    resp = client.post(f"/documents/{free.id}/correction", data=data, follow_redirects=True)
    assert "Rättelse efter stängd period 2025-01-01–2025-06-30, version 2" in resp.text
    db.session.remove()
    assert db.session.get(Document, free.id).data["enrolled_on"] == "2025-06-30"


# --------------------------------------------------------------------------- the frozen report


def test_the_report_of_a_closed_period_never_changes_and_says_so(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    """A correction after closing changes the live data, never the closed period's report."""
    docs = []
    for i, gender in enumerate(("male",) * 6 + ("female",) * 6):
        p = world.add_participant(world.home, f"Deltagare{i}", "Frysdotter", date(2000, 1, 1))
        dtype = runtime(app).registry["follow_up"]
        docs.append(
            documents.create(
                dtype,
                {**sample(), **enrolment(f"2025-0{1 + i % 6}-10"), "gender": gender},
                actor=world.users["caseworker"],
                participant=p,
                store=runtime(app).store,
            )
        )
    query = statistics.Query(date(2025, 1, 1), date(2025, 6, 30), minimum=1)
    before = statistics.report(query)
    auth.login("analyst")
    assert client.post(URL, data=H1).status_code == 302
    csv_url = "/statistics/aggregates.csv?from=2025-01-01&to=2025-06-30"
    frozen_csv = client.get(csv_url).data
    auth.logout()
    auth.login("caseworker")
    data = post_data(FollowUpForm, {**docs[0].data, "gender": "female"}, reason="Fel kön")
    assert client.post(f"/documents/{docs[0].id}/correction", data=data).status_code == 302
    auth.logout()

    db.session.remove()
    cp = periods.closed_period_for(query)
    assert cp is not None
    assert statistics.report(query, cp.people) == before
    assert statistics.report(query) != before  # the live data has the correction
    auth.login("analyst")
    page = client.get("/statistics/?from=2025-01-01&to=2025-06-30")
    assert page.status_code == 200
    assert "Stängd period: 2025-01-01–2025-06-30" in page.text
    assert "1 rättelse efter stängning – rapporten visar uppgifterna som de var när" in page.text
    assert client.get(csv_url).data == frozen_csv


def test_an_open_period_reads_as_preliminary_with_a_way_to_the_closed_periods(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("manager")
    page = client.get("/statistics/?from=2025-01-01&to=2025-06-30")
    assert "Preliminär: perioden är inte stängd" in page.text
    assert f'href="{URL}"' in page.text
