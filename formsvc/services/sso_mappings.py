"""Single sign-on mapping rules: which IdP claim/attribute value gives which role and district.

Two sources, in this order: the rules of ``SSO_PROVIDERS[name]["mappings"]`` in instance config
(read-only here, district given by name), then the administrator's rules in the database
(``SsoMappingRule``, for one provider or ``"*"`` = any), by priority (lower first) then id.
The first rule whose claim holds the value wins.

Matching is exact: claim names and values are compared as they are, case-sensitive, without
normalising (a case-insensitive match could let "Admins" stand for a different group "admins";
a miss refuses the login visibly, which the administrator fixes with the page's test box).

A config rule that cannot be applied (unknown or inactive district, unknown role, a role that
needs a district without one, a missing claim or value) is kept in its place with a ``problem``:
when it is the first match, nobody is let in by it nor by a rule below it (fail closed: falling
through could give a user in that group a lower rule's wider access). The problem is logged,
shown in red on /admin/sso and by ``flask sso check``. It is not a start-up error because the
districts live in the database, which may be unreachable or not yet migrated when the app is
built, and can be renamed or deactivated while it runs.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select

from formsvc.config import ROLES
from formsvc.extensions import db
from formsvc.models import District, SsoMappingRule, User
from formsvc.services import audit

log = logging.getLogger(__name__)

#: roles that need a district (services/users.py: caseworkers and managers)
DISTRICT_ROLES = ("caseworker", "manager")
ANY_PROVIDER = "*"
MAX_CLAIM = 120
MAX_VALUE = 255
MIN_PRIORITY, MAX_PRIORITY = 0, 100_000
#: control, format (zero-width, bidi), surrogate, private-use and unassigned characters
_INVISIBLE = ("Cc", "Cf", "Cs", "Co", "Cn")


@dataclass(frozen=True)
class Rule:
    """One mapping rule, from config or from the administrator."""

    provider: str  #: an SSO_PROVIDERS name, or "*" (administrator's rules only)
    claim: str  #: the claim/attribute name, e.g. "groups"
    value: str  #: the value it must hold, e.g. a group id
    role: str
    district_id: int | None
    source: str  #: "config" | "admin"
    id: int | None  #: the SsoMappingRule id (admin rules)
    priority: int  #: admin rules: lower first; config rules: their position
    district_name: str | None = None  #: for display (config rules: as written in config)
    problem: str | None = None  #: why the rule cannot be applied (it then refuses, see module)


class MappingError(ValueError):
    """An administrator's rule was refused; ``errors`` maps form field names to Swedish text."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


def text_problem(value: object, *, maximum: int) -> str | None:
    """A Swedish reason why *value* cannot be a claim name or value, or None."""
    if not isinstance(value, str):
        return _("Ange text.")
    if not value.strip():
        return _("Fältet måste fyllas i.")
    if len(value) > maximum:
        return _("Högst %(n)d tecken.", n=maximum)
    if value != value.strip():
        return _("Inleds eller slutar med blanksteg.")
    hidden = dict.fromkeys(ch for ch in value if unicodedata.category(ch) in _INVISIBLE)
    if hidden:
        codes = ", ".join(f"U+{ord(ch):04X}" for ch in hidden)
        return _("Innehåller osynliga tecken eller styrtecken (%(codes)s).", codes=codes)
    return None


def config_rules(settings: Mapping[str, Any], provider: str) -> list[Rule]:
    """The rules of SSO_PROVIDERS[provider]["mappings"], in order, each checked (``problem``)."""
    conf = (settings.get("SSO_PROVIDERS") or {}).get(provider)
    if not isinstance(conf, Mapping):
        return []
    entries = conf.get("mappings") or []
    if not isinstance(entries, Sequence) or isinstance(entries, str | bytes):
        return [_broken(provider, 0, _('"mappings" ska vara en lista av regler.'))]
    by_name = {d.name: d for d in db.session.scalars(select(District))}
    return [_config_rule(provider, i, entry, by_name) for i, entry in enumerate(entries)]


def _broken(provider: str, position: int, problem: str) -> Rule:
    return Rule(provider, "", "", "", None, "config", None, position, None, problem)


def _config_rule(
    provider: str, position: int, entry: object, by_name: Mapping[str, District]
) -> Rule:
    if not isinstance(entry, Mapping):
        return _broken(provider, position, _("Regeln ska vara en ordlista (dict)."))
    claim, value, role = entry.get("claim"), entry.get("value"), entry.get("role")
    district_name = entry.get("district")
    problems = []
    for name, field, maximum in (("claim", claim, MAX_CLAIM), ("value", value, MAX_VALUE)):
        problem = text_problem(field, maximum=maximum)
        if problem:
            problems.append(f'"{name}": {problem}')
    if role not in ROLES:
        problems.append(_("Okänd roll: %(role)s", role=repr(role)))
    district = None
    if district_name not in (None, ""):
        if not isinstance(district_name, str):
            problems.append(_("Ange stadsdelens namn, inte %(value)s.", value=repr(district_name)))
        elif (district := by_name.get(district_name)) is None:
            problems.append(_("Okänd stadsdel: %(name)s", name=district_name))
        elif not district.active:
            problems.append(_("Stadsdelen %(name)s är inaktiv.", name=district_name))
    elif role in DISTRICT_ROLES:
        problems.append(_("Handläggare och arbetsledare måste höra till en stadsdel."))
    unknown = sorted(set(map(str, entry)) - {"claim", "value", "role", "district"})
    if unknown:
        problems.append(_("Okända nycklar: %(keys)s", keys=", ".join(unknown)))
    return Rule(
        provider=provider,
        claim=claim if isinstance(claim, str) else "",
        value=value if isinstance(value, str) else "",
        role=role if isinstance(role, str) else "",
        district_id=district.id if district is not None and not problems else None,
        source="config",
        id=None,
        priority=position,
        district_name=district_name if isinstance(district_name, str) else None,
        problem=" ".join(problems) or None,
    )


