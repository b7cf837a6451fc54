"""The organisation's electronic seal: PAdES signatures with pyHanko, and checking them."""

# A seal is one PAdES signature added as an incremental update, so every pypdf change (evidence
# page, metadata) must happen before `Sealer.seal`; any later rewrite breaks the seal. The key is
# parsed once per process (see `get_sealer`), not per document: for RSA that is most of the cost.

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime as dt
import hashlib
import io
import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from flask import Flask
from flask_babel import gettext
from flask_babel import gettext as _
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.signers import constants
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from formsvc.metrics import SEALS
from formsvc.runtime import runtime
from formsvc.services import scans
from formsvc.services.storage import private_dir
from formsvc.services.untrusted import N_, Output, Refused, Runner

logger = logging.getLogger(__name__)

FIELD_NAME = "Sigill"
#: An uploaded PKCS#12 larger than this is refused before parsing (a real one is a few kB).
MAX_PKCS12_BYTES = 100 * 1024
#: Seals made with a certificate whose key usage allows either of these are accepted.
_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
)


class SealError(Exception):
    """Sealing or installing a seal certificate failed; .message is a Swedish sentence."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class _LoadedKeySigner(signers.SimpleSigner):
    """A SimpleSigner that keeps the parsed private key.

    SimpleSigner re-parses its DER key for every signature, which costs ~90 ms for RSA-3072
    (key validation); a seal is made for every finalised document.
    """

    def __init__(self, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """Sign *data* with the cached key; other mechanisms (e.g. RSA-PSS) go to pyHanko."""
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hash_algo))
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, PKCS1v15(), hash_algo)
        return super().sign_raw(data, digest_algorithm)


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_key(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> asn1_keys.PrivateKeyInfo:
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return asn1_keys.PrivateKeyInfo.load(der)


def _human_name(name: asn1_x509.Name) -> str:
    """'CN, O' of a certificate name, falling back to the full name."""
    values = name.native

    def text(key: str) -> str | None:
        value = values.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        return str(value) if value else None

    cn, org = text("common_name"), text("organization_name")
    if cn and org and org not in cn:
        return f"{cn}, {org}"
    return cn or org or name.human_friendly


def _load_pkcs12(
    data: bytes, passphrase: str | bytes | None
) -> tuple[Any, x509.Certificate | None, list[x509.Certificate]]:
    """cryptography's PKCS#12 parse; an empty passphrase also tries 'no passphrase'."""
    if isinstance(passphrase, str):
        passphrase = passphrase.encode()
    attempts: list[bytes | None] = [passphrase] if passphrase else [None, b""]
    last: Exception | None = None
    for attempt in attempts:
        try:
            return pkcs12.load_key_and_certificates(data, attempt)
        except Exception as err:  # noqa: BLE001 - any parse failure means the same to the user
            last = err
    raise SealError(
        _("Filen kunde inte öppnas: den är inte en PKCS#12-fil (.p12/.pfx) eller fel lösenord.")
    ) from last


