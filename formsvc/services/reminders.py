"""Reminders: e-mail signers with open requests and caseworkers whose consents expire.

Safe to run as often as wanted, from cron or Celery beat, even two runs at once: each reminder
is claimed by inserting a SentReminder row under a unique key *in the transaction that sends
it*, committed only after the SMTP server accepted the mail. A run that dies mid-send (or a
mail that fails) leaves no row, so the next run (or the task's retry) sends it; a second run
meanwhile waits on the unique key and then skips it (docs/adr/020-job-queue.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from formsvc.extensions import db
from formsvc.models import Document, SentReminder, SignatureRequest
from formsvc.models._base import utcnow
from formsvc.services import audit, consents, mail

SIGNER = "signature_request"  #: SentReminder.kind of a reminder to a signer
EXPIRY = "consent_expiry"  #: SentReminder.kind of a notice about an ending consent


@dataclass(frozen=True)
class Due:
    """One reminder that is due: what `send` is called with (plain values, fit for a task)."""

    kind: str  #: SIGNER or EXPIRY
    object_id: int  #: the SignatureRequest or the Document
    key: str  #: what makes it unique: when the link was sent, or the consent's end date


@dataclass
class Report:
    """What a run did."""

    signers: int = 0  #: reminders sent (or queued) to signers
    expiring: int = 0  #: reminders sent (or queued) to caseworkers about expiring consents
    expired: int = 0  #: consents marked expired
    failed: list[str] = field(default_factory=list)  #: what could not be sent (retried next run)


def run(
    settings: Mapping[str, Any],
    today: date,
    deliver: Callable[[Due], None] | None = None,
) -> Report:
    """Send what is due on *today*; returns counts.

    *deliver*: hand each due reminder to it (a task queue) instead of sending it here."""
    report = Report()
    report.expired = len(consents.expire_due(today))
    for due in find_due(settings, today, report):
        if deliver is not None:
            deliver(due)
        else:
            try:
                if not send(settings, due, today):
                    continue
            except mail.MailError as exc:
                report.failed.append(f"{_what(due)}: {exc.message}")
                continue
        if due.kind == SIGNER:
            report.signers += 1
        else:
            report.expiring += 1
    return report


def find_due(settings: Mapping[str, Any], today: date, report: Report) -> list[Due]:
    """Every reminder due on *today* that has not gone out yet."""
    candidates = _signers(settings) + _expiring(settings, today, report)
    sent: set[tuple[str, int, str]] = set()
    for kind in (SIGNER, EXPIRY):
        ids = [d.object_id for d in candidates if d.kind == kind]
        if ids:
            rows = db.session.execute(
                select(SentReminder.object_id, SentReminder.key).where(
                    SentReminder.kind == kind, SentReminder.object_id.in_(ids)
                )
            )
            sent.update((kind, object_id, key) for object_id, key in rows)
    db.session.commit()  # end the read: each send is its own transaction
    return [d for d in candidates if (d.kind, d.object_id, d.key) not in sent]


def send(settings: Mapping[str, Any], due: Due, today: date) -> bool:
    """Claim *due* and send it in one transaction; False if it went out already or is no longer
    due. Raises MailError (nothing claimed: a retry or the next run sends it)."""
    db.session.commit()
    db.session.add(SentReminder(kind=due.kind, object_id=due.object_id, key=due.key))
    try:
        # waits here while another run holds the same claim uncommitted, then fails: once only
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    try:
        message, on_sent = _message(settings, due, today)
        if message is None:
            db.session.rollback()
            return False
        mail.send(settings, message)
    except BaseException:
        db.session.rollback()
        raise
    on_sent()
    db.session.commit()
    return True


def _what(due: Due) -> str:
    return f"request {due.object_id}" if due.kind == SIGNER else f"document {due.object_id}"


def _signers(settings: Mapping[str, Any]) -> list[Due]:
    due = utcnow() - timedelta(days=int(settings["REMINDER_AFTER_DAYS"]))
    reqs = db.session.scalars(
        select(SignatureRequest).where(
            SignatureRequest.status == "open",
            SignatureRequest.method == "link",
            SignatureRequest.email.is_not(None),
            SignatureRequest.link_sent_at <= due,
            SignatureRequest.token_expires_at > utcnow(),
        )
    ).all()
    # keyed on when the link was sent: a new link gets its own (single) reminder
    return [Due(SIGNER, req.id, _sent_key(req)) for req in reqs if req.link_sent_at]


def _sent_key(req: SignatureRequest) -> str:
    return f"{req.link_sent_at:%Y%m%d%H%M%S}"


def _expiring(settings: Mapping[str, Any], today: date, report: Report) -> list[Due]:
    found = []
    for doc in db.session.scalars(
        select(Document).where(Document.type_slug == "consent", Document.status == "active")
    ).all():
        end = _ending(settings, doc, today)
        if end is None:
            continue
        to = doc.sent_by or doc.created_by
        if not to or not to.email or not to.active:
            report.failed.append(f"document {doc.id}: no e-mail address for its caseworker")
            continue
        found.append(Due(EXPIRY, doc.id, end))
    return found


def _ending(settings: Mapping[str, Any], doc: Document, today: date) -> str | None:
    """The end date (ISO) of *doc* if it is a consent in force that ends within the notice."""
    horizon = today + timedelta(days=int(settings["CONSENT_EXPIRY_NOTICE_DAYS"]))
    end = str(doc.data.get("period_to") or "")
    try:
        end_date = date.fromisoformat(end)
    except ValueError:
        return None
    if not today <= end_date <= horizon or not consents.valid_on(doc, today):
        return None  # a consent not yet in force is reminded of once it is
    return end


def _message(
    settings: Mapping[str, Any], due: Due, today: date
) -> tuple[mail.Mail | None, Callable[[], None]]:
    """The mail for *due* as the database says now (None: no longer due), and what to record
    once it is sent."""
    if due.kind == SIGNER:
        return _signer_message(settings, due)
    if due.kind == EXPIRY:
        return _expiry_message(settings, due, today)
    raise ValueError(f"unknown reminder kind {due.kind!r}")


def _nothing() -> None:
    return None


def _signer_message(
    settings: Mapping[str, Any], due: Due
) -> tuple[mail.Mail | None, Callable[[], None]]:
    req = db.session.get(SignatureRequest, due.object_id)
    if (
        req is None
        or req.status != "open"
        or req.method != "link"
        or not req.email
        or req.link_sent_at is None
        or _sent_key(req) != due.key
        or req.token_expires_at is None
        or req.token_expires_at <= utcnow()
    ):
        return None, _nothing
    doc = req.document
    body = _(
        "Hej!\n\nDu har ett dokument från %(org)s, %(district)s, som väntar på din "
        "underskrift (%(ref)s).\n\nAnvänd länken i e-postmeddelandet vi skickade %(sent)s. "
        "Den gäller till och med %(until)s. Har du inte kvar meddelandet, kontakta din "
        "handläggare så skickar vi en ny länk.\n",
        org=settings.get("ORGANISATION_NAME", ""),
        district=doc.district.name,
        ref=doc.reference,
        sent=f"{req.link_sent_at:%Y-%m-%d}",
        until=f"{req.token_expires_at:%Y-%m-%d}",
    )

    def sent() -> None:
        req.reminded_at = utcnow()
        _log("remind_signer", doc, {"request": req.id, "role": req.role})

    return mail.Mail(req.email, _("Påminnelse: dokument att skriva under"), body), sent


def _expiry_message(
    settings: Mapping[str, Any], due: Due, today: date
) -> tuple[mail.Mail | None, Callable[[], None]]:
    doc = db.session.get(Document, due.object_id)
    if doc is None or doc.type_slug != "consent" or doc.status != "active":
        return None, _nothing
    if _ending(settings, doc, today) != due.key:
        return None, _nothing
    to = doc.sent_by or doc.created_by
    if not to or not to.email or not to.active:
        return None, _nothing
    body = _(
        "Hej %(name)s!\n\nMedgivandet %(ref)s för %(participant)s i %(district)s upphör "
        "%(end)s. Behövs samarbetet fortsatt, ta fram ett nytt medgivande i god tid.\n",
        name=to.full_name,
        ref=doc.reference,
        participant=doc.participant.name if doc.participant else "",
        district=doc.district.name,
        end=due.key,
    )
    username = to.username

    def sent() -> None:
        _log("remind_expiry", doc, {"to": username, "period_to": due.key})

    return mail.Mail(to.email, _("Medgivande upphör snart"), body), sent


def _log(action: str, doc: Document, details: dict[str, Any]) -> None:
    audit.record(
        action,
        actor_id=None,
        actor_label="formsvc",
        object_type="document",
        object_id=doc.id,
        district_id=doc.district_id,
        details=details,
    )