def admin_rules(provider: str | None = None) -> list[Rule]:
    """The administrator's rules (of *provider* or "*"; all when None), by priority then id."""
    q = select(SsoMappingRule).order_by(SsoMappingRule.priority, SsoMappingRule.id)
    if provider is not None:
        q = q.where(or_(SsoMappingRule.provider == provider, SsoMappingRule.provider == "*"))
    return [_from_row(row) for row in db.session.scalars(q)]


def _from_row(row: SsoMappingRule) -> Rule:
    problem = None
    if row.role not in ROLES:
        problem = _("Okänd roll: %(role)s", role=row.role)
    elif row.district is not None and not row.district.active:
        problem = _("Stadsdelen %(name)s är inaktiv.", name=row.district.name)
    elif row.role in DISTRICT_ROLES and row.district_id is None:
        problem = _("Handläggare och arbetsledare måste höra till en stadsdel.")
    return Rule(
        provider=row.provider,
        claim=row.claim,
        value=row.value,
        role=row.role,
        district_id=row.district_id,
        source="admin",
        id=row.id,
        priority=row.priority,
        district_name=row.district.name if row.district is not None else None,
        problem=problem,
    )


def rules(settings: Mapping[str, Any], provider: str) -> list[Rule]:
    """Config rules first (in order), then the administrator's rules of *provider* or "*"."""
    found = config_rules(settings, provider) + admin_rules(provider)
    for rule in found:
        if rule.problem:
            log.error("SSO mapping rule of %s cannot be applied: %s", provider, rule.problem)
    return found


def _values(attributes: Mapping[str, Any], claim: str) -> tuple[str, ...]:
    held = attributes.get(claim)
    if held is None:
        return ()
    if isinstance(held, str | bytes | int | float | bool):  # one value, never a substring test
        held = (held,)
    if not isinstance(held, Sequence | set | frozenset):
        return ()
    return tuple(v for v in held if isinstance(v, str))


def match(rules: Sequence[Rule], attributes: Mapping[str, Any]) -> Rule | None:
    """The first rule whose claim holds its value, even one with a ``problem``."""
    for rule in rules:
        if rule.claim and rule.value in _values(attributes, rule.claim):
            return rule
    return None


def resolve(rules: Sequence[Rule], attributes: Mapping[str, Any]) -> Rule | None:
    """The first matching rule; None when none matches or the first match cannot be applied."""
    found = match(rules, attributes)
    if found is not None and found.problem:
        log.error("SSO login refused by a broken mapping rule: %s", found.problem)
        return None
    return found


# --------------------------------------------------------------------------- administrator's rules


def _checked(
    settings: Mapping[str, Any],
    *,
    provider: object,
    claim: object,
    value: object,
    role: object,
    district_id: object,
    priority: object,
    rule_id: int | None,
) -> dict[str, Any]:
    errors: dict[str, str] = {}
    configured = settings.get("SSO_PROVIDERS") or {}
    if not isinstance(provider, str) or (provider != ANY_PROVIDER and provider not in configured):
        errors["provider"] = _("Välj en av de inställda inloggningstjänsterna.")
    for name, field, maximum in (("claim", claim, MAX_CLAIM), ("value", value, MAX_VALUE)):
        problem = text_problem(field, maximum=maximum)
        if problem:
            errors[name] = problem
    if role not in ROLES:
        errors["role"] = _("Välj en roll.")
    district = None
    if district_id is not None:
        if isinstance(district_id, bool) or not isinstance(district_id, int):
            errors["district_id"] = _("Välj en stadsdel i listan.")
        elif not 0 < district_id < 2**31:  # beyond the column's range: no such district
            errors["district_id"] = _("Stadsdelen finns inte.")
        else:
            district = db.session.get(District, district_id)
            if district is None:
                errors["district_id"] = _("Stadsdelen finns inte.")
            elif not district.active:
                errors["district_id"] = _("Stadsdelen är inaktiv.")
    elif role in DISTRICT_ROLES:
        errors["district_id"] = _("Handläggare och arbetsledare måste höra till en stadsdel.")
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        errors["priority"] = _("Ange ett heltal från 0 till 100 000.")  # MIN/MAX_PRIORITY
    if not errors:
        same = select(SsoMappingRule.id).where(
            SsoMappingRule.provider == provider,
            SsoMappingRule.claim == claim,
            SsoMappingRule.value == value,
        )
        if rule_id is not None:
            same = same.where(SsoMappingRule.id != rule_id)
        if db.session.scalar(same.limit(1)) is not None:
            errors["value"] = _("Det finns redan en regel för det här värdet.")
    if errors:
        raise MappingError(errors)
    return {
        "provider": provider,
        "claim": claim,
        "value": value,
        "role": role,
        "district_id": district.id if district is not None else None,
        "priority": priority,
    }


