"""Closed statistics periods and the changes made to their follow-ups afterwards (issue 17).

A closed period keeps a frozen, de-identified copy of what the follow-up report reads, so the
report of that period never changes; see formsvc/services/periods.py for the rules.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from formsvc.extensions import db
from formsvc.models._base import utcnow


class ClosedPeriod(db.Model):
    """A period (both days included) whose follow-up report was closed: frozen and locked."""

    __tablename__ = "closed_period"
    # one closed period per dates and scope, even when two requests close it at the same moment
    __table_args__ = (UniqueConstraint("scope", "start_on", "end_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    start: Mapped[date] = mapped_column("start_on")
    end: Mapped[date] = mapped_column("end_on")
    #: "city", or "district:<id>" (a column that is never NULL, so the unique constraint holds)
    scope: Mapped[str] = mapped_column(String(40))
    #: the district closed, None for the whole city
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"))
    closed_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    #: who closed it, as the pages and the export show it (outlives the user account)
    closed_by: Mapped[str] = mapped_column(String(200))
    #: the de-identified people the report reads, as JSON (services/periods.snapshot)
    snapshot: Mapped[list[Any]] = mapped_column(JSON)
    #: SHA-256 of the snapshot in canonical JSON, also in the audit log's close event
    snapshot_sha256: Mapped[str] = mapped_column(String(64))

    @property
    def people(self) -> list[Any]:
        """The snapshot as statistics.report(query, people=...) reads it."""
        from formsvc.services.periods import people_of  # the service reads the model, not back

        return people_of(self)


class PeriodCorrection(db.Model):
    """A follow-up changed after a period it counts in was closed: a correction or a late entry."""

    __tablename__ = "period_correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    closed_period_id: Mapped[int] = mapped_column(ForeignKey("closed_period.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("document.id"), index=True)
    #: the document version the change saved
    version: Mapped[int] = mapped_column()
    #: "correction" (an edit, with a reason) or "late_entry" (a new follow-up in the period)
    kind: Mapped[str] = mapped_column(String(20))
    #: why the correction was made (required for a correction; empty for a late entry)
    reason: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_by: Mapped[str] = mapped_column(String(200))
