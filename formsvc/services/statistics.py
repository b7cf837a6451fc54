"""Follow-up statistics (bilaga 3.4): the city's half-year report, per district and for the city.

Reads the stored data of follow_up documents (documented in formsvc.forms.follow_up) and returns
only aggregates and de-identified rows. No Flask request here: the view passes plain values.

Which assessments count
    Voided documents are ignored. A participant may have several follow-ups: per participant the
    newest enrolment assessment and the newest discharge assessment (by assessed_on, then by last
    change) are used. An assessment belongs to the district of its document, so a participant who
    moved is counted where each assessment was made. The target group is the one stored in the
    assessment ("target_group", pre-filled from the participant) and else the participant's.

The figures (the city's definitions), each by gender and by target group, per district and city
    - new: enrolled in the period -- enrolled_on of the enrolment assessment (without one, of the
      discharge assessment) lies in the period; gender, target group and district from it.
    - active ("inskrivna någon gång under perioden"): enrolled_on on or before the period's last
      day, and not discharged before its first day (no discharge assessment, or discharged_on on
      or after the first day); gender, target group and district as for "new".
    - discharged: discharged_on of the discharge assessment lies in the period; gender, target
      group, reason and district from it. Unknown reasons are counted as "unknown", "other"
      (Annat) is a category of its own.
    - indicators: among those discharged in the period who also have an enrolment assessment
      (the cohort), those answering "yes" and "no" at enrolment and at discharge. The share is
      yes / (yes + no): "unknown" (vet ej) is left out of the base and counted on its own.

Small groups (the minimum m, config STATISTICS_MIN_GROUP)
    Every table is a grid of district rows and category columns published with its margins (the
    row totals and the city row); formsvc.services.disclosure hides the cells that would tell
    something about fewer than m people, and enough others that no hidden cell can be worked out
    from what is shown together. The gender, target group and reason tables of the discharged
    share their row totals, so they are protected together (protect_linked), and so are the
    gender and target group tables of "new" and of "active". The yes/no tables of the indicators
    are protected as binary (0 % or 100 % tells something about everyone in the group). A total
    of 0 is shown: "no follow-ups" is never confused with "few". A manager's report is their
    district alone, a one-row grid; an analyst's report always has every district and the city,
    and an analyst who picks one district sees that district's row of those same tables.

The row export follows the tables
    One row per participant discharged in the period, without names, identity numbers, birth
    dates, free text or ids: a pseudonym (HMAC-SHA256 of the participant id under a random key
    made for this export and then thrown away), months instead of days, and the keys of the
    stored answers. Rows of a district whose number of discharged is hidden in the tables are
    left out (a pooled row could be told apart by filtering the other districts), and the file
    and the page name those districts. In the rows that remain, a value is "hidden" where the
    table cell that counts it is hidden for that district, so every count taken from the rows is
    either the number on the page or hidden there too. Shares computed from the rows then cover
    the districts in the file, which the file's first lines state.

What suppression does not stop
    It protects each report. Differences between reports can still narrow a hidden group: two
    overlapping periods, the two target groups against both, or a manager's own district against
    the analyst's city view. So statistics are for two named roles only, the minimum is set by
    the administrator and not per request, and every view and export is in the audit log with
    its period, target group and district.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from formsvc.doctypes import TARGET_GROUPS
from formsvc.extensions import db
from formsvc.forms.follow_up import DISCHARGE_REASONS, GENDERS, INDICATORS
from formsvc.models import District, Document, Participant, User
from formsvc.services import audit, disclosure
from formsvc.services.report_export import Table

SLUG = "follow_up"
UNKNOWN = "unknown"
HIDDEN = "hidden"  #: a value in the row export whose table cell is hidden
ANSWERS = ("yes", "no", UNKNOWN)
#: The stored keys a person's assessment keeps (no free text: snapshots hold no comments).
KEPT = (
    "assessment",
    "assessed_on",
    "enrolled_on",
    "discharged_on",
    "discharge_reason",
    "gender",
    "target_group",
    *INDICATORS,
)
#: Indicators where a falling share is the wanted result (for the others a rising one).
LOWER_IS_BETTER = frozenset(
    {"suspected_crime", "debts_criminals", "debts_enforcement", "substance_use"}
)
#: The three counts of people, in the order of the city's report.
FIGURES = ("new", "active", "discharged")
#: Columns of the row export, in order.
ROW_COLUMNS: tuple[str, ...] = (
    "pseudonym",
    "district",
    "target_group",
    "gender",
    "enrolled_month",
    "discharged_month",
    "discharge_reason",
    *(f"{key}_{when}" for key in INDICATORS for when in ("enrolment", "discharge")),
)
#: Columns of the aggregate export, in order.
AGGREGATE_COLUMNS = (
    "period_from",
    "period_to",
    "target_group",
    "district",
    "section",
    "key",
    "label",
    "count",
    "n",
    "share_percent",
    "note",
)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Query:
    """What to count: a period (both days included), a target group, districts."""

    start: date  #: first day of the period
    end: date  #: last day of the period, included
    district_id: int | None = None  #: one district's row, or None for every district and the city
    minimum: int = 5  #: the smallest group shown (STATISTICS_MIN_GROUP)
    target_group: str | None = None  #: "sig_unga", "sig_unga_vuxna", or None for both
    #: True: the district protected on its own (a manager's report); False: its row of the city's
    alone: bool = False

    def covers(self, day: date | None) -> bool:
        """True when *day* lies in the period."""
        return day is not None and self.start <= day <= self.end


@dataclass(frozen=True)
class Share:
    """How many answered yes, among those who answered yes or no."""

    n: int | None  #: answered yes or no; None when hidden
    yes: int | None  #: answered yes; None when hidden
    share: float | None  #: yes / n (0..1); None when hidden or n is 0

    def percent(self, places: int = 0) -> str:
        """The share in percent, rounded half up ("45", or "45.5" with places=1); "" if hidden."""
        if self.yes is None or self.n is None or self.share is None:
            return ""
        exact = Decimal(100 * self.yes) / Decimal(self.n)  # exact, not via the float share
        return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Counts:
    """One table after suppression: a row per district, a column per category, the city row."""

    rows: list[str]  #: district names, in order
    columns: list[str]  #: category keys, in order
    grid: disclosure.ProtectedGrid  #: the protected values

    def cell(self, row: str | None, column: str) -> int | None:
        """A district's count (the city's when *row* is None); None when hidden.

        In a row or column whose total is shown as 0 every count is 0, whatever the grid hid.
        """
        if self.total(row) == 0 or self.cell_total(column) == 0:
            return 0
        if row is None:
            return self.grid.column_totals[column]
        return self.grid.cells[row, column]

    def cell_total(self, column: str) -> int | None:
        """The city's count of *column* as published (None when hidden)."""
        return self.grid.column_totals[column]

    @property
    def small(self) -> bool:
        """Whether the whole table is hidden for being below the minimum ("färre än m").

        A grand total hidden to protect another value reads "döljs" like any other.
        """
        return (
            self.grid.total is None and self.grid.reasons.get(disclosure.TOTAL) == disclosure.SMALL
        )

    def total(self, row: str | None) -> int | None:
        """A district's total (the city's when *row* is None); None when hidden."""
        return self.grid.total if row is None else self.grid.row_totals[row]


