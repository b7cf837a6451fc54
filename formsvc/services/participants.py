"""Register and edit participants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import Participant, ParticipantAssignment, User
from formsvc.services import audit
from formsvc.services.identity import parse_identity


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


def _apply(p: Participant, data: ParticipantInput) -> None:
    p.first_name, p.last_name = data.first_name, data.last_name
    p.id_kind = data.id_kind
    p.target_group = data.target_group
    p.protected_identity = data.protected_identity
    if data.id_kind == "birth_date":
        assert data.birth_date is not None
        p.id_number, p.birth_date = None, data.birth_date
    else:
        ident = parse_identity(data.id_number, coordination=data.id_kind == "samordningsnummer")
        p.id_number, p.birth_date = ident.number, ident.birth_date


def create(
    data: ParticipantInput, *, actor: User, origin: audit.Origin | None = None
) -> Participant:
    """Register a participant in the actor's district."""
    assert actor.district_id is not None
    p = Participant(district_id=actor.district_id, created_by_id=actor.id)
    _apply(p, data)
    p.assignments.append(ParticipantAssignment(user_id=actor.id))
    db.session.add(p)
    db.session.flush()
    _log("create", p, actor, origin)
    db.session.commit()
    return p


def update(
    p: Participant, data: ParticipantInput, *, actor: User, origin: audit.Origin | None = None
) -> Participant:
    """Change a participant's details."""
    _apply(p, data)
    _log("update", p, actor, origin)
    db.session.commit()
    return p


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
