"""Retention (gallring): delete the content of documents whose retention period has run out.

A participant's documents form one file (akt): they are culled together, RETENTION_YEARS after the
last entry in any of them (created, changed, signed, sealed). District and employee documents count
from their own last entry. A legal hold on the document or the participant stops deletion. The
document row stays with status "purged" and no content; the audit log holds the receipt (what, when,
under which rule, which stored files went).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import (
    Document,
    DocumentRevision,
    Participant,
    SignatureRequest,
    StoredFile,
    TemplateVersion,
)
from formsvc.models._base import utcnow
from formsvc.models.document import DocumentStatus
from formsvc.services import audit, lifecycle
from formsvc.services.documents import data_digest
from formsvc.services.storage import FileStore


@dataclass(frozen=True)
class Due:
    """A document whose retention period has ended."""

    document: Document
    rule: str  #: e.g. "consent: 5 år efter senaste anteckning i deltagarens akt"
    last_entry: datetime  #: the entry the period counts from
    due_on: date  #: the first day it may be deleted
    held: bool  #: a legal hold stops it


@dataclass
class Report:
    """What a run found and did."""

    due: list[Due] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)  #: document ids
    held: list[int] = field(default_factory=list)  #: document ids kept by a legal hold
    files_deleted: int = 0


def years_for(dtype: DocumentType, settings: Mapping[str, Any]) -> int | None:
    """The type's retention in years (None: kept until someone decides otherwise)."""
    per_type = settings.get("RETENTION_YEARS_BY_TYPE") or {}
    if dtype.slug in per_type:
        return per_type[dtype.slug]
    if dtype.subject == "participant":
        return int(settings["RETENTION_YEARS"])
    return None


def _last(doc: Document) -> datetime:
    return max(x for x in (doc.created_at, doc.updated_at, doc.sealed_at) if x is not None)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def find_due(
    registry: Mapping[str, DocumentType], settings: Mapping[str, Any], today: date
) -> list[Due]:
    """Every document whose retention has ended on *today* (held ones marked, not left out)."""
    docs = db.session.scalars(
        select(Document).where(Document.status != "purged").order_by(Document.id)
    ).all()
    last_in_file: dict[int, datetime] = {}
    for doc in docs:
        if doc.participant_id is not None:
            when = _last(doc)
            if doc.participant_id not in last_in_file or when > last_in_file[doc.participant_id]:
                last_in_file[doc.participant_id] = when
    out = []
    for doc in docs:
        dtype = registry.get(doc.type_slug)
        years = years_for(dtype, settings) if dtype else None
        if years is None:
            continue
        if doc.participant_id is not None:
            last = last_in_file[doc.participant_id]
            rule = f"{doc.type_slug}: {years} år efter senaste anteckning i deltagarens akt"
        else:
            last = _last(doc)
            rule = f"{doc.type_slug}: {years} år efter senaste anteckning"
        due_on = _add_years(last.date(), years)
        if due_on <= today:
            held = doc.legal_hold or bool(doc.participant and doc.participant.legal_hold)
            out.append(Due(doc, rule, last, due_on, held))
    return out


def run(
    registry: Mapping[str, DocumentType],
    settings: Mapping[str, Any],
    today: date,
    *,
    store: FileStore,
    dry_run: bool,
) -> Report:
    """List (dry run) or delete what is due; each deletion leaves a receipt in the audit log."""
    report = Report(due=find_due(registry, settings, today))
    if dry_run:
        return report
    for item in report.due:
        if item.held:
            report.held.append(item.document.id)
            continue
        try:
            report.files_deleted += _purge(item, store)
        except lifecycle.StaleStatus:  # a parallel run purged (or someone changed) it first
            db.session.rollback()
            continue
        report.deleted.append(item.document.id)
    _anonymise_emptied_participants()
    db.session.commit()
    return report