@dataclass(frozen=True)
class Figure:
    """One count of people (new, active or discharged) by gender and by target group."""

    key: str  #: one of FIGURES
    by_gender: Counts
    by_target_group: Counts | None  #: None when the query is for one target group


@dataclass(frozen=True)
class IndicatorResult:
    """One indicator: yes and no at enrolment and at discharge, per district and city."""

    key: str  #: key of INDICATORS
    enrolment: Counts  #: columns "yes", "no"
    discharge: Counts  #: columns "yes", "no"

    @property
    def lower_is_better(self) -> bool:
        return self.key in LOWER_IS_BETTER

    def share(self, when: str, row: str | None = None) -> Share:
        """The share answering yes at "enrolment" or "discharge" in *row* (None: the city)."""
        counts: Counts = getattr(self, when)
        n, yes = counts.total(row), counts.cell(row, "yes")
        if n is None or yes is None or n == 0:
            return Share(n, None if n is None else yes, None)
        return Share(n, yes, yes / n)

    def change(self, row: str | None = None) -> int | None:
        """Change in whole percentage points, or None when either share is hidden."""
        before, after = self.share("enrolment", row), self.share("discharge", row)
        if before.share is None or after.share is None:
            return None
        return int(after.percent()) - int(before.percent())


@dataclass(frozen=True)
class Report:
    """Everything the statistics page and the exports show."""

    query: Query  #: what was counted
    scope: str | None  #: the one district shown, None for every district and the city
    rows: list[str]  #: the district rows shown, in order
    show_city: bool  #: whether the city row is shown (not for a manager's one district)
    figures: dict[str, Figure]  #: FIGURES -> counts
    reasons: Counts  #: discharged in the period, by reason
    cohort: Counts  #: discharged in the period with an enrolment assessment (column "cohort")
    indicators: list[IndicatorResult]  #: in the order of INDICATORS
    #: districts (names) whose people the row export leaves out: their number is hidden
    rows_left_out: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str | None]:
        """The rows shown, the city (None) last when shown."""
        return [*self.rows, *([None] if self.show_city else [])]

    def unknown(self, key: str, when: str, row: str | None) -> int | None:
        """How many answered "vet ej" (cohort minus yes and no); None when either is hidden."""
        ind = next(i for i in self.indicators if i.key == key)
        cohort, n = self.cohort.total(row), getattr(ind, when).total(row)
        return None if cohort is None or n is None else cohort - n


