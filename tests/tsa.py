"""A loopback RFC 3161 timestamp server for tests: pyHanko's DummyTimeStamper behind http.server."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps import DummyTimeStamper

#: A timestamp request is a few hundred bytes; anything far larger is not one.
MAX_REQUEST = 64 * 1024


def make_tsa_credentials() -> tuple[asn1_x509.Certificate, keys.PrivateKeyInfo]:
    """A self-signed RSA TSA certificate (EKU timeStamping, critical) and its key (asn1crypto)."""
    # DummyTimeStamper signs with RSA PKCS#1 v1.5 only
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "formsvc tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, "formsvc test TSA"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        keys.PrivateKeyInfo.load(der_key),
    )


class TimestampServer:
    """Answers RFC 3161 requests on http://127.0.0.1:<free port>/; counts the tokens it issued."""

    def __init__(self) -> None:
        self.certificate, key = make_tsa_credentials()
        self.stamper = DummyTimeStamper(tsa_cert=self.certificate, tsa_key=key)
        self.issued = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where to send timestamp requests."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_REQUEST:
                    self.send_error(400)
                    return
                try:
                    req = tsp.TimeStampReq.load(self.rfile.read(length))
                    body = server.stamper.request_tsa_response(req).dump()
                except Exception:  # noqa: BLE001 - a malformed request gets a 400, not a crash
                    self.send_error(400)
                    return
                with server._lock:
                    server.issued += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # keep test output clean

        return Handler

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


@contextmanager
def running_tsa() -> Iterator[TimestampServer]:
    """A started TimestampServer, stopped on exit."""
    server = TimestampServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