class Sealer:
    """The organisation's seal: key + certificate loaded once, reused for every document."""

    def __init__(
        self,
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
        certificate: x509.Certificate,
        extra_certificates: list[x509.Certificate] | None = None,
    ) -> None:
        #: the seal certificate, as pyHanko and the validator want it
        self.certificate: asn1_x509.Certificate = _asn1_cert(certificate)
        #: human-readable holder of the seal: "CN, O"
        self.subject: str = _human_name(self.certificate.subject)
        extra = [_asn1_cert(c) for c in extra_certificates or ()]
        self._signer = _LoadedKeySigner(
            key,
            signing_cert=self.certificate,
            signing_key=_asn1_key(key),
            cert_registry=SimpleCertificateStore.from_certs(extra),
        )
        #: room for the signature container when no timestamp is asked for (see _reserved)
        self._room: int | None = None
        self._room_lock = threading.Lock()

    def _reserved(self) -> int:
        """The /Contents room for a seal without timestamp, estimated once for this key.

        pyHanko estimates it by building a whole dummy CMS per signature (about half of a
        seal's time). Without a timestamp the container's size depends only on the key, the
        certificates and fixed-size attributes, so the estimate is made once, the same way
        (a dry run, hex-encoded, plus pyHanko's 50 % margin), and reused."""
        if self._room is None:
            with self._room_lock:
                if self._room is None:
                    digest = hashes.Hash(get_pyca_cryptography_hash("sha256")).finalize()
                    attrs = PdfCMSSignedAttributes(signing_time=datetime.now(dt.UTC))
                    cms = _run_async(
                        lambda: self._signer.async_sign(
                            digest, "sha256", use_pades=True, dry_run=True,
                            signed_attr_settings=attrs,
                        )
                    )  # fmt: skip
                    hex_len = len(cms.dump()) * 2
                    self._room = hex_len + 2 * (hex_len // 4)
        return self._room

    @classmethod
    def from_pkcs12(cls, path: str | Path, passphrase: str | bytes) -> Sealer:
        """Load the seal from a PKCS#12 file; raises SealError with a Swedish message."""
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            raise SealError(_("Sigillcertifikatet (PKCS#12-filen) saknas på servern.")) from err
        key, cert, extra = _load_pkcs12(data, passphrase)
        if key is None:
            raise SealError(_("PKCS#12-filen innehåller ingen privat nyckel."))
        if cert is None:
            raise SealError(_("PKCS#12-filen innehåller inget certifikat."))
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise SealError(_("Nyckeltypen stöds inte; använd RSA eller ECDSA."))
        return cls(key, cert, list(extra))

    def seal(
        self, pdf: bytes, *, reason: str, location: str, timestamp_url: str | None = None
    ) -> bytes:
        """Return *pdf* with one PAdES seal added as an incremental update."""
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        except Exception as err:  # noqa: BLE001 - pyHanko raises many kinds on a bad PDF
            raise SealError(
                _("Dokumentet kunde inte förseglas: PDF-filen går inte att läsa.")
            ) from err
        return self.seal_writer(
            writer, reason=reason, location=location, timestamp_url=timestamp_url
        )

    def seal_writer(
        self,
        writer: IncrementalPdfFileWriter,
        *,
        reason: str,
        location: str,
        timestamp_url: str | None = None,
    ) -> bytes:
        """Seal *writer*'s pending changes and the seal in one incremental update; the file.

        Whatever was added to *writer* before (signature marks, pages, attachments) is written
        in the same revision as the seal, so the seal covers it and the file is written once."""
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=reason,
            location=location,
        )
        timestamper = HTTPTimeStamper(timestamp_url) if timestamp_url else None
        signer = _Pdf17Signer(meta, signer=self._signer, timestamper=timestamper)
        try:
            # with a timestamp pyHanko estimates each time (a TSA's answers vary in size)
            room = None if timestamper is not None else self._reserved()
            out = _run_async(lambda: signer.async_sign_pdf(writer, bytes_reserved=room))
        except Exception as err:  # noqa: BLE001
            logger.exception("sealing failed")
            SEALS.labels(outcome="failed").inc()
            if timestamper is not None and _caused_by_timestamp(err):
                raise SealError(
                    _("Dokumentet kunde inte förseglas: tidsstämpeltjänsten svarade inte.")
                ) from err
            raise SealError(_("Dokumentet kunde inte förseglas.")) from err
        SEALS.labels(outcome="ok").inc()
        return out.getvalue()


class _Pdf17Signer(signers.PdfSigner):
    """pyHanko's signer, keeping the file at PDF 1.7 (with the ESIC extension PAdES declares).

    For an ECDSA key on a named curve pyHanko also declares ISO 32002 and raises the file to
    PDF 2.0. Our final PDFs declare PDF/A-3b, which is based on PDF 1.7, and ECDSA seals were
    valid in PAdES on PDF 1.7 before ISO 32002 existed; so the version stays 1.7 and the file
    claims what it is. RSA seals were already 1.7."""

    def register_extensions(self, pdf_out: Any, *, md_algorithm: str) -> None:
        pdf_out.ensure_output_version(version=(1, 7))
        if pdf_out.output_version < (2, 0):
            pdf_out.register_extension(constants.ESIC_EXTENSION_1)


def _run_async(make: Any) -> Any:
    """Run pyHanko's coroutine to completion, also when this thread already runs an event loop
    (sign_pdf's asyncio.run refuses that; e.g. an app embedded next to an async framework)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _caused_by_timestamp(err: BaseException) -> bool:
    """Whether a timestamp request is somewhere in *err*'s chain."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, TimestampRequestError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _seal_dir(app: Flask) -> Path:
    configured = app.config.get("SEAL_PKCS12_PATH")
    if not configured:
        raise SealError(_("Inget sigillcertifikat är inställt (SEAL_PKCS12_PATH)."))
    return Path(configured).parent


