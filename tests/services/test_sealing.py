"""The organisation's seal: sealed PDFs verify elsewhere, tampering shows, certificates rotate."""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from flask import Flask
from fpdf import FPDF
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfWriter
from pypdf.annotations import FreeText

from formsvc.services.sealing import (
    Sealer,
    SealError,
    active_pkcs12_path,
    generate_demo_pkcs12,
    get_sealer,
    install_pkcs12,
    trusted_certificates,
    verify,
)
from tests.helpers import pdf_text
from tests.tsa import TimestampServer, running_tsa

INSTANCE_PASS = "instans-losen-for-test"
UPLOAD_PASS = "uppladdat-losen"
REASON = "Försegling av signerat dokument"
LOCATION = "Stockholm"


def sample_pdf() -> bytes:
    """An uncompressed one-page PDF whose text (an amount) is easy to find in the bytes."""
    doc = FPDF()
    doc.set_compression(False)
    doc.add_page()
    doc.set_font("helvetica", size=14)
    doc.cell(text="Beviljat belopp: 1000 kr")
    return bytes(doc.output())


def make_p12(
    *,
    key: Any = None,
    common_name: str = "Nytt sigill",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    with_key: bool = True,
    passphrase: str = UPLOAD_PASS,
) -> bytes:
    """A PKCS#12 as a CA would hand it out (self-signed here)."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stockholms stad"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=365))
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
        .sign(key, algorithm)
    )
    return pkcs12.serialize_key_and_certificates(
        b"sigill",
        key if with_key else None,
        cert,
        None,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )


def pdfsig(pdf: bytes) -> str:
    """poppler's independent reading of the signatures in *pdf*."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sealed.pdf"
        path.write_bytes(pdf)
        out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    return out.stdout + out.stderr


@pytest.fixture
def seal_dir(tmp_path: Path) -> Path:
    # its own folder: the shared config fixture may already have made tmp_path/"seal"
    path = tmp_path / "seal-under-test"
    path.mkdir(mode=0o700)
    (path / "demo-seal.p12").write_bytes(generate_demo_pkcs12(INSTANCE_PASS.encode()))
    return path


@pytest.fixture
def config(config: dict[str, Any], seal_dir: Path) -> dict[str, Any]:
    """The test config plus this instance's demo seal (before `app` is built)."""
    return {
        **config,
        "SEAL_PKCS12_PATH": str(seal_dir / "demo-seal.p12"),
        "SEAL_PKCS12_PASSPHRASE": INSTANCE_PASS,
        "SEAL_TIMESTAMP_URL": None,
        "SEAL_REASON": REASON,
        "SEAL_LOCATION": LOCATION,
    }


@pytest.fixture
def sealer(seal_dir: Path) -> Sealer:
    return Sealer.from_pkcs12(seal_dir / "demo-seal.p12", INSTANCE_PASS)


@pytest.fixture
def sealed(sealer: Sealer) -> bytes:
    return sealer.seal(sample_pdf(), reason=REASON, location=LOCATION)


@pytest.fixture(scope="module")
def tsa() -> Iterator[TimestampServer]:
    with running_tsa() as server:
        yield server


def test_sealed_pdf_validates_in_pyhanko_and_poppler(sealer: Sealer, sealed: bytes) -> None:
    embedded = PdfFileReader(io.BytesIO(sealed)).embedded_signatures
    assert [s.field_name for s in embedded] == ["Sigill"]
    status = validate_pdf_signature(
        embedded[0], ValidationContext(trust_roots=[sealer.certificate])
    )
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert embedded[0].sig_object["/Reason"] == REASON
    assert embedded[0].sig_object["/SubFilter"] == "/ETSI.CAdES.detached"

    report = pdfsig(sealed)
    assert "Signature is Valid" in report
    assert "Total document signed" in report
    assert "formsvc demo seal" in report

    result = verify(sealed, [sealer.certificate])
    assert result.ok
    assert (result.is_pdf, result.sealed, result.intact, result.trusted, result.whole_file) == (
        True,
        True,
        True,
        True,
        True,
    )
    assert result.problems == []
    assert result.signer == "formsvc demo seal – inte för skarp drift, Stockholms stad (DEMO)"
    assert result.signed_at is not None
    assert abs(dt.datetime.now(dt.UTC) - result.signed_at) < dt.timedelta(minutes=5)
    assert result.timestamped is False
    assert sealer.subject == result.signer


