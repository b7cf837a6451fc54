"""The OpenID Connect relying party against a real OpenID Provider (oidc-provider, `oidc_idp`).

Hostile ID tokens come from a second, tiny but real provider on loopback (`forger`): its metadata,
keys and token endpoint are served over HTTP, and its token endpoint answers with whatever token
the test made, so finish() meets each forgery exactly as it would from a compromised or confused
provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import SsoSeen
from formsvc.services import oidc
from tests.idp.oidc import LOA3, PERSONAL_NUMBER, IdpLoginError, OidcIdp

#: nothing listens here: login() stops at the callback URL without fetching it
REDIRECT = "http://127.0.0.1:9/sso/city/callback"
LOGGED_OUT = "http://127.0.0.1:9/logged-out"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def conf(oidc_idp: OidcIdp) -> dict[str, Any]:
    """A provider entry for a new client of the real provider."""
    registered = oidc_idp.add_client([REDIRECT], post_logout_redirect_uris=[LOGGED_OUT])
    return oidc_idp.provider_conf(registered, label="Stockholms stad")


@pytest.fixture
def anna(oidc_idp: OidcIdp) -> str:
    return oidc_idp.add_account(
        "anna.oidc",
        name="Anna Andersson",
        email="anna@stockholm.example",
        groups=["farsta-chefer", "alla"],
        personal_number="199001012385",
        acr=LOA3,
    )


@pytest.fixture
def browser(oidc_idp: OidcIdp) -> Iterator[requests.Session]:
    """A user agent at the provider (keeps its single sign-on session cookie)."""
    with oidc_idp.http() as session:
        yield session


def sign_in(
    oidc_idp: OidcIdp, conf: dict[str, Any], username: str, **begin: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """begin() at our side, the login form at the provider: (pending, callback parameters)."""
    url, pending = oidc.client("city", conf).begin(redirect_uri=REDIRECT, **begin)
    return pending, query(oidc_idp.login(url, username))


def test_oidc_login_returns_the_validated_identity(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    pending, params = sign_in(oidc_idp, conf, "anna.oidc")
    result = oidc.client("city", conf).finish(pending=pending, params=params)

    assert result.provider == "city"
    assert result.issuer == oidc_idp.issuer
    assert result.subject == anna
    assert result.claims["name"] == "Anna Andersson"
    assert result.claims["preferred_username"] == "anna.oidc"
    assert result.claims["email"] == "anna@stockholm.example"
    assert result.claims["groups"] == ["farsta-chefer", "alla"]
    assert result.claims[PERSONAL_NUMBER] == "199001012385"
    assert result.acr == LOA3
    assert result.id_token.count(".") == 2
    assert result.auth_time is not None and result.auth_time >= before.replace(microsecond=0)
    # the nonce is kept in the shared replay table
    assert db.session.scalars(select(SsoSeen.key)).all() != []


def test_oidc_swedish_eid_scope_gives_the_personal_identity_number(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str
) -> None:
    scope = "openid https://id.oidc.se/scope/naturalPersonNumber"
    pending, params = sign_in(oidc_idp, conf, "anna.oidc", scope=scope, acr_values=LOA3)
    result = oidc.client("city", conf).finish(pending=pending, params=params)
    assert result.claims[PERSONAL_NUMBER] == "199001012385"
    assert result.claims["name"] == "Anna Andersson"
    assert "email" not in result.claims  # not asked for
    assert result.acr == LOA3


def test_oidc_authorization_request_uses_pkce_s256_state_and_nonce(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any]
) -> None:
    url, pending = oidc.client("city", conf).begin(redirect_uri=REDIRECT)
    params = query(url)

    assert url.startswith(oidc_idp.issuer + "/")
    assert params["response_type"] == "code"
    assert params["client_id"] == conf["client_id"]
    assert params["redirect_uri"] == REDIRECT
    assert params["scope"] == "openid profile email"
    assert params["state"] == pending["state"]
    assert params["nonce"] == pending["nonce"]
    assert params["code_challenge_method"] == "S256"
    digest = hashlib.sha256(pending["code_verifier"].encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "prompt" not in params and "max_age" not in params
    json.dumps(pending)  # it goes into the Flask session


def test_oidc_force_login_asks_again_and_gives_a_fresh_auth_time(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str, browser: requests.Session
) -> None:
    rp = oidc.client("city", conf)
    url, pending = rp.begin(redirect_uri=REDIRECT)
    first = rp.finish(
        pending=pending, params=query(oidc_idp.login(url, "anna.oidc", session=browser))
    )

    # single sign-on: without force_login the provider lets the user through without its form
    url, pending = rp.begin(redirect_uri=REDIRECT)
    assert rp.finish(pending=pending, params=query(oidc_idp.login(url, None, session=browser)))

    url, pending = rp.begin(redirect_uri=REDIRECT, force_login=True)
    assert query(url)["prompt"] == "login" and query(url)["max_age"] == "0"
    with pytest.raises(IdpLoginError, match="asked for a login"):
        oidc_idp.login(url, None, session=browser)
    url, pending = rp.begin(redirect_uri=REDIRECT, force_login=True)
    fresh = rp.finish(
        pending=pending, params=query(oidc_idp.login(url, "anna.oidc", session=browser))
    )
    assert fresh.subject == first.subject
    assert fresh.auth_time is not None
    assert fresh.auth_time.timestamp() >= pending["started"] - oidc.LEEWAY


def test_oidc_state_mismatch_is_refused(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str
) -> None:
    pending, params = sign_in(oidc_idp, conf, "anna.oidc")
    with pytest.raises(oidc.OidcError) as refused:
        oidc.client("city", conf).finish(pending=pending, params={**params, "state": "x" * 43})
    assert "state mismatch" in refused.value.reason
    assert refused.value.message.startswith("Inloggningen kunde inte slutföras")


def test_oidc_answer_for_another_sign_in_is_refused(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str
) -> None:
    """A callback that belongs to another browser's sign-in (login CSRF) does not match ours."""
    _theirs, params = sign_in(oidc_idp, conf, "anna.oidc")
    _url, ours = oidc.client("city", conf).begin(redirect_uri=REDIRECT)
    with pytest.raises(oidc.OidcError, match="state mismatch"):
        oidc.client("city", conf).finish(pending=ours, params=params)


