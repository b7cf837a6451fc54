"""The whole follow-up report as files: an XLSX workbook and one CSV (issue 17).

Takes generic tables (statistics.tables(report) builds them) and the report's meta data, and
knows nothing of the database or of HTTP. Hidden cells arrive as None and are written as the
table's hidden text, never as a number.

Why XLSX (openpyxl), not ODS: the city's analysts work in Excel (the CSV files are made for
it too), LibreOffice opens XLSX as well, and openpyxl is maintained and reads its files back,
so the tests open the very workbook a user gets. odfpy has had no release since 2020.

Sheet names are the tables' ascii keys, not their translated titles: a workbook taken in
another language or half-year has the same sheets, so the city's own sheets that refer to
them keep working; the title is the first line of each sheet and listed on "Om rapporten".

Hostile text (district names, notes) is written as text only: a cell never becomes a formula,
characters XML cannot hold become U+FFFD (openpyxl would refuse them or write a file Excel
must repair) and a cell is cut at Excel's 32 767 characters.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

#: The city's time: when an export was taken is shown in it.
STOCKHOLM = ZoneInfo("Europe/Stockholm")


@dataclass(frozen=True)
class Table:
    """One published table: a heading, column headings, rows whose first cell is the row label."""

    #: short ascii key, used for the sheet name and the CSV section: "new_by_gender"
    key: str
    #: heading (translated)
    title: str
    #: column headings, the first is the row label's heading
    columns: list[str]
    #: first cell the row label; None is a hidden cell
    rows: list[list[str | int | None]]
    #: how a hidden cell reads ("döljs", "färre än 5")
    hidden_text: str
    #: definitions: what each figure counts, the base of shares, how "vet ej" is treated
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Meta:
    """What the report covers, and when and from which closed period it was taken."""

    #: the report's title
    title: str
    #: first and last day, both included
    period: tuple[date, date]
    #: "Hela staden" or the district's name
    scope: str
    #: the target group's label, or the label for both
    target_group: str
    #: the minimum group used for suppression
    minimum: int
    #: when the export was taken (aware, UTC; shown in Europe/Stockholm)
    taken_at: datetime
    #: the closed period it was taken from, e.g. "2020-01-01–2020-06-30, stängd 2020-08-15 av
    #: analytiker1"; None while the period is not closed (the report is preliminary)
    closed_period: str | None = None


# --------------------------------------------------------------------------- text safety

#: Excel's limit for the text of one cell; a longer cell makes Excel "repair" (empty) the file.
MAX_CELL = 32_767
#: Excel's limit for a sheet name.
MAX_SHEET_NAME = 31
#: Characters a sheet name may not hold.
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
#: Characters XML 1.0 cannot hold (controls other than tab, LF, CR; surrogates; U+FFFE/U+FFFF).
#: openpyxl refuses some of them (IllegalCharacterError) and writes others into a corrupt file.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: What a character XML cannot hold becomes: visible, so nothing is silently lost.
REPLACEMENT = "\ufffd"
#: The first characters that make a spreadsheet read a typed cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def clean(text: str, limit: int = MAX_CELL) -> str:
    """*text* as a spreadsheet holds it: no XML-illegal characters, at most *limit* long."""
    text = _NOT_XML.sub(REPLACEMENT, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def looks_like_formula(text: str) -> bool:
    """Whether a spreadsheet would run *text* as a formula if it were typed or read from CSV."""
    return text.startswith(FORMULA_START)


def sheet_name(wanted: str, taken: set[str]) -> str:
    """A valid, unique (case-insensitively, as Excel compares) sheet name close to *wanted*.

    Excel refuses names over 31 characters, with []:*?/\\, starting or ending with an
    apostrophe, the reserved "History", and names equal to another sheet's but for case.
    """
    base = _SHEET_FORBIDDEN.sub("_", clean(wanted, 10_000)).strip().strip("'").strip()
    if not base or base.casefold() == "history":
        base = f"Tabell {len(taken) + 1}"
    base = base[:MAX_SHEET_NAME]
    name, n = base, 1
    while name.casefold() in {t.casefold() for t in taken}:
        n += 1
        suffix = f" ({n})"
        name = base[: MAX_SHEET_NAME - len(suffix)].rstrip() + suffix
    taken.add(name)
    return name


# --------------------------------------------------------------------------- meta


def _taken_at(meta: Meta) -> str:
    local = meta.taken_at.astimezone(STOCKHOLM)
    return f"{local:%Y-%m-%d %H:%M} ({local.tzname()})"


def _basis(meta: Meta) -> str:
    return meta.closed_period or _("preliminär – perioden är inte stängd")


def meta_rows(meta: Meta) -> list[tuple[str, str | int]]:
    """The report's meta data as (label, value) pairs, in the order both files show them."""
    return [
        (_("Rapport"), meta.title),
        (_("Period"), f"{meta.period[0].isoformat()} – {meta.period[1].isoformat()}"),
        (_("Omfattning"), meta.scope),
        (_("Målgrupp"), meta.target_group),
        (_("Minsta redovisade grupp"), meta.minimum),
        (_("Uttagen"), _taken_at(meta)),
        (_("Underlag"), _basis(meta)),
    ]


# --------------------------------------------------------------------------- workbook

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_HIDDEN = Font(italic=True, color="5A5A5A")
_NOTE = Alignment(wrap_text=False, vertical="top")
#: Column widths in characters: wide enough for a heading, never wider than a screen.
_MIN_WIDTH, _MAX_WIDTH = 8, 60


