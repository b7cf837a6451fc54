"""Identity plausibility at registration (issue 10, defect 8), through HTTP on both databases.

A '+' number is read as 100 years or older relative to the registration date and refused when
that makes the person older than 120; a birth date in the future is refused; an age outside the
target group is a warning that must be confirmed; one record per number and district, with a
link to the existing record; another district's record is never shown, a protected one not even
hinted at; two registrations at the same instant give one record.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from markupsafe import escape

from formsvc.extensions import db
from formsvc.models import AuditEvent, Participant
from formsvc.services import signing
from tests.conftest import PASSWORD, Auth, World

BASE = {"first_name": "Sara", "last_name": "Nilsson", "id_kind": "personnummer"}
#: Placeholders for tomorrow's date, filled in by the test at run time (not at collection).
TOMORROW, TOMORROW_12_DIGITS = "<tomorrow>", "<tomorrow as 12 digits>"


def luhn(digits: str) -> str:
    """The check digit of the nine digits YYMMDDNNN."""
    total = 0
    for i, c in enumerate(digits):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def number(born: date, sep: str = "-", long: bool = False, serial: str = "123") -> str:
    """A valid personnummer for *born* (10 digits with *sep*, or 12 digits)."""
    short = born.strftime("%y%m%d") + serial
    check = luhn(short)
    head = born.strftime("%Y%m%d") if long else born.strftime("%y%m%d")
    return f"{head}{sep}{serial}{check}"


def years_ago(years: int, days: int = 0) -> date:
    today = signing.today_local()
    return today.replace(year=today.year - years) - timedelta(days=days)


def _count() -> int:
    return db.session.scalar(db.select(db.func.count(Participant.id)))


def _post(client: FlaskClient, **fields: str) -> Any:
    return client.post("/participants/new", data={**BASE, **fields})


# -- century and plausible birth dates ---------------------------------------------------------


def test_plus_number_that_would_be_over_120_is_refused_and_nothing_stored(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    # "620101+NNNN": '+' means 100 or older, so 1862 — before the fix registered as 164 years old
    auth.login("caseworker")
    typed = number(date(1962, 1, 1), sep="+")
    resp = _post(client, id_number=typed, target_group="sig_unga_vuxna")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "1862-01-01" in html and "tecknet + att personen har fyllt 100 år" in html
    assert str(escape(typed)) in html  # what was typed is kept
    assert _count() == 2  # only the world's two participants


def test_plus_number_of_a_centenarian_gets_the_right_century(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    born = years_ago(101)
    resp = _post(
        client, id_number=number(born, sep="+"), target_group="sig_unga_vuxna", confirm_age="y"
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    p = db.session.scalars(db.select(Participant).where(Participant.first_name == "Sara")).one()
    assert p.birth_date == born and p.id_number == number(born, long=True)


def test_ten_digits_with_minus_are_under_100_relative_to_the_registration_date(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    # born tomorrow 100 years ago: with '-' the person is 99, not 100 years in the future
    auth.login("caseworker")
    born = years_ago(100) + timedelta(days=1)
    resp = _post(client, id_number=number(born), target_group="sig_unga_vuxna", confirm_age="y")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    p = db.session.scalars(db.select(Participant).where(Participant.first_name == "Sara")).one()
    assert p.birth_date == born


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        (
            "12 digits in the future",
            {"id_number": TOMORROW_12_DIGITS},
            "ligger i framtiden",
        ),
        (
            "12 digits over 120 years",
            {"id_number": number(date(1890, 5, 5), long=True)},
            "ger en ålder på",
        ),
        (
            "12 digits with + under 100",
            {"id_number": number(date(1990, 5, 5), sep="+", long=True)},
            "Skriv ett bindestreck i stället",
        ),
        (
            "samordningsnummer over 120 years",
            {
                "id_kind": "samordningsnummer",
                "id_number": "050175+1234",  # day 75 = the 15th; '+' makes it 1905
            },
            "1905-01-15",
        ),
        (
            "birth date in the future",
            {
                "id_kind": "birth_date",
                "birth_date": TOMORROW,
            },
            "ligger i framtiden",
        ),
        (
            "birth date over 120 years",
            {"id_kind": "birth_date", "birth_date": "1899-12-31"},
            "ger en ålder på",
        ),
    ],
)
def test_impossible_birth_dates_are_refused(
    client: FlaskClient, auth: Auth, world: World, kind: str, fields: dict, message: str
) -> None:
    auth.login("caseworker")
    # "tomorrow" is worked out when the test runs, not when it was collected: a run that
    # crosses midnight (Stockholm time) would otherwise post today's date as the future one
    tomorrow = signing.today_local() + timedelta(days=1)
    when = {TOMORROW: tomorrow.isoformat(), TOMORROW_12_DIGITS: number(tomorrow, long=True)}
    fields = {k: when.get(v, v) for k, v in fields.items()}
    resp = _post(client, target_group="sig_unga_vuxna", confirm_age="y", **fields)
    assert resp.status_code == 200 and message in resp.get_data(as_text=True), kind
    assert _count() == 2


def test_samordningsnummer_is_read_with_day_minus_60_and_its_century(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    resp = _post(
        client, id_kind="samordningsnummer", id_number="050175-1234", target_group="sig_unga_vuxna"
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    p = db.session.scalars(db.select(Participant).where(Participant.first_name == "Sara")).one()
    assert (p.id_number, p.birth_date) == ("20050175-1234", date(2005, 1, 15))


# -- target group ------------------------------------------------------------------------------


def test_age_outside_the_target_group_must_be_confirmed(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    born = years_ago(62)
    typed = number(born)
    resp = _post(client, id_number=typed, target_group="sig_unga_vuxna")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Deltagaren är 62 år i dag" in html and "19–29 år" in html
    assert 'name="confirm_age"' in html and str(escape(typed)) in html
    assert _count() == 2
    resp = _post(client, id_number=typed, target_group="sig_unga_vuxna", confirm_age="y")
    assert resp.status_code == 302
    event = db.session.scalars(
        db.select(AuditEvent).where(
            AuditEvent.action == "create", AuditEvent.object_type == "participant"
        )
    ).one()
    assert event.details == {"confirmed": ["age"]}
    assert typed not in str(event.details)


def test_age_inside_the_group_and_no_confirmation_box(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    html = client.get("/participants/new").get_data(as_text=True)
    assert 'name="confirm_age"' not in html
    resp = _post(client, id_number=number(years_ago(15)), target_group="sig_unga")
    assert resp.status_code == 302


def test_editing_only_the_name_does_not_ask_again_but_a_new_group_does(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    typed = number(years_ago(25))
    assert (
        _post(client, id_number=typed, target_group="sig_unga", confirm_age="y").status_code == 302
    )
    p = db.session.scalars(db.select(Participant).where(Participant.first_name == "Sara")).one()
    url = f"/participants/{p.id}/edit"
    data = {**BASE, "id_number": p.id_number, "target_group": "sig_unga"}
    assert client.post(url, data={**data, "first_name": "Sarah"}).status_code == 302
    html = client.post(url, data={**data, "birth_date": ""}).get_data(as_text=True)
    assert "Deltagaren är 25 år" not in html
    resp = client.post(url, data={**data, "target_group": "sig_unga_vuxna"})
    assert resp.status_code == 302  # 25 fits 19–29: nothing to confirm
    html = client.post(url, data={**data, "target_group": "sig_unga"}).get_data(as_text=True)
    assert "Deltagaren är 25 år i dag" in html


# -- duplicates --------------------------------------------------------------------------------


def test_same_number_twice_in_a_district_is_refused_with_a_link(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    born = years_ago(15)
    assert (
        _post(client, id_number=number(born, long=True), target_group="sig_unga").status_code == 302
    )
    first = db.session.scalars(db.select(Participant).where(Participant.first_name == "Sara")).one()
    # the same number typed in its other form is the same person
    resp = _post(client, id_number=number(born), target_group="sig_unga", first_name="Sarah")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Numret är redan registrerat i stadsdelen." in html
    assert f'href="/participants/{first.id}"' in html
    assert _count() == 3


def test_editing_to_another_participants_number_is_refused(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    auth.login("caseworker")
    a, b = number(years_ago(15)), number(years_ago(16))
    assert _post(client, id_number=a, target_group="sig_unga").status_code == 302
    assert _post(client, id_number=b, target_group="sig_unga", first_name="Bo").status_code == 302
    bo = db.session.scalars(db.select(Participant).where(Participant.first_name == "Bo")).one()
    resp = client.post(
        f"/participants/{bo.id}/edit",
        data={**BASE, "first_name": "Bo", "id_number": a, "target_group": "sig_unga"},
    )
    assert resp.status_code == 200
    assert "Numret är redan registrerat i stadsdelen." in resp.get_data(as_text=True)
    db.session.expire_all()
    assert bo.id_number == number(years_ago(16), long=True)
    # saving the record with its own number is no duplicate
    resp = client.post(
        f"/participants/{bo.id}/edit",
        data={**BASE, "first_name": "Bosse", "id_number": b, "target_group": "sig_unga"},
    )
    assert resp.status_code == 302


def _protected(world: World, district: Any, typed: str, by: str) -> Participant:
    p = world.add_participant(district, "Hemlig", "Person", years_ago(15))
    p.id_kind, p.id_number, p.protected_identity = "personnummer", typed, True
    p.assignments.clear()
    db.session.commit()
    return p


def test_a_protected_duplicate_is_refused_without_name_or_link(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    hidden = _protected(world, world.home, number(years_ago(15), long=True), "manager")
    auth.login("caseworker")  # not assigned to the protected participant
    resp = _post(client, id_number=number(years_ago(15)), target_group="sig_unga")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "du har inte tillgång till den registreringen" in html
    assert f'href="/participants/{hidden.id}"' not in html and "Hemlig" not in html


def test_another_districts_record_gives_a_warning_that_reveals_nothing(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    typed = number(years_ago(15))
    auth.login("caseworker")
    assert _post(client, id_number=typed, target_group="sig_unga").status_code == 302
    home = db.session.scalars(db.select(Participant).where(Participant.first_name == "Sara")).one()
    auth.logout()
    auth.login("other_caseworker")
    resp = _post(
        client, id_number=typed, target_group="sig_unga", first_name="Okänd", last_name="Ny"
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Numret är redan registrerat i en annan stadsdel." in html
    assert 'name="confirm_other_district"' in html
    for secret in (
        "Rinkeby-Kista",
        "Sara",
        "Nilsson",
        f"/participants/{home.id}",
        "Test caseworker",
    ):
        assert secret not in html
    resp = _post(
        client,
        id_number=typed,
        target_group="sig_unga",
        first_name="Okänd",
        confirm_other_district="y",
    )
    assert resp.status_code == 302
    assert _count() == 4


def test_another_districts_protected_record_is_not_even_hinted_at(
    client: FlaskClient, auth: Auth, world: World
) -> None:
    typed = number(years_ago(15))
    _protected(world, world.home, number(years_ago(15), long=True), "manager")
    auth.login("other_caseworker")
    resp = _post(client, id_number=typed, target_group="sig_unga")
    assert resp.status_code == 302  # exactly what an unknown number gives


# -- hostile input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id_number", "\u202d20080101-1230", "ÅÅÅÅMMDD-NNNN"),
        ("id_number", "２００８０１０１-１２３０", "ÅÅÅÅMMDD-NNNN"),  # full-width digits
        ("id_number", "20080101-1230" + "0" * 10_000, "Högst 15 tecken"),
        ("birth_date", "2008-02-30", "Inte ett giltigt datum"),
        ("target_group", "sig_alla", "Inte ett giltigt val"),
        ("id_kind", "passport", "Inte ett giltigt val"),
    ],
)
def test_hostile_registration_input_gets_an_error_and_stores_nothing(
    client: FlaskClient, auth: Auth, world: World, field: str, value: str, message: str
) -> None:
    auth.login("caseworker")
    fields = {"id_number": "20080101-1230", "target_group": "sig_unga", field: value}
    if field == "birth_date":
        fields["id_kind"] = "birth_date"
    resp = client.post("/participants/new", data={**BASE, **fields})
    assert resp.status_code == 200 and message in resp.get_data(as_text=True)
    assert _count() == 2


# -- race --------------------------------------------------------------------------------------


def _session(base: str, username: str) -> requests.Session:
    s = requests.Session()
    resp = s.post(f"{base}/login", data={"username": username, "password": PASSWORD}, timeout=30)
    assert resp.status_code == 200 and "Logga ut" in resp.text
    return s


def test_two_registrations_at_the_same_instant_give_one_record(
    live_server: str, world: World
) -> None:
    typed = number(years_ago(15))
    sessions = [_session(live_server, "caseworker"), _session(live_server, "manager")]
    barrier = threading.Barrier(2)
    out: list[Any] = [None, None]

    def register(i: int) -> None:
        barrier.wait()
        try:
            out[i] = sessions[i].post(
                f"{live_server}/participants/new",
                data={**BASE, "id_number": typed, "target_group": "sig_unga"},
                allow_redirects=False,
                timeout=120,
            )
        except Exception as exc:  # surfaced by the assertions below
            out[i] = exc

    threads = [threading.Thread(target=register, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=150)
    assert all(isinstance(r, requests.Response) for r in out), out
    assert sorted(r.status_code for r in out) == [200, 302], [r.text[:500] for r in out]
    loser = next(r for r in out if r.status_code == 200)
    assert "Numret är redan registrerat i stadsdelen." in loser.text
    db.session.expire_all()
    assert (
        db.session.scalar(
            db.select(db.func.count(Participant.id)).where(
                Participant.id_number == number(years_ago(15), long=True)
            )
        )
        == 1
    )
