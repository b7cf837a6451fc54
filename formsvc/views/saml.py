"""Staff single sign-on with SAML 2.0: SP metadata, login (and re-authentication), ACS, SLS."""

from __future__ import annotations

import secrets
import time
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
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response

from formsvc.extensions import csrf, db, limiter
from formsvc.services import audit, saml, sso
from formsvc.views import public
from formsvc.views import sso as sso_views
from formsvc.views._common import origin, safe_next

bp = Blueprint("saml", __name__, url_prefix="/saml")

#: session key: the AuthnRequests this browser has outstanding, by their RelayState
PENDING = "formsvc.saml"
#: an AuthnRequest is answered within this many seconds or not at all
PENDING_SECONDS = 15 * 60
#: at most this many outstanding requests per browser (tabs); the oldest is dropped
PENDING_MAX = 5


def _provider(name: str) -> sso.ProviderConfig:
    provider = sso_views.provider_or_404(name)
    if provider.protocol != "saml":
        abort(404)
    return provider


@bp.route("/<name>/metadata")
def metadata(name: str) -> Response:
    """Our SP metadata, for the IdP's administrator (entity id, ACS, SLS, certificate)."""
    provider = _provider(name)
    try:
        xml = saml.metadata(name, provider.conf, current_app.config)
    except sso.SsoRefused as e:
        current_app.logger.error("SAML %s: no metadata: %s", name, e.reason)
        abort(404)
    return Response(xml, mimetype="application/samlmetadata+xml")


@bp.route("/<name>/login")
def login(name: str) -> Response | tuple[str, int]:
    """Send the browser to the IdP with a signed AuthnRequest (ForceAuthn for re-authentication)."""
    provider = _provider(name)
    purpose = request.args.get("purpose", "login")
    target = safe_next(request.args.get("next"))
    if purpose not in sso_views.PURPOSES:
        abort(400)
    if purpose == "reauth":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        if current_user.sso_provider != name:
            abort(403)  # only the account's own IdP can confirm who it is
    elif current_user.is_authenticated:
        return redirect(target or url_for("main.index"))
    relay = secrets.token_urlsafe(16)
    try:
        url, request_id = saml.begin(
            name,
            provider.conf,
            current_app.config,
            force_authn=purpose == "reauth",
            relay_state=relay,
        )
    except sso.SsoRefused as e:
        current_app.logger.error("SAML %s: cannot start: %s", name, e.reason)
        return sso_views.refused_page(provider, e.message, purpose, target, status=502)
    now = int(time.time())
    pending = {k: v for k, v in _pending().items() if now - v["started"] < PENDING_SECONDS}
    pending[relay] = {
        "id": request_id,
        "provider": name,
        "purpose": purpose,
        "next": target,
        "user": current_user.id if current_user.is_authenticated else None,
        "started": now,
    }
    newest = sorted(pending.items(), key=lambda kv: kv[1]["started"])[-PENDING_MAX:]
    session[PENDING] = dict(newest)
    return redirect(url)


def _pending() -> dict[str, dict[str, Any]]:
    value = session.get(PENDING)
    if not isinstance(value, dict):
        return {}
    return {
        k: v
        for k, v in value.items()
        if isinstance(v, dict) and isinstance(v.get("started"), int) and v.get("id")
    }


