"""Register and edit participants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from formsvc.extensions import db
from formsvc.models import Participant, ParticipantAssignment, User
from formsvc.models.participant import TARGET_AGES
from formsvc.services import audit
from formsvc.services.identity import IdentityError, age_on, check_birth_date, parse_identity


@dataclass(frozen=True)
class ParticipantInput:
    """What the registration form collects."""

    first_name: str  #: given name(s)
    last_name: str  #: family name
    id_kind: str  #: personnummer / samordningsnummer / birth_date
    id_number: str  #: as typed; empty for birth_date
    birth_date: date | None  #: required for birth_date
    target_group: str  #: sig_unga / sig_unga_vuxna
    protected_identity: bool  #: skyddade personuppgifter
    #: warnings the caseworker has read and confirmed (keys of Review.warnings)
    confirmed: frozenset[str] = frozenset()


class DuplicateIdentity(ValueError):
    """The number is already registered in the district; str(err) is a Swedish sentence."""

    def __init__(self, message: str, existing_id: int | None) -> None:
        super().__init__(message)
        #: the existing record, when the actor may open it (None: no link may be shown)
        self.existing_id = existing_id


class UnconfirmedWarnings(ValueError):
    """Warnings that must be confirmed before saving were not."""

    def __init__(self, warnings: dict[str, str]) -> None:
        super().__init__(" ".join(warnings.values()))
        self.warnings = warnings


@dataclass(frozen=True)
class Review:
    """What a registration would store, and what the caseworker must confirm first."""

    id_number: str | None  #: normalised long form, None for birth_date
    birth_date: date  #: from the number or as typed
    #: key ("age", "other_district") -> Swedish text; each needs an explicit confirmation
    warnings: dict[str, str]


def review(
    data: ParticipantInput,
    *,
    actor: User,
    district_id: int,
    today: date,
    current: Participant | None = None,
) -> Review:
    """Check a registration (or an edit of *current*) for plausibility.

    Raises IdentityError for an impossible number or birth date and DuplicateIdentity when the
    district already has the number. An age outside the target group and the number being
    registered in another district are warnings: true cases exist (a participant who turns 30
    during the work, a person who has moved), so the caseworker confirms them instead of being
    pushed to pick a wrong group or a wrong date.
    """
    if data.id_kind == "birth_date":
        if data.birth_date is None:
            raise IdentityError(_("Ange födelsedatum när nummer saknas."))
        check_birth_date(data.birth_date, today)
        number, born = None, data.birth_date
    else:
        ident = parse_identity(
            data.id_number, coordination=data.id_kind == "samordningsnummer", today=today
        )
        number, born = ident.number, ident.birth_date
    warnings: dict[str, str] = {}
    if number is not None:
        _check_duplicate(number, actor=actor, district_id=district_id, current=current)
        if (current is None or current.id_number != number) and _registered_elsewhere(
            number, district_id
        ):
            warnings["other_district"] = _(
                "Numret är redan registrerat i en annan stadsdel. Av sekretesskäl visas inte var. "
                "Registrera personen här bara om hen ska få stöd av SIG i den här stadsdelen, "
                "till exempel efter en flytt."
            )
    unchanged = current is not None and (current.birth_date, current.target_group) == (
        born,
        data.target_group,
    )
    if data.target_group in TARGET_AGES and not unchanged:
        low, high = TARGET_AGES[data.target_group]
        age = age_on(born, today)
        if not low <= age <= high:
            warnings["age"] = _(
                "Deltagaren är %(age)d år i dag (född %(born)s), men målgruppen är för den som "
                "är %(low)d–%(high)d år. Kontrollera födelsedatumet och målgruppen.",
                age=age,
                born=born.isoformat(),
                low=low,
                high=high,
            )
    return Review(id_number=number, birth_date=born, warnings=warnings)


def _check_duplicate(
    number: str, *, actor: User, district_id: int, current: Participant | None
) -> None:
    query = select(Participant).where(
        Participant.district_id == district_id, Participant.id_number == number
    )
    if current is not None and current.id is not None:
        query = query.where(Participant.id != current.id)
    existing = db.session.scalars(query.limit(1)).first()
    if existing is not None:
        raise _duplicate(existing, actor)


def _duplicate(existing: Participant, actor: User) -> DuplicateIdentity:
    from formsvc.services import access

    if access.can_see_participant(actor, existing):
        return DuplicateIdentity(
            _("Numret är redan registrerat i stadsdelen. Öppna den befintliga registreringen."),
            existing.id,
        )
    # a protected participant the actor is not assigned to: neither name nor link
    return DuplicateIdentity(
        _(
            "Numret är redan registrerat i stadsdelen, men du har inte tillgång till den "
            "registreringen. Kontakta din enhetschef."
        ),
        None,
    )


def _registered_elsewhere(number: str, district_id: int) -> bool:
    """True when another district has the number on a participant without protected identity
    (a protected one is never revealed, not even by its existence)."""
    return (
        db.session.scalar(
            select(Participant.id)
            .where(
                Participant.id_number == number,
                Participant.district_id != district_id,
                Participant.protected_identity.is_(False),
            )
            .limit(1)
        )
        is not None
    )


def _apply(p: Participant, data: ParticipantInput, checked: Review) -> None:
    unconfirmed = {k: v for k, v in checked.warnings.items() if k not in data.confirmed}
    if unconfirmed:
        raise UnconfirmedWarnings(unconfirmed)
    p.first_name, p.last_name = data.first_name, data.last_name
    p.id_kind = data.id_kind
    p.target_group = data.target_group
    # protection is only ever turned on here (by anyone who may edit, at once: the safe direction);
    # turning it off is unprotect(), a manager's own decision - never an unticked or missing box
    p.protected_identity = bool(p.protected_identity) or data.protected_identity
    p.id_number, p.birth_date = checked.id_number, checked.birth_date


def _save(p: Participant, actor: User) -> None:
    """Flush; a parallel registration of the same number loses to the unique index."""
    number, district_id = p.id_number, p.district_id
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalars(
            select(Participant).where(
                Participant.district_id == district_id, Participant.id_number == number
            )
        ).first()
        if existing is None:
            raise
        raise _duplicate(existing, actor) from None


def create(
    data: ParticipantInput, *, actor: User, today: date, origin: audit.Origin | None = None
) -> Participant:
    """Register a participant in the actor's district (see review() for what is refused)."""
    assert actor.district_id is not None
    checked = review(data, actor=actor, district_id=actor.district_id, today=today)
    p = Participant(district_id=actor.district_id, created_by_id=actor.id)
    _apply(p, data, checked)
    p.assignments.append(ParticipantAssignment(user_id=actor.id))
    db.session.add(p)
    _save(p, actor)
    _log("create", p, actor, origin, _confirmed(checked))
    db.session.commit()
    return p