@dataclass(frozen=True)
class Assessment:
    """One counted follow-up: its kind, district, the stored keys statistics reads, its order."""

    kind: str  #: "enrolment" or "discharge"
    district_id: int  #: the district of its document
    data: Mapping[str, Any]  #: the stored data, only the keys in KEPT
    order: tuple[date, datetime, int]  #: assessed_on, last change, document id: newest wins

    def day(self, key: str) -> date | None:
        return _day(self.data.get(key))

    def pick(self, key: str, allowed: Iterable[str]) -> str:
        value = self.data.get(key)
        return value if isinstance(value, str) and value in allowed else UNKNOWN

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "district_id": self.district_id,
            "data": dict(self.data),
            "order": [self.order[0].isoformat(), self.order[1].isoformat(), self.order[2]],
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Assessment:
        day, changed, doc_id = value["order"]
        return cls(
            str(value["kind"]),
            int(value["district_id"]),
            {k: v for k, v in dict(value["data"]).items() if k in KEPT},
            (date.fromisoformat(day), datetime.fromisoformat(changed), int(doc_id)),
        )


@dataclass
class Person:
    """A participant as statistics sees them: their newest enrolment and discharge assessment."""

    participant_id: int
    target_group: str  #: the participant's (an assessment's own target group comes first)
    enrolment: Assessment | None = None
    discharge: Assessment | None = None

    def group(self, a: Assessment) -> str:
        """The target group at assessment *a*: stored in it, else the participant's."""
        stored = a.data.get("target_group")
        if isinstance(stored, str) and stored in TARGET_GROUPS:
            return stored
        return self.target_group if self.target_group in TARGET_GROUPS else UNKNOWN

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (for a frozen period's snapshot); no names, no free text."""
        return {
            "participant_id": self.participant_id,
            "target_group": self.target_group,
            "enrolment": self.enrolment.to_json() if self.enrolment else None,
            "discharge": self.discharge.to_json() if self.discharge else None,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Person:
        e, d = value.get("enrolment"), value.get("discharge")
        return cls(
            int(value["participant_id"]),
            str(value["target_group"]),
            Assessment.from_json(e) if e else None,
            Assessment.from_json(d) if d else None,
        )


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- periods


def default_period(today: date) -> tuple[date, date]:
    """The last full half-year before *today*: the city reports its follow-up per half-year."""
    if today.month > 6:
        return date(today.year, 1, 1), date(today.year, 6, 30)
    return date(today.year - 1, 7, 1), date(today.year - 1, 12, 31)


def periods(today: date) -> dict[str, tuple[date, date]]:
    """Ready-made periods: the last full half-year, the last full year, this year so far."""
    return {
        "half_year": default_period(today),
        "year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
        "year_to_date": (date(today.year, 1, 1), today),
    }


# --------------------------------------------------------------------------- data


def people(district_id: int | None = None) -> list[Person]:
    """Every participant with a follow-up (involving *district_id*), newest assessments chosen."""
    live = (Document.type_slug == SLUG, Document.status != "voided")
    q = (
        select(
            Document.id,
            Document.district_id,
            Document.data,
            Document.updated_at,
            Participant.id,
            Participant.target_group,
        )
        .join(Participant, Participant.id == Document.participant_id)
        .where(*live)
    )
    if district_id is not None:
        # all of these participants' assessments, so "newest" does not depend on the district
        involved = select(Document.participant_id).where(*live, Document.district_id == district_id)
        q = q.where(Document.participant_id.in_(involved))
    found: dict[int, Person] = {}
    for doc_id, doc_district, data, updated_at, pid, target_group in db.session.execute(q):
        if not isinstance(data, dict) or data.get("assessment") not in ("enrolment", "discharge"):
            continue
        kind = data["assessment"]
        a = Assessment(
            kind,
            doc_district,
            {k: v for k, v in data.items() if k in KEPT},
            (_day(data.get("assessed_on")) or date.min, updated_at, doc_id),
        )
        person = found.setdefault(pid, Person(pid, target_group or ""))
        current = getattr(person, kind)
        if current is None or a.order > current.order:
            setattr(person, kind, a)
    return sorted(found.values(), key=lambda p: p.participant_id)


def district_names() -> dict[int, str]:
    """Every district's name by id, in name order."""
    q = select(District.id, District.name).order_by(District.name)
    return {did: name for did, name in db.session.execute(q)}


def district_name(district_id: int | None) -> str | None:
    """The name of a district, None for the whole city (or an unknown id)."""
    if district_id is None:
        return None
    d = db.session.get(District, district_id)
    return d.name if d else None


Counted = tuple[Person, Assessment]


def _first(p: Person) -> Assessment | None:
    """The assessment that says when and where the person was enrolled."""
    return p.enrolment or p.discharge


def _members(everyone: Iterable[Person], query: Query) -> dict[str, list[Counted]]:
    """Who each figure counts, with the assessment that places them (district, gender, group)."""
    out: dict[str, list[Counted]] = {key: [] for key in FIGURES}

    def wanted(p: Person, a: Assessment) -> bool:
        return query.target_group is None or p.group(a) == query.target_group

    for p in everyone:
        first = _first(p)
        enrolled_on = first.day("enrolled_on") if first else None
        if first is not None and enrolled_on is not None and wanted(p, first):
            if query.covers(enrolled_on):
                out["new"].append((p, first))
            left = p.discharge.day("discharged_on") if p.discharge else None
            if enrolled_on <= query.end and (left is None or left >= query.start):
                out["active"].append((p, first))
        d = p.discharge
        if d is not None and query.covers(d.day("discharged_on")) and wanted(p, d):
            out["discharged"].append((p, d))
    return out


def _columns(keys: Iterable[str], used: Iterable[str]) -> list[str]:
    """Fixed categories, and "unknown" only when someone is in it."""
    columns = list(keys)
    if UNKNOWN not in columns and UNKNOWN in set(used):
        columns.append(UNKNOWN)
    return columns


def _grid(
    rows: list[str],
    columns: list[str],
    members: Iterable[tuple[str, str]],
) -> disclosure.Grid:
    """A grid of (row, column) counts from (row, column) pairs, every pair present."""
    tally = Counter(members)
    return disclosure.Grid(
        rows=list(rows),
        columns=list(columns),
        counts={(r, c): tally[r, c] for r in rows for c in columns},
    )


def report(query: Query, people_: list[Person] | None = None) -> Report:
    """The half-year report for *query*, small groups hidden.

    *people_* is the data to count (a closed period's frozen snapshot); None reads the database.
    """
    names = district_names()
    if query.alone and query.district_id is not None:
        everyone = people(query.district_id) if people_ is None else people_
        rows = [names.get(query.district_id, f"#{query.district_id}")]
        keep: Callable[[int], bool] = lambda did: did == query.district_id  # noqa: E731
    else:
        everyone = people() if people_ is None else people_
        rows = list(names.values())
        rows += sorted(
            {_name(names, a.district_id) for p in everyone for a in _both(p)} - set(rows)
        )
        keep = lambda did: True  # noqa: E731
    m = query.minimum
    members = {
        key: [(p, a) for p, a in found if keep(a.district_id)]
        for key, found in _members(everyone, query).items()
    }

    def place(a: Assessment) -> str:
        return _name(names, a.district_id)

    figures: dict[str, Figure] = {}
    for key in FIGURES:
        found = members[key]
        genders = [(place(a), a.pick("gender", GENDERS)) for _p, a in found]
        groups = [(place(a), p.group(a)) for p, a in found]
        grids = {"gender": _grid(rows, _columns(GENDERS, (g for _r, g in genders)), genders)}
        if query.target_group is None:
            used = (g for _r, g in groups)
            grids["target_group"] = _grid(rows, _columns(TARGET_GROUPS, used), groups)
        if key == "discharged":
            reasons = [(place(a), a.pick("discharge_reason", DISCHARGE_REASONS)) for _p, a in found]
            used = (r for _d, r in reasons)
            grids["reason"] = _grid(rows, _columns(DISCHARGE_REASONS, used), reasons)
        protected = disclosure.protect_linked(grids, m)
        counts = {k: Counts(rows, g.columns, protected[k]) for k, g in grids.items()}
        figures[key] = Figure(key, counts["gender"], counts.get("target_group"))
        if key == "discharged":
            reason_counts = counts["reason"]
    cohort = [(p.enrolment, a) for p, a in members["discharged"] if p.enrolment is not None]
    cohort_counts = _protected(
        _grid(rows, ["cohort"], ((place(a), "cohort") for _e, a in cohort)), m
    )
    indicators = []
    for key in INDICATORS:
        pair = []
        for index in (0, 1):
            answers = [(place(a), (e, a)[index].pick(key, ANSWERS)) for e, a in cohort]
            grid = _grid(rows, ["yes", "no"], (x for x in answers if x[1] != UNKNOWN))
            pair.append(_protected(grid, m, binary=True))
        indicators.append(IndicatorResult(key, pair[0], pair[1]))
    shown = rows if query.district_id is None else [names.get(query.district_id, "")]
    discharged = figures["discharged"].by_gender
    return Report(
        query=query,
        scope=None if query.district_id is None else shown[0],
        rows=shown,
        show_city=not query.alone,
        figures=figures,
        reasons=reason_counts,
        cohort=cohort_counts,
        indicators=indicators,
        rows_left_out=[r for r in shown if discharged.total(r) is None],
    )


def _name(names: Mapping[int, str], district_id: int) -> str:
    return names.get(district_id, f"#{district_id}")


def _both(p: Person) -> list[Assessment]:
    return [a for a in (p.enrolment, p.discharge) if a is not None]


def _protected(grid: disclosure.Grid, minimum: int, *, binary: bool = False) -> Counts:
    return Counts(grid.rows, grid.columns, disclosure.protect_grid(grid, minimum, binary=binary))


# --------------------------------------------------------------------------- the row export


def _pseudonym(key: bytes, participant_id: int) -> str:
    # 64 bits: no collision to expect among a city's participants; without the key, no way back
    return hmac.new(key, str(participant_id).encode(), hashlib.sha256).hexdigest()[:16]


def export_rows(rep: Report, people_: list[Person] | None = None) -> list[dict[str, str]]:
    """One de-identified row per participant discharged in the report's period, in random order.

    The same people and the same suppression as *rep*: rows of districts in rep.rows_left_out
    are left out, and a value is "hidden" where the table cell counting it is hidden.
    """
    query = rep.query
    if people_ is None:
        people_ = people(query.district_id if query.alone else None)
    names = district_names()
    shown = set(rep.rows) - set(rep.rows_left_out)
    found = [
        (p, a)
        for p, a in _members(people_, query)["discharged"]
        if _name(names, a.district_id) in shown
    ]
    fig = rep.figures["discharged"]
    key = secrets.token_bytes(32)  # lives for this export only: pseudonyms cannot be linked later
    rows = []

    def value(counts: Counts | None, row: str, column: str) -> str:
        if counts is not None and counts.cell(row, column) is None:
            return HIDDEN
        return column

    for p, out in found:
        where = _name(names, out.district_id)
        enrol = p.enrolment
        enrolled_on = (enrol or out).day("enrolled_on")
        row = {
            "pseudonym": _pseudonym(key, p.participant_id),
            "district": where,
            "target_group": value(fig.by_target_group, where, p.group(out)),
            "gender": value(fig.by_gender, where, out.pick("gender", GENDERS)),
            "enrolled_month": f"{enrolled_on:%Y-%m}" if enrolled_on else "",
            "discharged_month": f"{out.day('discharged_on'):%Y-%m}",
            "discharge_reason": value(
                rep.reasons, where, out.pick("discharge_reason", DISCHARGE_REASONS)
            ),
        }
        cohort_hidden = rep.cohort.total(where) is None
        for ind in rep.indicators:
            for when, a in (("enrolment", enrol), ("discharge", out)):
                answer = a.pick(ind.key, ANSWERS) if a else ""
                if enrol is not None and (
                    cohort_hidden
                    or (answer != UNKNOWN and getattr(ind, when).total(where) is None)
                    or (answer in ("yes", "no") and getattr(ind, when).cell(where, answer) is None)
                ):
                    answer = HIDDEN
                row[f"{ind.key}_{when}"] = answer
        rows.append(row)
    rows.sort(key=lambda r: r["pseudonym"])  # never in participant or document order
    return rows


def rows_notes(rep: Report, rows: Sequence[Mapping[str, str]]) -> list[str]:
    """What the row export covers, for the file's first lines and for the page."""
    m = rep.query.minimum
    total = rep.figures["discharged"].by_gender.total(None if rep.show_city else rep.rows[0])
    notes = [
        _(
            "En rad per deltagare som skrivits ut under perioden. Värdet %(hidden)s står där "
            "motsvarande cell i tabellerna döljs.",
            hidden=HIDDEN,
        )
    ]
    if rep.rows_left_out:
        notes.append(
            _(
                "Rader från %(districts)s tas inte med: antalet utskrivna där döljs i tabellerna "
                "(färre än %(n)d, eller dolt för att ett sådant antal inte ska kunna räknas "
                "fram). Andelar räknade på raderna gäller därför bara stadsdelarna i filen och "
                "kan skilja sig från hela stadens andelar i rapporten.",
                districts=", ".join(rep.rows_left_out),
                n=m,
            )
        )
    if total is not None:
        notes.append(_("Filen har %(rows)d av %(total)d utskrivna.", rows=len(rows), total=total))
    return notes


# --------------------------------------------------------------------------- output


def hidden_text(whole_row_hidden: bool, minimum: int) -> str:
    """What a hidden value reads as: "färre än m" when the whole table is below m, else "döljs".

    Only the grand total (the city's, or a manager's one district) is known to be hidden for
    being small; a hidden district row may be a complement of at least m, so it says "döljs".
    """
    return _("färre än %(n)d", n=minimum) if whole_row_hidden else _("döljs")


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]], notes: Sequence[str] = ()) -> bytes:
    """CSV for Excel in Swedish: UTF-8 with BOM, semicolons, decimal comma, CRLF.

    *notes* come first, each on a line of its own starting with "#".
    """
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    for note in notes:
        writer.writerow([f"# {note}"])
    writer.writerow(header)
    for row in rows:
        # a cell starting like a formula would be run by a spreadsheet: make it plain text
        writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@", "\t", "\r") else c for c in row])
    return buf.getvalue().encode("utf-8-sig")