def test_oidc_nonce_mismatch_is_refused(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str
) -> None:
    pending, params = sign_in(oidc_idp, conf, "anna.oidc")
    with pytest.raises(oidc.OidcError) as refused:
        oidc.client("city", conf).finish(pending={**pending, "nonce": "other"}, params=params)
    assert "nonce" in refused.value.reason


def test_oidc_code_reuse_is_refused_by_the_provider(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str
) -> None:
    pending, params = sign_in(oidc_idp, conf, "anna.oidc")
    oidc.client("city", conf).finish(pending=pending, params=params)
    with pytest.raises(oidc.OidcError) as refused:
        oidc.client("city", conf).finish(pending=pending, params=params)
    assert "token endpoint refused the code: invalid_grant" in refused.value.reason
    assert refused.value.message.startswith("Inloggningen kunde inte slutföras")


def test_oidc_replayed_nonce_is_refused(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str
) -> None:
    """The same authorization request answered twice (two codes, one nonce): one sign-in only."""
    url, pending = oidc.client("city", conf).begin(redirect_uri=REDIRECT)
    first = query(oidc_idp.login(url, "anna.oidc"))
    second = query(oidc_idp.login(url, "anna.oidc"))
    assert first["code"] != second["code"]
    oidc.client("city", conf).finish(pending=pending, params=first)
    with pytest.raises(oidc.OidcError) as refused:
        oidc.client("city", conf).finish(pending=pending, params=second)
    assert "replayed" in refused.value.reason
    assert "redan använts" in refused.value.message


