"""A protocol test peer for BankID's Relying Party API v6 — NOT BankID, and not a copy of it.

Written from BankID's published RP API v6 documentation (auth, sign, collect, cancel; error codes;
hint codes; the animated QR code; the completionData and the XML signature format) so the
service's BankID client can be exercised end to end on loopback: BankID's test environment is
not reachable from the test machines. What it cannot tell: whether the real BankID answers
exactly so. The service has only been tried against this peer.

- HTTPS with mutual TLS: a test CA (made by the fixture) issues the peer's server certificate
  and the RP client certificates; a client without a certificate, or with one from another CA,
  is refused in the handshake; a certificate of the right CA that is not registered as an RP
  gets 401 unauthorized.
- POST /rp/v6.0/auth, /sign, /collect, /cancel with the documented request validation and error
  answers {"errorCode", "details"}.
- A test-only control interface (Python methods, called by tests in-process) that plays the
  user's BankID app: scan a QR code's content (validated like BankID does: the HMAC of the
  seconds since the order started, within a tolerance) or open the app with the
  autoStartToken; then complete as a given person, or cancel; or force a hint code.
- completionData with a real XMLDSig signature (signxml) over bankIdSignedData, made with a
  per-person certificate issued by the test CA, and a real OCSP response (cryptography's OCSP
  builder) for that certificate, signed by an OCSP responder certificate of the test CA.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree
from signxml import XMLSigner, methods
from signxml.algorithms import CanonicalizationMethod

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
BANKID_NS = "http://www.bankid.com/signature/v1.0.0/types"
API = "/rp/v6.0/"
#: documented limits (characters after base64 encoding)
MAX_VISIBLE = 1500
MAX_NON_VISIBLE = 200_000
MAX_BODY = 512 * 1024
#: documented: an order not completed within a few minutes fails with expiredTransaction
ORDER_LIFETIME = 180.0
#: how far the seconds in a scanned QR code may be from the order's age (scan + network delay)
QR_TOLERANCE = 10
_PNR = re.compile(r"\d{12}")
_QR = re.compile(r"bankid\.([0-9a-f-]{36})\.(\d{1,6})\.([0-9a-f]{64})")
PENDING_HINTS = ("outstandingTransaction", "noClient", "started", "userMrtd", "userSign")
FAILED_HINTS = ("expiredTransaction", "certificateErr", "userCancel", "cancelled", "startFailed")


class PeerRefused(Exception):
    """The simulated app cannot do what the test asked (expired order, bad QR code …)."""


# -- test PKI -----------------------------------------------------------------------------------


def _name(cn: str, **extra: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "SE")]
    oids = {
        "o": NameOID.ORGANIZATION_NAME,
        "serial": NameOID.SERIAL_NUMBER,
        "given": NameOID.GIVEN_NAME,
        "surname": NameOID.SURNAME,
        "name": NameOID.PSEUDONYM,
    }
    for key, value in extra.items():
        attrs.append(x509.NameAttribute(oids[key], value))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issued:
    """A certificate and its key (and where they were written, if they were)."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    cert_file: Path | None = None
    key_file: Path | None = None