def rows_csv(rows: Iterable[Mapping[str, str]], notes: Sequence[str] = ()) -> bytes:
    """The row export as CSV, its notes first."""
    return _csv(ROW_COLUMNS, ([row[c] for c in ROW_COLUMNS] for row in rows), notes)


def labels() -> dict[str, dict[str, Any]]:
    """Category key -> label for the gender, target group and discharge reason tables."""
    unknown = {UNKNOWN: _("Uppgift saknas")}
    return {
        "gender": {**GENDERS, **unknown},
        "target_group": {**TARGET_GROUPS, **unknown},
        "discharge_reason": {**DISCHARGE_REASONS, **unknown},
    }


def figure_titles() -> dict[str, str]:
    """The three counts, as the city names them."""
    return {
        "new": _("Nya inskrivna under perioden"),
        "active": _("Inskrivna någon gång under perioden"),
        "discharged": _("Utskrivna under perioden"),
    }


def target_group_label(query: Query) -> str:
    """The target group(s) counted."""
    if query.target_group in TARGET_GROUPS:
        return str(TARGET_GROUPS[query.target_group])
    return _("SIG unga och SIG unga vuxna")


def definitions(minimum: int) -> list[str]:
    """What each figure counts, the base of shares, the markers: for the page and the exports."""
    return [
        _(
            "Nya inskrivna: inskrivningsdatumet ligger i perioden. Inskrivna någon gång under "
            "perioden: inskrivna senast periodens sista dag och inte utskrivna före dess första "
            "dag. Utskrivna: utskrivningsdatumet ligger i perioden."
        ),
        _(
            "Kön, målgrupp och stadsdel tas från bedömningen vid inskrivning (för utskrivna från "
            "bedömningen vid utskrivning); målgruppen från bedömningen om den finns där, annars "
            "från deltagaren."
        ),
        _(
            "Andelar vid inskrivning och utskrivning gäller de utskrivna under perioden som också "
            "har en bedömning vid inskrivning. Andelens bas är de som svarat ja eller nej; ”vet "
            "ej” räknas inte in i basen utan redovisas för sig."
        ),
        _(
            "”döljs”: värdet gäller färre än %(n)d personer, eller kunde användas för att räkna "
            "fram ett sådant värde ur summorna, eller skulle visa att alla eller ingen i en liten "
            "grupp svarat ja. ”färre än %(n)d”: hela tabellens summa är under %(n)d. 0 betyder "
            "att ingen alls räknats (inga uppföljningar).",
            n=minimum,
        ),
        _(
            "Döljs en könsfördelning kan du välja en längre period eller se hela staden, där "
            "grupperna är större. Den minsta gruppen (%(n)d) bestäms av administratören "
            "(STATISTICS_MIN_GROUP) och sänks inte för en enskild sökning: två sökningar med "
            "olika gränser skulle tillsammans visa just de små grupperna.",
            n=minimum,
        ),
    ]