def test_oidc_answer_from_another_issuer_is_refused(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str
) -> None:
    """RFC 9207 mix-up defence: the authorization response names its issuer."""
    pending, params = sign_in(oidc_idp, conf, "anna.oidc")
    assert params["iss"] == oidc_idp.issuer
    for iss in ("https://evil.example", None):
        bad = {k: v for k, v in {**params, "iss": iss}.items() if v is not None}
        with pytest.raises(oidc.OidcError, match="authorization response iss"):
            oidc.client("city", conf).finish(pending=pending, params=bad)


def test_oidc_lower_level_of_assurance_than_asked_is_refused(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any]
) -> None:
    oidc_idp.add_account("bo.oidc", name="Bo Ek")  # the provider's password level
    pending, params = sign_in(oidc_idp, conf, "bo.oidc", acr_values=LOA3)
    with pytest.raises(oidc.OidcError) as refused:
        oidc.client("city", conf).finish(pending=pending, params=params)
    assert "acr" in refused.value.reason
    assert refused.value.message == "Inloggningen gav inte den säkerhetsnivå som krävs."


def test_oidc_user_cancelling_at_the_provider_is_a_clear_error(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any]
) -> None:
    url, pending = oidc.client("city", conf).begin(redirect_uri=REDIRECT)
    callback = oidc_idp.cancel(url)
    assert query(callback)["error"] == "access_denied"
    with pytest.raises(oidc.OidcError) as refused:
        oidc.client("city", conf).finish(pending=pending, params=query(callback))
    assert refused.value.message == "Inloggningen avbröts."


def test_oidc_stale_or_missing_pending_is_refused(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str
) -> None:
    pending, params = sign_in(oidc_idp, conf, "anna.oidc")
    rp = oidc.client("city", conf)
    with pytest.raises(oidc.OidcError, match="too long ago"):
        rp.finish(
            pending={**pending, "started": time.time() - oidc.PENDING_SECONDS - 1}, params=params
        )
    with pytest.raises(oidc.OidcError, match="no sign-in is outstanding"):
        rp.finish(pending={}, params=params)
    with pytest.raises(oidc.OidcError, match="no sign-in is outstanding"):
        oidc.client("other", conf).finish(pending=pending, params=params)


def test_oidc_end_session_url_signs_out_at_the_provider(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], anna: str, browser: requests.Session
) -> None:
    rp = oidc.client("city", conf)
    url, pending = rp.begin(redirect_uri=REDIRECT)
    result = rp.finish(
        pending=pending, params=query(oidc_idp.login(url, "anna.oidc", session=browser))
    )

    logout = rp.end_session_url(id_token_hint=result.id_token, post_logout_redirect_uri=LOGGED_OUT)
    assert logout is not None and logout.startswith(oidc_idp.issuer + "/")
    assert oidc_idp.logout(logout, session=browser) == LOGGED_OUT
    # the provider's session has ended: the next sign-in shows its form again
    url, pending = rp.begin(redirect_uri=REDIRECT)
    with pytest.raises(IdpLoginError, match="asked for a login"):
        oidc_idp.login(url, None, session=browser)

    # without the ID token (too large to keep), client_id names us (RP-Initiated Logout 1.0)
    rp.finish(pending=pending, params=query(oidc_idp.login(url, "anna.oidc", browser)))
    logout = rp.end_session_url(id_token_hint="", post_logout_redirect_uri=LOGGED_OUT)
    assert logout is not None and "id_token_hint" not in query(logout)
    assert query(logout)["client_id"] == conf["client_id"]
    assert oidc_idp.logout(logout, session=browser) == LOGGED_OUT

    no_logout = oidc.client("city", {**conf, "logout": False})
    assert no_logout.end_session_url(id_token_hint="x", post_logout_redirect_uri=LOGGED_OUT) is None