def test_seal_by_a_certificate_outside_the_trust_list_is_intact_but_not_trusted(
    sealed: bytes,
) -> None:
    stranger = Sealer.from_pkcs12(_write(make_p12(common_name="Någon annan")), UPLOAD_PASS)
    result = verify(sealed, [stranger.certificate])
    assert result.intact and result.whole_file
    assert not result.trusted and not result.ok
    assert any("betrodda" in p for p in result.problems)


def _write(data: bytes) -> Path:
    fd, name = tempfile.mkstemp(suffix=".p12")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


def test_flipping_a_byte_inside_the_signed_range_breaks_the_seal(
    sealer: Sealer, sealed: bytes
) -> None:
    at = sealed.index(b"1000 kr")
    tampered = sealed[:at] + b"9" + sealed[at + 1 :]
    assert "Beviljat belopp: 9000 kr" in pdf_text(tampered)  # what a reader would now see

    result = verify(tampered, [sealer.certificate])
    assert result.is_pdf and result.sealed
    assert not result.intact and not result.trusted and not result.ok
    assert any("ändrats efter förseglingen" in p for p in result.problems)
    assert "Digest Mismatch" in pdfsig(tampered)


def test_an_incremental_update_after_the_seal_is_reported(sealer: Sealer, sealed: bytes) -> None:
    writer = PdfWriter(io.BytesIO(sealed), incremental=True)
    writer.add_annotation(
        page_number=0, annotation=FreeText(text="Beviljat: 9000 kr", rect=(50, 550, 250, 600))
    )
    out = io.BytesIO()
    writer.write(out)
    updated = out.getvalue()
    assert updated.startswith(sealed)  # the sealed revision itself is untouched

    result = verify(updated, [sealer.certificate])
    assert result.sealed and result.intact and result.trusted
    assert not result.whole_file and not result.ok
    assert any("efter att det förseglades" in p for p in result.problems)
    assert "Not total document signed" in pdfsig(updated)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        os.urandom(4096),
        _png(),
        b"%PDF-1.7\n" + os.urandom(4096),
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
    ],
    ids=["empty", "random", "png", "pdf-header-then-garbage", "broken-pdf"],
)
def test_garbage_is_not_a_pdf_and_never_raises(sealer: Sealer, data: bytes) -> None:
    result = verify(data, [sealer.certificate])
    assert not result.is_pdf and not result.ok
    assert result.problems
    assert len(result.sha256) == 64