def active_pkcs12_path(app: Flask) -> Path:
    """The PKCS#12 in use: named in <seal dir>/active.txt if present, else SEAL_PKCS12_PATH."""
    seal_dir = _seal_dir(app)
    marker = seal_dir / "active.txt"
    try:
        name = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        name = ""
    # only a plain file name inside the seal dir: active.txt must not point anywhere else
    if name and Path(name).name == name and name not in (".", ".."):
        candidate = seal_dir / name
        if candidate.is_file():
            return candidate
        logger.warning("active.txt names %s, which is missing; using SEAL_PKCS12_PATH", name)
    elif name:
        logger.warning("active.txt holds an invalid file name; using SEAL_PKCS12_PATH")
    return Path(app.config["SEAL_PKCS12_PATH"])


class SealerCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[str, int, int] | None = None
        self.sealer: Sealer | None = None


def get_sealer(app: Flask) -> Sealer:
    """The seal, cached on the app's runtime; reloaded when the active PKCS#12 changes."""
    cache = runtime(app).sealer_cache
    path = active_pkcs12_path(app)
    with cache.lock:
        try:
            st = path.stat()
        except OSError as err:
            raise SealError(_("Sigillcertifikatet (PKCS#12-filen) saknas på servern.")) from err
        key = (str(path), st.st_mtime_ns, st.st_size)
        if cache.sealer is None or cache.key != key:
            cache.sealer = Sealer.from_pkcs12(path, app.config.get("SEAL_PKCS12_PASSPHRASE") or b"")
            cache.key = key
        return cache.sealer


def trusted_certificates(app: Flask) -> list[asn1_x509.Certificate]:
    """The active seal certificate plus every certificate in <seal dir>/trusted/*.pem."""
    certs: list[asn1_x509.Certificate] = []
    try:
        certs.append(get_sealer(app).certificate)
    except SealError as err:
        logger.warning("active seal certificate unavailable: %s", err.message)
    trusted_dir = _seal_dir(app) / "trusted"
    for pem_file in sorted(trusted_dir.glob("*.pem")) if trusted_dir.is_dir() else ():
        try:
            for _type, _headers, der in pem.unarmor(pem_file.read_bytes(), multiple=True):
                certs.append(asn1_x509.Certificate.load(der))
        except Exception:  # noqa: BLE001 - one bad file must not hide the others
            logger.warning("skipping unreadable trusted certificate %s", pem_file)
    unique: dict[bytes, asn1_x509.Certificate] = {}
    for cert in certs:
        unique.setdefault(cert.sha256, cert)
    return list(unique.values())


@dataclass
class Verification:
    """What a check of a PDF's seal found."""

    is_pdf: bool = False  #: the bytes parse as a PDF
    sealed: bool = False  #: it carries at least one signature
    intact: bool = False  #: the signed bytes are unchanged
    trusted: bool = False  #: made with one of the trusted seal certificates
    whole_file: bool = False  #: no changes after the seal
    signer: str | None = None  #: "CN, O" of the seal certificate
    signed_at: datetime | None = (
        None  #: timestamp time if present, else the time the signer claimed
    )
    timestamped: bool = False  #: the seal carries an intact RFC 3161 timestamp token
    sha256: str = ""  #: of the checked bytes
    problems: list[str] = field(default_factory=list)  #: Swedish sentences, empty when ok
    #: at least one seal is made with one of our certificates (even if it no longer matches the
    #: content: a changed file still says whose seal it carried)
    ours: bool = False
    #: a seal or signature in the file is not ours (with `ours`: someone sealed after us)
    others: bool = False
    #: the seal shown (our seal if there is one, else the last) is a demo seal (`is_demo`)
    demo: bool = False

    @property
    def ok(self) -> bool:
        """A PDF sealed by us and unchanged since."""
        return self.is_pdf and self.sealed and self.intact and self.trusted and self.whole_file


