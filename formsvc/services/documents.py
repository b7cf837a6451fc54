"""Create, edit and render documents. Knows nothing of HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from sqlalchemy import select

from formsvc.doctypes import Author, DocumentType, FormContext, RenderInput, Subject
from formsvc.extensions import db
from formsvc.models import Document, DocumentRevision, Participant, User
from formsvc.models._base import utcnow
from formsvc.services import audit
from formsvc.services.conversion import ConverterPool
from formsvc.services.rendering import render_docx
from formsvc.services.storage import FileStore
from formsvc.services.templates import DOCX_MIME, active_version, template_bytes


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
    )


def author_of(user: User) -> Author:
    """Plain view of a staff member as printed on documents."""
    return Author(name=user.full_name, title=user.title, phone=user.phone, email=user.email)


def validate(
    dtype: DocumentType, form: FlaskForm, subject: Subject | None, settings: dict[str, Any]
) -> bool:
    """Field validation plus the type's cross-field rules; all errors are collected."""
    ok = form.validate()
    check = getattr(form, "check", None)
    if check is not None:
        ok = check(FormContext(subject=subject, settings=settings)) and ok
    return ok


def to_data(dtype: DocumentType, form: FlaskForm) -> dict[str, Any]:
    """The JSON data to store for a validated form."""
    return dtype.to_data(form)


def create(
    dtype: DocumentType,
    data: dict[str, Any],
    *,
    actor: User,
    participant: Participant,
    store: FileStore,
    origin: audit.Origin | None = None,
) -> Document:
    """Save a new draft (version 1) and its first revision."""
    tv = active_version(dtype, store)
    now = utcnow()
    doc = Document(
        type_slug=dtype.slug,
        district_id=participant.district_id,
        participant_id=participant.id,
        status="draft",
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
    audit.record(
        "create",
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        details={"type": dtype.slug, "version": 1},
        origin=origin,
    )
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
) -> Document:
    """Save an edit of a draft as the next version; the previous data stays as a revision."""
    if doc.status != "draft":
        raise NotEditable(doc.id)
    doc.version += 1
    doc.data = data
    doc.template_version_id = active_version(dtype, store).id
    doc.updated_by_id = actor.id
    doc.updated_at = utcnow()
    _revision(doc, actor)
    audit.record(
        "update",
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        details={"type": doc.type_slug, "version": doc.version},
        origin=origin,
    )
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


def render_input(doc: Document, *, today: date | None = None) -> RenderInput:
    """The plain values a document's template context is built from."""
    return RenderInput(
        data=doc.data,
        district=doc.district.name,
        author=author_of(doc.created_by),
        reference=doc.reference,
        printed_at=today or date.today(),
        subject=subject_of(doc.participant),
    )


def render(doc: Document, dtype: DocumentType, store: FileStore) -> bytes:
    """The document as DOCX, with the template version it records."""
    template = template_bytes(doc.template_version, store)
    return render_docx(template, dtype.build_context(render_input(doc)))


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
    origin: audit.Origin | None = None,
) -> Download:
    """Render as 'docx' or 'pdf' and log the download; conversion errors propagate."""
    docx = render(doc, dtype, store)
    base = f"{dtype.slug}-{doc.id}-v{doc.version}"
    if fmt == "pdf":
        assert converter is not None
        result = Download(converter.convert(docx), f"{base}.pdf", "application/pdf")
    else:
        result = Download(docx, f"{base}.docx", DOCX_MIME)
    audit.record(
        "download",
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        details={"format": fmt, "version": doc.version},
        origin=origin,
    )
    db.session.commit()
    return result


def for_participant(participant: Participant) -> list[Document]:
    """A participant's documents, newest first."""
    return list(
        db.session.scalars(
            select(Document)
            .where(Document.participant_id == participant.id)
            .order_by(Document.updated_at.desc())
        )
    )
