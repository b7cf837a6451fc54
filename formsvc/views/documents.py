"""Fill, edit, find and download documents of every type."""

from __future__ import annotations

from datetime import date

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
from formsvc.models import Document, DocumentRevision, Participant, User
from formsvc.models.document import DocumentStatus
from formsvc.services import access, consents, documents, facts, periods, signing
from formsvc.services.conversion import ConversionError
from formsvc.views._common import (
    converter,
    doc_type,
    id_arg,
    inline_pdf,
    origin,
    registry,
    roles_required,
    store,
)
from formsvc.views.signing_forms import EmailForm

bp = Blueprint("documents", __name__)
STAFF = ("caseworker", "manager")


def _participant(pid: int) -> Participant:
    p = db.session.get(Participant, pid)
    if p is None or not access.can_see_participant(current_user, p):
        abort(404)
    return p


def _employee(uid: int) -> User:
    u = db.session.get(User, uid)
    if u is None or u.district_id != current_user.district_id or u.role not in STAFF:
        abort(404)
    return u


def load_document(doc_id: int) -> tuple[Document, DocumentType]:
    """The document and its type if the current user may see it, else 404 (no leak)."""
    doc = db.session.get(Document, doc_id)
    if doc is None or doc.type_slug not in registry():
        abort(404)
    dtype = registry()[doc.type_slug]
    if not access.can_see_document(current_user, doc, dtype):
        abort(404)
    return doc, dtype


def _creatable(slug: str, subject: str) -> DocumentType:
    dtype = doc_type(slug)
    if dtype.subject != subject:
        abort(404)
    if not access.can_create(current_user, dtype):
        abort(403)
    return dtype


def _fill(dtype: DocumentType, ctx: object, form: object, target: dict) -> str | BaseResponse:
    """Shared by new and edit: the add-row button, or validate and save, or show errors."""
    add = request.form.get("add_row")
    if request.method == "POST" and add:
        documents.pad_rows(form, only=add)
    elif request.method == "POST":
        if documents.validate(dtype, form, ctx):
            data = documents.to_data(dtype, form, ctx)
            doc = target["save"](data)
            # what the form warned about still holds once saved: say it on the next page too
            for notice in form.notices(ctx) if hasattr(form, "notices") else []:
                flash(notice, "warning")
            return redirect(url_for(".show", doc_id=doc.id))
        flash(
            _(
                "Formuläret innehåller fel. Rätta de markerade fälten; inget av det du skrev har "
                "försvunnit."
            ),
            "error",
        )
    return render_template(
        dtype.html,
        form=form,
        dtype=dtype,
        ctx=ctx,
        checklist_texts=documents.checklist_texts(ctx),
        **target["page"],
    )


def _new(
    dtype: DocumentType, *, participant: Participant | None = None, employee: User | None = None
) -> str | BaseResponse:
    ctx = documents.form_context(
        dtype,
        author=current_user,
        district=current_user.district.name,
        settings=current_app.config,
        participant=participant,
        employee=employee,
        facts=_facts(current_user.district_id, participant),
    )
    form = documents.blank_form(dtype, ctx) if request.method == "GET" else dtype.form_class()

    def save(data: dict) -> Document:
        doc = documents.create(
            dtype,
            data,
            actor=current_user,
            store=store(),
            participant=participant,
            employee=employee,
            origin=origin(),
        )
        flash(_("Utkastet är sparat."), "info")
        return doc

    page = {"participant": participant, "employee": employee, "document": None}
    return _fill(dtype, ctx, form, {"save": save, "page": page})


def _facts(
    district_id: int, participant: Participant | None, document_id: int | None = None
) -> dict:
    today = signing.today_local()
    return {
        **facts.for_district(
            district_id,
            today=today,
            contact_list_months=current_app.config["CONTACT_LIST_CURRENT_MONTHS"],
        ),
        **facts.for_participant(
            participant.id if participant else None,
            today,
            district_id=district_id,
            excluding=document_id,
        ),
    }


@bp.route("/participants/<int:pid>/documents/new/<slug>", methods=["GET", "POST"])
@roles_required(*STAFF)
def new(pid: int, slug: str) -> str | BaseResponse:
    participant = _participant(pid)
    dtype = _creatable(slug, "participant")
    if not access.can_create_for_participant(current_user, dtype, participant):
        abort(403)  # 3.3 is for the participant's assigned staff and the managers
    return _new(dtype, participant=participant)


