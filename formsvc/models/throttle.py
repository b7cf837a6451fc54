"""Failed password attempts, per user name and per client address (docs/adr/011).

Kept in the database, not in the memory of one process, so that every instance of the service
counts the same failures and a lockout holds whichever machine the next request reaches.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from formsvc.extensions import db


class LoginThrottle(db.Model):
    __tablename__ = "login_throttle"

    #: "account:<user name, lower case>" or "address:<client address>"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    #: failures counted since the count last started again
    failures: Mapped[int] = mapped_column(default=0)
    first_failure_at: Mapped[datetime] = mapped_column()
    #: old rows (nothing locked, nothing recent) are deleted by this column
    last_failure_at: Mapped[datetime] = mapped_column(index=True)
    #: no password is checked for the key before this time (naive UTC)
    locked_until: Mapped[datetime | None] = mapped_column()
