"""Final PDFs shaped as ADR 014 says, built by the tests (the reading side's inputs).

`build` makes one from a frozen PDF: one incremental update (pyHanko) that wraps each page with
places in q … Q and draws the signers' names there, appends an evidence page naming them, embeds
`formsvc-evidence.json` as an associated file and seals, all in the same update, with the test
seal. Hooks let the hostile tests change what an attacker would. `seal_document` finalises a
signed document of the database with such a file (instead of the writer under construction).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from flask import Flask
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject
from pyhanko.sign import fields, signers
from sqlalchemy import select

from formsvc.extensions import db
from formsvc.models import AuditCheckpoint, AuditEvent, Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services.checkpoints import Checkpoint
from formsvc.services.signature_places import find_places
from tests.conftest import SEAL_PASSPHRASE

Hook = Callable[[IncrementalPdfFileWriter], None]


def _text_stream(lines: list[tuple[float, float, str]], size: float = 9) -> bytes:
    out = [b"BT", b"/FsvcF %.1f Tf" % size]
    for x, y, text in lines:
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        out.append(b"1 0 0 1 %.2f %.2f Tm (%s) Tj" % (x, y, escaped.encode("cp1252", "replace")))
    out.append(b"ET")
    return b"\n".join(out)


def _font() -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type1"),
            pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
        }
    )


def replace_page_text(writer: IncrementalPdfFileWriter) -> None:
    """Redefine the first page's own content stream (same object number) with other text."""
    page_ref, _res = writer.find_page_for_modification(0)
    ref = page_ref.get_object().raw_get("/Contents")
    stream = ref.get_object()
    stream.strip_filters()
    stream._data = stream._encoded_data = b"BT /F1 12 Tf 72 720 Td (Jag samtycker INTE) Tj ET"
    writer.mark_update(ref)


def build(
    frozen: bytes,
    record: dict[str, Any] | bytes,
    seal_p12: Path,
    *,
    passphrase: str = SEAL_PASSPHRASE,
    evidence_names: list[str] | None = None,
    before_seal: Hook | None = None,
    compress_record: bool = True,
) -> bytes:
    """*frozen* + one update: marks at the record's places, an evidence page, the record, a seal."""
    data = record if isinstance(record, bytes) else json.dumps(record, ensure_ascii=False).encode()
    signers_ = [] if isinstance(record, bytes) else record.get("signers") or []
    writer = IncrementalPdfFileWriter(io.BytesIO(frozen), strict=False)
    font = writer.add_object(_font())
    by_page: dict[int, list[tuple[float, float, str]]] = {}
    for signer in signers_:
        place = signer.get("place")
        if place:
            x0, y0, _x1, _y1 = place["rect"]
            by_page.setdefault(place["page"], []).append((x0 + 4, y0 + 4, signer["signed_name"]))
    for page_ix, lines in sorted(by_page.items()):
        resources = generic.DictionaryObject(
            {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/FsvcF"): font})}
        )
        before = writer.add_object(generic.StreamObject(stream_data=b"q\n"))
        writer.add_stream_to_page(page_ix, before, prepend=True)
        after = writer.add_object(
            generic.StreamObject(stream_data=b"\nQ\n" + _text_stream(lines) + b"\n")
        )
        writer.add_stream_to_page(page_ix, after, resources=resources)
    names = evidence_names if evidence_names is not None else [s["signed_name"] for s in signers_]
    lines = [(56, 780, "Underskriftsbevis")] + [
        (56, 750 - 20 * i, f"{i + 1}. {name}") for i, name in enumerate(names)
    ]
    content = writer.add_object(generic.StreamObject(stream_data=_text_stream(lines, 11)))
    page = PageObject(
        contents=content,
        media_box=generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
        resources=generic.DictionaryObject(
            {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/FsvcF"): font})}
        ),
    )
    writer.insert_page(page)
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string="formsvc-evidence.json",
            file_name="formsvc-evidence.json",
            embedded_data=embed.EmbeddedFileObject.from_file_data(
                writer, data, compress=compress_record, mime_type="application/json"
            ),
            description="formsvc evidence record",
            af_relationship=pdf_name("/Data"),
        ),
    )
    if before_seal is not None:
        before_seal(writer)
    signer = signers.SimpleSigner.load_pkcs12(seal_p12, passphrase=passphrase.encode())
    meta = signers.PdfSignatureMetadata(
        field_name="Sigill", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    out = signers.PdfSigner(meta, signer=signer).sign_pdf(writer)
    return out.getvalue()


def _utc(at: datetime | None) -> str | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def record_for(doc: Document, frozen: bytes) -> dict[str, Any]:
    """The evidence record of a signed document, from the database (ADR 014's fields)."""
    places = find_places(frozen)
    reqs = db.session.scalars(
        select(SignatureRequest)
        .where(
            SignatureRequest.document_id == doc.id,
            SignatureRequest.document_version == doc.version,
            SignatureRequest.status == "signed",
        )
        .order_by(SignatureRequest.signed_at, SignatureRequest.id)
    ).all()
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "document", AuditEvent.object_id == str(doc.id))
        .order_by(AuditEvent.id)
    ).all()
    last_sign = max((e.id for e in events if e.action == "sign"), default=0)
    row = db.session.scalar(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.head_id >= last_sign)
        .order_by(AuditCheckpoint.seq)
        .limit(1)
    )
    checkpoint = json.loads(Checkpoint.from_row(row).line()) if row is not None else None

    def place(slot: str) -> dict[str, Any] | None:
        p = places.get(slot)
        return {"page": p.page, "rect": [p.x0, p.y0, p.x1, p.y1]} if p else None

    return {
        "format": "formsvc-evidence/1",
        "organisation": "Stockholms stad",
        "document": {
            "id": doc.id,
            "reference": doc.reference,
            "type": doc.type_slug,
            "title": doc.type_slug,
            "version": doc.version,
        },
        "template": {
            "version": doc.template_version.version,
            "sha256": doc.template_version.file_sha256,
        },
        "frozen_pdf": {"sha256": hashlib.sha256(frozen).hexdigest(), "size": len(frozen)},
        "sent_at": _utc(doc.sent_at),
        "sent_by": doc.sent_by.full_name if doc.sent_by else None,
        "finalised_at": None,
        "copy_for": None,
        "signers": [
            {
                "request": r.id,
                "slot": r.slot,
                "role": r.role,
                "designated": {"name": r.expected_name, "id_number": r.expected_id},
                "signed_name": r.signed_name,
                "typed_name": r.typed_name,
                "method": r.method,
                "identity_check": r.verification,
                "witness": r.actor.full_name if r.actor else None,
                "signed_at": _utc(r.signed_at),
                "statements": r.statements or [],
                "signature_image_sha256": r.signature_sha256,
                "scan_sha256": r.scan_sha256,
                "scan_received_sha256": None,
                "place": place(r.slot),
                "ip": r.ip,
                "user_agent": r.user_agent,
            }
            for r in reqs
        ],
        "audit": {
            "events": [
                {"id": e.id, "at": e.created_at.isoformat(), "action": e.action, "hash": e.hash}
                for e in events
            ],
            "checkpoint": checkpoint,
        },
        "proofs": [],
    }


