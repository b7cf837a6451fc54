"""Fixture `oidc_idp`: a real OpenID Provider (npm oidc-provider) on https://127.0.0.1:<free port>.

The provider (tests/idp/oidc_provider.mjs) runs under Node for the whole test session. Its TLS
certificate comes from a test CA made here at run time: relying parties trust it through the
provider entry's `ca_bundle` (as a city's private CA would be configured), browsers are told to
ignore certificate errors. Tests add clients (redirect URIs of their live servers) and accounts
(claims, acr) through a test-only admin API, and `login()` signs a user in through the provider's
own HTML forms with `requests`, for tests without a browser.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
PERSONAL_NUMBER = "https://id.oidc.se/claim/personalIdentityNumber"
#: acr of an account that was given none (the provider's "password" level)
DEFAULT_ACR = "urn:formsvc:test:password"
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"


class IdpLoginError(AssertionError):
    """The provider did not let the user through (unknown user, error page, unexpected answer)."""


def make_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1/localhost: (ca.pem, cert.pem, key.pem)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "formsvc test IdP CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths[2].chmod(0o600)
    return paths


class OidcIdp:
    """The running provider: its issuer, the CA to trust, and the test-only admin calls."""

    def __init__(self, issuer: str, ca_bundle: str, admin_token: str, log: Path) -> None:
        #: https://127.0.0.1:<port>, also the metadata's "issuer"
        self.issuer = issuer
        #: PEM file of the test CA that issued the provider's TLS certificate
        self.ca_bundle = ca_bundle
        self.metadata_url = f"{issuer}/.well-known/openid-configuration"
        self.log = log
        self._admin_token = admin_token

    def _admin(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = requests.put(
            f"{self.issuer}/_test/{path}",
            json=dict(body),
            headers={"Authorization": f"Bearer {self._admin_token}"},
            verify=self.ca_bundle,
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def add_client(
        self,
        redirect_uris: Sequence[str],
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        post_logout_redirect_uris: Sequence[str] = (),
        **metadata: Any,
    ) -> dict[str, Any]:
        """Register (or replace) a confidential client; returns its metadata incl. client_secret."""
        body = {
            "client_secret": client_secret or secrets.token_urlsafe(32),
            "redirect_uris": list(redirect_uris),
            "post_logout_redirect_uris": list(post_logout_redirect_uris),
            "response_types": ["code"],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": "RS256",
            # auth_time in every ID token, not only after prompt=login / max_age
            "require_auth_time": True,
            **metadata,
        }
        return self._admin(f"clients/{client_id or 'client-' + secrets.token_hex(6)}", body)

    def add_account(
        self,
        username: str,
        *,
        sub: str | None = None,
        name: str | None = None,
        email: str | None = None,
        groups: Sequence[str] | None = None,
        personal_number: str | None = None,
        acr: str | None = None,
        amr: Sequence[str] | None = None,
        **claims: Any,
    ) -> str:
        """Create (or replace, keeping its sub) an account; returns its `sub`.

        `preferred_username` is *username*; other claims as given (None = left out)."""
        all_claims: dict[str, Any] = {"preferred_username": username}
        given = {"name": name, "email": email, "groups": groups, PERSONAL_NUMBER: personal_number}
        all_claims.update({k: (list(v) if k == "groups" else v) for k, v in given.items() if v})
        if email:
            all_claims["email_verified"] = True
        all_claims.update({k: v for k, v in claims.items() if v is not None})
        body: dict[str, Any] = {"claims": all_claims}
        if sub is not None:
            body["sub"] = sub
        if acr is not None:
            body["acr"] = acr
        if amr is not None:
            body["amr"] = list(amr)
        return self._admin(f"accounts/{username}", body)["sub"]

    def provider_conf(self, client: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
        """An SSO_PROVIDERS / EID_PROVIDERS entry for *client* (from add_client), plus overrides."""
        return {
            "type": "oidc",
            "label": "Test-IdP",
            "server_metadata_url": self.metadata_url,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "scope": "openid profile email",
            "ca_bundle": self.ca_bundle,
            "claims": {"username": "preferred_username", "name": "name", "email": "email"},
            "mappings": [],
            "logout": True,
            **overrides,
        }

    def http(self) -> requests.Session:
        """A requests session that trusts the provider (a 'browser' for login() and logout())."""
        session = requests.Session()
        # REQUESTS_CA_BUNDLE in the environment would win over session.verify
        session.trust_env = False
        session.verify = self.ca_bundle
        return session

    def login(
        self,
        authorization_url: str,
        username: str | None,
        session: requests.Session | None = None,
        *,
        password: str = "any",  # noqa: S107 - the test provider takes any password
    ) -> str:
        """Follow *authorization_url* through the provider's login form as *username*.

        Returns the first URL outside the provider: our callback with `code` and `state` (or
        `error`). With *session* (from http()), the provider's single sign-on session is kept,
        so a second authorization without prompt=login goes through without the form;
        username None then asserts that no form is shown."""
        if session is None:
            with self.http() as http:
                return self.login(authorization_url, username, http, password=password)
        http = session
        url = authorization_url
        for _ in range(20):
            if not url.startswith(self.issuer + "/"):
                return url
            response = http.get(url, allow_redirects=False, timeout=10)
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
                continue
            form = re.search(r'<form method="post" action="([^"]*/login)"', response.text)
            if response.status_code != 200 or form is None:
                raise IdpLoginError(
                    f"the IdP answered {response.status_code}: {response.text[:500]}"
                )
            if username is None:
                raise IdpLoginError("the IdP asked for a login")
            response = http.post(
                urljoin(url, unescape(form.group(1))),
                data={"username": username, "password": password},
                allow_redirects=False,
                timeout=10,
            )
            if not response.is_redirect:
                raise IdpLoginError(
                    f"login refused ({response.status_code}): {response.text[:500]}"
                )
            url = urljoin(url, response.headers["Location"])
        raise IdpLoginError("too many redirects at the IdP")

    def cancel(self, authorization_url: str, *, session: requests.Session | None = None) -> str:
        """Press Cancel on the provider's login form; returns our callback URL (with error)."""
        if session is None:
            with self.http() as http:
                return self.cancel(authorization_url, session=http)
        http = session
        response = http.get(authorization_url, allow_redirects=True, timeout=10)
        form = re.search(r'<form method="post" action="([^"]*/abort)"', response.text)
        if form is None:
            raise IdpLoginError(f"no login form: {response.status_code} {response.text[:500]}")
        url = urljoin(response.url, unescape(form.group(1)))
        response = http.post(url, allow_redirects=False, timeout=10)
        while response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            if not url.startswith(self.issuer + "/"):
                return url
            response = http.get(url, allow_redirects=False, timeout=10)
        raise IdpLoginError(f"cancel failed ({response.status_code}): {response.text[:500]}")

    def logout(self, end_session_url: str, *, session: requests.Session) -> str:
        """Follow an RP-initiated logout URL; returns the URL the provider sends the user to."""
        response = session.get(end_session_url, allow_redirects=False, timeout=10)
        form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', response.text, re.S)
        if response.status_code != 200 or form is None:
            raise IdpLoginError(f"the IdP answered {response.status_code}: {response.text[:500]}")
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))
        response = session.post(
            urljoin(end_session_url, unescape(form.group(1))),
            data={**fields, "logout": "yes"},
            allow_redirects=False,
            timeout=10,
        )
        if not response.is_redirect:
            raise IdpLoginError(f"logout failed ({response.status_code}): {response.text[:500]}")
        return urljoin(end_session_url, response.headers["Location"])


