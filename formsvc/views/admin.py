"""Administration: users and districts. Administrators see no client documents."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from formsvc.checklist_defaults import CHECKLISTS, OWN_DRAFTS
from formsvc.config import ROLES
from formsvc.extensions import db
from formsvc.forms._base import choices
from formsvc.forms.staff import (
    ChecklistItemForm,
    ConfirmForm,
    DistrictForm,
    TemplateUploadForm,
    UserForm,
)
from formsvc.models import ChecklistItem, District, TemplateVersion, User
from formsvc.services import (
    audit,
    checklists,
    sealing,
    sso_status,
    template_upload,
    throttle,
    users,
)
from formsvc.services.template_trial import PLACE_MARKER
from formsvc.services.templates import DOCX_MIME
from formsvc.views._common import (
    converter,
    doc_type,
    origin,
    registry,
    roles_required,
    store,
    untrusted,
)
from formsvc.views.signing_forms import SealForm

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
        "admin/users.html",
        users=rows,
        role_labels=ROLE_LABELS,
        confirm=ConfirmForm(),
        locked=throttle.locked_names(),
        sso_label=_sso_label,
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
    return render_template(
        "admin/user_form.html", form=form, user=user, sso_label=_sso_label(user.sso_provider)
    )


def _sso_label(provider: str | None) -> str | None:
    """How the users pages name an account's SSO provider (None: a local account)."""
    return sso_status.label(current_app.config, provider)


@bp.route("/users/<int:uid>/reset-password", methods=["POST"])
@roles_required("admin")
def user_reset(uid: int) -> str | Response:
    user = db.session.get(User, uid) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        new = users.reset_password(user, actor=current_user)
    except users.UserError as exc:  # an SSO account has no password here
        flash(str(exc), "error")
        return redirect(url_for(".user_list"))
    return render_template("admin/reset_done.html", user=user, password=new)


@bp.route("/users/<int:uid>/unlock", methods=["POST"])
@roles_required("admin")
def user_unlock(uid: int) -> Response:
    """Lift a lockout after too many wrong passwords."""
    user = db.session.get(User, uid) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    throttle.unlock(user, actor=current_user, origin=origin())
    flash(_("Spärren för %(name)s är hävd.", name=user.username), "info")
    return redirect(url_for(".user_list"))


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


# --------------------------------------------------------------------------- Word templates


@bp.route("/templates")
@roles_required("admin")
def templates() -> str:
    return _templates_page(TemplateUploadForm())


@bp.route("/templates/<slug>/upload", methods=["POST"])
@roles_required("admin")
def template_upload_view(slug: str) -> str | Response:
    dtype = doc_type(slug)
    form = TemplateUploadForm()
    upload = request.files.get("file")
    # read at most one byte past the limit: enough to refuse, without holding a huge upload
    data = upload.read(template_upload.MAX_UPLOAD + 1) if upload else b""
    if upload:
        upload.close()
    if form.validate_on_submit():
        try:
            tv = template_upload.upload(
                dtype,
                data,
                actor=current_user,
                store=store(),
                runner=untrusted(),
                converter=converter(),
                filename=upload.filename or "",
            )
        except template_upload.UploadRefused as exc:
            db.session.rollback()
            form.file.errors.append(str(exc))
        else:
            flash(
                _("Mallen är kontrollerad och används nu som version %(v)d.", v=tv.version), "info"
            )
            return redirect(url_for(".templates"))
    return _templates_page(form, failed_slug=slug), 400


def _templates_page(form: TemplateUploadForm, failed_slug: str | None = None) -> str:
    types = registry()
    return render_template(
        "admin/templates.html",
        doc_types=types,
        form=form,
        confirm=ConfirmForm(),
        failed_slug=failed_slug,
        versions={s: template_upload.versions(s) for s in types},
        signers={s: template_upload.sample_signers(t) for s, t in types.items()},
        marker=PLACE_MARKER,
    )


@bp.route("/templates/<slug>/v<int:version>/activate", methods=["POST"])
@roles_required("admin")
def template_activate(slug: str, version: int) -> Response:
    tv = _template_version(slug, version)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        template_upload.activate(
            tv,
            doc_type(slug),
            actor=current_user,
            store=store(),
            runner=untrusted(),
            converter=converter(),
        )
    except template_upload.UploadRefused as exc:
        db.session.rollback()
        flash(_("Version %(v)d kan inte användas: %(why)s", v=version, why=str(exc)), "error")
    else:
        flash(_("Version %(v)d används nu för nya dokument.", v=version), "info")
    return redirect(url_for(".templates"))


