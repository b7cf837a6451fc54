"""The statistics downloads as analysts and managers get them: the report as a workbook and one
CSV, the chart as SVG, PNG and CSV; the same access, filters and audit as the page."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from openpyxl.worksheet.worksheet import Worksheet
from PIL import Image

from formsvc.extensions import db
from formsvc.forms.follow_up import INDICATORS
from formsvc.models import AuditEvent, District
from formsvc.services import periods, statistics
from formsvc.services.report_export import Table
from formsvc.services.statistics import LOWER_IS_BETTER as LOWER
from tests.conftest import PASSWORD, World
from tests.follow_up_data import PERIOD, SMALL_DISTRICT, City, generate, hand

PERIOD_ARGS = f"from={PERIOD[0]}&to={PERIOD[1]}"
CHART_URLS = ("/statistics/chart.svg", "/statistics/chart.png", "/statistics/chart.csv")
REPORT_URLS = ("/statistics/report.xlsx", "/statistics/report.csv")
URLS = CHART_URLS + REPORT_URLS
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SVG = "{http://www.w3.org/2000/svg}"
#: A copy of the downloaded PNG for a person to look at after the run.
PNG_COPY = Path("/tmp/stats-chart-download.png")


@pytest.fixture
def city(app: Flask, world: World) -> City:
    return generate(app, world)


def _client(app: Flask, role: str) -> FlaskClient:
    client = app.test_client()
    client.post("/login", data={"username": role, "password": PASSWORD})
    return client


def _district(name: str) -> int:
    return db.session.scalars(db.select(District.id).where(District.name == name)).one()


def _svg(data: bytes) -> etree._Element:
    """Parse as a careful client would: no network, no entities, no DTD."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data, parser)


