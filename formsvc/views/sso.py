"""Staff single sign-on over OpenID Connect: start at the IdP, come back, sign in (ADR 017).

`/sso/<name>/login` starts a login (or, with ``purpose=reauth``, a forced re-authentication of
the signed-in account for a staff signature) and `/sso/<name>/callback` finishes it. A SAML
provider's login is passed on to the SAML views (formsvc/views/saml.py); they, too, finish
through :func:`complete`, so both protocols sign in and re-authenticate the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user, login_user
from werkzeug.wrappers import Response

from formsvc.extensions import limiter
from formsvc.services import sso
from formsvc.views import public
from formsvc.views._common import origin, safe_next

bp = Blueprint("sso", __name__, url_prefix="/sso")

#: OIDC state, nonce and PKCE verifier between the start and the callback (SSO.md)
PENDING = "formsvc.sso_pending"
#: the IdP's single logout address, from the logout (POST) to the page that goes on to it
LOGOUT = "formsvc.sso_logout"
PURPOSES = ("login", "reauth")
#: An ID token larger than this is not kept for logout (the session is a cookie of ≤ 4 kB);
#: logout then goes to the IdP without id_token_hint, or stays local.
MAX_KEPT_TOKEN = 2500


@bp.record_once
def _check_config(state: BlueprintSetupState) -> None:
    # a malformed SSO_PROVIDERS stops the app at start-up, not at somebody's login
    sso.providers(state.app.config)


def provider_or_404(name: str) -> sso.ProviderConfig:
    """The configured provider *name*, or 404."""
    found = sso.providers(current_app.config).get(name)
    if found is None:
        abort(404)
    return found


@bp.route("/logout")
def logout() -> Response | tuple[str, int, dict[str, str]]:
    """After the local logout: on to the IdP's single logout (auth.logout put its address here).

    Not a redirect from the logout form's POST: a form's redirects must stay within the
    page's CSP form-action 'self', so the browser is sent on from this page (Refresh header,
    and a link) as a navigation of its own."""
    target = session.pop(LOGOUT, None)
    url = str(target.get("url", "")) if isinstance(target, dict) else ""
    if not url.startswith(("https://", "http://")) or any(ord(ch) < 33 for ch in url):
        return redirect(url_for("auth.login"))
    page = render_template("auth/sso_logout.html", url=url, label=target.get("label") or "")
    return page, 200, {"Refresh": f"0; url={url}"}


@bp.route("/<name>/login")
def login(name: str) -> Response | tuple[str, int]:
    provider = provider_or_404(name)
    purpose = request.args.get("purpose", "login")
    target = safe_next(request.args.get("next"))
    if purpose not in PURPOSES:
        abort(400)
    if purpose == "reauth":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        if current_user.sso_provider != name:
            abort(403)  # only the account's own IdP can confirm who it is
    elif current_user.is_authenticated:
        return redirect(target or url_for("main.index"))
    if provider.protocol == "saml":
        if "saml.login" not in current_app.view_functions:
            abort(404)
        return redirect(url_for("saml.login", name=name, purpose=purpose, next=target))
    from formsvc.services import oidc

    try:
        address, pending = oidc.client(name, provider.conf).begin(
            redirect_uri=callback_uri(name), force_login=purpose == "reauth"
        )
    except oidc.OidcError as exc:
        current_app.logger.error("SSO %s: cannot start: %s", name, exc.reason)
        return refused_page(provider, exc.message, purpose, target, status=502)
    user_id = current_user.id if current_user.is_authenticated else None
    session[PENDING] = {
        **pending,
        "provider": name,
        "purpose": purpose,
        "next": target,
        "user": user_id,
    }
    return redirect(address)


@bp.route("/<name>/callback")
@limiter.limit(public._limit)  # anonymous, and every refusal writes an audit row (review S4)
def callback(name: str) -> Response | tuple[str, int]:
    provider = provider_or_404(name)
    if provider.protocol != "oidc":
        abort(404)
    pending = session.pop(PENDING, None)
    if not isinstance(pending, dict) or pending.get("provider") != name:
        return refuse(provider, "no_pending_state", "login", None)
    purpose, target = pending.get("purpose", "login"), safe_next(pending.get("next"))
    from formsvc.services import oidc

    try:
        result = oidc.client(name, provider.conf).finish(
            pending=pending, params=request.args.to_dict()
        )
    except oidc.OidcError as exc:
        return refuse(provider, exc.reason, purpose, target, message=exc.message)
    identity = sso.identity_from_oidc(name, result, provider.conf)
    return complete(identity, purpose=purpose, target=target, user_id=pending.get("user"))


def complete(
    identity: sso.Identity, *, purpose: str, target: str | None, user_id: int | None = None
) -> Response | tuple[str, int]:
    """Sign in with *identity*, or keep it as a re-authentication of the signed-in account
    (*user_id*: who started it), then go to *target*; the SAML views finish here too."""
    provider = provider_or_404(identity.provider)
    if purpose == "reauth":
        user = current_user._get_current_object() if current_user.is_authenticated else None
        if user is None or user.id != user_id:
            return refuse(provider, "reauth_no_session", purpose, target)
        try:
            sso.remember_reauth(session, user, identity)
        except sso.SsoRefused as exc:
            sso.record_refusal(
                identity.provider, exc.reason, origin=origin(), user=user, subject=identity.subject
            )
            return refused_page(provider, exc.message, purpose, target)
        return redirect(target or url_for("main.index"))
    try:
        user = sso.sign_in(identity, settings=current_app.config, origin=origin())
    except sso.SsoRefused as exc:  # audited by sign_in
        return refused_page(provider, exc.message, purpose, None)
    fresh_session()
    login_user(user)
    hint = {k: v for k, v in identity.logout_hint.items() if len(v) <= MAX_KEPT_TOKEN}
    session[sso.SESSION_LOGIN] = {
        "provider": identity.provider,
        "protocol": identity.protocol,
        **hint,
    }
    return redirect(target or url_for("main.index"))


#: What survives a login or logout in the session: the chosen language, nothing about anyone.
KEPT_ACROSS_LOGINS = ("lang",)


def fresh_session() -> None:
    """Forget everything the session held (an earlier person's in-person e-ID identifications,
    BankID orders, the in-person lock, pending logins, re-authentications…) but the language;
    called before login_user at every login and at logout (review S5)."""
    kept = {k: session[k] for k in KEPT_ACROSS_LOGINS if k in session}
    session.clear()
    session.update(kept)


def refuse(
    provider: sso.ProviderConfig,
    reason: str,
    purpose: str,
    target: str | None,
    details: Mapping[str, Any] | None = None,
    *,
    message: str | None = None,
) -> tuple[str, int]:
    """Audit a refusal the protocol found (sso_refused, with its *reason* and *details*, each
    value cut to 200 characters of visible text) and say so."""
    user = current_user._get_current_object() if current_user.is_authenticated else None
    clean = {str(k)[:40]: sso.clean_text(v, 200) for k, v in (details or {}).items()}
    sso.record_refusal(provider.name, reason, origin=origin(), user=user, details=clean)
    if message is None:
        message = _refusal_text(provider, reason)
    return refused_page(provider, message, purpose, target, status=400)


def _refusal_text(provider: sso.ProviderConfig, reason: str) -> str:
    if reason == "no_pending_state":
        return _(
            "Inloggningen startades inte här, har redan använts eller tog för lång tid. "
            "Börja om från inloggningssidan."
        )
    if reason == "reauth_no_session":
        return _("Du är inte längre inloggad med kontot som skulle bekräftas. Logga in igen.")
    return sso.refusal_message(reason)


def refused_page(
    provider: sso.ProviderConfig,
    message: str,
    purpose: str,
    target: str | None,
    *,
    status: int = 403,
) -> tuple[str, int]:
    """The page a refused login or re-authentication ends on."""
    back = target if purpose == "reauth" and target else url_for("auth.login")
    page = render_template("auth/sso_refused.html", provider=provider, message=message, back=back)
    return page, status


def callback_uri(name: str) -> str:
    """The redirect URI registered at the IdP: from PUBLIC_BASE_URL when set (never the
    request's Host header then), otherwise this request's own address."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        return f"{base.rstrip('/')}{url_for('sso.callback', name=name)}"
    return url_for("sso.callback", name=name, _external=True)


def continue_logout(login: Mapping[str, Any] | None) -> str | None:
    """The local page that sends the browser on to the IdP's single logout, after the local
    logout of an SSO session (None: nothing to do at the IdP)."""
    url = single_logout_url(login)
    if not url or not isinstance(login, Mapping):
        return None
    provider = sso.providers(current_app.config).get(str(login.get("provider")))
    session[LOGOUT] = {"url": url, "label": provider.label if provider else ""}
    return url_for("sso.logout")


def single_logout_url(login: Mapping[str, Any] | None) -> str | None:
    """Where to send the browser after a local logout to end the session at the IdP too:
    OIDC's end_session_endpoint or SAML's single logout; None when there is none."""
    if not isinstance(login, Mapping):
        return None
    provider = sso.providers(current_app.config).get(str(login.get("provider")))
    if provider is None:
        return None
    back = _public(url_for("auth.login"))
    if provider.protocol == "oidc":
        if not provider.conf.get("logout", True):
            return None
        from formsvc.services import oidc

        try:
            return oidc.client(provider.name, provider.conf).end_session_url(
                id_token_hint=str(login.get("id_token") or ""), post_logout_redirect_uri=back
            )
        except oidc.OidcError as exc:
            current_app.logger.warning("SSO %s: no single logout: %s", provider.name, exc.reason)
            return None
    try:
        from formsvc.services import saml  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    name_id, index = login.get("name_id"), login.get("session_index")
    if not name_id:
        return None
    return saml.logout_url(
        provider.name,
        provider.conf,
        current_app.config,
        name_id=str(name_id),
        session_index=str(index or ""),
        relay_state=back,
    )


def _public(path: str) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL")
    return f"{base.rstrip('/')}{path}" if base else f"{request.host_url.rstrip('/')}{path}"
