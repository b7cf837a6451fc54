"""Signing: send a frozen document for signature, collect each signature exactly once, finalise.

Knows nothing of HTTP. Views pass plain values (who, from where, what was typed) and get plain
results or a `SigningError` with a Swedish message. See docs/adr/004-signing-evidence.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import secrets
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from PIL import Image as PILImage
from PIL import UnidentifiedImageError
from sqlalchemy import and_, or_, select, update

from formsvc.doctypes import DocumentType, SignatureMark, SignerSlot
from formsvc.extensions import db
from formsvc.forms._base import text_problem
from formsvc.models import AuditEvent, Document, SignatureRequest, User
from formsvc.models._base import utcnow
from formsvc.models.document import DocumentStatus
from formsvc.services import access, audit, documents, holders, lifecycle, mail, scans, untrusted
from formsvc.services.conversion import ConverterPool
from formsvc.services.evidence import (
    Evidence,
    EvidenceEvent,
    EvidenceSigner,
    append_pages,
    evidence_pdf,
)
from formsvc.services.names import same_name
from formsvc.services.rendering import render_docx
from formsvc.services.sealing import Sealer
from formsvc.services.storage import FileStore
from formsvc.services.templates import template_bytes

#: Method labels as the document page and the evidence print them.
METHOD_LABELS = {
    "in_person": _l("På plats"),
    "link": _l("Personlig länk"),
    "paper": _l("Papper"),
    "staff": _l("Inloggad personal"),
}
#: Request states as shown.
REQUEST_LABELS = {
    "open": _l("väntar"),
    "signed": _l("signerad"),
    "declined": _l("avböjd"),
    "voided": _l("makulerad"),
}


class SigningError(Exception):
    """Something a user can fix or needs to know; ``message`` is Swedish and safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Given:
    """What a signer gave: the typed name, ticked statements and (optionally) a drawn signature."""

    name: str  #: typed name
    statements: tuple[str, ...] = ()  #: the statements ticked (their text)
    signature_png: bytes | None = None  #: drawn signature, PNG
    ip: str = ""  #: client address
    user_agent: str = ""  #: browser


@dataclass
class Outcome:
    """What happened to a signing attempt."""

    request: SignatureRequest
    finalised: bool = False  #: this call sealed the document
    finalise_error: str | None = None  #: sealing failed; `flask reseal` will retry
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- who signs


def slots(doc: Document, dtype: DocumentType) -> list[SignerSlot]:
    """The signatures the document's current data needs."""
    return dtype.signers(documents.render_input(doc))


def requests(doc: Document, version: int | None = None) -> list[SignatureRequest]:
    """The requests of the document's current (or given) version, in slot order of creation."""
    return list(
        db.session.scalars(
            select(SignatureRequest)
            .where(
                SignatureRequest.document_id == doc.id,
                SignatureRequest.document_version == (version or doc.version),
            )
            .order_by(SignatureRequest.id)
        )
    )


def may_sign_as_staff(user: User, req: SignatureRequest, dtype: DocumentType) -> bool:
    """Whether *user* is the staff member this staff slot wants."""
    doc = req.document
    if req.kind != "staff" or not access.can_see_document(user, doc, dtype):
        return False
    if req.staff_role == "manager":
        return user.role == "manager"
    if req.staff_role == "employee":
        return doc.subject_user_id == user.id
    return user.role in ("caseworker", "manager")


# --------------------------------------------------------------------------- send


def send(
    doc: Document,
    dtype: DocumentType,
    *,
    actor: User,
    store: FileStore,
    converter: ConverterPool,
    origin: audit.Origin | None = None,
) -> list[SignatureRequest]:
    """Freeze the document (data, template version, PDF) and open one request per signer."""
    if doc.status != "draft":
        raise SigningError(_("Dokumentet är redan skickat för underskrift eller avslutat."))
    wanted = slots(doc, dtype)
    if not wanted:
        raise SigningError(_("Den här dokumenttypen ska inte skrivas under."))
    pdf = converter.convert(documents.render(doc, dtype, store), pdfa=True)
    frozen = store.put(pdf, "application/pdf")
    # the frozen PDF must exist before any row points at it
    db.session.flush()
    try:
        lifecycle.transition(
            doc,
            DocumentStatus.AWAITING_SIGNATURES,
            actor=actor,
            origin=origin,
            action="send",
            details={
                "version": doc.version,
                "pdf_sha256": frozen.sha256,
                "data_sha256": documents.data_digest(doc.data),
            },
            values={
                "sent_at": utcnow(),
                "sent_by_id": actor.id,
                "frozen_pdf_sha256": frozen.sha256,
                "sealed_pdf_sha256": None,
                "sealed_at": None,
                "finalise_claimed_at": None,
                "finalise_claimed_by": None,
            },
            where=(Document.version == doc.version,),
        )
    except lifecycle.TransitionError as exc:  # a second click, or an edit in between
        db.session.rollback()
        raise SigningError(
            _("Dokumentet är redan skickat för underskrift eller avslutat.")
        ) from exc
    created = [
        SignatureRequest(
            document_id=doc.id,
            document_version=doc.version,
            slot=s.key,
            role=s.role[:120],
            kind=s.kind,
            staff_role=s.staff_role,
            expected_name=s.name[:200],
            expected_id=s.id_number[:20] or None,
            status="open",
        )
        for s in wanted
    ]
    db.session.add_all(created)
    db.session.commit()
    db.session.refresh(doc)
    return created


