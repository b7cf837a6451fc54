"""SQLAlchemy models; see docs/adr/001-data-model.md for the why."""

from formsvc.models.audit import AuditCheckpoint, AuditEvent
from formsvc.models.checklist import ChecklistItem
from formsvc.models.district import District
from formsvc.models.document import Document, DocumentRevision, TemplateVersion
from formsvc.models.participant import Participant, ParticipantAssignment
from formsvc.models.signing import SentReminder, SignatureRequest
from formsvc.models.sso import SsoMappingRule, SsoSeen
from formsvc.models.statistics_period import ClosedPeriod, PeriodCorrection
from formsvc.models.stored_file import StoredBlob, StoredFile
from formsvc.models.throttle import LoginThrottle
from formsvc.models.user import User

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "ChecklistItem",
    "ClosedPeriod",
    "District",
    "Document",
    "DocumentRevision",
    "LoginThrottle",
    "Participant",
    "ParticipantAssignment",
    "PeriodCorrection",
    "SentReminder",
    "SignatureRequest",
    "SsoMappingRule",
    "SsoSeen",
    "StoredBlob",
    "StoredFile",
    "TemplateVersion",
    "User",
]
