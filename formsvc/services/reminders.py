"""`flask reminders`: e-mail signers with open requests and caseworkers whose consents expire.

Safe to run from cron as often as wanted: each reminder is first claimed by inserting a
SentReminder row under a unique key, so two runs (or a rerun) never send it twice. A reminder whose
mail fails is released again and retried by the next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from formsvc.extensions import db
from formsvc.models import Document, SentReminder, SignatureRequest
from formsvc.models._base import utcnow
from formsvc.services import audit, consents, mail


@dataclass
class Report:
    """What a run did."""

    signers: int = 0  #: reminders sent to signers
    expiring: int = 0  #: reminders sent to caseworkers about expiring consents
    expired: int = 0  #: consents marked expired
    failed: list[str] = field(default_factory=list)  #: what could not be sent (retried next run)


def _claim(kind: str, object_id: int, key: str) -> SentReminder | None:
    row = SentReminder(kind=kind, object_id=object_id, key=key)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return row


def _release(row: SentReminder) -> None:
    db.session.execute(delete(SentReminder).where(SentReminder.id == row.id))
    db.session.commit()


def run(settings: Mapping[str, Any], today: date) -> Report:
    """Send what is due on *today*; returns counts."""
    report = Report()
    report.expired = len(consents.expire_due(today))
    _signers(settings, report)
    _expiring(settings, today, report)
    return report


def _signers(settings: Mapping[str, Any], report: Report) -> None:
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
    for req in reqs:
        # keyed on when the link was sent: a new link gets its own (single) reminder
        claim = _claim("signature_request", req.id, f"{req.link_sent_at:%Y%m%d%H%M%S}")
        if claim is None:
            continue
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
        try:
            mail.send(
                settings,
                mail.Mail(req.email or "", _("Påminnelse: dokument att skriva under"), body),
            )
        except mail.MailError as exc:
            _release(claim)
            report.failed.append(f"request {req.id}: {exc.message}")
            continue
        req.reminded_at = utcnow()
        _log("remind_signer", doc, {"request": req.id, "role": req.role})
        report.signers += 1


def _expiring(settings: Mapping[str, Any], today: date, report: Report) -> None:
    horizon = today + timedelta(days=int(settings["CONSENT_EXPIRY_NOTICE_DAYS"]))
    docs = db.session.scalars(
        select(Document).where(Document.type_slug == "consent", Document.status == "active")
    ).all()
    for doc in docs:
        end = doc.data.get("period_to") or ""
        try:
            end_date = date.fromisoformat(end)
        except ValueError:
            continue
        if not today <= end_date <= horizon or not consents.valid_on(doc, today):
            continue  # a consent not yet in force is reminded of once it is
        to = doc.sent_by or doc.created_by
        if not to or not to.email or not to.active:
            report.failed.append(f"document {doc.id}: no e-mail address for its caseworker")
            continue
        claim = _claim("consent_expiry", doc.id, end)
        if claim is None:
            continue
        body = _(
            "Hej %(name)s!\n\nMedgivandet %(ref)s för %(participant)s i %(district)s upphör "
            "%(end)s. Behövs samarbetet fortsatt, ta fram ett nytt medgivande i god tid.\n",
            name=to.full_name,
            ref=doc.reference,
            participant=doc.participant.name if doc.participant else "",
            district=doc.district.name,
            end=end,
        )
        try:
            mail.send(settings, mail.Mail(to.email, _("Medgivande upphör snart"), body))
        except mail.MailError as exc:
            _release(claim)
            report.failed.append(f"document {doc.id}: {exc.message}")
            continue
        _log("remind_expiry", doc, {"to": to.username, "period_to": end})
        report.expiring += 1


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
    db.session.commit()
