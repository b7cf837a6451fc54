"""A real SAML 2.0 IdP for the tests: Debian's SimpleSAMLphp served by `php -S` on loopback.

The fixture `saml_idp` (session-scoped) writes the configuration of tests/idp/simplesamlphp/ into
a temporary SIMPLESAMLPHP_CONFIG_DIR with fixture.json beside it: the IdP's address, a signing
key and certificate generated here, the exampleauth:UserPass accounts (uid, displayName, mail,
groups) and the SPs registered. SimpleSAMLphp reads those files on every request, so a test can
add an account or (re)register an SP whose ACS address depends on where the app runs.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

TEMPLATES = Path(__file__).parent / "simplesamlphp"
WWW = Path("/usr/share/simplesamlphp/www")
#: Every account of the test IdP has this password unless a test says otherwise.
PASSWORD = "saml-test-pw"


def self_signed(directory: Path, stem: str, common_name: str) -> tuple[Path, Path]:
    """An RSA 2048 key and a self-signed certificate for it (PEM files *stem*.key / *stem*.crt)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{stem}.key", directory / f"{stem}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def cert_data(cert_path: Path) -> str:
    """A PEM certificate's base64 body, as metadata carries it."""
    text = cert_path.read_text()
    return "".join(line for line in text.splitlines() if "-----" not in line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Forms(HTMLParser):
    """Every <form> of a page: its action, method and named inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {}}
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = unescape(a.get("value", ""))


def forms(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class SamlIdp:
    """The running SimpleSAMLphp IdP and what the tests do with it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config_dir = root / "config"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.entity_id = f"{self.base_url}/saml2/idp/metadata.php"
        self.metadata_url = self.entity_id
        self.sso_url = f"{self.base_url}/saml2/idp/SSOService.php"
        for sub in ("cert", "log", "data", "tmp", "sessions", "sp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copytree(TEMPLATES, self.config_dir)
        self.key_path, self.cert_path = self_signed(root / "cert", "idp", "formsvc test IdP")
        # one SP key pair for every test app (the IdP checks our signed AuthnRequests with it)
        self.sp_key_file, self.sp_cert_file = self_signed(root / "sp", "sp", "formsvc test SP")
        self.users: dict[str, dict[str, Any]] = {}
        self.sps: dict[str, dict[str, Any]] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._write()

    # --- configuration -----------------------------------------------------------------------

    def _write(self) -> None:
        state = {
            "base_url": self.base_url,
            "state_dir": str(self.root),
            "secret_salt": secrets.token_hex(16),
            "admin_password": secrets.token_hex(16),
            "idp_entity_id": self.entity_id,
            "sign_response": False,
            "users": self.users,
            "sps": self.sps,
        }
        tmp = self.config_dir / "fixture.json.tmp"
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.config_dir / "fixture.json")  # never half a file for a request

    def add_user(
        self,
        username: str,
        *,
        name: str,
        mail: str,
        groups: Sequence[str] = (),
        password: str = PASSWORD,
        **more: Sequence[str] | str,
    ) -> None:
        """An account (or a changed one) at the IdP with uid, displayName, mail and groups."""
        attributes: dict[str, list[str]] = {
            "uid": [username],
            "displayName": [name],
            "mail": [mail],
            "groups": list(groups),
        }
        for key, value in more.items():
            attributes[key] = [value] if isinstance(value, str) else list(value)
        self.users[username] = {"password": password, "attributes": attributes}
        self._write()

    def register_sp(self, base_url: str, name: str, *, entity_id: str | None = None) -> str:
        """Our SP for provider *name* of an app served at *base_url*: its entity id."""
        base = base_url.rstrip("/")
        entity = entity_id or f"{base}/saml/{name}/metadata"
        self.sps[entity] = {
            "acs": f"{base}/saml/{name}/acs",
            "sls": f"{base}/saml/{name}/sls",
            "cert_data": cert_data(self.sp_cert_file),
            "validate_authnrequest": True,
        }
        self._write()
        return entity

    def metadata_file(self) -> Path:
        """The IdP's metadata as SimpleSAMLphp publishes it, saved to a file (idp_metadata_file)."""
        path = self.root / "idp-metadata.xml"
        if not path.exists():
            resp = requests.get(self.metadata_url, timeout=10)
            resp.raise_for_status()
            assert "EntityDescriptor" in resp.text, resp.text[:500]
            path.write_text(resp.text)
        return path

    def provider(self, **overrides: Any) -> dict[str, Any]:
        """An SSO_PROVIDERS entry for this IdP, as a city would write it."""
        conf: dict[str, Any] = {
            "type": "saml",
            "label": "SITHS-kort (test)",
            "idp_metadata_file": str(self.metadata_file()),
            "sp_entity_id": None,
            "sp_key_file": str(self.sp_key_file),
            "sp_cert_file": str(self.sp_cert_file),
            "attributes": {
                "username": "uid",
                "name": "displayName",
                "email": "mail",
                "subject": None,
            },
            "mappings": [],
        }
        conf.update(overrides)
        return conf

    # --- the process ---------------------------------------------------------------------------

    def start(self) -> None:
        env = {**os.environ, "SIMPLESAMLPHP_CONFIG_DIR": str(self.config_dir)}
        self._log = (self.root / "log" / "php-server.log").open("wb")
        self.process = subprocess.Popen(
            ["php", "-S", f"127.0.0.1:{self.port}", "-t", str(WWW)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(100):
            if self.process.poll() is not None:
                raise RuntimeError(f"php -S ended: {self.log_tail()}")
            try:
                if requests.get(self.metadata_url, timeout=5).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"SimpleSAMLphp did not answer: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()

    def log_tail(self) -> str:
        text = ""
        for path in sorted((self.root / "log").glob("*.log")):
            text += f"--- {path.name}\n" + path.read_text(errors="replace")[-3000:]
        return text

    # --- a login without a browser -----------------------------------------------------------

    def login(
        self,
        redirect_url: str,
        username: str,
        password: str = PASSWORD,
        *,
        session: requests.Session | None = None,
    ) -> tuple[str, str, str]:
        """Follow our AuthnRequest to the IdP, sign in on its form: (ACS, SAMLResponse, RelayState).

        Pass the same *session* to stay signed in at the IdP (then no form is shown, unless the
        request asks for ForceAuthn)."""
        http = session or requests.Session()
        resp = http.get(redirect_url, timeout=20)
        resp.raise_for_status()
        page = resp.text
        for attempt in range(2):
            found = forms(page)
            post = next((f for f in found if "SAMLResponse" in f["fields"]), None)
            if post is not None:
                fields = post["fields"]
                return post["action"], fields["SAMLResponse"], fields.get("RelayState", "")
            login = next((f for f in found if "password" in f["fields"]), None)
            if login is None:
                raise AssertionError(f"no login form and no response at {resp.url}: {page[:2000]}")
            if attempt:  # the form again, after a password: SimpleSAMLphp said no
                raise PermissionError(f"the IdP refused {username!r}")
            data = {**login["fields"], "username": username, "password": password}
            resp = http.post(urljoin(resp.url, login["action"]), data=data, timeout=20)
            resp.raise_for_status()
            page = resp.text
        raise AssertionError(f"no SAMLResponse after signing in: {page[:2000]}")


@pytest.fixture(scope="session", name="saml_idp")
def saml_idp_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlIdp]:
    """SimpleSAMLphp on a free loopback port, for the whole run."""
    idp = SamlIdp(tmp_path_factory.mktemp("simplesamlphp"))
    idp.start()
    try:
        yield idp
    finally:
        idp.stop()


def decode_response(saml_response: str) -> bytes:
    return base64.b64decode(saml_response)


def encode_response(xml: bytes) -> str:
    return base64.b64encode(xml).decode()


def provider_settings(providers: Mapping[str, Mapping[str, Any]], base_url: str) -> dict[str, Any]:
    """A settings mapping for formsvc.services.saml outside an app."""
    return {"SSO_PROVIDERS": dict(providers), "PUBLIC_BASE_URL": base_url}


# --- taking a response apart: hostile tests change a real response and sign it again -----------

NS = {
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}


def response_tree(saml_response: str) -> Any:
    """A SAMLResponse (base64) as an lxml tree."""
    from lxml import etree

    return etree.fromstring(base64.b64decode(saml_response))


def to_response(root: Any) -> str:
    """An lxml tree back to a SAMLResponse (base64)."""
    from lxml import etree

    return base64.b64encode(etree.tostring(root)).decode()


def sign_assertion(assertion: Any, key_path: Path, cert_path: Path) -> None:
    """Replace *assertion*'s signature (in place) by a new one with the given key: the IdP's own
    key for an assertion changed after signing that must still verify, another for a forgery."""
    from lxml import etree
    from signxml import XMLSigner, methods
    from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

    for old in assertion.findall("ds:Signature", NS):
        assertion.remove(old)
    standalone = etree.fromstring(etree.tostring(assertion))
    issuer = standalone.find("saml:Issuer", NS)
    placeholder = etree.Element(
        f"{{{NS['ds']}}}Signature", Id="placeholder", nsmap={"ds": NS["ds"]}
    )
    issuer.addnext(placeholder)
    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed = signer.sign(
        standalone,
        key=key_path.read_bytes(),
        cert=cert_path.read_text(),
        reference_uri="#" + assertion.get("ID"),
        id_attribute="ID",
    )
    parent = assertion.getparent()
    parent.replace(assertion, signed)