def _purge(item: Due, store: FileStore) -> int:
    doc = item.document
    reqs = db.session.scalars(
        select(SignatureRequest).where(SignatureRequest.document_id == doc.id)
    ).all()
    files = {doc.frozen_pdf_sha256, doc.sealed_pdf_sha256}
    for r in reqs:
        files |= {r.signature_sha256, r.scan_sha256, r.copy_sha256}
    files.discard(None)
    reference = doc.reference
    db.session.execute(delete(SignatureRequest).where(SignatureRequest.document_id == doc.id))
    db.session.execute(delete(DocumentRevision).where(DocumentRevision.document_id == doc.id))
    gone = [sha for sha in sorted(files) if _unreferenced(sha, but_for=doc.id)]
    lifecycle.transition(
        doc,
        DocumentStatus.PURGED,
        actor=None,
        actor_label="formsvc gallring",
        action="retention_delete",
        details={
            "type": doc.type_slug,
            "reference": reference,
            "rule": item.rule,
            "last_entry": item.last_entry.isoformat(timespec="seconds"),
            "due_on": item.due_on.isoformat(),
            "files": gone,
            "data_sha256": data_digest({}),
        },
        values={
            "data": {},
            "frozen_pdf_sha256": None,
            "sealed_pdf_sha256": None,
            "updated_at": utcnow(),
        },
    )
    db.session.flush()
    for sha in gone:
        db.session.execute(delete(StoredFile).where(StoredFile.sha256 == sha))
    # the database forgets first: a crash before the files go leaves only unreferenced,
    # encrypted bytes that nothing can reach (never a row pointing at a missing file)
    db.session.commit()
    for sha in gone:
        # not if a new upload of the same bytes has named the file again since the commit
        # (review SD2); a put() in the instant between this check and the delete still loses
        # its bytes on the local and S3 backends: docs/adr/019 names that window
        store.delete_unless_named(sha)
    db.session.commit()  # the database backend deletes in the session: before anything else
    return len(gone)


def _unreferenced(sha: str, *, but_for: int) -> bool:
    """No row but document *but_for* (being purged) points at the file."""
    checks = [
        select(Document.id).where(
            (Document.frozen_pdf_sha256 == sha) | (Document.sealed_pdf_sha256 == sha),
            Document.id != but_for,
        ),
        select(SignatureRequest.id).where(
            (SignatureRequest.signature_sha256 == sha)
            | (SignatureRequest.scan_sha256 == sha)
            | (SignatureRequest.copy_sha256 == sha)
        ),
        select(TemplateVersion.id).where(TemplateVersion.file_sha256 == sha),
    ]
    return all(db.session.scalar(q.limit(1)) is None for q in checks)


def _anonymise_emptied_participants() -> None:
    """A participant whose every document is purged keeps no name or identity number."""
    for p in db.session.scalars(select(Participant).where(Participant.first_name != "Gallrad")):
        statuses = set(
            db.session.scalars(select(Document.status).where(Document.participant_id == p.id))
        )
        if statuses == {"purged"} and not p.legal_hold:
            p.first_name, p.last_name, p.id_number = "Gallrad", f"#{p.id}", None
            p.birth_date = date(p.birth_date.year, 1, 1)
            audit.record(
                "retention_anonymise",
                actor_id=None,
                actor_label="formsvc gallring",
                object_type="participant",
                object_id=p.id,
                district_id=p.district_id,
                details={"rule": "alla deltagarens dokument gallrade"},
            )


def set_hold(
    target: Document | Participant,
    on: bool,
    *,
    reason: str,
    actor: Any,
    origin: audit.Origin | None = None,
) -> None:
    """Put or lift a legal hold (with a reason, in the audit log)."""
    target.legal_hold = on
    audit.record(
        "legal_hold" if on else "legal_hold_lifted",
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="document" if isinstance(target, Document) else "participant",
        object_id=target.id,
        district_id=target.district_id,
        details={"reason": reason[:500]},
        origin=origin,
    )
    db.session.commit()