def seal_document(
    app: Flask,
    doc: Document,
    *,
    change_record: Callable[[dict[str, Any]], dict[str, Any] | bytes] | None = None,
    **build_options: Any,
) -> bytes:
    """Finalise *doc* (all signed, not sealed) through signing.finalise_if_complete, with an
    ADR 014 file made by `build` from the database; returns the sealed archive copy."""
    from formsvc.services import signing
    from formsvc.services.sealing import get_sealer
    from formsvc.services.signing import finalise

    store = runtime(app).store
    build_options.setdefault("passphrase", str(app.config["SEAL_PKCS12_PASSPHRASE"]))

    def fake_build(d: Document, *_a: Any, **_k: Any) -> finalise.FinalPdfs:
        frozen = store.get(d.frozen_pdf_sha256)
        record: dict[str, Any] | bytes = record_for(d, frozen)
        if change_record is not None:
            record = change_record(record)
        pdf = build(frozen, record, Path(app.config["SEAL_PKCS12_PATH"]), **build_options)
        return finalise.FinalPdfs(archive=pdf, copies={})

    dtype = runtime(app).registry[doc.type_slug]
    with mock.patch.object(finalise, "build_final_pdf", fake_build):
        assert signing.finalise_if_complete(
            doc,
            dtype,
            store=store,
            converter=runtime(app).converter,
            sealer=get_sealer(app),
            settings=app.config,
        )
    return store.get(doc.sealed_pdf_sha256)


def tamper_and_reseal(pdf: bytes, hook: Hook, seal_p12: Path, passphrase: str) -> bytes:
    """*pdf* with one more update made by *hook*, sealed again (an attacker's own seal)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    hook(writer)
    signer = signers.SimpleSigner.load_pkcs12(seal_p12, passphrase=passphrase.encode())
    meta = signers.PdfSignatureMetadata(
        field_name="Angripare", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    return signers.PdfSigner(meta, signer=signer).sign_pdf(writer).getvalue()


def update_after_seal(pdf: bytes, hook: Hook = replace_page_text) -> bytes:
    """*pdf* with one more update made by *hook* and no new seal (a change after the seal)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    hook(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