class TestCa:
    """A throwaway CA for the peer: server, RP client, OCSP responder and user certificates."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, name: str = "formsvc BankID test CA") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.key = _key()
        now = dt.datetime.now(dt.UTC)
        subject = _name(name, o="formsvc tests (not BankID)")
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(
        self,
        subject: x509.Name,
        *,
        usage: list[x509.ObjectIdentifier] | None = None,
        san: list[x509.GeneralName] | None = None,
        file_stem: str | None = None,
    ) -> Issued:
        """A leaf certificate for *subject* (RSA 2048), written as PEM files if *file_stem*."""
        key = _key()
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        issued = Issued(builder.sign(self.key, hashes.SHA256()), key)
        if file_stem:
            issued.cert_file = self.directory / f"{file_stem}.pem"
            issued.key_file = self.directory / f"{file_stem}.key"
            issued.cert_file.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
            issued.key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return issued

    def rp_client(self, stem: str, org: str = "Stockholms stad (test RP)") -> Issued:
        """An RP client certificate (what BankID's FPTestcert is to its test environment)."""
        return self.issue(
            _name(f"{org} {stem}", o=org), usage=[ExtendedKeyUsageOID.CLIENT_AUTH], file_stem=stem
        )


# -- orders -------------------------------------------------------------------------------------


@dataclass
class _Order:
    kind: str  # "auth" | "sign"
    order_ref: str
    auto_start_token: str
    qr_start_token: str
    qr_start_secret: str
    created: float
    end_user_ip: str
    visible_b64: str | None
    visible_format: str | None
    non_visible_b64: str | None
    requirement: dict[str, Any]
    rp_subject: x509.Name
    status: str = "pending"
    hint: str | None = "outstandingTransaction"
    completion: dict[str, Any] | None = None
    collects: int = 0
    events: list[str] = field(default_factory=list)


def _error(status: int, code: str, details: str) -> tuple[int, dict[str, Any]]:
    return status, {"errorCode": code, "details": details}


def _is_b64(value: Any, limit: int) -> bool:
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


class BankIdPeer:
    """The peer: an HTTPS server on 127.0.0.1 and the control interface tests drive."""

    def __init__(self, directory: Path) -> None:
        self.ca = TestCa(directory / "ca")
        self.server = self.ca.issue(
            _name("127.0.0.1", o="formsvc tests (not BankID)"),
            usage=[ExtendedKeyUsageOID.SERVER_AUTH],
            san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
            file_stem="server",
        )
        self.rp = self.ca.rp_client("rp")
        #: registered RP certificates (SHA-256 of DER); others get 401 unauthorized
        self.registered = {self._fingerprint(self.rp.cert)}
        self.ocsp_responder = self.ca.issue(
            _name("formsvc BankID test OCSP responder", o="formsvc tests (not BankID)"),
            usage=[ExtendedKeyUsageOID.OCSP_SIGNING],
        )
        self.order_lifetime = ORDER_LIFETIME
        self.qr_tolerance = QR_TOLERANCE
        self._orders: dict[str, _Order] = {}
        self._users: dict[str, Issued] = {}
        self._lock = threading.RLock()
        self._next_errors: list[tuple[int, str, str]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._httpd = _TlsServer(("127.0.0.1", 0), _handler(self), self._tls_context())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- lifecycle

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        """Forget orders and injected failures (between tests)."""
        with self._lock:
            self._orders.clear()
            self._next_errors.clear()
            self.requests.clear()
            self.order_lifetime = ORDER_LIFETIME
            self.qr_tolerance = QR_TOLERANCE

    @property
    def url(self) -> str:
        """The API base URL, as settings["BANKID"]["url"] takes it."""
        host, port = self._httpd.server_address[:2]
        return f"https://{host}:{port}{API}"

    @property
    def settings(self) -> dict[str, str]:
        """settings["BANKID"] for a relying party registered at this peer."""
        assert self.rp.cert_file and self.rp.key_file
        return {
            "url": self.url,
            "cert_file": str(self.rp.cert_file),
            "key_file": str(self.rp.key_file),
            "ca_file": str(self.ca.ca_file),
        }

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        assert self.server.cert_file and self.server.key_file
        ctx.load_cert_chain(self.server.cert_file, self.server.key_file)
        ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no connection
        ctx.load_verify_locations(cafile=str(self.ca.ca_file))
        return ctx

    @staticmethod
    def _fingerprint(cert: x509.Certificate) -> str:
        return cert.fingerprint(hashes.SHA256()).hex()

    # -- the API

    def handle(
        self, path: str, body: bytes, client_der: bytes | None
    ) -> tuple[int, dict[str, Any]]:
        """Answer one API call (status, JSON body); the HTTP handler calls this."""
        if client_der is None:
            return _error(401, "unauthorized", "No client certificate.")
        client_cert = x509.load_der_x509_certificate(client_der)
        if self._fingerprint(client_cert) not in self.registered:
            return _error(401, "unauthorized", "RP does not have access to the service.")
        with self._lock:
            if self._next_errors:
                status, code, details = self._next_errors.pop(0)
                return _error(status, code, details)
        if not path.startswith(API):
            return _error(404, "notFound", "An invalid URL path was used.")
        endpoint = path[len(API) :]
        if endpoint not in ("auth", "sign", "collect", "cancel"):
            return _error(404, "notFound", "An invalid URL path was used.")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _error(400, "invalidParameters", "Invalid JSON.")
        if not isinstance(data, dict):
            return _error(400, "invalidParameters", "Invalid JSON.")
        with self._lock:
            self.requests.append((endpoint, data))
            if endpoint in ("auth", "sign"):
                return self._start(endpoint, data, client_cert)
            ref = data.get("orderRef")
            if not isinstance(ref, str) or not ref:
                return _error(400, "invalidParameters", "Invalid orderRef.")
            order = self._orders.get(ref)
            if order is None:
                return _error(400, "invalidParameters", "No such order.")
            if endpoint == "collect":
                return self._collect(order)
            return self._cancel(order)

    def _start(
        self, kind: str, data: dict[str, Any], client_cert: x509.Certificate
    ) -> tuple[int, dict[str, Any]]:
        ip = data.get("endUserIp")
        try:
            ipaddress.ip_address(ip)  # type: ignore[arg-type]
        except ValueError:
            return _error(400, "invalidParameters", "Invalid endUserIp.")
        visible = data.get("userVisibleData")
        if kind == "sign" and visible is None:
            return _error(400, "invalidParameters", "Missing userVisibleData.")
        if visible is not None and not _is_b64(visible, MAX_VISIBLE):
            return _error(400, "invalidParameters", "Invalid userVisibleData.")
        non_visible = data.get("userNonVisibleData")
        if non_visible is not None and not _is_b64(non_visible, MAX_NON_VISIBLE):
            return _error(400, "invalidParameters", "Invalid userNonVisibleData.")
        fmt = data.get("userVisibleDataFormat")
        if fmt is not None and fmt != "simpleMarkdownV1":
            return _error(400, "invalidParameters", "Invalid userVisibleDataFormat.")
        return_url = data.get("returnUrl")
        if return_url is not None and (
            not isinstance(return_url, str) or not return_url or len(return_url) > 2000
        ):
            return _error(400, "invalidParameters", "Invalid returnUrl.")
        requirement = data.get("requirement", {})
        problem = self._requirement_problem(requirement)
        if problem:
            return _error(400, "invalidParameters", problem)
        pnr = requirement.get("personalNumber")
        if pnr:
            for other in self._orders.values():
                if other.status == "pending" and other.requirement.get("personalNumber") == pnr:
                    # documented: the order in progress is aborted too, no order is created
                    other.status, other.hint = "failed", "cancelled"
                    return _error(400, "alreadyInProgress", "Order already in progress.")
        order = _Order(
            kind=kind,
            order_ref=str(uuid.uuid4()),
            auto_start_token=str(uuid.uuid4()),
            qr_start_token=str(uuid.uuid4()),
            qr_start_secret=str(uuid.uuid4()),
            created=time.time(),
            end_user_ip=str(ip),
            visible_b64=visible,
            visible_format=fmt,
            non_visible_b64=non_visible,
            requirement=dict(requirement),
            rp_subject=client_cert.subject,
        )
        self._orders[order.order_ref] = order
        return 200, {
            "orderRef": order.order_ref,
            "autoStartToken": order.auto_start_token,
            "qrStartToken": order.qr_start_token,
            "qrStartSecret": order.qr_start_secret,
        }

    @staticmethod
    def _requirement_problem(requirement: Any) -> str | None:
        if not isinstance(requirement, dict):
            return "Invalid requirement."
        checks: dict[str, Callable[[Any], bool]] = {
            "pinCode": lambda v: isinstance(v, bool),
            "mrtd": lambda v: isinstance(v, bool),
            "cardReader": lambda v: v in ("class1", "class2"),
            "certificatePolicies": lambda v: (
                isinstance(v, list)
                and all(isinstance(p, str) and re.fullmatch(r"[0-9.*]+", p) for p in v)
            ),
            "personalNumber": lambda v: isinstance(v, str) and bool(_PNR.fullmatch(v)),
        }
        for key, value in requirement.items():
            check = checks.get(key)
            if check is None or not check(value):
                return f"Invalid requirement.{key}."
        return None

    def _expire_if_due(self, order: _Order) -> None:
        if order.status == "pending" and time.time() - order.created > self.order_lifetime:
            order.status, order.hint = "failed", "expiredTransaction"

    def _collect(self, order: _Order) -> tuple[int, dict[str, Any]]:
        self._expire_if_due(order)
        order.collects += 1
        answer: dict[str, Any] = {"orderRef": order.order_ref, "status": order.status}
        if order.status == "complete":
            answer["completionData"] = order.completion
        else:
            answer["hintCode"] = order.hint
        return 200, answer

    def _cancel(self, order: _Order) -> tuple[int, dict[str, Any]]:
        if order.status != "pending":
            return _error(400, "invalidParameters", "Order is not pending.")
        order.status, order.hint = "failed", "cancelled"
        return 200, {}

    # -- the control interface: what the user's BankID app and the test harness do

    def fail_next(self, error_code: str, details: str = "Injected by the test.") -> None:
        """Answer the next API call with a documented error (maintenance, internalError,
        requestTimeout, unauthorized …)."""
        status = {
            "maintenance": 503,
            "internalError": 500,
            "requestTimeout": 408,
            "unauthorized": 401,
            "notFound": 404,
            "invalidParameters": 400,
            "alreadyInProgress": 400,
        }[error_code]
        with self._lock:
            self._next_errors.append((status, error_code, details))

    def order(self, order_ref: str) -> _Order:
        """An order by its reference (KeyError if none)."""
        with self._lock:
            return self._orders[order_ref]

    def _find(self, ref_or_qr: str) -> _Order:
        if ref_or_qr.startswith("bankid."):
            return self._orders[self.scan(ref_or_qr)]
        order = self._orders.get(ref_or_qr)
        if order is None:
            raise PeerRefused("no such order")
        return order

    def _pending(self, order: _Order) -> None:
        self._expire_if_due(order)
        if order.status != "pending":
            raise PeerRefused(f"the order is {order.status} ({order.hint})")

    def scan(self, qr_content: str, *, now: float | None = None) -> str:
        """The app reads an animated QR code: validates it as BankID does, returns the orderRef.

        The content is bankid.<qrStartToken>.<seconds>.<HMAC-SHA256(qrStartSecret, seconds)>;
        the seconds must be within the tolerance of the order's age."""
        match = _QR.fullmatch(qr_content.strip())
        if not match:
            raise PeerRefused("not a BankID QR code")
        token, seconds, code = match.group(1), int(match.group(2)), match.group(3)
        with self._lock:
            order = next((o for o in self._orders.values() if o.qr_start_token == token), None)
            if order is None:
                raise PeerRefused("unknown qrStartToken")
            expected = hmac.new(
                order.qr_start_secret.encode(), str(seconds).encode(), hashlib.sha256
            ).hexdigest()
            if not hmac.compare_digest(expected, code):
                raise PeerRefused("QR code's HMAC does not match")
            age = int((time.time() if now is None else now) - order.created)
            if abs(age - seconds) > self.qr_tolerance:
                raise PeerRefused(
                    f"QR code is {seconds} s into the order, the order is {age} s old"
                )
            self._pending(order)
            order.hint = "userSign"
            order.events.append("scanned")
            return order.order_ref

    def open_app(self, auto_start_token: str) -> str:
        """The app is started on the same device with the autoStartToken; returns the orderRef."""
        with self._lock:
            order = next(
                (o for o in self._orders.values() if o.auto_start_token == auto_start_token), None
            )
            if order is None:
                raise PeerRefused("unknown autoStartToken")
            self._pending(order)
            order.hint = "started"
            order.events.append("opened")
            return order.order_ref

    def set_hint(self, ref_or_qr: str, hint_code: str) -> None:
        """Force a hint code: a pending one keeps the order pending, a failed one ends it."""
        with self._lock:
            order = self._find(ref_or_qr)
            self._pending(order)
            if hint_code in FAILED_HINTS:
                order.status = "failed"
            elif hint_code not in PENDING_HINTS:
                raise ValueError(f"not a documented hint code: {hint_code}")
            order.hint = hint_code

    def expire(self, order_ref: str) -> None:
        """Age the order past its lifetime (instead of waiting minutes)."""
        with self._lock:
            self._orders[order_ref].created -= self.order_lifetime + 1

    def cancel_by_user(self, ref_or_qr: str) -> None:
        """The user presses Avbryt in the app."""
        with self._lock:
            order = self._find(ref_or_qr)
            self._pending(order)
            order.status, order.hint = "failed", "userCancel"

    def complete(
        self,
        ref_or_qr: str,
        personal_number: str,
        name: str,
        *,
        device_ip: str = "192.0.2.10",
        signed_text: str | None = None,
        cert_serial: bool = True,
    ) -> dict[str, Any]:
        """The user signs (or identifies) in the app as *personal_number*/*name*; returns the
        completionData the next collect will carry. A QR code's content is scanned first.

        Two switches play a server that gets it wrong (for the relying party's own checks):
        *signed_text* makes the signature cover that text instead of the order's
        userVisibleData; ``cert_serial=False`` signs with a certificate that names no
        personnummer (no serialNumber in its subject)."""
        if not _PNR.fullmatch(personal_number):
            raise ValueError("a personal number has 12 digits")
        with self._lock:
            order = self._find(ref_or_qr)
            self._pending(order)
            wanted = order.requirement.get("personalNumber")
            if wanted and wanted != personal_number:
                raise PeerRefused("requirement.personalNumber names another person")
            user = self._user(personal_number, name, serial=cert_serial)
            given, _, surname = name.partition(" ")
            uhi = base64.b64encode(secrets.token_bytes(21)).decode()
            visible = (
                base64.b64encode(signed_text.encode()).decode()
                if signed_text is not None
                else order.visible_b64
            )
            signature = self._signature(order, user, uhi, visible_b64=visible)
            order.completion = {
                "user": {
                    "personalNumber": personal_number,
                    "name": name,
                    "givenName": given,
                    "surname": surname or given,
                },
                "device": {"ipAddress": device_ip, "uhi": uhi},
                "bankIdIssueDate": (dt.date.today() - dt.timedelta(days=400)).isoformat(),
                "stepUp": {"mrtd": bool(order.requirement.get("mrtd"))},
                "signature": base64.b64encode(signature).decode("ascii"),
                "ocspResponse": base64.b64encode(self.ocsp_for(user.cert)).decode("ascii"),
            }
            order.status, order.hint = "complete", None
            order.events.append("completed")
            return order.completion

    # -- what completion carries

    def _user(self, personal_number: str, name: str, *, serial: bool = True) -> Issued:
        key = f"{personal_number}|{name}|{serial}"
        if key not in self._users:
            given, _, surname = name.partition(" ")
            extra = {"serial": personal_number} if serial else {}
            subject = _name(
                f"{name} {personal_number}",
                given=given,
                surname=surname or given,
                **extra,
                name=name,
            )
            self._users[key] = self.ca.issue(subject)
        return self._users[key]

    def user_certificate(self, personal_number: str, name: str) -> Issued:
        """The test certificate a person completes with (made on first use)."""
        with self._lock:
            return self._user(personal_number, name)

    def ocsp_for(self, cert: x509.Certificate, status: str = "good") -> bytes:
        """A real OCSP response (DER) for *cert*, signed by the test CA's OCSP responder."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        cert_status = {
            "good": ocsp.OCSPCertStatus.GOOD,
            "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN,
        }[status]
        revoked = status == "revoked"
        response = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=cert,
                issuer=self.ca.cert,
                algorithm=hashes.SHA256(),
                cert_status=cert_status,
                this_update=now,
                next_update=None,
                revocation_time=now if revoked else None,
                revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self.ocsp_responder.cert)
            .certificates([self.ocsp_responder.cert])
            .add_extension(x509.OCSPNonce(secrets.token_bytes(16)), critical=False)
            .sign(self.ocsp_responder.key, hashes.SHA256())
        )
        return response.public_bytes(serialization.Encoding.DER)

    def _signed_data(self, order: _Order, uhi: str, visible_b64: str | None) -> str:
        """bankIdSignedData as BankID's signature format documents it (modelled, not copied)."""

        def b64(text: str) -> str:
            return base64.b64encode(text.encode()).decode()

        parts = []
        if visible_b64:
            fmt = f' format="{order.visible_format}"' if order.visible_format else ""
            parts.append(
                f'<usrVisibleData charset="UTF-8"{fmt} visible="wysiwys">'
                f"{visible_b64}</usrVisibleData>"
            )
        if order.non_visible_b64:
            parts.append(f"<usrNonVisibleData>{order.non_visible_b64}</usrNonVisibleData>")
        rp = order.rp_subject.rfc4514_string()
        org = order.rp_subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        display = str(org[0].value) if org else rp
        parts.append(
            f"<srvInfo><name>{b64(rp)}</name><nonce>{b64(secrets.token_hex(20))}</nonce>"
            f"<displayName>{b64(display)}</displayName></srvInfo>"
        )
        func = "Signing" if order.kind == "sign" else "Identification"
        parts.append(
            f"<clientInfo><funcId>{func}</funcId><version>{b64('Personal=8.0.0&test-peer=1')}"
            f"</version><env><ai><type>{b64('IOS')}</type><deviceInfo>{b64('17.5')}</deviceInfo>"
            f"<uhi>{b64(uhi)}</uhi><fsib>0</fsib><utb>cs1</utb><requirement/>"
            f"<uauth>pw</uauth></ai></env></clientInfo>"
        )
        return (
            f'<bankIdSignedData xmlns="{BANKID_NS}" Id="bidSignedData">{"".join(parts)}'
            f"</bankIdSignedData>"
        )

    def _signature(
        self, order: _Order, user: Issued, uhi: str, *, visible_b64: str | None
    ) -> bytes:
        """An enveloping XMLDSig Signature (no ds: prefix, as BankID's) with two references,
        #bidSignedData and #bidKeyInfo, made by the user's certificate with signxml."""
        chain = [user.cert, self.ca.cert]
        certs = "".join(
            "<X509Certificate>"
            + base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            + "</X509Certificate>"
            for c in chain
        )
        holder = etree.fromstring(
            f'<holder><KeyInfo xmlns="{DS_NS}" Id="bidKeyInfo"><X509Data>{certs}</X509Data>'
            f'</KeyInfo><Object xmlns="{DS_NS}">{self._signed_data(order, uhi, visible_b64)}'
            f"</Object></holder>"
        )
        signer = XMLSigner(
            method=methods.detached,
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )
        signer.namespaces = {None: DS_NS}
        signer.signature_annotators = []  # KeyInfo is ours, and signed (#bidKeyInfo)
        sig = signer.sign(holder, key=user.key, reference_uri=["#bidSignedData", "#bidKeyInfo"])
        sig.append(holder[0])
        sig.append(holder[0])  # the Object (the list shifted)
        return etree.tostring(sig, xml_declaration=False, encoding="UTF-8")


# -- HTTP ---------------------------------------------------------------------------------------


class _TlsServer(ThreadingHTTPServer):
    """Does the TLS handshake in the connection's own thread (a stalled client blocks no one)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, ctx: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self.ctx = ctx

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # refused in the handshake: no or a foreign client certificate
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                tls.shutdown(socket.SHUT_RDWR)
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-request is not the test's business


def _handler(peer: BankIdPeer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_BODY:
                self._send(*_error(400, "invalidParameters", "Request too large."))
                self.close_connection = True
                return
            body = self.rfile.read(length)
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/json":
                self._send(*_error(415, "unsupportedMediaType", "Use application/json."))
                return
            der = self.connection.getpeercert(binary_form=True)
            self._send(*peer.handle(self.path, body, der))

        def _not_allowed(self) -> None:
            self._send(*_error(405, "methodNotAllowed", "Use POST."))

        do_GET = do_PUT = do_DELETE = do_PATCH = _not_allowed  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep test output clean

    return Handler
