"""Single sign-on: the administrator's claim → role/district rules, and consumed assertions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from formsvc.extensions import db
from formsvc.models._base import utcnow
from formsvc.models.district import District


class SsoMappingRule(db.Model):
    """If the IdP says *claim* contains *value*, the account gets *role* (in *district*).

    Rules from instance config come first and cannot be edited here; these are the
    administrator's, in ``priority`` order (then id); the first match wins."""

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))  #: an SSO_PROVIDERS name, or "*"
    claim: Mapped[str] = mapped_column(String(120))  #: e.g. "groups"
    value: Mapped[str] = mapped_column(String(255))  #: e.g. a group's object id
    role: Mapped[str] = mapped_column(String(32))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"))
    priority: Mapped[int] = mapped_column(default=100)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    district: Mapped[District | None] = relationship()


class SsoSeen(db.Model):
    """A SAML assertion id or OIDC nonce already accepted: a second use is a replay.

    Kept until it would have expired anyway; shared by every instance through the database."""

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
