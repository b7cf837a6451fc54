"""The signer's BankID pages (issue 14): start from the sign form, the QR page, status, cancel.

By personal link (/s/<token>/bankid…) and in person, on the locked device
(/documents/<id>/signatures/<rid>/in-person/bankid…). The page shows the animated QR code, made
here as inline SVG from the order's qrStartSecret and the seconds since the order started (the
secret never reaches the page); bankid.js asks …/status once a second for the next code and the
hint, and without JavaScript the page reloads itself every two seconds. Each look collects the
order (services/bankid_signing.py), which records the signature once when BankID is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from formsvc.doctypes import DocumentType
from formsvc.extensions import db, limiter
from formsvc.models import SignatureRequest, User
from formsvc.services import bankid, bankid_signing, eid, signing
from formsvc.views import lock, public
from formsvc.views._common import origin, record_and_finalise, registry, roles_required, store
from formsvc.views.documents import load_document
from formsvc.views.signing import STAFF, _request, render_sign_page
from formsvc.views.signing_forms import DeclineForm, SignForm

bp = Blueprint("bankid", __name__)
bp.register_error_handler(public.UnknownLink, public.unknown_link)

#: session key: {request id: the random key of the order this browser started}
ORDERS = "bankid_orders"
#: How often one address may look at its order (page reloads and the script's polls, about one
#: a second while the app is open; an order lives a few minutes).
POLL_LIMIT = "120 per minute;3000 per hour"
IN_PERSON = "/documents/<int:doc_id>/signatures/<int:rid>/in-person/bankid"


def _poll_limit() -> str:
    return str(current_app.config.get("BANKID_POLL_RATE_LIMIT") or POLL_LIMIT)


@dataclass(frozen=True)
class Flow:
    """One signer's BankID pages: by personal link or in person."""

    req: SignatureRequest
    dtype: DocumentType
    method: str  #: "link" or "in_person"
    actor: User | None  #: the witness, in person
    back: str  #: the sign form
    page: str  #: the QR page
    status: str
    cancel: str


def _configured() -> None:
    if not current_app.config.get("BANKID"):
        abort(404)


def _link(token: str) -> Flow:
    req = public._req(token)  # a link that opens nothing: the "gone" page
    _configured()
    return Flow(
        req,
        registry()[req.document.type_slug],
        "link",
        None,
        back=url_for("public.link", token=token),
        page=url_for(".link_page", token=token),
        status=url_for(".link_status", token=token),
        cancel=url_for(".link_cancel", token=token),
    )


def _in_person(doc_id: int, rid: int) -> Flow:
    doc, dtype = load_document(doc_id)
    req = _request(doc, rid)
    if req.kind != "external":
        abort(404)
    _configured()
    ids = {"doc_id": doc_id, "rid": rid}
    return Flow(
        req,
        dtype,
        "in_person",
        current_user._get_current_object(),
        back=url_for("signing.in_person", **ids),
        page=url_for(".in_person_page", **ids),
        status=url_for(".in_person_status", **ids),
        cancel=url_for(".in_person_cancel", **ids),
    )


# --------------------------------------------------------------------------- personal link


@bp.post("/s/<token>/bankid")
@limiter.limit(public._limit)
def link_start(token: str) -> str | Response:
    flow = _link(token)
    if not public._verified(flow.req):
        flash(_("Ange engångskoden först."), "error")
        return redirect(flow.back)
    if signing.link_state(flow.req) != "open":
        return redirect(flow.back)
    return _start(flow, lambda form: public._page(flow.req, token, form=form))


@bp.post("/s/<token>/bankid/identify")
@limiter.limit(public._limit)
def link_identify(token: str) -> Response:
    """BankID instead of the e-mail code: the link's content opens for the person it names."""
    flow = _link(token)
    if signing.link_state(flow.req) not in ("open", "signed") or not eid.may_use_eid(
        flow.req, method="link"
    ):
        flash(_("BankID kan inte användas med den här länken."), "error")
        return redirect(flow.back)
    key = bankid_signing.session_key()
    try:
        bankid_signing.begin(flow.req, purpose="identify", key=key, **_context(flow))
    except bankid.BankIdError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(flow.back)
    _remember(flow.req, key)
    return redirect(flow.page, code=303)


@bp.get("/s/<token>/bankid")
@limiter.limit(_poll_limit)
def link_page(token: str) -> str | Response:
    return _page(_link(token))


@bp.get("/s/<token>/bankid/status")
@limiter.limit(_poll_limit)
def link_status(token: str) -> Response:
    return _status(_link(token))


@bp.post("/s/<token>/bankid/cancel")
@limiter.limit(public._limit)
def link_cancel(token: str) -> Response:
    return _cancel(_link(token))


# --------------------------------------------------------------------------- in person


@bp.post(IN_PERSON)
@roles_required(*STAFF)
def in_person_start(doc_id: int, rid: int) -> str | Response:
    flow = _in_person(doc_id, rid)
    # the POST from the locked page locks (again); a GET never does: a link from another site
    # must not lock a caseworker's session
    lock.start(flow.req.document, flow.req)
    if flow.req.status != "open":
        return redirect(flow.back)
    return _start(flow, lambda form: _in_person_form(flow, form))


@bp.get(IN_PERSON)
@roles_required(*STAFF)
def in_person_page(doc_id: int, rid: int) -> str | Response:
    return _page(_in_person(doc_id, rid))


