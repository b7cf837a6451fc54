"""Append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, event
from sqlalchemy.orm import Mapped, mapped_column

from formsvc.extensions import db
from formsvc.models._base import utcnow


class AuditEvent(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column()  # no FK: the log outlives deleted users
    actor_label: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    district_id: Mapped[int | None] = mapped_column(index=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_change(_mapper: object, _conn: object, target: AuditEvent) -> None:
    raise RuntimeError(f"audit event {target.id} is append-only")


class AuditCheckpoint(db.Model):
    """A signed statement of the chain head: "the log had *event_count* events, ending in
    *head_hash*, at *created_at*". Signed with the audit key, which is not in the database
    (docs/adr/008-audit-checkpoints.md); also appended to the exported checkpoint file."""

    #: 1, 2, 3 … without gaps: numbered under the chain's append lock, never by a sequence
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column()
    event_count: Mapped[int] = mapped_column()  #: events in the chain up to and with the head
    head_id: Mapped[int] = mapped_column(index=True)  #: AuditEvent.id of the head
    head_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(20))  #: "sign", "seal", "interval", "manual"
    key_id: Mapped[str] = mapped_column(String(64))  #: which audit key signed it
    signature: Mapped[str] = mapped_column(String(200))  #: Ed25519, base64


@event.listens_for(AuditCheckpoint, "before_update")
@event.listens_for(AuditCheckpoint, "before_delete")
def _refuse_checkpoint_change(_mapper: object, _conn: object, target: AuditCheckpoint) -> None:
    raise RuntimeError(f"audit checkpoint {target.seq} is append-only")