def _fmt(value: int | None) -> str:
    return "" if value is None else str(value)


def aggregates_csv(rep: Report) -> bytes:
    """The report as CSV, one value per line (long format); hidden values empty with a note."""
    q, m = rep.query, rep.query.minimum
    names_by = labels()
    group = target_group_label(q)
    lines: list[list[str]] = []

    def line(
        where: str | None,
        section: str,
        key: str,
        label: Any,
        count: Any,
        n: Any,
        share: str,
        whole: bool,
    ) -> None:
        note = hidden_text(whole, m) if count is None else ""
        lines.append(
            [q.start.isoformat(), q.end.isoformat(), group, where or _("Hela staden"), section]
            + [key, str(label), _fmt(count), _fmt(n), share.replace(".", ","), note]
        )

    tables: list[tuple[str, Counts, Mapping[str, Any]]] = []
    for key, fig in rep.figures.items():
        tables.append((f"{key}_by_gender", fig.by_gender, names_by["gender"]))
        if fig.by_target_group is not None:
            tables.append((f"{key}_by_target_group", fig.by_target_group, names_by["target_group"]))
    tables.append(("discharge_reason", rep.reasons, names_by["discharge_reason"]))
    for where in rep.lines:
        for section, counts, names in tables:
            for key in counts.columns:
                count = counts.cell(where, key)
                whole = counts.small
                line(where, section, key, names.get(key, key), count, None, "", whole)
            total = counts.total(where)
            line(where, section, "total", _("Totalt"), total, None, "", counts.small)
        cohort_label = _("Utskrivna med bedömning vid inskrivning")
        cohort, whole = rep.cohort.total(where), rep.cohort.small
        line(where, "indicator_cohort", "total", cohort_label, cohort, None, "", whole)
        for when in ("enrolment", "discharge"):
            for ind in rep.indicators:
                s = ind.share(when, where)
                label = INDICATORS[ind.key]
                whole = getattr(ind, when).small
                line(where, f"indicator_{when}", ind.key, label, s.yes, s.n, s.percent(1), whole)
    return _csv(AGGREGATE_COLUMNS, lines)


