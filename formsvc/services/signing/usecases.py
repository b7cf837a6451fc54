"""The signing use case every signing view calls: record a signature, then seal if complete.

One error policy for every way of signing (personal link, in person, staff, decision, paper):

- a signature that cannot be recorded raises `SigningError` (Swedish, safe to show) and
  changes nothing;
- a recorded signature is committed before sealing starts, and stays whatever sealing does;
- a sealing failure (conversion, seal certificate, storage, `SealRefused`) is logged and
  returned as `Outcome.finalise_error`, a Swedish sentence; `flask reseal` retries;
- another process sealing the same document at the same moment is not an error: it seals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import Document, SignatureRequest, User
from formsvc.services import audit
from formsvc.services.conversion import ConversionError, ConverterPool
from formsvc.services.sealing import Sealer
from formsvc.services.signing._common import Given, Outcome, SigningError
from formsvc.services.signing.finalise import SealRefused, all_signed, finalise_if_complete
from formsvc.services.signing.paper import Scan, sign_on_paper
from formsvc.services.signing.record import decide_and_sign, sign
from formsvc.services.storage import FileStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Signature:
    """One signer signs an open request: in person, as staff, or by personal link."""

    request: SignatureRequest
    given: Given
    method: str  #: "in_person", "staff" or "link"
    verification: str | None = None  #: how identity was established (None: identity_text)
    eid: Mapping[str, Any] | None = None  #: the proof behind it (SSO.md proof shapes)


@dataclass(frozen=True)
class Decision:
    """The decider records a decision and signs it in one step (see record.decide_and_sign)."""

    document: Document
    values: Mapping[str, Any]  #: the decision's fields, merged into the document's data
    given: Given
    verification: str | None = None  #: how identity was established (None: identity_text)
    eid: Mapping[str, Any] | None = None  #: the proof behind it (SSO.md proof shapes)


@dataclass(frozen=True)
class Paper:
    """One checked scan of a paper form signed by the chosen signers (see paper.check_scan)."""

    requests: list[SignatureRequest]
    scan: Scan
    names: Mapping[int, str] = field(default_factory=dict)  #: request id -> name as written


def record_and_finalise(
    what: Signature | Decision | Paper,
    dtype: DocumentType,
    *,
    actor: User | None,
    store: FileStore,
    converter: ConverterPool,
    sealer: Callable[[], Sealer],
    settings: Mapping[str, Any],
    origin: audit.Origin | None = None,
) -> Outcome:
    """Record the signature(s) in *what*, then seal the document if every signature is in.

    Raises SigningError (nothing recorded) when the signature is refused. *sealer* is called
    only when the document is complete, so a missing seal certificate never stops a signature.
    """
    try:
        done = _record(
            what, dtype, actor=actor, store=store, converter=converter, settings=settings,
            origin=origin,
        )  # fmt: skip
    except ConversionError as exc:  # freezing the decided version failed: nothing is recorded
        db.session.rollback()
        raise SigningError(exc.message) from exc
    except BaseException:
        db.session.rollback()
        raise
    finalised, error = finalise_now(
        done[0].document, dtype, store=store, converter=converter, sealer=sealer, settings=settings
    )
    extra = {"requests": done} if len(done) > 1 else {}
    return Outcome(done[0], finalised=finalised, finalise_error=error, extra=extra)


def _record(
    what: Signature | Decision | Paper,
    dtype: DocumentType,
    *,
    actor: User | None,
    store: FileStore,
    converter: ConverterPool,
    settings: Mapping[str, Any],
    origin: audit.Origin | None,
) -> list[SignatureRequest]:
    """The requests signed, committed."""
    if isinstance(what, Signature):
        req = sign(
            what.request, dtype, what.given, method=what.method, actor=actor,
            settings=settings, store=store, origin=origin, verification=what.verification,
            eid=what.eid,
        )  # fmt: skip
        return [req]
    if actor is None:  # a decision and a paper upload are always made by a staff member
        raise SigningError(_("Logga in för att registrera underskrifter."))
    if isinstance(what, Decision):
        req = decide_and_sign(
            what.document, dtype, what.values, what.given, actor=actor, store=store,
            converter=converter, settings=settings, origin=origin,
            verification=what.verification, eid=what.eid,
        )  # fmt: skip
        return [req]
    return sign_on_paper(
        what.requests, what.scan, names=what.names, actor=actor, store=store, dtype=dtype,
        origin=origin,
    )  # fmt: skip


def finalise_now(
    doc: Document,
    dtype: DocumentType,
    *,
    store: FileStore,
    converter: ConverterPool,
    sealer: Callable[[], Sealer],
    settings: Mapping[str, Any],
) -> tuple[bool, str | None]:
    """Seal *doc* if complete: (this call sealed it, Swedish error or None). Never raises.

    False with no error: not complete yet, already sealed, or another process is sealing it.
    """
    if doc.sealed_pdf_sha256 or not all_signed(doc):
        return False, None
    try:
        sealed = finalise_if_complete(
            doc, dtype, store=store, converter=converter, sealer=sealer(), settings=settings
        )
    except SealRefused as exc:  # a signature row the audit log does not back: never sealed
        db.session.rollback()
        logger.warning("sealing document %s refused: %s", doc.id, exc.message)
        return False, _(
            "Underskriften är sparad, men dokumentet förseglas inte: %(why)s",
            why=exc.message,
        )
    except Exception as exc:  # noqa: BLE001 - the signatures are stored; reseal retries
        db.session.rollback()
        logger.exception("finalising document %s failed", doc.id)
        return False, _(
            "Underskriften är sparad, men det slutliga dokumentet kunde inte skapas just nu "
            "(%(why)s). Det görs automatiskt senare; inget har gått förlorat.",
            why=getattr(exc, "message", "") or _("tekniskt fel"),
        )
    return sealed, None
