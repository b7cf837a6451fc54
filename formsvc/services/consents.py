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

    The one place a consent's scope is read; what its withdrawals took away (withdrawn_scope:
    actors, kinds, the free text, or everything) is subtracted here.
    """
    from formsvc.forms.consent import ACTORS, INFO_KINDS, POLICE

    d = doc.data or {}
    gone = withdrawn_scope(doc)
    if gone.everything:
        return Coverage(actors=(), other="")
    kinds = frozenset(
        k for k in d.get("info_kinds") or [] if k in INFO_KINDS and k not in gone.kinds
    )
    actors = []
    if "police" not in gone.actors:
        # the police take part in both directions whatever an old consent stored (issue 18)
        actors.append(ActorScope(str(POLICE), d.get("police_contact") or "", _BOTH, kinds))
    for i, row in enumerate(d.get("actors") or []):
        if not isinstance(row, dict) or f"a{i}" in gone.actors:  # keys as in parts()
            continue
        code = row.get("actor") or ""
        name = row.get("other_name") if code == "other" else str(ACTORS.get(code, ""))
        directions = _DIRECTION_SETS.get(row.get("direction") or "both")
        if not name or directions is None:
            continue  # an unreadable row covers nobody
        actors.append(ActorScope(name, row.get("contact") or "", directions, kinds))
    other = "" if "other" in gone.kinds else d.get("info_other") or ""
    return Coverage(actors=tuple(actors), other=other)


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
    """One consent in force today: with whom, about what, until when (less what is withdrawn)."""

    document: Document
    period_from: str
    period_to: str
    actors: list[dict[str, str]]  #: name, contact, direction
    info_kinds: list[str]
    info_other: str


@dataclass(frozen=True)
class Actor:
    """One actor a consent names; *key* is stable within the consent ("police", "a0", "a1" …)."""

    key: str
    name: str
    contact: str
    direction: str


@dataclass(frozen=True)
class Kind:
    """One kind of information a consent covers; "other" is the consent's free text."""

    key: str
    label: str


@dataclass(frozen=True)
class Parts:
    """What a consent names, item by item: its actors and kinds of information (with keys)."""

    actors: list[Actor]
    kinds: list[Kind]


def parts(doc: Document) -> Parts:
    """Every actor (the police first) and kind of information the consent names, as signed."""
    from formsvc.forms.consent import ACTORS, DIRECTIONS, INFO_KINDS, POLICE, POLICE_DIRECTION

    d = doc.data
    actors = [
        Actor(
            "police",
            str(POLICE),
            str(d.get("police_contact") or ""),
            str(DIRECTIONS.get(d.get("police_direction") or POLICE_DIRECTION, "")),
        )
    ]
    for i, row in enumerate(d.get("actors") or []):
        if not isinstance(row, dict):
            continue
        name = (
            row.get("other_name")
            if row.get("actor") == "other"
            else str(ACTORS.get(row.get("actor", ""), ""))
        )
        actors.append(
            Actor(
                f"a{i}",
                str(name or ""),
                str(row.get("contact") or ""),
                str(DIRECTIONS.get(row.get("direction", "both"), "")),
            )
        )
    kinds = [Kind(k, str(INFO_KINDS[k])) for k in d.get("info_kinds") or [] if k in INFO_KINDS]
    other = str(d.get("info_other") or "")
    if other:
        kinds.append(Kind("other", str(_l("Andra uppgifter: %(text)s", text=other))))
    return Parts(actors, kinds)


@dataclass(frozen=True)
class WithdrawnScope:
    """What the withdrawals recorded for a consent take away (nothing, parts, or all)."""

    everything: bool
    actors: frozenset[str]  #: Actor.key
    kinds: frozenset[str]  #: Kind.key
    records: list[Document]  #: the withdrawal documents, oldest first

    @property
    def partial(self) -> bool:
        """Some but not all of the consent is withdrawn."""
        return not self.everything and bool(self.actors or self.kinds)