def _label(where: str | None) -> str:
    return where if where is not None else _("Hela staden")


def tables(rep: Report) -> list[Table]:
    """The report as generic tables (report_export.Table) for the workbook and the whole CSV."""
    m = rep.query.minimum
    names_by = labels()
    district = _("Stadsdel")
    whole = rep.figures["discharged"].by_gender.small
    hidden = hidden_text(whole, m)
    base_notes = definitions(m)
    out: list[Table] = []
    titles = figure_titles()

    def counts_table(key: str, title: str, counts: Counts, names: Mapping[str, Any]) -> Table:
        return Table(
            key=key,
            title=title,
            columns=[district, *(str(names.get(c, c)) for c in counts.columns), _("Totalt")],
            rows=[
                [_label(w), *(counts.cell(w, c) for c in counts.columns), counts.total(w)]
                for w in rep.lines
            ],
            hidden_text=hidden,
            notes=base_notes,
        )

    for key, fig in rep.figures.items():
        out.append(
            counts_table(
                f"{key}_by_gender",
                _("%(t)s, per kön", t=titles[key]),
                fig.by_gender,
                names_by["gender"],
            )
        )
        if fig.by_target_group is not None:
            out.append(
                counts_table(
                    f"{key}_by_target_group",
                    _("%(t)s, per målgrupp", t=titles[key]),
                    fig.by_target_group,
                    names_by["target_group"],
                )
            )
    out.append(
        counts_table(
            "discharge_reasons",
            _("Utskrivna under perioden, per orsak"),
            rep.reasons,
            names_by["discharge_reason"],
        )
    )
    for ind in rep.indicators:
        rows: list[list[str | int | None]] = []
        for w in rep.lines:
            row: list[str | int | None] = [_label(w)]
            for when in ("enrolment", "discharge"):
                s = ind.share(when, w)
                pct: str | int | None = f"{s.percent()} %" if s.share is not None else None
                if s.n == 0:
                    pct = "–"
                row += [pct, s.yes, s.n, rep.unknown(ind.key, when, w)]
            rows.append(row)
        out.append(
            Table(
                key=f"indicator_{ind.key}",
                title=str(INDICATORS[ind.key]),
                columns=[
                    district,
                    _("Andel ja vid inskrivning"),
                    _("Ja vid inskrivning"),
                    _("Ja eller nej vid inskrivning"),
                    _("Vet ej vid inskrivning"),
                    _("Andel ja vid utskrivning"),
                    _("Ja vid utskrivning"),
                    _("Ja eller nej vid utskrivning"),
                    _("Vet ej vid utskrivning"),
                ],
                rows=rows,
                hidden_text=hidden,
                notes=base_notes,
            )
        )
    return out


def log(
    action: str,
    query: Query,
    *,
    actor: User,
    origin: audit.Origin | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record that *actor* viewed or exported statistics for *query*."""
    audit.record(
        action,
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="statistics",
        district_id=query.district_id,
        details={
            "from": query.start.isoformat(),
            "to": query.end.isoformat(),
            "district_id": query.district_id,
            "target_group": query.target_group,
            "min_group": query.minimum,
            **(details or {}),
        },
        origin=origin,
    )
    db.session.commit()
