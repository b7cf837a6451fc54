"""Consent (bilaga 3.2) states, withdrawal and "who may we share with today?"."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from formsvc.doctypes import discover
from formsvc.extensions import db
from formsvc.forms.consent import FROM_ACTOR, TO_ACTOR
from formsvc.models import Document, SignatureRequest, User
from formsvc.models._base import utcnow
from formsvc.models.document import DocumentStatus
from formsvc.services import audit, documents, lifecycle
from formsvc.services.storage import FileStore

#: Consent states a withdrawal applies to.
WITHDRAWABLE = (DocumentStatus.AWAITING_SIGNATURES, DocumentStatus.ACTIVE)

#: How a consent's state reads on the page (computed from status and dates).
STATE_LABELS = {
    "draft": _l("Utkast"),
    "awaiting_signatures": _l("Väntar på underskrifter"),
    "pending_start": _l("Signerat – gäller från startdatum"),
    "active": _l("Gäller"),
    "expired": _l("Har upphört"),
    "declined": _l("Avböjt"),
    "voided": _l("Makulerat"),
    "withdrawn": _l("Återkallat"),
}


def _period(doc: Document) -> tuple[date | None, date | None]:
    def parse(value: Any) -> date | None:
        try:
            return date.fromisoformat(value) if value else None
        except (TypeError, ValueError):
            return None

    return parse(doc.data.get("period_from")), parse(doc.data.get("period_to"))


def state(doc: Document, today: date) -> str:
    """The consent's state on *today*: the stored status refined by its period."""
    if doc.status not in ("active", "expired"):
        return doc.status
    start, end = _period(doc)
    if end is not None and today > end:
        return "expired"
    if start is not None and today < start:
        return "pending_start"
    return "active"


_BOTH = frozenset({FROM_ACTOR, TO_ACTOR})
_DIRECTION_SETS = {
    "both": _BOTH,
    FROM_ACTOR: frozenset({FROM_ACTOR}),
    TO_ACTOR: frozenset({TO_ACTOR}),
}


def actor_key(name: str) -> str:
    """How actor names are compared: case, spacing and Unicode composition do not matter;
    invisible characters do (a name with a zero-width space is another name)."""
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


@dataclass(frozen=True)
class ActorScope:
    """What one actor of a consent is covered for."""

    name: str  #: as printed in the consent (the police, a listed actor type, or a typed name)
    contact: str  #: contact person or unit, as printed
    directions: frozenset[str]  #: FROM_ACTOR and/or TO_ACTOR
    kinds: frozenset[str]  #: keys of forms.consent.INFO_KINDS


@dataclass(frozen=True)
class Coverage:
    """Everything one consent covers, per actor. Free-text kinds (``other``) are printed but
    never cover anything automatically: no machine can tell what they include."""

    actors: tuple[ActorScope, ...]
    other: str  #: the consent's free-text "other information"

    def scope(self, actor: str) -> ActorScope | None:
        """The actor's scope (names compared by actor_key), None when the consent omits it."""
        key = actor_key(actor)
        return next((a for a in self.actors if key and actor_key(a.name) == key), None)


def coverage(doc: Document) -> Coverage:
    """What *doc* covers: the police (always, both directions), each named actor in its
    direction, each with the consent's kinds of information.

    The one place a consent's scope is read: a partial withdrawal subtracts from this.
    """
    from formsvc.forms.consent import ACTORS, INFO_KINDS, POLICE

    d = doc.data or {}
    kinds = frozenset(k for k in d.get("info_kinds") or [] if k in INFO_KINDS)
    # the police take part in both directions whatever an old consent stored (issue 18)
    actors = [ActorScope(str(POLICE), d.get("police_contact") or "", _BOTH, kinds)]
    for row in d.get("actors") or []:
        if not isinstance(row, dict):
            continue
        code = row.get("actor") or ""
        name = row.get("other_name") if code == "other" else str(ACTORS.get(code, ""))
        directions = _DIRECTION_SETS.get(row.get("direction") or "both")
        if not name or directions is None:
            continue  # an unreadable row covers nobody
        actors.append(ActorScope(name, row.get("contact") or "", directions, kinds))
    return Coverage(actors=tuple(actors), other=d.get("info_other") or "")


def valid_on(doc: Document, on: date) -> bool:
    """True when *doc* is a consent in force on *on*: signed (active), within its period."""
    return (
        doc.type_slug == "consent"
        and doc.status == DocumentStatus.ACTIVE
        and state(doc, on) == "active"
    )


