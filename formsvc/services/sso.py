"""Staff single sign-on: from an identity the IdP vouched for to a staff account (docs/adr/017).

No HTTP here: the OpenID Connect relying party (services/oidc.py) and the SAML service provider
(services/saml.py) check what the IdP sent and hand over an :class:`Identity`; this module binds
it to an account by (provider, subject), creates the account just in time, sets its role and
district from the mapping rules (services/sso_mappings.py) on every login and audits it all.

What happens when the rules no longer give an account a role is decided here (ADR 017): the
account is deactivated and every session of it ended, so it drops out of its district's staff
lists as a deactivated local account does; it stays deactivated until an administrator
reactivates it, even if the IdP gives the group back.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from formsvc.config import ROLES
from formsvc.extensions import db
from formsvc.models import User
from formsvc.models._base import utcnow
from formsvc.services import audit, sso_mappings, users
from formsvc.services.audit import Origin

if TYPE_CHECKING:
    from formsvc.services import oidc

PROTOCOLS = ("oidc", "saml")
#: A provider's name is in URLs (/sso/<name>/login) and in User.sso_provider (40 characters).
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
#: What no password hash can be: argon2 refuses it, so no password ever opens an SSO account.
UNUSABLE_PASSWORD_HASH = "!sso"  # noqa: S105 - not a secret: a hash no password has
#: The session keys (SSO.md): the login's provider and what logout needs; a fresh
#: re-authentication for a staff signature.
SESSION_LOGIN = "formsvc.sso"
SESSION_REAUTH = "formsvc.sso_reauth"
#: Default claim names of an OIDC provider (Entra ID and most IdPs send these).
DEFAULT_CLAIMS = {"username": "preferred_username", "name": "name", "email": "email"}
#: Clock difference between the IdP and us tolerated on auth_time.
SKEW = timedelta(seconds=60)
#: control, format (zero-width, bidi), surrogate, private-use, unassigned, line/paragraph sep.
_INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
#: Audit details keep at most this much of what an IdP sent.
_AUDIT_VALUES, _AUDIT_CHARS = 20, 100


class SsoConfigError(ValueError):
    """SSO_PROVIDERS is malformed; the app refuses to start (str(err) names the entry)."""


class SsoRefused(Exception):
    """A sign-in was refused: *message* for the person (Swedish), *reason* for the audit log."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(reason)
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class ProviderConfig:
    """One validated SSO_PROVIDERS entry."""

    name: str  #: the key in SSO_PROVIDERS, as in /sso/<name>/login
    protocol: str  #: "oidc" | "saml"
    label: str  #: shown on the login button, e.g. "Stockholms stad (Entra ID)"
    conf: Mapping[str, Any]  #: the entry as configured, for the protocol's module


@dataclass(frozen=True)
class Identity:
    """Who the IdP says signed in, after the protocol's checks."""

    provider: str  #: the SSO_PROVIDERS name
    protocol: str  #: "oidc" | "saml"
    issuer: str  #: the IdP's issuer / entity id
    subject: str  #: its stable id for the person (OIDC sub, SAML NameID or a chosen attribute)
    username: str | None
    full_name: str
    email: str
    #: every claim/attribute, multi-valued, as strings (what the mapping rules look at)
    attributes: Mapping[str, tuple[str, ...]]
    auth_time: datetime | None  #: when the person authenticated at the IdP (aware, UTC)
    acr: str | None  #: the authentication context class (level of assurance)
    #: what single logout needs: {"id_token": ...} or {"name_id": ..., "session_index": ...}
    logout_hint: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- configuration


