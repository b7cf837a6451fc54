"""Fill, edit and download documents."""

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
from werkzeug.wrappers import Response as BaseResponse

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.forms._base import data_to_formdata
from formsvc.models import Document, Participant
from formsvc.services import access, audit, documents
from formsvc.services.conversion import ConversionError
from formsvc.views._common import converter, doc_type, origin, roles_required, store

bp = Blueprint("documents", __name__)
STAFF = ("caseworker", "manager")


def _participant(pid: int) -> Participant:
    p = db.session.get(Participant, pid)
    if p is None or not access.can_see_participant(current_user, p):
        abort(404)
    return p


def _document(doc_id: int) -> tuple[Document, DocumentType]:
    doc = db.session.get(Document, doc_id)
    if doc is None or not access.can_see_document(current_user, doc):
        abort(404)
    return doc, doc_type(doc.type_slug)


def _pad(form: object) -> None:
    """Offer one empty row per table so rows can be added without JavaScript."""
    for name in ("actors",):
        field = getattr(form, name, None)
        if field is not None and len(field.entries) < (field.max_entries or 99):
            field.append_entry()


def _handle(dtype: DocumentType, form: object, subject: object) -> dict | None:
    """POST handling shared by new/edit: the 'add row' button, or validated data."""
    if getattr(form, "add_actor", None) is not None and form.add_actor.data:
        _pad(form)
        return None
    if form.is_submitted() and documents.validate(dtype, form, subject, current_app.config):
        return documents.to_data(dtype, form)
    if form.is_submitted():
        flash(
            _(
                "Formuläret innehåller fel. Rätta de markerade fälten; inget av det du skrev har "
                "försvunnit."
            ),
            "error",
        )
    return None


@bp.route("/participants/<int:pid>/documents/new/<slug>", methods=["GET", "POST"])
@roles_required(*STAFF)
def new(pid: int, slug: str) -> str | BaseResponse:
    p, dtype = _participant(pid), doc_type(slug)
    subject = documents.subject_of(p)
    if request.method == "GET":
        initial = dtype.initial(documents.author_of(current_user), subject)
        form = dtype.form_class(formdata=data_to_formdata(dtype.form_class, initial))
        _pad(form)
    else:
        form = dtype.form_class()
    if (data := _handle(dtype, form, subject)) is not None:
        doc = documents.create(
            dtype, data, actor=current_user, participant=p, store=store(), origin=origin()
        )
        flash(_("Utkastet är sparat."), "info")
        return redirect(url_for(".show", doc_id=doc.id))
    return render_template(
        f"documents/{dtype.slug}.html", form=form, dtype=dtype, participant=p, document=None
    )


@bp.route("/documents/<int:doc_id>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit(doc_id: int) -> str | BaseResponse:
    doc, dtype = _document(doc_id)
    if doc.status != "draft":
        flash(_("Dokumentet är inte längre ett utkast och kan inte ändras."), "error")
        return redirect(url_for(".show", doc_id=doc.id))
    if request.method == "GET":
        form = dtype.form_class(formdata=data_to_formdata(dtype.form_class, doc.data))
        _pad(form)
    else:
        form = dtype.form_class()
    if (data := _handle(dtype, form, documents.subject_of(doc.participant))) is not None:
        documents.update(doc, data, actor=current_user, store=store(), dtype=dtype, origin=origin())
        flash(_("Ändringarna är sparade som version %(v)d.", v=doc.version), "info")
        return redirect(url_for(".show", doc_id=doc.id))
    return render_template(
        f"documents/{dtype.slug}.html",
        form=form,
        dtype=dtype,
        participant=doc.participant,
        document=doc,
    )


@bp.route("/documents/<int:doc_id>")
@roles_required(*STAFF)
def show(doc_id: int) -> str:
    doc, dtype = _document(doc_id)
    audit.record(
        "view",
        actor_id=current_user.id,
        actor_label=current_user.username,
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        origin=origin(),
    )
    db.session.commit()
    context = dtype.build_context(documents.render_input(doc))
    return render_template("documents/show.html", document=doc, dtype=dtype, context=context)


@bp.route("/documents/<int:doc_id>/download.<fmt>")
@roles_required(*STAFF)
def download(doc_id: int, fmt: str) -> Response | tuple[str, int]:
    doc, dtype = _document(doc_id)
    if fmt not in ("docx", "pdf"):
        abort(404)
    try:
        result = documents.download(
            doc,
            dtype,
            fmt,
            store=store(),
            converter=converter() if fmt == "pdf" else None,
            actor=current_user,
            origin=origin(),
        )
    except ConversionError as exc:
        db.session.rollback()
        context = dtype.build_context(documents.render_input(doc))
        return render_template(
            "documents/show.html",
            document=doc,
            dtype=dtype,
            context=context,
            conversion_error=exc.message,
        ), 503
    return Response(
        result.data,
        mimetype=result.mimetype,
        headers={"Content-Disposition": f'attachment; filename="{result.filename}"'},
    )
