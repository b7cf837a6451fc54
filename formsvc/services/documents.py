"""Create, edit, find and render documents. Knows nothing of HTTP."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import exists, func, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import joinedload, selectinload

from formsvc.doctypes import (
    Author,
    ChecklistEntry,
    DocumentType,
    FormContext,
    RenderInput,
    Subject,
    sample_input,
)
from formsvc.extensions import db
from formsvc.forms._base import data_to_formdata, is_checklist, is_row_table
from formsvc.models import (
    Document,
    DocumentRevision,
    Participant,
    SignatureRequest,
    TemplateVersion,
    User,
)
from formsvc.models._base import utcnow
from formsvc.models.document import DocumentStatus
from formsvc.services import access, audit, checklists, lifecycle, overlay, periods
from formsvc.services.conversion import ConverterPool
from formsvc.services.rendering import render_docx
from formsvc.services.storage import FileStore
from formsvc.services.templates import DOCX_MIME, active_version, template_bytes

#: The language of documents (the Word templates, the frozen and sealed PDFs, the evidence and
#: what is stored for it): Swedish, whatever language the interface is in.
DOCUMENT_LOCALE = "sv"


def in_document_language():  # noqa: ANN201 - flask_babel's context manager, also a decorator
    """Make a document's text (labels, roles, statements, evidence) in DOCUMENT_LOCALE.

    The interface may be English (a caseworker's or a signer's choice); what a document prints
    or what is stored as its evidence must not depend on who happened to make it."""
    return force_locale(DOCUMENT_LOCALE)


def data_digest(data: Mapping[str, Any]) -> str:
    """SHA-256 of a document's data in canonical JSON: the audit log records it on every save,
    so a row changed behind the application's back is found (`flask audit verify`)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


#: Statuses in which a document can still be edited (sent ones go back to draft).
EDITABLE = (DocumentStatus.DRAFT, DocumentStatus.AWAITING_SIGNATURES)


class NotEditable(Exception):
    """The document is no longer a draft."""


def subject_of(participant: Participant | None) -> Subject | None:
    """Plain view of a participant for forms and templates."""
    if participant is None:
        return None
    return Subject(
        name=participant.name,
        id_kind=participant.id_kind,
        id_number=participant.id_number,
        birth_date=participant.birth_date,
        target_group=participant.target_group,
        protected=participant.protected_identity,
    )


def author_of(user: User | None) -> Author | None:
    """Plain view of a staff member as printed on documents."""
    if user is None:
        return None
    return Author(name=user.full_name, title=user.title, phone=user.phone, email=user.email)


# --------------------------------------------------------------------------- forms


def form_context(
    dtype: DocumentType,
    *,
    author: User,
    district: str,
    settings: Mapping[str, Any],
    participant: Participant | None = None,
    employee: User | None = None,
    stored: Mapping[str, Any] | None = None,
    facts: Mapping[str, Any] | None = None,
) -> FormContext:
    """Everything a form needs besides the request: subject, limits, checklist items, facts.

    A new document goes through the checklists' active items; an existing one keeps the items
    (and texts) it was filled with.
    """
    lists: dict[str, list[ChecklistEntry]] = {}
    for field_name, slug in dict(dtype.checklists).items():
        if stored is not None and field_name in stored:
            lists[field_name] = [
                ChecklistEntry(item_id=int(row["item_id"]), text=row.get("text", ""))
                for row in stored[field_name]
            ]
        else:
            lists[field_name] = checklists.entries(slug)
    return FormContext(
        subject=subject_of(participant),
        settings=settings,
        author=author_of(author),
        role=author.role,
        employee=author_of(employee),
        district=district,
        checklists=lists,
        facts=facts or {},
    )


def offline_context(
    dtype: DocumentType, data: Mapping[str, Any], settings: Mapping[str, Any]
) -> FormContext:
    """A FormContext without a database: the type's sample people, the checklist items as given.

    Used where a template author renders data from a file (`flask render`).
    """
    lists = {
        name: [
            ChecklistEntry(int(r["item_id"]), str(r.get("text", "")))
            for r in data.get(name, [])
            if isinstance(r, dict) and str(r.get("item_id", "")).isdigit()
        ]
        for name in dtype.checklists
    }
    sample = sample_input(dtype)
    return FormContext(
        subject=sample.subject,
        settings=settings,
        author=sample.author,
        employee=sample.employee,
        district=sample.district,
        checklists=lists,
        facts={"offline": True},  # no database: nothing here is sent to anyone
    )