def providers(settings: Mapping[str, Any]) -> dict[str, ProviderConfig]:
    """SSO_PROVIDERS checked, in configured order; raises SsoConfigError when malformed."""
    configured = settings.get("SSO_PROVIDERS") or {}
    if not isinstance(configured, Mapping):
        raise SsoConfigError("SSO_PROVIDERS ska vara en ordlista: namn → inställningar.")
    out: dict[str, ProviderConfig] = {}
    for name, conf in configured.items():
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise SsoConfigError(
                f"SSO_PROVIDERS: namnet {name!r} ska vara 1–40 tecken a–z, 0–9, - eller _."
            )
        if not isinstance(conf, Mapping):
            raise SsoConfigError(f"SSO_PROVIDERS[{name!r}] ska vara en ordlista.")
        protocol = conf.get("type")
        if protocol not in PROTOCOLS:
            raise SsoConfigError(f'SSO_PROVIDERS[{name!r}]["type"] ska vara "oidc" eller "saml".')
        if protocol == "oidc":
            if not conf.get("client_id"):
                raise SsoConfigError(f'SSO_PROVIDERS[{name!r}] saknar "client_id".')
            if not (conf.get("server_metadata_url") or conf.get("issuer")):
                raise SsoConfigError(
                    f'SSO_PROVIDERS[{name!r}] saknar "server_metadata_url" (eller "issuer").'
                )
        elif not (conf.get("idp_metadata_file") or conf.get("idp_metadata_url")):
            raise SsoConfigError(
                f'SSO_PROVIDERS[{name!r}] saknar "idp_metadata_file" (eller "idp_metadata_url").'
            )
        label = conf.get("label") or name
        if not isinstance(label, str):
            raise SsoConfigError(f'SSO_PROVIDERS[{name!r}]["label"] ska vara text.')
        out[name] = ProviderConfig(name=name, protocol=protocol, label=label, conf=conf)
    return out


def local_login_allowed(settings: Mapping[str, Any], username: str) -> bool:
    """Whether *username* may sign in with a password: LOCAL_LOGIN, or a break-glass account."""
    if settings.get("LOCAL_LOGIN", True):
        return True
    wanted = username.strip().lower()
    return bool(wanted) and wanted in {
        str(u).lower() for u in settings.get("BREAK_GLASS_USERS") or ()
    }


# --------------------------------------------------------------------------- identities


def clean_text(value: object, limit: int) -> str:
    """*value* as one line of visible text: invisible and control characters dropped, any
    run of whitespace one space, NFC, at most *limit* characters."""
    text = unicodedata.normalize("NFC", value if isinstance(value, str) else str(value))
    kept = (
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE
    )
    return " ".join("".join(kept).split())[:limit].strip()


def _clean_email(value: object) -> str:
    email = clean_text(value or "", 254)
    local, at, domain = email.partition("@")
    if not (at and local and "." in domain) or " " in email or len(email) >= 254:
        return ""
    return email


def _as_strings(value: Any) -> tuple[str, ...]:
    """A claim as strings: a list is several values; an object is its JSON."""
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        elif item is not None:
            out.append(json.dumps(item, sort_keys=True, ensure_ascii=False))
    return tuple(out)


def identity_from_oidc(name: str, result: oidc.OidcResult, conf: Mapping[str, Any]) -> Identity:
    """The identity an OIDC login gave (the RP has checked the ID token)."""
    names = {**DEFAULT_CLAIMS, **(conf.get("claims") or {})}
    claims = result.claims
    attributes = {str(k): _as_strings(v) for k, v in claims.items()}

    def first(claim: str | None) -> str:
        values = attributes.get(claim or "", ())
        return values[0] if values else ""

    full_name = first(names["name"]) or " ".join(
        part for part in (first("given_name"), first("family_name")) if part
    )
    return Identity(
        provider=name,
        protocol="oidc",
        issuer=result.issuer,
        subject=result.subject,
        username=first(names["username"]) or None,
        full_name=full_name,
        email=first(names["email"]),
        attributes=attributes,
        auth_time=result.auth_time,
        acr=result.acr,
        logout_hint={"id_token": result.id_token},
    )


# --------------------------------------------------------------------------- signing in


def sign_in(identity: Identity, *, settings: Mapping[str, Any], origin: Origin) -> User:
    """The account *identity* signs in to: found by (provider, subject) or created now, its
    name, e-mail, role and district set from the IdP's claims and the mapping rules. Audits
    and commits; raises SsoRefused (also audited) when the login is not allowed."""
    try:
        return _sign_in(identity, settings, origin)
    except IntegrityError:
        # two first logins of one person at once: the other made the account; use it
        db.session.rollback()
        return _sign_in(identity, settings, origin)


