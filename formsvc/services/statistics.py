"""Follow-up statistics (bilaga 3.4): enrolment vs discharge, per district or for the whole city.

Reads the stored data of follow_up documents (documented in formsvc.forms.follow_up) and returns
only aggregates and de-identified rows. No Flask request here: the view passes plain values.

Which assessments count
    Voided documents are ignored. A participant may have several follow-ups: per participant the
    newest enrolment assessment and the newest discharge assessment (by assessed_on, then by last
    change) are used. An assessment belongs to the district of its document, so a participant who
    moved is counted where each assessment was made.

    - enrolled in the period: the enrolment assessment's enrolled_on lies in the period (without
      an enrolment assessment, the discharge assessment's enrolled_on); gender from that assessment.
    - discharged in the period: the discharge assessment's discharged_on lies in the period;
      gender and discharge reason from it, target group from the participant.
    - indicators: among those discharged in the period who also have an enrolment assessment, the
      share answering "yes" at enrolment and at discharge. "unknown" is left out of the
      denominator n (n = yes + no), separately at each time.

Small groups (the minimum m, config STATISTICS_MIN_GROUP) -- see protect()
    A table row is its cells and their total (e.g. discharged by gender). A total below m hides
    the whole row. A cell from 1 to m-1 is hidden; zero is shown (it describes no one). Then, so
    that subtracting the shown cells from the total gives no hidden cell, the smallest cell of at
    least m is hidden with them, if its possible values still form a range; otherwise (and when
    every non-empty cell is below m) all cells are hidden, zeros too, and only the total shows.
    Hidden cells are then at least two and hold more than m people together. Hidden values are
    None. tests/services/test_statistics.py tries every value
    the hidden cells of many rows could have had, knowing this rule, and finds at least two for
    each hidden cell.

    Indicators: yes and no are such a row with the total n. n below m hides n and the share;
    yes or no from 1 to m-1 hides the count and the share (the other group would follow from n).
    The number answering "unknown" follows from the cohort minus n, and the number discharged
    without an enrolment assessment from the discharged minus the cohort; both say how well the
    cases were documented, not something about the people, and are not protected.

    One marker for every hidden cell inside a shown total ("döljs"), so the marker never tells the
    small cell from its complement; "färre än m" where the total itself is below m (true for each
    cell of such a row).

The row export is pseudonymised, not anonymous
    One row per participant discharged in the period, without names, identity numbers, birth dates,
    free text or ids: a pseudonym (HMAC-SHA256 of the participant id under a random key made for
    this export and then thrown away: stable within one export, unlinkable across exports), months
    instead of days, and the keys of the stored answers (the file means the same in any UI
    language). Rows of a district with fewer than m discharged in the period are left out, not
    pooled: a pooled row could be told apart by exporting the other districts one by one.

What suppression does not stop
    It protects each table. Differences between queries can still narrow a hidden group: the
    city minus the other districts, or two overlapping periods. So statistics are for two named
    roles only, and every view and export is in the audit log with its period and district.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from formsvc.doctypes import TARGET_GROUPS
from formsvc.extensions import db
from formsvc.forms.follow_up import DISCHARGE_REASONS, GENDERS, INDICATORS
from formsvc.models import District, Document, Participant, User
from formsvc.services import audit

SLUG = "follow_up"
UNKNOWN = "unknown"
ANSWERS = ("yes", "no", UNKNOWN)
#: Indicators where a falling share is the wanted result (for the others a rising one).
LOWER_IS_BETTER = frozenset(
    {"suspected_crime", "debts_criminals", "debts_enforcement", "substance_use"}
)
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
    """What to count: a period (both days included) and a district or the whole city."""

    start: date  #: first day of the period
    end: date  #: last day of the period, included
    district_id: int | None = None  #: one district, or None for the whole city
    minimum: int = 5  #: the smallest group shown (STATISTICS_MIN_GROUP)

    def covers(self, day: date | None) -> bool:
        """True when *day* lies in the period."""
        return day is not None and self.start <= day <= self.end


@dataclass(frozen=True)
class Counts:
    """One table row after suppression."""

    cells: dict[str, int | None]  #: category key -> count, None when hidden
    total: int | None  #: the row's total, None when below the minimum (then every cell is None)


@dataclass(frozen=True)
class Share:
    """How many answered yes, among those who answered yes or no."""

    n: int | None  #: answered yes or no; None when below the minimum
    yes: int | None  #: answered yes; None when hidden
    share: float | None  #: yes / n (0..1); None when hidden

    def percent(self, places: int = 0) -> str:
        """The share in percent, rounded half up ("45", or "45.5" with places=1); "" if hidden."""
        if self.yes is None or self.n is None or self.share is None:
            return ""
        exact = Decimal(100 * self.yes) / Decimal(self.n)  # exact, not via the float share
        return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class IndicatorResult:
    """One indicator at enrolment and at discharge."""

    key: str  #: key of INDICATORS
    enrolment: Share  #: answers at enrolment
    discharge: Share  #: answers at discharge

    @property
    def lower_is_better(self) -> bool:
        return self.key in LOWER_IS_BETTER

    def change(self) -> int | None:
        """Change in whole percentage points, or None when either share is hidden."""
        if self.enrolment.share is None or self.discharge.share is None:
            return None
        return int(self.discharge.percent()) - int(self.enrolment.percent())


@dataclass(frozen=True)
class Report:
    """Everything the statistics page and the aggregate export show."""

    query: Query  #: what was counted
    district_name: str | None  #: the district's name, None for the whole city
    enrolled_gender: Counts  #: enrolled in the period, by gender
    enrolled_target_group: Counts  #: enrolled in the period, by target group
    discharged_gender: Counts  #: discharged in the period, by gender
    discharged_target_group: Counts  #: discharged in the period, by target group
    discharge_reasons: Counts  #: discharged in the period, by reason
    cohort: int | None  #: discharged in the period with an enrolment assessment (None: too few)
    indicators: list[IndicatorResult]  #: in the order of INDICATORS


@dataclass(frozen=True)
class _Assessment:
    kind: str
    district_id: int
    data: Mapping[str, Any]
    order: tuple[date, datetime, int]

    def day(self, key: str) -> date | None:
        return _day(self.data.get(key))

    def pick(self, key: str, allowed: Iterable[str]) -> str:
        value = self.data.get(key)
        return value if isinstance(value, str) and value in allowed else UNKNOWN


@dataclass
class _Person:
    participant_id: int
    target_group: str
    enrolment: _Assessment | None = None
    discharge: _Assessment | None = None


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


# --------------------------------------------------------------------------- suppression


def protect(cells: Mapping[str, int], minimum: int) -> Counts:
    """Hide small cells of one table row so that none can be seen or worked out from the total."""
    total = sum(cells.values())
    if total < minimum:
        return Counts({key: None for key in cells}, None)
    small = [key for key, value in cells.items() if 0 < value < minimum]
    if not small:
        return Counts(dict(cells), total)
    large = [key for key, value in cells.items() if value >= minimum]
    hidden = set(cells)  # every non-empty cell small, or no safe complement: hide all, zeros too
    if large:
        # hidden small cells alone would be bounded (each below m, with a known sum), so the
        # smallest group of at least m (first on ties) joins them, if that leaves it some range
        extra = min(large, key=lambda key: cells[key])
        if _has_range(cells, small, extra, minimum):
            hidden = {*small, extra}
    return Counts({key: None if key in hidden else value for key, value in cells.items()}, total)


def _has_range(cells: Mapping[str, int], small: list[str], extra: str, minimum: int) -> bool:
    """Whether the complement *extra* could, to someone who knows protect(), hold two values.

    They know the hidden sum, that each small cell is 1..m-1, that the complement is at least m
    and below every shown cell before it (at most every one after it). If it has one possible
    value, so has the small cells' sum (and with one small cell, that cell).
    """
    order = list(cells)
    held = sum(cells[key] for key in small) + cells[extra]
    low = max(minimum, held - len(small) * (minimum - 1))
    high = held - len(small)
    for key in order:
        if key != extra and key not in small and cells[key] >= minimum:
            before = order.index(key) < order.index(extra)
            high = min(high, cells[key] - 1 if before else cells[key])
    return low < high


def _share(answers: Iterable[str], minimum: int) -> Share:
    tally = Counter(answers)
    row = protect({"yes": tally["yes"], "no": tally["no"]}, minimum)
    yes = row.cells["yes"]
    if row.total is None or yes is None:
        return Share(row.total, None, None)
    return Share(row.total, yes, yes / row.total)


# --------------------------------------------------------------------------- data


def _people(district_id: int | None) -> list[_Person]:
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
    people: dict[int, _Person] = {}
    for doc_id, doc_district, data, updated_at, pid, target_group in db.session.execute(q):
        if not isinstance(data, dict) or data.get("assessment") not in ("enrolment", "discharge"):
            continue
        kind = data["assessment"]
        a = _Assessment(
            kind,
            doc_district,
            data,
            (_day(data.get("assessed_on")) or date.min, updated_at, doc_id),
        )
        person = people.setdefault(pid, _Person(pid, target_group))
        current = getattr(person, kind)
        if current is None or a.order > current.order:
            setattr(person, kind, a)
    return list(people.values())


def _in(a: _Assessment, query: Query) -> bool:
    return query.district_id is None or a.district_id == query.district_id


def _discharged(people: Iterable[_Person], query: Query) -> list[_Person]:
    return [
        p
        for p in people
        if p.discharge is not None
        and _in(p.discharge, query)
        and query.covers(p.discharge.day("discharged_on"))
    ]


def _categories(keys: Iterable[str], tally: Counter[str]) -> dict[str, int]:
    """Fixed categories, and "unknown" only when someone is in it."""
    cells = {key: tally[key] for key in keys}
    if tally[UNKNOWN] and UNKNOWN not in cells:
        cells[UNKNOWN] = tally[UNKNOWN]
    return cells


def _by(people: Sequence[tuple[_Person, _Assessment]], query: Query) -> tuple[Counts, Counts]:
    gender = Counter(a.pick("gender", GENDERS) for _p, a in people)
    groups = Counter(
        p.target_group if p.target_group in TARGET_GROUPS else UNKNOWN for p, _a in people
    )
    return (
        protect(_categories(GENDERS, gender), query.minimum),
        protect(_categories(TARGET_GROUPS, groups), query.minimum),
    )


def district_name(district_id: int | None) -> str | None:
    """The name of a district, None for the whole city (or an unknown id)."""
    if district_id is None:
        return None
    d = db.session.get(District, district_id)
    return d.name if d else None


def report(query: Query) -> Report:
    """Counts, discharge reasons and the eight indicators for *query*, small groups hidden."""
    people = _people(query.district_id)
    enrolled = [
        (p, a)
        for p in people
        if (a := p.enrolment or p.discharge) is not None
        and _in(a, query)
        and query.covers(a.day("enrolled_on"))
    ]
    discharged = _discharged(people, query)
    out = [(p, p.discharge) for p in discharged if p.discharge is not None]
    cohort = [(p.enrolment, p.discharge) for p in discharged if p.enrolment and p.discharge]
    m = query.minimum
    indicators = [
        IndicatorResult(
            key,
            _share((e.pick(key, ANSWERS) for e, _d in cohort), m),
            _share((d.pick(key, ANSWERS) for _e, d in cohort), m),
        )
        for key in INDICATORS
    ]
    reasons = Counter(a.pick("discharge_reason", DISCHARGE_REASONS) for _p, a in out)
    enrolled_gender, enrolled_group = _by(enrolled, query)
    discharged_gender, discharged_group = _by(out, query)
    return Report(
        query=query,
        district_name=district_name(query.district_id),
        enrolled_gender=enrolled_gender,
        enrolled_target_group=enrolled_group,
        discharged_gender=discharged_gender,
        discharged_target_group=discharged_group,
        discharge_reasons=protect(_categories(DISCHARGE_REASONS, reasons), m),
        cohort=len(cohort) if len(cohort) >= m else None,
        indicators=indicators,
    )


def _pseudonym(key: bytes, participant_id: int) -> str:
    # 64 bits: no collision to expect among a city's participants; without the key, no way back
    return hmac.new(key, str(participant_id).encode(), hashlib.sha256).hexdigest()[:16]


def export_rows(query: Query) -> list[dict[str, str]]:
    """One de-identified row per participant discharged in the period, in random order.

    Rows of districts with fewer than the minimum discharged in the period are left out.
    """
    discharged = _discharged(_people(query.district_id), query)
    per_district = Counter(p.discharge.district_id for p in discharged if p.discharge)
    discharged = [
        p
        for p in discharged
        if p.discharge and per_district[p.discharge.district_id] >= query.minimum
    ]
    names: dict[int, str] = {
        did: name for did, name in db.session.execute(select(District.id, District.name))
    }
    key = secrets.token_bytes(32)  # lives for this export only: pseudonyms cannot be linked later
    rows = []
    for p in discharged:
        out, enrol = p.discharge, p.enrolment
        assert out is not None
        enrolled_on = (enrol or out).day("enrolled_on")
        row = {
            "pseudonym": _pseudonym(key, p.participant_id),
            "district": names.get(out.district_id, ""),
            "target_group": p.target_group if p.target_group in TARGET_GROUPS else UNKNOWN,
            "gender": out.pick("gender", GENDERS),
            "enrolled_month": f"{enrolled_on:%Y-%m}" if enrolled_on else "",
            "discharged_month": f"{out.day('discharged_on'):%Y-%m}",
            "discharge_reason": out.pick("discharge_reason", DISCHARGE_REASONS),
        }
        for ind in INDICATORS:
            row[f"{ind}_enrolment"] = enrol.pick(ind, ANSWERS) if enrol else ""
            row[f"{ind}_discharge"] = out.pick(ind, ANSWERS)
        rows.append(row)
    rows.sort(key=lambda r: r["pseudonym"])  # never in participant or document order
    return rows


# --------------------------------------------------------------------------- output


def hidden_text(whole_row_hidden: bool, minimum: int) -> str:
    """What a hidden value reads as: "färre än m" when the whole row is below m, else "döljs"."""
    return _("färre än %(n)d", n=minimum) if whole_row_hidden else _("döljs")


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """CSV for Excel in Swedish: UTF-8 with BOM, semicolons, decimal comma, CRLF."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        # a cell starting like a formula would be run by a spreadsheet: make it plain text
        writer.writerow(["'" + c if c[:1] in ("=", "+", "-", "@", "\t", "\r") else c for c in row])
    return buf.getvalue().encode("utf-8-sig")


