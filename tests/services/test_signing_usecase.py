"""record_and_finalise: every way of signing records, then seals once when complete, with one
error policy (the signature is kept and committed whatever sealing does; a sealing failure is
a Swedish `finalise_error`; another process sealing is not an error). Real store, converter and
seal; SQLite and PostgreSQL (FORMSVC_TEST_DB)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import func, select, update

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest, User
from formsvc.models._base import utcnow
from formsvc.runtime import runtime
from formsvc.services import holders, signing
from formsvc.services.sealing import Sealer, get_sealer
from tests import factories
from tests.conftest import World
from tests.services.test_signing import drawn_png
from tests.smtp import SmtpServer


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}  # issuing a personal link mails it


class Case:
    """The use case with the app's real store, converter and seal (or a broken seal)."""

    def __init__(self, app: Flask, world: World, doc: Document) -> None:
        self.app, self.world, self.doc = app, world, doc
        self.dtype: DocumentType = runtime(app).registry[doc.type_slug]
        self.store = runtime(app).store
        self.converter = runtime(app).converter
        self.sealer: Callable[[], Sealer] = lambda: get_sealer(app)

    def send(self) -> list[SignatureRequest]:
        return signing.send(
            self.doc,
            self.dtype,
            actor=self.world.users["caseworker"],
            store=self.store,
            converter=self.converter,
        )

    def run(self, what: Any, actor: User | None) -> signing.Outcome:
        return signing.record_and_finalise(
            what,
            self.dtype,
            actor=actor,
            store=self.store,
            converter=self.converter,
            sealer=self.sealer,
            settings=self.app.config,
        )

    def given(self, req: SignatureRequest, name: str, png: bytes | None = None) -> signing.Given:
        return signing.Given(
            name=name,
            statements=signing.statements_for(req, self.dtype),
            signature_png=png,
            ip="127.0.0.1",
            user_agent="pytest",
        )

    def in_person(self, req: SignatureRequest, name: str) -> signing.Outcome:
        what = signing.Signature(req, self.given(req, name), "in_person")
        return self.run(what, self.world.users["caseworker"])

    def seals(self) -> int:
        return db.session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == "seal", AuditEvent.object_id == str(self.doc.id)
            )
        )

    def fresh(self) -> Document:
        """The document as the database has it now (nothing left in the session)."""
        db.session.rollback()
        db.session.expire_all()
        return db.session.get(Document, self.doc.id)


@pytest.fixture
def case(app: Flask, world: World, consent_doc: Document) -> Case:
    return Case(app, world, consent_doc)


def missing_seal(tmp_path: Path) -> Callable[[], Sealer]:
    """A real Sealer whose PKCS#12 file is not there: loading it raises SealError."""
    return lambda: Sealer.from_pkcs12(tmp_path / "gone" / "seal.p12", "whatever")


def test_in_person_signatures_record_each_and_the_last_seals_once(case: Case) -> None:
    reqs = case.send()
    first = signing.Signature(reqs[0], case.given(reqs[0], "Åsa Öberg", drawn_png()), "in_person")
    out = case.run(first, case.world.users["caseworker"])
    assert out.request.status == "signed" and out.request.method == "in_person"
    assert (out.finalised, out.finalise_error) == (False, None)
    assert case.in_person(reqs[1], "Maria Öberg").finalised is False
    last = case.in_person(reqs[2], "Johan Öberg")
    assert (last.finalised, last.finalise_error) == (True, None)
    doc = case.fresh()
    assert doc.status == "active" and doc.sealed_pdf_sha256
    assert case.seals() == 1


def test_staff_signatures_go_through_the_same_use_case(app: Flask, world: World) -> None:
    manager, employee = world.users["manager"], world.users["caseworker"]
    case = Case(app, world, factories.security_talk(app, manager, employee))
    reqs = case.send()
    by_slot = {r.staff_role: r for r in reqs}
    outs = [
        case.run(signing.Signature(r, case.given(r, who.full_name), "staff"), who)
        for r, who in ((by_slot["manager"], manager), (by_slot["employee"], employee))
    ]
    assert [o.finalised for o in outs] == [False, True]
    assert all(o.finalise_error is None for o in outs)
    assert {r.method for r in signing.requests(case.fresh())} == {"staff"}
    assert case.seals() == 1


def test_a_link_signature_last_seals_and_makes_the_signers_own_copy(
    case: Case, smtp_server: SmtpServer
) -> None:
    reqs = case.send()
    case.in_person(reqs[0], "Åsa Öberg")
    case.in_person(reqs[1], "Maria Öberg")
    signing.issue_link(
        reqs[2],
        "johan@example.se",
        settings=case.app.config,
        link_for=lambda t: f"http://localhost/s/{t}",
        actor=case.world.users["caseworker"],
    )
    out = case.run(signing.Signature(reqs[2], case.given(reqs[2], "Johan Öberg"), "link"), None)
    assert (out.finalised, out.finalise_error) == (True, None)
    assert out.request.method == "link" and out.request.actor_id is None
    assert case.fresh().sealed_pdf_sha256
    assert db.session.get(SignatureRequest, reqs[2].id).copy_sha256  # made at completion
    assert case.seals() == 1


