"""Signer e-ID: who may prove their identity with e-ID, the broker flow's checks, the proof.

A signer whose personnummer the document gives may prove who they are with Swedish e-ID through
an OpenID Connect e-ID broker (the Swedish eID Framework's OIDC profile: the personal identity
number in the claim ``https://id.oidc.se/claim/personalIdentityNumber``, the LoA in ``acr``).
The number in the validated ID token must be the designated signer's; the proof (the raw ID
token among it) is kept on the request and embedded in the sealed PDF's evidence record.
See docs/adr/018-eid-evidence.md. No HTTP of ours here: views pass plain values.

Minors: a participant under 18 is not offered e-ID and signs in person (BankID's terms give
no BankID to most minors, and the guidance wants a young participant's consent given with
the caseworker present); any signer whose personnummer says under 18 is treated the same.
Guardians and adult participants may use e-ID.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from formsvc.extensions import db
from formsvc.models import SignatureRequest, User
from formsvc.models._base import utcnow
from formsvc.services import audit, documents
from formsvc.services.identity import age_on
from formsvc.services.signing._common import SigningError, _log_signer, today_local

#: The Swedish eID Framework's claim for the personal identity number (12 digits).
PERSONAL_NUMBER_CLAIM = "https://id.oidc.se/claim/personalIdentityNumber"
#: The LoA asked for (and required in the answer) when an EID_PROVIDERS entry names none: a
#: broker entry without acr_values must not accept any LoA (review E5, ADR 018).
DEFAULT_ACR = "http://id.elegnamnden.se/loa/1.0/loa3"
#: An identification opens the link and may be used to sign for this long.
FRESH_FOR = timedelta(minutes=30)
#: The methods EID_REQUIRED may name.
METHODS = ("link", "in_person")
_TZ = ZoneInfo("Europe/Stockholm")
_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


# --------------------------------------------------------------------------- who may use e-ID


def normalise(number: object) -> str | None:
    """A personnummer/samordningsnummer as 12 digits (YYYYMMDDNNNN), or None if it is not one.

    Accepts "YYYYMMDD-NNNN" and "YYYYMMDDNNNN"; a masked ("****"), 10-digit or other value is
    None: a number we cannot compare digit for digit is not known."""
    if not isinstance(number, str) or len(number) > 20:
        return None
    digits = number.strip()
    if len(digits) == 13 and digits[8] == "-":  # the hyphen only before the last four
        digits = digits[:8] + digits[9:]
    # ASCII digits only: \d would take any script's digits, and int() reads them (review E4)
    return digits if re.fullmatch(r"(?:19|20)[0-9]{10}", digits) else None


def birth_date(number: str) -> date | None:
    """The birth date a 12-digit number gives (a samordningsnummer's day has 60 added)."""
    try:
        day = int(number[6:8])
        return date(int(number[:4]), int(number[4:6]), day - 60 if day > 60 else day)
    except ValueError:
        return None


def why_not(req: SignatureRequest, today: date | None = None) -> str | None:
    """Why this signer cannot prove their identity with e-ID (Swedish), or None if they can."""
    if req.kind != "external":
        return _("Personal skriver under med sitt eget konto.")
    number = normalise(req.expected_id)
    if number is None:
        return _(
            "Undertecknarens personnummer finns inte i dokumentet, så e-legitimation kan inte "
            "användas."
        )
    born = birth_date(number)
    if born is None or age_on(born, today or today_local()) < 18:
        return _(
            "Undertecknaren är under 18 år och skriver under på plats, inte med e-legitimation."
        )
    return None


def may_use_eid(req: SignatureRequest, *, method: str) -> bool:
    """Whether *req*'s signer may prove their identity with e-ID now (method "link" or
    "in_person"); for a link the caseworker must have chosen e-ID when sending it."""
    if why_not(req) is not None:
        return False
    return bool(req.require_eid) if method == "link" else method == "in_person"


def available(settings: Mapping[str, Any]) -> bool:
    """An e-ID broker or BankID is configured."""
    return bool(providers(settings)) or bool(settings.get("BANKID"))


def required(settings: Mapping[str, Any], type_slug: str, method: str) -> bool:
    """EID_REQUIRED says the type's signers must use e-ID for *method*."""
    wanted = (settings.get("EID_REQUIRED") or {}).get(type_slug) or ()
    return method in wanted


def providers(settings: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The configured OIDC e-ID brokers by name."""
    conf = settings.get("EID_PROVIDERS") or {}
    return {
        name: value
        for name, value in conf.items()
        if isinstance(value, Mapping) and _PROVIDER_NAME.match(str(name))
    }


def link_choice(req: SignatureRequest, identify: str, settings: Mapping[str, Any]) -> bool:
    """Whether the link about to be sent requires e-ID: the caseworker's choice ("code" or
    "eid"), or EID_REQUIRED. Raises SigningError when the choice cannot be honoured."""
    forced = required(settings, req.document.type_slug, "link")
    if identify not in ("code", "eid", ""):
        raise SigningError(_("Välj hur undertecknaren ska styrka sin identitet."))
    if not forced and identify != "eid":
        return False
    if not available(settings):
        raise SigningError(
            _("E-legitimation är inte inställd i tjänsten. Kontakta administratören.")
        )
    problem = why_not(req)
    if problem:
        if forced:
            raise SigningError(
                _(
                    "Den här dokumenttypen kräver e-legitimation för personlig länk, och det går "
                    "inte här: %(why)s Låt undertecknaren skriva under på plats eller på papper.",
                    why=problem,
                )
            )
        raise SigningError(problem)
    return True


# --------------------------------------------------------------------------- the broker flow


def begin(
    settings: Mapping[str, Any], provider: str, *, redirect_uri: str
) -> tuple[str, dict[str, Any]]:
    """(the broker's authorisation URL, what the session keeps until the callback)."""
    from formsvc.services import oidc

    conf = providers(settings).get(provider)
    if conf is None:
        raise SigningError(_("Den e-legitimationen finns inte."))
    try:
        url, pending = oidc.client(provider, conf).begin(
            redirect_uri=redirect_uri,
            force_login=True,  # every signature its own identification, never an IdP session
            acr_values=str(conf.get("acr_values") or "").strip() or DEFAULT_ACR,
        )
    except oidc.OidcError as exc:
        raise SigningError(exc.message) from exc
    return url, {**pending, "provider": provider}


def finish(
    req: SignatureRequest,
    settings: Mapping[str, Any],
    *,
    pending: Mapping[str, Any],
    params: Mapping[str, str],
    origin: audit.Origin | None = None,
    actor: User | None = None,
) -> dict[str, Any]:
    """Validate the broker's answer and compare the person with the designated signer.

    Returns the proof ({"kind": "oidc", ...}); on an open request it is stored as `req.eid`
    (a signed request's proof is never replaced: an identification then only opens the
    receipt). Raises SigningError: a refused token (audited `eid_refused`) or another
    person (audited `eid_mismatch`), both committed, nothing else stored."""
    from formsvc.services import oidc

    provider = str(pending.get("provider") or "")
    conf = providers(settings).get(provider)
    if conf is None:
        raise SigningError(_("Den e-legitimationen finns inte."))
    try:
        result = oidc.client(provider, conf).finish(pending=pending, params=params)
    except oidc.OidcError as exc:
        _log_signer(
            "eid_refused",
            req,
            origin,
            {"provider": provider, "reason": str(getattr(exc, "reason", ""))[:200]},
            actor=actor,
        )
        db.session.commit()
        raise SigningError(exc.message) from exc
    claim = str(conf.get("personal_number_claim") or PERSONAL_NUMBER_CLAIM)
    number = result.claims.get(claim)
    check_person(req, number if isinstance(number, str) else "", provider=provider,
                 origin=origin, actor=actor)  # fmt: skip
    when = result.auth_time or utcnow()
    proof: dict[str, Any] = {
        "kind": "oidc",
        "provider": provider,
        "label": str(conf.get("label") or provider),
        "issuer": result.issuer,
        "subject": result.subject,
        "personal_number": normalise(number),
        "personal_number_claim": claim,  # the token's claim /verify reads back (review E3)
        "loa": result.acr,
        "auth_time": _iso(when),
        "id_token": result.id_token,
    }
    if not fresh(proof):
        raise SigningError(
            _("Identifieringen är för gammal. Legitimera dig igen med e-legitimation.")
        )
    details = {"provider": provider, "loa": result.acr, "id_token_sha256": token_digest(proof)}
    if req.status == "open":
        req.eid = proof
    _log_signer("eid_identified", req, origin, details, actor=actor)
    db.session.commit()
    return proof


def check_person(
    req: SignatureRequest,
    personal_number: str,
    *,
    provider: str,
    origin: audit.Origin | None = None,
    actor: User | None = None,
) -> None:
    """Refuse (SigningError, audit `eid_mismatch` committed) unless *personal_number* is the
    designated signer's. The audit names no personnummer, not even masked: a masked number is
    still someone else's birth date."""
    expected = normalise(req.expected_id)
    got = normalise(personal_number)
    if expected is not None and got == expected:
        return
    _log_signer(
        "eid_mismatch",
        req,
        origin,
        {
            "provider": provider[:40],
            "reason": "no_number" if got is None else "other_person",
        },
        actor=actor,
    )
    db.session.commit()
    raise SigningError(
        _(
            "Du legitimerade dig som en annan person än den som ska skriva under som %(role)s. "
            "Bara %(name)s kan skriva under här, med sin egen e-legitimation. Ingenting har "
            "sparats.",
            role=req.role,
            name=req.expected_name or req.role,
        )
    )


# --------------------------------------------------------------------------- the proof


def fresh(proof: Mapping[str, Any] | None, now: datetime | None = None) -> bool:
    """An OIDC proof whose authentication is at most FRESH_FOR old (and not in the future)."""
    if not isinstance(proof, Mapping) or proof.get("kind") != "oidc":
        return False
    at = _when(proof.get("auth_time"))
    now = _aware(now or utcnow())
    return at is not None and now - FRESH_FOR <= at <= now + timedelta(minutes=2)


def token_digest(proof: Mapping[str, Any] | None) -> str:
    """SHA-256 of the proof's raw ID token ("" without one)."""
    token = proof.get("id_token") if isinstance(proof, Mapping) else None
    return hashlib.sha256(token.encode()).hexdigest() if isinstance(token, str) else ""


def short_loa(loa: object) -> str:
    """'loa3' for 'http://id.elegnamnden.se/loa/1.0/loa3'; the value itself otherwise."""
    text = str(loa or "").strip()
    tail = text.rstrip("/").rsplit("/", 1)[-1]
    return tail[:60] or "–"


@documents.in_document_language()  # stored as evidence, printed in the sealed document
def verification_text(proof: Mapping[str, Any]) -> str:
    """How the identity was established, as sign(verification=...) stores it."""
    return _(
        "E-legitimation via %(label)s (%(issuer)s), tillitsnivå %(loa)s, %(when)s",
        label=str(proof.get("label") or proof.get("provider") or ""),
        issuer=str(proof.get("issuer") or ""),
        loa=short_loa(proof.get("loa")),
        when=_local(proof.get("auth_time")),
    )


def summary(proof: Mapping[str, Any] | None) -> str:
    """One line a reader understands, per proof kind (oidc, bankid, sso); "" for none."""
    if not isinstance(proof, Mapping):
        return ""
    kind = proof.get("kind")
    if kind == "oidc":
        return _(
            "e-legitimation: %(issuer)s, tillitsnivå %(loa)s, %(when)s, ID-token inbäddad",
            issuer=_text(proof.get("issuer")),
            loa=short_loa(proof.get("loa")),
            when=_local(proof.get("auth_time")),
        )
    if kind == "bankid":
        return _(
            "BankID: %(name)s, %(when)s, signatur och OCSP-svar inbäddade",
            name=_text(proof.get("name")),
            when=_local(proof.get("completed_at")),
        )
    if kind == "sso":
        return _(
            "inloggning via %(label)s (%(protocol)s) som %(user)s, tillitsnivå %(loa)s, %(when)s",
            label=_text(proof.get("label") or proof.get("provider")),
            protocol=_text(proof.get("protocol")).upper(),
            user=_text(proof.get("username")),
            loa=short_loa(proof.get("loa")),
            when=_local(proof.get("auth_time")),
        )
    return _("okänt slag av bevis")


def embedded(proof: Mapping[str, Any] | None, *, full: bool = True) -> dict[str, Any] | None:
    """The proof as the evidence record embeds it (docs/adr/018).

    *full*: the whole proof (an oidc proof's raw ID token, a BankID signature and OCSP
    response). Otherwise (another signer's own copy) the facts and digests only."""
    if not isinstance(proof, Mapping) or proof.get("kind") not in ("oidc", "bankid", "sso"):
        return None
    if full:
        return dict(proof)
    kind = proof["kind"]
    keep = {
        "oidc": ("kind", "provider", "label", "issuer", "loa", "auth_time"),
        "bankid": ("kind", "order_ref", "completed_at", "bank_id_issue_date"),
        "sso": ("kind", "provider", "label", "protocol", "issuer", "loa", "auth_time"),
    }[kind]
    out: dict[str, Any] = {k: proof.get(k) for k in keep}
    if kind == "oidc":
        out["id_token_sha256"] = token_digest(proof)
    if kind == "bankid":
        for key in ("signature", "ocsp_response"):
            value = proof.get(key)
            if isinstance(value, str):
                out[f"{key}_sha256"] = hashlib.sha256(value.encode()).hexdigest()
    out["omitted"] = True
    return out


# --------------------------------------------------------------------------- helpers


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _iso(value: datetime) -> str:
    return _aware(value).astimezone(UTC).isoformat()


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return _aware(value)
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def _local(value: object) -> str:
    at = _when(value)
    return at.astimezone(_TZ).strftime("%Y-%m-%d %H:%M") if at else "–"


def _text(value: object) -> str:
    return " ".join(str(value or "").split())[:200] or "–"
