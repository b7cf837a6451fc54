"""Password checks under limits, shared by every instance (docs/adr/011-login-throttling.md).

Two counters, both rows of ``login_throttle``:

- per user name: every attempt is counted *before* the password is checked (one atomic UPDATE),
  so parallel guesses from many addresses cannot slip past the limit; a right password deletes
  the row. From the ``account_failures``-th failure on the name is locked, for ``lockout``, then
  twice as long after each further failure, up to ``lockout_max``. Unknown user names are counted
  and locked exactly like real ones, so the answers tell nothing about which accounts exist.
- per client address: only failures count; ``address_failures`` of them within
  ``address_window`` lock the address for that window. A right password does not reset it
  (an attacker with one account of their own could otherwise reset it between guesses).

The login, the password change, the in-person unlock and signing with the staff password all
go through :func:`check_password`, so each failure is counted and audited the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, and_, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from formsvc.extensions import db
from formsvc.models import LoginThrottle, User
from formsvc.models._base import utcnow
from formsvc.services import audit
from formsvc.services.audit import Origin

ACCOUNT = "account:"
ADDRESS = "address:"
_T = LoginThrottle.__table__


@dataclass(frozen=True)
class Policy:
    """The limits; see the LOGIN_* settings in formsvc/config.py."""

    account_failures: int  #: failed passwords for one user name before it is locked
    address_failures: int  #: failures from one address within the window before it is locked
    address_window: timedelta  #: that window, and how long the address then stays locked
    lockout: timedelta  #: the first lockout of a user name; each further failure doubles it
    lockout_max: timedelta  #: the longest lockout
    memory: timedelta  #: a user name's failures are forgotten after this long without one

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Policy:
        """The policy from the app's settings."""

        def seconds(name: str) -> timedelta:
            return timedelta(seconds=max(0.0, float(settings[name])))

        return cls(
            account_failures=max(1, int(settings["LOGIN_ACCOUNT_FAILURES"])),
            address_failures=max(1, int(settings["LOGIN_ADDRESS_FAILURES"])),
            address_window=seconds("LOGIN_ADDRESS_WINDOW_SECONDS"),
            lockout=seconds("LOGIN_LOCKOUT_SECONDS"),
            lockout_max=seconds("LOGIN_LOCKOUT_MAX_SECONDS"),
            memory=seconds("LOGIN_FAILURE_MEMORY_SECONDS"),
        )

    def lockout_after(self, failures: int) -> timedelta:
        """How long a user name stays locked after its *failures*-th failure in a row."""
        if failures < self.account_failures:
            return timedelta(0)
        doublings = min(failures - self.account_failures, 40)
        # in float seconds: a long first lockout doubled 40 times is past timedelta's range
        seconds = self.lockout.total_seconds() * 2.0**doublings
        return min(self.lockout_max, timedelta(seconds=min(seconds, 1e9)))


@dataclass(frozen=True)
class Failure:
    """How a failed check is written to the audit log; the place knows what it is about."""

    action: str  #: e.g. "login_failed", "password_change_failed", "sign_password_failed"
    object_type: str = "user"
    object_id: object = None
    district_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_user(cls, action: str, user: User | None) -> Failure:
        """A failure about the account itself (login, password change)."""
        return cls(
            action,
            object_id=user.id if user else None,
            district_id=user.district_id if user else None,
        )