def blank_form(dtype: DocumentType, ctx: FormContext) -> FlaskForm:
    """A new document's form with the type's defaults and one empty row per table."""
    data = dict(dtype.initial(ctx))
    for field_name, entries in ctx.checklists.items():
        data.setdefault(field_name, [{"item_id": e.item_id} for e in entries])
    form = dtype.form_class(formdata=data_to_formdata(dtype.form_class, data))
    pad_rows(form)
    return form


def stored_form(dtype: DocumentType, data: Mapping[str, Any]) -> FlaskForm:
    """The form of a saved document, ready to edit."""
    form = dtype.form_class(formdata=data_to_formdata(dtype.form_class, dict(data)))
    pad_rows(form)
    return form


def pad_rows(form: FlaskForm, only: str | None = None) -> None:
    """Add an empty row to each repeatable table (or to *only*): adding rows works without JS."""
    for field in form:
        if not is_row_table(field) or (only is not None and field.name != only):
            continue
        if field.max_entries is None or len(field.entries) < field.max_entries:
            field.append_entry()


def checklist_texts(ctx: FormContext) -> dict[str, dict[str, str]]:
    """field name -> item id (as posted) -> text, for showing checklist rows."""
    return {
        name: {str(e.item_id): e.text for e in entries} for name, entries in ctx.checklists.items()
    }


def validate(dtype: DocumentType, form: FlaskForm, ctx: FormContext) -> bool:
    """Field validation, the checklists' item ids, and the type's cross-field rules."""
    ok = form.validate()
    for field_name, entries in ctx.checklists.items():
        allowed = {str(e.item_id) for e in entries}
        posted = [row.form.item_id.data for row in getattr(form, field_name)]
        if any(item not in allowed for item in posted) or len(set(posted)) != len(posted):
            getattr(form, field_name).errors.append(
                _("Checklistan innehåller punkter som inte finns. Ladda om sidan och fyll i igen.")
            )
            ok = False
    check = getattr(form, "check", None)
    if check is not None:
        ok = check(ctx) and ok
    return ok


def to_data(dtype: DocumentType, form: FlaskForm, ctx: FormContext) -> dict[str, Any]:
    """The JSON data to store: the form's values, checklist rows with the texts they answered,
    and the texts and settings the type prints (its stamp)."""
    data = dtype.to_data(form)
    data.update(dtype.stamp(ctx))
    for field_name, entries in ctx.checklists.items():
        texts = {str(e.item_id): e.text for e in entries}
        data[field_name] = [
            {**row, "item_id": int(row["item_id"]), "text": texts[str(row["item_id"])]}
            for row in data.get(field_name, [])
        ]
    return data


def checklist_fields(form: FlaskForm) -> list[str]:
    """Names of a form's checklist fields."""
    return [f.name for f in form if is_checklist(f)]


# --------------------------------------------------------------------------- create / edit