def void_open(doc: Document, *, actor: User, origin: audit.Origin | None, why: str) -> int:
    """Void the document's open requests (an edit, a decline, a withdrawal); returns how many."""
    result = db.session.execute(
        update(SignatureRequest)
        .where(SignatureRequest.document_id == doc.id, SignatureRequest.status == "open")
        .values(status="voided", token_hash=None, otp_hash=None)
    )
    if result.rowcount:
        _log("void_requests", doc, actor, origin, {"count": result.rowcount, "why": why})
    return int(result.rowcount or 0)


# --------------------------------------------------------------------------- personal link


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _code_digest(secret: str, req_id: int, code: str) -> str:
    return hmac.new(secret.encode(), f"{req_id}:{code}".encode(), "sha256").hexdigest()


def _address(email: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    email = email.strip()
    if not email or len(email) > 254 or any(c in email for c in "\r\n\x00"):
        raise SigningError(_("Ange en giltig e-postadress."))
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise SigningError(_("Ange en giltig e-postadress.")) from exc


def mask(email: str) -> str:
    """An address as shown to others: a***@example.se."""
    local, _at, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def issue_link(
    req: SignatureRequest,
    email: str,
    *,
    settings: Mapping[str, Any],
    link_for: Callable[[str], str],
    actor: User,
    origin: audit.Origin | None = None,
) -> None:
    """Mail a new personal link for *req* (any earlier link stops working)."""
    if req.status != "open" or req.kind != "external":
        raise SigningError(_("Den här underskriften kan inte längre begäras."))
    email = _address(email)
    token = secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=int(settings["SIGN_LINK_DAYS"]))
    doc = req.document
    # the mail goes out before anything is written: no database lock is held during SMTP,
    # and a failed send changes nothing (an earlier link keeps working)
    body = _(
        "Hej!\n\nDu ombeds skriva under ”%(title)s” (%(ref)s) från %(org)s, %(district)s.\n\n"
        "Öppna din personliga länk:\n%(link)s\n\n"
        "Länken gäller till och med %(until)s. Innan du kan läsa och skriva under skickar vi en "
        "engångskod till den här e-postadressen.\n\n"
        "Dela inte länken med någon annan. Har du frågor, kontakta din handläggare.\n",
        title=_title(doc),
        ref=doc.reference,
        org=settings.get("ORGANISATION_NAME", ""),
        district=doc.district.name,
        link=link_for(token),
        until=expires.date().isoformat(),
    )
    mail.send(settings, mail.Mail(email, _("Dokument att skriva under"), body))
    req.email = email
    req.token_hash = _digest(token)
    req.token_expires_at = expires
    req.link_sent_at = utcnow()
    req.method = "link"
    req.otp_hash, req.otp_attempts, req.otp_sends = None, 0, 0
    _log(
        "link_sent",
        doc,
        actor,
        origin,
        {"request": req.id, "slot": req.slot, "to": mask(email)},
    )
    db.session.commit()


def find_by_token(token: str) -> SignatureRequest | None:
    """The request a personal link belongs to, or None (unknown, replaced, voided)."""
    if not token or len(token) > 200:
        return None
    return db.session.scalar(
        select(SignatureRequest).where(SignatureRequest.token_hash == _digest(token))
    )


def link_state(req: SignatureRequest, now: datetime | None = None) -> str:
    """'open', 'expired', 'signed', 'ended', 'declined' or 'voided' for a personal link's page.

    A signed link keeps opening the signer's receipt, copy and withdrawal until its
    token_expires_at (SIGNED_LINK_DAYS after signing, then after completion): 'ended' after."""
    if req.status == "signed":
        ended = req.token_expires_at is not None and (now or utcnow()) >= req.token_expires_at
        return "ended" if ended else "signed"
    if req.status != "open":
        return req.status
    if req.token_expires_at is None or (now or utcnow()) >= req.token_expires_at:
        return "expired"
    return "open"


