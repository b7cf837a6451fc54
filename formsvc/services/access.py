"""Who may see what. Views call these before touching an object; a refusal looks like 404."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select

from formsvc.doctypes import DocumentType
from formsvc.models import Document, Participant, ParticipantAssignment, User

#: Roles that work with client documents in their own district.
CLIENT_ROLES = frozenset({"caseworker", "manager"})


def can_work_with_clients(user: User) -> bool:
    """Caseworkers and managers with a district."""
    return user.is_authenticated and user.role in CLIENT_ROLES and user.district_id is not None


def can_see_participant(user: User, participant: Participant) -> bool:
    """Only staff of the participant's own district; a protected identity (skyddade
    personuppgifter) only its assigned staff and the district's managers."""
    if not can_work_with_clients(user) or participant.district_id != user.district_id:
        return False
    if participant.protected_identity:
        return user.role == "manager" or participant.is_assigned(user.id)
    return True


def can_see_document(user: User, document: Document, dtype: DocumentType) -> bool:
    """District staff, narrowed by the type's rule (3.3: assigned staff; 2.0/2.3: the employee)."""
    if not can_work_with_clients(user) or document.district_id != user.district_id:
        return False
    if document.participant is not None and not can_see_participant(user, document.participant):
        return False
    if dtype.access == "assigned":
        return user.role == "manager" or (
            document.participant is not None and document.participant.is_assigned(user.id)
        )
    if dtype.access == "employee":
        return user.role == "manager" or document.subject_user_id == user.id
    return True


def can_edit_document(user: User, document: Document, dtype: DocumentType) -> bool:
    """Seeing it, and a role the type lets edit."""
    return can_see_document(user, document, dtype) and user.role in dtype.editors


def can_create(user: User, dtype: DocumentType) -> bool:
    """A role the type lets create (the subject's own checks come on top)."""
    return can_work_with_clients(user) and user.role in dtype.editors


def can_create_for_participant(user: User, dtype: DocumentType, participant: Participant) -> bool:
    """May *user* start a document of *dtype* about *participant* (3.3: only assigned staff
    and managers)?"""
    if not can_create(user, dtype) or dtype.subject != "participant":
        return False
    if dtype.access == "assigned":
        return user.role == "manager" or participant.is_assigned(user.id)
    return True


def visible_documents(user: User, registry: dict[str, DocumentType]) -> ColumnElement[bool]:
    """The SQL condition matching exactly the documents can_see_document allows."""
    if not can_work_with_clients(user):
        return false()
    in_district = Document.district_id == user.district_id
    if user.role == "manager":
        return in_district  # managers see every type in their district, protected ones too
    open_types = [s for s, t in registry.items() if t.access not in ("assigned", "employee")]
    assigned_types = [s for s, t in registry.items() if t.access == "assigned"]
    employee_types = [s for s, t in registry.items() if t.access == "employee"]
    assigned = exists(
        select(ParticipantAssignment.user_id).where(
            ParticipantAssignment.participant_id == Document.participant_id,
            ParticipantAssignment.user_id == user.id,
        )
    )
    # a protected participant's documents only for the assigned staff
    protected = exists(
        select(Participant.id).where(
            Participant.id == Document.participant_id, Participant.protected_identity.is_(True)
        )
    )
    return and_(
        in_district,
        or_(~protected, assigned),
        or_(
            Document.type_slug.in_(open_types),
            and_(Document.type_slug.in_(assigned_types), assigned),
            and_(Document.type_slug.in_(employee_types), Document.subject_user_id == user.id),
        ),
    )