def _texts(root: etree._Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _data(root: etree._Element) -> list[str]:
    """The texts below the drawing: the chart's data and notes."""
    (data,) = root.iterfind(f"{SVG}g[@class='data']")
    return _texts(data)


def _percent(yes: int, n: int) -> str:
    return str((Decimal(100 * yes) / Decimal(n)).quantize(Decimal(1), ROUND_HALF_UP))


def _csv_lines(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_the_chart_downloads_as_a_standalone_svg_with_its_numbers(app: Flask, city: City) -> None:
    resp = _client(app, "analyst").get(f"/statistics/chart.svg?{PERIOD_ARGS}")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert (
        "uppfoljning-diagram_2025-01-01_2025-12-31_hela-staden_alla-malgrupper.svg" in disposition
    )
    assert resp.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = _svg(resp.data)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("width") and root.get("height")
    title = root.find(f"{SVG}title")
    assert title is not None and title.text is not None
    assert title.text.startswith("Andel som svarade ja vid inskrivning och vid utskrivning")
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "Samma siffror finns som text" in (desc.text or "")
    style = root.find(f"{SVG}style")
    assert style is not None and "font-family" in (style.text or "")
    texts = _data(root)
    assert len(texts) > 3 * len(INDICATORS)
    expected = hand(city)
    shown = 0
    for key, question in INDICATORS.items():
        # the data below the chart: the question in bold, then its value at each time
        at = texts.index(
            f"{question} " + ("(lägre är bättre)" if key in LOWER else "(högre är bättre)")
        )
        values = dict(zip(("enrolment", "discharge"), texts[at + 1 : at + 3], strict=True))
        assert values["enrolment"].startswith("Vid inskrivning: ")
        assert values["discharge"].startswith("Vid utskrivning: ")
        for when in ("enrolment", "discharge"):
            yes, n = expected["yes"][key, when], expected["n"][key, when]
            if n >= 5 and yes not in range(1, 5) and n - yes not in range(1, 5):
                shown += 1
                assert values[when].endswith(f": {_percent(yes, n)}\u00a0% ({yes} av {n})")
    assert shown >= 12
    assert any(t.startswith("Uttagen: ") for t in texts)
    assert "Underlag: preliminär – perioden är inte stängd" in texts


def test_hidden_values_read_as_the_marker_in_the_svg(app: Flask, city: City) -> None:
    small = _district(SMALL_DISTRICT)
    resp = _client(app, "analyst").get(f"/statistics/chart.svg?{PERIOD_ARGS}&district={small}")
    root = _svg(resp.data)
    texts = _data(root)
    # the district's row of the city's tables (statcore): hidden there, it reads "döljs" --
    # "färre än 5" would say it is small, not a complement of at least 5
    assert texts.count("Vid inskrivning: döljs") == len(INDICATORS)
    assert texts.count("Vid utskrivning: döljs") == len(INDICATORS)
    assert not any(re.search(r"\d\u00a0%|\d av \d", t) for t in texts)  # no share, no count
    assert not [r for r in root.iter(f"{SVG}rect") if r.get("height") == "20"]  # no bars
    assert "skarpnack" in resp.headers["Content-Disposition"]


def test_the_chart_downloads_as_a_png_of_sensible_size(app: Flask, city: City) -> None:
    resp = _client(app, "analyst").get(f"/statistics/chart.png?{PERIOD_ARGS}")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert resp.data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(resp.data))
    image.verify()
    image = Image.open(io.BytesIO(resp.data))
    assert image.format == "PNG" and image.width == 1600
    assert 1200 < image.height < 4000
    # drawn, not blank: dark text and the dark blue bars are there
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert sum(c for c, rgb in colours if rgb == (255, 255, 255)) < image.width * image.height
    assert any(rgb == (0x0A, 0x5A, 0x8C) for _c, rgb in colours)
    PNG_COPY.write_bytes(resp.data)


def test_the_chart_numbers_download_as_csv(app: Flask, city: City) -> None:
    resp = _client(app, "analyst").get(f"/statistics/chart.csv?{PERIOD_ARGS}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    lines = _csv_lines(resp.data)
    assert lines[0] == ["Om rapporten"]
    start = lines.index(["Tabell", "chart", "Andel som svarade ja, Hela staden"])
    assert lines[start + 1][:5] == [
        "Fråga",
        "Andel ja vid inskrivning",
        "Ja vid inskrivning",
        "Ja eller nej vid inskrivning",
        "Vet ej vid inskrivning",
    ]
    rows = {line[0]: line for line in lines[start + 2 : start + 2 + len(INDICATORS)]}
    expected = hand(city)
    shown = 0
    for key, question in INDICATORS.items():
        row = rows[str(question)]
        for i, when in ((1, "enrolment"), (5, "discharge")):
            yes, n = expected["yes"][key, when], expected["n"][key, when]
            if n >= 5 and yes not in range(1, 5) and n - yes not in range(1, 5):
                shown += 1
                assert row[i : i + 3] == [f"{_percent(yes, n)} %", str(yes), str(n)]
    assert shown >= 12


def test_a_manager_downloads_only_their_own_district(app: Flask, world: World, city: City) -> None:
    client = _client(app, "manager")
    for url in URLS:
        resp = client.get(f"{url}?{PERIOD_ARGS}&district={world.other.id}")
        assert resp.status_code == 200, url
        assert "_rinkeby-kista_" in resp.headers["Content-Disposition"], url
    svg = _svg(client.get(f"/statistics/chart.svg?{PERIOD_ARGS}&district={world.other.id}").data)
    assert "Omfattning: Rinkeby-Kista" in _data(svg)
    home = hand(city, world.home.id)
    key = "housing"
    yes, n = home["yes"][key, "discharge"], home["n"][key, "discharge"]
    lines = _csv_lines(client.get(f"/statistics/chart.csv?{PERIOD_ARGS}").data)
    assert ["Omfattning", "Rinkeby-Kista"] in lines
    assert ["Tabell", "chart", "Andel som svarade ja, Rinkeby-Kista"] in lines
    row = next(line for line in lines if line[:1] == [str(INDICATORS[key])])
    assert row[5] in (f"{_percent(yes, n)} %", "döljs", "färre än 5")
    assert row[7] in (str(n), "döljs", "färre än 5")


@pytest.mark.parametrize("role", ["caseworker", "other_caseworker", "security_officer", "admin"])
def test_other_roles_cannot_download(app: Flask, world: World, role: str) -> None:
    client = _client(app, role)
    for url in URLS:
        resp = client.get(f"{url}?{PERIOD_ARGS}")
        assert resp.status_code == 403, (role, url)


def test_anonymous_visitors_are_sent_to_log_in(app: Flask, world: World) -> None:
    for url in URLS:
        resp = app.test_client().get(f"{url}?{PERIOD_ARGS}")
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2025-13-01&to=2025-12-31", "Ange startdatum som ÅÅÅÅ-MM-DD"),
        ("from=2025-12-31&to=2025-01-01", "Slutdatumet kan inte vara före startdatumet."),
        ("district=abc", "Välj en stadsdel i listan"),
        ("from=%3Cscript%3E&to=2025-01-01", "Ange startdatum"),
    ],
)
def test_invalid_filters_return_the_form_with_errors_not_a_file(
    app: Flask, city: City, query: str, message: str
) -> None:
    client = _client(app, "analyst")
    for url in URLS:
        resp = client.get(f"{url}?{query}")
        assert resp.status_code == 400 and resp.mimetype == "text/html", url
        assert "Content-Disposition" not in resp.headers
        html = resp.get_data(as_text=True)
        assert message in html and "<script>" not in html
    events = db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action == "statistics_export")
    ).all()
    assert events == []  # nothing was exported