def _put(ws: Worksheet, row: int, col: int, value: str | int | float | None) -> Cell:
    """Write one cell: numbers as numbers, text always as text (never as a formula)."""
    cell = ws.cell(row=row, column=col)
    if isinstance(value, bool) or value is None:
        value = "" if value is None else str(value)
    if isinstance(value, int | float):
        cell.value = value
        return cell
    text = clean(value)
    cell.value = text
    # openpyxl makes "=..." a formula: store it as a plain string, and mark it as typed text so
    # that editing the cell in Excel does not turn it into a formula either
    cell.data_type = "s"
    if looks_like_formula(text):
        cell.quotePrefix = True
    return cell


def _width(values: list[str | int | float | None]) -> float:
    longest = max((len(str(v)) for v in values if v is not None), default=0)
    return float(min(_MAX_WIDTH, max(_MIN_WIDTH, longest + 2)))


def _unique_notes(tables: list[Table]) -> list[str]:
    """Every table's notes once, in the order they first appear."""
    return list(dict.fromkeys(note for t in tables for note in t.notes))


def _common_notes(tables: list[Table]) -> list[str]:
    """The notes every table has (definitions of the whole report), when there are tables."""
    if not tables:
        return []
    return [n for n in _unique_notes(tables) if all(n in t.notes for t in tables)]


def _about_sheet(ws: Worksheet, meta: Meta, tables: list[Table], names: list[str]) -> None:
    _put(ws, 1, 1, meta.title).font = _TITLE
    row = 3
    for label, value in meta_rows(meta):
        _put(ws, row, 1, label).font = _BOLD
        _put(ws, row, 2, value)
        row += 1
    row += 1
    _put(ws, row, 1, _("Tabeller")).font = _BOLD
    row += 1
    for table, name in zip(tables, names, strict=True):
        _put(ws, row, 1, name)
        _put(ws, row, 2, table.title)
        row += 1
    row += 1
    _put(ws, row, 1, _("Definitioner")).font = _BOLD
    row += 1
    for note in _unique_notes(tables):
        _put(ws, row, 1, note)
        row += 1
    ws.column_dimensions["A"].width = _width([label for label, _v in meta_rows(meta)] + names)
    ws.column_dimensions["B"].width = _MAX_WIDTH + 20


def _table_sheet(ws: Worksheet, table: Table) -> None:
    _put(ws, 1, 1, table.title).font = _TITLE
    header = 3
    for col, heading in enumerate(table.columns, start=1):
        cell = _put(ws, header, col, heading)
        cell.font = _BOLD
        cell.alignment = Alignment(wrap_text=True, vertical="bottom")
    for r, values in enumerate(table.rows, start=header + 1):
        for col, value in enumerate(values, start=1):
            if value is None:
                _put(ws, r, col, table.hidden_text).font = _HIDDEN
            else:
                cell = _put(ws, r, col, value)
                if col == 1:
                    cell.font = _BOLD
    ws.freeze_panes = ws.cell(row=header + 1, column=2)  # headings and row labels stay in view
    row = header + len(table.rows) + 2
    for note in table.notes:
        _put(ws, row, 1, note).alignment = _NOTE
        row += 1
    width = max([len(table.columns), *(len(r) for r in table.rows)], default=0)
    for col in range(1, width + 1):
        column = [table.columns[col - 1] if col <= len(table.columns) else None]
        column += [
            (r[col - 1] if r[col - 1] is not None else table.hidden_text)
            for r in table.rows
            if col <= len(r)
        ]
        ws.column_dimensions[get_column_letter(col)].width = _width(column)


def workbook(meta: Meta, tables: list[Table]) -> bytes:
    """The report as an XLSX workbook: "Om rapporten" first, then one sheet per table."""
    wb = Workbook()
    about = wb.active
    assert about is not None
    taken: set[str] = set()
    about.title = sheet_name(_("Om rapporten"), taken)
    names = [sheet_name(t.key, taken) for t in tables]
    _about_sheet(about, meta, tables, names)
    for table, name in zip(tables, names, strict=True):
        _table_sheet(wb.create_sheet(name), table)
    wb.properties.title = clean(meta.title, 255)
    wb.properties.creator = "formsvc"
    taken_utc = meta.taken_at.astimezone(UTC).replace(tzinfo=None)
    wb.properties.created = wb.properties.modified = taken_utc
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- CSV


def _csv_cell(value: str | int | float | None, hidden: str) -> str:
    if value is None:
        value = hidden
    if isinstance(value, float):
        return str(value).replace(".", ",")  # decimal comma, as Swedish Excel reads it
    text = str(value)
    # a cell starting like a formula would be run by a spreadsheet: make it plain text
    return "'" + text if looks_like_formula(text) else text


def report_csv(meta: Meta, tables: list[Table]) -> bytes:
    """The whole report as one CSV for Excel in Swedish: the meta block, then each table.

    UTF-8 with BOM, semicolons, CRLF and decimal comma, as statistics' own CSV files. The meta
    block ends with the notes every table shares ("Definition;..."), once. Each table follows
    after a blank line: "Tabell;key;title", its headings, its rows, its own notes. Hidden cells
    read as the table's hidden text.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")

    def line(cells: list[str | int | float | None], hidden: str = "") -> None:
        writer.writerow([_csv_cell(c, hidden) for c in cells])

    common = _common_notes(tables)
    line([_("Om rapporten")])
    for label, value in meta_rows(meta):
        line([label, value])
    for note in common:
        line([_("Definition"), note])
    for table in tables:
        line([])
        line([_("Tabell"), table.key, table.title])
        line(list(table.columns))
        for values in table.rows:
            line(list(values), table.hidden_text)
        for note in table.notes:
            if note not in common:
                line([_("Anmärkning"), note])
    return buf.getvalue().encode("utf-8-sig")