def verify(
    pdf: bytes, trust: list[asn1_x509.Certificate], *, reader: PdfFileReader | None = None
) -> Verification:
    """Check the seal(s) of *pdf* against *trust*; never raises on garbage input.

    *reader*: pyHanko's reader of *pdf* when the caller has opened it already."""
    result = Verification(sha256=hashlib.sha256(pdf).hexdigest())
    if not pdf:
        result.problems.append(_("Filen är tom."))
        return result
    if b"%PDF-" not in pdf[:1024]:
        result.problems.append(_("Filen är inte en PDF-fil."))
        return result
    try:
        reader = reader or PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except Exception:  # noqa: BLE001 - any parse error means the same to the user
        logger.info("unreadable PDF", exc_info=True)
        result.problems.append(_("PDF-filen är skadad och kan inte läsas."))
        return result
    result.is_pdf = True
    if not embedded:
        result.problems.append(_("Dokumentet har inget elektroniskt sigill."))
        return result
    result.sealed = True
    try:
        statuses = [
            _run_async(
                lambda sig=sig: async_validate_pdf_signature(
                    sig,
                    ValidationContext(trust_roots=list(trust), allow_fetching=False),
                    key_usage_settings=_KEY_USAGE,
                    # any revision after the seal is reported as a change; no need to classify it
                    skip_diff=True,
                )
            )
            for sig in embedded
        ]
    except Exception:  # noqa: BLE001
        logger.info("seal validation failed", exc_info=True)
        result.problems.append(
            _("Sigillet kunde inte kontrolleras: det är skadat eller av ett okänt slag.")
        )
        return result
    last = statuses[-1]
    result.intact = all(s.intact and s.valid for s in statuses)
    result.trusted = result.intact and all(s.trusted for s in statuses)
    # pyHanko judges trust only where the content still matches; where it does not, the
    # certificate itself says whose seal was broken
    ours = [s for s in statuses if s.trusted or (not s.intact and _made_by(s.signing_cert, trust))]
    result.ours = bool(ours)
    result.others = len(ours) < len(statuses)
    result.demo = is_demo((ours or [last])[-1].signing_cert)
    result.whole_file = last.coverage == SignatureCoverageLevel.ENTIRE_FILE
    result.signer = _human_name(last.signing_cert.subject)
    ts = last.timestamp_validity
    result.timestamped = ts is not None and ts.intact and ts.valid
    result.signed_at = ts.timestamp if result.timestamped and ts else last.signer_reported_dt
    if not result.intact:
        result.problems.append(
            _("Dokumentet har ändrats efter förseglingen: sigillet stämmer inte med innehållet.")
        )
    elif not result.trusted:
        result.problems.append(
            _(
                "Sigillet är inte gjort med något av organisationens betrodda certifikat, "
                "eller certifikatet var inte giltigt."
            )
        )
    if not result.whole_file:
        result.problems.append(
            _("Dokumentet har ändrats eller fått tillägg efter att det förseglades.")
        )
    return result


def _made_by(cert: asn1_x509.Certificate, trust: list[asn1_x509.Certificate]) -> bool:
    """Whether *cert* is one of *trust* or directly issued by one of them (signature checked).

    pyHanko reports a seal whose content no longer matches as untrusted without looking at the
    certificate; this says whose certificate it was all the same."""
    if any(cert.sha256 == t.sha256 for t in trust):
        return True
    try:
        leaf = x509.load_der_x509_certificate(cert.dump())
    except ValueError:
        return False
    for t in trust:
        if t.subject != cert.issuer:
            continue
        try:
            leaf.verify_directly_issued_by(x509.load_der_x509_certificate(t.dump()))
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


#: The mark of a demo seal: the organisation name `generate_demo_pkcs12` writes ends with it.
DEMO_MARK = "(DEMO)"


def is_demo(cert: asn1_x509.Certificate) -> bool:
    """Whether *cert* is a demo seal: an organisation name in its subject ends with DEMO_MARK.

    The mark is in the certificate, not in the configuration, so it holds wherever the file
    goes: every PDF reader shows the seal's subject, a demo seal kept in trusted/ after a real
    one was installed is still a demo seal, and every demo seal made since the first version
    carries it. No certificate authority issues an e-seal whose organisation ends with "(DEMO)"."""
    try:
        names = cert.subject.native
    except ValueError:
        return False
    organisations = names.get("organization_name") if isinstance(names, dict) else None
    if isinstance(organisations, str):
        organisations = [organisations]
    return any(
        isinstance(o, str) and o.rstrip().upper().endswith(DEMO_MARK) for o in organisations or []
    )


