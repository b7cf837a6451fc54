"""The in-person view as a real lock on the staff session (issue 10, defect 3).

When staff open the in-person signing page, the session is locked to that one signature
request. While locked, the server answers every other page (back button, typed address, old
bookmarks) with a redirect to the unlock page; only that signer's page (and its thank-you page),
the PDF they read, static files and logging out get through. Leaving needs the staff member's
password again, under the same limits on password attempts as the login; an SSO account, which
has no password here, re-authenticates at its IdP instead (forced, for the same account).
"""

from __future__ import annotations

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
from werkzeug.wrappers import Response

from formsvc.extensions import db
from formsvc.forms.staff import WRONG_PASSWORD, UnlockForm
from formsvc.models import Document, SignatureRequest, User
from formsvc.services import audit, sso, throttle
from formsvc.views._common import locked_message, origin, password_policy

bp = Blueprint("lock", __name__)

#: session key holding the lock: {"user": id, "doc": id, "req": id}
KEY = "in_person_lock"
#: Pages reachable whatever the lock: the unlock page itself, logging out, static files and the
#: public pages a signer may use without an account (verify, personal links); and the way to
#: the IdP and back, which an SSO account unlocks with (a re-authentication forced at the IdP
#: and refused for any other account: the signer at the tablet cannot pass it).
ALWAYS = frozenset(
    {"lock.unlock", "auth.logout", "static", "sso.login", "sso.callback", "saml.login", "saml.acs"}
)
#: session key: this session asked its IdP for a re-authentication to leave the lock
SSO_UNLOCK = "in_person_unlock_sso"
#: The locked signer's own pages besides signing.in_person (its e-ID steps): reachable only with
#: the locked document and request in their address (<doc_id>, <rid>).
LOCKED_REQUEST_ENDPOINTS = frozenset(
    {
        "signing.in_person",
        "bankid.in_person_start",
        "bankid.in_person_page",
        "bankid.in_person_status",
        "bankid.in_person_cancel",
        "eid.in_person_start",
    }
)


def start(doc: Document, req: SignatureRequest) -> None:
    """Lock the session to *req* (a second start for the same request changes nothing)."""
    wanted = {"user": current_user.id, "doc": doc.id, "req": req.id}
    if session.get(KEY) == wanted:
        return
    session[KEY] = wanted
    if request.method == "GET":  # opening the view; a repeated form post adds no event
        _log("in_person_lock", doc.id, doc.district_id, {"request": req.id})


def held() -> dict[str, int] | None:
    """The lock on this session, if any."""
    value = session.get(KEY)
    return value if isinstance(value, dict) else None


def _allowed(lock: dict[str, int]) -> bool:
    endpoint = request.endpoint or ""
    if endpoint in ALWAYS or endpoint.startswith("public."):
        return True
    args: dict[str, Any] = request.view_args or {}
    if endpoint == "eid.callback":  # the locked signer's e-ID identification coming back
        pending = session.get("formsvc.eid_pending")
        return (
            isinstance(pending, dict)
            and pending.get("purpose") == "in_person"
            and pending.get("request") == lock.get("req")
        )
    if endpoint in LOCKED_REQUEST_ENDPOINTS:
        return args.get("doc_id") == lock.get("doc") and args.get("rid") == lock.get("req")
    if endpoint == "signing.frozen_pdf":  # the document the signer reads
        return args.get("doc_id") == lock.get("doc")
    return False


@bp.before_app_request
def refuse_while_locked() -> Response | None:
    """Every page but the locked signer's goes to the unlock page, for GET and POST alike."""
    lock = held()
    if lock is None:
        return None
    if not current_user.is_authenticated or current_user.id != lock.get("user"):
        session.pop(KEY, None)  # logged out (or another account): nothing left to protect
        return None
    if _allowed(lock):
        return None
    return redirect(url_for("lock.unlock"), code=303)


@bp.route("/unlock", methods=["GET", "POST"])
def unlock() -> str | Response | tuple[str, int]:
    lock = held()
    if lock is None or not current_user.is_authenticated:
        return redirect(url_for("main.index"))
    doc = db.session.get(Document, lock.get("doc"))
    district_id = doc.district_id if doc else None
    back = url_for("signing.in_person", doc_id=lock.get("doc"), rid=lock.get("req"))
    user = current_user._get_current_object()
    if user.sso_provider:  # no password of ours: the IdP confirms who leaves (ADR 017)
        return _unlock_with_idp(user, lock, doc, back)
    form = UnlockForm()
    if form.validate_on_submit():
        outcome = throttle.check_password(
            current_user._get_current_object(),
            current_user.username,
            form.password.data,
            origin=origin(),
            policy=password_policy(),
            failure=throttle.Failure(
                "in_person_unlock_failed", "document", lock.get("doc"), district_id
            ),
        )
        if outcome.ok:
            session.pop(KEY, None)
            _log("in_person_unlock", lock.get("doc"), district_id, {})
            flash(_("Underskriftsläget är avslutat."), "info")
            if doc is None:
                return redirect(url_for("main.index"))
            return redirect(url_for("documents.show", doc_id=doc.id))
        wrong = [] if outcome.refused else [str(WRONG_PASSWORD)]
        form.password.errors = wrong + ([locked_message(outcome)] if outcome.retry_after else [])
        if outcome.refused:
            return render_template("signing/unlock.html", form=form, back=back), 429
    return render_template("signing/unlock.html", form=form, back=back)


def _unlock_with_idp(
    user: User, lock: dict[str, int], doc: Document | None, back: str
) -> str | Response | tuple[str, int]:
    """An SSO account leaves the lock after a re-authentication at its IdP asked for here.

    The button (POST) forgets any earlier re-authentication and marks the session, so only one
    made after it counts (not one left over from a staff signature a minute before)."""
    district_id = doc.district_id if doc else None
    provider = sso.providers(current_app.config).get(user.sso_provider or "")
    if request.method == "POST":  # the button (CSRF-checked like every POST)
        if provider is None:
            abort(400)
        sso.consume_reauth(session, user)
        session[SSO_UNLOCK] = lock.get("req")
        target = url_for("lock.unlock")
        return redirect(
            url_for("sso.login", name=provider.name, purpose="reauth", next=target), code=303
        )
    asked = session.get(SSO_UNLOCK) == lock.get("req")
    if asked and sso.fresh_reauth(session, user, current_app.config) is not None:
        sso.consume_reauth(session, user)
        session.pop(SSO_UNLOCK, None)
        session.pop(KEY, None)
        _log("in_person_unlock", lock.get("doc"), district_id, {"via": "sso"})
        flash(_("Underskriftsläget är avslutat."), "info")
        if doc is None:
            return redirect(url_for("main.index"))
        return redirect(url_for("documents.show", doc_id=doc.id))
    return render_template("signing/unlock.html", form=None, provider=provider, back=back)


def _log(action: str, doc_id: Any, district_id: int | None, details: dict[str, Any]) -> None:
    audit.record(
        action,
        actor_id=current_user.id,
        actor_label=current_user.username,
        object_type="document",
        object_id=doc_id,
        district_id=district_id,
        details=details,
        origin=origin(),
    )
    db.session.commit()
