"""A user's own account: change password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user
from werkzeug.wrappers import Response

from formsvc.forms.staff import PasswordChangeForm
from formsvc.services import users

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> str | Response:
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            users.change_password(current_user, form.current.data, form.new.data)
        except users.UserError as exc:
            form.new.errors.append(str(exc))
        else:
            # the change ended every session of the user; this one goes on under the new version
            login_user(current_user._get_current_object())
            flash(_("Lösenordet är bytt. Du är utloggad på alla andra enheter."), "info")
            return redirect(url_for("main.index"))
    return render_template("account/password.html", form=form)
