"""What the administrator sees of each configured SSO provider: its settings' problems and accounts.

A static look at SSO_PROVIDERS (no request to the IdP): the keys a provider needs, files that must
exist, https, and the problems of its mapping rules (services/sso_mappings). The sign-in code
(services/sso.py) validates the same settings when it uses them; this summary is for
/admin/sso and ``flask sso check``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.models import User
from formsvc.services import sso_mappings

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ProviderStatus:
    """One SSO_PROVIDERS entry as the administrator sees it."""

    name: str
    type: str  #: "oidc" | "saml" | what the config says
    label: str  #: the login button's text (the name when unset)
    problems: tuple[str, ...]  #: Swedish, one per problem; empty when the settings look complete
    accounts: int  #: accounts that sign in through it
    active_accounts: int
    last_login: datetime | None  #: the latest SSO login through it


def _url_problem(key: str, value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return _("%(key)s saknas.", key=key)
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return None  # a provider on this machine (tests)
    return _("%(key)s måste vara en https-adress: %(value)s", key=key, value=value)


def _file_problem(key: str, value: object, *, required: bool) -> str | None:
    if value in (None, ""):
        return _("%(key)s saknas.", key=key) if required else None
    if not isinstance(value, str) or not Path(value).is_file():
        return _("%(key)s: filen finns inte: %(value)s", key=key, value=value)
    return None


def setup_problems(conf: object) -> list[str]:
    """The problems of one provider's settings that can be seen without asking the IdP."""
    if not isinstance(conf, Mapping):
        return [_("Inställningen ska vara en ordlista (dict).")]
    kind = conf.get("type")
    found: list[str | None] = []
    if kind == "oidc":
        if conf.get("server_metadata_url") is not None:
            found.append(_url_problem("server_metadata_url", conf.get("server_metadata_url")))
        else:
            found.append(_url_problem("issuer", conf.get("issuer")))
        if not isinstance(conf.get("client_id"), str) or not conf.get("client_id"):
            found.append(_("%(key)s saknas.", key="client_id"))
        found.append(_file_problem("ca_bundle", conf.get("ca_bundle"), required=False))
    elif kind == "saml":
        if conf.get("idp_metadata_url") is not None:
            found.append(_url_problem("idp_metadata_url", conf.get("idp_metadata_url")))
        else:
            found.append(
                _file_problem("idp_metadata_file", conf.get("idp_metadata_file"), required=True)
            )
        found.append(_file_problem("sp_key_file", conf.get("sp_key_file"), required=True))
        found.append(_file_problem("sp_cert_file", conf.get("sp_cert_file"), required=True))
    else:
        found.append(_('Okänd typ %(type)s: ange "oidc" eller "saml".', type=repr(kind)))
    return [p for p in found if p]


def providers(settings: Mapping[str, Any]) -> list[ProviderStatus]:
    """Every configured provider, in config order, with its problems and accounts."""
    configured = settings.get("SSO_PROVIDERS") or {}
    if not isinstance(configured, Mapping):
        return []
    rule_problems = sso_mappings.problems(settings)
    counts = {
        name: (total, active or 0, last)
        for name, total, active, last in db.session.execute(
            select(
                User.sso_provider,
                func.count(User.id),
                func.sum(func.cast(User.active, db.Integer)),
                func.max(User.sso_login_at),
            )
            .where(User.sso_provider.is_not(None))
            .group_by(User.sso_provider)
        )
    }
    out = []
    for name, conf in configured.items():
        label = conf.get("label") if isinstance(conf, Mapping) else None
        total, active, last = counts.get(name, (0, 0, None))
        out.append(
            ProviderStatus(
                name=name,
                type=str(conf.get("type")) if isinstance(conf, Mapping) else "?",
                label=label if isinstance(label, str) and label else name,
                problems=tuple(setup_problems(conf) + rule_problems.get(name, [])),
                accounts=total,
                active_accounts=int(active),
                last_login=last,
            )
        )
    return out


def label(settings: Mapping[str, Any], name: str | None) -> str | None:
    """The label of provider *name* as the login page shows it; the name when it has none or is
    no longer configured; None for a local account."""
    if name is None:
        return None
    conf = (settings.get("SSO_PROVIDERS") or {}).get(name)
    text = conf.get("label") if isinstance(conf, Mapping) else None
    return text if isinstance(text, str) and text else name
