"""SQLAlchemy models; see docs/adr/001-data-model.md for the why."""

from formsvc.models.audit import AuditEvent
from formsvc.models.district import District
from formsvc.models.document import Document, DocumentRevision, TemplateVersion
from formsvc.models.participant import Participant
from formsvc.models.stored_file import StoredFile
from formsvc.models.user import User

__all__ = [
    "AuditEvent",
    "District",
    "Document",
    "DocumentRevision",
    "Participant",
    "StoredFile",
    "TemplateVersion",
    "User",
]
