"""Login and logout."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from formsvc.extensions import db
from formsvc.forms.staff import LoginForm
from formsvc.models import User
from formsvc.services import audit, demo, sso, throttle, users
from formsvc.views._common import locked_message, origin, password_policy, safe_next
from formsvc.views.admin import ROLE_LABELS
from formsvc.views.sso import continue_logout, fresh_session

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.find(form.username.data)
        failure = throttle.Failure.of_user("login_failed", user)
        refused = _no_password(user, form.username.data)
        if refused:
            # counted and answered as a wrong password: the answer does not tell which names
            # are break-glass accounts or SSO accounts; the log says why
            user, failure = None, throttle.Failure("login_failed", details={"refused": refused})
        outcome = throttle.check_password(
            user,
            form.username.data,
            form.password.data,
            origin=origin(),
            policy=password_policy(),
            failure=failure,
        )
        if outcome.ok and user is not None:
            _log_login(user)
            fresh_session()  # nothing of an earlier session (nor its IdP login) carries over
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
        if not outcome.refused:
            flash(_("Fel användarnamn eller lösenord, eller så är kontot inaktiverat."), "error")
        if outcome.retry_after:
            flash(locked_message(outcome), "error")
        if outcome.refused:
            return _login_page(form), 429
    return _login_page(form)


def _no_password(user: User | None, username: str) -> str | None:
    """Why *username* may not sign in with a password here, or None."""
    if user is not None and user.sso_provider:
        return "sso_account"  # an SSO account has no password (docs/adr/017)
    if not sso.local_login_allowed(current_app.config, username):
        return "local_login_off"
    return None


def _login_page(form: LoginForm) -> str:
    # the demo accounts and their shared password, only ever in demo mode (DEMO_MODE)
    shown = current_app.config.get("DEMO_MODE") is True
    local = bool(current_app.config.get("LOCAL_LOGIN", True))
    return render_template(
        "auth/login.html",
        form=form,
        providers=list(sso.providers(current_app.config).values()),
        next=safe_next(request.args.get("next")),
        # without local login the password form is for break-glass accounts: behind a link
        local_login=local,
        show_password=local or request.args.get("local") == "1" or form.is_submitted(),
        demo_accounts=demo.accounts() if shown else [],
        demo_password=current_app.config["DEMO_PASSWORD"] if shown else None,
        role_labels=ROLE_LABELS,
    )


def _log_login(user: User) -> None:
    audit.record(
        "login",
        actor_id=user.id,
        actor_label=user.username,
        object_type="user",
        object_id=user.id,
        district_id=user.district_id,
        origin=origin(),
    )
    db.session.commit()


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    # after an SSO login, the IdP's session is ended too (single logout) where it offers that
    sso_login = session.pop(sso.SESSION_LOGIN, None)
    session.pop(sso.SESSION_REAUTH, None)
    if current_user.is_authenticated:
        audit.record(
            "logout",
            actor_id=current_user.id,
            actor_label=current_user.username,
            object_type="user",
            object_id=current_user.id,
            origin=origin(),
        )
        current_user.end_sessions()  # this and every other session of the user (other devices)
        db.session.commit()
    fresh_session()  # before logout_user, which may mark the remember cookie for deletion
    logout_user()
    onwards = continue_logout(sso_login)
    if onwards:  # that page says it, then the IdP signs out and sends the browser to /login
        return redirect(onwards)
    flash(_("Du är utloggad."), "info")
    return redirect(url_for("auth.login"))
