"""Administration: users and districts. Administrators see no client documents."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from formsvc.config import ROLES
from formsvc.extensions import db
from formsvc.forms._base import choices
from formsvc.forms.staff import ConfirmForm, DistrictForm, UserForm
from formsvc.models import District, User
from formsvc.services import users
from formsvc.views._common import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_LABELS = {
    "caseworker": "Handläggare (lots/samordnare)",
    "manager": "Arbetsledare/enhetschef",
    "security_officer": "Säkerhetschef/säkerhetsstrateg",
    "analyst": "Utredare (statistik)",
    "admin": "Administratör",
}


def _user_form(user: User | None = None) -> UserForm:
    form = UserForm(obj=user)
    form.role.choices = choices((r, ROLE_LABELS[r]) for r in ROLES)
    form.district_id.choices = choices(
        [("", _("– ingen –"))] + [(str(d.id), d.name) for d in users.districts()]
    )
    if user is not None and not form.is_submitted():
        form.district_id.data = str(user.district_id or "")
    return form


def _district_id(form: UserForm) -> int | None:
    return int(form.district_id.data) if form.district_id.data else None


@bp.route("/users")
@roles_required("admin")
def user_list() -> str:
    rows = db.session.scalars(db.select(User).order_by(User.username)).all()
    return render_template(
        "admin/users.html", users=rows, role_labels=ROLE_LABELS, confirm=ConfirmForm()
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required("admin")
def user_new() -> str | Response:
    form = _user_form()
    if form.validate_on_submit():
        try:
            users.create_user(
                username=form.username.data,
                full_name=form.full_name.data,
                role=form.role.data,
                password=form.password.data or "",
                district_id=_district_id(form),
                email=form.email.data or "",
                title=form.title.data or "",
                phone=form.phone.data or "",
                actor=current_user,
            )
        except users.UserError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Användaren är skapad."), "info")
            return redirect(url_for(".user_list"))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:uid>", methods=["GET", "POST"])
@roles_required("admin")
def user_edit(uid: int) -> str | Response:
    user = db.session.get(User, uid) or abort(404)
    form = _user_form(user)
    del form.password  # passwords are reset, not edited
    if form.validate_on_submit():
        try:
            users.update_user(
                user,
                role=form.role.data,
                district_id=_district_id(form),
                active=form.active.data,
                full_name=form.full_name.data,
                email=form.email.data or "",
                title=form.title.data or "",
                phone=form.phone.data or "",
                actor=current_user,
            )
        except users.UserError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            flash(_("Ändringarna är sparade."), "info")
            return redirect(url_for(".user_list"))
    return render_template("admin/user_form.html", form=form, user=user)


@bp.route("/users/<int:uid>/reset-password", methods=["POST"])
@roles_required("admin")
def user_reset(uid: int) -> str | Response:
    user = db.session.get(User, uid) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    new = users.reset_password(user, actor=current_user)
    return render_template("admin/reset_done.html", user=user, password=new)


@bp.route("/districts", methods=["GET", "POST"])
@roles_required("admin")
def districts() -> str | Response:
    form = DistrictForm()
    if form.validate_on_submit():
        try:
            users.create_district(form.name.data, actor=current_user)
        except users.UserError as exc:
            form.name.errors.append(str(exc))
        else:
            flash(_("Stadsdelen är skapad."), "info")
            return redirect(url_for(".districts"))
    return render_template("admin/districts.html", form=form, districts=users.districts())


@bp.route("/districts/<int:did>", methods=["GET", "POST"])
@roles_required("admin")
def district_edit(did: int) -> str | Response:
    district = db.session.get(District, did) or abort(404)
    form = DistrictForm(obj=district)
    if form.validate_on_submit():
        try:
            users.update_district(
                district, name=form.name.data, active=form.active.data, actor=current_user
            )
        except users.UserError as exc:
            db.session.rollback()
            form.name.errors.append(str(exc))
        else:
            flash(_("Ändringarna är sparade."), "info")
            return redirect(url_for(".districts"))
    return render_template("admin/district_form.html", form=form, district=district)