def code_allowed(req: SignatureRequest) -> bool:
    """A code may be sent to sign (open, unexpired link) or to open a receipt (signed)."""
    return link_state(req) in ("open", "signed")


def send_code(
    req: SignatureRequest, *, settings: Mapping[str, Any], origin: audit.Origin | None = None
) -> None:
    """Mail a fresh one-time code to the link's address (limited per link).

    A signer who has signed may still ask for a code: it opens their receipt and copy.
    """
    if not code_allowed(req) or not req.email:
        raise SigningError(_("Länken kan inte längre användas för att skriva under."))
    limit = int(settings["OTP_MAX_SENDS"])
    # count the send first, atomically, so parallel clicks cannot exceed the limit
    counted = db.session.execute(
        update(SignatureRequest)
        .where(SignatureRequest.id == req.id, SignatureRequest.otp_sends < limit)
        .values(otp_sends=SignatureRequest.otp_sends + 1)
    )
    if counted.rowcount != 1:
        db.session.rollback()
        raise SigningError(
            _("Det har skickats för många koder. Kontakta din handläggare för en ny länk.")
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    req.otp_hash = _code_digest(str(settings["SECRET_KEY"]), req.id, code)
    req.otp_expires_at = utcnow() + timedelta(minutes=int(settings["OTP_TTL_MINUTES"]))
    req.otp_attempts = 0
    _log_signer("code_sent", req, origin, {"to": mask(req.email)})
    # committed before the mail goes out, so no lock is held during SMTP; a code that could not
    # be delivered is simply never entered (the signer asks again)
    db.session.commit()
    body = _(
        "Din engångskod är: %(code)s\n\nKoden gäller i %(minutes)d minuter. Ange den på sidan "
        "där du begärde den. Har du inte begärt någon kod kan du bortse från det här "
        "meddelandet.\n",
        code=code,
        minutes=int(settings["OTP_TTL_MINUTES"]),
    )
    mail.send(settings, mail.Mail(req.email or "", _("Din engångskod"), body))


def check_code(
    req: SignatureRequest,
    code: str,
    *,
    settings: Mapping[str, Any],
    origin: audit.Origin | None = None,
) -> None:
    """Accept the code or raise; every try counts, atomically, against the code's limit."""
    if not code_allowed(req):
        raise SigningError(_("Länken kan inte längre användas för att skriva under."))
    limit = int(settings["OTP_MAX_ATTEMPTS"])
    counted = db.session.execute(
        update(SignatureRequest)
        .where(
            SignatureRequest.id == req.id,
            SignatureRequest.otp_hash.is_not(None),
            SignatureRequest.otp_attempts < limit,
        )
        .values(otp_attempts=SignatureRequest.otp_attempts + 1)
    )
    db.session.commit()
    db.session.refresh(req)
    if counted.rowcount != 1:
        raise SigningError(_("Begär en ny kod: den förra har använts för många gånger."))
    if req.otp_expires_at is None or utcnow() >= req.otp_expires_at:
        raise SigningError(_("Koden har gått ut. Begär en ny kod."))
    code = "".join(ch for ch in code if ch.isdigit())[:6]
    expected = req.otp_hash or ""
    if not hmac.compare_digest(expected, _code_digest(str(settings["SECRET_KEY"]), req.id, code)):
        _log_signer("code_failed", req, origin, {"attempt": req.otp_attempts})
        db.session.commit()
        left = limit - req.otp_attempts
        if left <= 0:
            raise SigningError(_("Fel kod. Begär en ny kod."))
        raise SigningError(_("Fel kod. Du har %(n)d försök kvar med den här koden.", n=left))
    # a code works once
    req.otp_hash = None
    _log_signer("code_verified", req, origin, {})
    db.session.commit()


# --------------------------------------------------------------------------- sign / decline


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def clean_signature(png: bytes | None, max_bytes: int) -> bytes | None:
    """A drawn signature re-encoded as a plain PNG, or None; raises SigningError if not an image."""
    if not png:
        return None
    if len(png) > max_bytes:
        raise SigningError(_("Den ritade underskriften är för stor. Rensa och rita igen."))
    # the pixel limit from the PNG header, before Pillow looks at it: a 200 kB PNG can unpack to
    # gigabytes, and Pillow's own guard only warns up to 179 million pixels
    width, height = struct.unpack(">II", png[16:24]) if len(png) >= 24 else (0, 0)
    if png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR" or width > 4000 or height > 2000:
        raise SigningError(_("Den ritade underskriften kunde inte läsas. Rita igen."))
    try:
        with PILImage.open(io.BytesIO(png)) as img:
            if img.format != "PNG" or img.width > 4000 or img.height > 2000:
                raise SigningError(_("Den ritade underskriften kunde inte läsas. Rita igen."))
            img.load()
            rgba = img.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, PILImage.DecompressionBombError) as exc:
        raise SigningError(_("Den ritade underskriften kunde inte läsas. Rita igen.")) from exc
    if rgba.getbbox() is None or rgba.getchannel("A").getbbox() is None:
        return None  # an empty canvas is no drawing: the typed name signs
    out = io.BytesIO()
    rgba.save(out, format="PNG", optimize=True)  # drops metadata and anything but pixels
    return out.getvalue()


