"""Signer e-ID through an OpenID Connect e-ID broker: start (personal link, in person) and one
fixed callback. services/eid.py does the checks; docs/adr/018-eid-evidence.md says why.

The start is a plain link (GET), not a form: a form's POST that redirects to the broker would
be stopped by our own CSP (form-action 'self'), and starting costs nothing (the callback only
accepts the state this session was given). One identification at a time per browser session:
a new start replaces the pending one; a callback consumes it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from formsvc.extensions import db, limiter
from formsvc.models import SignatureRequest
from formsvc.services import eid, signing
from formsvc.views import lock, public
from formsvc.views._common import NoPublicAddress, origin, public_url, roles_required

bp = Blueprint("eid", __name__)
#: The pending identification (state, nonce, PKCE verifier, what it is for).
PENDING = "formsvc.eid_pending"
#: Identifications this session made: request id -> {"until", "token" (SHA-256 of the ID token)}.
MARKS = "formsvc.eid"
#: Query parameters the callback passes on to the broker flow; anything else is ignored.
_PARAMS = ("code", "state", "error", "error_description", "iss", "session_state")


# --------------------------------------------------------------------------- start


@bp.get("/s/<token>/eid/<provider>/start")
@limiter.limit(public._limit)
def link_start(token: str, provider: str) -> BaseResponse | tuple[str, int]:
    """A signer with a personal link goes to the broker to prove who they are."""
    try:
        req = public._req(token)
    except public.UnknownLink as gone:  # the link pages' own answer, not the staff 404
        return public.unknown_link(gone)
    if provider not in eid.providers(current_app.config):
        abort(404)
    back = url_for("public.link", token=token)
    if signing.link_state(req) not in ("open", "signed") or not req.require_eid:
        return redirect(back)
    return _start(provider, back, {"purpose": "link", "request": req.id, "token": token})


@bp.get("/documents/<int:doc_id>/signatures/<int:rid>/in-person/eid/<provider>")
@roles_required("caseworker", "manager")
def in_person_start(doc_id: int, rid: int, provider: str) -> BaseResponse:
    """In person: the signer proves who they are on the city's device."""
    from formsvc.views.documents import load_document
    from formsvc.views.signing import _request

    doc, _dtype = load_document(doc_id)
    req = _request(doc, rid)
    if req.kind != "external":
        abort(404)
    if provider not in eid.providers(current_app.config):
        abort(404)
    back = url_for("signing.in_person", doc_id=doc.id, rid=req.id)
    if req.status != "open" or not eid.may_use_eid(req, method="in_person"):
        flash(eid.why_not(req) or _("Underskriften är redan registrerad."), "error")
        return redirect(back)
    # No lock here: a GET must not change the session's state (a cross-site link could lock
    # a caseworker's device; review E2). The in-person page has locked the device already when
    # the start is reached from it; the callback locks it for a start reached otherwise.
    pending = {"purpose": "in_person", "request": req.id, "user": current_user.id}
    return _start(provider, back, pending)


def _start(provider: str, back: str, purpose: dict[str, Any]) -> BaseResponse:
    try:
        url, pending = eid.begin(
            current_app.config, provider, redirect_uri=public_url("eid.callback")
        )
    except signing.SigningError as exc:
        flash(exc.message, "error")
        return redirect(back)
    except NoPublicAddress:
        current_app.logger.error("PUBLIC_BASE_URL is not set: no e-ID identification")
        flash(_("Tjänstens publika adress är inte inställd. Kontakta din handläggare."), "error")
        return redirect(back)
    session[PENDING] = {**pending, **purpose}
    return redirect(url)


# --------------------------------------------------------------------------- callback


@bp.get("/eid/callback")
@limiter.limit(public._limit)
def callback() -> BaseResponse | tuple[str, int]:
    """The broker sends the signer back here; the pending state says for which request."""
    pending = session.pop(PENDING, None)
    if not isinstance(pending, dict) or not isinstance(pending.get("request"), int):
        return _nothing_pending()
    params = {k: v[:4096] for k in _PARAMS if isinstance(v := request.args.get(k), str)}
    req = db.session.get(SignatureRequest, pending["request"])
    if pending.get("purpose") == "link":
        return _link_callback(req, pending, params)
    if pending.get("purpose") == "in_person":
        return _in_person_callback(req, pending, params)
    return _nothing_pending()