def withdrawals(doc: Document) -> list[Document]:
    """The withdrawal records of a consent, oldest first."""
    if doc.participant_id is None:
        return []
    rows = db.session.scalars(
        select(Document)
        .where(
            Document.participant_id == doc.participant_id,
            Document.type_slug == "consent_withdrawal",
        )
        .order_by(Document.id)
    )
    return [r for r in rows if r.data.get("consent_id") == doc.id]


def withdrawn_scope(doc: Document) -> WithdrawnScope:
    """The part of *doc* that is withdrawn: actors and kinds of every withdrawal so far."""
    records = withdrawals(doc)
    actors: set[str] = set()
    kinds: set[str] = set()
    everything = doc.status == "withdrawn"
    for r in records:
        if r.data.get("scope", "all") == "all":
            everything = True
        actors.update(a.get("key", "") for a in r.data.get("withdrawn_actors") or [])
        kinds.update(k.get("key", "") for k in r.data.get("withdrawn_kinds") or [])
    return WithdrawnScope(everything, frozenset(actors), frozenset(kinds), records)


def remaining(doc: Document, scope: WithdrawnScope | None = None) -> Parts:
    """What the consent still covers once its withdrawals are taken away."""
    scope = scope or withdrawn_scope(doc)
    cov = parts(doc)
    if scope.everything:
        return Parts([], [])
    return Parts(
        [a for a in cov.actors if a.key not in scope.actors],
        [k for k in cov.kinds if k.key not in scope.kinds],
    )


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


# --------------------------------------------------------------------------- current state


#: What /verify and the receipt say about a sealed document today: (label, tone); the tone
#: picks an icon and colour on the page, the label always says it in words.
CURRENT_LABELS: dict[str, tuple[Any, str]] = {
    "active": (_l("Gäller"), "ok"),
    "pending_start": (_l("Gäller inte ännu – giltighetstiden har inte börjat"), "warn"),
    "expired": (_l("Gäller inte längre – giltighetstiden har gått ut"), "bad"),
    "withdrawn": (_l("Återkallat – gäller inte längre"), "bad"),
    "partly_withdrawn": (
        _l("Delvis återkallat – gäller bara för det som inte har återkallats"),
        "warn",
    ),
    "voided": (_l("Makulerat – gäller inte"), "bad"),
    "declined": (_l("Avböjt – gäller inte"), "bad"),
    "awaiting_signatures": (_l("Alla har inte skrivit under – gäller inte ännu"), "warn"),
    "signed": (_l("Signerat"), "ok"),
    "final": (_l("Registrerat"), "ok"),
    "purged": (_l("Gallrat – innehållet är raderat"), "bad"),
}


@dataclass(frozen=True)
class WithdrawalSummary:
    """One withdrawal as /verify and the receipt tell it."""

    document_id: int
    reference: str
    withdrawn_on: str
    everything: bool
    actors: list[str]
    kinds: list[str]


@dataclass(frozen=True)
class CurrentState:
    """A sealed document's state today, for people outside the service."""

    code: str  #: a CURRENT_LABELS key
    label: str
    tone: str  #: ok / warn / bad
    period_from: str
    period_to: str
    withdrawals: list[WithdrawalSummary]
    still_covers: Parts | None  #: for a partly withdrawn consent


def _summary(record: Document) -> WithdrawalSummary:
    d = record.data
    everything = d.get("scope", "all") == "all"
    return WithdrawalSummary(
        document_id=record.id,
        reference=record.reference,
        withdrawn_on=str(d.get("withdrawn_on") or ""),
        everything=everything,
        actors=[]
        if everything
        else [str(a.get("name") or "") for a in d.get("withdrawn_actors") or []],
        kinds=[]
        if everything
        else [str(k.get("label") or "") for k in d.get("withdrawn_kinds") or []],
    )


