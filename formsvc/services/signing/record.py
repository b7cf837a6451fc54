"""Recording a signature or a refusal, exactly once."""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from PIL import Image as PILImage
from PIL import UnidentifiedImageError
from sqlalchemy import update

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.forms._base import text_problem
from formsvc.models import Document, SignatureRequest, User
from formsvc.models._base import utcnow
from formsvc.models.document import DocumentStatus
from formsvc.services import audit, documents, lifecycle, signer_roles
from formsvc.services.conversion import ConverterPool
from formsvc.services.names import same_name
from formsvc.services.signing._common import (
    Given,
    SigningError,
    _local,
    _log,
    _log_signer,
    slots,
)
from formsvc.services.signing.links import link_state, mask
from formsvc.services.signing.reauth import PROTOCOL_NAMES, auth_time
from formsvc.services.signing.sending import send
from formsvc.services.storage import FileStore

#: Method labels as the document page and the evidence print them.
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
                role=signer_roles.label(req.role),
                name=designated,
            )
        )
    return designated


@documents.in_document_language()  # stored as evidence, printed in the sealed document
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


@documents.in_document_language()  # stored as evidence, printed in the sealed document
def sso_identity_text(proof: Mapping[str, Any], *, actor: User | None) -> str:
    """A staff signature's identity from a re-authentication at the city's IdP (SSO account),
    as evidence and /verify print it: the IdP, protocol, authentication time and LoA (acr)."""
    protocol = str(proof.get("protocol") or "")
    at = auth_time(proof)
    return _(
        "Ny inloggning hos %(idp)s (%(protocol)s) vid signering, personalkonto %(user)s, "
        "autentiserad %(at)s, tillitsnivå (LoA): %(loa)s",
        idp=str(proof.get("label") or proof.get("provider") or "")[:80],
        protocol=PROTOCOL_NAMES.get(protocol, protocol),
        user=actor.username if actor else str(proof.get("username") or ""),
        at=_local(at).strftime("%Y-%m-%d %H:%M:%S %Z") if at else _("okänd tid"),
        loa=str(proof.get("loa") or "")[:100] or _("inte angiven av identitetsleverantören"),
    )


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
                role=signer_roles.label(req.role),
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


def statement_choices(req: SignatureRequest, dtype: DocumentType) -> list[tuple[str, str]]:
    """(statement as the document states it, the same in the reader's language) per statement.

    What is ticked, checked and stored as evidence is the document's Swedish text (the first);
    the second is what the checkbox's label shows, the same text when the interface is Swedish."""
    wanted = statements_for(req, dtype)
    shown: tuple[str, ...] = ()
    for s in dtype.signers(documents.render_input(req.document)):  # in the caller's locale
        if s.key == req.slot:
            shown = s.statements
    if len(shown) != len(wanted):
        shown = wanted
    return list(zip(wanted, shown, strict=True))


def check_before_signing(
    req: SignatureRequest,
    dtype: DocumentType,
    given: Given,
    *,
    method: str,
    actor: User | None,
    settings: Mapping[str, Any],
) -> bytes | None:
    """Check *given* as sign() will, without recording anything: the drawn signature cleaned.

    For a signature completed later (a BankID order), so that a wrong name, an unticked
    statement or an unfilled document is said before the signer opens the app; sign() checks
    again when the signature is recorded. Raises SigningError."""
    if req.status != "open":
        raise AlreadyDone(req.id)
    if method == "link" and link_state(req) != "open":
        raise SigningError(_("Länken kan inte längre användas för att skriva under."))
    _require_filled(req, dtype)
    typed = _check_given(req, given, statements_for(req, dtype))
    attributed_name(req, typed, actor)
    return clean_signature(given.signature_png, int(settings["SIGNATURE_MAX_BYTES"]))


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
    eid: Mapping[str, Any] | None = None,
) -> SignatureRequest:
    """Record one signature exactly once (a second submit is refused, not doubled).

    The signature is attributed to the designated signer (see attributed_name); what was typed
    is kept beside it. *verification* defaults to identity_text(method). *eid* is the proof of
    identity behind it (an e-ID or SSO re-authentication, docs/adr/018), kept on the request
    for the evidence record; without it, a proof already on the request stays.
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
            eid_pending=None,
            **({"eid": dict(eid)} if eid is not None else {}),
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
    verification: str | None = None,
    eid: Mapping[str, Any] | None = None,
) -> SignatureRequest:
    """Record a decision and sign it in one step (3.3's manager).

    The decision becomes a new version of the document (open requests are voided, as by any
    edit); that version is frozen and sent, and the decider's signature is recorded on it. The
    signer's name and the requirements are checked first, so a refusal changes nothing.
    *verification* and *eid* are sign()'s (an SSO re-authentication instead of the password).
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
        origin=origin, verification=verification, eid=eid,
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
            eid_pending=None,
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