def _link_callback(
    req: SignatureRequest | None, pending: Mapping[str, Any], params: Mapping[str, str]
) -> BaseResponse | tuple[str, int]:
    token = pending.get("token")
    if req is None or not isinstance(token, str) or signing.find_by_token(token) is not req:
        return _nothing_pending()  # the link was replaced or voided meanwhile
    back = redirect(url_for("public.link", token=token))
    if signing.link_state(req) not in ("open", "signed") or not req.require_eid:
        return back
    try:
        proof = eid.finish(req, current_app.config, pending=pending, params=params, origin=origin())
    except signing.SigningError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return back
    public._mark_verified(req)
    _mark(req, proof)
    if req.status == "open":
        flash(_("Du har legitimerat dig. Läs dokumentet och skriv under."), "info")
    else:
        flash(_("Du har legitimerat dig."), "info")
    return back


def _in_person_callback(
    req: SignatureRequest | None, pending: Mapping[str, Any], params: Mapping[str, str]
) -> BaseResponse | tuple[str, int]:
    if (
        req is None
        or not current_user.is_authenticated
        or current_user.id != pending.get("user")
        or current_user.role not in ("caseworker", "manager")
    ):
        return _nothing_pending()
    back = redirect(url_for("signing.in_person", doc_id=req.document_id, rid=req.id))
    # this user's own identification came back: the device is with the signer from now on
    lock.start(req.document, req)
    if req.status != "open":
        return back
    try:
        proof = eid.finish(
            req,
            current_app.config,
            pending=pending,
            params=params,
            origin=origin(),
            actor=current_user._get_current_object(),
        )
    except signing.SigningError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return back
    _mark(req, proof)
    flash(_("Identiteten är styrkt med e-legitimation."), "info")
    return back


def _nothing_pending() -> tuple[str, int]:
    page = render_template(
        "error.html",
        title=_("Identifieringen kunde inte slutföras"),
        text=_(
            "Det finns ingen pågående identifiering i den här webbläsaren, eller så har den "
            "redan använts. Börja om från din länk (eller från underskriftssidan)."
        ),
    )
    return page, 400


# --------------------------------------------------------------------------- marks


def _mark(req: SignatureRequest, proof: Mapping[str, Any]) -> None:
    now = time.time()
    marks = {k: v for k, v in (session.get(MARKS) or {}).items() if v.get("until", 0) > now}
    marks[str(req.id)] = {
        "until": now + eid.FRESH_FOR.total_seconds(),
        "token": eid.token_digest(proof),
    }
    session[MARKS] = marks


def identified(req: SignatureRequest) -> dict[str, Any] | None:
    """The request's e-ID proof if this session made it and it is still fresh, else None."""
    mark = (session.get(MARKS) or {}).get(str(req.id))
    proof = req.eid
    if (
        not isinstance(mark, dict)
        or mark.get("until", 0) <= time.time()
        or not isinstance(proof, dict)
        or mark.get("token") != eid.token_digest(proof)
        or not eid.fresh(proof)
    ):
        return None
    return proof


def forget(req: SignatureRequest) -> None:
    """The session's identification for *req* is used (or void)."""
    marks = dict(session.get(MARKS) or {})
    if marks.pop(str(req.id), None) is not None:
        session[MARKS] = marks


def buttons(req: SignatureRequest, *, token: str | None = None) -> list[tuple[str, str]]:
    """(label, start URL) per configured e-ID broker, for the link or the in-person page."""
    out = []
    for name, conf in eid.providers(current_app.config).items():
        if token is not None:
            url = url_for("eid.link_start", token=token, provider=name)
        else:
            url = url_for("eid.in_person_start", doc_id=req.document_id, rid=req.id, provider=name)
        out.append((str(conf.get("label") or name), url))
    return out


# --------------------------------------------------------------------------- templates


@bp.app_template_filter("eid_summary")
def eid_summary(proof: object) -> str:
    """A proof (SignatureRequest.eid) as one line."""
    return eid.summary(proof if isinstance(proof, Mapping) else None)


@bp.app_template_global("eid_link_options")
def eid_link_options(req: SignatureRequest) -> dict[str, Any]:
    """What the document page offers when sending *req*'s personal link."""
    settings = current_app.config
    forced = eid.required(settings, req.document.type_slug, "link")
    why = eid.why_not(req)
    on = eid.available(settings)
    return {
        "offered": on and why is None,
        "forced": forced,
        "blocked": (
            _(
                "En personlig länk kan inte skickas: dokumenttypen kräver e-legitimation. %(why)s",
                why=why or _("E-legitimation är inte inställd i tjänsten."),
            )
            if forced and (why or not on)
            else None
        ),
        "why": why if on else None,
    }
