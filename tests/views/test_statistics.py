"""The statistics pages and CSV files as analysts and managers get them: right numbers, no names."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from html import unescape as html_unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.forms.follow_up import INDICATORS, sample
from formsvc.models import AuditEvent
from formsvc.runtime import runtime
from formsvc.services import documents, periods, statistics
from formsvc.services.statistics import AGGREGATE_COLUMNS, ROW_COLUMNS
from tests.city_report_data import HALF_YEAR, PUBLISHED, UNGA, VUXNA
from tests.city_report_data import SMALL_DISTRICT as SMALL_DISTRICT_2020
from tests.city_report_data import City as CityReport
from tests.city_report_data import generate as generate_city_report
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
    lines = data.decode("utf-8-sig").splitlines(keepends=True)
    body = "".join(line for line in lines if not line.startswith("# "))  # the file's notes
    return list(csv.DictReader(io.StringIO(body), delimiter=";"))


def _notes(data: bytes) -> list[str]:
    lines = data.decode("utf-8-sig").splitlines()
    return [line[2:] for line in lines if line.startswith("# ")]


def _table(html: str, table_id: str) -> dict[str, list[str]]:
    """A table of the page by id: row heading -> the cells' text."""
    found = re.search(rf'<table class="stats" id="{table_id}">(.*?)</table>', html, re.S)
    assert found, table_id
    out = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S):
        head = re.search(r'<th scope="row">(.*?)</th>', row, re.S)
        if head:
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            text = [html_unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells]
            out[html_unescape(re.sub(r"<[^>]+>", "", head.group(1))).strip()] = text
    return out


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
    assert {r["district"] for r in rows} == {*city.districts, "Hela staden"}
    expected = hand(city)
    by = {(r["section"], r["key"]): r for r in rows if r["district"] == "Hela staden"}
    total = sum(expected["discharged_gender"].values())
    shown = by["discharged_by_gender", "total"]
    assert (shown["count"], shown["note"]) in ((str(total), ""), ("", "döljs"))
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
    assert by["active_by_gender", "total"]["count"] == str(sum(expected["active_gender"].values()))


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
    table = _table(html, "discharged-gender")
    # hidden ("döljs": the grid protects it with a complement, so not "färre än 5"); zeros of
    # categories nobody in the city is in may show
    assert table[SMALL_DISTRICT][0] == "döljs"
    assert set(table[SMALL_DISTRICT]) <= {"döljs", "0"}
    assert "/statistics/rows.csv" not in html and "kan inte laddas ner" in html
    rows = _csv(client.get(f"/statistics/aggregates.csv?{PERIOD_ARGS}&district={small}").data)
    assert {r["district"] for r in rows} == {SMALL_DISTRICT, "Hela staden"}
    hidden = 0
    for row in rows:
        if row["district"] == SMALL_DISTRICT and row["section"].startswith(("discharge", "ind")):
            assert row["count"] in ("", "0") and (row["n"], row["share_percent"]) == ("", ""), row
            assert row["note"] == ("döljs" if row["count"] == "" else "")
            hidden += row["count"] == ""
    assert hidden > 20
    assert _csv(client.get(f"/statistics/rows.csv?{PERIOD_ARGS}&district={small}").data) == []
    # and the whole city's rows leave it out, saying so in the file and on the page
    resp = client.get(f"/statistics/rows.csv?{PERIOD_ARGS}")
    assert SMALL_DISTRICT not in {r["district"] for r in _csv(resp.data)}
    [left_out] = [n for n in _notes(resp.data) if "tas inte med" in n]
    assert SMALL_DISTRICT in left_out
    page = client.get(f"/statistics/?{PERIOD_ARGS}").get_data(as_text=True)
    assert left_out in html_unescape(page)


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
    ("group=sig_aldre", "Välj en målgrupp i listan", ""),
    ("group=%3Cb%3E", "Välj en målgrupp i listan", ""),
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
    assert "Senaste hela halvåret" in html and "Alla stadsdelar och hela staden, " in html


# --------------------------------------------------------------------------- the city's report

HALF_YEAR_ARGS = f"from={HALF_YEAR[0]}&to={HALF_YEAR[1]}"
GENDER_COLUMNS = ("female", "male", "other", "unknown")


@pytest.fixture
def half_year(app: Flask, world: World) -> CityReport:
    return generate_city_report(app, world)


def _city_row(html: str, table_id: str) -> dict[str, str]:
    cells = _table(html, table_id)["Hela staden"]
    return dict(zip(("total", *GENDER_COLUMNS), cells, strict=True))


