"""Follow-up statistics (bilaga 3.4): analysts for any district or the city, managers their own."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from formsvc.doctypes import TARGET_GROUPS
from formsvc.forms.follow_up import INDICATORS
from formsvc.models import District
from formsvc.models.statistics_period import ClosedPeriod
from formsvc.services import charts, periods, report_export, statistics, users
from formsvc.views._common import origin, roles_required

bp = Blueprint("statistics", __name__, url_prefix="/statistics")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
ROLES = ("analyst", "manager")
#: Longer input than this is not a date or a district id; it is cut before being shown back.
MAX_INPUT = 40


@dataclass
class Filters:
    """The GET form: what was typed (shown back as typed), its errors, and the query if valid."""

    typed: dict[str, str]  #: "from", "to", "district", "group" as typed
    errors: dict[str, str] = field(default_factory=dict)  #: field -> Swedish message
    query: statistics.Query | None = None  #: None when there are errors
    notice: str = ""  #: a note that part of the input was ignored


def _minimum() -> int:
    return max(1, int(current_app.config["STATISTICS_MIN_GROUP"]))


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _parse(args: Mapping[str, str], districts: list[District]) -> Filters:
    keys = ("from", "to", "district", "group")
    f = Filters({k: str(args.get(k, "")).strip()[:MAX_INPUT] for k in keys})
    start, end = (_date(f.typed[k]) for k in ("from", "to"))
    if not f.typed["from"] and not f.typed["to"]:
        start, end = statistics.default_period(date.today())
        f.typed.update({"from": start.isoformat(), "to": end.isoformat()})
    if start is None:
        f.errors["from"] = _("Ange startdatum som ÅÅÅÅ-MM-DD, till exempel 2026-01-01.")
    if end is None:
        f.errors["to"] = _("Ange slutdatum som ÅÅÅÅ-MM-DD, till exempel 2026-06-30.")
    elif start is not None and end < start:
        f.errors["to"] = _("Slutdatumet kan inte vara före startdatumet.")
    district_id: int | None = current_user.district_id
    if current_user.role == "manager":
        if f.typed["district"] not in ("", str(district_id)):
            f.notice = _("Du kan bara se statistik för din egen stadsdel.")
        f.typed["district"] = str(district_id)
    elif f.typed["district"] == "":
        district_id = None  # the whole city
    elif f.typed["district"] in {str(d.id) for d in districts}:
        district_id = int(f.typed["district"])
    else:
        f.errors["district"] = _("Välj en stadsdel i listan, eller hela staden.")
    group = f.typed["group"] or None
    if group is not None and group not in TARGET_GROUPS:
        f.errors["group"] = _("Välj en målgrupp i listan, eller båda.")
    if not f.errors and start is not None and end is not None:
        f.query = statistics.Query(
            start,
            end,
            district_id,
            _minimum(),
            target_group=group,
            alone=current_user.role == "manager",
        )
    return f


def _filters() -> tuple[Filters, list[District]]:
    if current_user.role == "manager" and current_user.district_id is None:
        abort(403)  # a manager without a district has no statistics to see
    districts = users.districts()
    return _parse(request.args, districts), districts


def _percent(share: statistics.Share) -> str:
    return f"{share.percent()}\u00a0%"


def _line(rep: statistics.Report) -> str | None:
    """The row the chart shows: the district picked (or a manager's own), else the city."""
    return rep.rows[0] if rep.scope is not None else None


def _said_share(rep: statistics.Report, s: statistics.Share, when: str, key: str) -> str:
    if s.share is not None:
        return _percent(s)
    if s.n == 0:
        return _("inga svar")
    ind = next(i for i in rep.indicators if i.key == key)
    return statistics.hidden_text(getattr(ind, when).small, rep.query.minimum)


def _chart(rep: statistics.Report) -> charts.PairedBars:
    line = _line(rep)

    def value(r: statistics.IndicatorResult, when: str) -> charts.Value:
        s = r.share(when, line)
        if s.share is None:
            return charts.Value(None, _said_share(rep, s, when, r.key))
        return charts.Value(s.share, _percent(s))

    rows = [
        charts.Row(
            str(INDICATORS[r.key]),
            _("(lägre är bättre)") if r.lower_is_better else _("(högre är bättre)"),
            (value(r, "enrolment"), value(r, "discharge")),
        )
        for r in rep.indicators
    ]
    return charts.paired_bars(
        rows, (_("Vid inskrivning"), _("Vid utskrivning")), lambda p: f"{p}\u00a0%"
    )


def _chart_desc(rep: statistics.Report) -> str:
    line = _line(rep)
    return " ".join(
        _(
            "%(q)s: %(a)s vid inskrivning, %(b)s vid utskrivning.",
            q=INDICATORS[r.key],
            a=_said_share(rep, r.share("enrolment", line), "enrolment", r.key),
            b=_said_share(rep, r.share("discharge", line), "discharge", r.key),
        )
        for r in rep.indicators
    )


def _closed(q: statistics.Query) -> ClosedPeriod | None:
    """The closed period the report is read from, if its dates are closed.

    An analyst's report (also one district's row) comes from the city's tables, so from the
    city's closed period; a manager's from their district's or the city's.
    """
    return periods.closed_period_for(q if q.alone else replace(q, district_id=None))


def _people(q: statistics.Query) -> tuple[list[statistics.Person], ClosedPeriod | None]:
    """The people a report counts: a closed period's frozen snapshot, else the database."""
    cp = _closed(q)
    if cp is not None:
        return periods.people_of(cp), cp
    return statistics.people(q.district_id if q.alone else None), None


def _corrections(cp: ClosedPeriod | None, q: statistics.Query | None) -> int:
    """Corrections saved after the period closed (a manager's: their district's)."""
    if cp is None or q is None:
        return 0
    return periods.correction_count(cp, q.district_id if q.alone else None)


def _closed_label(cp: ClosedPeriod | None) -> str | None:
    """ "2020-01-01–2020-06-30, stängd 2020-08-15 av analytiker1" (Stockholm time), or None."""
    if cp is None:
        return None
    at = cp.closed_at.replace(tzinfo=cp.closed_at.tzinfo or UTC).astimezone(STOCKHOLM)
    return _("%(p)s, stängd %(at)s av %(who)s", p=periods.label(cp), at=at.date(), who=cp.closed_by)


def _page(f: Filters, districts: list[District], status: int = 200) -> tuple[str, int]:
    rep, notes, cp = None, [], None
    if f.query is not None:
        everyone, cp = _people(f.query)
        rep = statistics.report(f.query, everyone)
        notes = statistics.rows_notes(rep, statistics.export_rows(rep, everyone))
        statistics.log("statistics_view", f.query, actor=current_user, origin=origin())
    html = render_template(
        "statistics/index.html",
        f=f,
        report=rep,
        chart=_chart(rep) if rep else None,
        chart_desc=_chart_desc(rep) if rep else "",
        districts=districts,
        presets=statistics.periods(date.today()),
        labels=statistics.labels(),
        indicators=INDICATORS,
        percent=_percent,
        minimum=_minimum(),
        small=statistics.hidden_text(True, _minimum()),
        target_groups=TARGET_GROUPS,
        titles=statistics.figure_titles(),
        definitions=statistics.definitions(_minimum()),
        group_label=statistics.target_group_label(f.query) if f.query else "",
        said=_said_share,
        line=_line(rep) if rep else None,
        rows_notes=notes,
        closed_period=cp,
        closed_corrections=_corrections(cp, f.query),
    )
    return html, status


def _download(data: bytes, kind: str, query: statistics.Query) -> Response:
    where = f"stadsdel-{query.district_id}" if query.district_id else "hela-staden"
    if query.target_group:
        where += "_" + query.target_group.replace("_", "-")
    name = f"uppfoljning-{kind}_{query.start}_{query.end}_{where}.csv"
    return Response(
        data,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/")
@roles_required(*ROLES)
def index() -> tuple[str, int]:
    f, districts = _filters()
    return _page(f, districts)


@bp.route("/aggregates.csv")
@roles_required(*ROLES)
def aggregates_csv() -> Response | tuple[str, int]:
    f, districts = _filters()
    if f.query is None:
        return _page(f, districts, 400)  # the form with its errors, not a broken file
    data = statistics.aggregates_csv(statistics.report(f.query, _people(f.query)[0]))
    statistics.log(
        "statistics_export",
        f.query,
        actor=current_user,
        origin=origin(),
        details={"kind": "aggregates"},
    )
    return _download(data, "statistik", f.query)


@bp.route("/rows.csv")
@roles_required(*ROLES)
def rows_csv() -> Response | tuple[str, int]:
    f, districts = _filters()
    if f.query is None:
        return _page(f, districts, 400)
    everyone, _cp = _people(f.query)
    rep = statistics.report(f.query, everyone)
    rows = statistics.export_rows(rep, everyone)
    statistics.log(
        "statistics_export",
        f.query,
        actor=current_user,
        origin=origin(),
        details={"kind": "rows", "rows": len(rows)},
    )
    data = statistics.rows_csv(rows, statistics.rows_notes(rep, rows))
    return _download(data, "rader", f.query)


# --------------------------------------------------------------------------- downloads (issue 17)
# The whole report as a workbook or one CSV, and the chart as SVG, PNG and its data as CSV: the
# same filters and access as the page; each download is in the audit log with its kind.

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _report_for(query: statistics.Query) -> tuple[statistics.Report, str | None]:
    """The report and, when its period is closed, which closed period it was taken from."""
    everyone, cp = _people(query)
    return statistics.report(query, everyone), _closed_label(cp)


def _export_meta(rep: statistics.Report, closed: str | None) -> report_export.Meta:
    q = rep.query
    return report_export.Meta(
        title=_("Uppföljning av sociala insatsgrupper"),
        period=(q.start, q.end),
        scope=_scope(q) or _("Hela staden"),
        target_group=statistics.target_group_label(q),
        minimum=q.minimum,
        taken_at=datetime.now(UTC),
        closed_period=closed,
    )


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40]


def _file_name(rep: statistics.Report, stem: str, ext: str) -> str:
    """uppfoljning-<stem>_<from>_<to>_<district or hela-staden>_<target group>.<ext>, in ascii."""
    q = rep.query
    where = "hela-staden"
    if q.district_id is not None:
        where = _slug(_scope(q) or "") or f"stadsdel-{q.district_id}"
    who = _slug(q.target_group) if q.target_group in TARGET_GROUPS else "alla-malgrupper"
    return f"uppfoljning-{stem}_{q.start}_{q.end}_{where}_{who}.{ext}"


def _attachment(data: bytes, name: str, mimetype: str) -> Response:
    return Response(
        data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _exported(query: statistics.Query, kind: str) -> None:
    statistics.log(
        "statistics_export", query, actor=current_user, origin=origin(), details={"kind": kind}
    )


def _scope(query: statistics.Query) -> str | None:
    """The district's name, None for the city."""
    return statistics.district_name(query.district_id)


def _chart_data(rep: statistics.Report) -> list[tuple[str, list[str]]]:
    """The chart's numbers as text: each question, then its share with yes and n (or the
    marker) at enrolment and at discharge, for the line the chart shows."""
    line, out = _line(rep), []
    for r in rep.indicators:
        note = _("(lägre är bättre)") if r.lower_is_better else _("(högre är bättre)")
        values = []
        for when, series in (
            ("enrolment", _("Vid inskrivning")),
            ("discharge", _("Vid utskrivning")),
        ):
            s = r.share(when, line)
            text = _said_share(rep, s, when, r.key)
            if s.share is not None and s.yes is not None and s.n is not None:
                text = _("%(percent)s (%(yes)d av %(n)d)", percent=text, yes=s.yes, n=s.n)
            values.append(f"{series}: {text}")
        out.append((f"{INDICATORS[r.key]} {note}", values))
    return out


def _chart_file(rep: statistics.Report, closed: str | None) -> str:
    """The chart as a standalone SVG document: heading, drawing, its data and notes as text."""
    q, m = rep.query, rep.query.minimum
    title = _(
        "Andel som svarade ja vid inskrivning och vid utskrivning, %(where)s, %(a)s – %(b)s",
        where=_scope(q) or _("hela staden"),
        a=q.start,
        b=q.end,
    )
    chart = _chart(rep)
    # the page's and the exports' own definitions, so the picture explains its markers the same way
    notes = [
        *statistics.definitions(m),
        *(
            f"{label}: {value}"
            for label, value in report_export.meta_rows(_export_meta(rep, closed))[1:]
        ),
    ]
    clean = report_export.clean
    doc = charts.standalone(
        chart,
        [clean(title, 300), f"{_('Målgrupp')}: {clean(statistics.target_group_label(q), 200)}"],
        [
            (clean(label, 300), [clean(v, 300) for v in values])
            for label, values in _chart_data(rep)
        ],
        [clean(note, 1000) for note in notes],
    )
    desc = _chart_desc(rep) + " " + _("Samma siffror finns som text under diagrammet.")
    return render_template(
        "statistics/chart.svg", doc=doc, title=clean(title, 300), desc=clean(desc, 5000)
    )


def _chart_table(rep: statistics.Report) -> report_export.Table:
    """The chart's numbers: each indicator's row for the line the chart shows (the district's or
    the city's), as the report's indicator tables have it (share, yes, yes or no, "vet ej")."""
    shown = statistics.tables(rep)
    indicators = [t for t in shown if t.key.startswith("indicator_")]
    line = _line(rep)
    label = rep.rows[0] if line is not None else _("Hela staden")
    rows: list[list[str | int | None]] = []
    for t in indicators:
        row = next((r for r in t.rows if r[0] == label), None)
        if row is not None:
            rows.append([t.title, *row[1:]])
    first = indicators[0] if indicators else None
    return report_export.Table(
        key="chart",
        title=_("Andel som svarade ja, %(where)s", where=label),
        columns=[_("Fråga"), *(first.columns[1:] if first else [])],
        rows=rows,
        hidden_text=first.hidden_text
        if first
        else statistics.hidden_text(False, rep.query.minimum),
        notes=list(first.notes) if first else [],
    )


@bp.route("/chart.svg")
@roles_required(*ROLES)
def chart_svg() -> Response | tuple[str, int]:
    f, districts = _filters()
    if f.query is None:
        return _page(f, districts, 400)
    rep, closed = _report_for(f.query)
    svg = _chart_file(rep, closed).encode("utf-8")
    _exported(f.query, "chart_svg")
    return _attachment(svg, _file_name(rep, "diagram", "svg"), "image/svg+xml")


@bp.route("/chart.png")
@roles_required(*ROLES)
def chart_png() -> Response | tuple[str, int]:
    f, districts = _filters()
    if f.query is None:
        return _page(f, districts, 400)
    rep, closed = _report_for(f.query)
    try:
        data = charts.png(_chart_file(rep, closed).encode("utf-8"))
    except charts.RenderError:
        current_app.logger.exception("the chart could not be drawn as PNG")
        abort(503)
    _exported(f.query, "chart_png")
    return _attachment(data, _file_name(rep, "diagram", "png"), "image/png")


@bp.route("/chart.csv")
@roles_required(*ROLES)
def chart_csv() -> Response | tuple[str, int]:
    f, districts = _filters()
    if f.query is None:
        return _page(f, districts, 400)
    rep, closed = _report_for(f.query)
    data = report_export.report_csv(_export_meta(rep, closed), [_chart_table(rep)])
    _exported(f.query, "chart_csv")
    return _attachment(data, _file_name(rep, "diagram", "csv"), "text/csv")


@bp.route("/report.xlsx")
@roles_required(*ROLES)
def report_xlsx() -> Response | tuple[str, int]:
    f, districts = _filters()
    if f.query is None:
        return _page(f, districts, 400)  # the form with its errors, not a broken file
    rep, closed = _report_for(f.query)
    data = report_export.workbook(_export_meta(rep, closed), statistics.tables(rep))
    _exported(f.query, "report_xlsx")
    return _attachment(data, _file_name(rep, "rapport", "xlsx"), XLSX)


@bp.route("/report.csv")
@roles_required(*ROLES)
def report_csv() -> Response | tuple[str, int]:
    f, districts = _filters()
    if f.query is None:
        return _page(f, districts, 400)
    rep, closed = _report_for(f.query)
    data = report_export.report_csv(_export_meta(rep, closed), statistics.tables(rep))
    _exported(f.query, "report_csv")
    return _attachment(data, _file_name(rep, "rapport", "csv"), "text/csv")