def test_every_download_is_in_the_audit_log_with_its_kind(
    app: Flask, world: World, city: City
) -> None:
    client = _client(app, "analyst")
    for url in URLS:
        assert client.get(f"{url}?{PERIOD_ARGS}&district={world.other.id}").status_code == 200
    events = db.session.scalars(
        db.select(AuditEvent)
        .where(AuditEvent.action == "statistics_export")
        .order_by(AuditEvent.id)
    ).all()
    kinds = ["chart_svg", "chart_png", "chart_csv", "report_xlsx", "report_csv"]
    assert [e.details["kind"] for e in events] == kinds
    for e in events:
        assert e.actor_label == "analyst" and e.district_id == world.other.id
        assert e.details["from"] == "2025-01-01" and e.details["to"] == "2025-12-31"


#: Control characters a database stores but XML cannot hold, markup, a formula, a long name.
HOSTILE_NAME = ('=HYPERLINK("x")<script>&amp;\x01\x0b ]]>' + "Å" * 120)[:120]  # the column's size


def test_a_hostile_district_name_cannot_break_the_files(
    app: Flask, world: World, city: City
) -> None:
    db.session.get(District, world.other.id).name = HOSTILE_NAME
    db.session.commit()
    client = _client(app, "analyst")
    args = f"{PERIOD_ARGS}&district={world.other.id}"
    svg = client.get(f"/statistics/chart.svg?{args}")
    assert svg.status_code == 200
    root = _svg(svg.data)  # still well-formed XML
    assert not list(root.iter(f"{SVG}script"))
    heading = "".join(_texts(root)[:4])
    assert '=HYPERLINK("x")<script>&amp;' in heading
    assert "\x01" not in svg.get_data(as_text=True)
    assert re.search(
        r'filename="uppfoljning-diagram_[a-z0-9_.-]+\.svg"', svg.headers["Content-Disposition"]
    )
    png = client.get(f"/statistics/chart.png?{args}")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    lines = _csv_lines(client.get(f"/statistics/chart.csv?{args}").data)
    scope = next(line for line in lines if line[:1] == ["Omfattning"])
    assert scope[1].startswith("'=HYPERLINK")  # formula-safe
    book = client.get(f"/statistics/report.xlsx?{args}")
    assert book.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(book.data))
    about = {r[0]: r[1] for r in wb["Om rapporten"].iter_rows(values_only=True) if r[0]}
    assert about["Omfattning"].startswith('=HYPERLINK("x")<script>&amp;\ufffd\ufffd ]]>Å')
    assert wb["Om rapporten"]["B5"].data_type == "s"


XLSX_URLS = ("/statistics/report.xlsx", "/statistics/report.csv")


def _expected_tables(query: statistics.Query) -> list[Table]:
    return statistics.tables(statistics.report(query))


def _sheet_rows(ws: Worksheet) -> list[list[object]]:
    """A table sheet's body: the rows under the heading row (3), up to the blank line."""
    rows = []
    for row in ws.iter_rows(min_row=4, values_only=True):
        if all(v is None for v in row):
            break
        rows.append(list(row))
    return rows


