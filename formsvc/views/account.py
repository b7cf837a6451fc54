"""A user's own account: change password (not for single sign-on accounts: they have none)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user
from werkzeug.wrappers import Response

from formsvc.forms.staff import PasswordChangeForm
from formsvc.services import sso, throttle, users
from formsvc.views._common import locked_message, origin, password_policy

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> str | Response | tuple[str, int]:
    if current_user.sso_provider:
        # the password is the IdP's business; this account has none here (ADR 017)
        provider = sso.providers(current_app.config).get(current_user.sso_provider)
        page = render_template("account/password_sso.html", provider=provider)
        return (page, 403) if request.method == "POST" else page
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            users.change_password(
                current_user._get_current_object(),
                form.current.data,
                form.new.data,
                origin=origin(),
                policy=password_policy(),
            )
        except throttle.PasswordRefused as refused:
            wrong = _("Det nuvarande lösenordet stämmer inte.")
            form.current.errors.append(
                locked_message(refused.outcome) if refused.outcome.retry_after else wrong
            )
            if refused.outcome.refused:
                return render_template("account/password.html", form=form), 429
        except users.UserError as exc:
            form.new.errors.append(str(exc))
        else:
            # the change ended every session of the user; this one goes on under the new version
            login_user(current_user._get_current_object())
            flash(_("Lösenordet är bytt. Du är utloggad på alla andra enheter."), "info")
            return redirect(url_for("main.index"))
    return render_template("account/password.html", form=form)