#: Refusals of scans.open_pdf that /verify reports in its own words instead.
_UNREADABLE = (
    N_("PDF-filen kunde inte läsas. Skanna igen."),
    N_("PDF-filen är lösenordsskyddad. Skanna utan lösenord."),
)


def verify_upload(
    pdf: bytes, trust: list[asn1_x509.Certificate], *, runner: Runner, settings: Mapping[str, Any]
) -> Verification:
    """`verify` of an uploaded file, in a bounded child; raises untrusted.Refused or Busy."""
    out = runner.run(verify_untrusted, pdf, **untrusted_params(trust, settings))
    return verification_from(out.value)


def untrusted_params(
    trust: list[asn1_x509.Certificate], settings: Mapping[str, Any]
) -> dict[str, Any]:
    """`verify_untrusted`'s keyword arguments: the trusted certificates and the limits."""
    return {
        "trust": [base64.b64encode(cert.dump()).decode() for cert in trust],
        "max_pages": int(settings["VERIFY_MAX_PAGES"]),
        "max_objects": int(settings["PDF_MAX_OBJECTS"]),
        "max_unpacked": int(settings["PDF_MAX_UNPACKED_BYTES"]),
        "max_pixels": int(settings["SCAN_MAX_PIXELS"]),
        "max_signatures": int(settings["VERIFY_MAX_SIGNATURES"]),
    }


def verification_from(child_value: Mapping[str, Any]) -> Verification:
    """The Verification a child's `verify_untrusted` answered (its sentences translated here)."""
    value = dict(child_value)
    signed_at = value.pop("signed_at")
    # the child has no request: its sentences are msgids, translated here
    problems = [gettext(p) for p in value.pop("problems")]
    return Verification(
        **value,
        signed_at=datetime.fromisoformat(signed_at) if signed_at else None,
        problems=problems,
    )


def verify_untrusted(
    pdf: bytes,
    *,
    trust: list[str],
    max_pages: int,
    max_objects: int,
    max_unpacked: int,
    max_pixels: int,
    max_signatures: int,
) -> Output:
    """In the child: refuse a PDF beyond the limits, else `verify` it (as JSON)."""
    open_within_limits(
        pdf,
        max_pages=max_pages,
        max_objects=max_objects,
        max_unpacked=max_unpacked,
        max_pixels=max_pixels,
        max_signatures=max_signatures,
    )
    return verification_output(verify(pdf, certificates(trust)))


def certificates(trust: list[str]) -> list[asn1_x509.Certificate]:
    """The trusted certificates as `untrusted_params` passes them to a child (base64 DER)."""
    return [asn1_x509.Certificate.load(base64.b64decode(der)) for der in trust]


def verification_output(result: Verification) -> Output:
    """*result* as a child answers it (JSON)."""
    value = asdict(result)
    value["signed_at"] = value["signed_at"].isoformat() if value["signed_at"] else None
    return Output(value)


def open_within_limits(
    pdf: bytes,
    *,
    max_pages: int,
    max_objects: int,
    max_unpacked: int,
    max_pixels: int,
    max_signatures: int,
) -> Any:
    """In the child: the PDF opened by pikepdf if within the limits (None if it is not a PDF,
    unreadable or encrypted: `verify` says so); raises Refused beyond a limit."""
    document = None
    if b"%PDF-" in pdf[:1024]:
        limits = scans.PdfLimits(max_pages, max_objects, max_unpacked, max_pixels)
        try:
            document = scans.open_pdf(pdf, limits, refuse_damaged=False)
        except Refused as refusal:
            if refusal.msgid not in _UNREADABLE:
                raise
            document = None  # unreadable or encrypted: `verify` says so in its own words
        fields = scans.signature_fields(document, max_signatures) if document else 0
        if fields > max_signatures:
            # pyHanko validates every field, even 3,000 that share one signature
            raise Refused(
                N_("Filen har fler än %(n)d underskriftsfält och kontrolleras inte."),
                n=max_signatures,
            )
    return document