@bp.route("/templates/<slug>/v<int:version>.docx")
@roles_required("admin")
def template_download(slug: str, version: int) -> Response:
    tv = _template_version(slug, version)
    return Response(
        store().get(tv.file_sha256),
        mimetype=DOCX_MIME,
        headers={"Content-Disposition": f'attachment; filename="{slug}-mall-v{version}.docx"'},
    )


def _template_version(slug: str, version: int) -> TemplateVersion:
    doc_type(slug)
    tv = db.session.scalar(
        db.select(TemplateVersion).where(
            TemplateVersion.type_slug == slug, TemplateVersion.version == version
        )
    )
    if tv is None:
        abort(404)
    return tv


# --------------------------------------------------------------------------- checklists


@bp.route("/checklists", methods=["GET", "POST"])
@roles_required("admin")
def checklists_view() -> str | Response:
    form = ChecklistItemForm()
    slug = request.args.get("list", "")
    if request.method == "POST":
        if slug not in CHECKLISTS:
            abort(404)
        if form.validate_on_submit():
            try:
                checklists.add(slug, form.text.data, actor=current_user)
            except checklists.ChecklistError as exc:
                db.session.rollback()
                form.text.errors.append(str(exc))
            else:
                flash(_("Punkten är tillagd."), "info")
                return redirect(url_for(".checklists_view") + f"#{slug}")
    lists = {s: checklists.items(s, include_retired=True) for s in CHECKLISTS}
    db.session.commit()  # defaults created on first view are kept
    return render_template(
        "admin/checklists.html",
        lists=lists,
        titles=CHECKLISTS,
        own=OWN_DRAFTS,
        form=form,
        confirm=ConfirmForm(),
        failed_slug=slug if form.errors else None,
    )


@bp.route("/checklists/items/<int:item_id>", methods=["GET", "POST"])
@roles_required("admin")
def checklist_item(item_id: int) -> str | Response:
    item = db.session.get(ChecklistItem, item_id) or abort(404)
    form = ChecklistItemForm(obj=item)
    if form.validate_on_submit():
        try:
            checklists.edit(item, form.text.data, actor=current_user)
        except checklists.ChecklistError as exc:
            db.session.rollback()
            form.text.errors.append(str(exc))
        else:
            flash(
                _("Punkten är ändrad. Dokument som redan fyllts i behåller den gamla texten."),
                "info",
            )
            return redirect(url_for(".checklists_view") + f"#{item.checklist}")
    return render_template("admin/checklist_item.html", form=form, item=item)


@bp.route("/checklists/items/<int:item_id>/<action>", methods=["POST"])
@roles_required("admin")
def checklist_action(item_id: int, action: str) -> Response:
    item = db.session.get(ChecklistItem, item_id) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if action in ("retire", "restore"):
        checklists.set_active(item, action == "restore", actor=current_user)
    elif action in ("up", "down"):
        checklists.move(item, -1 if action == "up" else 1, actor=current_user)
    else:
        abort(404)
    return redirect(url_for(".checklists_view") + f"#{item.checklist}")


# --------------------------------------------------------------------------- seal certificate


@bp.route("/seal", methods=["GET", "POST"])
@roles_required("admin")
def seal() -> str | Response | tuple[str, int]:
    form = SealForm()
    status = 200
    if form.validate_on_submit():
        upload = form.pkcs12.data
        data = upload.read(200_001) if upload else b""
        try:
            subject = sealing.install_pkcs12(current_app, data, form.passphrase.data or "")
        except sealing.SealError as exc:
            form.pkcs12.errors = [exc.message]
            status = 400
        else:
            audit.record(
                "seal_installed",
                actor_id=current_user.id,
                actor_label=current_user.username,
                object_type="seal",
                details={"subject": subject},
                origin=origin(),
            )
            db.session.commit()
            flash(_("Det nya sigillet används nu: %(s)s.", s=subject), "info")
            return redirect(url_for(".seal"))
    active = None
    try:
        active = sealing.get_sealer(current_app)
    except sealing.SealError as exc:
        flash(exc.message, "error")
    return render_template(
        "admin/seal.html",
        form=form,
        active=active,
        demo=active is not None and sealing.is_demo(active.certificate),
        trusted=sealing.trusted_certificates(current_app) if active else [],
    ), status