def _check_given(req: SignatureRequest, given: Given, wanted: tuple[str, ...]) -> str:
    name = given.name.strip()
    if not name:
        raise SigningError(_("Skriv ditt namn för att skriva under."))
    problem = text_problem(name, 200, label=_("Ditt namn"))
    if problem:
        raise SigningError(problem)
    missing = [s for s in wanted if s not in given.statements]
    if missing:
        raise SigningError(_("Kryssa i alla påståenden för att skriva under, eller avböj."))
    return name


def attributed_name(req: SignatureRequest, typed: str, actor: User | None) -> str:
    """The name a signature is given under: the designated signer's, never another typed one.

    A staff signature belongs to the logged-in account; an external one to the name the
    document gives for the place (participant, guardian). The typed name must be that name up
    to case, spacing, diacritics and hyphens (formsvc/services/names.py); a place the document
    names no one for (an action plan's guardian) takes the typed name as given.
    """
    if req.kind == "staff":
        designated = actor.full_name if actor else ""
        if not same_name(typed, designated):
            raise SigningError(
                _(
                    "Namnet stämmer inte med ditt konto. Skriv ditt namn så som det står i "
                    "kontot: %(name)s.",
                    name=designated,
                )
            )
        return designated
    designated = (req.expected_name or "").strip()
    if not designated:
        return typed
    if not same_name(typed, designated):
        raise SigningError(
            _(
                "Namnet stämmer inte med den som ska skriva under som %(role)s: %(name)s. "
                "Bara %(name)s kan skriva under här. Är namnet i dokumentet fel ska "
                "handläggaren ändra dokumentet och skicka det på nytt.",
                role=req.role,
                name=designated,
            )
        )
    return designated


def identity_text(method: str, *, actor: User | None, email: str | None = None) -> str:
    """How the signer's identity was established, as evidence and /verify print it."""
    if method == "in_person":
        return _("Bevittnad på plats av %(name)s", name=actor.full_name if actor else "")
    if method == "link":
        return _("Engångskod via e-post till %(to)s", to=mask(email or ""))
    if method == "staff":
        return _(
            "Lösenord (personalkonto %(user)s) angivet vid signering",
            user=actor.username if actor else "",
        )
    if method == "paper":
        return _("Pappersblankett uppladdad av %(name)s", name=actor.full_name if actor else "")
    return ""


def missing_before_signing(req: SignatureRequest, dtype: DocumentType) -> list[str]:
    """What the type requires to be filled before this signer signs, and is not."""
    return dtype.missing_before_signing(req.slot, req.document.data or {})


def _require_filled(req: SignatureRequest, dtype: DocumentType) -> None:
    """Refuse to record an attestation of something the document does not contain."""
    missing = missing_before_signing(req, dtype)
    if missing:
        raise SigningError(
            _(
                "%(role)s kan inte skriva under ännu: det här saknas i dokumentet: %(fields)s. "
                "Dokumentet måste kompletteras (och skickas på nytt) först.",
                role=req.role,
                fields="; ".join(missing),
            )
        )


def statements_for(req: SignatureRequest, dtype: DocumentType) -> tuple[str, ...]:
    """The statements this request's signer must tick (from the type's declaration)."""
    doc = req.document
    for s in slots(doc, dtype):
        if s.key == req.slot:
            return s.statements
    return ()


