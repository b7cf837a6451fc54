"""OpenID Connect relying party: authorization code flow with PKCE, ID token validation.

Generic over providers (a city's Entra ID for staff, an e-ID broker for signers): each provider is
one mapping of settings (SSO_PROVIDERS / EID_PROVIDERS entry). Authlib builds the authorization
request and exchanges the code; joserfc verifies the ID token against the provider's published keys.
No Flask request here: the caller keeps `pending` (from begin()) in its session and hands the
callback's query parameters to finish().

Every refusal is an OidcError: `message` is a Swedish sentence for the user, `reason` English for
the audit log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask_babel import gettext as _
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, import_key
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from formsvc.extensions import db
from formsvc.models import SsoSeen

#: seconds of clock difference tolerated between us and the provider
LEEWAY = 60
#: seconds for any HTTP call to a provider
HTTP_TIMEOUT = 10
#: seconds metadata and keys are kept in memory (a new key id is fetched at once)
CACHE_SECONDS = 300
#: seconds a user may spend at the provider between begin() and finish()
PENDING_SECONDS = 900
#: seconds an ID token may claim to stay valid (providers issue them for minutes to an hour)
MAX_LIFETIME = 86400
#: ID token signature algorithms we accept: asymmetric only ("none" and HMAC never)
ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class OidcError(Exception):
    """A sign-in through an OpenID Provider was refused or failed."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(reason)
        #: Swedish, for the user
        self.message = message
        #: English, for the audit log
        self.reason = reason


@dataclass(frozen=True)
class OidcResult:
    """A validated ID token."""

    provider: str  #: the settings name of the provider
    issuer: str
    subject: str  #: `sub`, stable per provider
    claims: dict[str, Any]  #: every claim of the ID token
    id_token: str  #: the raw JWS, e.g. for id_token_hint or evidence
    auth_time: datetime | None  #: when the user authenticated at the provider (UTC, aware)
    acr: str | None  #: the authentication context class (level of assurance)


def _unavailable(reason: str) -> OidcError:
    return OidcError(_("Inloggningstjänsten kunde inte nås. Försök igen om en stund."), reason)


def _misconfigured(reason: str) -> OidcError:
    return OidcError(
        _("Inloggningstjänsten är felaktigt inställd. Kontakta systemets administratör."), reason
    )


def _restart(reason: str) -> OidcError:
    return OidcError(
        _("Inloggningen kunde inte slutföras. Börja om från inloggningssidan."), reason
    )


def _rejected(reason: str) -> OidcError:
    return OidcError(
        _("Svaret från inloggningstjänsten kunde inte godkännas. Börja om från inloggningssidan."),
        reason,
    )


def check_url(url: Any, what: str) -> str:
    """*url* if it is https (or http on loopback, for tests); OidcError otherwise."""
    if not isinstance(url, str) or not url:
        raise _misconfigured(f"{what} missing")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return url
    raise _misconfigured(f"{what} is not an https URL: {url[:200]}")


class _Cache:
    """A small in-process cache with expiry, shared by threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, key: Any, value: Any, seconds: float = CACHE_SECONDS) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + seconds, value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_cache = _Cache()


def clear_cache() -> None:
    """Forget every provider's metadata and keys (they are fetched again when needed)."""
    _cache.clear()


def _get_json(url: str, verify: bool | str, what: str) -> dict[str, Any]:
    try:
        response = requests.get(
            url, timeout=HTTP_TIMEOUT, verify=verify, headers={"Accept": "application/json"}
        )
        response.raise_for_status()
        data = response.json()
    except (OSError, ValueError) as exc:  # requests' errors are OSErrors (and a bad CA path)
        raise _unavailable(f"{what} could not be fetched from {url}: {exc}") from exc
    if not isinstance(data, dict):
        raise _unavailable(f"{what} at {url} is not a JSON object")
    return data


def _str_conf(conf: Mapping[str, Any], key: str) -> str:
    value = conf.get(key)
    if not isinstance(value, str) or not value:
        raise _misconfigured(f"setting {key} missing")
    return value


