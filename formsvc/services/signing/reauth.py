"""Staff signing by an SSO account: the identity provider re-authenticates, not a password.

A staff member whose account signs in through the city's IdP (``User.sso_provider``) has no
password of ours to re-enter. Before signing they log in again at the IdP (OIDC ``prompt=login``
and ``max_age=0``, SAML ``ForceAuthn``); services/sso.py keeps that fresh re-authentication in the
session and `sso.fresh_reauth` hands back its proof. Here: which IdP an account re-authenticates
with, and `claim`, which makes one re-authentication good for exactly one signature also when two
submits race (the session cookie alone cannot: both requests carry the same cookie).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from formsvc.extensions import db
from formsvc.models import SsoSeen, User
from formsvc.services import sso
from formsvc.services.signing._common import SigningError

PROTOCOL_NAMES = {"oidc": "OpenID Connect", "saml": "SAML 2.0"}


@dataclass(frozen=True)
class Provider:
    """The IdP an SSO account re-authenticates with before it signs."""

    name: str  #: the SSO_PROVIDERS key (User.sso_provider)
    label: str  #: what the city calls it ("Stockholms stad (Entra ID)")
    protocol: str  #: "oidc" or "saml"; "" when the provider is no longer configured

    @property
    def configured(self) -> bool:
        return bool(self.protocol)


def provider_for(user: User, settings: Mapping[str, Any]) -> Provider | None:
    """The IdP *user* must re-authenticate with to sign; None for a local (password) account."""
    name = user.sso_provider
    if not name:
        return None
    found = sso.providers(settings).get(name)
    if found is None:
        return Provider(name=name, label=name, protocol="")
    return Provider(name=name, label=found.label, protocol=found.protocol)


def auth_time(proof: Mapping[str, Any]) -> datetime | None:
    """When the IdP authenticated the user (aware, UTC), from the proof."""
    try:
        at = datetime.fromisoformat(str(proof.get("auth_time") or ""))
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def valid_until(proof: Mapping[str, Any], settings: Mapping[str, Any]) -> datetime | None:
    """Until when the re-authentication in *proof* may sign (aware, UTC)."""
    at = auth_time(proof)
    return at + timedelta(seconds=int(settings["SSO_REAUTH_SECONDS"])) if at else None


def _key(proof: Mapping[str, Any]) -> str:
    who = "\x1f".join(
        str(proof.get(k) or "") for k in ("provider", "issuer", "subject", "auth_time")
    )
    return "reauth-used:" + hashlib.sha256(who.encode()).hexdigest()


def claim(proof: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    """Mark the re-authentication in *proof* as used, in the signature's transaction.

    A second claim of the same authentication (same IdP, account and authentication time) fails
    on the primary key of the replay table shared by every instance, and raises SigningError;
    a concurrent one waits for the first transaction and then fails. Rolled back with a refused
    signature, so only a recorded signature uses it up.
    """
    # kept (the login paths purge expired rows) until fresh_reauth refuses the proof anyway
    until = (valid_until(proof, settings) or datetime.now(UTC)) + sso.SKEW
    db.session.add(SsoSeen(key=_key(proof), expires_at=until.replace(tzinfo=None)))
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise SigningError(
            _(
                "Den här bekräftelsen av din identitet har redan använts för en underskrift. "
                "Bekräfta din identitet igen för att skriva under."
            )
        ) from exc