def current_state(doc: Document, today: date) -> CurrentState:
    """What a document says today: for a consent its period, withdrawals and what remains."""
    code = doc.status
    period_from = period_to = ""
    records: list[WithdrawalSummary] = []
    still: Parts | None = None
    if doc.type_slug == "consent":
        period_from = str(doc.data.get("period_from") or "")
        period_to = str(doc.data.get("period_to") or "")
        scope = withdrawn_scope(doc)
        records = [_summary(r) for r in scope.records]
        code = state(doc, today)
        if scope.everything and code not in ("voided",):
            code = "withdrawn"
        elif scope.partial and code in ("active", "pending_start", "awaiting_signatures"):
            code = "partly_withdrawn" if code == "active" else code
            still = remaining(doc, scope)
    label, tone = CURRENT_LABELS.get(code, (STATE_LABELS.get(code, code), "warn"))
    return CurrentState(code, str(label), tone, period_from, period_to, records, still)


# --------------------------------------------------------------------------- withdrawal


class NotWithdrawable(ValueError):
    """The consent was already withdrawn or ended (e.g. by a parallel request)."""


class NothingToWithdraw(ValueError):
    """The chosen actors and kinds are unknown to the consent or already withdrawn."""


@dataclass(frozen=True)
class Request:
    """A withdrawal as expressed: all, or some actors and/or kinds (keys of `coverage`)."""

    everything: bool
    actors: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    by: str = "participant"  #: a forms.consent_withdrawal.WITHDRAWN_BY key
    by_name: str = ""  #: the person's name as recorded


@dataclass(frozen=True)
class Options:
    """What a withdrawal form offers for one consent: (value, label) pairs."""

    actors: list[tuple[str, str]]  #: what the consent still covers
    kinds: list[tuple[str, str]]
    by: list[tuple[str, str]]  #: the participant, each guardian by name, someone else


def _guardians(doc: Document) -> list[str]:
    rows = doc.data.get("guardians") or []
    return [str(g.get("name") or "") for g in rows if isinstance(g, dict)]


def options(doc: Document) -> Options:
    """The choices a withdrawal of *doc* offers: what remains, and who may have withdrawn."""
    from formsvc.forms.consent_withdrawal import WITHDRAWN_BY

    left = remaining(doc)
    subject = doc.participant.name if doc.participant else ""
    by = [
        (
            "participant",
            f"{WITHDRAWN_BY['participant']} ({subject})"
            if subject
            else str(WITHDRAWN_BY["participant"]),
        )
    ]
    by += [
        (f"guardian:{i}", f"{WITHDRAWN_BY['guardian']} {name}")
        for i, name in enumerate(_guardians(doc))
        if name
    ]
    by.append(("other", str(WITHDRAWN_BY["other"])))
    return Options(
        actors=[(a.key, f"{a.name} ({a.contact})" if a.contact else a.name) for a in left.actors],
        kinds=[(k.key, k.label) for k in left.kinds],
        by=by,
    )