def sign(
    req: SignatureRequest,
    dtype: DocumentType,
    given: Given,
    *,
    method: str,
    actor: User | None,
    settings: Mapping[str, Any],
    store: FileStore,
    origin: audit.Origin | None = None,
    verification: str | None = None,
) -> SignatureRequest:
    """Record one signature exactly once (a second submit is refused, not doubled).

    The signature is attributed to the designated signer (see attributed_name); what was typed
    is kept beside it. *verification* defaults to identity_text(method).
    """
    if method == "link" and link_state(req) != "open":
        raise SigningError(_("Länken kan inte längre användas för att skriva under."))
    _require_filled(req, dtype)
    wanted = statements_for(req, dtype)
    typed = _check_given(req, given, wanted)
    name = attributed_name(req, typed, actor)
    if verification is None:
        verification = identity_text(method, actor=actor, email=req.email)
    png = clean_signature(given.signature_png, int(settings["SIGNATURE_MAX_BYTES"]))
    image_sha = store.put(png, "image/png").sha256 if png else None
    db.session.flush()
    signed_at = utcnow()
    done = db.session.execute(
        update(SignatureRequest)
        .where(SignatureRequest.id == req.id, SignatureRequest.status == "open")
        .values(
            status="signed",
            method=method,
            signed_at=signed_at,
            # from now on the link only opens the receipt and copy, for a limited time
            token_expires_at=utcnow() + timedelta(days=int(settings["SIGNED_LINK_DAYS"])),
            signed_name=name,
            typed_name=typed,
            signature_sha256=image_sha,
            statements=list(wanted),
            ip=given.ip[:64] or None,
            user_agent=given.user_agent[:300] or None,
            verification=verification[:300],
            actor_id=actor.id if actor else None,
            otp_hash=None,
        )
    )
    if done.rowcount != 1:
        db.session.rollback()
        raise AlreadyDone(req.id)
    _log_signer(
        "sign",
        req,
        origin,
        {
            "method": method,
            "name": name,
            "typed": typed,
            "drawn": bool(png),
            # what `audit verify` and the seal compare the signature row with (audit.py)
            **audit.signature_facts(signed_at, image_sha, list(wanted)),
        },
        actor=actor,
    )
    db.session.commit()
    db.session.refresh(req)
    return req


def decide_and_sign(
    doc: Document,
    dtype: DocumentType,
    decision: Mapping[str, Any],
    given: Given,
    *,
    actor: User,
    store: FileStore,
    converter: ConverterPool,
    settings: Mapping[str, Any],
    origin: audit.Origin | None = None,
) -> SignatureRequest:
    """Record a decision and sign it in one step (3.3's manager).

    The decision becomes a new version of the document (open requests are voided, as by any
    edit); that version is frozen and sent, and the decider's signature is recorded on it. The
    signer's name and the requirements are checked first, so a refusal changes nothing.
    """
    if dtype.decision is None or doc.status not in documents.EDITABLE:
        raise SigningError(_("Det går inte att besluta i dokumentet i sitt nuvarande läge."))
    slot = dtype.decision.slot
    typed = given.name.strip()
    problem = (
        text_problem(typed, 200, label=_("Ditt namn"))
        if typed
        else _("Skriv ditt namn för att skriva under.")
    )
    if problem:
        raise SigningError(problem)
    if not same_name(typed, actor.full_name):
        raise SigningError(
            _(
                "Namnet stämmer inte med ditt konto. Skriv ditt namn så som det står i "
                "kontot: %(name)s.",
                name=actor.full_name,
            )
        )
    data = {**(doc.data or {}), **decision}
    missing = dtype.missing_before_signing(slot, data)
    if missing:
        raise SigningError(
            _(
                "Beslutet kan inte skrivas under ännu: det här saknas i dokumentet: %(fields)s. "
                "Komplettera bedömningen först.",
                fields="; ".join(missing),
            )
        )
    documents.update(doc, data, actor=actor, store=store, dtype=dtype, origin=origin)
    _log(
        "decide",
        doc,
        actor,
        origin,
        {"version": doc.version, "fields": sorted(decision), "slot": slot},
    )
    db.session.commit()
    opened = send(doc, dtype, actor=actor, store=store, converter=converter, origin=origin)
    req = next((r for r in opened if r.slot == slot), None)
    if req is None:  # the type's signers do not include the decider: nothing to sign
        raise SigningError(_("Dokumentet har ingen underskrift för beslutet."))
    return sign(
        req, dtype, given, method="staff", actor=actor, settings=settings, store=store,
        origin=origin,
    )  # fmt: skip


class AlreadyDone(SigningError):
    """The request was no longer open (signed, declined or voided before this submit)."""

    def __init__(self, request_id: int) -> None:
        super().__init__(_("Det här är redan registrerat. Inget har ändrats."))
        self.request_id = request_id