@pytest.mark.parametrize("minimum", [1, 2])
def test_the_city_half_year_report_is_reproduced(
    app: Flask, half_year: CityReport, minimum: int
) -> None:
    """46 new (43 men, 3 women), 35 discharged (33 men, 2 women), 108 enrolled in the half-year."""
    app.config["STATISTICS_MIN_GROUP"] = minimum
    client = _client(app, "analyst")
    resp = client.get(f"/statistics/?{HALF_YEAR_ARGS}&group={VUXNA}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    new, out = _city_row(html, "new-gender"), _city_row(html, "discharged-gender")
    active = _city_row(html, "active-gender")
    assert (new["male"], new["female"], new["total"]) == ("43", "3", "46")
    assert (out["male"], out["female"], out["total"]) == ("33", "2", "35")
    assert active["total"] == "108"
    for key, figures in PUBLISHED.items():  # the plan itself says the same
        expected = half_year.expected(VUXNA)[key]
        assert {g: expected[g] for g in figures if g != "total"} == {
            g: v for g, v in figures.items() if g != "total"
        }
        assert sum(expected.values()) == figures["total"]
    csv_rows = _csv(client.get(f"/statistics/aggregates.csv?{HALF_YEAR_ARGS}&group={VUXNA}").data)
    by = {(r["section"], r["key"]): r["count"] for r in csv_rows if r["district"] == "Hela staden"}
    assert (by["new_by_gender", "male"], by["new_by_gender", "female"]) == ("43", "3")
    assert (by["discharged_by_gender", "male"], by["discharged_by_gender", "female"]) == ("33", "2")
    assert by["active_by_gender", "total"] == "108"
    assert {r["target_group"] for r in csv_rows} == {"SIG unga vuxna (19–29 år)"}
    if minimum == 1:  # every district's row, and the other target group, as planned
        for name in half_year.districts:
            expected = half_year.expected(VUXNA, name)
            row = _table(html, "active-gender")[name]
            assert row[1:3] == [str(expected["active"][g]) for g in ("female", "male")], name
        unga = client.get(f"/statistics/?{HALF_YEAR_ARGS}&group={UNGA}").get_data(as_text=True)
        both = client.get(f"/statistics/?{HALF_YEAR_ARGS}").get_data(as_text=True)
        for key in ("new", "active", "discharged"):
            n_unga = sum(half_year.expected(UNGA)[key].values())
            assert _city_row(unga, f"{key}-gender")["total"] == str(n_unga)
            assert _city_row(both, f"{key}-gender")["total"] == str(
                n_unga + sum(half_year.expected(VUXNA)[key].values())
            )
            assert n_unga > 0


def test_at_the_default_minimum_the_small_gender_cells_are_hidden(
    app: Flask, half_year: CityReport
) -> None:
    assert app.config["STATISTICS_MIN_GROUP"] == 5
    client = _client(app, "analyst")
    html = client.get(f"/statistics/?{HALF_YEAR_ARGS}&group={VUXNA}").get_data(as_text=True)
    new, out = _city_row(html, "new-gender"), _city_row(html, "discharged-gender")
    # 3 and 2 women are below 5; the men are hidden with them, or the total would give them away
    assert (new["female"], new["male"], new["total"]) == ("döljs", "döljs", "46")
    assert (out["female"], out["male"], out["total"]) == ("döljs", "döljs", "35")
    assert _city_row(html, "active-gender")["total"] == "108"
    assert _table(html, "reasons")["Totalt"][0] == "35"  # the city's column first
    assert "färre än 5" not in html.split('id="resultat"')[0].split("Inskrivna och utskrivna")[1]
    # the page says what the markers mean and what the analyst can do about a hidden split
    text = html_unescape(html)
    assert "Välj en längre period, båda målgrupperna eller hela staden" in text
    assert "STATISTICS_MIN_GROUP" in text and "inskrivna senast periodens sista dag" in text
    assert "”vet ej” räknas inte in i basen" in text
    # the rows follow the page: per district the page's number, the others named in both
    resp = client.get(f"/statistics/rows.csv?{HALF_YEAR_ARGS}&group={VUXNA}")
    rows, notes = _csv(resp.data), _notes(resp.data)
    table = _table(html, "discharged-gender")
    shown = {
        d: int(v[0].split()[0]) for d, v in table.items() if d != "Hela staden" and v[0] != "döljs"
    }
    assert Counter(r["district"] for r in rows) == {d: n for d, n in shown.items() if n}
    left_out = sorted(d for d, v in table.items() if v[0] == "döljs")
    assert SMALL_DISTRICT_2020 in left_out
    assert any(", ".join(left_out) in n for n in notes)
    for note in notes:
        assert note in text  # the page says the same as the file
    assert f"Filen har {len(rows)} av 35 utskrivna." in notes


def test_a_closed_half_year_is_read_from_its_snapshot(
    app: Flask, world: World, half_year: CityReport
) -> None:
    """After closing, a new follow-up in the half-year changes neither the page nor the files."""
    app.config["STATISTICS_MIN_GROUP"] = 1
    client = _client(app, "analyst")
    url = f"/statistics/?{HALF_YEAR_ARGS}&group={VUXNA}"
    before = _city_row(client.get(url).get_data(as_text=True), "new-gender")
    periods.close(*HALF_YEAR, actor=world.users["analyst"], today=date(2020, 8, 15))
    late = world.add_participant(world.other, "Sen", "Registrering", date(1998, 2, 2))
    documents.create(
        runtime(app).registry["follow_up"],
        {
            **sample(),
            "assessment": "enrolment",
            "enrolled_on": "2020-03-01",
            "assessed_on": "2020-03-02",
            "discharged_on": None,
            "discharge_reason": "",
            "target_group": VUXNA,
        },
        actor=world.users["other_caseworker"],
        store=runtime(app).store,
        participant=late,
    )
    assert (
        statistics.report(statistics.Query(*HALF_YEAR, minimum=1, target_group=VUXNA))
        .figures["new"]
        .by_gender.total(None)
        == 47
    )  # the live data has the late one
    html = client.get(url).get_data(as_text=True)
    assert _city_row(html, "new-gender") == before and before["total"] == "46"
    assert "Stängd period: 2020-01-01–2020-06-30" in html_unescape(html)
    rows = _csv(client.get(f"/statistics/aggregates.csv?{HALF_YEAR_ARGS}&group={VUXNA}").data)
    city_new = [
        r for r in rows if r["district"] == "Hela staden" and r["section"] == "new_by_gender"
    ]
    assert {r["key"]: r["count"] for r in city_new}["total"] == "46"
