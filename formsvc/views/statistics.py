"""Follow-up statistics (bilaga 3.4): analysts for any district or the city, managers their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from formsvc.forms.follow_up import INDICATORS
from formsvc.models import District
from formsvc.services import charts, statistics, users
from formsvc.views._common import origin, roles_required

bp = Blueprint("statistics", __name__, url_prefix="/statistics")
ROLES = ("analyst", "manager")
#: Longer input than this is not a date or a district id; it is cut before being shown back.
MAX_INPUT = 40


@dataclass
class Filters:
    """The GET form: what was typed (shown back as typed), its errors, and the query if valid."""

    typed: dict[str, str]  #: "from", "to", "district" as typed
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
    f = Filters({k: str(args.get(k, "")).strip()[:MAX_INPUT] for k in ("from", "to", "district")})
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
    if not f.errors and start is not None and end is not None:
        f.query = statistics.Query(start, end, district_id, _minimum())
    return f


def _filters() -> tuple[Filters, list[District]]:
    if current_user.role == "manager" and current_user.district_id is None:
        abort(403)  # a manager without a district has no statistics to see
    districts = users.districts()
    return _parse(request.args, districts), districts


def _percent(share: statistics.Share) -> str:
    return f"{share.percent()}\u00a0%"


def _columns(names: Mapping[str, object], rows: list[tuple[str, statistics.Counts]]) -> list[str]:
    """The categories a table shows: those in any of its rows ("unknown" only when used)."""
    return [key for key in names if any(key in row.cells for _label, row in rows)]


def _chart(rep: statistics.Report) -> charts.PairedBars:
    m = rep.query.minimum

    def value(s: statistics.Share) -> charts.Value:
        if s.share is None:
            return charts.Value(None, statistics.hidden_text(s.n is None, m))
        return charts.Value(s.share, _percent(s))

    rows = [
        charts.Row(
            str(INDICATORS[r.key]),
            _("(lägre är bättre)") if r.lower_is_better else _("(högre är bättre)"),
            (value(r.enrolment), value(r.discharge)),
        )
        for r in rep.indicators
    ]
    return charts.paired_bars(
        rows, (_("Vid inskrivning"), _("Vid utskrivning")), lambda p: f"{p}\u00a0%"
    )


def _chart_desc(rep: statistics.Report) -> str:
    m = rep.query.minimum

    def said(s: statistics.Share) -> str:
        return _percent(s) if s.share is not None else statistics.hidden_text(s.n is None, m)

    return " ".join(
        _(
            "%(q)s: %(a)s vid inskrivning, %(b)s vid utskrivning.",
            q=INDICATORS[r.key],
            a=said(r.enrolment),
            b=said(r.discharge),
        )
        for r in rep.indicators
    )


def _page(f: Filters, districts: list[District], status: int = 200) -> tuple[str, int]:
    rep = statistics.report(f.query) if f.query else None
    if rep is not None and f.query is not None:
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
        columns=_columns,
        minimum=_minimum(),
        small=statistics.hidden_text(True, _minimum()),
    )
    return html, status


def _download(data: bytes, kind: str, query: statistics.Query) -> Response:
    where = f"stadsdel-{query.district_id}" if query.district_id else "hela-staden"
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
    data = statistics.aggregates_csv(statistics.report(f.query))
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
    rows = statistics.export_rows(f.query)
    statistics.log(
        "statistics_export",
        f.query,
        actor=current_user,
        origin=origin(),
        details={"kind": "rows", "rows": len(rows)},
    )
    return _download(statistics.rows_csv(rows), "rader", f.query)
