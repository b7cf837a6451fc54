"""BankID directly: the Relying Party API v6 through pybankid, and offline checks of its proofs.

pybankid's BankIDClient hard-codes BankID's URLs and server CA; `client()` builds one whose URL,
server CA and RP client certificate come from settings["BANKID"] instead, so a city can point it
at BankID's test environment (FPTestcert) or production, and the tests at a protocol test peer.

`check_completion()` checks a stored proof offline: the XML signature's integrity over
bankIdSignedData with the certificate the signature carries (no chain to BankID's root is
checked, so it says nothing about who issued that certificate), that the signed text names this
document's SHA-256, and that the OCSP response answers "good" for that certificate. Untrusted
XML is parsed without DTDs or entities, and size-limited, before signxml sees it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from bankid import BankIDClient
from bankid.exceptions import BankIDError, get_json_error_class
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from flask_babel import force_locale
from flask_babel import gettext as _
from lxml import etree
from signxml import SignatureConfiguration, XMLVerifier
from signxml.exceptions import InvalidInput, SignXMLException

from formsvc.models import Document
from formsvc.runtime import runtime

#: the namespaces of BankID's signature format (XMLDSig enveloping bankIdSignedData)
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
BANKID_NS = "http://www.bankid.com/signature/v1.0.0/types"
#: BankID's documented limits: userVisibleData 1-1 500 characters after base64 encoding (the
#: service keeps its text well under), userNonVisibleData up to 200 000
MAX_VISIBLE_B64 = 1500
MAX_NON_VISIBLE_B64 = 200_000
#: a stored proof larger than this is not BankID's (a real signature is ~10-20 kB)
MAX_SIGNATURE_B64 = 512 * 1024
MAX_OCSP_B64 = 64 * 1024
#: pybankid's default; BankID answers in well under a second
REQUEST_TIMEOUT = 10
_PNR = re.compile(r"[0-9]{12}")  # ASCII digits: \d matches other scripts' digits too
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ORDER_REF = re.compile(r"[0-9A-Za-z-]{1,64}")
logger = logging.getLogger(__name__)


class BankIdError(Exception):
    """BankID could not be asked or refused; ``message`` is Swedish and safe to show (an RFA
    text), ``reason`` is for the audit log and the operator (BankID's errorCode and details)."""

    def __init__(self, message: str, reason: str = "", *, error_code: str | None = None) -> None:
        super().__init__(reason or message)
        self.message = message
        self.reason = reason
        self.error_code = error_code


@dataclass(frozen=True)
class Order:
    """A started sign order: what collect/cancel and the animated QR code need."""

    order_ref: str  #: BankID's reference of the order
    auto_start_token: str  #: for bankid:///?autostarttoken=… (same device)
    qr_start_token: str  #: first part of the animated QR code
    qr_start_secret: str  #: HMAC key of the animated QR code (never shown to the user)
    started: float  #: time.time() when BankID answered: the QR code counts seconds from it

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able copy for SignatureRequest.eid_pending."""
        return {
            "order_ref": self.order_ref,
            "auto_start_token": self.auto_start_token,
            "qr_start_token": self.qr_start_token,
            "qr_start_secret": self.qr_start_secret,
            "started": self.started,
        }


@dataclass(frozen=True)
class Collected:
    """One answer of /collect."""

    order_ref: str  #: the order asked about
    status: str  #: "pending", "failed" or "complete"
    hint_code: str | None  #: BankID's hintCode (pending and failed)
    completion: dict[str, Any] | None  #: completionData when complete


@dataclass(frozen=True)
class Check:
    """One offline check of a BankID proof, as /verify and the evidence page list them."""

    ok: bool  #: passed
    text: str  #: Swedish, what was checked and what was found


# -- the client ---------------------------------------------------------------------------------


class Client(BankIDClient):
    """pybankid's synchronous client with the URL, server CA and RP certificate from settings."""

    def __init__(
        self,
        url: str,
        *,
        cert_file: str,
        key_file: str,
        ca_file: str,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        # BankIDClient.__init__ is not called: it would pick BankID's own URL and bundled CA
        if not url.endswith("/"):
            url += "/"
        self.certs = (cert_file, key_file)
        self.api_url = url
        self.verify_cert = ca_file
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.ctx.load_cert_chain(cert_file, key_file)
        self._auth_endpoint = urljoin(url, "auth")
        self._phone_auth_endpoint = urljoin(url, "phone/auth")
        self._sign_endpoint = urljoin(url, "sign")
        self._phone_sign_endpoint = urljoin(url, "phone/sign")
        self._collect_endpoint = urljoin(url, "collect")
        self._cancel_endpoint = urljoin(url, "cancel")
        self.client = httpx.Client(
            headers={"Content-Type": "application/json"}, verify=self.ctx, timeout=timeout
        )


def _conf(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    conf = settings.get("BANKID")
    if not conf:
        raise BankIdError(_("BankID är inte aktiverat."), "BANKID is not configured")
    missing = [k for k in ("url", "cert_file", "key_file", "ca_file") if not conf.get(k)]
    if missing:
        raise BankIdError(_("BankID är inte aktiverat."), f"BANKID lacks {', '.join(missing)}")
    if urlsplit(str(conf["url"])).scheme != "https":
        raise BankIdError(_("BankID är inte aktiverat."), "BANKID url must be https")
    return conf


def client(settings: Mapping[str, Any]) -> Client:
    """A BankID client for settings["BANKID"] (url, cert_file, key_file, ca_file)."""
    conf = _conf(settings)
    try:
        return Client(
            str(conf["url"]),
            cert_file=str(conf["cert_file"]),
            key_file=str(conf["key_file"]),
            ca_file=str(conf["ca_file"]),
            timeout=float(conf.get("timeout", REQUEST_TIMEOUT)),
        )
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise BankIdError(_("BankID är inte aktiverat."), f"BANKID certificates: {exc}") from exc


def _rfa_for_error(code: str | None) -> str:
    if code == "alreadyInProgress":
        return _rfa(4)
    if code in ("internalError", "maintenance"):
        return _rfa(5)
    return _rfa(22)


def _call(settings: Mapping[str, Any], what: str, fn: Any) -> Any:
    """Call BankID through a fresh client; any failure becomes a BankIdError with an RFA text."""
    bankid = client(settings)
    try:
        return fn(bankid)
    except BankIDError as exc:
        code = exc.json.get("errorCode") if isinstance(exc.json, dict) else None
        details = exc.json.get("details") if isinstance(exc.json, dict) else None
        raise BankIdError(
            _rfa_for_error(code), f"BankID {what}: {code}: {details}", error_code=code
        ) from exc
    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
        raise BankIdError(_rfa(5), f"BankID {what}: {type(exc).__name__}: {exc}") from exc
    except ValueError as exc:  # not JSON: a proxy's page, a wrong URL
        raise BankIdError(_rfa(5), f"BankID {what}: unreadable answer: {exc}") from exc
    finally:
        bankid.client.close()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def start_sign(
    settings: Mapping[str, Any],
    *,
    end_user_ip: str,
    personal_number: str | None,
    visible_text: str,
    non_visible: bytes | None = None,
) -> Order:
    """Start a sign order showing *visible_text* in the user's BankID app.

    *personal_number* (12 digits), when given, becomes requirement.personalNumber: only that
    person's BankID can sign. *non_visible* is signed but not shown (userNonVisibleData)."""
    if not visible_text.strip():
        raise BankIdError(_rfa(22), "visible text empty")
    return _start(
        settings,
        "sign",
        end_user_ip=end_user_ip,
        personal_number=personal_number,
        visible_text=visible_text,
        non_visible=non_visible,
    )


def start_auth(
    settings: Mapping[str, Any],
    *,
    end_user_ip: str,
    personal_number: str | None,
    visible_text: str | None = None,
) -> Order:
    """Start an identification order (/auth); the same Order, collect and cancel as a sign order.

    *personal_number*, when given, becomes requirement.personalNumber; *visible_text*, when given,
    is shown in the app (userVisibleData) and signed into the identification."""
    return _start(
        settings,
        "auth",
        end_user_ip=end_user_ip,
        personal_number=personal_number,
        visible_text=visible_text,
        non_visible=None,
    )


def _start(
    settings: Mapping[str, Any],
    kind: str,
    *,
    end_user_ip: str,
    personal_number: str | None,
    visible_text: str | None,
    non_visible: bytes | None,
) -> Order:
    data: dict[str, Any] = {"endUserIp": end_user_ip}
    if visible_text:
        if len(_b64(visible_text)) > MAX_VISIBLE_B64:
            raise BankIdError(_rfa(22), "visible text longer than BankID allows")
        data["userVisibleData"] = _b64(visible_text)
    if non_visible is not None:
        if len(base64.b64encode(non_visible)) > MAX_NON_VISIBLE_B64:
            raise BankIdError(_rfa(22), "non-visible data longer than BankID allows")
        data["userNonVisibleData"] = base64.b64encode(non_visible).decode("ascii")
    if personal_number:
        if not _PNR.fullmatch(personal_number):
            raise BankIdError(_("Personnumret ska ha tolv siffror."), "bad personal number")
        data["requirement"] = {"personalNumber": personal_number}

    def post(bankid: Client) -> dict[str, Any]:
        # built here rather than by BankIDClient.sign/authenticate, which take
        # userNonVisibleData as text and drop an empty requirement differently per method
        endpoint = bankid._sign_endpoint if kind == "sign" else bankid._auth_endpoint
        response = bankid.client.post(endpoint, json=data)
        if response.status_code != 200:
            raise get_json_error_class(response)
        answer = response.json()
        if not isinstance(answer, dict):
            raise ValueError(f"{kind} answer is not an object")
        return answer

    answer = _call(settings, kind, post)
    started = time.time()
    try:
        return Order(
            order_ref=str(answer["orderRef"]),
            auto_start_token=str(answer["autoStartToken"]),
            qr_start_token=str(answer["qrStartToken"]),
            qr_start_secret=str(answer["qrStartSecret"]),
            started=started,
        )
    except KeyError as exc:
        raise BankIdError(_rfa(5), f"BankID {kind}: answer lacks {exc}") from exc


def qr_content(order_like: Mapping[str, Any] | Order, now: float | None = None) -> str:
    """The animated QR code's content at *now*: bankid.<qrStartToken>.<s>.<HMAC-SHA256(secret, s)>,
    s being the whole seconds since the order started (BankID's documented QR format)."""
    order = order_like.as_dict() if isinstance(order_like, Order) else order_like
    seconds = max(0, int(math.floor((time.time() if now is None else now) - order["started"])))
    code = hmac.new(
        str(order["qr_start_secret"]).encode(), str(seconds).encode(), hashlib.sha256
    ).hexdigest()
    return f"bankid.{order['qr_start_token']}.{seconds}.{code}"


def _check_ref(order_ref: str) -> str:
    if not isinstance(order_ref, str) or not _ORDER_REF.fullmatch(order_ref):
        raise BankIdError(_rfa(22), "malformed orderRef")
    return order_ref


def collect(settings: Mapping[str, Any], order_ref: str) -> Collected:
    """Ask BankID how the order is going (the RP polls this every ~2 seconds)."""
    ref = _check_ref(order_ref)
    answer = _call(settings, "collect", lambda bankid: bankid.collect(ref))
    if not isinstance(answer, dict) or answer.get("status") not in (
        "pending",
        "failed",
        "complete",
    ):
        raise BankIdError(_rfa(22), "BankID collect: unknown answer")
    completion = answer.get("completionData") if answer["status"] == "complete" else None
    if answer["status"] == "complete" and not _completion_ok(completion):
        raise BankIdError(_rfa(22), "BankID collect: complete without usable completionData")
    hint = answer.get("hintCode")
    if hint is not None and not isinstance(hint, str):
        raise BankIdError(_rfa(22), "BankID collect: hintCode is not text")
    return Collected(
        order_ref=ref,
        status=answer["status"],
        hint_code=str(hint) if hint is not None else None,
        completion=completion,
    )


def _completion_ok(completion: Any) -> bool:
    """completionData shaped as RP API v6 documents it, as far as a proof needs: the user's
    12-digit personalNumber and name, the signature and the OCSP response (base64 text)."""
    if not isinstance(completion, dict):
        return False
    user = completion.get("user")
    return (
        isinstance(user, dict)
        and isinstance(user.get("personalNumber"), str)
        and bool(_PNR.fullmatch(user["personalNumber"]))
        and isinstance(user.get("name"), str)
        and all(
            isinstance(completion.get(k), str) and completion[k]
            for k in ("signature", "ocspResponse")
        )
        and isinstance(completion.get("bankIdIssueDate", ""), str)
    )


def cancel(settings: Mapping[str, Any], order_ref: str) -> None:
    """Cancel the order (the user gave up on our page); an order already gone is not an error."""
    ref = _check_ref(order_ref)
    try:
        _call(settings, "cancel", lambda bankid: bankid.cancel(ref))
    except BankIdError as exc:
        if exc.error_code != "invalidParameters":  # "No such order": already over
            raise


def proof(
    collected: Collected, *, user_visible_data: str, completed_at: datetime | None = None
) -> dict[str, Any]:
    """The e-ID proof (SignatureRequest.eid) of a completed order, as docs/adr/018 shapes it."""
    data = collected.completion or {}
    user = data.get("user") or {}
    return {
        "kind": "bankid",
        "order_ref": collected.order_ref,
        "personal_number": str(user.get("personalNumber", "")),
        "name": str(user.get("name", "")),
        "user_visible_data": user_visible_data,
        "signature": str(data.get("signature", "")),
        "ocsp_response": str(data.get("ocspResponse", "")),
        "bank_id_issue_date": str(data.get("bankIdIssueDate", "")),
        "completed_at": (completed_at or datetime.now(UTC)).isoformat(),
    }


# -- what the user reads (BankID's Relying Party Guidelines, recommended user messages) ---------


def _rfa(number: int | str) -> str:
    """BankID's recommended Swedish user message RFA<number>."""
    texts = {
        "1": _("Starta BankID-appen."),
        "2": _(
            "Du verkar inte ha BankID-appen. Installera den och skaffa ett BankID hos din bank."
        ),
        "3": _("Åtgärden avbröts. Försök igen."),
        "4": _(
            "En identifiering eller underskrift pågår redan för ditt personnummer. Försök igen."
        ),
        "5": _("Något gick fel. Försök igen."),
        "6": _("Åtgärden avbröts."),
        "8": _(
            "BankID-appen svarar inte. Kontrollera att den är startad och att du har "
            "internetanslutning. Försök sedan igen."
        ),
        "9": _("Skriv in din säkerhetskod i BankID-appen och välj Identifiera eller Skriv under."),
        "13": _("Försöker starta BankID-appen."),
        "15A": _(
            "Söker efter BankID. Säkerställ att du har ett giltigt BankID på den här datorn. "
            "Om du har ett BankID på kort, sätt in kortet i kortläsaren."
        ),
        "15B": _(
            "Söker efter BankID. Säkerställ att du har ett giltigt BankID på den här enheten."
        ),
        "16": _(
            "Ditt BankID är för gammalt eller spärrat. Använd ett annat BankID eller skaffa ett "
            "nytt hos din bank."
        ),
        "17A": _(
            "Du verkar inte ha BankID-appen. Installera den och skaffa ett BankID hos din bank."
        ),
        "17B": _(
            "Misslyckades att läsa av QR-koden. Starta BankID-appen och läs av QR-koden. "
            "Kontrollera att BankID-appen är uppdaterad."
        ),
        "18": _("Starta BankID-appen"),
        "19": _("Vill du använda BankID på den här datorn eller ett Mobilt BankID?"),
        "20": _("Vill du använda BankID på den här enheten eller på en annan enhet?"),
        "21": _("En identifiering eller underskrift pågår."),
        "22": _("Något gick fel. Försök igen."),
        "23": _("Fotografera och läs av din ID-handling med BankID-appen."),
    }
    return texts[str(number)]


def hint_message(status: str, hint_code: str | None, *, qr: bool) -> str:
    """The recommended Swedish message for a collect answer; *qr*: the user scans a QR code
    (another device) rather than opening the app on this device."""
    if status == "complete":
        return _("Klart. Du har skrivit under med BankID.")
    if status == "pending":
        if hint_code == "outstandingTransaction":
            return _rfa(1) if qr else _rfa(13)
        pending = {"noClient": "1", "started": "15B", "userSign": "9", "userMrtd": "23"}
        return _rfa(pending.get(hint_code or "", "21"))
    if status == "failed":
        if hint_code == "startFailed":
            return _rfa("17B" if qr else "17A")
        failed = {
            "expiredTransaction": "8",
            "certificateErr": "16",
            "userCancel": "6",
            "cancelled": "3",
        }
        return _rfa(failed.get(hint_code or "", "22"))
    return _rfa(22)


def visible_text(doc: Document, *, title: str | None = None) -> str:
    """What the signer reads in the BankID app: the document's title, reference and the SHA-256 of
    the frozen PDF they read. In Swedish whatever the interface language: it is part of what is
    signed, and check_completion looks for the hash in it."""
    if not doc.frozen_pdf_sha256:
        raise BankIdError(_rfa(22), "the document has no frozen PDF to sign")
    if title is None:
        with force_locale("sv"):
            title = str(runtime().registry[doc.type_slug].title)
    return f"{title}\nReferens: {doc.reference}\nSHA-256: {doc.frozen_pdf_sha256}"


# -- offline checks of a stored proof -----------------------------------------------------------


class _Unusable(Exception):
    """The proof cannot be checked further; the text says why (Swedish)."""


def _safe_parser() -> etree.XMLParser:
    # no DTD, no entities, no network, no huge trees: the XML comes from outside
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=False,
        remove_pis=True,
    )


def _decode_b64(value: Any, limit: int) -> bytes:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _Unusable
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Unusable from exc


def _parse_signature(raw: bytes) -> etree._Element:
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise _Unusable
    try:
        root = etree.fromstring(raw, parser=_safe_parser())
    except etree.XMLSyntaxError as exc:
        raise _Unusable from exc
    if root.getroottree().docinfo.doctype or root.tag != f"{{{DS_NS}}}Signature":
        raise _Unusable
    return root


class _Verifier(XMLVerifier):
    """signxml's verifier without its certificate-validity check: a proof is checked long after
    the signing certificate expired; its validity at signing time is reported separately."""

    def _check_cert_validity(self, cert: Any, cert_source: Any) -> None:
        return None


def _signing_cert(root: etree._Element) -> x509.Certificate:
    """The signer's (leaf) certificate among KeyInfo's: the one that issued none of the others,
    whatever their order (BankID sends the user's certificate with its CA chain)."""
    certs = _keyinfo_certs(root)
    if not certs:
        raise _Unusable
    leaves = [c for c in certs if not any(o is not c and o.issuer == c.subject for o in certs)]
    return leaves[0] if len(leaves) == 1 else certs[0]


def _keyinfo_certs(root: etree._Element) -> list[x509.Certificate]:
    certs = []
    for el in root.findall(f"{{{DS_NS}}}KeyInfo/{{{DS_NS}}}X509Data/{{{DS_NS}}}X509Certificate"):
        try:
            der = base64.b64decode("".join((el.text or "").split()), validate=True)
            certs.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError):
            continue
    return certs


_BY_ID = "//*[@*[local-name() = 'Id' or local-name() = 'ID' or local-name() = 'id']=$ref]"
#: BankID's signatures have two references (#bidSignedData, #bidKeyInfo). A proof comes from an
#: uploaded file on /verify: each reference costs a canonicalisation of its target, so a signature
#: made with one's own key and a thousand references to a large Object would cost tens of seconds.
MAX_REFERENCES = 4


def _verified_signed_data(root: etree._Element, cert: x509.Certificate) -> etree._Element:
    """The bankIdSignedData element exactly as signed. Refuses a document whose bankIdSignedData
    a reader finds (Signature/Object/bankIdSignedData) is not the element the signature's
    reference points at (signature wrapping), whatever canonicalisation the signature uses."""
    if not 1 <= len(root.findall(f".//{{{DS_NS}}}Reference")) <= MAX_REFERENCES:
        raise _Unusable("not a BankID signature: unusual number of references")
    try:
        results = _Verifier().verify(
            root, x509_cert=cert, expect_config=_expect_config(), parser=_safe_parser()
        )
    except (SignXMLException, InvalidInput, InvalidSignature, ValueError, TypeError) as exc:
        raise _Unusable(str(exc)) from exc
    if not isinstance(results, list):
        results = [results]
    references = root.findall(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")
    if len(references) != len(results):
        raise _Unusable("references and results differ")
    tag = f"{{{BANKID_NS}}}bankIdSignedData"
    signed = [
        (ref, r) for ref, r in zip(references, results, strict=True) if r.signed_xml.tag == tag
    ]
    shown = root.findall(f"{{{DS_NS}}}Object/{tag}")
    if len(signed) != 1 or len(shown) != 1:
        raise _Unusable("not exactly one signed bankIdSignedData")
    uri = signed[0][0].get("URI") or ""
    targets = root.xpath(_BY_ID, ref=uri[1:]) if uri.startswith("#") else []
    if len(targets) != 1 or targets[0] is not shown[0]:
        raise _Unusable("the shown bankIdSignedData is not the signed one")
    return signed[0][1].signed_xml


def _expect_config() -> Any:
    # BankID's signatures reference #bidSignedData and #bidKeyInfo; any number is verified
    return SignatureConfiguration(expect_references=True, location="./")


def _signed_text(signed: etree._Element) -> str:
    found = signed.findall(f"{{{BANKID_NS}}}usrVisibleData")
    if len(found) != 1:
        raise _Unusable
    try:
        return _decode_b64("".join((found[0].text or "").split()), MAX_SIGNATURE_B64).decode(
            "utf-8"
        )
    except UnicodeDecodeError as exc:
        raise _Unusable from exc


def _issuer_of(cert: x509.Certificate, certs: list[x509.Certificate]) -> x509.Certificate | None:
    for candidate in certs:
        if candidate.subject == cert.issuer and candidate is not cert:
            return candidate
    return None


def _verify_with(cert: x509.Certificate, signature: bytes, data: bytes, alg: Any) -> bool:
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), alg)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(alg))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _check_ocsp(
    raw_b64: Any, cert: x509.Certificate | None, chain: list[x509.Certificate]
) -> list[Check]:
    try:
        response = ocsp.load_der_ocsp_response(_decode_b64(raw_b64, MAX_OCSP_B64))
        successful = response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    except (_Unusable, ValueError):
        return [Check(False, _("OCSP-svaret går inte att läsa."))]
    if not successful:
        return [Check(False, _("OCSP-svaret är inget giltigt svar."))]
    try:
        single = (response.serial_number, response.certificate_status)
    except ValueError:  # more than one SingleResponse: not what BankID returns
        return [Check(False, _("OCSP-svaret är inget giltigt svar."))]
    checks = [Check(True, _("OCSP-svaret går att läsa."))]
    if cert is None:
        return [*checks, Check(False, _("Det finns inget signeringscertifikat att jämföra med."))]
    same_cert = single[0] == cert.serial_number
    try:
        name_hash = hashes.Hash(response.hash_algorithm)
        name_hash.update(cert.issuer.public_bytes())
        same_cert = same_cert and hmac.compare_digest(
            name_hash.finalize(), response.issuer_name_hash
        )
    except (ValueError, TypeError):
        same_cert = False
    checks.append(
        Check(same_cert, _("OCSP-svaret gäller signeringscertifikatet."))
        if same_cert
        else Check(False, _("OCSP-svaret gäller ett annat certifikat än signeringscertifikatet."))
    )
    good = single[1] == ocsp.OCSPCertStatus.GOOD
    checks.append(
        Check(True, _("OCSP-svaret säger att certifikatet var giltigt (good)."))
        if good
        else Check(False, _("OCSP-svaret säger inte att certifikatet var giltigt."))
    )
    # signed by the responder certificate it carries, or by the issuing CA of the signing cert
    responders = list(response.certificates) or [c for c in [_issuer_of(cert, chain)] if c]
    try:
        signed_ok = any(
            _verify_with(
                c,
                response.signature,
                response.tbs_response_bytes,
                response.signature_hash_algorithm,
            )
            for c in responders
        )
    except (ValueError, TypeError):
        signed_ok = False
    checks.append(
        Check(True, _("OCSP-svarets signatur stämmer med svarstjänstens certifikat."))
        if signed_ok
        else Check(False, _("OCSP-svarets signatur stämmer inte."))
    )
    return checks


