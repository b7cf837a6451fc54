"""A person a SIG works with: only what is needed to fill forms and know who signs."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from formsvc.extensions import db
from formsvc.models._base import utcnow
from formsvc.models.district import District

#: Target groups of the guidance, with their age ranges.
TARGET_GROUPS = ("sig_unga", "sig_unga_vuxna")
#: The ages (inclusive) each target group is meant for, as the guidance names them.
TARGET_AGES = {"sig_unga": (12, 20), "sig_unga_vuxna": (19, 29)}


class Participant(db.Model):
    #: one record per person and district: two would give two answers to "who may we share with"
    __table_args__ = (
        UniqueConstraint("district_id", "id_number", name="uq_participant_district_id_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200))
    #: "personnummer", "samordningsnummer" or "birth_date"
    id_kind: Mapped[str] = mapped_column(String(20))
    #: normalised long form YYYYMMDD-NNNN, or None when only a birth date is known
    id_number: Mapped[str | None] = mapped_column(String(13), index=True)
    birth_date: Mapped[date] = mapped_column()
    target_group: Mapped[str] = mapped_column(String(20))
    protected_identity: Mapped[bool] = mapped_column(default=False)
    #: a legal hold keeps every document of the participant from retention
    legal_hold: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    district: Mapped[District] = relationship()
    assignments: Mapped[list[ParticipantAssignment]] = relationship(
        back_populates="participant", cascade="all, delete-orphan"
    )

    def is_assigned(self, user_id: int) -> bool:
        """True when *user_id* is one of the participant's assigned staff."""
        return any(a.user_id == user_id for a in self.assignments)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def age_on(self, day: date) -> int:
        """Age in whole years on *day*."""
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday

    @property
    def masked_id(self) -> str:
        """Identity number with the last four digits hidden, for lists."""
        if self.id_number:
            return self.id_number[:9] + "****"
        return self.birth_date.isoformat()


class ParticipantAssignment(db.Model):
    """Staff assigned to a participant (the creator at first); narrows access to 3.3."""

    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    participant: Mapped[Participant] = relationship(back_populates="assignments")