@dataclass(frozen=True)
class Outcome:
    """What one password check came to."""

    ok: bool  #: the password was checked and is right
    refused: bool = False  #: nothing was checked: the user name or the address is locked
    by_address: bool = False  #: refused because of the address, not the user name
    retry_after: timedelta = timedelta(0)  #: until the next try can be checked; 0: at once

    @property
    def minutes(self) -> int:
        """*retry_after* in whole minutes, rounded up (at least 1 when locked)."""
        return max(1, -(-int(self.retry_after.total_seconds()) // 60))


class PasswordRefused(Exception):
    """A service refused because the current password was wrong or could not be checked."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__("password refused")
        self.outcome = outcome


def account_key(username: str) -> str:
    """The row of a user name: the same for every spelling that logs in to one account."""
    return (ACCOUNT + username.lower())[:120]


def address_key(ip: str) -> str:
    return (ADDRESS + (ip or "-"))[:120]


def check_password(
    user: User | None,
    username: str,
    password: str,
    *,
    origin: Origin,
    policy: Policy,
    failure: Failure,
    now: datetime | None = None,
) -> Outcome:
    """Check *password* for *user* (None: the typed *username* is unknown) within the limits.

    Counts and audits every failure (as *failure*) and every lockout; a right password resets
    the user name's count. Commits."""
    now = now or utcnow()
    address = address_key(origin.ip)
    until = _locked_until(address, now)
    if until is not None:
        return Outcome(ok=False, refused=True, by_address=True, retry_after=until - now)
    account = account_key(user.username if user else username)
    count = _claim(account, now, policy)
    db.session.commit()  # the attempt is counted before the password is looked at
    if count is None:  # locked: no password is checked, whoever asks
        until = _locked_until(account, now) or now
        _failed(user, username, failure, {"refused": "locked"}, origin, address, now, policy)
        db.session.commit()
        return Outcome(ok=False, refused=True, retry_after=until - now)
    # an unknown or deactivated name costs one verification too, so timing tells nothing
    ok = user.check_password(password) and user.active if user else False
    if user is None:
        User.burn_verification(password)
    if ok:
        db.session.execute(delete(_T).where(_T.c.key == account))
        db.session.commit()
        return Outcome(ok=True)
    wait = policy.lockout_after(count)
    _failed(user, username, failure, {"failures": count}, origin, address, now, policy)
    if wait:
        audit.record(
            "account_locked",
            actor_id=user.id if user else None,
            actor_label=_label(user, username),
            object_type="user",
            object_id=user.id if user else None,
            district_id=user.district_id if user else None,
            details={"failures": count, "seconds": int(wait.total_seconds()), "at": failure.action},
            origin=origin,
        )
    _prune(now, policy)
    db.session.commit()
    return Outcome(ok=False, retry_after=wait)


def require_password(user: User, password: str, **kwargs: Any) -> None:
    """:func:`check_password` for a logged-in user; raises PasswordRefused unless right."""
    outcome = check_password(user, user.username, password, **kwargs)
    if not outcome.ok:
        raise PasswordRefused(outcome)


def locked_names(now: datetime | None = None) -> dict[str, datetime]:
    """User names (lower case) locked now, with the time each lockout ends."""
    now = now or utcnow()
    rows = db.session.execute(
        select(_T.c.key, _T.c.locked_until).where(
            _T.c.key.startswith(ACCOUNT), _T.c.locked_until > now
        )
    )
    return {key.removeprefix(ACCOUNT): until for key, until in rows}


def unlock(user: User, *, actor: User | None, origin: Origin | None = None) -> bool:
    """Forget the failures of *user*'s name (an administrator lifts a lockout); audited. Commits.

    Returns whether the name was locked."""
    was_locked = user.username.lower() in locked_names()
    forget(user)
    audit.record(
        "account_unlocked",
        actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else "system",
        object_type="user",
        object_id=user.id,
        district_id=user.district_id,
        details={"was_locked": was_locked},
        origin=origin,
    )
    db.session.commit()
    return was_locked


def forget(user: User) -> None:
    """Drop the failure count of *user*'s name, in the caller's transaction."""
    db.session.execute(delete(_T).where(_T.c.key == account_key(user.username)))


# --------------------------------------------------------------------------- the counters


def _label(user: User | None, username: str) -> str:
    return user.username if user else username[:80]


def _failed(
    user: User | None,
    username: str,
    failure: Failure,
    details: dict[str, Any],
    origin: Origin,
    address: str,
    now: datetime,
    policy: Policy,
) -> None:
    audit.record(
        failure.action,
        actor_id=user.id if user else None,
        actor_label=_label(user, username),
        object_type=failure.object_type,
        object_id=failure.object_id,
        district_id=failure.district_id,
        details={**failure.details, **details},
        origin=origin,
    )
    if _count_address_failure(address, now, policy) == policy.address_failures:
        audit.record(
            "address_locked",
            actor_id=None,
            actor_label=origin.ip or "-",
            object_type="address",
            object_id=(origin.ip or "-")[:64],
            details={
                "failures": policy.address_failures,
                "seconds": int(policy.address_window.total_seconds()),
            },
            origin=origin,
        )


def _at(value: datetime) -> ColumnElement[Any]:
    return literal(value, DateTime())


def _ensure(key: str, now: datetime) -> None:
    """The row of *key* exists (created with no failures); safe under concurrency."""
    dialect = db.engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(
        insert(_T)
        .values(key=key, failures=0, first_failure_at=now, last_failure_at=now, locked_until=None)
        .on_conflict_do_nothing(index_elements=["key"])
    )


def _locked_until(key: str, now: datetime) -> datetime | None:
    until = db.session.scalar(select(_T.c.locked_until).where(_T.c.key == key))
    return until if until is not None and until > now else None


def _claim(key: str, now: datetime, policy: Policy) -> int | None:
    """Count one attempt for a user name in one atomic UPDATE: the attempt's number in the
    current run of failures, or None when the name is locked (then nothing changes)."""
    _ensure(key, now)
    quiet = func.coalesce(_T.c.locked_until, _T.c.last_failure_at) < _at(now - policy.memory)
    number = case((quiet, 1), else_=_T.c.failures + 1)
    # the lockout this attempt starts should it fail, decided in the same statement, so that a
    # parallel attempt sees it at once
    first = policy.account_failures
    steps = [
        (number == first + i, _at(now + policy.lockout_after(first + i)))
        for i in range(41)
        if i == 0 or policy.lockout_after(first + i - 1) < policy.lockout_max
    ]
    lock = case(*steps, (number > first, _at(now + policy.lockout_max)), else_=None)
    row = db.session.execute(
        update(_T)
        .where(_T.c.key == key, or_(_T.c.locked_until.is_(None), _T.c.locked_until <= _at(now)))
        .values(
            failures=number,
            first_failure_at=case((quiet, _at(now)), else_=_T.c.first_failure_at),
            last_failure_at=now,
            locked_until=lock,
        )
        .returning(_T.c.failures)
    ).first()
    return None if row is None else int(row[0])


def _count_address_failure(key: str, now: datetime, policy: Policy) -> int:
    """Add one failure to an address; returns its number within the current window."""
    _ensure(key, now)
    over = and_(
        _T.c.first_failure_at < _at(now - policy.address_window),
        or_(_T.c.locked_until.is_(None), _T.c.locked_until <= _at(now)),
    )
    number = case((over, 1), else_=_T.c.failures + 1)
    row = db.session.execute(
        update(_T)
        .where(_T.c.key == key)
        .values(
            failures=number,
            first_failure_at=case((over, _at(now)), else_=_T.c.first_failure_at),
            last_failure_at=now,
            locked_until=case(
                (number >= policy.address_failures, _at(now + policy.address_window)),
                else_=_T.c.locked_until,
            ),
        )
        .returning(_T.c.failures)
    ).first()
    return int(row[0]) if row else 0


def _prune(now: datetime, policy: Policy) -> None:
    """Rows with nothing locked and no failure to remember are deleted."""
    keep = max(policy.memory, policy.address_window)
    db.session.execute(
        delete(_T).where(
            _T.c.last_failure_at < _at(now - keep),
            or_(_T.c.locked_until.is_(None), _T.c.locked_until < _at(now - keep)),
        )
    )