def test_a_paper_scan_for_the_last_two_signers_seals_once(case: Case) -> None:
    reqs = case.send()
    case.in_person(reqs[0], "Åsa Öberg")
    png = io.BytesIO()
    Image.new("RGB", (1200, 1600), "white").save(png, format="PNG")
    scan = signing.check_scan(
        png.getvalue(),
        runner=runtime(case.app).untrusted,
        settings=case.app.config,
    )
    paper = signing.Paper(reqs[1:], scan, {})
    out = case.run(paper, case.world.users["caseworker"])
    assert (out.finalised, out.finalise_error) == (True, None)
    assert [r.id for r in out.extra["requests"]] == [r.id for r in reqs[1:]]
    assert [r.method for r in signing.requests(case.fresh())] == ["in_person", "paper", "paper"]
    assert case.seals() == 1


def test_a_refused_signature_raises_and_changes_nothing(case: Case) -> None:
    reqs = case.send()
    with pytest.raises(signing.SigningError, match="Namnet stämmer inte"):
        case.in_person(reqs[0], "Någon Annan")
    assert db.session.get(SignatureRequest, reqs[0].id).status == "open"


def test_when_the_seal_cannot_be_loaded_the_signature_is_kept_and_the_error_reported(
    case: Case, tmp_path: Path
) -> None:
    reqs = case.send()
    case.in_person(reqs[0], "Åsa Öberg")
    case.sealer = missing_seal(tmp_path)
    assert case.in_person(reqs[1], "Maria Öberg").finalise_error is None  # not complete: no load
    out = case.run(
        signing.Signature(reqs[2], case.given(reqs[2], "Johan Öberg", drawn_png()), "in_person"),
        case.world.users["caseworker"],
    )
    assert out.finalised is False
    assert out.finalise_error is not None
    assert "Underskriften är sparad" in out.finalise_error
    assert "PKCS#12-filen) saknas" in out.finalise_error
    assert "inget har gått förlorat" in out.finalise_error
    doc = case.fresh()
    assert [r.status for r in signing.requests(doc)] == ["signed", "signed", "signed"]
    assert doc.status == "awaiting_signatures" and doc.sealed_pdf_sha256 is None
    assert doc.finalise_claimed_at is None  # nothing stops reseal
    case.sealer = lambda: get_sealer(case.app)
    assert signing.finalise_now(
        doc,
        case.dtype,
        store=case.store,
        converter=case.converter,
        sealer=case.sealer,
        settings=case.app.config,
    ) == (True, None)
    assert case.seals() == 1


def test_a_forged_signature_row_is_reported_as_the_same_kind_of_error(case: Case) -> None:
    reqs = case.send()
    case.in_person(reqs[0], "Åsa Öberg")
    case.in_person(reqs[1], "Maria Öberg")
    db.session.execute(
        update(SignatureRequest)
        .where(SignatureRequest.id == reqs[0].id)
        .values(signed_name="Någon Annan")
    )
    db.session.commit()
    out = case.in_person(reqs[2], "Johan Öberg")
    assert out.finalised is False
    assert out.finalise_error and "Underskriften är sparad" in out.finalise_error
    assert "förseglas inte" in out.finalise_error
    doc = case.fresh()
    assert db.session.get(SignatureRequest, reqs[2].id).status == "signed"
    assert doc.sealed_pdf_sha256 is None and case.seals() == 0
    refused = select(func.count(AuditEvent.id)).where(AuditEvent.action == "seal_refused")
    assert db.session.scalar(refused) == 1


def test_another_process_sealing_at_the_same_moment_is_not_an_error(case: Case) -> None:
    reqs = case.send()
    case.in_person(reqs[0], "Åsa Öberg")
    case.in_person(reqs[1], "Maria Öberg")
    db.session.execute(
        update(Document)
        .where(Document.id == case.doc.id)
        .values(finalise_claimed_at=utcnow(), finalise_claimed_by=holders.this_process())
    )
    db.session.commit()
    out = case.in_person(reqs[2], "Johan Öberg")
    assert (out.finalised, out.finalise_error) == (False, None)
    doc = case.fresh()
    assert db.session.get(SignatureRequest, reqs[2].id).status == "signed"
    assert doc.sealed_pdf_sha256 is None and doc.finalise_claimed_at is not None  # theirs