def _cert_valid_at(cert: x509.Certificate, when: Any) -> Check:
    try:
        at = datetime.fromisoformat(str(when))
        if at.tzinfo is None:
            raise ValueError("no time zone")
        valid = cert.not_valid_before_utc <= at <= cert.not_valid_after_utc
    except (ValueError, TypeError, OverflowError):
        valid = False
    if valid:
        return Check(True, _("Signeringscertifikatet var giltigt när underskriften gjordes."))
    return Check(False, _("Signeringscertifikatet var inte giltigt när underskriften gjordes."))


def check_completion(proof: Mapping[str, Any], document_sha256: str) -> list[Check]:
    """Offline checks of a BankID proof (SignatureRequest.eid of kind "bankid") for the document
    whose frozen PDF has *document_sha256*. Never raises for what is stored in the proof."""
    checks: list[Check] = []
    try:
        _check_all(proof, document_sha256, checks)
    except Exception:  # noqa: BLE001 - stored data from outside must never break /verify
        logger.warning("BankID proof could not be checked", exc_info=True)
        checks.append(Check(False, _("Beviset från BankID kunde inte kontrolleras.")))
    return checks


def _check_all(proof: Mapping[str, Any], document_sha256: str, checks: list[Check]) -> None:
    if not isinstance(proof, Mapping):
        checks.append(Check(False, _("Beviset från BankID går inte att läsa.")))
        return
    cert: x509.Certificate | None = None
    chain: list[x509.Certificate] = []
    try:
        raw = _decode_b64(proof.get("signature"), MAX_SIGNATURE_B64)
        root = _parse_signature(raw)
        cert = _signing_cert(root)
        chain = _keyinfo_certs(root)
    except _Unusable:
        checks.append(Check(False, _("BankID-signaturen går inte att läsa.")))
        root = None
    signed_text: str | None = None
    if root is not None and cert is not None:
        try:
            signed = _verified_signed_data(root, cert)
        except _Unusable:
            checks.append(
                Check(False, _("XML-signaturen stämmer inte: det signerade innehållet är ändrat."))
            )
        else:
            checks.append(
                Check(
                    True,
                    _(
                        "XML-signaturen över det signerade innehållet (bankIdSignedData) är hel "
                        "och gjord med certifikatet i signaturen. Certifikatets kedja till "
                        "BankID:s rotcertifikat kontrolleras inte här."
                    ),
                )
            )
            try:
                signed_text = _signed_text(signed)
            except _Unusable:
                checks.append(Check(False, _("Det signerade innehållet saknar en läsbar text.")))
        checks.append(_cert_valid_at(cert, proof.get("completed_at")))
    if signed_text is not None:
        wanted = str(document_sha256).lower()
        # the line visible_text() writes, not the hash anywhere in the text ("… is NOT <hash>")
        names_doc = bool(_SHA256.fullmatch(wanted)) and f"sha-256: {wanted}" in (
            line.strip().lower() for line in signed_text.splitlines()
        )
        checks.append(
            Check(True, _("Den signerade texten anger det här dokumentets SHA-256."))
            if names_doc
            else Check(False, _("Den signerade texten anger inte det här dokumentets SHA-256."))
        )
        stored = proof.get("user_visible_data")
        same = isinstance(stored, str) and stored == signed_text
        checks.append(
            Check(True, _("Den sparade texten är den som skrevs under."))
            if same
            else Check(False, _("Den sparade texten är inte den som skrevs under."))
        )
        if cert is not None:
            pnr = str(proof.get("personal_number", ""))
            serial = cert.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)
            if not serial:  # a BankID certificate names its holder's personnummer: fail closed
                checks.append(Check(False, _("Signeringscertifikatet anger inget personnummer.")))
            else:
                ok = bool(pnr) and serial[0].value == pnr
                checks.append(
                    Check(True, _("Signeringscertifikatet är utfärdat till personnumret."))
                    if ok
                    else Check(False, _("Signeringscertifikatet gäller ett annat personnummer."))
                )
    checks.extend(_check_ocsp(proof.get("ocsp_response"), cert, chain))


def verified(checks: list[Check]) -> bool:
    """Every check passed (and there were some)."""
    return bool(checks) and all(c.ok for c in checks)


def completion_signed_text(completion: Mapping[str, Any]) -> str | None:
    """The text a completed order's signature says was shown (None if it cannot be read)."""
    try:
        root = _parse_signature(_decode_b64(completion.get("signature"), MAX_SIGNATURE_B64))
        return _signed_text(_verified_signed_data(root, _signing_cert(root)))
    except _Unusable:
        return None
