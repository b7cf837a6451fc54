"""Finalising: seal the document once when every signature is in; signer copies; reseal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select, update

from formsvc.doctypes import DocumentType, SignatureMark
from formsvc.extensions import db
from formsvc.models import Document, SignatureRequest
from formsvc.models._base import utcnow
from formsvc.models.document import DocumentStatus
from formsvc.services import audit, documents, holders, lifecycle
from formsvc.services.conversion import ConverterPool
from formsvc.services.evidence import append_pages, evidence_pdf
from formsvc.services.final_pdf import final_writer
from formsvc.services.overlay import Mark
from formsvc.services.rendering import render_docx
from formsvc.services.sealing import Sealer
from formsvc.services.signature_places import Place, PlacesError, find_places
from formsvc.services.signing._common import SigningError, _local, _log, _title, requests
from formsvc.services.signing.evidence import evidence_for, evidence_record, record_bytes
from formsvc.services.storage import FileStore
from formsvc.services.templates import template_bytes

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- finalise


def all_signed(doc: Document) -> bool:
    """Every request of the current version is signed (and there is at least one)."""
    reqs = requests(doc)
    return bool(reqs) and all(r.status == "signed" for r in reqs)


@documents.in_document_language()
def finalise_if_complete(
    doc: Document,
    dtype: DocumentType,
    *,
    store: FileStore,
    converter: ConverterPool,
    sealer: Sealer,
    settings: Mapping[str, Any],
    now: datetime | None = None,
) -> bool:
    """Seal the document once when all signatures are in; True if this call sealed it.

    Concurrent callers race for a claim (see claim_finalise); only the winner renders and seals.
    """
    now = now or utcnow()
    if not claim_finalise(doc, settings, now):
        return False
    try:
        # the time the evidence page and record give is the document's sealed_at
        finalised_at = utcnow().replace(microsecond=0)
        final = build_final_pdf(
            doc,
            dtype,
            store=store,
            converter=converter,
            sealer=sealer,
            settings=settings,
            finalised_at=finalised_at,
        )
        stored = store.put(final.archive, "application/pdf")
        copies = {
            rid: store.put(pdf, "application/pdf").sha256 for rid, pdf in final.copies.items()
        }
        db.session.flush()
        try:
            lifecycle.transition(
                doc,
                dtype.signed_status,
                actor=None,
                from_=DocumentStatus.AWAITING_SIGNATURES,
                action="seal",
                details={
                    "version": doc.version,
                    "pdf_sha256": stored.sha256,
                    # each link signer's own copy: request id -> SHA-256
                    "copies": {str(rid): sha for rid, sha in copies.items()},
                },
                values={
                    "sealed_pdf_sha256": stored.sha256,
                    "sealed_at": finalised_at,
                    "finalise_claimed_at": None,
                    "finalise_claimed_by": None,
                    "updated_at": utcnow(),
                },
                where=(Document.sealed_pdf_sha256.is_(None),),
            )
        except lifecycle.StaleStatus:
            # someone took over a claim we held too long (theirs stands), or the document was
            # withdrawn while it was being sealed (a withdrawn consent never becomes active)
            db.session.rollback()
            return False
        _after_completion(doc, copies, settings)
        db.session.commit()
        return True
    except BaseException:
        db.session.rollback()
        db.session.execute(
            update(Document)
            .where(
                Document.id == doc.id,
                Document.finalise_claimed_at == now,
                Document.finalise_claimed_by == holders.this_process(),
            )
            .values(finalise_claimed_at=None, finalise_claimed_by=None)
        )
        db.session.commit()
        raise


def claim_finalise(doc: Document, settings: Mapping[str, Any], now: datetime) -> bool:
    """Claim the sealing of *doc* for this process if it is complete and nobody else holds it.

    A conditional UPDATE, so one caller wins. A claim is taken over when it is older than
    FINALISE_STALE_MINUTES, or at once when its holder is a process on this host that has died
    (killed, crashed): compare-and-set on exactly the claim seen, so two takers cannot both win.
    """
    db.session.refresh(doc)
    if doc.status != "awaiting_signatures" or doc.sealed_pdf_sha256 or not all_signed(doc):
        return False
    refuse_untrusted_signatures(doc)  # a signature the audit log does not back is never sealed
    stale = now - timedelta(minutes=int(settings["FINALISE_STALE_MINUTES"]))
    free = [Document.finalise_claimed_at.is_(None), Document.finalise_claimed_at < stale]
    if doc.finalise_claimed_at is not None and holders.is_dead(doc.finalise_claimed_by):
        free.append(
            and_(
                Document.finalise_claimed_at == doc.finalise_claimed_at,
                Document.finalise_claimed_by == doc.finalise_claimed_by,
            )
        )
    claimed = db.session.execute(
        update(Document)
        .where(
            Document.id == doc.id,
            Document.status == "awaiting_signatures",
            Document.sealed_pdf_sha256.is_(None),
            or_(*free),
        )
        .values(finalise_claimed_at=now, finalise_claimed_by=holders.this_process())
    )
    db.session.commit()
    return claimed.rowcount == 1


class SealRefused(SigningError):
    """A signature row does not match an intact, anchored signing event: nothing is sealed."""


def refuse_untrusted_signatures(doc: Document) -> None:
    """Raise SealRefused (and log why) unless every signature of the version matches the log.

    A row written into the database by hand, without the signing that creates its `sign` event
    and checkpoint, must never get the organisation's seal (docs/adr/008).
    """
    problems = audit.untrusted_signatures(doc.id, doc.version)
    if not problems:
        return
    db.session.rollback()
    _log("seal_refused", doc, None, None, {"version": doc.version, "problems": problems[:5]})
    db.session.commit()
    raise SealRefused(" ".join([*problems, _("Dokumentet förseglas inte.")]))


def signature_marks(doc: Document, store: FileStore) -> dict[str, SignatureMark]:
    """Slot key -> what the final document prints in that signature place."""
    marks = {}
    for r in requests(doc):
        if r.status != "signed" or r.signed_at is None:
            continue
        how = {
            "paper": _("underskriven på papper"),
            "in_person": _("e-signerad på plats"),
            "link": _("e-signerad via personlig länk"),
            "staff": _("e-signerad"),
        }.get(r.method or "", "")
        marks[r.slot] = SignatureMark(
            name=r.signed_name or "",
            signed=f"{_local(r.signed_at):%Y-%m-%d} ({how})",
            image=store.get(r.signature_sha256) if r.signature_sha256 else None,
        )
    return marks


def place_marks(doc: Document, store: FileStore, settings: Mapping[str, Any]) -> dict[str, Mark]:
    """Slot key -> what the final PDF draws in that signature place (ADR 013): the drawing and
    the name; under "Ort och datum" the place and date, and on the line below how it was signed.

    Only what the service knows is printed: the office's city (SIGNING_CITY) for signatures made
    with staff present (on site) or by staff; for a personal link, where the signer was is not
    known, so the date alone; for paper, the date the scan came in, labelled so, since the date
    and place of signing are the ones written on the paper."""
    city = str(settings.get("SIGNING_CITY") or "").strip()
    marks = {}
    for r in requests(doc):
        if r.status != "signed" or r.signed_at is None:
            continue
        day = f"{_local(r.signed_at):%Y-%m-%d}"
        if r.method in ("in_person", "staff") and city:
            signed = f"{city} {day}"
        elif r.method == "paper":
            signed = _("inkommen %(date)s", date=day)
        else:
            signed = day
        method = {
            "paper": _("underskriven på papper"),
            "in_person": _("e-signerad på plats"),
            "link": _("e-signerad via personlig länk"),
            "staff": _("e-signerad (inloggad personal)"),
        }.get(r.method or "", "")
        marks[r.slot] = Mark(
            name=r.signed_name or "",
            signed=signed,
            method=method,
            image=store.get(r.signature_sha256) if r.signature_sha256 else None,
        )
    return marks


@dataclass(frozen=True)
class FinalPdfs:
    """The sealed archive copy and each link signer's own sealed copy (request id -> PDF)."""

    archive: bytes
    copies: dict[int, bytes]