def rows_csv(rows: Iterable[Mapping[str, str]]) -> bytes:
    """The row export as CSV."""
    return _csv(ROW_COLUMNS, ([row[c] for c in ROW_COLUMNS] for row in rows))


def labels() -> dict[str, dict[str, Any]]:
    """Category key -> label for the gender, target group and discharge reason tables."""
    unknown = {UNKNOWN: _("Uppgift saknas")}
    return {
        "gender": {**GENDERS, **unknown},
        "target_group": {**TARGET_GROUPS, **unknown},
        "discharge_reason": {**DISCHARGE_REASONS, **unknown},
    }


def aggregates_csv(rep: Report) -> bytes:
    """The report as CSV, one value per line (long format); hidden values empty with a note."""
    q, m = rep.query, rep.query.minimum
    where = rep.district_name or _("Hela staden")
    names_by = labels()
    lines: list[list[str]] = []

    def line(section: str, key: str, label: Any, count: Any, n: Any, share: str, note: str) -> None:
        lines.append(
            [q.start.isoformat(), q.end.isoformat(), where, section, key, str(label)]
            + ["" if v is None else str(v) for v in (count, n)]
            + [share.replace(".", ","), note]
        )

    tables = (
        ("enrolled_by_gender", rep.enrolled_gender, names_by["gender"]),
        ("enrolled_by_target_group", rep.enrolled_target_group, names_by["target_group"]),
        ("discharged_by_gender", rep.discharged_gender, names_by["gender"]),
        ("discharged_by_target_group", rep.discharged_target_group, names_by["target_group"]),
        ("discharge_reason", rep.discharge_reasons, names_by["discharge_reason"]),
    )
    for section, row, names in tables:
        whole = row.total is None
        for key, value in [*row.cells.items(), ("total", row.total)]:
            note = hidden_text(whole, m) if value is None else ""
            line(section, key, names.get(key, _("Totalt")), value, None, "", note)
    cohort_note = hidden_text(True, m) if rep.cohort is None else ""
    cohort_label = _("Utskrivna med bedömning vid inskrivning")
    line("indicator_cohort", "total", cohort_label, rep.cohort, None, "", cohort_note)
    for when in ("enrolment", "discharge"):
        for ind in rep.indicators:
            s: Share = getattr(ind, when)
            note = "" if s.share is not None else hidden_text(s.n is None, m)
            share = s.percent(1)
            line(f"indicator_{when}", ind.key, INDICATORS[ind.key], s.yes, s.n, share, note)
    return _csv(AGGREGATE_COLUMNS, lines)


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
            "min_group": query.minimum,
            **(details or {}),
        },
        origin=origin,
    )
    db.session.commit()
