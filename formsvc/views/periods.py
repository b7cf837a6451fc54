"""Closed statistics periods (issue 17): the list, closing a period, and corrections.

Only analysts close, and only for the whole city. A manager's district is a row of the city's
report: a district closed on its own would either block the city's closing of the same months
or give that district two frozen versions that could disagree; and the manager leads the staff
whose follow-ups the closing locks. Managers see the list. Nobody reopens a closed period
(services/periods.py says why); a mistake in a follow-up is corrected, with a reason.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from formsvc.doctypes import DocumentType, FormContext
from formsvc.models import ClosedPeriod, Document
from formsvc.services import access, documents, periods, signing
from formsvc.views._common import origin, roles_required, store
from formsvc.views.documents import _facts, load_document

bp = Blueprint("periods", __name__)
#: A date is ten characters; longer input is cut before it is shown back.
MAX_DATE = 10


class CsrfForm(FlaskForm):
    """The CSRF token of the close form (its fields are read and checked by the view)."""


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if len(value) == MAX_DATE else None
    except ValueError:
        return None


def _list(typed: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    closed = periods.all_closed()
    html = render_template(
        "periods/index.html",
        closed=closed,
        corrections={cp.id: periods.correction_count(cp) for cp in closed},
        intact={cp.id: periods.intact(cp) for cp in closed},
        typed=typed,
        errors=errors,
        form=CsrfForm(),
        label=periods.label,
    )
    return html, status


@bp.route("/statistics/periods/")
@roles_required("analyst", "manager")
def index() -> tuple[str, int]:
    return _list({"from": "", "to": ""}, {})


@bp.route("/statistics/periods/", methods=["POST"])
@roles_required("analyst")
def close() -> tuple[str, int] | BaseResponse:
    if not CsrfForm().validate_on_submit():
        abort(400)  # a missing or stale CSRF token: nothing is closed
    raw = {k: str(request.form.get(k, "")).strip() for k in ("from", "to")}
    start, end = _date(raw["from"]), _date(raw["to"])
    typed = {k: v[: MAX_DATE * 2] for k, v in raw.items()}  # shown back, not parsed
    errors: dict[str, str] = {}
    if start is None:
        errors["from"] = _("Ange startdatum som ÅÅÅÅ-MM-DD, till exempel 2026-01-01.")
    if end is None:
        errors["to"] = _("Ange slutdatum som ÅÅÅÅ-MM-DD, till exempel 2026-06-30.")
    if request.form.get("confirm") != "yes":
        errors["confirm"] = _("Bekräfta att du förstår vad det innebär att stänga perioden.")
    if errors or start is None or end is None:
        return _list(typed, errors, 400)
    try:
        cp = periods.close(
            start, end, actor=current_user, today=signing.today_local(), origin=origin()
        )
    except periods.PeriodError as exc:
        status = 409 if isinstance(exc, periods.AlreadyClosed) else 400
        return _list(typed, {"period": exc.message}, status)
    flash(_("Perioden %(p)s är stängd.", p=periods.label(cp)), "info")
    return redirect(url_for(".index"))


@bp.route("/documents/<int:doc_id>/correction", methods=["GET", "POST"])
@roles_required("caseworker", "manager")
def correct(doc_id: int) -> str | BaseResponse:
    doc, dtype = load_document(doc_id)
    if not access.can_edit_document(current_user, doc, dtype):
        abort(403)
    if doc.status not in documents.EDITABLE or doc.type_slug != periods.SLUG:
        return redirect(url_for("documents.edit", doc_id=doc.id))  # which says what applies
    ctx = documents.form_context(
        dtype,
        author=current_user,
        district=doc.district.name,
        settings=current_app.config,
        participant=doc.participant,
        stored=doc.data,
        facts=_facts(doc.district_id, doc.participant, doc.id),
    )
    form = documents.stored_form(dtype, doc.data) if request.method == "GET" else dtype.form_class()
    locks = periods.locked_by(doc)
    if request.method == "GET":
        return correction_page(doc, dtype, form, ctx, locks)
    reason = str(request.form.get("reason", "")).strip()
    reason_error = ""
    ok = documents.validate(dtype, form, ctx)
    if not reason:
        reason_error = _("Skriv varför uppgifterna rättas.")
    elif len(reason) > periods.MAX_REASON:
        reason_error = _("Skälet får vara högst %(n)d tecken.", n=periods.MAX_REASON)
    if ok and not reason_error:
        data = documents.to_data(dtype, form, ctx)
        documents.update(
            doc,
            data,
            actor=current_user,
            store=store(),
            dtype=dtype,
            origin=origin(),
            correction=reason,
        )
        flash(_("Rättelsen är sparad som version %(v)d.", v=doc.version), "info")
        return redirect(url_for("documents.show", doc_id=doc.id))
    flash(
        _("Rättelsen är inte sparad. Rätta de markerade fälten; det du skrev finns kvar."),
        "error",
    )
    return correction_page(doc, dtype, form, ctx, locks, reason, reason_error)


def correction_page(
    doc: Document,
    dtype: DocumentType,
    form: FlaskForm,
    ctx: FormContext,
    locks: list[ClosedPeriod],
    reason: str = "",
    reason_error: str = "",
) -> str:
    """The follow-up's form with the reason a correction needs; what was typed stays."""
    return render_template(
        "periods/correction.html",
        form=form,
        dtype=dtype,
        ctx=ctx,
        checklist_texts=documents.checklist_texts(ctx),
        document=doc,
        participant=doc.participant,
        employee=None,
        locks=", ".join(periods.label(cp) for cp in locks),
        reason=reason[: periods.MAX_REASON * 2],
        reason_error=reason_error,
        max_reason=periods.MAX_REASON,
    )
