"""Signatures on paper: a scanned, signed form uploaded by staff."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import update

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.forms._base import text_problem
from formsvc.models import SignatureRequest, User
from formsvc.models._base import utcnow
from formsvc.services import audit, scans, signer_roles, untrusted
from formsvc.services.signing._common import SigningError, _log_signer
from formsvc.services.signing.record import (
    AlreadyDone,
    _require_filled,
    attributed_name,
    identity_text,
)
from formsvc.services.storage import FileStore

#: Method labels as the document page and the evidence print them.
# --------------------------------------------------------------------------- paper


@dataclass(frozen=True)
class Scan:
    """An uploaded scan of the signed paper, rewritten without active content (services/scans)."""

    data: bytes  #: what is stored and served: the rewritten PDF or re-encoded image
    content_type: str
    pages: int
    received_sha256: str  #: SHA-256 of the bytes as uploaded (kept in the audit event)


def check_scan(data: bytes, *, runner: untrusted.Runner, settings: Mapping[str, Any]) -> Scan:
    """The scan rewritten in a bounded child, or SigningError; untrusted.Busy if all are busy."""
    if not data:
        raise SigningError(_("Välj en fil med den inskannade blanketten."))
    max_bytes = int(settings["SCAN_MAX_BYTES"])
    if len(data) > max_bytes:
        raise SigningError(
            _("Filen är för stor (högst %(mb)d MB).", mb=max(1, max_bytes // (1024 * 1024)))
        )
    try:
        out = runner.run(
            scans.clean_scan,
            data,
            max_pages=int(settings["SCAN_MAX_PAGES"]),
            max_objects=int(settings["PDF_MAX_OBJECTS"]),
            max_unpacked=int(settings["PDF_MAX_UNPACKED_BYTES"]),
            max_pixels=int(settings["SCAN_MAX_PIXELS"]),
        )
    except untrusted.Busy:
        raise
    except untrusted.Refused as refusal:
        raise SigningError(refusal.message) from None
    return Scan(
        out.data,
        str(out.value["content_type"]),
        int(out.value["pages"]),
        hashlib.sha256(data).hexdigest(),
    )


def sign_on_paper(
    reqs: list[SignatureRequest],
    scan: Scan,
    *,
    names: Mapping[int, str],
    actor: User,
    store: FileStore,
    dtype: DocumentType,
    origin: audit.Origin | None = None,
) -> list[SignatureRequest]:
    """Record the paper signatures the uploaded scan shows (one scan for several signers)."""
    if not reqs:
        raise SigningError(_("Välj vilka som har skrivit under på papperet."))
    for req in reqs:
        _require_filled(req, dtype)
    stored = store.put(scan.data, scan.content_type)
    db.session.flush()
    done = []
    for req in reqs:
        typed = (names.get(req.id) or req.expected_name or "").strip()
        if not typed:
            raise SigningError(
                _(
                    "Skriv namnet på den som skrivit under (%(role)s).",
                    role=signer_roles.label(req.role),
                )
            )
        problem = text_problem(typed, 200, label=_("Namn på den som skrev under"))
        if problem:
            raise SigningError(problem)
        name = attributed_name(req, typed, actor if req.kind == "staff" else None)
        signed_at = utcnow()
        result = db.session.execute(
            update(SignatureRequest)
            .where(SignatureRequest.id == req.id, SignatureRequest.status == "open")
            .values(
                status="signed",
                method="paper",
                signed_at=signed_at,
                signed_name=name,
                typed_name=typed,
                scan_sha256=stored.sha256,
                statements=[],
                verification=identity_text("paper", actor=actor)[:300],
                actor_id=actor.id,
                ip=origin.ip[:64] if origin else None,
                user_agent=origin.user_agent[:300] if origin else None,
                otp_hash=None,
                token_hash=None,
            )
        )
        if result.rowcount != 1:
            db.session.rollback()
            raise AlreadyDone(req.id)
        done.append(req)
        _log_signer(
            "sign",
            req,
            origin,
            {
                "method": "paper",
                "name": name,
                "typed": typed,
                # the stored (rewritten) file, as on the request row; and the bytes received
                "scan_sha256": stored.sha256,
                "scan_received_sha256": scan.received_sha256,
                **audit.signature_facts(signed_at, None, []),
            },
            actor=actor,
        )
    db.session.commit()
    return done
