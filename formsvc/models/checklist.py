"""Checklist items (2.1, 2.2, 2.3, district checklist): data an administrator edits, not code."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from formsvc.extensions import db
from formsvc.models._base import utcnow


class ChecklistItem(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    checklist: Mapped[str] = mapped_column(String(40), index=True)  #: e.g. "security_general"
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)  #: retired items stay for old documents
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