def _snapshot(row: SsoMappingRule) -> dict[str, Any]:
    return {
        "provider": row.provider,
        "claim": row.claim,
        "value": row.value,
        "role": row.role,
        "district_id": row.district_id,
        "district": row.district.name if row.district is not None else None,
        "priority": row.priority,
    }


def end_sessions(providers: set[str], *, actor: User | None = None) -> int:
    """End every session of the SSO accounts of *providers* ("*": of all) but *actor*'s; returns
    how many accounts. A rule change applies at an account's next SSO login only: its users sign
    in again at once (the IdP usually without asking) through the rules as they are now, instead
    of keeping a role the rules no longer give for the rest of their session. The administrator
    making the change keeps working (their own rules apply at their next login)."""
    q = select(User).where(User.sso_provider.is_not(None), User.active.is_(True))
    if actor is not None:
        q = q.where(User.id != actor.id)
    if ANY_PROVIDER not in providers:
        q = q.where(User.sso_provider.in_(sorted(providers)))
    accounts = list(db.session.scalars(q))
    for user in accounts:
        user.end_sessions()
    return len(accounts)


def _log(action: str, row: SsoMappingRule, actor: User | None, details: dict[str, Any]) -> None:
    audit.record(
        action,
        actor_id=actor.id if actor else None,
        actor_label=actor.username if actor else "system",
        object_type="sso_mapping",
        object_id=row.id,
        district_id=row.district_id,
        details=details,
    )


def add(
    settings: Mapping[str, Any],
    *,
    provider: str,
    claim: str,
    value: str,
    role: str,
    district_id: int | None,
    priority: int = 100,
    actor: User | None,
) -> SsoMappingRule:
    """Add an administrator's rule (MappingError with field errors when refused); commits."""
    fields = _checked(
        settings,
        provider=provider,
        claim=claim,
        value=value,
        role=role,
        district_id=district_id,
        priority=priority,
        rule_id=None,
    )
    row = SsoMappingRule(**fields, created_by_id=actor.id if actor else None)
    db.session.add(row)
    db.session.flush()
    db.session.refresh(row)
    ended = end_sessions({row.provider}, actor=actor)
    details = {"before": None, "after": _snapshot(row), "sessions_ended": ended}
    _log("sso_mapping_created", row, actor, details)
    db.session.commit()
    return row


def update(
    settings: Mapping[str, Any],
    row: SsoMappingRule,
    *,
    provider: str,
    claim: str,
    value: str,
    role: str,
    district_id: int | None,
    priority: int,
    actor: User | None,
) -> SsoMappingRule:
    """Change an administrator's rule; audited with before and after; commits."""
    fields = _checked(
        settings,
        provider=provider,
        claim=claim,
        value=value,
        role=role,
        district_id=district_id,
        priority=priority,
        rule_id=row.id,
    )
    before = _snapshot(row)
    for key, new in fields.items():
        setattr(row, key, new)
    db.session.flush()
    db.session.refresh(row)
    after = _snapshot(row)
    if after != before:
        ended = end_sessions({before["provider"], after["provider"]}, actor=actor)
        details = {"before": before, "after": after, "sessions_ended": ended}
        _log("sso_mapping_changed", row, actor, details)
    db.session.commit()
    return row


def delete(row: SsoMappingRule, *, actor: User | None) -> None:
    """Remove an administrator's rule; audited with what it was; commits."""
    before = _snapshot(row)
    ended = end_sessions({row.provider}, actor=actor)
    _log(
        "sso_mapping_deleted",
        row,
        actor,
        {"before": before, "after": None, "sessions_ended": ended},
    )
    db.session.delete(row)
    db.session.commit()


def problems(settings: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per configured provider, the Swedish problems of its mapping rules (empty when none)."""
    found: dict[str, list[str]] = {}
    for name in settings.get("SSO_PROVIDERS") or {}:
        found[name] = [
            _("Regel %(n)d: %(problem)s", n=rule.priority + 1, problem=rule.problem)
            for rule in config_rules(settings, name)
            if rule.problem
        ]
        found[name] += [
            _("Administratörens regel %(id)d: %(problem)s", id=rule.id, problem=rule.problem)
            for rule in admin_rules(name)
            if rule.problem and rule.provider == name
        ]
    shared = [
        _("Administratörens regel %(id)d: %(problem)s", id=rule.id, problem=rule.problem)
        for rule in admin_rules(ANY_PROVIDER)
        if rule.problem and rule.provider == ANY_PROVIDER
    ]
    if shared:
        found[ANY_PROVIDER] = shared
    return found
