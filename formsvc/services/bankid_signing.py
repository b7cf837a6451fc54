"""A signer's BankID order, from the sign form to the recorded signature (issue 14).

The signer fills the ordinary sign form; `begin` keeps what was given (statements, typed name,
the drawn signature by its hash in the file store) with the BankID order on the request
(`SignatureRequest.eid_pending`) and starts a sign order whose text, shown in the app, names the
document and the SHA-256 of its frozen PDF. `advance` collects the order each time the signer's
page asks; a completed order is recorded once: the personnummer must be the designated signer's
(eid.check_person), then the ordinary signing use case runs with BankID's completion data as the
proof. An "identify" order (BankID auth) only proves who opens a personal link.

The order belongs to the browser session that started it: the page keeps a random key whose hash
is stored with the order, and only that session sees the QR code or collects (another session
holding the same link gets nothing). The qrStartSecret never leaves the server.

Knows nothing of HTTP: the caller passes the session key, its origin, and how to record (the
views' record_and_finalise, which also seals and says so).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import update

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import SignatureRequest, User
from formsvc.services import audit, bankid, documents, eid, signing
from formsvc.services.signing._common import _log_signer
from formsvc.services.storage import FileStore

logger = logging.getLogger(__name__)

#: What an order is for: a signature ("sign") or opening a personal link ("identify").
PURPOSES = ("sign", "identify")
#: How long BankID keeps an order open (seconds): another session's order younger than this is
#: not replaced.
ORDER_LIFETIME = 180


@dataclass(frozen=True)
class Progress:
    """Where an order stands after one look at it."""

    #: "pending" (show the QR code and hint), "signed" (recorded, or recorded by another look),
    #: "identified" (an identify order completed for the right person), "failed" (say
    #: *message*, the form can be tried again) or "none" (no order of this session)
    state: str
    hint: str = ""  #: Swedish hint for a pending order
    qr_payload: str = ""  #: the animated QR code's content now
    auto_start_token: str = ""  #: for the same-device link
    message: str = ""  #: why it failed (Swedish)
    visible_text: str = ""  #: what the app shows the signer


def session_key() -> str:
    """A new random key for the browser session that starts an order."""
    return secrets.token_urlsafe(24)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _own(req: SignatureRequest, key: str | None) -> dict[str, Any] | None:
    """The request's pending order if *key* is the session's that started it."""
    pending = req.eid_pending
    if not isinstance(pending, dict) or not key or not isinstance(pending.get("session"), str):
        return None
    return pending if hmac.compare_digest(pending["session"], _digest(key)) else None


def digits(number: str | None) -> str:
    """A personnummer as BankID takes it: twelve digits (eid.normalise), or ""."""
    return eid.normalise(number or "") or ""


def begin(
    req: SignatureRequest,
    *,
    purpose: str,
    key: str,
    settings: Mapping[str, Any],
    store: FileStore,
    origin: audit.Origin,
    actor: User | None,
    method: str,
    given: signing.Given | None = None,
    drawn: bytes | None = None,
) -> None:
    """Start a BankID order for *req* and keep it, with what was *given*, on the request.

    *given* was checked with signing.check_before_signing and *drawn* is its cleaned drawing.
    An earlier order of the request is cancelled first (BankID runs one order per person).
    Raises bankid.BankIdError (nothing kept) or signing.AlreadyDone."""
    assert purpose in PURPOSES
    if _held_elsewhere(req, key):
        # someone else holding the link (a forwarded mail) must not cancel the signer's order
        raise bankid.BankIdError(
            _("En identifiering eller underskrift pågår redan för ditt personnummer. Försök igen."),
            "an order of another browser session is in progress",
        )
    _cancel_at_bankid(req, settings)
    doc = req.document
    text = bankid.visible_text(doc)
    personal_number = digits(req.expected_id)
    if purpose == "sign":
        order = bankid.start_sign(
            settings,
            end_user_ip=origin.ip,
            personal_number=personal_number,
            visible_text=text,
            non_visible=None,
        )
    else:
        order = bankid.start_auth(settings, end_user_ip=origin.ip, personal_number=personal_number)
    kept: dict[str, Any] = {
        "purpose": purpose,
        "method": method,
        "session": _digest(key),
        "order": order.as_dict(),
        "visible_text": text if purpose == "sign" else "",
        "actor_id": actor.id if actor else None,
        "version": req.document_version,
    }
    if purpose == "sign" and given is not None:
        kept["given"] = {
            "name": given.name,
            "statements": list(given.statements),
            "signature_sha256": store.put(drawn, "image/png").sha256 if drawn else None,
            "ip": given.ip[:64],
            "user_agent": given.user_agent[:300],
        }
    where = [SignatureRequest.id == req.id]
    if purpose == "sign":
        where.append(SignatureRequest.status == "open")
    done = db.session.execute(update(SignatureRequest).where(*where).values(eid_pending=kept))
    if done.rowcount != 1:  # signed or voided meanwhile: the order is not needed
        db.session.rollback()
        _cancel_order(settings, order.order_ref)
        raise signing.AlreadyDone(req.id)
    _log_signer(
        "bankid_started",
        req,
        origin,
        {"purpose": purpose, "method": method, "order_ref": order.order_ref},
        actor=actor,
    )
    db.session.commit()
    db.session.refresh(req)


def _pending(pending: Mapping[str, Any], hint: str, now: float | None) -> Progress:
    order = pending["order"]
    return Progress(
        "pending",
        hint=hint,
        qr_payload=bankid.qr_content(order, now if now is not None else time.time()),
        auto_start_token=str(order.get("auto_start_token", "")),
        visible_text=str(pending.get("visible_text", "")),
    )


def advance(
    req: SignatureRequest,
    dtype: DocumentType,
    key: str | None,
    *,
    settings: Mapping[str, Any],
    store: FileStore,
    origin: audit.Origin,
    actor: User | None,
    record: Callable[[signing.Signature], object],
) -> Progress:
    """Collect the session's order once and act on it; never raises for what BankID says.

    A completed sign order is recorded through *record* (exactly once: a second look, or two
    at the same moment, find the request signed and say "signed")."""
    if req.status == "signed" and _purpose(req) != "identify":
        return Progress("signed")
    pending = _own(req, key)
    if pending is None:
        return Progress("none")
    order_ref = str(pending["order"]["order_ref"])
    if pending.get("purpose") == "sign" and req.status != "open":
        # declined, or voided by a new version while the app was open: nothing can be signed
        _cancel_order(settings, order_ref)
        _drop(req, order_ref, "bankid_cancelled", origin, actor, {"order_ref": order_ref})
        return Progress("failed", message=_("Den här underskriften kan inte längre lämnas."))
    try:
        got = bankid.collect(settings, order_ref)
    except bankid.BankIdError as exc:
        _drop(req, order_ref, "bankid_failed", origin, actor, {"error": exc.message[:200]})
        return Progress("failed", message=exc.message)
    if got.status == "pending":
        return _pending(pending, bankid.hint_message("pending", got.hint_code, qr=True), None)
    if got.status != "complete":
        message = bankid.hint_message("failed", got.hint_code, qr=True)
        _drop(req, order_ref, "bankid_failed", origin, actor, {"hint_code": got.hint_code})
        return Progress("failed", message=message)
    user = (got.completion or {}).get("user") or {}
    try:
        eid.check_person(
            req, str(user.get("personalNumber", "")), provider="bankid", origin=origin, actor=actor
        )
    except signing.SigningError as exc:  # the event is committed; nothing else is recorded
        db.session.rollback()
        _drop(req, order_ref, None, origin, actor, {})
        return Progress("failed", message=exc.message)
    if pending.get("purpose") == "identify":
        _drop(req, order_ref, "bankid_identified", origin, actor, {"order_ref": order_ref})
        return Progress("identified")
    return _record(req, pending, got, store=store, record=record, origin=origin, actor=actor)


def _record(
    req: SignatureRequest,
    pending: Mapping[str, Any],
    got: bankid.Collected,
    *,
    store: FileStore,
    record: Callable[[signing.Signature], object],
    origin: audit.Origin,
    actor: User | None,
) -> Progress:
    kept = pending.get("given") or {}
    sha = kept.get("signature_sha256")
    given = signing.Given(
        name=str(kept.get("name", "")),
        statements=tuple(str(s) for s in kept.get("statements", ())),
        signature_png=store.get(sha) if sha else None,
        ip=str(kept.get("ip", "")),
        user_agent=str(kept.get("user_agent", "")),
    )
    order_ref = str(pending["order"]["order_ref"])
    sent = str(pending.get("visible_text", ""))
    doc = req.document
    # what BankID signed must be what was sent, and name the version the signer read; the proof
    # must pass the same offline checks /verify makes (nothing sealed that /verify would refuse)
    shown = bankid.completion_signed_text(got.completion or {})
    proof = bankid.proof(got, user_visible_data=shown or sent)
    if (
        not sent
        or shown != sent
        or pending.get("version") != req.document_version
        or req.document_version != doc.version
        or not bankid.verified(bankid.check_completion(proof, doc.frozen_pdf_sha256 or ""))
    ):
        _drop(req, order_ref, "bankid_failed", origin, actor, {"reason": "signed_text"})
        return Progress("failed", message=bankid.hint_message("failed", None, qr=True))
    what = signing.Signature(
        req,
        given,
        str(pending.get("method", "link")),
        verification=verification_text(proof),
        eid=proof,
    )
    try:
        record(what)
    except signing.SigningError as exc:
        # AlreadyDone: another look recorded it a moment ago (or the request was voided); else
        # e.g. the link expired while the app was open
        db.session.rollback()
        db.session.refresh(req)
        if req.status == "signed":
            return Progress("signed")
        _drop(req, order_ref, None, origin, actor, {})
        return Progress("failed", message=exc.message)
    return Progress("signed")


@documents.in_document_language()  # stored as evidence, printed in the sealed document
def verification_text(proof: Mapping[str, Any]) -> str:
    """How the signer was identified, as the evidence page prints it.

    The personnummer's last four digits are left out: this text is in every signer's copy and on
    /verify; the whole number is in the proof, which only the archive and the signer's own copy
    embed."""
    number = str(proof.get("personal_number", ""))
    shown = f"{number[:8]}-XXXX" if len(number) == 12 else "XXXX"
    return _(
        "BankID, signerad av personnummer %(number)s (%(name)s), order %(order)s",
        number=shown,
        name=str(proof.get("name", "")),
        order=str(proof.get("order_ref", "")),
    )


def cancel(
    req: SignatureRequest,
    key: str | None,
    *,
    settings: Mapping[str, Any],
    origin: audit.Origin,
    actor: User | None,
) -> bool:
    """Cancel the session's order (at BankID and here); False when it has none."""
    pending = _own(req, key)
    if pending is None:
        return False
    order_ref = str(pending["order"]["order_ref"])
    _cancel_order(settings, order_ref)
    _drop(req, order_ref, "bankid_cancelled", origin, actor, {"order_ref": order_ref})
    return True