@bp.route("/<name>/acs", methods=["POST"])
@limiter.limit(public._limit)  # anonymous, and every refusal writes an audit row (review S4)
@csrf.exempt  # the IdP's form posts here; the signed answer to our own request is the check
def acs(name: str) -> Response | str | tuple[str, int]:
    """The IdP's answer (POST binding): sign in, or keep a re-authentication."""
    provider = _provider(name)
    pending = _pending()
    if not pending and not request.form.get("formsvc_resent"):
        # no session cookie came with the IdP's cross-site POST (SameSite=Lax): send the same
        # answer again from our own page, which the browser sends with the cookie
        return _resend(name)
    entry = pending.pop(request.form.get("RelayState", ""), None)
    session[PENDING] = pending  # one answer per request, accepted or not
    if entry is None or entry["provider"] != name:
        return sso_views.refuse(provider, "no_pending_state", "login", None)
    purpose, target = entry.get("purpose", "login"), safe_next(entry.get("next"))
    if time.time() - entry["started"] >= PENDING_SECONDS:
        return sso_views.refuse(provider, "no_pending_state", purpose, target)
    try:
        identity = saml.finish(
            name,
            provider.conf,
            current_app.config,
            saml_response=request.form.get("SAMLResponse", ""),
            outstanding={entry["id"]: name},
        )
    except sso.SsoRefused as e:
        return sso_views.refuse(
            provider, "saml_refused", purpose, target, {"detail": e.reason}, message=e.message
        )
    if purpose == "reauth" and not _fresh(identity, entry["started"]):
        # ForceAuthn is a request: an IdP may answer from its existing session (AD FS with
        # Windows sign-in does), and then nobody proved anything just now
        return sso_views.refuse(
            provider,
            "reauth_not_fresh",
            purpose,
            target,
            {"auth_time": identity.auth_time.isoformat() if identity.auth_time else "-"},
            message=_(
                "Identitetsleverantören bekräftade inte en ny inloggning. Försök igen, eller "
                "kontakta en administratör om det upprepas."
            ),
        )
    return sso_views.complete(identity, purpose=purpose, target=target, user_id=entry.get("user"))


def _fresh(identity: sso.Identity, started: int) -> bool:
    """Whether the IdP authenticated the person after the re-authentication was asked for."""
    at = identity.auth_time
    return at is not None and at.timestamp() >= started - saml.CLOCK_SKEW


def _resend(name: str) -> str:
    # a page of its own, not base.html: nothing on it may touch (and so replace) the session
    return render_template(
        "saml/resend.html",
        action=url_for("saml.acs", name=name),
        saml_response=request.form.get("SAMLResponse", "")[: saml.MAX_RESPONSE_CHARS],
        relay_state=request.form.get("RelayState", "")[:200],
    )


@bp.route("/<name>/sls")
def sls(name: str) -> Response:
    """Single logout: the IdP's answer to ours (our session has ended already), or the IdP's
    own LogoutRequest (the person logged out elsewhere): end this session if it is theirs."""
    provider = _provider(name)
    if request.args.get("SAMLRequest"):
        return _idp_logout(provider)
    response = request.args.get("SAMLResponse")
    if not response:
        abort(400)
    if saml.finish_logout(name, provider.conf, current_app.config, saml_response=response):
        flash(_("Du är utloggad, också hos identitetsleverantören."), "info")
    else:
        flash(
            _(
                "Du är utloggad här. Identitetsleverantören bekräftade inte utloggningen där: "
                "stäng webbläsaren om du använder en delad dator."
            ),
            "error",
        )
    return redirect(url_for("auth.login"))


def _idp_logout(provider: sso.ProviderConfig) -> Response:
    login = session.get(sso.SESSION_LOGIN)
    ours = isinstance(login, dict) and login.get("provider") == provider.name
    try:
        same, onwards = saml.idp_logout(
            provider.name,
            provider.conf,
            current_app.config,
            query=request.args.to_dict(),
            name_id=str(login.get("name_id") or "") if ours else None,
            session_index=str(login.get("session_index") or "") if ours else None,
        )
    except sso.SsoRefused as e:
        current_app.logger.warning("SAML %s: LogoutRequest refused: %s", provider.name, e.reason)
        abort(400)
    if same and current_user.is_authenticated:
        audit.record(
            "logout",
            actor_id=current_user.id,
            actor_label=current_user.username,
            object_type="user",
            object_id=current_user.id,
            details={"by": "idp", "provider": provider.name},
            origin=origin(),
        )
        current_user.end_sessions()  # as a logout here: every session of the account
        db.session.commit()
        logout_user()
        session.pop(sso.SESSION_LOGIN, None)
        session.pop(sso.SESSION_REAUTH, None)
    return redirect(onwards)