@documents.in_document_language()
def build_final_pdf(
    doc: Document,
    dtype: DocumentType,
    *,
    store: FileStore,
    converter: ConverterPool,
    sealer: Sealer,
    settings: Mapping[str, Any],
    finalised_at: datetime | None = None,
) -> FinalPdfs:
    """The sealed archive copy, and a copy for each signer who signed by personal link with only
    their own technical details: the frozen PDF plus one sealed update (ADR 014), or, for a
    document frozen without signature places, the legacy re-rendering."""
    make = _final_pdf_maker(
        doc,
        dtype,
        store=store,
        converter=converter,
        sealer=sealer,
        settings=settings,
        finalised_at=finalised_at,
    )
    return _every_copy(doc, make)


@documents.in_document_language()
def build_legacy_final_pdf(
    doc: Document,
    dtype: DocumentType,
    *,
    store: FileStore,
    converter: ConverterPool,
    sealer: Sealer,
    settings: Mapping[str, Any],
    finalised_at: datetime | None = None,
) -> FinalPdfs:
    """The final PDFs as made before ADR 014 (kept for documents frozen without places)."""
    make = _legacy_maker(
        doc,
        dtype,
        store=store,
        converter=converter,
        sealer=sealer,
        settings=settings,
        finalised_at=finalised_at,
    )
    return _every_copy(doc, make)