def _purpose(req: SignatureRequest) -> str | None:
    pending = req.eid_pending
    return str(pending.get("purpose")) if isinstance(pending, dict) else None


def _drop(
    req: SignatureRequest,
    order_ref: str,
    action: str | None,
    origin: audit.Origin | None,
    actor: User | None,
    details: dict[str, Any],
) -> None:
    """Forget the order *order_ref* (if still the request's), with an audit event *action*."""
    db.session.refresh(req)
    pending = req.eid_pending
    if isinstance(pending, dict) and pending.get("order", {}).get("order_ref") == order_ref:
        db.session.execute(
            update(SignatureRequest).where(SignatureRequest.id == req.id).values(eid_pending=None)
        )
    if action:
        _log_signer(action, req, origin, details, actor=actor)
    db.session.commit()
    db.session.refresh(req)


def _cancel_order(settings: Mapping[str, Any], order_ref: str) -> None:
    try:
        bankid.cancel(settings, order_ref)
    except bankid.BankIdError:  # already finished or gone at BankID: nothing left to stop
        logger.info("cancelling BankID order %s: already over", order_ref)


def _held_elsewhere(req: SignatureRequest, key: str) -> bool:
    """Another browser session's order, started less than an order's lifetime ago."""
    pending = req.eid_pending
    if not isinstance(pending, dict) or _own(req, key) is not None:
        return False
    try:
        started = float(pending["order"]["started"])
    except (KeyError, TypeError, ValueError):
        return False
    return time.time() - started < ORDER_LIFETIME


def _cancel_at_bankid(req: SignatureRequest, settings: Mapping[str, Any]) -> None:
    pending = req.eid_pending
    if isinstance(pending, dict) and isinstance(pending.get("order"), dict):
        _cancel_order(settings, str(pending["order"].get("order_ref", "")))