@dataclass(frozen=True)
class Answer:
    """May we share? With the consent that allows it, or why not (Swedish, for the user)."""

    allowed: bool
    consent: Document | None  #: the consent that allows it (or the one that came closest)
    reason: str  #: "" when allowed


@dataclass(frozen=True)
class ConsentsOn:
    """A participant's consents as they stand on one day."""

    on: date
    valid: tuple[tuple[Document, Coverage], ...]  #: in force that day, oldest first
    #: drafts, unsigned or not yet started, with their state: they cover nothing that day
    pending: tuple[tuple[Document, str], ...]

    def may_share(self, actor: str, kind: str | None, direction: str) -> Answer:
        """Whether a consent in force covers *actor* for *kind* (an INFO_KINDS key; None for
        information only described in free text) in *direction* (FROM_ACTOR or TO_ACTOR)."""
        from formsvc.forms.consent import INFO_KINDS

        if not self.valid:
            return Answer(
                False,
                None,
                _("Det finns inget medgivande som gäller %(d)s.", d=self.on.isoformat()),
            )
        closest: tuple[Document, str] | None = None
        for doc, cover in self.valid:
            scope = cover.scope(actor)
            if scope is None:
                continue
            if direction not in scope.directions:
                reason = (
                    _(
                        "enligt medgivandet %(ref)s får %(actor)s bara lämna uppgifter till "
                        "socialtjänsten, inte ta emot uppgifter.",
                        ref=doc.reference,
                        actor=scope.name,
                    )
                    if direction == TO_ACTOR
                    else _(
                        "enligt medgivandet %(ref)s får %(actor)s bara ta emot uppgifter, inte "
                        "lämna uppgifter.",
                        ref=doc.reference,
                        actor=scope.name,
                    )
                )
            elif kind is None:
                reason = _(
                    "uppgifter som bara beskrivs i fritext omfattas aldrig automatiskt av ett "
                    "medgivande."
                )
            elif kind not in scope.kinds:
                reason = _(
                    "medgivandet %(ref)s omfattar inte ”%(kind)s” för %(actor)s.",
                    ref=doc.reference,
                    kind=str(INFO_KINDS.get(kind, kind)),
                    actor=scope.name,
                )
            else:
                return Answer(True, doc, "")
            if closest is None:
                closest = (doc, reason)
        if closest is None:
            return Answer(
                False,
                None,
                _(
                    "%(actor)s finns inte i något medgivande som gäller %(d)s.",
                    actor=actor,
                    d=self.on.isoformat(),
                ),
            )
        return Answer(False, closest[0], closest[1])

    def may_share_all(self, actor: str, kinds: Iterable[str | None], direction: str) -> Answer:
        """may_share for every kind; refused with every reason when any kind is not covered."""
        answers = [self.may_share(actor, kind, direction) for kind in dict.fromkeys(kinds)]
        refused = [a for a in answers if not a.allowed]
        if not answers:  # nothing to check against: the caller has not said what is shared
            return Answer(False, None, _("Det framgår inte vilka slags uppgifter som delas."))
        if not refused:
            return Answer(True, answers[0].consent, "")
        reasons = list(dict.fromkeys(a.reason for a in refused))
        return Answer(False, refused[0].consent, " ".join(_capital(r) for r in reasons))

    def actors(self, direction: str) -> list[str]:
        """Names of the actors some consent in force covers in *direction*, in order."""
        names = [
            scope.name
            for _doc, cover in self.valid
            for scope in cover.actors
            if direction in scope.directions
        ]
        return list({actor_key(n): n for n in reversed(names)}.values())[::-1]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def on_day(participant_id: int, on: date) -> ConsentsOn:
    """The participant's consents on *on*: those in force and those that do not count yet."""
    docs = db.session.scalars(
        select(Document)
        .where(
            Document.participant_id == participant_id,
            Document.type_slug == "consent",
            Document.status.in_(
                (DocumentStatus.DRAFT, DocumentStatus.AWAITING_SIGNATURES, DocumentStatus.ACTIVE)
            ),
        )
        .order_by(Document.id)
    ).all()
    valid = tuple((doc, coverage(doc)) for doc in docs if valid_on(doc, on))
    pending = tuple(
        (doc, state(doc, on))
        for doc in docs
        if not valid_on(doc, on) and state(doc, on) != "expired"
    )
    return ConsentsOn(on=on, valid=valid, pending=pending)