#: Makes one sealed final PDF: the archive copy (None) or a signer's own copy.
FinalPdfMaker = Callable[[SignatureRequest | None], bytes]


def _every_copy(doc: Document, make: FinalPdfMaker) -> FinalPdfs:
    """The archive copy and each personal-link signer's own copy, made by *make*."""
    return FinalPdfs(
        archive=make(None),
        copies={
            r.id: make(r) for r in requests(doc) if r.status == "signed" and r.method == "link"
        },
    )


def _final_pdf_maker(
    doc: Document,
    dtype: DocumentType,
    *,
    store: FileStore,
    converter: ConverterPool,
    sealer: Sealer,
    settings: Mapping[str, Any],
    finalised_at: datetime | None,
) -> FinalPdfMaker:
    """How this document's final PDFs are made: over its frozen PDF if that has a place for
    every signature, else by the legacy path."""
    marks = place_marks(doc, store, settings)
    frozen = store.get(doc.frozen_pdf_sha256) if doc.frozen_pdf_sha256 else None
    places = _places_for(doc, frozen, marks) if frozen is not None else None
    if frozen is None or places is None:
        return _legacy_maker(
            doc,
            dtype,
            store=store,
            converter=converter,
            sealer=sealer,
            settings=settings,
            finalised_at=finalised_at,
        )

    def make(copy_for: SignatureRequest | None) -> bytes:
        evidence = evidence_for(doc, dtype, settings, copy_for=copy_for, finalised_at=finalised_at)
        record = evidence_record(
            doc, dtype, settings, copy_for=copy_for, places=places, finalised_at=finalised_at
        )
        writer = final_writer(
            frozen,
            places,
            marks,
            evidence_page=evidence_pdf(evidence),
            record=record_bytes(record),
            modified=evidence.finalised_at,
        )
        return sealer.seal_writer(writer, **_seal_options(settings))

    return make


def _places_for(doc: Document, frozen: bytes, marks: Mapping[str, Mark]) -> dict[str, Place] | None:
    """The frozen PDF's signature places, or None if a signed slot has none (ADR 013: documents
    sent before the templates had places) or they cannot be read."""
    try:
        places = find_places(frozen)
    except PlacesError as exc:
        logger.warning(
            "document %s: signature places unreadable (%s); legacy final PDF", doc.id, exc
        )
        return None
    missing = sorted(set(marks) - set(places))
    if missing:
        logger.info("document %s: no place for %s; legacy final PDF", doc.id, ", ".join(missing))
        return None
    return {slot: places[slot] for slot in marks}


# --------------------------------------------------------------------------- legacy path


def _legacy_maker(
    doc: Document,
    dtype: DocumentType,
    *,
    store: FileStore,
    converter: ConverterPool,
    sealer: Sealer,
    settings: Mapping[str, Any],
    finalised_at: datetime | None,
) -> FinalPdfMaker:
    """The legacy path: render with the signatures, convert to PDF/A-2b once, then append an
    evidence page and seal (the body is a new conversion, not the frozen PDF; no record)."""
    pdf = _signed_document_pdf(doc, dtype, store=store, converter=converter)

    def make(copy_for: SignatureRequest | None) -> bytes:
        evidence = evidence_for(doc, dtype, settings, copy_for=copy_for, finalised_at=finalised_at)
        return sealer.seal(append_pages(pdf, evidence_pdf(evidence)), **_seal_options(settings))

    return make


def _signed_document_pdf(
    doc: Document, dtype: DocumentType, *, store: FileStore, converter: ConverterPool
) -> bytes:
    """Legacy path: the document re-rendered with its signatures, as PDF/A-2b."""
    ri = documents.render_input(doc, today=_local(doc.sent_at or utcnow()).date())
    ri = replace(ri, signatures=signature_marks(doc, store))
    template = template_bytes(doc.template_version, store)
    return converter.convert(render_docx(template, dtype.build_context(ri)), pdfa=True)


def _seal_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "reason": str(settings.get("SEAL_REASON") or ""),
        "location": str(settings.get("SEAL_LOCATION") or ""),
        "timestamp_url": settings.get("SEAL_TIMESTAMP_URL") or None,
    }


