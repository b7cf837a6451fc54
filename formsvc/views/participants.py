"""Participants of the caseworker's own district."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from formsvc.extensions import db
from formsvc.forms._base import text_problem
from formsvc.forms.staff import ConfirmForm, ParticipantForm
from formsvc.models import Participant, User
from formsvc.services import access, archive, consents, documents, participants, retention, signing
from formsvc.services.identity import IdentityError
from formsvc.views._common import id_arg, origin, registry, roles_required, store
from formsvc.views.documents import STATUS_LABELS

bp = Blueprint("participants", __name__, url_prefix="/participants")
STAFF = ("caseworker", "manager")


def _load(pid: int) -> Participant:
    p = db.session.get(Participant, pid)
    if p is None or not access.can_see_participant(current_user, p):
        abort(404)
    return p


@bp.route("/")
@roles_required(*STAFF)
def index() -> str:
    return render_template(
        "participants/index.html", participants=participants.visible_to(current_user)
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def new() -> str | BaseResponse:
    form = ParticipantForm()
    if form.validate_on_submit():
        p = _save(form, None)
        if p is not None:
            flash(_("Deltagaren är registrerad."), "info")
            return redirect(url_for(".show", pid=p.id))
    return _form_page(form, None)


@bp.route("/<int:pid>")
@roles_required(*STAFF)
def show(pid: int) -> str:
    p = _load(pid)
    if p.protected_identity:
        participants.log_read(p, actor=current_user, origin=origin())
    today = signing.today_local()
    return render_template(
        "participants/show.html",
        participant=p,
        documents=documents.for_participant(p, current_user, registry()),
        staff=participants.district_staff(p.district_id),
        confirm=ConfirmForm(),
        doc_types=registry(),
        # what the user may start about this participant; the rest is named, not linked
        creatable={
            slug
            for slug, t in registry().items()
            if access.can_create_for_participant(current_user, t, p)
        },
        sharing=consents.share_today(p.id, today),
        today=today,
        status_labels=STATUS_LABELS,
    )


@bp.route("/<int:pid>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit(pid: int) -> str | BaseResponse:
    p = _load(pid)
    form = ParticipantForm(obj=p)
    if form.validate_on_submit() and _save(form, p) is not None:
        flash(_("Uppgifterna är sparade."), "info")
        return redirect(url_for(".show", pid=p.id))
    return _form_page(form, p)


def _form_page(form: ParticipantForm, p: Participant | None) -> str:
    return render_template(
        "participants/form.html",
        form=form,
        participant=p,
        warnings=getattr(form, "warnings", {}),
        existing_id=getattr(form, "existing_id", None),
    )


def _save(form: ParticipantForm, p: Participant | None) -> Participant | None:
    """Register or change; None with the problems attached to the form."""
    kind = form.id_kind.data
    data = participants.ParticipantInput(
        first_name=form.first_name.data,
        last_name=form.last_name.data,
        id_kind=kind,
        id_number=form.id_number.data or "",
        birth_date=form.birth_date.data,
        target_group=form.target_group.data,
        protected_identity=form.protected_identity.data,
        confirmed=frozenset(k for k, f in form.confirmations() if f.data),
    )
    today = signing.today_local()
    try:
        if p is None:
            return participants.create(data, actor=current_user, today=today, origin=origin())
        return participants.update(p, data, actor=current_user, today=today, origin=origin())
    except IdentityError as exc:
        (form.birth_date if kind == "birth_date" else form.id_number).errors.append(str(exc))
    except participants.DuplicateIdentity as exc:
        form.id_number.errors.append(str(exc))
        form.existing_id = exc.existing_id
    except participants.UnconfirmedWarnings as exc:
        form.warnings = exc.warnings
    return None


@bp.route("/<int:pid>/assignments", methods=["POST"])
@roles_required("manager")
def assignments(pid: int) -> BaseResponse:
    p = _load(pid)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user_id = id_arg(request.form, "user_id")
    user = db.session.get(User, user_id) if user_id else None
    if user is None or user.district_id != p.district_id:
        abort(404)
    if request.form.get("action") == "remove":
        participants.unassign(p, user.id, actor=current_user, origin=origin())
    else:
        participants.assign(p, user, actor=current_user, origin=origin())
    flash(_("Tilldelningen är ändrad."), "info")
    return redirect(url_for(".show", pid=p.id))


@bp.get("/<int:pid>/export.zip")
@roles_required(*STAFF)
def export(pid: int) -> Response:
    p = _load(pid)
    docs = documents.for_participant(p, current_user, registry())
    chunks = archive.export_participant(
        p, docs, registry(), store=store(), actor=current_user, origin=origin()
    )
    return Response(
        stream_with_context(chunks),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="deltagare-{p.id}.zip"'},
    )


@bp.post("/<int:pid>/unprotect")
@roles_required("manager")
def unprotect(pid: int) -> BaseResponse:
    p = _load(pid)
    reason = (request.form.get("reason") or "").strip()
    problem = text_problem(reason, 500, label=_("Skäl till att skyddet hävs"))
    if not reason:
        problem = _("Ange skälet till att skyddet hävs.")
    if problem or not ConfirmForm().validate_on_submit():
        flash(problem or _("Formuläret har gått ut. Försök igen."), "error")
    else:
        participants.unprotect(p, actor=current_user, reason=reason, origin=origin())
        flash(_("Skyddade personuppgifter är hävda för deltagaren."), "info")
    return redirect(url_for(".show", pid=p.id))


@bp.post("/<int:pid>/hold")
@roles_required("manager")
def hold(pid: int) -> BaseResponse:
    p = _load(pid)
    on = request.form.get("on") == "1"
    reason = (request.form.get("reason") or "").strip()
    problem = text_problem(reason, 500, label=_("Skäl till spärren"))
    if on and not reason:
        problem = _("Ange skälet till spärren.")
    if problem or not ConfirmForm().validate_on_submit():
        flash(problem or _("Formuläret har gått ut. Försök igen."), "error")
    else:
        retention.set_hold(p, on, reason=reason, actor=current_user, origin=origin())
        flash(_("Gallringsspärr satt.") if on else _("Gallringsspärren är hävd."), "info")
    return redirect(url_for(".show", pid=p.id))