def _sign_in(identity: Identity, settings: Mapping[str, Any], origin: Origin) -> User:
    provider = providers(settings).get(identity.provider)
    if provider is None:
        _refuse(identity, None, "unknown_provider", origin)
    subject = identity.subject
    if not subject or len(subject) > 255 or clean_text(subject, 255) != subject:
        _refuse(identity, None, "bad_subject", origin)
    user = db.session.scalar(
        select(User).where(User.sso_provider == identity.provider, User.sso_subject == subject)
    )
    if user is not None and not user.active:
        _refuse(identity, user, "deactivated", origin)
    rules = sso_mappings.rules(settings, identity.provider)
    rule = sso_mappings.resolve(rules, identity.attributes)
    if rule is None:
        matched = sso_mappings.match(rules, identity.attributes)
        if matched is not None:  # an administrator's mistake: refuse, keep the account as is
            why = {"rule": _rule_ref(matched), "problem": matched.problem}
            _refuse(identity, user, "mapping_broken", origin, why)
        missing = _missing_claims(rules, identity)
        if missing:  # the IdP did not say: refuse, keep the account as is (group overage)
            why = {"missing": missing, "seen": _seen(rules, identity)}
            _refuse(identity, user, "claims_missing", origin, why)
        if user is not None:
            _lose_access(user, identity, origin)
        _refuse(identity, user, "no_mapping", origin, {"seen": _seen(rules, identity)})
    if rule.role not in ROLES or (
        rule.role in sso_mappings.DISTRICT_ROLES and rule.district_id is None
    ):
        _refuse(identity, user, "mapping_broken", origin, {"rule": _rule_ref(rule)})
    full_name = clean_text(identity.full_name, 200) or clean_text(identity.username or "", 200)
    email = _clean_email(identity.email)
    if user is None:
        user = _create(identity, rule, full_name or subject[:200], email, origin)
    else:
        _update(user, identity, rule, full_name or user.full_name, email, origin)
    user.sso_login_at = utcnow()
    audit.record(
        "sso_login",
        actor_id=user.id,
        actor_label=user.username,
        object_type="user",
        object_id=user.id,
        district_id=user.district_id,
        details={
            "provider": identity.provider,
            "protocol": identity.protocol,
            "issuer": identity.issuer[:300],
            "subject": subject,
            "acr": (identity.acr or "")[:200] or None,
            "auth_time": _iso(identity.auth_time),
            "rule": _rule_ref(rule),
        },
        origin=origin,
    )
    db.session.commit()
    return user


def _create(
    identity: Identity, rule: sso_mappings.Rule, full_name: str, email: str, origin: Origin
) -> User:
    user = User(
        username=_free_username(identity),
        full_name=full_name,
        email=email,
        role=rule.role,
        district_id=rule.district_id,
        password_hash=UNUSABLE_PASSWORD_HASH,
        must_change_password=False,
        sso_provider=identity.provider,
        sso_subject=identity.subject,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "sso_account_created",
        actor_id=user.id,
        actor_label=user.username,
        object_type="user",
        object_id=user.id,
        district_id=user.district_id,
        details={
            "provider": identity.provider,
            "subject": identity.subject,
            "username": user.username,
            "role": user.role,
            "district_id": user.district_id,
            "rule": _rule_ref(rule),
        },
        origin=origin,
    )
    return user


def _update(
    user: User,
    identity: Identity,
    rule: sso_mappings.Rule,
    full_name: str,
    email: str,
    origin: Origin,
) -> None:
    before = _state(user)
    if (rule.role, rule.district_id) != (user.role, user.district_id):
        user.end_sessions()  # what the account may see changed: its other sessions end
    user.role, user.district_id = rule.role, rule.district_id
    user.full_name, user.email = full_name, email
    user.password_hash, user.must_change_password = UNUSABLE_PASSWORD_HASH, False
    after = _state(user)
    if before != after:
        audit.record(
            "sso_account_updated",
            actor_id=user.id,
            actor_label=user.username,
            object_type="user",
            object_id=user.id,
            district_id=user.district_id,
            details={
                "before": {k: v for k, v in before.items() if after[k] != v},
                "after": {k: v for k, v in after.items() if before[k] != v},
                "rule": _rule_ref(rule),
            },
            origin=origin,
        )


def _lose_access(user: User, identity: Identity, origin: Origin) -> None:
    """No rule gives the account a role any more: deactivated, every session ended."""
    user.active = False
    user.end_sessions()
    audit.record(
        "sso_account_updated",
        actor_id=user.id,
        actor_label=user.username,
        object_type="user",
        object_id=user.id,
        district_id=user.district_id,
        details={
            "before": {"active": True},
            "after": {"active": False},
            "reason": "no_mapping",
        },
        origin=origin,
    )


