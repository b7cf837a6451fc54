"""Login and logout."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from formsvc.extensions import db, limiter
from formsvc.forms.staff import LoginForm
from formsvc.models import User
from formsvc.services import audit, users
from formsvc.views._common import origin, safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.find(form.username.data)
        ok = user is not None and user.active and user.check_password(form.password.data)
        if user is None:
            User.burn_verification(form.password.data)
        _log_login(user, form.username.data, ok)
        if ok:
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
        flash(_("Fel användarnamn eller lösenord, eller så är kontot inaktiverat."), "error")
    return render_template("auth/login.html", form=form)


def _log_login(user: User | None, typed: str, ok: bool) -> None:
    audit.record(
        "login" if ok else "login_failed",
        actor_id=user.id if user else None,
        actor_label=user.username if user else typed[:80],
        object_type="user",
        object_id=user.id if user else None,
        district_id=user.district_id if user else None,
        origin=origin(),
    )
    db.session.commit()


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
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
    logout_user()
    flash(_("Du är utloggad."), "info")
    return redirect(url_for("auth.login"))