def test_oidc_provider_is_trusted_only_through_its_ca_bundle(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any]
) -> None:
    oidc.clear_cache()
    with pytest.raises(oidc.OidcError) as refused:
        oidc.client("city", {**conf, "ca_bundle": None}).begin(redirect_uri=REDIRECT)
    assert "could not be fetched" in refused.value.reason
    assert refused.value.message.startswith("Inloggningstjänsten kunde inte nås")
    with pytest.raises(oidc.OidcError, match="could not be fetched"):
        oidc.client("city", {**conf, "ca_bundle": "/nonexistent/ca.pem"}).begin(
            redirect_uri=REDIRECT
        )


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ({"server_metadata_url": "http://idp.example/.well-known/openid-configuration"}, "https"),
        ({"server_metadata_url": None, "issuer": None}, "server_metadata_url or issuer"),
        ({"issuer": "https://other.example"}, "is not the configured"),
        ({"client_id": ""}, "client_id"),
    ],
)
def test_oidc_misconfigured_provider_is_refused_clearly(
    app: Flask, oidc_idp: OidcIdp, conf: dict[str, Any], setting: dict[str, Any], reason: str
) -> None:
    with pytest.raises(oidc.OidcError) as refused:
        oidc.client("city", {**conf, **setting}).begin(redirect_uri=REDIRECT)
    assert reason in refused.value.reason
    assert "administratör" in refused.value.message


# hostile ID tokens, through a second provider on loopback -------------------------------------


class Forger:
    """A minimal OpenID Provider whose token endpoint returns the token a test put in `next`."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "forger-1", "use": "sig"})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.next: str = ""
        self.token_requests: list[dict[str, str]] = []
        self.fetched: list[str] = []
        #: published beside the signing key (JSON as given)
        self.extra_keys: list[Any] = []

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        forger = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _json(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                forger.fetched.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    self._json(
                        {
                            "issuer": forger.issuer,
                            "authorization_endpoint": f"{forger.issuer}/auth",
                            "token_endpoint": f"{forger.issuer}/token",
                            "jwks_uri": f"{forger.issuer}/jwks",
                            "id_token_signing_alg_values_supported": ["RS256"],
                        }
                    )
                elif self.path == "/jwks":
                    keys = KeySet([forger.key]).as_dict(private=False)["keys"]
                    self._json({"keys": [*keys, *forger.extra_keys]})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = parse_qs(self.rfile.read(length).decode())
                forger.token_requests.append({k: v[0] for k, v in body.items()})
                self._json({"access_token": "at", "token_type": "Bearer", "id_token": forger.next})

        return Handler

    def claims(
        self, pending: dict[str, Any], conf: dict[str, Any], **changes: Any
    ) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "forged-subject",
            "aud": conf["client_id"],
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
            "nonce": pending["nonce"],
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        key = key or self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def forger() -> Iterator[Forger]:
    forger = Forger()
    thread = threading.Thread(target=forger.server.serve_forever, daemon=True)
    thread.start()
    yield forger
    forger.server.shutdown()
    forger.server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def forged_conf(forger: Forger) -> dict[str, Any]:
    oidc.clear_cache()
    return {
        "type": "oidc",
        "label": "Forger",
        "issuer": forger.issuer,  # http is accepted on loopback only
        "client_id": "formsvc",
        "client_secret": "secret",
    }


def finish_with(forger: Forger, conf: dict[str, Any], make_token: Any, **begin: Any) -> Any:
    rp = oidc.client("forger", conf)
    _url, pending = rp.begin(redirect_uri=REDIRECT, **begin)
    forger.next = make_token(pending)
    return rp.finish(pending=pending, params={"state": pending["state"], "code": "c"})


def test_oidc_forger_well_formed_token_is_accepted(
    app: Flask, forger: Forger, forged_conf: dict[str, Any]
) -> None:
    """The control case: the forger's own key signs a correct token, so the checks below bite."""
    result = finish_with(forger, forged_conf, lambda p: forger.sign(forger.claims(p, forged_conf)))
    assert result.subject == "forged-subject"
    request = forger.token_requests[-1]
    assert request["grant_type"] == "authorization_code" and request["code"] == "c"
    assert request["code_verifier"] and request["redirect_uri"] == REDIRECT