def _refuse(
    identity: Identity,
    user: User | None,
    reason: str,
    origin: Origin,
    details: Mapping[str, Any] | None = None,
) -> NoReturn:
    record_refusal(
        identity.provider,
        reason,
        origin=origin,
        user=user,
        subject=identity.subject,
        details=details,
    )
    raise SsoRefused(refusal_message(reason), reason)


def record_refusal(
    provider: str,
    reason: str,
    *,
    origin: Origin,
    user: User | None = None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Audit one refused SSO login or re-authentication (sso_refused) and commit."""
    label = user.username if user else f"{provider}:{clean_text(subject or '-', 120)}"
    audit.record(
        "sso_refused",
        actor_id=user.id if user else None,
        actor_label=clean_text(label, 200),
        object_type="user",
        object_id=user.id if user else None,
        district_id=user.district_id if user else None,
        details={
            "provider": clean_text(provider, 40),
            "reason": clean_text(reason, 200),
            **({"subject": clean_text(subject, 255)} if subject else {}),
            **(details or {}),
        },
        origin=origin,
    )
    db.session.commit()


def refusal_message(reason: str) -> str:
    """What the person is told about a refusal (Swedish source text)."""
    if reason == "deactivated":
        return _(
            "Ditt konto i formsvc är inaktiverat. Kontakta en administratör om du behöver "
            "tillgång igen."
        )
    if reason == "no_mapping":
        return _(
            "Du är inloggad hos stadens inloggningstjänst, men ingen av dina grupper ger "
            "tillgång till formsvc. Kontakta din chef eller en administratör."
        )
    if reason == "claims_missing":
        return _(
            "Inloggningen kunde inte slutföras: stadens inloggningstjänst skickade inte "
            "uppgiften om dina grupper (till exempel när du är med i väldigt många grupper). "
            "Ditt konto är oförändrat. Kontakta en administratör."
        )
    if reason == "mapping_broken":
        return _(
            "Inloggningen kunde inte slutföras: regeln som ska ge dig behörighet är felaktigt "
            "inställd. Kontakta en administratör."
        )
    if reason == "reauth_other_account":
        return _(
            "Du bekräftade med ett annat konto än det du är inloggad med. Bekräfta med ditt "
            "eget konto."
        )
    return _("Inloggningen kunde inte slutföras. Försök igen eller kontakta en administratör.")


#: What a just-in-time user name keeps: ASCII only, like local names (forms/staff.py), plus "@"
#: of a UPN. Nothing is transliterated: a look-alike letter (Cyrillic "а", Greek "ο") is dropped,
#: never turned into the Latin letter it imitates.
_USERNAME_DROP = re.compile(r"[^a-z0-9._@-]+")


def _ascii_name(value: str) -> str:
    """*value* after NFKC (full-width "ａ" is "a"), lower-cased, with every character outside
    [a-z0-9._@-] dropped."""
    return _USERNAME_DROP.sub("", unicodedata.normalize("NFKC", value).lower())[:80]


def _free_username(identity: Identity) -> str:
    """The IdP's user name for a new account, in ASCII; never one another account has (a local
    account is never taken over by name: binding is by provider and subject only)."""
    provider = identity.provider
    raw = identity.username or _clean_email(identity.email).partition("@")[0]
    base = _ascii_name(raw)
    if not base.strip("._@-"):
        subject = _ascii_name(identity.subject)
        if not subject or len(subject) > 40 or subject != identity.subject.lower():
            subject = hashlib.sha256(identity.subject.encode()).hexdigest()[:10]
        base = f"{provider}-{subject}"
    candidates = [base, f"{base[: 79 - len(provider)]}.{provider}"]
    candidates += [f"{base[:70]}.{provider[:5]}{n}" for n in range(2, 100)]
    for candidate in candidates:
        if users.find(candidate) is None:
            return candidate
    return f"{provider}-{utcnow():%Y%m%d%H%M%S%f}"[:80]


def _missing_claims(rules: list[sso_mappings.Rule], identity: Identity) -> list[str]:
    """The claims the rules look at that the IdP did not send, or sent only by reference.

    Entra ID leaves `groups` out of the token of a member of too many groups and points at
    Microsoft Graph instead (`_claim_names`/`_claim_sources`, `hasgroups`; in SAML the
    `.../claims/groups.link` attribute); a broken claim configuration at the IdP drops it
    altogether. Neither says the person lost the group, so neither may deactivate an account."""
    attributes = identity.attributes
    referenced: set[str] = set()
    for name in ("_claim_names", "_claim_sources"):
        for value in attributes.get(name, ()):
            try:
                held = json.loads(value)
            except ValueError:
                held = value
            if isinstance(held, dict):
                referenced.update(str(k) for k in held)
                referenced.update(str(k) for v in held.values() if isinstance(v, dict) for k in v)
            elif isinstance(held, str):
                referenced.add(held)
    if any(v.lower() == "true" for v in attributes.get("hasgroups", ())):
        referenced.add("groups")
    if any(name.lower().endswith("/claims/groups.link") for name in attributes):
        referenced.add("groups")
    wanted = sorted({r.claim for r in rules if r.claim})
    out = []
    for claim in wanted:
        plain = claim.rsplit("/", 1)[-1]
        if claim not in attributes or claim in referenced or plain in referenced:
            out.append(clean_text(claim, _AUDIT_CHARS))
    return out[:_AUDIT_VALUES]


def _state(user: User) -> dict[str, Any]:
    return {
        "role": user.role,
        "district_id": user.district_id,
        "full_name": user.full_name,
        "email": user.email,
    }


def _rule_ref(rule: sso_mappings.Rule) -> dict[str, Any]:
    return {"source": rule.source, "id": rule.id, "position": rule.priority}


def _seen(rules: list[sso_mappings.Rule], identity: Identity) -> dict[str, list[str]]:
    """The values of the claims the rules look at, bounded: why nothing matched."""
    out = {}
    for claim in sorted({r.claim for r in rules if r.claim})[:_AUDIT_VALUES]:
        values = identity.attributes.get(claim, ())
        out[claim] = [clean_text(v, _AUDIT_CHARS) for v in values[:_AUDIT_VALUES]]
    return out


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- re-authentication


def remember_reauth(session: MutableMapping[str, Any], user: User, identity: Identity) -> None:
    """Keep a re-authentication at the IdP for *user*'s next signature; raises SsoRefused
    when the IdP signed in someone else than the account."""
    if (identity.provider, identity.subject) != (user.sso_provider, user.sso_subject):
        raise SsoRefused(refusal_message("reauth_other_account"), "reauth_other_account")
    session[SESSION_REAUTH] = {
        "user": user.id,
        "provider": identity.provider,
        "protocol": identity.protocol,
        "issuer": identity.issuer[:300],
        "subject": identity.subject,
        "username": clean_text(identity.username or user.username, 200),
        "loa": (identity.acr or "")[:200] or None,
        "auth_time": _iso(identity.auth_time),
    }


def fresh_reauth(
    session: Mapping[str, Any], user: User, settings: Mapping[str, Any], now: datetime | None = None
) -> dict[str, Any] | None:
    """The proof {"kind": "sso", ...} of *user*'s re-authentication at the IdP, if it was
    made within SSO_REAUTH_SECONDS (by the IdP's auth_time); None otherwise."""
    kept = session.get(SESSION_REAUTH)
    if not isinstance(kept, Mapping) or kept.get("user") != user.id:
        return None
    if (kept.get("provider"), kept.get("subject")) != (user.sso_provider, user.sso_subject):
        return None
    try:
        at = datetime.fromisoformat(str(kept.get("auth_time")))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    now = now or datetime.now(UTC)
    limit = timedelta(seconds=float(settings.get("SSO_REAUTH_SECONDS", 300)))
    if not (now - limit <= at <= now + SKEW):
        return None
    provider = providers(settings).get(str(kept["provider"]))
    if provider is None:
        return None
    proof = {k: v for k, v in kept.items() if k != "user"}
    return {"kind": "sso", **proof, "label": provider.label}


def consume_reauth(session: MutableMapping[str, Any], user: User) -> None:
    """Forget *user*'s re-authentication: one re-authentication is one signature."""
    kept = session.get(SESSION_REAUTH)
    if isinstance(kept, Mapping) and kept.get("user") == user.id:
        session.pop(SESSION_REAUTH, None)