class OidcClient:
    """One provider's relying party (see the module docstring)."""

    def __init__(self, name: str, conf: Mapping[str, Any]) -> None:
        self.name = name
        self.conf = conf
        self.client_id = _str_conf(conf, "client_id")
        self.client_secret = _str_conf(conf, "client_secret")
        issuer = conf.get("issuer")
        metadata_url = conf.get("server_metadata_url")
        if not metadata_url:
            if not isinstance(issuer, str) or not issuer:
                raise _misconfigured("server_metadata_url or issuer missing")
            metadata_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.metadata_url = check_url(metadata_url, "server_metadata_url")
        self.expected_issuer: str | None = issuer if isinstance(issuer, str) and issuer else None
        ca_bundle = conf.get("ca_bundle")
        #: requests' verify: the private CA's PEM file, or the system's trust store
        self.verify: bool | str = ca_bundle if isinstance(ca_bundle, str) and ca_bundle else True

    # provider metadata and keys -----------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached), checked for issuer and https endpoints."""
        key = ("metadata", self.metadata_url, self.verify)
        cached = _cache.get(key)
        if cached is not None:
            return cached
        data = _get_json(self.metadata_url, self.verify, "provider metadata")
        issuer = data.get("issuer")
        if not isinstance(issuer, str) or not issuer:
            raise _misconfigured(f"provider metadata at {self.metadata_url} names no issuer")
        if self.expected_issuer is not None:
            if issuer != self.expected_issuer:
                raise _misconfigured(
                    f"provider metadata issuer {issuer!r} is not the configured "
                    f"{self.expected_issuer!r}"
                )
        elif self.metadata_url != issuer.rstrip("/") + "/.well-known/openid-configuration":
            # OpenID Connect Discovery: the issuer is the URL the metadata was found under
            raise _misconfigured(
                f"provider metadata issuer {issuer!r} does not match {self.metadata_url}"
            )
        check_url(issuer, "issuer")
        for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            check_url(data.get(endpoint), endpoint)
        if data.get("end_session_endpoint") is not None:
            check_url(data["end_session_endpoint"], "end_session_endpoint")
        _cache.put(key, data)
        return data

    def keys(self, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys (cached unless *refresh*)."""
        uri = self.metadata()["jwks_uri"]
        key = ("jwks", uri, self.verify)
        cached = None if refresh else _cache.get(key)
        if cached is not None:
            return cached
        data = _get_json(uri, self.verify, "provider keys (JWKS)")
        found = data.get("keys")
        usable = []
        for item in found if isinstance(found, list) else []:
            # public signing keys only; a key of another kind or a broken one is left out
            if not isinstance(item, dict) or item.get("use", "sig") != "sig":
                continue
            if item.get("kty") not in ("RSA", "EC", "OKP"):
                continue
            try:
                usable.append(import_key(item, item["kty"]))
            except (JoseError, ValueError, TypeError, KeyError):
                continue
        if not usable:
            raise _unavailable(f"provider keys at {uri} hold no usable signing key")
        keys = KeySet(usable)
        _cache.put(key, keys)
        return keys

    def algorithms(self) -> list[str]:
        """ID token algorithms we accept from this provider: its published ones, asymmetric only."""
        published = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        algs = [a for a in published if a in ASYMMETRIC_ALGS]
        if not algs:
            raise _misconfigured(f"provider signs ID tokens only with {published}")
        return algs

    # the flow -------------------------------------------------------------------------------

    def begin(
        self,
        *,
        redirect_uri: str,
        force_login: bool = False,
        acr_values: str | None = None,
        scope: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """The authorization URL to send the user to, and what finish() needs to check the answer.

        *force_login* makes the provider authenticate the user again (prompt=login, max_age=0) and
        finish() then requires a fresh auth_time. Keep `pending` on the server side of the user's
        session (it holds the PKCE verifier), one per outstanding sign-in."""
        metadata = self.metadata()
        state = generate_token(32)
        nonce = generate_token(32)
        code_verifier = generate_token(64)
        scope = scope or self.conf.get("scope") or "openid profile email"
        if "openid" not in scope.split():
            scope = f"openid {scope}"
        acr_values = acr_values or self.conf.get("acr_values") or None
        extra: dict[str, str] = {"nonce": nonce}
        if force_login:
            extra.update(prompt="login", max_age="0")
        if acr_values:
            extra["acr_values"] = acr_values
        with OAuth2Session(
            self.client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            code_challenge_method="S256",
        ) as session:
            url, _state = session.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                code_verifier=code_verifier,
                **extra,
            )
        pending = {
            "provider": self.name,
            "state": state,
            "nonce": nonce,
            "code_verifier": code_verifier,
            "redirect_uri": redirect_uri,
            "started": time.time(),
            "force_login": force_login,
            "acr_values": acr_values,
        }
        return url, pending

    def finish(self, *, pending: Mapping[str, Any], params: Mapping[str, str]) -> OidcResult:
        """Check the provider's answer (*params*: the callback's query) against *pending*.

        Exchanges the code (with the PKCE verifier), validates the ID token and records its nonce
        so that the same sign-in cannot be used twice. Raises OidcError."""
        if not pending or pending.get("provider") != self.name:
            raise _restart("no sign-in is outstanding for this provider")
        started = pending.get("started")
        if not isinstance(started, int | float) or time.time() - started > PENDING_SECONDS:
            raise OidcError(
                _("Inloggningen tog för lång tid. Börja om från inloggningssidan."),
                "the sign-in was started too long ago",
            )
        state = params.get("state")
        if not isinstance(state, str) or not hmac.compare_digest(
            state.encode(), str(pending.get("state", "")).encode()
        ):
            raise _restart("state mismatch: the answer is not for the sign-in this browser started")
        metadata = self.metadata()
        issuer = metadata["issuer"]
        # RFC 9207: the answer names who sent it (a mix-up of providers is refused)
        iss_expected = metadata.get("authorization_response_iss_parameter_supported")
        if (iss_expected or "iss" in params) and params.get("iss") != issuer:
            raise _rejected(f"authorization response iss {params.get('iss')!r} is not {issuer!r}")
        error = params.get("error")
        if error:
            description = str(params.get("error_description", ""))[:300]
            if error == "access_denied":
                raise OidcError(
                    _("Inloggningen avbröts."), f"provider: access_denied {description}"
                )
            raise _restart(f"provider returned error {str(error)[:60]}: {description}")
        code = params.get("code")
        if not isinstance(code, str) or not code:
            raise _restart("the answer carries no authorization code")
        id_token = self._exchange(metadata, code, pending)
        claims = validate_id_token(
            id_token,
            keys=self._keys_for,
            algorithms=self.algorithms(),
            issuer=issuer,
            client_id=self.client_id,
            nonce=str(pending.get("nonce", "")),
            force_login=bool(pending.get("force_login")),
            started=float(started),
        )
        acr = claims.get("acr")
        wanted = pending.get("acr_values")
        if wanted and acr not in str(wanted).split():
            raise OidcError(
                _("Inloggningen gav inte den säkerhetsnivå som krävs."),
                f"acr {acr!r} is not one of the requested {wanted!r}",
            )
        remember_nonce(issuer, claims["nonce"], claims["exp"])
        auth_time = claims.get("auth_time")
        return OidcResult(
            provider=self.name,
            issuer=issuer,
            subject=claims["sub"],
            claims=claims,
            id_token=id_token,
            auth_time=datetime.fromtimestamp(auth_time, UTC) if auth_time is not None else None,
            acr=acr if isinstance(acr, str) else None,
        )

    def _exchange(self, metadata: Mapping[str, Any], code: str, pending: Mapping[str, Any]) -> str:
        auth_method = self.conf.get("token_endpoint_auth_method") or "client_secret_basic"
        try:
            with OAuth2Session(
                self.client_id,
                self.client_secret,
                token_endpoint_auth_method=auth_method,
                redirect_uri=pending.get("redirect_uri"),
            ) as session:
                token = session.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.get("code_verifier"),
                    timeout=HTTP_TIMEOUT,
                    verify=self.verify,
                )
        except OAuthError as exc:
            # invalid_grant: the code was used already, has expired or was not issued to us
            raise _restart(
                f"token endpoint refused the code: {exc.error} {str(exc.description or '')[:300]}"
            ) from exc
        except (OSError, ValueError) as exc:  # requests' errors are OSErrors (and a bad CA path)
            raise _unavailable(f"token endpoint failed: {exc}") from exc
        id_token = token.get("id_token") if isinstance(token, Mapping) else None
        if not isinstance(id_token, str) or not id_token:
            raise _rejected("the token response carries no id_token")
        return id_token

    def _keys_for(self, kid: str | None) -> KeySet:
        keys = self.keys()
        if kid is not None and not any(k.kid == kid for k in keys):
            keys = self.keys(refresh=True)  # the provider may have rotated its key
        return keys

    def end_session_url(self, *, id_token_hint: str, post_logout_redirect_uri: str) -> str | None:
        """Where to send the user to sign out at the provider too, or None (no RP logout)."""
        if not self.conf.get("logout", True):
            return None
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except OidcError:
            return None  # signing out here must not fail because the provider is away
        if not endpoint:
            return None
        params = [("client_id", self.client_id)]
        if id_token_hint:
            params.append(("id_token_hint", id_token_hint))
        if post_logout_redirect_uri:
            params.append(("post_logout_redirect_uri", post_logout_redirect_uri))
        return add_params_to_uri(endpoint, params)


def client(name: str, conf: Mapping[str, Any]) -> OidcClient:
    """The relying party for provider *name* with settings *conf*."""
    return OidcClient(name, conf)


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _time_value(value: Any) -> bool:
    """A NumericDate we can turn into a datetime: a finite, non-negative number (not a bool)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value < 253402300800  # before year 10000
    )


