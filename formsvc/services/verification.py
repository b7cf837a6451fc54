"""What a sealed final PDF proves, read back from the file and compared with the database.

ADR 014: a final PDF is the frozen PDF byte for byte (revision 1) plus one incremental update
(signature marks, evidence pages, the `formsvc-evidence.json` record, XMP, the seal). Checking
one is done in two halves:

- `read_sealed(pdf)` parses the untrusted bytes: it extracts the evidence record (bounded),
  recomputes the SHA-256 of revision 1, proves that the update changes no object of revision 1
  except those ADR 014 allows, lists what was added and checks that the record's signers are
  named on the pages. It knows no database and runs in the bounded child of
  services/untrusted.py (`verify_untrusted`), after the seal check there.
- `check(...)` runs in the caller: the record against the database (the document's frozen
  hash, signers, audit events) and the embedded audit checkpoint against the audit keys.

`verify_upload` is the whole use case (the /verify page and `flask verify FILE`). Messages are
msgids with parameters in the child and translated in the caller, as in services/sealing.py.
A document sealed before ADR 014 has no record: it is "the older format" and verified as before.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pikepdf
from asn1crypto import x509 as asn1_x509
from flask_babel import gettext
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from formsvc.services import audit, sealing, signer_roles
from formsvc.services.checkpoints import Checkpoint
from formsvc.services.sealing import Verification
from formsvc.services.untrusted import N_, Output, Runner

__all__ = [
    "CHANGED",
    "DEMO_LABEL",
    "EVIDENCE_FORMAT",
    "EVIDENCE_NAME",
    "EidProof",
    "FOREIGN",
    "Finding",
    "INTACT",
    "Reading",
    "Result",
    "STATES",
    "UNREADABLE",
    "Verdict",
    "check",
    "read_sealed",
    "verify_untrusted",
    "verify_upload",
]

EVIDENCE_NAME = "formsvc-evidence.json"
EVIDENCE_FORMAT = "formsvc-evidence/1"
#: The record is at most this big (ADR 014), packed or unpacked.
MAX_RECORD_BYTES = 1024 * 1024
#: JSON nesting deeper than this is refused (the record itself is 4 levels deep).
MAX_DEPTH = 16
#: Evidence pages read for the signers' names; a record has a few.
MAX_EVIDENCE_PAGES = 20
#: Content bytes decoded for text, over all pages and form XObjects looked at.
MAX_TEXT_BYTES = 4 * 1024 * 1024
#: Audit events of a record compared with the database.
MAX_EVENTS = 2000
#: Page tree depth and leaves walked (the seal check has already capped the page count).
_MAX_TREE_DEPTH = 32
_MAX_LEAVES = 5000
#: Keys of an original page dictionary the update may change (ADR 014 §Verification 3).
_PAGE_EXTENSIBLE = {"/Contents", "/Resources", "/Annots"}
_ONLY_SAVE = re.compile(rb"^(?:\s*q)*\s*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Finding:
    """One thing the check found: fine (ok) or a problem, as a sentence for the reader."""

    ok: bool  #: True: as it should be; False: a problem
    text: str  #: Swedish (or the request's language)


@dataclass
class Reading:
    """What the child read from a sealed PDF (JSON-able; no database)."""

    #: "final" (ADR 014, with a record), "older" (sealed before ADR 014) or "unreadable"
    format: str = "older"
    record: dict[str, Any] | None = None  #: the evidence record, when it could be read
    record_bytes: int = 0  #: its size
    revision1_sha256: str = ""  #: SHA-256 of revision 1 recomputed from the file
    revision1_bytes: int = 0
    original_pages: int = 0  #: pages of revision 1
    evidence_pages: int = 0  #: pages the update appended
    marked_pages: list[int] = field(default_factory=list)  #: original pages drawn on (0-based)
    attachments: list[str] = field(default_factory=list)  #: embedded file names
    #: [ok, msgid, params] in the child's order; translated by `Result`
    notes: list[list[Any]] = field(default_factory=list)

    def note(self, ok: bool, msgid: str, **params: Any) -> None:
        """Add a finding (a msgid, translated in the caller)."""
        self.notes.append([ok, msgid, params])


#: The four answers /verify and `flask verify` give, whatever else they show.
INTACT = "intact"  #: sealed by us and unchanged since (perhaps with a demo seal: Verdict.demo)
CHANGED = "changed"  #: it carries our seal, but something was changed or added after it
FOREIGN = "foreign"  #: a PDF without a seal of ours: no seal, or another's seal or signature
UNREADABLE = "unreadable"  #: not a PDF, or a PDF too damaged (e.g. truncated) to be read
STATES = (INTACT, CHANGED, FOREIGN, UNREADABLE)

#: The words on the status: a demo seal is never reported as plainly "our seal".
DEMO_LABEL = N_("Demo – inte för verklig användning")


@dataclass(frozen=True)
class Verdict:
    """The answer in words: one of STATES, a heading and what it means for this file.

    The page draws an icon per `icon` whose text alternative is `icon_text`; the words alone
    carry the meaning (the colour and the shape only repeat it)."""

    state: str  #: one of STATES
    demo: bool  #: our seal, but a demo seal (sealing.is_demo)
    icon: str  #: "ok", "demo", "bad", "unknown" or "unreadable": the icon's shape
    icon_text: str  #: the icon's text alternative
    heading: str
    explanation: list[str]  #: sentences: what the answer means for this file
    certificate: str  #: whose certificate made the seal, in words (instead of "trusted: no")

    @property
    def badge(self) -> str:
        """DEMO_LABEL for a demo seal of ours, else empty."""
        return gettext(DEMO_LABEL) if self.demo else ""


@dataclass
class Result:
    """Everything /verify and `flask verify` show about one file."""

    seal: Verification  #: the seal check (services/sealing.py), as before
    reading: Reading | None = None  #: the final PDF's structure, if the seal was intact
    record: Any = None  #: signing.SealedRecord: what the database says of this file
    findings: list[Finding] = field(default_factory=list)  #: in the order they were checked
    organisation: str = ""  #: whose seal we check for (ORGANISATION_NAME), for the words

    @property
    def final(self) -> bool:
        """A final PDF of ADR 014 (it carries an evidence record)."""
        return self.reading is not None and self.reading.format == "final"

    @property
    def ok(self) -> bool:
        """The seal is ours and intact, and nothing found is a problem."""
        return self.seal.ok and all(f.ok for f in self.findings)

    @property
    def state(self) -> str:
        """One of STATES (a demo seal is INTACT too; `verdict().demo` says it is a demo)."""
        seal = self.seal
        if not seal.is_pdf:
            return UNREADABLE
        if not seal.sealed or not seal.ours:
            return FOREIGN
        return INTACT if self.ok else CHANGED

    def verdict(self) -> Verdict:
        """The state in words, for the page and the command line alike."""
        seal, org = self.seal, self.organisation or "–"
        state = self.state
        if state == UNREADABLE:
            return Verdict(
                state,
                False,
                "unreadable",
                gettext("Ingen PDF"),
                gettext("Filen är inte en PDF eller kan inte läsas"),
                [
                    gettext(
                        "Filen kunde inte läsas som en PDF: den är av ett annat slag, skadad eller "
                        "bara delvis nedladdad. Vi kan inte säga något om den."
                    ),
                    gettext(
                        "Hämta filen på nytt, eller be avsändaren om den igen, och försök igen."
                    ),
                ],
                "–",
            )
        if state == FOREIGN:
            if not seal.sealed:
                why = gettext(
                    "Filen har inget elektroniskt sigill. Allt som %(org)s förseglar i den här "
                    "tjänsten har ett; den här filen kan vara ett utkast, en utskrift eller en "
                    "kopia som har sparats om. Vi kan inte intyga att innehållet är det som "
                    "skrevs under.",
                    org=org,
                )
                cert = "–"
            elif seal.signer is None:
                why = gettext(
                    "Filen har ett sigill eller en underskrift som inte gick att kontrollera: den "
                    "är skadad eller av ett slag vi inte känner till. Vi kan inte intyga något "
                    "om filen."
                )
                cert = gettext("okänt: sigillet kunde inte läsas")
            else:
                why = gettext(
                    "Filen är signerad eller förseglad med ett certifikat som inte är sigillet "
                    "från %(org)s (%(who)s). Det kan vara äkta för den som gjorde det, men det är "
                    "inte vårt: vi kan inte intyga något om filen.",
                    org=org,
                    who=seal.signer,
                )
                cert = gettext(
                    "Inte sigillet från %(org)s, utan %(who)s: ett sigill av någon annan, eller "
                    "en underskrift gjord utanför den här tjänsten.",
                    org=org,
                    who=seal.signer,
                )
            return Verdict(
                state,
                False,
                "unknown",
                gettext("Inte vårt sigill"),
                gettext("Dokumentet är inte förseglat av %(org)s", org=org),
                [why],
                cert,
            )
        demo = seal.demo
        if state == INTACT:
            if demo:
                return Verdict(
                    state,
                    True,
                    "demo",
                    gettext(DEMO_LABEL),
                    gettext("Oförändrat, men förseglat med ett demosigill"),
                    [
                        gettext(
                            "Filen är oförändrad sedan den förseglades, men sigillet är ett "
                            "demosigill: en nyckel som tjänsten skapade själv för att den ska "
                            "kunna provas. Det är inte det riktiga sigillet från %(org)s, och "
                            "ingen certifikatutfärdare står bakom det.",
                            org=org,
                        ),
                        gettext(
                            "Dokumentet visar hur tjänsten fungerar och gäller inte som underlag "
                            "för något verkligt."
                        ),
                    ],
                    gettext(
                        "Den här installationens demosigill, inte sigillet från %(org)s "
                        "(%(label)s).",
                        org=org,
                        label=gettext(DEMO_LABEL),
                    ),
                )
            return Verdict(
                state,
                False,
                "ok",
                gettext("Godkänt"),
                gettext("Dokumentet är äkta och oförändrat"),
                [
                    gettext(
                        "Filen är förseglad med sigillet från %(org)s och är byte för byte den "
                        "fil vi förseglade: ingenting har ändrats eller lagts till sedan dess.",
                        org=org,
                    )
                ],
                gettext("Sigillet från %(org)s.", org=org),
            )
        # CHANGED: the seal is ours, but it does not (or no longer) cover what the file shows
        why = []
        if not seal.intact:
            why.append(
                gettext(
                    "Filen bär sigillet från %(org)s, men innehållet har ändrats efter "
                    "förseglingen: sigillet stämmer inte längre med innehållet och intygar därför "
                    "ingenting om det du ser.",
                    org=org,
                )
            )
        elif seal.others:
            why.append(
                gettext(
                    "Filen bär sigillet från %(org)s, men någon har ändrat den efteråt och "
                    "förseglat eller signerat den på nytt med ett annat certifikat (%(who)s). Det "
                    "senare sigillet är inte vårt.",
                    org=org,
                    who=seal.signer or "–",
                )
            )
        elif not seal.whole_file:
            why.append(
                gettext(
                    "Filen bär sigillet från %(org)s, men något har ändrats eller lagts till "
                    "efter förseglingen. Sigillet omfattar bara filen som den var innan; det som "
                    "kom till efteråt har ingen av oss intygat.",
                    org=org,
                )
            )
        else:
            why.append(
                gettext(
                    "Sigillet är från %(org)s och oförändrat, men innehållet stämmer inte med det "
                    "vi registrerade när dokumentet skrevs under: se problemen nedan.",
                    org=org,
                )
            )
        why.append(
            gettext(
                "Lita inte på innehållet. Be den som skickade dokumentet om en ny kopia, eller "
                "kontakta %(org)s.",
                org=org,
            )
        )
        if not seal.intact:
            cert = gettext(
                "Sigillet från %(org)s, men det täcker inte innehållet som det ser ut nu: "
                "innehållet ändrades efter förseglingen.",
                org=org,
            )
        elif seal.others:
            cert = gettext(
                "Sigillet från %(org)s, följt av ett senare sigill eller en underskrift som "
                "inte är vår (%(who)s).",
                org=org,
                who=seal.signer or "–",
            )
        else:
            cert = gettext("Sigillet från %(org)s.", org=org)
        if demo:
            cert = gettext(
                "%(certificate)s Det är ett demosigill: %(label)s.",
                certificate=cert,
                label=gettext(DEMO_LABEL),
            )
        return Verdict(
            state,
            demo,
            "bad",
            gettext("Ändrat"),
            gettext("Dokumentet har ändrats efter att vi förseglade det"),
            why,
            cert,
        )

    def additions(self) -> list[str]:
        """What the update added to the original pages, and by whom, as sentences."""
        if not self.final or self.reading is None:
            return []
        reading, out = self.reading, []
        for signer in self.signers:
            place = signer.get("place")
            if isinstance(place, dict) and isinstance(place.get("page"), int):
                out.append(
                    gettext(
                        "Sida %(page)d: underskrift av %(name)s (%(role)s), %(when)s.",
                        page=place["page"] + 1,
                        name=_signer_name(signer),
                        role=signer_roles.label(str(signer.get("role") or "")),
                        when=_local_text(signer.get("signed_at")),
                    )
                )
            else:
                out.append(
                    gettext(
                        "%(name)s (%(role)s) har ingen plats i dokumentet; underskriften finns i "
                        "underskriftsbeviset.",
                        name=_signer_name(signer),
                        role=signer_roles.label(str(signer.get("role") or "")),
                    )
                )
        if reading.evidence_pages:
            out.append(
                gettext(
                    "Underskriftsbevis: %(n)d sidor efter originalsidorna "
                    "(sida %(first)d–%(last)d).",
                    n=reading.evidence_pages,
                    first=reading.original_pages + 1,
                    last=reading.original_pages + reading.evidence_pages,
                )
            )
        if reading.record is not None:
            out.append(
                gettext(
                    "Maskinläsbart bevis: %(name)s (%(kb)s kB), inbäddat i filen.",
                    name=EVIDENCE_NAME,
                    kb=max(1, round(reading.record_bytes / 1024)),
                )
            )
        others = [a for a in reading.attachments if a != EVIDENCE_NAME]
        if others:
            out.append(gettext("Andra inbäddade filer: %(names)s.", names=", ".join(others[:10])))
        out.append(gettext("Sigill: %(who)s, över allt ovan.", who=self.seal.signer or "–"))
        return out

    def eid_proofs(self) -> list[EidProof]:
        """The e-ID proofs the file's record embeds, per signer, with what can be checked
        without the broker or BankID (docs/adr/018).

        Only a record under our intact seal is vouched for: in any other file anyone can have
        written the proof (an ID token's payload is not checked again here), so each proof
        then gets one problem and no check that reads as passed."""
        if not self.final:
            return []
        record = self.reading.record if self.reading else None
        sha = str(((record or {}).get("frozen_pdf") or {}).get("sha256") or "")
        sealed = self.seal is not None and self.seal.ok
        out = []
        for signer in self.signers:
            designated = signer.get("designated")
            number = designated.get("id_number") if isinstance(designated, dict) else None
            for proof in (signer.get("proofs") or [])[:4]:
                if isinstance(proof, dict):
                    out.append(_eid_proof(signer, proof, number, sha, sealed=sealed))
        return out

    @property
    def signers(self) -> list[dict[str, Any]]:
        """The record's signers (dicts as embedded), for showing who added what."""
        record = self.reading.record if self.reading else None
        return [s for s in (record or {}).get("signers") or [] if isinstance(s, dict)]


@dataclass(frozen=True)
class EidProof:
    """One signer's embedded e-ID proof as /verify shows it."""

    name: str  #: the signer's name as the record gives it
    role: str
    kind: str  #: "oidc", "bankid" or "sso"
    line: str  #: services/eid.summary
    checks: list[Finding]  #: what was checked in the file itself


def _eid_proof(
    signer: dict[str, Any],
    proof: dict[str, Any],
    number: Any,
    document_sha256: str,
    *,
    sealed: bool = True,
) -> EidProof:
    """*sealed*: the record is under our intact seal (Verification.ok); if not, the proof is
    shown with one problem and nothing in it is checked."""
    from formsvc.services import eid

    kind = str(proof.get("kind") or "")
    checks: list[Finding] = []
    if not sealed:
        checks = [
            Finding(
                False,
                gettext(
                    "E-legitimationen i filen kan inte bedömas: filen har inte vårt sigill "
                    "eller har ändrats efter det."
                ),
            )
        ]
    elif kind == "oidc":
        checks = _oidc_checks(proof, number)
    elif kind == "bankid":
        checks = _bankid_checks(proof, document_sha256)
    elif kind == "sso":
        checks = [
            Finding(
                True,
                gettext(
                    "Inloggning hos organisationens identitetsleverantör strax före "
                    "underskriften; ingen token är inbäddad."
                ),
            )
        ]
    return EidProof(
        name=_signer_name(signer),
        role=signer_roles.label(str(signer.get("role") or "")),
        kind=kind,
        line=eid.summary(proof),
        checks=checks,
    )


def _oidc_checks(proof: dict[str, Any], number: Any) -> list[Finding]:
    """The embedded ID token read back: its claims against the proof and the designated signer.

    Its signature was validated against the broker's keys when it was received; the keys
    rotate, so it is not validated again here (ADR 018)."""
    from formsvc.services import eid

    if proof.get("omitted"):
        return [
            Finding(
                True,
                gettext(
                    "ID-token finns i arkivexemplaret; det här exemplaret har dess kontrollsumma "
                    "(SHA-256 %(sha)s).",
                    sha=str(proof.get("id_token_sha256") or "–")[:64],
                ),
            )
        ]
    claims = _jws_claims(proof.get("id_token"))
    if claims is None:
        return [Finding(False, gettext("ID-token i beviset går inte att läsa."))]
    wanted = eid.normalise(number) if isinstance(number, str) else None
    # the claim the broker's entry named when the token was received (review E3)
    name = proof.get("personal_number_claim")
    claim = claims.get(name if isinstance(name, str) and name else eid.PERSONAL_NUMBER_CLAIM)
    same = (
        claims.get("iss") == proof.get("issuer")
        and claims.get("sub") == proof.get("subject")
        and eid.normalise(claim) == eid.normalise(proof.get("personal_number"))
    )
    out = [
        Finding(
            same,
            gettext("ID-token i beviset stämmer med beviset (utfärdare, subjekt, personnummer).")
            if same
            else gettext("ID-token i beviset stämmer inte med beviset."),
        )
    ]
    if wanted is not None:
        match = eid.normalise(claim) == wanted
        out.append(
            Finding(
                match,
                gettext("Personnumret i ID-token är den utsedda undertecknarens.")
                if match
                else gettext("Personnumret i ID-token är inte den utsedda undertecknarens."),
            )
        )
    out.append(
        Finding(
            True,
            gettext(
                "ID-tokens signatur kontrollerades mot e-legitimationstjänstens nycklar när "
                "den togs emot (%(alg)s).",
                alg=str(_jws_header(proof.get("id_token")).get("alg") or "–")[:20],
            ),
        )
    )
    return out


def _bankid_checks(proof: dict[str, Any], document_sha256: str) -> list[Finding]:
    try:
        from formsvc.services import bankid  # helper bankid's; not there on every version
    except ImportError:
        bankid = None
    check = getattr(bankid, "check_completion", None)
    if check is None:
        return [
            Finding(False, gettext("BankID-beviset kan inte kontrolleras i den här versionen."))
        ]
    try:
        results = check(proof, document_sha256)
    except Exception:  # noqa: BLE001 - hostile content: a finding, never a 500
        return [Finding(False, gettext("BankID-beviset i filen går inte att läsa."))]
    return [Finding(bool(c.ok), str(c.text)) for c in results]


def _b64url(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _jws_part(token: Any, index: int) -> dict[str, Any] | None:
    if not isinstance(token, str) or len(token) > 64 * 1024 or token.count(".") != 2:
        return None
    try:
        value = json.loads(_b64url(token.split(".")[index]))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _jws_claims(token: Any) -> dict[str, Any] | None:
    """The payload of a compact JWS, unverified (the caller says what it proves)."""
    return _jws_part(token, 1)


def _jws_header(token: Any) -> dict[str, Any]:
    return _jws_part(token, 0) or {}


# --------------------------------------------------------------------------- the use case


def verify_upload(
    pdf: bytes,
    trust: list[asn1_x509.Certificate],
    *,
    runner: Runner,
    settings: Mapping[str, Any],
) -> Result:
    """Seal check and reading of *pdf* in a bounded child, then the database comparison.

    Raises untrusted.Refused (a limit) or Busy, as sealing.verify_upload does."""
    out = runner.run(verify_untrusted, pdf, **sealing.untrusted_params(trust, settings))
    value = dict(out.value)
    raw = value.pop("reading", None)
    seal = sealing.verification_from(value)
    reading = Reading(**raw) if isinstance(raw, dict) else None
    return check(seal, reading, organisation=str(settings.get("ORGANISATION_NAME") or ""))


def verify_untrusted(pdf: bytes, *, trust: list[str], **limits: int) -> Output:
    """In the child: sealing.verify_untrusted, then `read_sealed` if the seal is intact (the
    file is parsed once by pikepdf for the limits and once by pyHanko, and both are shared)."""
    document = sealing.open_within_limits(pdf, **limits)
    try:
        reader: PdfFileReader | None = PdfFileReader(io.BytesIO(pdf), strict=False)
    except Exception:  # noqa: BLE001 - `verify` reports an unreadable file in its own words
        reader = None
    seal = sealing.verify(pdf, sealing.certificates(trust), reader=reader)
    out = sealing.verification_output(seal)
    if seal.intact:
        out.value["reading"] = asdict(read_sealed(pdf, reader=reader, document=document))
    return out


def check(seal: Verification, reading: Reading | None, *, organisation: str = "") -> Result:
    """Translate the child's findings and compare the record with the database."""
    from formsvc.services import signing  # signing imports sealing; only the parent needs it

    record = signing.sealed_record(seal.sha256) if seal.ok else None
    result = Result(seal=seal, reading=reading, record=record, organisation=organisation)
    if reading is None:
        return result
    result.findings = [Finding(bool(ok), gettext(m, **(p or {}))) for ok, m, p in reading.notes]
    if reading.format != "final" or reading.record is None:
        return result
    if record is None:
        if seal.trusted:
            # our seal, but neither the archive copy nor a signer's copy we handed out
            result.findings.append(
                Finding(
                    False,
                    gettext(
                        "Filen bär vårt sigill men finns inte bland de dokument vi har "
                        "förseglat: uppgifterna i beviset kan inte jämföras med våra register."
                    ),
                )
            )
        return result
    result.findings.extend(_against_database(reading, record.document))
    return result


# --------------------------------------------------------------------------- reading (child)


def _get(obj: Any, key: str) -> Any:
    """pyHanko's dictionary value (references followed), or None; *obj* may be anything."""
    if isinstance(obj, generic.IndirectObject):
        obj = obj.get_object()
    if not isinstance(obj, generic.DictionaryObject) or key not in obj:
        return None
    return obj[key]


def read_sealed(
    pdf: bytes, *, reader: PdfFileReader | None = None, document: pikepdf.Pdf | None = None
) -> Reading:
    """Read the evidence record and the structure of a sealed PDF; never raises.

    *reader* (pyHanko) and *document* (pikepdf) are the file already opened, if it was."""
    reading = Reading()
    try:
        reader = reader or PdfFileReader(io.BytesIO(pdf), strict=False)
        raw = _find_record(reader, reading)
    except Exception:  # noqa: BLE001 - pyHanko raises many kinds on a hostile file
        reading.format = "unreadable"
        reading.note(False, N_("Dokumentets innehåll kunde inte läsas för kontroll."))
        return reading
    if raw is None:
        reading.note(
            True,
            N_(
                "Dokumentet är förseglat i det äldre formatet (utan inbäddat bevis): sigillet "
                "och våra register kontrolleras som tidigare."
            ),
        )
        return reading
    reading.format = "final"
    record = _parse_record(raw, reading)
    reading.record = record
    original = _revision1(pdf, reader)
    if original is None:
        reading.note(False, N_("Originalversionen kunde inte skiljas ut ur filen."))
        return reading
    reading.revision1_sha256 = hashlib.sha256(original).hexdigest()
    reading.revision1_bytes = len(original)
    if record is not None:
        _compare_frozen_hash(record, reading)
    try:
        originals = _check_structure(reader, reading, record)
    except Exception:  # noqa: BLE001
        reading.note(False, N_("Dokumentets sidor kunde inte kontrolleras: filen är skadad."))
        return reading
    if record is not None and originals is not None:
        try:
            if document is None:
                with pikepdf.open(io.BytesIO(pdf)) as opened:
                    _check_names(opened, reading, record, originals)
            else:
                _check_names(document, reading, record, originals)
        except Exception:  # noqa: BLE001
            reading.note(False, N_("Texten på de tillagda sidorna kunde inte läsas."))
    return reading


def _revision1(pdf: bytes, reader: PdfFileReader) -> bytes | None:
    """Revision 1 of *pdf*: the same cut as overlay.original_revision, on the open reader."""
    try:
        end = reader.xrefs.get_xref_container_info(0).end_location
    except Exception:  # noqa: BLE001
        return None
    eof = pdf.find(b"%%EOF", end)
    if eof < 0:
        return None
    eof += len(b"%%EOF")
    for newline in (b"\r\n", b"\n", b"\r"):
        if pdf.startswith(newline, eof):
            return pdf[: eof + len(newline)]
    return pdf[:eof]


def _find_record(reader: PdfFileReader, reading: Reading) -> generic.StreamObject | None:
    """The evidence record's embedded stream, from /Names /EmbeddedFiles (or /AF), or None."""
    root = reader.root
    specs: list[generic.DictionaryObject] = []
    tree = _get(_get(root, "/Names"), "/EmbeddedFiles")
    if isinstance(tree, generic.DictionaryObject):
        specs.extend(spec for _name, spec in _name_tree(tree))
    af = _get(root, "/AF")
    if isinstance(af, generic.ArrayObject):
        specs.extend(af[i] for i in range(min(len(af), 100)))
    found = None
    for spec in specs:
        if not isinstance(spec, generic.DictionaryObject):
            continue
        name = str(_get(spec, "/UF") or _get(spec, "/F") or "")
        if name and name not in reading.attachments:
            reading.attachments.append(name)
        if name == EVIDENCE_NAME and found is None:
            stream = _get(_get(spec, "/EF"), "/F")
            # named but without a stream: read as a broken (empty) record
            empty = generic.StreamObject()
            found = stream if isinstance(stream, generic.StreamObject) else empty
    return found


def _name_tree(node: generic.DictionaryObject, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(name, value) pairs of a name tree, bounded in depth and size."""
    if depth > 8:
        return
    pairs = _get(node, "/Names")
    if isinstance(pairs, generic.ArrayObject):
        for i in range(0, min(len(pairs), 200) - 1, 2):
            yield str(pairs[i]), pairs[i + 1].get_object()
    kids = _get(node, "/Kids")
    if isinstance(kids, generic.ArrayObject):
        for i in range(min(len(kids), 50)):
            kid = kids[i]
            if isinstance(kid, generic.DictionaryObject):
                yield from _name_tree(kid, depth + 1)


def _bounded_data(stream: generic.StreamObject) -> bytes | None:
    """The stream's data if unfiltered or Flate and at most MAX_RECORD_BYTES, else None."""
    encoded = stream.encoded_data or b""
    if len(encoded) > MAX_RECORD_BYTES:
        return None
    filters = _get(stream, "/Filter")
    if isinstance(filters, generic.ArrayObject):
        filters = list(filters)
    elif filters is not None:
        filters = [filters]
    else:
        filters = []
    if not filters:
        return encoded
    if filters != ["/FlateDecode"] or _get(stream, "/DecodeParms"):
        raise ValueError("unsupported filter")
    inflate = zlib.decompressobj()
    data = inflate.decompress(encoded, MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        return None
    return data


def _parse_record(stream: generic.StreamObject, reading: Reading) -> dict[str, Any] | None:
    """The record as a dict, or None with a finding saying why it cannot be used."""
    try:
        data = _bounded_data(stream)
    except (ValueError, zlib.error):
        reading.note(
            False, N_("Beviset i dokumentet (%(name)s) går inte att läsa."), name=EVIDENCE_NAME
        )
        return None
    if data is None:
        reading.note(
            False,
            N_("Beviset i dokumentet är större än %(mb)d MiB och läses inte."),
            mb=MAX_RECORD_BYTES // (1024 * 1024),
        )
        return None
    reading.record_bytes = len(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        reading.note(False, N_("Beviset i dokumentet är inte giltig UTF-8-text."))
        return None
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        depth_exceeded = True
    except ValueError:
        reading.note(False, N_("Beviset i dokumentet är inte giltig JSON."))
        return None
    else:
        depth_exceeded = _depth(value) > MAX_DEPTH
    if depth_exceeded:
        reading.note(
            False, N_("Beviset i dokumentet är nästlat djupare än %(n)d nivåer."), n=MAX_DEPTH
        )
        return None
    if not isinstance(value, dict) or value.get("format") != EVIDENCE_FORMAT:
        reading.note(
            False,
            N_("Beviset i dokumentet har inte formatet %(format)s."),
            format=EVIDENCE_FORMAT,
        )
        return None
    frozen = value.get("frozen_pdf")
    signers = value.get("signers")
    if (
        not isinstance(frozen, dict)
        or not isinstance(frozen.get("sha256"), str)
        or not _SHA256.match(frozen["sha256"])
        or not isinstance(signers, list)
        or not all(isinstance(s, dict) for s in signers)
    ):
        reading.note(False, N_("Beviset i dokumentet saknar obligatoriska uppgifter."))
        return None
    return value


def _depth(value: Any, limit: int = MAX_DEPTH + 1) -> int:
    """Nesting depth of a JSON value, counting stops past *limit*."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > limit:
                return level
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _compare_frozen_hash(record: dict[str, Any], reading: Reading) -> None:
    claimed = str(record["frozen_pdf"]["sha256"]).lower()
    if claimed == reading.revision1_sha256:
        reading.note(
            True,
            N_(
                "Originalversionen i filen är den som beviset anger: SHA-256 %(sha)s. "
                "Vad som lades till efter den kontrolleras för sig."
            ),
            sha=reading.revision1_sha256,
        )
    else:
        reading.note(
            False,
            N_(
                "Originalversionen i filen har SHA-256 %(actual)s, men beviset anger %(claimed)s: "
                "beviset hör inte till de här sidorna."
            ),
            actual=reading.revision1_sha256,
            claimed=claimed[:64],
        )


# --------------------------------------------------------------------------- structure


class _Changed(Exception):
    """An original object was changed in a way ADR 014 does not allow (message: what)."""


def _same(a: Any, b: Any, depth: int = 0) -> bool:
    """Equal PDF values, comparing indirect references by object number (not following them)."""
    if depth > 40:
        return False
    if isinstance(a, generic.IndirectObject) or isinstance(b, generic.IndirectObject):
        return (
            isinstance(a, generic.IndirectObject)
            and isinstance(b, generic.IndirectObject)
            and (a.idnum, a.generation) == (b.idnum, b.generation)
        )
    if isinstance(a, generic.StreamObject) or isinstance(b, generic.StreamObject):
        return False  # streams are always indirect; a direct one is not ours to compare
    if isinstance(a, generic.DictionaryObject) and isinstance(b, generic.DictionaryObject):
        if set(a.keys()) != set(b.keys()):
            return False
        return all(_same(a.raw_get(k), b.raw_get(k), depth + 1) for k in a)
    if isinstance(a, generic.ArrayObject) and isinstance(b, generic.ArrayObject):
        return len(a) == len(b) and all(
            _same(a.raw_get(i), b.raw_get(i), depth + 1) for i in range(len(a))
        )
    return type(a) is type(b) and a == b


def _ref_id(value: Any) -> int | None:
    return value.idnum if isinstance(value, generic.IndirectObject) else None


def _leaves(root: generic.DictionaryObject) -> list[tuple[generic.IndirectObject, list[Any]]]:
    """Each page in order: (its reference, its chain of page tree nodes from the root)."""
    out: list[tuple[generic.IndirectObject, list[Any]]] = []
    seen: set[int] = set()

    def walk(ref: Any, chain: list[Any], depth: int) -> None:
        if depth > _MAX_TREE_DEPTH or len(out) > _MAX_LEAVES:
            raise _Changed("page tree too deep or too large")
        if not isinstance(ref, generic.IndirectObject) or ref.idnum in seen:
            raise _Changed("page tree malformed")
        seen.add(ref.idnum)
        node = ref.get_object()
        if not isinstance(node, generic.DictionaryObject):
            raise _Changed("page tree malformed")
        kids = _get(node, "/Kids") if _get(node, "/Type") != "/Page" else None
        if isinstance(kids, generic.ArrayObject):
            for kid in [kids.raw_get(i) for i in range(len(kids))]:
                walk(kid, [*chain, node], depth + 1)
        else:
            out.append((ref, chain))

    walk(root.raw_get("/Pages"), [], 0)
    return out


def _inherited(page: generic.DictionaryObject, chain: list[Any], key: str) -> Any:
    if key in page:
        return page.raw_get(key)
    for node in reversed(chain):
        if key in node:
            return node.raw_get(key)
    return None


def _items(value: Any) -> list[Any]:
    """/Contents or /Annots as a list of raw items (array, single reference, or nothing)."""
    if value is None:
        return []
    obj = value.get_object() if isinstance(value, generic.IndirectObject) else value
    if isinstance(obj, generic.ArrayObject):
        return [obj.raw_get(i) for i in range(len(obj))]
    return [value]


def _resources_extended(old: Any, new: Any) -> bool:
    """Every resource of *old* is in *new* with the same value (new ones may be added)."""
    if old is None:
        return True
    old_d, new_d = old.get_object(), new.get_object() if new is not None else None
    if not isinstance(old_d, generic.DictionaryObject):
        return _same(old, new)
    if not isinstance(new_d, generic.DictionaryObject):
        return False
    for key in old_d:
        if key not in new_d:
            return False
        a, b = old_d.raw_get(key), new_d.raw_get(key)
        a_obj, b_obj = a.get_object(), b.get_object()
        if isinstance(a_obj, generic.DictionaryObject) and isinstance(
            b_obj, generic.DictionaryObject
        ):
            # /Font, /XObject …: each named resource keeps its value
            if not all(k in b_obj and _same(a_obj.raw_get(k), b_obj.raw_get(k)) for k in a_obj):
                return False
        elif key == "/ProcSet" and isinstance(a_obj, generic.ArrayObject):
            if not all(x in b_obj for x in a_obj):
                return False
        elif not _same(a, b):
            return False
    return True


def _is_seal_widget(annot: Any) -> bool:
    obj = annot.get_object()
    if _get(obj, "/Subtype") != "/Widget":
        return False
    kind = _get(obj, "/FT")
    if kind is None:
        kind = _get(_get(obj, "/Parent"), "/FT")
    return kind == "/Sig"


def _check_structure(
    reader: PdfFileReader, reading: Reading, record: dict[str, Any] | None
) -> set[int] | None:
    """ADR 014 §Verification 3: the update changes no object of revision 1 but those allowed.

    Returns the object numbers of revision 1's content streams, or None on a finding that stops.
    """
    xrefs = reader.xrefs
    if xrefs.total_revisions < 2:
        reading.note(False, N_("Filen har ingen originalversion med tillägg efter den."))
        return None
    original_ids = {r.idnum for r in xrefs.explicit_refs_in_revision(0)}
    changed: set[int] = set()
    for revision in range(1, xrefs.total_revisions):
        for ref in xrefs.explicit_refs_in_revision(revision) | xrefs.refs_freed_in_revision(
            revision
        ):
            if ref.idnum in original_ids:
                changed.add(ref.idnum)
    old = reader.get_historical_resolver(0)
    old_root_ref, new_root_ref = old.root_ref, reader.root_ref
    problems: list[str] = []
    allowed: set[int] = set()
    old_root = old_root_ref.get_object()
    if old_root_ref.idnum != new_root_ref.idnum:
        problems.append("catalogue replaced")
    new_root = reader.root
    if _ref_id(old_root.raw_get("/Pages")) != _ref_id(new_root.raw_get("/Pages")):
        reading.note(False, N_("Originalsidorna har ändrats: sidträdet är utbytt."))
        return None
    if not _same(_get(old_root, "/OCProperties"), _get(new_root, "/OCProperties")):
        problems.append("optional content changed")
    allowed.add(old_root_ref.idnum)
    for key in ("/Metadata", "/AcroForm", "/Names", "/AF"):
        if (ref := _ref_id(old_root.raw_get(key) if key in old_root else None)) is not None:
            allowed.add(ref)
    names = _get(old_root, "/Names")
    if (
        isinstance(names, generic.DictionaryObject)
        and "/EmbeddedFiles" in names
        and (ref := _ref_id(names.raw_get("/EmbeddedFiles"))) is not None
    ):
        allowed.add(ref)
    info = old.trailer_view.raw_get("/Info") if "/Info" in old.trailer_view else None
    if (ref := _ref_id(info)) is not None:
        allowed.add(ref)

    old_pages = _leaves(old_root)
    new_pages = _leaves(new_root)
    reading.original_pages = len(old_pages)
    old_ids = [ref.idnum for ref, _chain in old_pages]
    if [ref.idnum for ref, _c in new_pages[: len(old_pages)]] != old_ids:
        reading.note(False, N_("Originalsidorna har ändrats: sidor är borttagna eller omflyttade."))
        return None
    added = new_pages[len(old_pages) :]
    if any(ref.idnum in original_ids for ref, _c in added):
        problems.append("an original object became a new page")
    reading.evidence_pages = len(added)
    # page tree nodes of revision 1: only /Kids (checked above, as the page order) and /Count
    for _ref, chain in old_pages:
        for node in chain:
            ref = node.container_ref
            if ref is None or ref.idnum in allowed:
                continue
            allowed.add(ref.idnum)
            if ref.idnum in changed:
                now = reader.get_object(generic.Reference(ref.idnum, ref.generation))
                keys = (set(node.keys()) | set(now.keys())) - {"/Kids", "/Count"}
                if not all(
                    k in node and k in now and _same(node.raw_get(k), now.raw_get(k)) for k in keys
                ):
                    problems.append("page tree attributes changed")

    content_of: dict[int, int] = {}  # original content stream -> page number (1-based)
    for index, ((old_ref, old_chain), (new_ref, new_chain)) in enumerate(
        zip(old_pages, new_pages, strict=False)
    ):
        old_page, new_page = old_ref.get_object(), new_ref.get_object()
        for item in _items(old_page.raw_get("/Contents") if "/Contents" in old_page else None):
            if (ref := _ref_id(item)) is not None:
                content_of.setdefault(ref, index + 1)
        # the page, its tree nodes, or what hangs off it (an indirect /Contents or /Annots array,
        # its resource dictionaries) redefined by the update: check the page as a whole
        owned = {old_ref.idnum} | {
            n.container_ref.idnum for n in new_chain if n.container_ref is not None
        }
        owned |= {
            ref
            for k in ("/Contents", "/Annots")
            if k in old_page and (ref := _ref_id(old_page.raw_get(k))) is not None
        }
        resources = _inherited(old_page, old_chain, "/Resources")
        if (ref := _ref_id(resources)) is not None:
            owned.add(ref)
        if isinstance(
            res := resources.get_object() if resources is not None else None,
            generic.DictionaryObject,
        ):
            owned |= {r for k in res if (r := _ref_id(res.raw_get(k))) is not None}
        if not owned & changed:
            continue
        allowed.add(old_ref.idnum)
        for ref_value in (old_page.raw_get(k) for k in ("/Contents", "/Annots") if k in old_page):
            if (ref := _ref_id(ref_value)) is not None and isinstance(
                ref_value.get_object(), generic.ArrayObject
            ):
                allowed.add(ref)  # an indirect array: checked below as the page's list
        try:
            marked = _check_page(old_page, old_chain, new_page, new_chain, original_ids, allowed)
        except _Changed as change:
            problems.append(f"page {index + 1}: {change}")
            continue
        if marked:
            reading.marked_pages.append(index)

    unexpected = sorted(changed - allowed)
    for idnum in unexpected[:20]:
        page = content_of.get(idnum)
        problems.append(f"page {page} content" if page else f"object {idnum}")
    if problems:
        pages = sorted({int(m[1]) for p in problems if (m := re.match(r"page (\d+)", p))})
        if pages:
            reading.note(
                False,
                N_(
                    "Originalsidorna har ändrats efter att undertecknarna läste dem "
                    "(sida %(pages)s): innehåll i originalversionen är ersatt, inte bara tillagt."
                ),
                pages=", ".join(str(p) for p in pages),
            )
        else:
            reading.note(
                False,
                N_(
                    "Originalsidorna har ändrats efter att undertecknarna läste dem: "
                    "%(n)d delar av originalversionen är ersatta, inte bara tillagda."
                ),
                n=len(problems),
            )
        return None
    places = _place_pages(record)
    stray = [p + 1 for p in reading.marked_pages if record is not None and p not in places]
    if stray:
        reading.note(
            False,
            N_("Sida %(pages)s har fått tillägg utan att någon undertecknare har en plats där."),
            pages=", ".join(map(str, stray)),
        )
    reading.note(
        True,
        N_(
            "Tillägget ändrar inget i originalversionen: %(n)d originalsidor, deras innehåll "
            "ligger kvar orört och bara nytt har lagts till."
        ),
        n=reading.original_pages,
    )
    return set(content_of)


def _check_page(
    old: generic.DictionaryObject,
    old_chain: list[Any],
    new: generic.DictionaryObject,
    new_chain: list[Any],
    original_ids: set[int],
    allowed: set[int],
) -> bool:
    """Raise _Changed unless *new* only extends *old*; True if content was added to it."""
    for key in set(old.keys()) | set(new.keys()):
        if key in _PAGE_EXTENSIBLE or key == "/Parent":
            continue
        if key not in old or key not in new or not _same(old.raw_get(key), new.raw_get(key)):
            raise _Changed(f"page key {key} changed")
    if _ref_id(old.raw_get("/Parent")) != _ref_id(new.raw_get("/Parent")):
        raise _Changed("page moved in the tree")
    for key in ("/MediaBox", "/CropBox", "/Rotate"):
        if not _same(_inherited(old, old_chain, key), _inherited(new, new_chain, key)):
            raise _Changed(f"{key} changed")
    old_res, new_res = (
        _inherited(p, c, "/Resources") for p, c in ((old, old_chain), (new, new_chain))
    )
    if not _resources_extended(old_res, new_res):
        raise _Changed("resources replaced")
    for res in (old_res,):
        if (ref := _ref_id(res)) is not None:
            allowed.add(ref)
            res_obj = res.get_object()
            if isinstance(res_obj, generic.DictionaryObject):
                for k in res_obj:
                    if (sub := _ref_id(res_obj.raw_get(k))) is not None:
                        allowed.add(sub)

    old_items = _items(old.raw_get("/Contents") if "/Contents" in old else None)
    new_items = _items(new.raw_get("/Contents") if "/Contents" in new else None)
    old_ids = [_ref_id(i) for i in old_items]
    new_ids = [_ref_id(i) for i in new_items]
    if None in old_ids or None in new_ids:
        raise _Changed("content not a stream reference")
    start = _find(new_ids, old_ids)
    if start < 0:
        raise _Changed("original content streams missing or reordered")
    before, after = new_items[:start], new_items[start + len(old_items) :]
    for item in before + after:
        if item.idnum in original_ids:
            raise _Changed("content reuses an original object")
    for item in before:
        data = item.get_object().data if len(item.get_object().encoded_data or b"") < 4096 else b"x"
        if not _ONLY_SAVE.match(data):
            raise _Changed("content drawn before the original")

    old_annots = _items(old.raw_get("/Annots") if "/Annots" in old else None)
    new_annots = _items(new.raw_get("/Annots") if "/Annots" in new else None)
    if len(new_annots) < len(old_annots) or not all(
        _same(a, b) for a, b in zip(old_annots, new_annots, strict=False)
    ):
        raise _Changed("annotations removed")
    if not all(_is_seal_widget(a) for a in new_annots[len(old_annots) :]):
        raise _Changed("annotation added")
    return bool(after)


def _find(haystack: list[Any], needle: list[Any]) -> int:
    """Index where *needle* occurs contiguously in *haystack*, or -1."""
    if not needle:
        return 0
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i : i + len(needle)] == needle:
            return i
    return -1


def _place_pages(record: dict[str, Any] | None) -> set[int]:
    pages: set[int] = set()
    for signer in (record or {}).get("signers") or []:
        place = signer.get("place") if isinstance(signer, dict) else None
        if isinstance(place, dict) and isinstance(place.get("page"), int):
            pages.add(place["page"])
    return pages


# --------------------------------------------------------------------------- text


def _check_names(
    doc: pikepdf.Pdf, reading: Reading, record: dict[str, Any], originals: set[int]
) -> None:
    """Each signer's name is on the evidence pages, and drawn on the page of their place."""
    budget = [MAX_TEXT_BYTES]
    pages = doc.pages
    first = reading.original_pages
    if len(pages) != first + reading.evidence_pages:
        reading.note(False, N_("Texten på de tillagda sidorna kunde inte läsas."))
        return
    last = min(len(pages), first + MAX_EVIDENCE_PAGES)
    evidence = " ".join(_page_text(pages[i], None, budget) for i in range(first, last))
    # what the update drew on an original page: its content streams that are not revision 1's
    drawn = {index: _page_text(pages[index], originals, budget) for index in reading.marked_pages}
    flat_evidence = _flat(evidence)
    missing, misplaced = [], []
    for signer in record.get("signers") or []:
        name = _signer_name(signer)
        if not name:
            continue
        if _flat(name) not in flat_evidence:
            missing.append(name)
        place = signer.get("place")
        if isinstance(place, dict) and isinstance(place.get("page"), int):
            page = place["page"]
            if page not in drawn or not _shows(drawn[page], name):
                misplaced.append((name, page + 1))
    if reading.evidence_pages == 0:
        reading.note(False, N_("Dokumentet saknar underskriftsbevis (tillagda sidor)."))
    elif missing:
        reading.note(
            False,
            N_("Underskriftsbeviset nämner inte %(names)s, som beviset i filen anger."),
            names=", ".join(missing[:10]),
        )
    else:
        reading.note(
            True,
            N_("Underskriftsbeviset (%(n)d sidor) nämner varje undertecknare i beviset."),
            n=reading.evidence_pages,
        )
    for name, page in misplaced[:10]:
        reading.note(
            False,
            N_(
                "Underskriften av %(name)s syns inte på sida %(page)d, där beviset säger "
                "att den är."
            ),
            name=name,
            page=page,
        )


def _shows(text: str, name: str) -> bool:
    """*name* is in *text*, or its start cut with an ellipsis (a mark too long for its place)."""
    flat_text, flat_name = _flat(text), _flat(name)
    if flat_name in flat_text:
        return True
    return len(flat_name) > 12 and (flat_name[:12] in flat_text and "…" in flat_text)


def _signer_name(signer: Any) -> str:
    if not isinstance(signer, dict):
        return ""
    name = signer.get("signed_name")
    if not isinstance(name, str) or not name.strip():
        designated = signer.get("designated")
        name = designated.get("name") if isinstance(designated, dict) else ""
    return name if isinstance(name, str) else ""


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def _page_text(page: pikepdf.Page, skip: set[int] | None, budget: list[int]) -> str:
    """The text a page shows; with *skip*, only from content streams not in it (the additions)."""
    contents = page.obj.get("/Contents")
    streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
    parts = []
    for stream in streams:
        if stream is None or (skip is not None and stream.objgen[0] in skip):
            continue
        parts.append(_stream_text(stream, _pike_resources(page.obj), budget, 0))
    return " ".join(parts)


def _pike_resources(node: Any) -> Any:
    """A page's /Resources, inherited from its page tree nodes if it has none of its own."""
    for _ in range(_MAX_TREE_DEPTH):
        if not isinstance(node, pikepdf.Dictionary):
            return None
        if "/Resources" in node:
            return node.get("/Resources")
        node = node.get("/Parent")
    return None


def _stream_text(stream: Any, resources: Any, budget: list[int], depth: int) -> str:
    if depth > 3 or not isinstance(stream, pikepdf.Stream):
        return ""
    budget[0] -= len(stream.read_raw_bytes())
    if budget[0] < 0:
        return ""
    fonts = resources.get("/Font", {}) if isinstance(resources, pikepdf.Dictionary) else {}
    xobjects = resources.get("/XObject", {}) if isinstance(resources, pikepdf.Dictionary) else {}
    out: list[str] = []
    cmap: dict[bytes, str] | None = None
    cmaps: dict[str, dict[bytes, str] | None] = {}
    for operands, operator in pikepdf.parse_content_stream(stream):
        op = str(operator)
        if op == "Tf" and operands:
            name = str(operands[0])
            if name not in cmaps:
                cmaps[name] = _to_unicode(fonts.get(name))
            cmap = cmaps[name]
        elif op in ("Tj", "'", '"') and operands:
            out.append(_decode(bytes(operands[-1]), cmap))
        elif op == "TJ" and operands:
            out.append(
                "".join(
                    _decode(bytes(x), cmap) for x in operands[0] if isinstance(x, pikepdf.String)
                )
            )
        elif op == "ET":
            out.append(" ")
        elif op == "Do" and operands:
            xobject = xobjects.get(str(operands[0]))
            if isinstance(xobject, pikepdf.Stream) and xobject.get("/Subtype") == "/Form":
                out.append(
                    _stream_text(xobject, xobject.get("/Resources", resources), budget, depth + 1)
                )
    return "".join(out)


_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
_PAIR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_RANGE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")


def _to_unicode(font: Any) -> dict[bytes, str] | None:
    """A font's ToUnicode map (code bytes -> text), or None for a simple font without one."""
    if not isinstance(font, pikepdf.Dictionary) or "/ToUnicode" not in font:
        return None
    raw = font.ToUnicode.read_bytes()[:MAX_RECORD_BYTES]
    cmap: dict[bytes, str] = {}
    for section in _BFCHAR.findall(raw):
        for src, dst in _PAIR.findall(section):
            try:
                cmap[bytes.fromhex(src.decode())] = bytes.fromhex(dst.decode()).decode("utf-16-be")
            except ValueError:
                continue
    for section in _BFRANGE.findall(raw):
        for lo, hi, dst in _RANGE.findall(section):
            start, end, first = int(lo, 16), int(hi, 16), int(dst, 16)
            width = len(lo) // 2
            for offset in range(min(end - start, 255) + 1):
                if 0 <= first + offset < 0x110000:
                    cmap[(start + offset).to_bytes(width, "big")] = chr(first + offset)
    return cmap or None


def _decode(raw: bytes, cmap: dict[bytes, str] | None) -> str:
    if not cmap:
        return raw.decode("latin-1")
    width = len(next(iter(cmap)))
    return "".join(cmap.get(raw[i : i + width], "") for i in range(0, len(raw), width))


# --------------------------------------------------------------------------- the database


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _local_text(text: Any) -> str:
    """A record's UTC time as the rest of the page shows times: Stockholm time, with its zone."""
    at = _when(text)
    if at is None:
        return str(text or "")[:40]
    return at.astimezone(ZoneInfo("Europe/Stockholm")).strftime("%Y-%m-%d %H:%M %Z")


def _against_database(reading: Reading, doc: Document) -> list[Finding]:
    """The record compared with what the service recorded (document, signers, audit log)."""
    from formsvc.services.signing import METHOD_LABELS

    record = reading.record or {}
    out: list[Finding] = []
    meta = record.get("document") if isinstance(record.get("document"), dict) else {}
    version = meta.get("version") if isinstance(meta.get("version"), int) else None
    if meta.get("id") != doc.id or (version is not None and version != doc.version):
        out.append(
            Finding(
                False,
                gettext(
                    "Beviset i filen gäller ett annat dokument eller en annan version än det "
                    "vi förseglade som den här filen."
                ),
            )
        )
        return out
    claimed = str(record["frozen_pdf"]["sha256"]).lower()
    if doc.frozen_pdf_sha256 and claimed == doc.frozen_pdf_sha256 == reading.revision1_sha256:
        out.append(
            Finding(
                True,
                gettext(
                    "Originalsidorna är oförändrade (SHA-256 %(sha)s): det är den kontrollsumma "
                    "varje undertecknare visades.",
                    sha=claimed,
                ),
            )
        )
    else:
        out.append(
            Finding(
                False,
                gettext(
                    "Kontrollsumman för originalsidorna stämmer inte med den vi registrerade när "
                    "dokumentet skickades för underskrift (%(sha)s).",
                    sha=doc.frozen_pdf_sha256 or "–",
                ),
            )
        )

    rows = {
        r.id: r
        for r in db.session.scalars(
            select(SignatureRequest).where(
                SignatureRequest.document_id == doc.id,
                SignatureRequest.document_version == doc.version,
                SignatureRequest.status == "signed",
            )
        )
    }
    differ: list[str] = []
    seen: set[int] = set()
    for signer in record.get("signers") or []:
        row = rows.get(signer.get("request")) if isinstance(signer.get("request"), int) else None
        name = _signer_name(signer) or "?"
        if row is None or row.id in seen:
            differ.append(name)
            continue
        seen.add(row.id)
        method = signer.get("method")
        labels = {row.method, str(METHOD_LABELS.get(row.method or "", row.method or ""))}
        at = _when(signer.get("signed_at"))
        same = (
            signer.get("role") == row.role
            and signer.get("signed_name") == row.signed_name
            and method in labels
            and at is not None
            and row.signed_at is not None
            and abs((at - _aware(row.signed_at)).total_seconds()) < 1
        )
        if not same:
            differ.append(name)
    for row in rows.values():
        if row.id not in seen:
            differ.append(row.signed_name or row.role)
    if differ:
        out.append(
            Finding(
                False,
                gettext(
                    "Undertecknarna i beviset stämmer inte med våra register: %(names)s.",
                    names=", ".join(differ[:10]),
                ),
            )
        )
    else:
        out.append(
            Finding(
                True,
                gettext(
                    "Undertecknarna i beviset (namn, roll, sätt och tid) stämmer med våra "
                    "register: %(n)d stycken.",
                    n=len(seen),
                ),
            )
        )
    out.extend(_proof_findings(record, rows))
    out.extend(_audit_findings(record))
    return out


def _proof_findings(record: dict[str, Any], rows: Mapping[int, SignatureRequest]) -> list[Finding]:
    """Each embedded e-ID proof is the one the service kept for that signature (ADR 018)."""
    from formsvc.services import eid

    differ, count = [], 0
    for signer in record.get("signers") or []:
        row = rows.get(signer.get("request")) if isinstance(signer.get("request"), int) else None
        proofs = [p for p in signer.get("proofs") or [] if isinstance(p, dict)]
        stored = eid.embedded(row.eid if row is not None else None)
        if row is None or (not proofs and stored is None):
            continue
        count += 1
        mine = proofs[0] if proofs else None
        if mine is None or stored is None or len(proofs) != 1:
            same = False
        elif mine.get("omitted"):
            same = mine == eid.embedded(stored, full=False)
        else:
            same = mine == stored
        if not same:
            differ.append(_signer_name(signer) or "?")
    if not count:
        return []
    if differ:
        return [
            Finding(
                False,
                gettext(
                    "E-legitimationen i beviset är inte den vi sparade vid underskriften: "
                    "%(names)s.",
                    names=", ".join(differ[:10]),
                ),
            )
        ]
    return [
        Finding(
            True,
            gettext(
                "E-legitimationen i beviset är den vi sparade vid underskriften "
                "(%(n)d undertecknare).",
                n=count,
            ),
        )
    ]


def _audit_findings(record: dict[str, Any]) -> list[Finding]:
    section = record.get("audit") if isinstance(record.get("audit"), dict) else {}
    events = [e for e in section.get("events") or [] if isinstance(e, dict)][:MAX_EVENTS]
    ids = [e["id"] for e in events if isinstance(e.get("id"), int)]
    stored = (
        {ev.id: ev for ev in db.session.scalars(select(AuditEvent).where(AuditEvent.id.in_(ids)))}
        if ids
        else {}
    )
    bad = [
        e.get("id")
        for e in events
        if not isinstance(e.get("id"), int)
        or e["id"] not in stored
        or stored[e["id"]].hash != e.get("hash")
        or stored[e["id"]].action != e.get("action")
    ]
    out: list[Finding] = []
    if bad or not events:
        out.append(
            Finding(
                False,
                gettext(
                    "Händelserna i beviset finns inte så i granskningsloggen (%(n)d avviker).",
                    n=len(bad) if events else 0,
                ),
            )
        )
    else:
        out.append(
            Finding(
                True,
                gettext(
                    "Beviset räknar upp %(n)d händelser; var och en finns med samma kontrollsumma "
                    "i granskningsloggen.",
                    n=len(events),
                ),
            )
        )
    out.append(_checkpoint_finding(section.get("checkpoint"), events))
    return out


def _checkpoint_finding(raw: Any, events: list[dict[str, Any]]) -> Finding:
    anchor = audit.anchor()
    if anchor is None:
        return Finding(
            False,
            gettext(
                "Granskningsloggens kontrollpunkter är avstängda: beviset kontrolleras inte "
                "mot dem."
            ),
        )
    try:
        line = raw if isinstance(raw, str) else json.dumps(raw)
        cp = Checkpoint.from_line(line)
    except (ValueError, TypeError):
        return Finding(
            False, gettext("Beviset saknar en läsbar kontrollpunkt för granskningsloggen.")
        )
    signed = cp.signed_by(anchor.trusted_keys())
    signs = [e["id"] for e in events if e.get("action") == "sign" and isinstance(e.get("id"), int)]
    if signed != "ok":
        return Finding(
            False,
            gettext(
                "Kontrollpunkten i beviset är inte signerad med granskningsloggens nyckel "
                "(kontrollpunkt %(seq)d).",
                seq=cp.seq,
            ),
        )
    if signs and cp.head_id < max(signs):
        return Finding(
            False,
            gettext("Kontrollpunkten i beviset täcker inte den sista underskriften."),
        )
    return Finding(
        True,
        gettext(
            "Kontrollpunkt %(seq)d i beviset är signerad med granskningsloggens nyckel och "
            "täcker underskrifterna.",
            seq=cp.seq,
        ),
    )
