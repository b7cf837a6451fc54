"""A staff account."""

from __future__ import annotations

import contextlib
from datetime import datetime

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from formsvc.extensions import db
from formsvc.models._base import utcnow
from formsvc.models.district import District

_hasher = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
#: Verifying against this keeps the time of a login with an unknown user name like a real one.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def configure_hasher(profile: str) -> None:
    """Choose argon2 parameters: "RFC_9106_LOW_MEMORY" (default) or "CHEAPEST" (tests only)."""
    global _hasher, _DUMMY_HASH
    params = getattr(profiles, profile)
    if _hasher.time_cost != params.time_cost or _hasher.memory_cost != params.memory_cost:
        _hasher = PasswordHasher.from_parameters(params)
        _DUMMY_HASH = _hasher.hash("not-a-real-password")


class User(UserMixin, db.Model):
    __table_args__ = (UniqueConstraint("sso_provider", "sso_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    title: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(32))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    #: raised to end every session of the user (logout, password change or reset, deactivation,
    #: role change): a session carries the version it was opened with (see get_id)
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    #: single sign-on (docs/adr/017): the SSO_PROVIDERS name the account signs in through and
    #: its stable id there (OIDC ``sub``, SAML NameID); None for a local (password) account
    sso_provider: Mapped[str | None] = mapped_column(String(40))
    sso_subject: Mapped[str | None] = mapped_column(String(255))
    #: the last SSO login; the role and district were set from the IdP's claims at that moment
    sso_login_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    district: Mapped[District | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """What the session cookie holds: the id and the session version ("12:3"); a cookie
        with an older version no longer logs anyone in (formsvc.views.load_user)."""
        return f"{self.id}:{self.session_version or 0}"

    def end_sessions(self) -> None:
        """Every session of this user stops working at its next request, on every instance."""
        self.session_version = (self.session_version or 0) + 1

    def set_password(self, password: str) -> None:
        """Store an argon2id hash of *password*."""
        self.password_hash = _hasher.hash(password)

    def check_password(self, password: str) -> bool:
        """True when *password* matches; rehashes transparently when parameters changed."""
        try:
            _hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if _hasher.check_needs_rehash(self.password_hash):
            self.set_password(password)
        return True

    @staticmethod
    def burn_verification(password: str) -> None:
        """Spend the time of one verification so unknown users cannot be told apart by timing."""
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"