@bp.get(f"{IN_PERSON}/status")
@roles_required(*STAFF)
def in_person_status(doc_id: int, rid: int) -> Response:
    return _status(_in_person(doc_id, rid))


@bp.post(f"{IN_PERSON}/cancel")
@roles_required(*STAFF)
def in_person_cancel(doc_id: int, rid: int) -> Response:
    return _cancel(_in_person(doc_id, rid))


def _in_person_form(flow: Flow, form: SignForm) -> str:
    """The in-person sign page again, with what was typed and what is wrong."""
    return render_sign_page(
        flow.req.document, flow.dtype, flow.req, form=form, decline=DeclineForm(prefix="d"),
        staff=False,
    )  # fmt: skip


# --------------------------------------------------------------------------- the steps


def _start(flow: Flow, form_page: Callable[[SignForm], str]) -> str | Response:
    """Check the sign form as a signature, keep it with a new BankID sign order, show the QR."""
    if not eid.may_use_eid(flow.req, method=flow.method):
        flash(_("BankID kan inte användas för den här underskriften."), "error")
        return redirect(flow.back)
    form = SignForm(prefix="s")
    form.statements.choices = signing.statement_choices(flow.req, flow.dtype)
    if not form.validate_on_submit():
        return form_page(form)
    given = form.given(origin())
    key = bankid_signing.session_key()
    try:
        drawn = signing.check_before_signing(
            flow.req,
            flow.dtype,
            given,
            method=flow.method,
            actor=flow.actor,
            settings=current_app.config,
        )
        bankid_signing.begin(
            flow.req, purpose="sign", key=key, given=given, drawn=drawn, **_context(flow)
        )
    except signing.AlreadyDone:
        db.session.rollback()
        return redirect(flow.back)
    except signing.SigningError as exc:
        db.session.rollback()
        form.name.errors = [*form.name.errors, exc.message]
        return form_page(form)
    except bankid.BankIdError as exc:  # BankID could not be reached or refused the order
        db.session.rollback()
        flash(exc.message, "error")
        return form_page(form)
    _remember(flow.req, key)
    return redirect(flow.page, code=303)


def _context(flow: Flow) -> dict[str, object]:
    return {
        "settings": current_app.config,
        "store": store(),
        "origin": origin(),
        "actor": flow.actor,
        "method": flow.method,
    }


def _advance(flow: Flow) -> bankid_signing.Progress:
    return bankid_signing.advance(
        flow.req,
        flow.dtype,
        _key(flow.req),
        settings=current_app.config,
        store=store(),
        origin=origin(),
        actor=flow.actor,
        record=lambda what: record_and_finalise(what, flow.dtype, actor=flow.actor),
    )


def _after(flow: Flow, progress: bankid_signing.Progress) -> str:
    """Where the signer goes when the order is over (a failure is said there)."""
    if progress.state == "identified":
        public._mark_verified(flow.req)
        flash(_("Du har legitimerat dig med BankID."), "info")
    elif progress.state == "failed":
        flash(progress.message, "error")
    # signed: the link page shows the receipt, the in-person page the thank-you page
    return flow.back


def _page(flow: Flow) -> str | Response:
    progress = _advance(flow)
    if progress.state != "pending":
        return redirect(_after(flow, progress))
    pending = flow.req.eid_pending or {}
    return render_template(
        "signing/bankid.html",
        flow=flow,
        req=flow.req,
        document=flow.req.document,
        dtype=flow.dtype,
        progress=progress,
        identify=pending.get("purpose") == "identify",
        qr=qr_svg(progress.qr_payload),
    )


def _status(flow: Flow) -> Response:
    """JSON for bankid.js: the next QR code and hint, or where to go now."""
    progress = _advance(flow)
    if progress.state == "pending":
        return jsonify(
            state="pending",
            hint=progress.hint,
            qr=str(qr_svg(progress.qr_payload)),
            qr_payload=progress.qr_payload,
        )
    return jsonify(state=progress.state, next=_after(flow, progress))


def _cancel(flow: Flow) -> Response:
    cancelled = bankid_signing.cancel(
        flow.req, _key(flow.req), settings=current_app.config, origin=origin(), actor=flow.actor
    )
    if cancelled:
        flash(_("Du avbröt BankID. Inget är underskrivet; du kan försöka igen."), "info")
    return redirect(flow.back)


def qr_svg(payload: str) -> Markup:
    """The QR code of *payload* as inline SVG (no external resource, no inline style)."""
    code = segno.make(payload, error="l", micro=False)
    return Markup(  # noqa: S704 - segno's SVG of our own payload; the title is escaped by segno
        code.svg_inline(
            scale=1,
            border=4,
            omitsize=True,
            dark="#000",
            light="#fff",
            svgclass="bankid-qr",
            lineclass=None,
            title=_("QR-kod för BankID"),
        )
    )


def _remember(req: SignatureRequest, key: str) -> None:
    orders = {k: v for k, v in (session.get(ORDERS) or {}).items() if isinstance(v, str)}
    orders.pop(str(req.id), None)
    orders[str(req.id)] = key
    session[ORDERS] = dict(list(orders.items())[-5:])  # a few at most: the cookie stays small


def _key(req: SignatureRequest) -> str | None:
    orders = session.get(ORDERS)
    value = orders.get(str(req.id)) if isinstance(orders, dict) else None
    return value if isinstance(value, str) else None