def test_the_report_downloads_as_a_workbook_with_every_table(app: Flask, city: City) -> None:
    resp = _client(app, "analyst").get(f"/statistics/report.xlsx?{PERIOD_ARGS}")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert (
        'filename="uppfoljning-rapport_2025-01-01_2025-12-31_hela-staden_alla-malgrupper.xlsx"'
        in resp.headers["Content-Disposition"]
    )
    wb = openpyxl.load_workbook(io.BytesIO(resp.data))
    expected = _expected_tables(statistics.Query(PERIOD[0], PERIOD[1], None, 5))
    assert len(expected) >= 10
    assert wb.sheetnames == ["Om rapporten", *(t.key for t in expected)]
    about = {r[0]: r[1] for r in wb["Om rapporten"].iter_rows(values_only=True) if r[0]}
    assert about["Period"] == "2025-01-01 – 2025-12-31"
    assert about["Omfattning"] == "Hela staden"
    assert about["Underlag"] == "preliminär – perioden är inte stängd"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d \(CES?T\)", about["Uttagen"])
    for table in expected:
        ws = wb[table.key]
        assert ws["A1"].value == table.title
        assert [c.value for c in ws[3]][: len(table.columns)] == table.columns
        want = [[table.hidden_text if v is None else v for v in row] for row in table.rows]
        assert _sheet_rows(ws) == want, table.key
    # each district's discharged, by hand, in its row's total where shown
    names = dict(db.session.execute(db.select(District.name, District.id)).all())
    shown = 0
    for row in _sheet_rows(wb["discharged_by_gender"]):
        if row[0] in names and row[-1] != "döljs":
            assert row[-1] == sum(hand(city, names[row[0]])["discharged_gender"].values())
            shown += 1
    assert shown >= 3


def test_the_report_downloads_as_one_csv(app: Flask, city: City) -> None:
    resp = _client(app, "analyst").get(f"/statistics/report.csv?{PERIOD_ARGS}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert (
        "uppfoljning-rapport_2025-01-01_2025-12-31_hela-staden"
        in resp.headers["Content-Disposition"]
    )
    lines = _csv_lines(resp.data)
    assert lines[0] == ["Om rapporten"] and ["Omfattning", "Hela staden"] in lines
    for table in _expected_tables(statistics.Query(PERIOD[0], PERIOD[1], None, 5)):
        start = lines.index(["Tabell", table.key, table.title])
        assert lines[start + 1] == table.columns
        for i, row in enumerate(table.rows, start=start + 2):
            assert lines[i] == [table.hidden_text if v is None else str(v) for v in row]


def test_a_manager_gets_their_own_district_in_the_workbook(
    app: Flask, world: World, city: City
) -> None:
    resp = _client(app, "manager").get(f"/statistics/report.xlsx?{PERIOD_ARGS}")
    assert "_rinkeby-kista_alla-malgrupper.xlsx" in resp.headers["Content-Disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(resp.data))
    about = {r[0]: r[1] for r in wb["Om rapporten"].iter_rows(values_only=True) if r[0]}
    assert about["Omfattning"] == "Rinkeby-Kista"
    labels = {row[0] for name in wb.sheetnames[1:] for row in _sheet_rows(wb[name])}
    assert labels == {"Rinkeby-Kista"}  # no other district, no city row


def test_a_target_group_is_in_the_file_name_and_the_meta(app: Flask, city: City) -> None:
    resp = _client(app, "analyst").get(f"/statistics/report.csv?{PERIOD_ARGS}&group=sig_unga")
    assert "_hela-staden_sig-unga.csv" in resp.headers["Content-Disposition"]
    assert ["Målgrupp", "SIG unga (12–20 år)"] in _csv_lines(resp.data)


def test_a_report_of_a_closed_period_says_which_and_is_read_from_it(
    app: Flask, world: World, city: City
) -> None:
    client = _client(app, "analyst")
    before = client.get(f"/statistics/report.csv?{PERIOD_ARGS}").data
    periods.close(PERIOD[0], PERIOD[1], actor=world.users["analyst"], today=date.today())
    lines = _csv_lines(client.get(f"/statistics/report.csv?{PERIOD_ARGS}").data)
    basis = next(line[1] for line in lines if line[:1] == ["Underlag"])
    assert basis.startswith("2025-01-01–2025-12-31, stängd ") and basis.endswith(" av analyst")
    # the same figures as before it was closed: only the meta block differs
    old = _csv_lines(before)
    changed = [i for i, (a, b) in enumerate(zip(old, lines, strict=True)) if a != b]
    assert {old[i][0] for i in changed} <= {"Uttagen", "Underlag"}
    wb = openpyxl.load_workbook(
        io.BytesIO(client.get(f"/statistics/report.xlsx?{PERIOD_ARGS}").data)
    )
    about = {r[0]: r[1] for r in wb["Om rapporten"].iter_rows(values_only=True) if r[0]}
    assert about["Underlag"] == basis