def may_share(
    participant_id: int, actor: str, kind: str | None, direction: str, on: date
) -> Answer:
    """Whether a consent in force on *on* lets us share *kind* with *actor* in *direction*."""
    return on_day(participant_id, on).may_share(actor, kind, direction)


@dataclass(frozen=True)
class Sharing:
    """One consent in force today: with whom, about what, until when."""

    document: Document
    period_from: str
    period_to: str
    actors: list[dict[str, str]]  #: name, contact, direction
    info_kinds: list[str]
    info_other: str


def _direction_label(directions: frozenset[str]) -> str:
    from formsvc.forms.consent import DIRECTIONS

    key = next((k for k, v in _DIRECTION_SETS.items() if v == directions), "both")
    return str(DIRECTIONS[key])


def sharing(doc: Document) -> Sharing:
    """What a consent covers, for people: actors (the police always), kinds, period."""
    from formsvc.forms.consent import INFO_KINDS

    cover = coverage(doc)
    kinds = {k for scope in cover.actors for k in scope.kinds}
    return Sharing(
        document=doc,
        period_from=doc.data.get("period_from") or "",
        period_to=doc.data.get("period_to") or "",
        actors=[
            {"name": a.name, "contact": a.contact, "direction": _direction_label(a.directions)}
            for a in cover.actors
        ],
        info_kinds=[str(label) for k, label in INFO_KINDS.items() if k in kinds],
        info_other=cover.other,
    )


def share_today(participant_id: int, today: date) -> list[Sharing]:
    """The participant's consents in force on *today* and what each covers."""
    return [sharing(doc) for doc, _cover in on_day(participant_id, today).valid]


class NotWithdrawable(ValueError):
    """The consent was already withdrawn or ended (e.g. by a parallel request)."""


def withdraw(
    doc: Document,
    *,
    withdrawn_on: date,
    how: str,
    details: str,
    recorded_by: str,
    actor: User | None,
    store: FileStore,
    origin: audit.Origin | None = None,
) -> Document:
    """Withdraw a consent: its status, its open requests, and a withdrawal document listing
    the actors to inform. Exactly once: a second withdrawal is refused."""
    if doc.status not in WITHDRAWABLE:
        raise NotWithdrawable(doc.id)
    try:
        lifecycle.transition(
            doc,
            DocumentStatus.WITHDRAWN,
            actor=actor,
            origin=origin,
            actor_label=None if actor else recorded_by,
            action="withdraw",
            details={"withdrawn_on": withdrawn_on.isoformat(), "how": how},
            values={"updated_at": utcnow()},
        )
    except lifecycle.TransitionError as exc:
        db.session.rollback()
        raise NotWithdrawable(doc.id) from exc
    db.session.execute(
        update(SignatureRequest)
        .where(SignatureRequest.document_id == doc.id, SignatureRequest.status == "open")
        .values(status="voided", token_hash=None, otp_hash=None)
    )
    covered = sharing(doc)
    data = {
        "withdrawn_on": withdrawn_on.isoformat(),
        "how": how,
        "details": details,
        "consent_id": doc.id,
        "consent_reference": doc.reference,
        "consent_period": [doc.data.get("period_from") or "", doc.data.get("period_to") or ""],
        "recorded_by": recorded_by,
        "actors": [{"name": a["name"], "contact": a["contact"]} for a in covered.actors],
        "info_kinds": covered.info_kinds,
    }
    wtype = discover()["consent_withdrawal"]
    author = actor or doc.created_by
    new = documents.create(
        wtype,
        data,
        actor=author,
        store=store,
        participant=doc.participant,
        origin=origin,
        status="final",
    )
    return new


def expire_due(today: date) -> list[Document]:
    """Mark consents whose period has ended as expired (idempotent); returns those changed."""
    docs = db.session.scalars(
        select(Document).where(Document.type_slug == "consent", Document.status == "active")
    ).all()
    changed = []
    for doc in docs:
        if state(doc, today) != "expired":
            continue
        try:
            lifecycle.transition(
                doc,
                DocumentStatus.EXPIRED,
                actor=None,
                from_=DocumentStatus.ACTIVE,
                action="expire",
                details={"period_to": doc.data.get("period_to")},
                values={"updated_at": utcnow()},
            )
        except lifecycle.StaleStatus:  # withdrawn or expired by a parallel run
            continue
        changed.append(doc)
    db.session.commit()
    return changed