def update(
    p: Participant,
    data: ParticipantInput,
    *,
    actor: User,
    today: date,
    origin: audit.Origin | None = None,
) -> Participant:
    """Change a participant's details (see review() for what is refused). Protection can be
    turned on here, never off (see unprotect)."""
    checked = review(data, actor=actor, district_id=p.district_id, today=today, current=p)
    before = _snapshot(p)
    _apply(p, data, checked)
    _save(p, actor)
    _log(
        "update",
        p,
        actor,
        origin,
        {**_changes(before, _snapshot(p)), **(_confirmed(checked) or {})},
    )
    db.session.commit()
    return p


#: The fields whose change the audit log names; values only where they are not personal data.
_AUDITED = ("first_name", "last_name", "id_kind", "id_number", "birth_date", "target_group")


def _snapshot(p: Participant) -> dict[str, Any]:
    return {f: getattr(p, f) for f in (*_AUDITED, "protected_identity")}


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What an update changed: field names (names and numbers never written into the log), and
    the protection and target group as old -> new."""
    changed = [f for f in _AUDITED if before[f] != after[f]]
    out: dict[str, Any] = {"changed": changed} if changed else {}
    for field in ("protected_identity", "target_group"):
        if before[field] != after[field]:
            out[field] = [before[field], after[field]]
    return out


class NotPermitted(PermissionError):
    """The actor may not make this change (e.g. lift protection without being a manager)."""


def unprotect(
    p: Participant, *, actor: User, reason: str, origin: audit.Origin | None = None
) -> Participant:
    """Lift the protected identity: only a manager of the participant's district, with a reason,
    recorded as old -> new. A caseworker may turn protection on (at once, the safe direction) but
    not off: that exposes the person's details to all district staff again."""
    if actor.role != "manager" or actor.district_id != p.district_id:
        raise NotPermitted(p.id)
    if not p.protected_identity:
        return p
    p.protected_identity = False
    _log("unprotect", p, actor, origin, {"protected_identity": [True, False], "reason": reason})
    db.session.commit()
    return p


def _confirmed(checked: Review) -> dict | None:
    # what was confirmed, never the number itself
    return {"confirmed": sorted(checked.warnings)} if checked.warnings else None


def log_read(p: Participant, *, actor: User, origin: audit.Origin | None = None) -> None:
    """Every read of a protected participant is in the audit log."""
    _log("view_protected", p, actor, origin, {})
    db.session.commit()


def visible_to(user: User) -> list[Participant]:
    """The participants *user* may open: the district's, protected ones only when assigned
    (managers see all of their district)."""
    from formsvc.services import access

    return [p for p in in_district(user.district_id) if access.can_see_participant(user, p)]


def in_district(district_id: int) -> list[Participant]:
    """The district's participants by name."""
    return list(
        db.session.scalars(
            select(Participant)
            .where(Participant.district_id == district_id)
            .order_by(Participant.last_name, Participant.first_name)
        )
    )


def assign(p: Participant, user: User, *, actor: User, origin: audit.Origin | None = None) -> None:
    """Assign a caseworker or manager of the participant's district."""
    if user.district_id != p.district_id or user.role not in ("caseworker", "manager"):
        raise ValueError("Bara personal i deltagarens stadsdel kan tilldelas.")
    if not p.is_assigned(user.id):
        p.assignments.append(ParticipantAssignment(user_id=user.id))
        _log("assign", p, actor, origin, {"user_id": user.id})
    db.session.commit()


def unassign(
    p: Participant, user_id: int, *, actor: User, origin: audit.Origin | None = None
) -> None:
    """Remove an assignment."""
    for a in list(p.assignments):
        if a.user_id == user_id:
            p.assignments.remove(a)
            _log("unassign", p, actor, origin, {"user_id": user_id})
    db.session.commit()


def district_staff(district_id: int) -> list[User]:
    """Caseworkers and managers of a district, by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.district_id == district_id,
                User.active.is_(True),
                User.role.in_(("caseworker", "manager")),
            )
            .order_by(User.full_name)
        )
    )


def _log(
    action: str,
    p: Participant,
    actor: User,
    origin: audit.Origin | None,
    details: dict | None = None,
) -> None:
    audit.record(
        action,
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="participant",
        object_id=p.id,
        district_id=p.district_id,
        details=details,
        origin=origin,
    )