def generate_demo_pkcs12(
    passphrase: bytes, *, common_name: str = "formsvc demo seal – inte för skarp drift"
) -> bytes:
    """A self-signed ECDSA P-256 seal valid for 3 years, as PKCS#12 (for demos, not trusted).

    Its organisation carries DEMO_MARK: /verify labels it "demo – inte för verklig användning"."""
    return generate_self_signed_pkcs12(
        passphrase, organisation=f"Stockholms stad {DEMO_MARK}", common_name=common_name
    )


def generate_self_signed_pkcs12(passphrase: bytes, *, organisation: str, common_name: str) -> bytes:
    """A self-signed ECDSA P-256 seal for *organisation*, valid for 3 years, as PKCS#12."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
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
        .not_valid_after(now + dt.timedelta(days=3 * 365))
        # a self-signed certificate is its own root, so it may sign certificates (itself)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return pkcs12.serialize_key_and_certificates(
        b"formsvc-demo-seal", key, cert, None, serialization.BestAvailableEncryption(passphrase)
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write *data* to a new file readable by the owner only (never replaces a file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _replace_atomically(path: Path, text: str) -> None:
    # write-then-rename so a crash never leaves active.txt half-written
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".active-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _check_uploaded(data: bytes, passphrase: str) -> tuple[Any, x509.Certificate, list[Any]]:
    if len(data) > MAX_PKCS12_BYTES:
        raise SealError(_("Filen är för stor för att vara ett certifikat (högst 100 kB)."))
    key, cert, extra = _load_pkcs12(data, passphrase)
    if key is None:
        raise SealError(_("PKCS#12-filen innehåller ingen privat nyckel."))
    if cert is None:
        raise SealError(_("PKCS#12-filen innehåller inget certifikat."))
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SealError(_("Nyckeltypen stöds inte; använd RSA eller ECDSA."))
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise SealError(_("RSA-nyckeln är för kort; den måste vara minst 2048 bitar."))
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise SealError(_("Den privata nyckeln hör inte till certifikatet i filen."))
    now = dt.datetime.now(dt.UTC)
    if now < cert.not_valid_before_utc:
        raise SealError(_("Certifikatet gäller inte ännu."))
    if now > cert.not_valid_after_utc:
        raise SealError(_("Certifikatet har gått ut."))
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not (usage.digital_signature or usage.content_commitment):
        raise SealError(_("Certifikatet får inte användas för underskrifter (nyckelanvändning)."))
    return key, cert, list(extra)


def install_pkcs12(app: Flask, data: bytes, passphrase: str) -> str:
    """Validate an uploaded PKCS#12 and make it the active seal; returns the subject.

    Re-encrypts it with the instance passphrase (SEAL_PKCS12_PASSPHRASE) into
    <seal dir>/seal-<UTC timestamp>.p12 (0600), writes active.txt atomically and copies the
    previous active certificate as PEM into <seal dir>/trusted/ so old documents still verify.
    """
    key, cert, extra = _check_uploaded(data, passphrase)
    instance_pass = app.config.get("SEAL_PKCS12_PASSPHRASE")
    if not instance_pass:
        raise SealError(_("Servern saknar lösenord för sigillet (SEAL_PKCS12_PASSPHRASE)."))
    if isinstance(instance_pass, str):
        instance_pass = instance_pass.encode()
    seal_dir = private_dir(_seal_dir(app))
    seal_dir.chmod(0o700)

    try:
        previous: asn1_x509.Certificate | None = get_sealer(app).certificate
    except SealError:
        previous = None  # first install, or the old file is gone: nothing to keep trusting

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = seal_dir / f"seal-{stamp}.p12"
    _write_private(
        target,
        pkcs12.serialize_key_and_certificates(
            b"formsvc-seal",
            key,
            cert,
            extra or None,
            serialization.BestAvailableEncryption(instance_pass),
        ),
    )
    # prove the stored file loads before it becomes active
    sealer = Sealer.from_pkcs12(target, instance_pass)

    if previous is not None and previous.sha256 != sealer.certificate.sha256:
        trusted_dir = private_dir(seal_dir / "trusted")
        pem_path = trusted_dir / f"{previous.sha256.hex()}.pem"
        if not pem_path.exists():
            _write_private(pem_path, pem.armor("CERTIFICATE", previous.dump()))
    _replace_atomically(seal_dir / "active.txt", target.name + "\n")
    logger.info("installed seal certificate %s as %s", sealer.subject, target.name)
    return sealer.subject