def decline(
    req: SignatureRequest,
    reason: str,
    *,
    method: str,
    actor: User | None,
    origin: audit.Origin | None = None,
) -> SignatureRequest:
    """Record a refusal with its reason; the document is declined and other requests voided."""
    if method == "link" and link_state(req) != "open":
        raise SigningError(_("Länken kan inte längre användas för att skriva under."))
    reason = reason.strip()
    if not reason:
        raise SigningError(_("Skriv varför du avböjer."))
    problem = text_problem(reason, 2000, multiline=True, label=_("Skäl"))
    if problem:
        raise SigningError(problem)
    done = db.session.execute(
        update(SignatureRequest)
        .where(SignatureRequest.id == req.id, SignatureRequest.status == "open")
        .values(
            status="declined",
            method=method,
            signed_at=utcnow(),
            decline_reason=reason,
            ip=origin.ip[:64] if origin else None,
            user_agent=origin.user_agent[:300] if origin else None,
            actor_id=actor.id if actor else None,
            otp_hash=None,
        )
    )
    if done.rowcount != 1:
        db.session.rollback()
        raise AlreadyDone(req.id)
    doc = req.document
    _log_signer("decline", req, origin, {"method": method}, actor=actor)
    # another signer may have declined at the same moment: the document is declined either way
    with contextlib.suppress(lifecycle.StaleStatus):
        lifecycle.transition(
            doc,
            DocumentStatus.DECLINED,
            actor=actor,
            origin=origin,
            actor_label=None if actor else req.role,
            from_=DocumentStatus.AWAITING_SIGNATURES,
            details={"request": req.id},
            values={"updated_at": utcnow()},
        )
    db.session.execute(
        update(SignatureRequest)
        .where(SignatureRequest.document_id == doc.id, SignatureRequest.status == "open")
        .values(status="voided", token_hash=None, otp_hash=None)
    )
    db.session.commit()
    db.session.refresh(req)
    return req


# --------------------------------------------------------------------------- paper


@dataclass(frozen=True)
class Scan:
    """An uploaded scan of the signed paper, rewritten without active content (services/scans)."""

    data: bytes  #: what is stored and served: the rewritten PDF or re-encoded image
    content_type: str
    pages: int
    received_sha256: str  #: SHA-256 of the bytes as uploaded (kept in the audit event)


