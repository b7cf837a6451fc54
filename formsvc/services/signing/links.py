"""Personal links and one-time codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, update

from formsvc.extensions import db
from formsvc.models import SignatureRequest, User
from formsvc.models._base import utcnow
from formsvc.services import audit, mail
from formsvc.services.signing._common import SigningError, _log, _log_signer, _title

#: Method labels as the document page and the evidence print them.
# --------------------------------------------------------------------------- personal link


def _eid_only() -> str:
    return _("Den här länken öppnas med e-legitimation, inte med en kod.")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _code_digest(secret: str, req_id: int, code: str) -> str:
    return hmac.new(secret.encode(), f"{req_id}:{code}".encode(), "sha256").hexdigest()


def _code_matches(settings: Mapping[str, Any], req_id: int, code: str, expected: str) -> bool:
    """A code made under SECRET_KEY or, during a rotation, under one of SECRET_KEY_FALLBACKS."""
    keys = [settings["SECRET_KEY"], *(settings.get("SECRET_KEY_FALLBACKS") or [])]
    found = [hmac.compare_digest(expected, _code_digest(str(k), req_id, code)) for k in keys]
    return any(found)


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
    require_eid: bool = False,
) -> None:
    """Mail a new personal link for *req* (any earlier link stops working).

    *require_eid*: the signer proves who they are with e-ID instead of an e-mailed code
    (services/eid.py decides who may); an earlier identification is forgotten either way."""
    if req.status != "open" or req.kind != "external":
        raise SigningError(_("Den här underskriften kan inte längre begäras."))
    email = _address(email)
    token = secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=int(settings["SIGN_LINK_DAYS"]))
    doc = req.document
    # the mail goes out before anything is written: no database lock is held during SMTP,
    # and a failed send changes nothing (an earlier link keeps working)
    values = {
        "title": _title(doc),
        "ref": doc.reference,
        "org": settings.get("ORGANISATION_NAME", ""),
        "district": doc.district.name,
        "link": link_for(token),
        "until": expires.date().isoformat(),
    }
    if require_eid:
        body = _(
            "Hej!\n\nDu ombeds skriva under ”%(title)s” (%(ref)s) från %(org)s, %(district)s."
            "\n\nÖppna din personliga länk:\n%(link)s\n\n"
            "Länken gäller till och med %(until)s. Innan du kan läsa och skriva under "
            "legitimerar du dig med e-legitimation (till exempel BankID).\n\n"
            "Dela inte länken med någon annan. Har du frågor, kontakta din handläggare.\n",
            **values,
        )
    else:
        body = _(
            "Hej!\n\nDu ombeds skriva under ”%(title)s” (%(ref)s) från %(org)s, "
            "%(district)s.\n\nÖppna din personliga länk:\n%(link)s\n\n"
            "Länken gäller till och med %(until)s. Innan du kan läsa och skriva under skickar "
            "vi en engångskod till den här e-postadressen.\n\n"
            "Dela inte länken med någon annan. Har du frågor, kontakta din handläggare.\n",
            **values,
        )
    mail.send(settings, mail.Mail(email, _("Dokument att skriva under"), body))
    req.email = email
    req.token_hash = _digest(token)
    req.token_expires_at = expires
    req.link_sent_at = utcnow()
    req.method = "link"
    req.otp_hash, req.otp_attempts, req.otp_sends = None, 0, 0
    req.require_eid = require_eid
    req.eid = None  # a new link: whoever identified for the old one must do it again
    _log(
        "link_sent",
        doc,
        actor,
        origin,
        {
            "request": req.id,
            "slot": req.slot,
            "to": mask(email),
            **({"eid": True} if require_eid else {}),
        },
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
    if req.require_eid:
        raise SigningError(_eid_only())
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
    if req.require_eid:
        raise SigningError(_eid_only())
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
    if not _code_matches(settings, req.id, code, expected):
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
