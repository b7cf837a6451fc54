"""Who may see what. Views call these before touching an object; a refusal looks like 404."""

from __future__ import annotations

from formsvc.models import Document, Participant, User

#: Roles that work with client documents in their own district.
CLIENT_ROLES = frozenset({"caseworker", "manager"})


def can_work_with_clients(user: User) -> bool:
    """Caseworkers and managers with a district."""
    return user.is_authenticated and user.role in CLIENT_ROLES and user.district_id is not None


def can_see_participant(user: User, participant: Participant) -> bool:
    """Only staff of the participant's own district."""
    return can_work_with_clients(user) and participant.district_id == user.district_id


def can_see_document(user: User, document: Document) -> bool:
    """Client documents: staff of the document's own district."""
    return can_work_with_clients(user) and document.district_id == user.district_id
