"""The statistics pages and CSV files as analysts and managers get them: right numbers, no names."""

from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms.follow_up import INDICATORS
from formsvc.models import AuditEvent
from formsvc.services.statistics import AGGREGATE_COLUMNS, ROW_COLUMNS
from tests.conftest import PASSWORD, World
from tests.follow_up_data import PERIOD, SMALL_DISTRICT, City, generate, hand

PERIOD_ARGS = f"from={PERIOD[0]}&to={PERIOD[1]}"
URLS = ("/statistics/", "/statistics/aggregates.csv", "/statistics/rows.csv")


@pytest.fixture
def city(app: Flask, world: World) -> City:
    return generate(app, world)


def _client(app: Flask, role: str) -> FlaskClient:
    client = app.test_client()
    client.post("/login", data={"username": role, "password": PASSWORD})
    return client


def _csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads å, ä, ö right
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def _percent(yes: int, n: int, places: int) -> str:
    value = (Decimal(100 * yes) / Decimal(n)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return str(value).replace(".", ",")


def _visible(yes: int, n: int) -> bool:
    """The rule as the issue states it: n, the yes group and the no group all 0 or at least 5."""
    return n >= 5 and yes not in range(1, 5) and n - yes not in range(1, 5)


def test_analyst_sees_the_city_as_a_chart_and_a_table(app: Flask, city: City) -> None:
    resp = _client(app, "analyst").get(f"/statistics/?{PERIOD_ARGS}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    svg = re.search(r"<svg[^>]*>.*?</svg>", html, re.S)
    assert svg and 'role="img"' in svg.group(0) and '<title id="chart-title">' in svg.group(0)
    assert "<desc id=" in svg.group(0) and "Vid inskrivning" in svg.group(0)
    for question in INDICATORS.values():
        assert svg.group(0).count(str(question)) == 2  # the bar label and the description
    expected = hand(city)
    shown = 0
    for key in INDICATORS:
        for when in ("enrolment", "discharge"):
            yes, n = expected["yes"][key, when], expected["n"][key, when]
            if _visible(yes, n):
                shown += 1
                assert f"{_percent(yes, n, 0)}\u00a0%" in html
    assert shown >= 12
    assert "Hela staden" in html and "Rinkeby-Kista" in html  # the district choice


def test_aggregates_csv_matches_a_hand_computation(app: Flask, city: City) -> None:
    resp = _client(app, "analyst").get(f"/statistics/aggregates.csv?{PERIOD_ARGS}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert b"\r\n" in resp.data and b";" in resp.data.splitlines()[0]
    rows = _csv(resp.data)
    assert list(rows[0]) == list(AGGREGATE_COLUMNS)
    assert {r["district"] for r in rows} == {"Hela staden"}
    expected = hand(city)
    by = {(r["section"], r["key"]): r for r in rows}
    total = sum(expected["discharged_gender"].values())
    assert by["discharged_by_gender", "total"]["count"] == str(total)
    assert by["indicator_cohort", "total"]["count"] == str(expected["cohort"])
    for key in INDICATORS:
        for when in ("enrolment", "discharge"):
            row = by[f"indicator_{when}", key]
            yes, n = expected["yes"][key, when], expected["n"][key, when]
            assert row["n"] == str(n)
            if _visible(yes, n):
                assert (row["count"], row["share_percent"]) == (str(yes), _percent(yes, n, 1))
            else:
                assert (row["count"], row["share_percent"], row["note"]) == ("", "", "döljs")


def _bodies(app: Flask, city: City) -> dict[str, str]:
    client = _client(app, "analyst")
    urls = [f"{url}?{PERIOD_ARGS}" for url in URLS]
    urls += [
        f"{url}?{PERIOD_ARGS}&district={d.id}" for url in URLS for d in city.districts.values()
    ]
    bodies = {}
    for url in urls:
        resp = client.get(url)
        assert resp.status_code == 200, url
        if url.startswith("/statistics/rows.csv"):
            rows = _csv(resp.data)
            assert all(re.fullmatch(r"[0-9a-f]{16}", r["pseudonym"]) for r in rows)
            # the pseudonym is random hex: searched apart, it cannot hold a name or a date
            bodies[url] = "\n".join(
                ";".join(v for k, v in r.items() if k != "pseudonym") for r in rows
            )
        else:
            bodies[url] = resp.data.decode("utf-8-sig")
    return bodies


def test_no_name_identity_number_birth_date_or_comment_reaches_the_analyst(
    app: Flask, city: City
) -> None:
    bodies = _bodies(app, city)
    secrets = city.secrets()
    assert len(secrets) > 1000 and any(s.startswith("Hemlig kommentar") for s in secrets)
    for url, body in bodies.items():
        leaked = [s for s in secrets if s in body]
        assert not leaked, (url, leaked[:5])
    rows = _csv(_client(app, "analyst").get(f"/statistics/rows.csv?{PERIOD_ARGS}").data)
    assert list(rows[0]) == list(ROW_COLUMNS)  # no id, name, date of birth or comment column
    assert all(re.fullmatch(r"\d{4}-\d{2}", r["discharged_month"]) for r in rows)


def test_a_district_with_three_discharged_shows_no_numbers(app: Flask, city: City) -> None:
    small = city.districts[SMALL_DISTRICT].id
    client = _client(app, "analyst")
    html = client.get(f"/statistics/?{PERIOD_ARGS}&district={small}").get_data(as_text=True)
    assert "färre än 5" in html
    discharged = re.search(r'<th scope="row">Utskrivna</th>(.*?)</tr>', html, re.S)
    assert discharged and not re.search(r"\d", discharged.group(1).replace("färre än 5", ""))
    assert "/statistics/rows.csv" not in html and "kan inte laddas ner" in html
    rows = _csv(client.get(f"/statistics/aggregates.csv?{PERIOD_ARGS}&district={small}").data)
    for row in rows:
        if row["section"].startswith(("discharge", "indicator")):
            assert (row["count"], row["n"], row["share_percent"]) == ("", "", ""), row
            assert row["note"] == "färre än 5"
    assert _csv(client.get(f"/statistics/rows.csv?{PERIOD_ARGS}&district={small}").data) == []
    # and the whole city's rows leave it out
    city_rows = _csv(client.get(f"/statistics/rows.csv?{PERIOD_ARGS}").data)
    assert SMALL_DISTRICT not in {r["district"] for r in city_rows}


def test_a_manager_sees_only_their_own_district(app: Flask, world: World, city: City) -> None:
    client = _client(app, "manager")
    other = f"{PERIOD_ARGS}&district={world.other.id}"
    html = client.get(f"/statistics/?{other}").get_data(as_text=True)
    assert "Du kan bara se statistik för din egen stadsdel." in html
    assert "Rinkeby-Kista, 2025-01-01 – 2025-12-31" in html
    assert '<select id="f-district"' not in html
    rows = _csv(client.get(f"/statistics/aggregates.csv?{other}").data)
    assert {r["district"] for r in rows} == {"Rinkeby-Kista"}
    by = {(r["section"], r["key"]): r["count"] for r in rows}
    home, farsta = hand(city, world.home.id), hand(city, world.other.id)
    assert by["discharged_by_gender", "total"] == str(sum(home["discharged_gender"].values()))
    assert sum(home["discharged_gender"].values()) != sum(farsta["discharged_gender"].values())
    exported = _csv(client.get(f"/statistics/rows.csv?{other}").data)
    assert {r["district"] for r in exported} == {"Rinkeby-Kista"}
    assert len(exported) == sum(home["discharged_gender"].values())


@pytest.mark.parametrize("role", ["caseworker", "other_caseworker", "security_officer", "admin"])
def test_other_roles_are_refused(app: Flask, world: World, role: str) -> None:
    client = _client(app, role)
    for url in URLS:
        resp = client.get(url)
        assert resp.status_code == 403, (role, url)
        assert b"Din roll har inte beh" in resp.data


@pytest.mark.parametrize(
    ("role", "linked"), [("analyst", True), ("manager", True), ("caseworker", False)]
)
def test_analysts_and_managers_find_statistics_in_the_menu(
    app: Flask, world: World, role: str, linked: bool
) -> None:
    start = _client(app, role).get("/").get_data(as_text=True)
    assert ('href="/statistics/"' in start) is linked
    assert ("Statistik från uppföljningarna" in start) is (role == "analyst")


HOSTILE = [
    ("from=2025-13-01&to=2025-12-31", "Ange startdatum som ÅÅÅÅ-MM-DD", 'value="2025-13-01"'),
    ("from=2025-12-31&to=2025-01-01", "Slutdatumet kan inte vara före startdatumet.", ""),
    ("from=2025-01-01", "Ange slutdatum som ÅÅÅÅ-MM-DD", 'value="2025-01-01"'),
    ("to=2025-06-30", "Ange startdatum som ÅÅÅÅ-MM-DD", ""),
    ("from=1%20jan&to=idag", "Ange startdatum", 'value="1 jan"'),
    ("district=abc", "Välj en stadsdel i listan", ""),
    ("district=99999999999999999999999999999", "Välj en stadsdel i listan", ""),
    ("district=-1", "Välj en stadsdel i listan", ""),
    ("from=%3Cscript%3Ealert(1)%3C/script%3E&to=2025-01-01", "Ange startdatum", "&lt;script&gt;"),
    ("from=" + "9" * 5000 + "&to=2025-01-01", "Ange startdatum", ""),
]


@pytest.mark.parametrize(("query", "message", "kept"), HOSTILE, ids=[h[0][:30] for h in HOSTILE])
def test_hostile_parameters_get_a_swedish_message(
    app: Flask, city: City, query: str, message: str, kept: str
) -> None:
    client = _client(app, "analyst")
    page = client.get(f"/statistics/?{query}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and message in html
    assert kept in html and "<script>alert" not in html
    assert 'class="stats"' not in html  # no statistics for input that was not understood
    for url in URLS[1:]:
        resp = client.get(f"{url}?{query}")
        assert resp.status_code == 400 and resp.mimetype == "text/html"
        assert message in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "page=99999999999999999999999999&per_page=-1",
        "from=0001-01-01&to=9999-12-31",
        f"{PERIOD_ARGS}&district=&district=abc",
        f"{PERIOD_ARGS}&min=1",
    ],
)
def test_odd_but_harmless_parameters_are_ignored(app: Flask, city: City, query: str) -> None:
    for url in URLS:
        assert _client(app, "analyst").get(f"{url}?{query}").status_code == 200, url


def test_a_manager_cannot_reach_another_district_by_any_parameter(
    app: Flask, world: World, city: City
) -> None:
    client = _client(app, "manager")
    for district in ("abc", "", str(world.other.id), "999999999999999999999999"):
        resp = client.get(f"/statistics/aggregates.csv?{PERIOD_ARGS}&district={district}")
        assert resp.status_code == 200
        assert {r["district"] for r in _csv(resp.data)} == {"Rinkeby-Kista"}


def test_every_view_and_export_is_in_the_audit_log(app: Flask, world: World, city: City) -> None:
    client = _client(app, "analyst")
    for url in URLS:
        client.get(f"{url}?{PERIOD_ARGS}&district={world.other.id}")
    client.get("/statistics/?from=bad")  # nothing shown: nothing to log
    events = db.session.scalars(
        db.select(AuditEvent)
        .where(AuditEvent.action.in_(("statistics_view", "statistics_export")))
        .order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events] == ["statistics_view"] + ["statistics_export"] * 2
    assert [e.details.get("kind") for e in events] == [None, "aggregates", "rows"]
    for e in events:
        assert e.actor_label == "analyst" and e.district_id == world.other.id
        assert e.details["from"] == "2025-01-01" and e.details["to"] == "2025-12-31"
    assert events[2].details["rows"] == sum(
        hand(city, world.other.id)["discharged_gender"].values()
    )


def test_the_default_period_is_the_last_full_half_year(app: Flask, world: World) -> None:
    html = _client(app, "analyst").get("/statistics/").get_data(as_text=True)
    assert re.search(r'name="from" value="\d{4}-(01|07)-01"', html)
    assert "Senaste hela halvåret" in html and "Hela staden, " in html
