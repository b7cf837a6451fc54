"""Staff accounts and districts: used by the admin UI and the `flask user` commands."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from formsvc.config import ROLES
from formsvc.extensions import db
from formsvc.models import District, User
from formsvc.services import audit, throttle
from formsvc.services.audit import Origin

#: The seven SIG districts of Stockholm (PRODUCT.md).
SIG_DISTRICTS = (
    "Enskede-Årsta-Vantör",
    "Farsta",
    "Hässelby-Vällingby",
    "Rinkeby-Kista",
    "Skarpnäck",
    "Skärholmen",
    "Spånga-Tensta",
)
MIN_PASSWORD = 10


class UserError(ValueError):
    """A user operation was refused; str(err) is a Swedish sentence."""


def password_problem(password: str) -> str | None:
    """A Swedish reason why *password* is too weak, or None."""
    if len(password) < MIN_PASSWORD:
        return f"Lösenordet måste ha minst {MIN_PASSWORD} tecken."
    if len(password) > 256:
        return "Lösenordet får ha högst 256 tecken."
    return None


def find(username: str) -> User | None:
    """Look up a user by user name, case-insensitively."""
    return db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))


def create_user(
    *,
    username: str,
    full_name: str,
    role: str,
    password: str,
    district_id: int | None,
    email: str = "",
    title: str = "",
    phone: str = "",
    actor: User | None = None,
) -> User:
    """Create an account; caseworkers and managers need a district."""
    if role not in ROLES:
        raise UserError(f"Okänd roll: {role}")
    if role in ("caseworker", "manager") and district_id is None:
        raise UserError("Handläggare och arbetsledare måste höra till en stadsdel.")
    if find(username) is not None:
        raise UserError(f"Användarnamnet {username} är upptaget.")
    problem = password_problem(password)
    if problem:
        raise UserError(problem)
    user = User(
        username=username,
        full_name=full_name,
        role=role,
        district_id=district_id,
        email=email,
        title=title,
        phone=phone,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    _log("user_create", user, actor, {"role": role, "district_id": district_id})
    db.session.commit()
    return user


def update_user(
    user: User,
    *,
    role: str,
    district_id: int | None,
    active: bool,
    full_name: str,
    email: str,
    title: str,
    phone: str,
    actor: User | None,
) -> User:
    """Change role, district, details or active state."""
    if role not in ROLES:
        raise UserError(f"Okänd roll: {role}")
    if role in ("caseworker", "manager") and district_id is None:
        raise UserError("Handläggare och arbetsledare måste höra till en stadsdel.")
    if actor is not None and actor.id == user.id and (not active or role != "admin"):
        raise UserError("Du kan inte inaktivera eller ta bort administratörsrollen från dig själv.")
    if (role, district_id, active) != (user.role, user.district_id, user.active):
        user.end_sessions()  # what the user may see changed: they sign in again
    user.role, user.district_id, user.active = role, district_id, active
    user.full_name, user.email, user.title, user.phone = full_name, email, title, phone
    _log("user_update", user, actor, {"role": role, "district_id": district_id, "active": active})
    db.session.commit()
    return user


def reset_password(user: User, *, actor: User | None, password: str | None = None) -> str:
    """Set a new (given or random) password the user must change at next login; returns it."""
    if user.sso_provider is not None:
        # an SSO account signs in at its IdP: a password here would be a second, unmanaged way in
        raise UserError(
            f"{user.username} loggar in via inloggningstjänsten {user.sso_provider} och har "
            "inget lösenord här."
        )
    new = password or secrets.token_urlsafe(12)
    problem = password_problem(new)
    if problem:
        raise UserError(problem)
    user.set_password(new)
    user.must_change_password = True
    user.end_sessions()
    throttle.forget(user)  # a locked-out user logs in with the new password at once
    _log("password_reset", user, actor, {})
    db.session.commit()
    return new


def change_password(
    user: User, current: str, new: str, *, origin: Origin, policy: throttle.Policy
) -> None:
    """The user changes their own password; the current one is checked within the limits on
    password attempts (throttle.PasswordRefused when wrong or locked)."""
    throttle.require_password(
        user,
        current,
        origin=origin,
        policy=policy,
        failure=throttle.Failure.of_user("password_change_failed", user),
    )
    problem = password_problem(new)
    if problem:
        raise UserError(problem)
    user.set_password(new)
    user.must_change_password = False
    user.end_sessions()  # every other session; the view signs this one in again
    _log("password_change", user, user, {})
    db.session.commit()


def create_district(name: str, *, actor: User | None) -> District:
    """Add a district; names are unique."""
    name = name.strip()
    if not name:
        raise UserError("Ange stadsdelens namn.")
    if db.session.scalar(select(District).where(District.name == name)):
        raise UserError(f"Stadsdelen {name} finns redan.")
    d = District(name=name)
    db.session.add(d)
    db.session.flush()
    audit.record(
        "district_create",
        actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else "system",
        object_type="district",
        object_id=d.id,
        details={"name": name},
    )
    db.session.commit()
    return d


def update_district(d: District, *, name: str, active: bool, actor: User | None) -> District:
    """Rename or (de)activate a district."""
    name = name.strip()
    other = db.session.scalar(select(District).where(District.name == name, District.id != d.id))
    if not name or other:
        raise UserError("Namnet saknas eller används redan av en annan stadsdel.")
    d.name, d.active = name, active
    audit.record(
        "district_update",
        actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else "system",
        object_type="district",
        object_id=d.id,
        details={"name": name, "active": active},
    )
    db.session.commit()
    return d


def districts(active_only: bool = False) -> list[District]:
    """All districts by name."""
    q = select(District).order_by(District.name)
    if active_only:
        q = q.where(District.active.is_(True))
    return list(db.session.scalars(q))


def _log(action: str, user: User, actor: User | None, details: dict) -> None:
    audit.record(
        action,
        actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else "system",
        object_type="user",
        object_id=user.id,
        district_id=user.district_id,
        details=details,
    )


#: Demo accounts: user name, full name, role, title; the caseworker/manager get a district.
DEMO_USERS = (
    ("handlaggare", "Karin Lind", "caseworker", "Lots/samordnare"),
    ("arbetsledare", "Omar Haddad", "manager", "Enhetschef"),
    ("sakerhet", "Eva Strand", "security_officer", "Säkerhetsstrateg"),
    ("analytiker", "Jonas Berg", "analyst", "Utredare"),
    ("admin", "Lena Ek", "admin", "Systemförvaltare"),
)


def seed_demo(password: str) -> list[str]:
    """Create the seven SIG districts and one demo user per role, keeping what already exists."""
    created: list[str] = []
    for name in SIG_DISTRICTS:
        if not db.session.scalar(select(District).where(District.name == name)):
            create_district(name, actor=None)
            created.append(name)
    home = db.session.scalar(select(District).where(District.name == "Rinkeby-Kista"))
    for username, full_name, role, title in DEMO_USERS:
        if find(username) is None:
            create_user(
                username=username,
                full_name=full_name,
                role=role,
                password=password,
                district_id=home.id if role in ("caseworker", "manager") else None,
                email=f"{username}@formsvc.example",
                title=title,
                phone="08-508 000 00",
            )
            created.append(username)
    # a second district's caseworker, so the district boundary can be tried in the demo
    if find("handlaggare2") is None:
        farsta = db.session.scalar(select(District).where(District.name == "Farsta"))
        create_user(
            username="handlaggare2",
            full_name="Ali Yusuf",
            role="caseworker",
            password=password,
            district_id=farsta.id,
            email="handlaggare2@formsvc.example",
            title="Socialsekreterare",
        )
        created.append("handlaggare2")
    return created