def test_oidc_keys_are_cached_and_fetched_again_for_a_new_key_id(
    app: Flask, forger: Forger, forged_conf: dict[str, Any]
) -> None:
    forger.fetched.clear()
    for _ in range(2):
        finish_with(forger, forged_conf, lambda p: forger.sign(forger.claims(p, forged_conf)))
    assert forger.fetched == ["/.well-known/openid-configuration", "/jwks"]

    # the provider rotates its key: the first token with the new key id fetches the keys again
    old = forger.key
    forger.key = RSAKey.generate_key(2048, parameters={"kid": "forger-2", "use": "sig"})
    try:
        result = finish_with(
            forger, forged_conf, lambda p: forger.sign(forger.claims(p, forged_conf))
        )
    finally:
        forger.key = old
    assert result.subject == "forged-subject"
    assert forger.fetched == ["/.well-known/openid-configuration", "/jwks", "/jwks"]


def test_oidc_odd_keys_in_the_jwks_are_left_out(
    app: Flask, forger: Forger, forged_conf: dict[str, Any]
) -> None:
    secret = b"a-shared-secret-published-by-mistake-0123456789"
    forger.extra_keys = [
        {"kty": "oct", "kid": "shared", "k": b64(secret)},
        {"kty": "RSA", "kid": "broken", "n": "AQAB"},
        {"kty": "XYZ", "kid": "odd"},
        "not a key",
    ]
    try:
        ok = finish_with(forger, forged_conf, lambda p: forger.sign(forger.claims(p, forged_conf)))
        assert ok.subject == "forged-subject"

        def hs256(pending: dict[str, Any]) -> str:
            header = b64(json.dumps({"alg": "HS256", "kid": "shared"}).encode())
            payload = b64(json.dumps(forger.claims(pending, forged_conf)).encode())
            mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
            return f"{header}.{payload}.{b64(mac)}"

        with pytest.raises(oidc.OidcError, match="algorithm 'HS256'"):
            finish_with(forger, forged_conf, hs256)
    finally:
        forger.extra_keys = []


def hs256_with_public_key(forger: Forger, claims: dict[str, Any]) -> str:
    header = b64(json.dumps({"alg": "HS256", "kid": "forger-1"}).encode())
    payload = b64(json.dumps(claims).encode())
    public_pem = forger.key.as_pem(private=False)
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


def alg_none(claims: dict[str, Any]) -> str:
    header = b64(json.dumps({"alg": "none"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}."


def tampered(forger: Forger, claims: dict[str, Any]) -> str:
    header, _payload, signature = forger.sign(claims).split(".")
    changed = b64(json.dumps({**claims, "sub": "someone-else"}).encode())
    return f"{header}.{changed}.{signature}"


OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "forger-1"})
LONG_AGO = int(time.time()) - 3600