def request_for(
    doc: Document, *, scope: str, actors: list[str], kinds: list[str], by: str, by_name: str
) -> Request:
    """A Request from the form's checked values (already checked against `options`)."""
    if by.startswith("guardian:"):
        names = _guardians(doc)
        index = int(by.removeprefix("guardian:"))
        by, by_name = "guardian", names[index]
    elif by == "participant":
        by_name = doc.participant.name if doc.participant else ""
    return Request(
        everything=scope != "part",
        actors=frozenset(actors) if scope == "part" else frozenset(),
        kinds=frozenset(kinds) if scope == "part" else frozenset(),
        by=by,
        by_name=by_name,
    )


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
    request: Request | None = None,
) -> Document:
    """Withdraw a consent wholly or in part, and make the withdrawal document listing what it
    covered, what is withdrawn and the actors to inform. A withdrawal that leaves nothing ends
    the consent (status withdrawn); a partial one leaves it active with less coverage. Each
    withdrawal happens once: a parallel or repeated one is refused."""
    request = request or Request(everything=True)
    # one writer at a time: read the row's stamp before what we decide on, and change the row
    # below only if nobody changed it since (a parallel withdrawal makes this one refused)
    seen = db.session.scalar(select(Document.updated_at).where(Document.id == doc.id))
    cov = parts(doc)
    before = withdrawn_scope(doc)
    if before.everything:
        raise NotWithdrawable(doc.id)
    left = remaining(doc, before)
    if request.everything:
        gone_actors, gone_kinds = list(left.actors), list(left.kinds)
    else:
        if doc.status != "active":
            # an unsigned consent is withdrawn wholly or not at all: signers sign one text
            raise NotWithdrawable(doc.id)
        gone_actors = [a for a in left.actors if a.key in request.actors]
        gone_kinds = [k for k in left.kinds if k.key in request.kinds]
        if not gone_actors and not gone_kinds:
            raise NothingToWithdraw(doc.id)
    everything = request.everything or (
        len(gone_actors) == len(left.actors) or len(gone_kinds) == len(left.kinds)
    )
    audit_details = {
        "withdrawn_on": withdrawn_on.isoformat(),
        "how": how,
        "scope": "all" if everything else "part",
        "actors": [a.key for a in (left.actors if everything else gone_actors)],
        "kinds": [k.key for k in (left.kinds if everything else gone_kinds)],
        "by": request.by,
    }
    unchanged = Document.updated_at == seen
    if everything:
        try:
            lifecycle.transition(
                doc,
                DocumentStatus.WITHDRAWN,
                actor=actor,
                origin=origin,
                actor_label=None if actor else recorded_by,
                action="withdraw",
                details=audit_details,
                values={"updated_at": utcnow()},
                where=[unchanged],
            )
        except lifecycle.TransitionError as exc:
            db.session.rollback()
            raise NotWithdrawable(doc.id) from exc
    else:
        # the status stays (active); only the stamp moves, so a parallel withdrawal is refused
        changed = db.session.execute(
            update(Document)
            .where(Document.id == doc.id, Document.status == DocumentStatus.ACTIVE, unchanged)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            db.session.rollback()
            raise NotWithdrawable(doc.id)
        audit.record(
            "withdraw_part",
            actor_id=actor.id if actor else None,
            actor_label=actor.username if actor else recorded_by,
            object_type="document",
            object_id=doc.id,
            district_id=doc.district_id,
            details=audit_details,
            origin=origin,
        )
    if everything:
        db.session.execute(
            update(SignatureRequest)
            .where(SignatureRequest.document_id == doc.id, SignatureRequest.status == "open")
            .values(status="voided", token_hash=None, otp_hash=None)
        )
        gone_actors, gone_kinds = list(left.actors), list(left.kinds)
    after_actors = [a for a in left.actors if a not in gone_actors]
    after_kinds = [k for k in left.kinds if k not in gone_kinds]
    # whom to tell: every remaining actor when kinds go (they may no longer get them), and
    # every actor the withdrawal takes away
    inform = gone_actors + (after_actors if gone_kinds else [])
    data = {
        "withdrawn_on": withdrawn_on.isoformat(),
        "how": how,
        "details": details,
        "scope": "all" if everything else "part",
        "withdrawn_by": request.by,
        "withdrawn_by_name": request.by_name,
        "consent_id": doc.id,
        "consent_reference": doc.reference,
        "consent_period": [doc.data.get("period_from") or "", doc.data.get("period_to") or ""],
        "recorded_by": recorded_by,
        "recorded_by_id": actor.id if actor else None,
        "actors": [{"name": a.name, "contact": a.contact} for a in inform],
        "covered_actors": [
            {"key": a.key, "name": a.name, "contact": a.contact, "direction": a.direction}
            for a in cov.actors
        ],
        "info_kinds": [k.label for k in cov.kinds if k.key != "other"],
        "info_other": str(doc.data.get("info_other") or ""),
        "withdrawn_actors": [{"key": a.key, "name": a.name} for a in gone_actors],
        "withdrawn_kinds": [{"key": k.key, "label": k.label} for k in gone_kinds],
        "remaining_actors": [a.name for a in after_actors] if not everything else [],
        "remaining_kinds": [k.label for k in after_kinds] if not everything else [],
        "earlier": [r.reference for r in before.records],
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