def start_oidc_idp(directory: Path) -> tuple[OidcIdp, subprocess.Popen[bytes]]:
    """Start the provider; fails the test run loudly if Node or node_modules are missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (>= 20) is needed for the OpenID Provider fixture: see README")
    if not (ROOT / "node_modules" / "oidc-provider" / "package.json").exists():
        pytest.fail("node_modules is missing: run `make node` (npm ci) first")
    ca, cert, key = make_tls(directory)
    admin_token = secrets.token_urlsafe(24)
    settings = directory / "settings.json"
    settings.write_text(
        json.dumps(
            {
                "cert": str(cert),
                "key": str(key),
                "admin_token": admin_token,
                "cookie_key": secrets.token_urlsafe(32),
            }
        )
    )
    settings.chmod(0o600)
    log = directory / "oidc-provider.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [node, str(SCRIPT), str(settings)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "NODE_ENV": "test"},
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready = re.search(r"^READY (\d+)$", log.read_text(errors="replace"), re.M)
        if ready:
            idp = OidcIdp(f"https://127.0.0.1:{ready.group(1)}", str(ca), admin_token, log)
            return idp, process
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    pytest.fail(f"the OpenID Provider did not start:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def oidc_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcIdp]:
    """The real OpenID Provider for the whole session (see the module docstring)."""
    idp, process = start_oidc_idp(tmp_path_factory.mktemp("oidc-idp"))
    try:
        yield idp
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