def check_scan(data: bytes, *, runner: untrusted.Runner, settings: Mapping[str, Any]) -> Scan:
    """The scan rewritten in a bounded child, or SigningError; untrusted.Busy if all are busy."""
    if not data:
        raise SigningError(_("Välj en fil med den inskannade blanketten."))
    max_bytes = int(settings["SCAN_MAX_BYTES"])
    if len(data) > max_bytes:
        raise SigningError(
            _("Filen är för stor (högst %(mb)d MB).", mb=max(1, max_bytes // (1024 * 1024)))
        )
    try:
        out = runner.run(
            scans.clean_scan,
            data,
            max_pages=int(settings["SCAN_MAX_PAGES"]),
            max_objects=int(settings["PDF_MAX_OBJECTS"]),
            max_unpacked=int(settings["PDF_MAX_UNPACKED_BYTES"]),
            max_pixels=int(settings["SCAN_MAX_PIXELS"]),
        )
    except untrusted.Busy:
        raise
    except untrusted.Refused as refusal:
        raise SigningError(refusal.message) from None
    return Scan(
        out.data,
        str(out.value["content_type"]),
        int(out.value["pages"]),
        hashlib.sha256(data).hexdigest(),
    )


def sign_on_paper(
    reqs: list[SignatureRequest],
    scan: Scan,
    *,
    names: Mapping[int, str],
    actor: User,
    store: FileStore,
    dtype: DocumentType,
    origin: audit.Origin | None = None,
) -> list[SignatureRequest]:
    """Record the paper signatures the uploaded scan shows (one scan for several signers)."""
    if not reqs:
        raise SigningError(_("Välj vilka som har skrivit under på papperet."))
    for req in reqs:
        _require_filled(req, dtype)
    stored = store.put(scan.data, scan.content_type)
    db.session.flush()
    done = []
    for req in reqs:
        typed = (names.get(req.id) or req.expected_name or "").strip()
        if not typed:
            raise SigningError(
                _("Skriv namnet på den som skrivit under (%(role)s).", role=req.role)
            )
        problem = text_problem(typed, 200, label=_("Namn på den som skrev under"))
        if problem:
            raise SigningError(problem)
        name = attributed_name(req, typed, actor if req.kind == "staff" else None)
        signed_at = utcnow()
        result = db.session.execute(
            update(SignatureRequest)
            .where(SignatureRequest.id == req.id, SignatureRequest.status == "open")
            .values(
                status="signed",
                method="paper",
                signed_at=signed_at,
                signed_name=name,
                typed_name=typed,
                scan_sha256=stored.sha256,
                statements=[],
                verification=identity_text("paper", actor=actor)[:300],
                actor_id=actor.id,
                ip=origin.ip[:64] if origin else None,
                user_agent=origin.user_agent[:300] if origin else None,
                otp_hash=None,
                token_hash=None,
            )
        )
        if result.rowcount != 1:
            db.session.rollback()
            raise AlreadyDone(req.id)
        done.append(req)
        _log_signer(
            "sign",
            req,
            origin,
            {
                "method": "paper",
                "name": name,
                "typed": typed,
                # the stored (rewritten) file, as on the request row; and the bytes received
                "scan_sha256": stored.sha256,
                "scan_received_sha256": scan.received_sha256,
                **audit.signature_facts(signed_at, None, []),
            },
            actor=actor,
        )
    db.session.commit()
    return done


# --------------------------------------------------------------------------- finalise


def all_signed(doc: Document) -> bool:
    """Every request of the current version is signed (and there is at least one)."""
    reqs = requests(doc)
    return bool(reqs) and all(r.status == "signed" for r in reqs)


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
        final = build_final_pdf(
            doc, dtype, store=store, converter=converter, sealer=sealer, settings=settings
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
                    "sealed_at": utcnow(),
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


@dataclass(frozen=True)
class FinalPdfs:
    """The sealed archive copy and each link signer's own sealed copy (request id -> PDF)."""

    archive: bytes
    copies: dict[int, bytes]


def build_final_pdf(
    doc: Document,
    dtype: DocumentType,
    *,
    store: FileStore,
    converter: ConverterPool,
    sealer: Sealer,
    settings: Mapping[str, Any],
) -> FinalPdfs:
    """Render with the signatures, convert to PDF/A-2b once, then append an evidence page and
    seal: once with everyone's technical details (the archive copy), and once per signer who
    signed by personal link with only their own (the copy their link downloads)."""
    pdf = _signed_document_pdf(doc, dtype, store=store, converter=converter)

    def sealed(evidence: Evidence) -> bytes:
        return _seal(append_pages(pdf, evidence_pdf(evidence)), sealer, settings)

    return FinalPdfs(
        archive=sealed(evidence_for(doc, dtype, settings)),
        copies={
            r.id: sealed(evidence_for(doc, dtype, settings, copy_for=r))
            for r in requests(doc)
            if r.status == "signed" and r.method == "link"
        },
    )


def _signed_document_pdf(
    doc: Document, dtype: DocumentType, *, store: FileStore, converter: ConverterPool
) -> bytes:
    """The document with its signatures, as PDF/A-2b (before the evidence page and the seal)."""
    ri = documents.render_input(doc, today=_local(doc.sent_at or utcnow()).date())
    ri = _with_signatures(ri, signature_marks(doc, store))
    template = template_bytes(doc.template_version, store)
    return converter.convert(render_docx(template, dtype.build_context(ri)), pdfa=True)


def _seal(pdf: bytes, sealer: Sealer, settings: Mapping[str, Any]) -> bytes:
    return sealer.seal(
        pdf,
        reason=str(settings.get("SEAL_REASON") or ""),
        location=str(settings.get("SEAL_LOCATION") or ""),
        timestamp_url=settings.get("SEAL_TIMESTAMP_URL") or None,
    )


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
    pdf = _signed_document_pdf(doc, dtype, store=store, converter=converter)
    evidence = evidence_for(doc, dtype, settings, copy_for=req)
    sealed = _seal(append_pages(pdf, evidence_pdf(evidence)), sealer, settings)
    sha = store.put(sealed, "application/pdf").sha256
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


def _with_signatures(ri: Any, marks: dict[str, SignatureMark]) -> Any:
    from dataclasses import replace

    return replace(ri, signatures=marks)


EVENT_TEXTS = {
    "send": _l("Skickat för underskrift"),
    "link_sent": _l("Personlig länk skickad"),
    "code_sent": _l("Engångskod skickad"),
    "code_failed": _l("Fel engångskod angiven"),
    "code_verified": _l("Engångskod godkänd"),
    "sign": _l("Underskrift registrerad"),
    "decline": _l("Avböjt"),
    "paper_upload": _l("Skannad blankett uppladdad"),
    "decide": _l("Beslut registrerat och skickat för underskrift"),
}


def evidence_for(
    doc: Document,
    dtype: DocumentType,
    settings: Mapping[str, Any],
    *,
    copy_for: SignatureRequest | None = None,
) -> Evidence:
    """The evidence page's content, from the requests and the audit log of this version.

    For *copy_for*'s own copy, only that signer's address and browser are printed (a guardian
    does not learn where the other guardian signed from); the archive copy keeps all."""

    def own(request_id: object) -> bool:
        return copy_for is None or request_id == copy_for.id

    reqs = [r for r in requests(doc) if r.status == "signed"]
    events = db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == "document",
            AuditEvent.object_id == str(doc.id),
            AuditEvent.action.in_(tuple(EVENT_TEXTS)),
            AuditEvent.created_at >= (doc.sent_at or datetime.min).replace(microsecond=0),
        )
        .order_by(AuditEvent.id)
    )
    events = list(events)
    # a paper signature's event keeps the hash of the scan as uploaded (the row: as stored)
    received = {
        e.details.get("request"): e.details.get("scan_received_sha256")
        for e in events
        if e.action == "sign" and e.details.get("scan_received_sha256")
    }
    tv = doc.template_version
    return Evidence(
        organisation=str(settings.get("ORGANISATION_NAME", "")),
        title=str(dtype.title),
        reference=doc.reference,
        document_sha256=doc.frozen_pdf_sha256 or "",
        template=f"{doc.type_slug} v{tv.version} (sha256 {tv.file_sha256})",
        sent_at=_aware(doc.sent_at or utcnow()),
        sent_by=doc.sent_by.full_name if doc.sent_by else "",
        finalised_at=_aware(doc.sealed_at) if doc.sealed_at else datetime.now(UTC),
        signers=tuple(
            EvidenceSigner(
                role=r.role,
                name=r.signed_name or "",
                method=str(METHOD_LABELS.get(r.method or "", r.method or "")),
                outcome="signed",
                signed_at=_aware(r.signed_at or utcnow()),
                verification=r.verification or "",
                ip=r.ip if own(r.id) else None,
                user_agent=r.user_agent if own(r.id) else None,
                witness=r.actor.full_name if r.actor and r.method == "in_person" else None,
                statements=tuple(r.statements or ()),
                has_image=bool(r.signature_sha256),
                scan_sha256=r.scan_sha256,
                scan_received_sha256=received.get(r.id) if r.scan_sha256 else None,
                typed_name=r.typed_name,
                id_number=r.expected_id,
            )
            for r in reqs
        ),
        events=tuple(
            EvidenceEvent(
                at=_aware(e.created_at),
                # a signer's copy shows an address only where that signer acted
                text=_event_text(
                    e,
                    with_ip=copy_for is None
                    or (e.actor_id is None and own(e.details.get("request"))),
                ),
            )
            for e in events
        ),
        copy_for=copy_for.role if copy_for else None,
    )


def _event_text(e: AuditEvent, *, with_ip: bool = True) -> str:
    base = str(EVENT_TEXTS.get(e.action, e.action))
    who = e.details.get("role") or e.actor_label
    parts = [base]
    if who:
        parts.append(f"– {who}")
    if e.action in ("link_sent", "code_sent") and e.details.get("to"):
        # the masked address a link or code went to (a status change's "to" is a status)
        parts.append(_("till %(to)s", to=e.details["to"]))
    if e.ip and with_ip:
        parts.append(f"({e.ip})")
    return " ".join(parts)


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


# --------------------------------------------------------------------------- helpers


def _title(doc: Document) -> str:
    from formsvc.doctypes import discover

    dtype = discover().get(doc.type_slug)
    return str(dtype.title) if dtype else doc.type_slug


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _local(value: datetime) -> datetime:
    from zoneinfo import ZoneInfo

    return _aware(value).astimezone(ZoneInfo("Europe/Stockholm"))


def _log(
    action: str,
    doc: Document,
    actor: User | None,
    origin: audit.Origin | None,
    details: dict[str, Any],
) -> None:
    audit.record(
        action,
        actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else "",
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        details=details,
        origin=origin,
    )


def _log_signer(
    action: str,
    req: SignatureRequest,
    origin: audit.Origin | None,
    details: dict[str, Any],
    *,
    actor: User | None = None,
) -> None:
    """An event on the request's document, labelled with the signer's role."""
    audit.record(
        action,
        actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else req.role,
        object_type="document",
        object_id=req.document_id,
        district_id=req.document.district_id,
        details={"request": req.id, "slot": req.slot, "role": req.role, **details},
        origin=origin,
    )


def today_local() -> date:
    """Today in Stockholm."""
    return _local(utcnow()).date()
