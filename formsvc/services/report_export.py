"""The whole follow-up report as files: an XLSX workbook and one CSV (issue 17).

Takes generic tables (statistics.tables(report) builds them) and the report's meta data, and
knows nothing of the database or of HTTP. Hidden cells arrive as None and are written as the
table's hidden text, never as a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


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