def validate_id_token(
    id_token: str,
    *,
    keys: KeySet | Any,
    algorithms: list[str],
    issuer: str,
    client_id: str,
    nonce: str,
    force_login: bool = False,
    started: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of *id_token* if it is signed by the provider and meant for this sign-in.

    *keys* is a KeySet or a function kid -> KeySet (to fetch a rotated key). Checks: compact
    JWS signed with one of *algorithms* (asymmetric only); iss; aud contains client_id and azp
    is client_id when present (required with several audiences); exp, iat (with LEEWAY); sub;
    nonce; with *force_login* an auth_time not before *started*. Raises OidcError."""
    now = time.time() if now is None else now
    parts = id_token.split(".") if isinstance(id_token, str) else []
    if len(parts) != 3:
        raise _rejected("the ID token is not a compact JWS")
    try:
        header = _b64json(parts[0])
    except (ValueError, UnicodeDecodeError) as exc:
        raise _rejected("the ID token header is unreadable") from exc
    if not isinstance(header, dict):
        raise _rejected("the ID token header is not an object")
    alg = header.get("alg")
    allowed = [a for a in algorithms if a in ASYMMETRIC_ALGS]
    if alg not in allowed:
        raise _rejected(f"ID token algorithm {str(alg)[:20]!r} is not one of {allowed}")
    kid = header.get("kid")
    key_set = keys(kid if isinstance(kid, str) else None) if callable(keys) else keys
    try:
        token = jwt.decode(id_token, key_set, algorithms=[alg])
    except JoseError as exc:
        raise _rejected(f"ID token signature not valid: {exc.error}: {exc.description}") from exc
    except (ValueError, TypeError) as exc:
        raise _rejected(f"ID token not valid: {exc}") from exc
    claims = dict(token.claims)

    if claims.get("iss") != issuer:
        raise _rejected(f"ID token iss {str(claims.get('iss'))[:200]!r} is not {issuer!r}")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise _rejected(f"ID token aud {str(aud)[:200]!r} does not name this client")
    azp = claims.get("azp")
    if (azp is not None or len(audiences) > 1) and azp != client_id:
        raise _rejected(f"ID token azp {str(azp)[:200]!r} is not this client")
    for name in ("exp", "iat"):
        if not _time_value(claims.get(name)):
            raise _rejected(f"ID token {name} missing or not a time")
    if claims["exp"] + LEEWAY < now:
        raise _rejected("ID token expired")
    if claims["exp"] > now + MAX_LIFETIME:
        raise _rejected("ID token exp too far in the future")
    if claims["iat"] - LEEWAY > now:
        raise _rejected("ID token issued in the future")
    if claims["iat"] + PENDING_SECONDS + LEEWAY < now:
        raise _rejected("ID token issued too long ago")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise _rejected("ID token sub missing or malformed")
    token_nonce = claims.get("nonce")
    if (
        not nonce
        or not isinstance(token_nonce, str)
        or not hmac.compare_digest(token_nonce.encode(), nonce.encode())
    ):
        raise _rejected("ID token nonce does not match this sign-in")
    auth_time = claims.get("auth_time")
    if auth_time is not None and (not _time_value(auth_time) or auth_time - LEEWAY > now):
        raise _rejected("ID token auth_time malformed or in the future")
    if force_login:
        if auth_time is None:
            raise OidcError(
                _("Inloggningstjänsten bekräftade inte en ny inloggning. Försök igen."),
                "ID token has no auth_time although a fresh login was required",
            )
        if started is None or auth_time + LEEWAY < started:
            raise OidcError(
                _("Inloggningstjänsten bekräftade inte en ny inloggning. Försök igen."),
                "ID token auth_time is older than the sign-in that required a fresh login",
            )
    acr = claims.get("acr")
    if acr is not None and not isinstance(acr, str):
        raise _rejected("ID token acr malformed")
    return claims


def remember_nonce(issuer: str, nonce: str, expires: float) -> None:
    """Record that the ID token with *nonce* was accepted; OidcError if it was already.

    Kept in the database (shared by every instance) until the token would have expired."""
    now = datetime.now(UTC).replace(tzinfo=None)
    key = "oidc-nonce:" + hashlib.sha256(f"{issuer}\n{nonce}".encode()).hexdigest()
    until = datetime.fromtimestamp(expires, UTC).replace(tzinfo=None) + timedelta(seconds=LEEWAY)
    db.session.execute(delete(SsoSeen).where(SsoSeen.expires_at < now))
    db.session.add(SsoSeen(key=key, expires_at=until))
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise OidcError(
            _("Den här inloggningen har redan använts. Börja om från inloggningssidan."),
            "replayed ID token: its nonce was accepted before",
        ) from exc