HOSTILE = {
    "signed by another key": (lambda f, p, c: f.sign(f.claims(p, c), OTHER_KEY), "signature"),
    "claims tampered after signing": (lambda f, p, c: tampered(f, f.claims(p, c)), "signature"),
    "alg none": (lambda f, p, c: alg_none(f.claims(p, c)), "algorithm 'none'"),
    "HS256 keyed with the public key": (
        lambda f, p, c: hs256_with_public_key(f, f.claims(p, c)),
        "algorithm 'HS256'",
    ),
    "not a JWS": (lambda f, p, c: "not-a-token", "not a compact JWS"),
    "expired": (
        lambda f, p, c: f.sign(f.claims(p, c, exp=int(time.time()) - 120, iat=LONG_AGO)),
        "expired",
    ),
    "issued in the future": (
        lambda f, p, c: f.sign(f.claims(p, c, iat=int(time.time()) + 600)),
        "in the future",
    ),
    "wrong issuer": (lambda f, p, c: f.sign(f.claims(p, c, iss="https://evil.example")), "iss"),
    "wrong audience": (lambda f, p, c: f.sign(f.claims(p, c, aud="another-client")), "aud"),
    "audience list without us": (lambda f, p, c: f.sign(f.claims(p, c, aud=["a", "b"])), "aud"),
    "several audiences without azp": (
        lambda f, p, c: f.sign(f.claims(p, c, aud=[c["client_id"], "other"])),
        "azp",
    ),
    "azp of another client": (
        lambda f, p, c: f.sign(f.claims(p, c, azp="another-client")),
        "azp",
    ),
    "nonce of another sign-in": (lambda f, p, c: f.sign(f.claims(p, c, nonce="other")), "nonce"),
    "no nonce": (lambda f, p, c: f.sign(f.claims(p, c, nonce=None)), "nonce"),
    "no subject": (lambda f, p, c: f.sign(f.claims(p, c, sub=None)), "sub"),
    "no expiry": (lambda f, p, c: f.sign(f.claims(p, c, exp=None)), "exp"),
    "expiry in a hundred years": (
        lambda f, p, c: f.sign(f.claims(p, c, exp=int(time.time()) + 100 * 365 * 86400)),
        "exp too far",
    ),
    "expiry beyond any date": (lambda f, p, c: f.sign(f.claims(p, c, exp=1e20)), "exp"),
    "expiry Infinity": (lambda f, p, c: f.sign(f.claims(p, c, exp=float("inf"))), "exp"),
    "issued at NaN": (lambda f, p, c: f.sign(f.claims(p, c, iat=float("nan"))), "iat"),
    "expiry true": (lambda f, p, c: f.sign(f.claims(p, c, exp=True)), "exp"),
    "auth_time before 1970": (lambda f, p, c: f.sign(f.claims(p, c, auth_time=-1e20)), "auth_time"),
    "auth_time NaN": (
        lambda f, p, c: f.sign(f.claims(p, c, auth_time=float("nan"))),
        "auth_time",
    ),
    "auth_time a string": (lambda f, p, c: f.sign(f.claims(p, c, auth_time="now")), "auth_time"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_oidc_hostile_id_token_is_refused(
    app: Flask, forger: Forger, forged_conf: dict[str, Any], case: str
) -> None:
    make, reason = HOSTILE[case]
    with pytest.raises(oidc.OidcError) as refused:
        finish_with(forger, forged_conf, lambda p: make(forger, p, forged_conf))
    assert reason in refused.value.reason
    assert refused.value.message  # Swedish, for the user
    assert db.session.scalars(select(SsoSeen.key)).all() == []  # nothing was accepted


def test_oidc_force_login_needs_a_fresh_auth_time(
    app: Flask, forger: Forger, forged_conf: dict[str, Any]
) -> None:
    for auth_time in (None, int(time.time()) - 600):
        with pytest.raises(oidc.OidcError) as refused:
            finish_with(
                forger,
                forged_conf,
                lambda p, a=auth_time: forger.sign(forger.claims(p, forged_conf, auth_time=a)),
                force_login=True,
            )
        assert "auth_time" in refused.value.reason
        assert refused.value.message == (
            "Inloggningstjänsten bekräftade inte en ny inloggning. Försök igen."
        )
    # without force_login an old sign-in at the provider is fine
    old = int(time.time()) - 600
    result = finish_with(
        forger, forged_conf, lambda p: forger.sign(forger.claims(p, forged_conf, auth_time=old))
    )
    assert result.auth_time == datetime.fromtimestamp(old, UTC)