@documents.in_document_language()
def signer_copy(
    req: SignatureRequest,
    dtype: DocumentType,
    *,
    store: FileStore,
    converter: ConverterPool,
    sealer: Sealer,
    settings: Mapping[str, Any],
) -> str:
    """The SHA-256 of *req*'s own sealed copy of its completed document.

    Made at completion for every link signer; made here, once, for a signer without one (a
    document completed before copies existed, or an in-person signer who also had a link)."""
    doc = req.document
    if req.copy_sha256:
        problem = audit.copy_problem(doc.id, req.id, req.copy_sha256)
        if problem:
            raise SealRefused(problem)
        return req.copy_sha256
    problems = audit.untrusted_signatures(doc.id, doc.version)
    if problems:  # never seal a copy of signatures the log does not back
        raise SealRefused(" ".join([*problems, _("Dokumentet förseglas inte.")]))
    make = _final_pdf_maker(
        doc,
        dtype,
        store=store,
        converter=converter,
        sealer=sealer,
        settings=settings,
        finalised_at=doc.sealed_at,
    )
    sha = store.put(make(req), "application/pdf").sha256
    db.session.flush()
    made = db.session.execute(
        update(SignatureRequest)
        .where(SignatureRequest.id == req.id, SignatureRequest.copy_sha256.is_(None))
        .values(copy_sha256=sha)
    )
    if made.rowcount == 1:
        _log("signer_copy", doc, None, None, {"request": req.id, "pdf_sha256": sha})
    db.session.commit()
    db.session.refresh(req)
    return req.copy_sha256 or sha


def _after_completion(doc: Document, copies: dict[int, str], settings: Mapping[str, Any]) -> None:
    """Record each link signer's copy; their link now ends SIGNED_LINK_DAYS after completion."""
    ends = utcnow() + timedelta(days=int(settings["SIGNED_LINK_DAYS"]))
    for r in requests(doc):
        if r.status != "signed":
            continue
        values: dict[str, Any] = {"token_expires_at": ends}
        if r.id in copies:
            values["copy_sha256"] = copies[r.id]
        db.session.execute(
            update(SignatureRequest).where(SignatureRequest.id == r.id).values(**values)
        )


def reseal_pending(
    registry: Mapping[str, DocumentType],
    *,
    store: FileStore,
    converter: ConverterPool,
    sealer: Sealer,
    settings: Mapping[str, Any],
) -> list[tuple[Document, str | None]]:
    """Finalise every document left complete but unsealed; (document, error or None) each.

    A document whose claim is held by a live process (or a fresh claim of another host) is left.
    """
    stale = utcnow() - timedelta(minutes=int(settings["FINALISE_STALE_MINUTES"]))
    candidates = db.session.scalars(
        select(Document).where(
            Document.status == "awaiting_signatures",
            Document.sealed_pdf_sha256.is_(None),
            or_(
                Document.finalise_claimed_at.is_(None),
                Document.finalise_claimed_at < stale,
                Document.finalise_claimed_by.is_not(None),  # its holder may have died
            ),
        )
    ).all()
    results: list[tuple[Document, str | None]] = []
    for doc in candidates:
        if not all_signed(doc):
            continue
        try:
            sealed = finalise_if_complete(
                doc,
                registry[doc.type_slug],
                store=store,
                converter=converter,
                sealer=sealer,
                settings=settings,
            )
            if sealed:
                results.append((doc, None))
        except Exception as exc:  # report and go on with the next document
            results.append((doc, str(getattr(exc, "message", exc))))
    return results


@dataclass(frozen=True)
class SealedRecord:
    """What the service itself recorded about a sealed PDF (shown on the verify page)."""

    reference: str
    title: str
    sealed_at: datetime
    signers: list[SignatureRequest]
    document: Document  #: the sealed document, whose state today /verify also tells
    copy_for: str | None = None  #: a signer's own copy: that signer's role


def sealed_record(sha256: str) -> SealedRecord | None:
    """The document whose sealed PDF (archive copy or a signer's copy) has this SHA-256."""
    copy_for = None
    doc = db.session.scalar(select(Document).where(Document.sealed_pdf_sha256 == sha256))
    if doc is None:
        req = db.session.scalar(
            select(SignatureRequest).where(SignatureRequest.copy_sha256 == sha256).limit(1)
        )
        if req is not None:
            doc, copy_for = req.document, req.role
    if doc is None or doc.sealed_at is None:
        return None
    signed = [r for r in requests(doc) if r.status == "signed"]
    return SealedRecord(doc.reference, _title(doc), doc.sealed_at, signed, doc, copy_for)