def create(
    dtype: DocumentType,
    data: dict[str, Any],
    *,
    actor: User,
    store: FileStore,
    participant: Participant | None = None,
    employee: User | None = None,
    district_id: int | None = None,
    origin: audit.Origin | None = None,
    status: str = "draft",
) -> Document:
    """Save a new document (a draft unless told otherwise), version 1, and its first revision."""
    district = participant.district_id if participant else (district_id or actor.district_id)
    # closed statistics periods (issue 17): a follow-up dated in one is a recorded late entry
    closed = periods.guard(None, dtype.slug, district, data, None)
    tv = active_version(dtype, store)
    now = utcnow()
    doc = Document(
        type_slug=dtype.slug,
        district_id=district,
        participant_id=participant.id if participant else None,
        subject_user_id=employee.id if employee else None,
        status=status,
        version=1,
        template_version_id=tv.id,
        data=data,
        created_by_id=actor.id,
        updated_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    db.session.add(doc)
    db.session.flush()
    _revision(doc, actor)
    _log(
        "create",
        doc,
        actor,
        origin,
        {"type": dtype.slug, "version": 1, "data_sha256": data_digest(doc.data)},
    )
    periods.record_change(closed, doc, actor=actor, reason=None, origin=origin)  # issue 17
    db.session.commit()
    return doc


def update(
    doc: Document,
    data: dict[str, Any],
    *,
    actor: User,
    store: FileStore,
    dtype: DocumentType,
    origin: audit.Origin | None = None,
    correction: str | None = None,
) -> Document:
    """Save an edit as the next version; the previous data stays as a revision.

    A document out for signature becomes a draft again: its open requests are voided (the
    signatures already given were for the frozen version and stay with it as history).
    A follow-up in a closed statistics period is saved only as a *correction* (its reason);
    otherwise periods.Locked is raised and nothing is changed (services/periods.py).
    """
    if doc.status not in EDITABLE:
        raise NotEditable(doc.id)
    # closed statistics periods (issue 17): locked follow-ups change only as a correction
    try:
        closed = periods.guard(doc, doc.type_slug, doc.district_id, data, correction)
    except periods.Locked:
        db.session.rollback()
        raise
    if doc.status == "awaiting_signatures":
        voided = db.session.execute(
            sql_update(SignatureRequest)
            .where(SignatureRequest.document_id == doc.id, SignatureRequest.status == "open")
            .values(status="voided", token_hash=None, otp_hash=None)
        )
        _log("void_requests", doc, actor, origin, {"count": voided.rowcount, "why": "edit"})
        try:
            lifecycle.transition(
                doc,
                DocumentStatus.DRAFT,
                actor=actor,
                origin=origin,
                action="reopen",
                details={"why": "edit", "version": doc.version},
                values={"frozen_pdf_sha256": None, "sent_at": None},
            )
        except lifecycle.TransitionError as exc:  # sealed or withdrawn in the meantime
            db.session.rollback()
            raise NotEditable(doc.id) from exc
    doc.version += 1
    doc.data = data
    doc.template_version_id = active_version(dtype, store).id
    doc.updated_by_id = actor.id
    doc.updated_at = utcnow()
    _revision(doc, actor)
    _log(
        "update",
        doc,
        actor,
        origin,
        {"type": doc.type_slug, "version": doc.version, "data_sha256": data_digest(doc.data)},
    )
    periods.record_change(closed, doc, actor=actor, reason=correction, origin=origin)  # issue 17
    db.session.commit()
    return doc


def _revision(doc: Document, actor: User) -> None:
    db.session.add(
        DocumentRevision(
            document_id=doc.id,
            version=doc.version,
            template_version_id=doc.template_version_id,
            data=doc.data,
            created_by_id=actor.id,
        )
    )


def _log(
    action: str, doc: Document, actor: User, origin: audit.Origin | None, details: dict[str, Any]
) -> None:
    audit.record(
        action,
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        details=details,
        origin=origin,
    )


def log_view(doc: Document, actor: User, origin: audit.Origin | None) -> None:
    """Record that *actor* opened *doc*."""
    _log("view", doc, actor, origin, {"version": doc.version})
    db.session.commit()


def revisions(doc: Document) -> list[DocumentRevision]:
    """All saved versions of *doc*, newest first."""
    return list(
        db.session.scalars(
            select(DocumentRevision)
            .where(DocumentRevision.document_id == doc.id)
            .order_by(DocumentRevision.version.desc())
        )
    )


def revision(doc: Document, version: int) -> DocumentRevision | None:
    """One saved version of *doc*."""
    return db.session.scalar(
        select(DocumentRevision).where(
            DocumentRevision.document_id == doc.id, DocumentRevision.version == version
        )
    )


# --------------------------------------------------------------------------- render


def render_input(
    doc: Document, *, revision: DocumentRevision | None = None, today: date | None = None
) -> RenderInput:
    """The plain values a document's template context is built from."""
    version = revision.version if revision else doc.version
    return RenderInput(
        data=revision.data if revision else doc.data,
        district=doc.district.name,
        author=author_of(doc.created_by) or Author(name=""),
        reference=f"SIG-{doc.created_at:%Y}-{doc.id:06d} v{version}",
        printed_at=today or date.today(),
        subject=subject_of(doc.participant),
        employee=author_of(doc.subject_user),
    )


@in_document_language()
def render(
    doc: Document, dtype: DocumentType, store: FileStore, revision: DocumentRevision | None = None
) -> bytes:
    """The document (or one saved version) as DOCX, with the template version it records."""
    tv = revision.template_version_id if revision else doc.template_version_id
    template = template_bytes(db.session.get(TemplateVersion, tv), store)
    return render_docx(template, dtype.build_context(render_input(doc, revision=revision)))


def marked_as_draft(
    doc: Document, dtype: DocumentType, revision: DocumentRevision | None = None
) -> bool:
    """Whether a PDF rendered of *doc* (or one version) carries DRAFT_MARK: when it is of a
    signed type, since such a rendering is never the frozen nor the sealed PDF."""
    return bool(dtype.signers(render_input(doc, revision=revision)))


@dataclass(frozen=True)
class Download:
    """A rendered document ready to send."""

    data: bytes  #: file bytes
    filename: str  #: suggested file name
    mimetype: str  #: content type


def download(
    doc: Document,
    dtype: DocumentType,
    fmt: str,
    *,
    store: FileStore,
    converter: ConverterPool | None,
    actor: User,
    revision: DocumentRevision | None = None,
    origin: audit.Origin | None = None,
    inline: bool = False,
) -> Download:
    """Render as 'docx' or 'pdf' and log the download (*inline*: shown on a page, not saved);
    conversion errors propagate.

    A PDF of a type that is signed carries overlay.DRAFT_MARK on every page (marked_as_draft):
    rendered here it is never the PDF sent for signature (frozen when sent) nor the signed one
    (sealed), whatever the document's state, and must not pass for either. A type nobody signs
    is printed as it is."""
    docx = render(doc, dtype, store, revision)
    version = revision.version if revision else doc.version
    base = f"{dtype.slug}-{doc.id}-v{version}"
    if fmt == "pdf":
        assert converter is not None
        pdf = converter.convert(docx)
        if marked_as_draft(doc, dtype, revision):
            pdf = overlay.mark_as_draft(pdf)
        result = Download(pdf, f"{base}.pdf", "application/pdf")
    else:
        result = Download(docx, f"{base}.docx", DOCX_MIME)
    details: dict[str, Any] = {"format": fmt, "version": version}
    if inline:
        details["inline"] = True
    _log("download", doc, actor, origin, details)
    db.session.commit()
    return result


# --------------------------------------------------------------------------- find


def for_participant(
    participant: Participant, user: User, registry: dict[str, DocumentType]
) -> list[Document]:
    """A participant's documents the user may see, newest first."""
    return list(
        db.session.scalars(
            select(Document)
            .where(
                Document.participant_id == participant.id, access.visible_documents(user, registry)
            )
            .order_by(Document.updated_at.desc())
        )
    )


@dataclass(frozen=True)
class Filters:
    """What the document list can be narrowed by; all optional."""

    type_slug: str | None = None  #: one document type
    status: str | None = None  #: one status
    participant_id: int | None = None  #: one participant
    date_from: date | None = None  #: last changed on or after
    date_to: date | None = None  #: last changed on or before
    signer: str | None = None  #: part of a signer's (typed or expected) name


@dataclass(frozen=True)
class Page:
    """One page of a list."""

    items: list[Document]  #: the rows
    number: int  #: 1-based page number
    per_page: int  #: rows per page
    has_next: bool  #: whether a next page exists


def search(
    user: User,
    registry: dict[str, DocumentType],
    filters: Filters,
    *,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """The user's district's documents they may see, newest change first, one page at a time.

    No total count: counting a large district's documents on every page view costs more than the
    page itself; "next" is known by fetching one row more.
    """
    q = select(Document).where(access.visible_documents(user, registry))
    if filters.type_slug:
        q = q.where(Document.type_slug == filters.type_slug)
    if filters.status:
        q = q.where(Document.status == filters.status)
    if filters.participant_id:
        q = q.where(Document.participant_id == filters.participant_id)
    if filters.signer:
        like = "%" + filters.signer.replace("\\", "").replace("%", "").replace("_", "") + "%"
        q = q.where(
            exists(
                select(SignatureRequest.id).where(
                    SignatureRequest.document_id == Document.id,
                    or_(
                        SignatureRequest.signed_name.ilike(like),
                        SignatureRequest.expected_name.ilike(like),
                    ),
                )
            )
        )
    if filters.date_from:
        q = q.where(Document.updated_at >= datetime.combine(filters.date_from, datetime.min.time()))
    if filters.date_to:
        end = datetime.combine(filters.date_to + timedelta(days=1), datetime.min.time())
        q = q.where(Document.updated_at < end)
    page = max(1, page)
    q = q.options(
        selectinload(Document.participant),
        selectinload(Document.subject_user),
        joinedload(Document.district),
    )
    rows = list(
        db.session.scalars(
            q.order_by(Document.updated_at.desc(), Document.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )
    return Page(rows[:per_page], page, per_page, len(rows) > per_page)


def count_by_type(district_id: int) -> dict[str, int]:
    """Documents per type in a district (for facts such as 'a contact list exists')."""
    rows = db.session.execute(
        select(Document.type_slug, func.count(Document.id))
        .where(Document.district_id == district_id)
        .group_by(Document.type_slug)
    )
    return {slug: n for slug, n in rows}