def test_truncated_sealed_pdf_is_not_ok(sealer: Sealer, sealed: bytes) -> None:
    result = verify(sealed[: len(sealed) // 2], [sealer.certificate])
    assert not result.ok
    assert result.problems


def test_unsigned_pdf_is_a_pdf_without_a_seal(sealer: Sealer) -> None:
    result = verify(sample_pdf(), [sealer.certificate])
    assert result.is_pdf
    assert not result.sealed and not result.ok
    assert result.problems == ["Dokumentet har inget elektroniskt sigill."]


def test_seal_refuses_a_non_pdf_with_a_swedish_message(sealer: Sealer) -> None:
    with pytest.raises(SealError) as err:
        sealer.seal(b"inte en pdf", reason=REASON, location=LOCATION)
    assert "PDF-filen går inte att läsa" in err.value.message


def test_get_sealer_loads_once_and_reloads_after_install(app: Flask, seal_dir: Path) -> None:
    first = get_sealer(app)
    assert get_sealer(app) is first
    assert active_pkcs12_path(app) == seal_dir / "demo-seal.p12"

    subject = install_pkcs12(app, make_p12(common_name="Sigill 2027"), UPLOAD_PASS)
    assert subject == "Sigill 2027, Stockholms stad"
    second = get_sealer(app)
    assert second is not first
    assert second.subject == subject
    assert get_sealer(app) is second


def test_install_rotates_the_seal_and_old_documents_still_verify(
    app: Flask, seal_dir: Path
) -> None:
    old_doc = get_sealer(app).seal(sample_pdf(), reason=REASON, location=LOCATION)
    old_cert = get_sealer(app).certificate

    subject = install_pkcs12(app, make_p12(common_name="Sigill RSA"), UPLOAD_PASS)

    active = active_pkcs12_path(app)
    assert active.parent == seal_dir
    assert active.name.startswith("seal-") and active.suffix == ".p12"
    assert (seal_dir / "active.txt").read_text(encoding="utf-8").strip() == active.name
    assert active.stat().st_mode & 0o777 == 0o600
    # stored under the instance passphrase, not the one it was uploaded with
    assert Sealer.from_pkcs12(active, INSTANCE_PASS).subject == subject
    with pytest.raises(SealError):
        Sealer.from_pkcs12(active, UPLOAD_PASS)

    pems = list((seal_dir / "trusted").glob("*.pem"))
    assert len(pems) == 1
    assert b"-----BEGIN CERTIFICATE-----" in pems[0].read_bytes()

    trust = trusted_certificates(app)
    assert {c.sha256 for c in trust} == {old_cert.sha256, get_sealer(app).certificate.sha256}
    old = verify(old_doc, trust)
    assert old.ok and old.signer.startswith("formsvc demo seal")

    new_doc = get_sealer(app).seal(sample_pdf(), reason=REASON, location=LOCATION)
    new = verify(new_doc, trust)
    assert new.ok and new.signer == "Sigill RSA, Stockholms stad"
    assert "Signature is Valid" in pdfsig(new_doc)
    assert "Total document signed" in pdfsig(new_doc)


def test_install_accepts_an_ecdsa_p12(app: Flask) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    subject = install_pkcs12(app, make_p12(key=key, common_name="Sigill EC"), UPLOAD_PASS)
    doc = get_sealer(app).seal(sample_pdf(), reason=REASON, location=LOCATION)
    assert subject == "Sigill EC, Stockholms stad"
    assert verify(doc, trusted_certificates(app)).ok


def _key_only() -> bytes:
    """A private key with no certificate at all."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return pkcs12.serialize_key_and_certificates(
        b"x", key, None, None, serialization.BestAvailableEncryption(UPLOAD_PASS.encode())
    )


def _expired() -> bytes:
    now = dt.datetime.now(dt.UTC)
    return make_p12(not_before=now - dt.timedelta(days=400), not_after=now - dt.timedelta(days=1))


def _not_yet_valid() -> bytes:
    now = dt.datetime.now(dt.UTC)
    return make_p12(not_before=now + dt.timedelta(days=2), not_after=now + dt.timedelta(days=400))


@pytest.mark.parametrize(
    ("make", "passphrase", "message"),
    [
        (lambda: os.urandom(3000), UPLOAD_PASS, "inte en PKCS#12-fil"),
        (lambda: b"", UPLOAD_PASS, "inte en PKCS#12-fil"),
        (lambda: make_p12(), "fel-losen", "fel lösenord"),
        (lambda: make_p12(with_key=False), UPLOAD_PASS, "ingen privat nyckel"),
        (_key_only, UPLOAD_PASS, "inget certifikat"),
        (_expired, UPLOAD_PASS, "har gått ut"),
        (_not_yet_valid, UPLOAD_PASS, "gäller inte ännu"),
        (
            lambda: make_p12(key=ed25519.Ed25519PrivateKey.generate()),
            UPLOAD_PASS,
            "Nyckeltypen stöds inte",
        ),
        (
            lambda: make_p12(key=rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505
            UPLOAD_PASS,
            "minst 2048 bitar",
        ),
        (lambda: os.urandom(100 * 1024 + 1), UPLOAD_PASS, "för stor"),
    ],
    ids=[
        "random",
        "empty",
        "wrong-pass",
        "cert-only",
        "key-only",
        "expired",
        "not-yet-valid",
        "ed25519",
        "rsa-1024",
        "too-big",
    ],
)
def test_install_refuses_bad_uploads_and_keeps_the_active_seal(
    app: Flask, seal_dir: Path, make: Any, passphrase: str, message: str
) -> None:
    before = get_sealer(app)
    with pytest.raises(SealError) as err:
        install_pkcs12(app, make(), passphrase)
    assert message in err.value.message
    assert get_sealer(app) is before
    assert not (seal_dir / "active.txt").exists()
    assert list(seal_dir.glob("seal-*.p12")) == []


def test_active_txt_cannot_point_outside_the_seal_dir(app: Flask, seal_dir: Path) -> None:
    (seal_dir / "active.txt").write_text("../../etc/passwd\n", encoding="utf-8")
    assert active_pkcs12_path(app) == seal_dir / "demo-seal.p12"
    (seal_dir / "active.txt").write_text("saknas.p12\n", encoding="utf-8")
    assert active_pkcs12_path(app) == seal_dir / "demo-seal.p12"


def test_seal_with_timestamp_server_carries_a_timestamp_token(
    sealer: Sealer, tsa: TimestampServer
) -> None:
    before = tsa.issued
    doc = sealer.seal(sample_pdf(), reason=REASON, location=LOCATION, timestamp_url=tsa.url)
    assert tsa.issued > before

    result = verify(doc, [sealer.certificate])
    assert result.ok and result.timestamped
    assert result.signed_at is not None
    assert abs(dt.datetime.now(dt.UTC) - result.signed_at) < dt.timedelta(minutes=5)
    status = validate_pdf_signature(
        PdfFileReader(io.BytesIO(doc)).embedded_signatures[0],
        ValidationContext(trust_roots=[sealer.certificate]),
        ts_validation_context=ValidationContext(trust_roots=[tsa.certificate]),
    )
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.trusted
    assert status.timestamp_validity.signing_cert.sha256 == tsa.certificate.sha256
    assert "Signature is Valid" in pdfsig(doc)


def test_unreachable_timestamp_server_gives_a_swedish_error(sealer: Sealer) -> None:
    # a bound socket that never listens refuses connections for as long as it is held
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        with pytest.raises(SealError) as err:
            sealer.seal(sample_pdf(), reason=REASON, location=LOCATION, timestamp_url=url)
    assert "tidsstämpeltjänsten" in err.value.message


def test_a_seal_without_timestamp_uses_the_room_estimated_once_for_the_key(sealer: Sealer) -> None:
    """pyHanko's per-signature size estimate (a whole dummy CMS) is made once per key; every
    seal's container fits that room, and the seals validate."""
    first = sealer.seal(sample_pdf(), reason=REASON, location=LOCATION)
    room = sealer._room
    assert room is not None and room % 2 == 0
    second = sealer.seal(sample_pdf(), reason="a second document", location=LOCATION)
    assert sealer._room == room  # not estimated again
    for pdf in (first, second):
        for sig in PdfFileReader(io.BytesIO(pdf)).embedded_signatures:
            # /Contents is the hex string of exactly that room, the container inside it
            assert len(sig.sig_object.get_object().raw_get("/Contents").original_bytes) * 2 == room
            status = validate_pdf_signature(
                sig, ValidationContext(trust_roots=[sealer.certificate])
            )
            assert status.intact and status.valid and status.trusted