@bp.route("/staff/<int:uid>/documents/new/<slug>", methods=["GET", "POST"])
@roles_required(*STAFF)
def new_for_employee(uid: int, slug: str) -> str | BaseResponse:
    employee = _employee(uid)
    return _new(_creatable(slug, "employee"), employee=employee)


@bp.route("/district/documents/new/<slug>", methods=["GET", "POST"])
@roles_required(*STAFF)
def new_for_district(slug: str) -> str | BaseResponse:
    return _new(_creatable(slug, "district"))


@bp.route("/documents/<int:doc_id>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit(doc_id: int) -> str | BaseResponse:
    doc, dtype = load_document(doc_id)
    if not access.can_edit_document(current_user, doc, dtype):
        abort(403)
    if doc.status not in documents.EDITABLE:
        flash(_("Dokumentet är avslutat och kan inte ändras."), "error")
        return redirect(url_for(".show", doc_id=doc.id))
    if locks := periods.locked_by(doc):  # issue 17: GET and POST alike
        flash(periods.locked_message(locks), "error")
        return redirect(url_for("periods.correct", doc_id=doc.id))
    if doc.status == "awaiting_signatures" and request.method == "GET":
        flash(
            _(
                "Dokumentet väntar på underskrifter. Sparar du en ändring makuleras de öppna "
                "begärandena (även skickade länkar), och alla skriver under den nya versionen."
            ),
            "error",
        )
    ctx = documents.form_context(
        dtype,
        author=current_user,
        district=doc.district.name,
        settings=current_app.config,
        participant=doc.participant,
        employee=doc.subject_user,
        stored=doc.data,
        facts=_facts(doc.district_id, doc.participant, doc.id),
    )
    form = documents.stored_form(dtype, doc.data) if request.method == "GET" else dtype.form_class()

    def save(data: dict) -> Document:
        documents.update(doc, data, actor=current_user, store=store(), dtype=dtype, origin=origin())
        flash(_("Ändringarna är sparade som version %(v)d.", v=doc.version), "info")
        return doc

    page = {"participant": doc.participant, "employee": doc.subject_user, "document": doc}
    try:
        return _fill(dtype, ctx, form, {"save": save, "page": page})
    except periods.Locked as exc:  # issue 17: closed meanwhile, or the edit moves it into one
        from formsvc.views.periods import correction_page  # that module imports this one

        flash(periods.locked_message(exc.periods), "error")
        return correction_page(doc, dtype, form, ctx, exc.periods)


def _link_emails(doc: Document, dtype: DocumentType, reqs: list) -> dict[int, str]:
    """Request id -> the e-mail address the document's data gives that signer, if any."""
    if not any(r.status == "open" and r.kind == "external" for r in reqs):
        return {}
    by_slot = {s.key: s.email for s in signing.slots(doc, dtype) if s.email}
    return {r.id: by_slot[r.slot] for r in reqs if r.slot in by_slot}


@bp.route("/documents/<int:doc_id>")
@roles_required(*STAFF)
def show(doc_id: int, conversion_error: str | None = None, link_forms: dict | None = None) -> str:
    doc, dtype = load_document(doc_id)
    documents.log_view(doc, current_user, origin())
    reqs = signing.requests(doc) if doc.status != "draft" else []
    return render_template(
        "documents/show.html",
        document=doc,
        dtype=dtype,
        context=dtype.build_context(documents.render_input(doc)),
        revisions=documents.revisions(doc),
        period_locks=periods.locked_by(doc),
        period_corrections=periods.corrections_for(doc),
        conversion_error=conversion_error,
        can_edit=access.can_edit_document(current_user, doc, dtype),
        can_send=doc.status == "draft" and bool(signing.slots(doc, dtype)),
        requests=reqs,
        staff_may_sign={r.id for r in reqs if signing.may_sign_as_staff(current_user, r, dtype)},
        link_forms=link_forms or {},
        # the address the form holds for a signer, offered for their personal link
        link_emails=_link_emails(doc, dtype, reqs),
        email_form=EmailForm,
        consent_state=consents.state(doc, signing.today_local())
        if doc.type_slug == "consent"
        else None,
        consent_now=consents.current_state(doc, signing.today_local())
        if doc.type_slug == "consent"
        else None,
        withdrawable=doc.type_slug == "consent" and doc.status in consents.WITHDRAWABLE,
        method_labels=signing.METHOD_LABELS,
        request_labels=signing.REQUEST_LABELS,
        state_labels=consents.STATE_LABELS,
        status_labels=STATUS_LABELS,
        pdf_preview=preview_of(doc, dtype),
    )


@bp.route("/documents/<int:doc_id>/download.<fmt>")
@bp.route("/documents/<int:doc_id>/v<int:version>/download.<fmt>")
@roles_required(*STAFF)
def download(doc_id: int, fmt: str, version: int | None = None) -> Response | tuple[str, int]:
    doc, dtype = load_document(doc_id)
    if fmt not in ("docx", "pdf"):
        abort(404)
    rev: DocumentRevision | None = None
    if version is not None and (rev := documents.revision(doc, version)) is None:
        abort(404)
    try:
        result = documents.download(
            doc,
            dtype,
            fmt,
            store=store(),
            converter=converter() if fmt == "pdf" else None,
            actor=current_user,
            revision=rev,
            origin=origin(),
        )
    except ConversionError as exc:
        db.session.rollback()
        return show(doc_id, conversion_error=exc.message), 503
    return Response(
        result.data,
        mimetype=result.mimetype,
        headers={"Content-Disposition": f'attachment; filename="{result.filename}"'},
    )


@bp.get("/documents/<int:doc_id>/preview.pdf")
@roles_required(*STAFF)
@inline_pdf
def preview(doc_id: int) -> Response | tuple[str, int]:
    """The current version as PDF, inline: what the document page shows in its frame (marked
    as a draft when the type is signed; see documents.download)."""
    doc, dtype = load_document(doc_id)
    try:
        result = documents.download(
            doc,
            dtype,
            "pdf",
            store=store(),
            converter=converter(),
            actor=current_user,
            origin=origin(),
            inline=True,
        )
    except ConversionError as exc:
        db.session.rollback()
        return render_template("error.html", title=_("Filen kan inte visas"), text=exc.message), 503
    return Response(
        result.data,
        mimetype=result.mimetype,
        headers={"Content-Disposition": f'inline; filename="{result.filename}"'},
    )


def preview_of(doc: Document, dtype: DocumentType) -> dict[str, str] | None:
    """What the document page frames: the signed PDF, else the PDF sent for signature, else a
    preview of the current version; its address, a fallback to download and the frame's title."""
    if doc.status == DocumentStatus.PURGED:
        return None
    if doc.sealed_pdf_sha256:
        return {
            "src": url_for("signing.sealed_pdf_inline", doc_id=doc.id),
            "download": url_for("signing.sealed_pdf", doc_id=doc.id),
            "title": _("Det signerade dokumentet (PDF)"),
            "link": _("Öppna PDF-filen"),
        }
    if doc.frozen_pdf_sha256:
        url = url_for("signing.frozen_pdf", doc_id=doc.id)
        title = _("Dokumentet att skriva under (PDF)")
        return {"src": url, "download": url, "title": title, "link": _("Öppna PDF-filen")}
    return {
        "src": url_for(".preview", doc_id=doc.id),
        "download": url_for(".download", doc_id=doc.id, fmt="pdf"),
        "title": _("Förhandsvisning av utkastet (PDF), inte underskrivet")
        if documents.marked_as_draft(doc, dtype)
        else _("Förhandsvisning av dokumentet (PDF)"),
        "link": _("Öppna PDF-filen"),
    }


@bp.route("/documents/")
@roles_required(*STAFF)
def index() -> str:
    args = request.args
    filters = documents.Filters(
        type_slug=args.get("type") if args.get("type") in registry() else None,
        status=args.get("status") if args.get("status") in STATUS_LABELS else None,
        participant_id=id_arg(args, "participant"),
        date_from=_date(args.get("from")),
        date_to=_date(args.get("to")),
        signer=(args.get("signer") or "").strip()[:200] or None,
    )
    page = documents.search(
        current_user,
        registry(),
        filters,
        page=max(1, min(args.get("page", 1, type=int) or 1, 100_000)),
    )
    return render_template(
        "documents/index.html",
        page=page,
        filters=filters,
        doc_types=registry(),
        status_labels=STATUS_LABELS,
    )


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


STATUS_LABELS = {s.value: s.label for s in DocumentStatus}
