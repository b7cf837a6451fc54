"""The document lifecycle: every allowed move is made and logged, every other move is refused,
and of two parallel moves exactly one happens (real database, real signing pipeline)."""

from __future__ import annotations

import itertools
import threading
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document
from formsvc.models.document import DocumentStatus
from formsvc.runtime import runtime
from formsvc.services import consents, lifecycle, signing
from formsvc.services.sealing import get_sealer
from tests.conftest import World
from tests.services.test_signing import Flow
from tests.views.test_signing_concurrency import at_once, session_for

PAIRS = list(itertools.product(DocumentStatus, DocumentStatus))
ALLOWED = [(a, b) for a, b in PAIRS if b in lifecycle.TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a, b in PAIRS if b not in lifecycle.TRANSITIONS[a]]


def put_in(doc: Document, status: DocumentStatus) -> None:
    """Test setup only: place the row in a state, as an earlier life would have left it."""
    db.session.execute(update(Document).where(Document.id == doc.id).values(status=status.value))
    db.session.commit()
    db.session.expire_all()


def moves(doc: Document) -> list[dict[str, Any]]:
    return [
        ev.details
        for ev in db.session.scalars(
            select(AuditEvent).where(AuditEvent.object_id == str(doc.id)).order_by(AuditEvent.id)
        )
        if "to" in ev.details
    ]


def test_the_table_names_every_state_and_only_states() -> None:
    assert set(lifecycle.TRANSITIONS) == set(DocumentStatus)
    assert not lifecycle.TRANSITIONS[DocumentStatus.PURGED]  # the receipt is the end
    assert all(to in DocumentStatus for tos in lifecycle.TRANSITIONS.values() for to in tos)
    assert all(s.label and str(s.label) != s.value for s in DocumentStatus)


@pytest.mark.parametrize(("from_", "to"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_an_allowed_move_changes_the_row_and_writes_one_audit_event(
    world: World, consent_doc: Document, from_: DocumentStatus, to: DocumentStatus
) -> None:
    put_in(consent_doc, from_)
    actor = world.users["caseworker"]
    lifecycle.transition(consent_doc, to, actor=actor, action="test_move", details={"why": "t"})
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Document, consent_doc.id).status == to.value
    ev = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "test_move", AuditEvent.object_id == str(consent_doc.id)
        )
    ).one()
    assert ev.details == {"why": "t", "from": from_.value, "to": to.value}
    assert ev.actor_id == actor.id and ev.district_id == consent_doc.district_id


@pytest.mark.parametrize(("from_", "to"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_a_forbidden_move_is_refused_and_changes_nothing(
    world: World, consent_doc: Document, from_: DocumentStatus, to: DocumentStatus
) -> None:
    put_in(consent_doc, from_)
    before = db.session.scalar(select(func.count(AuditEvent.id)))
    with pytest.raises(lifecycle.ForbiddenTransition):
        lifecycle.transition(consent_doc, to, actor=world.users["caseworker"])
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Document, consent_doc.id).status == from_.value
    assert db.session.scalar(select(func.count(AuditEvent.id))) == before


@pytest.mark.parametrize("to", ["", "gallrad", "ACTIVE", "active\x00", "x" * 10_000, None, 3])
def test_an_unknown_target_is_refused(world: World, consent_doc: Document, to: Any) -> None:
    with pytest.raises(ValueError):
        lifecycle.transition(consent_doc, to, actor=world.users["caseworker"])
    db.session.expire_all()
    assert db.session.get(Document, consent_doc.id).status == "draft"


def test_a_move_from_a_state_the_row_has_left_is_refused_as_stale(
    world: World, consent_doc: Document
) -> None:
    put_in(consent_doc, DocumentStatus.ACTIVE)
    seen = db.session.get(Document, consent_doc.id)
    assert seen.status == "active"
    # someone else withdraws it after we read it
    db.session.execute(update(Document).where(Document.id == seen.id).values(status="withdrawn"))
    with pytest.raises(lifecycle.StaleStatus):
        lifecycle.transition(seen, DocumentStatus.EXPIRED, actor=None, from_=DocumentStatus.ACTIVE)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Document, seen.id).status == "withdrawn"
    assert moves(seen) == []


def test_two_withdrawals_sent_at_the_same_instant_make_exactly_one_move(
    app: Flask, world: World, consent_doc: Document, live_server: str
) -> None:
    """Real parallel requests (threaded server): one withdraws, the other is told it is done."""
    put_in(consent_doc, DocumentStatus.AWAITING_SIGNATURES)
    url = f"{live_server}/documents/{consent_doc.id}/withdraw"
    form = {
        "withdrawn_on": signing.today_local().isoformat(),
        "how": "oral",
        "withdrawn_by": "participant",
    }
    a, b = session_for(live_server, "caseworker"), session_for(live_server, "caseworker")
    responses = at_once(
        lambda: a.post(url, data=form, timeout=120), lambda: b.post(url, data=form, timeout=120)
    )
    assert all(r.status_code == 200 for r in responses), [r.status_code for r in responses]
    db.session.expire_all()
    assert db.session.get(Document, consent_doc.id).status == "withdrawn"
    assert [m["to"] for m in moves(consent_doc)] == ["withdrawn"]
    records = db.session.scalar(
        select(func.count(Document.id)).where(Document.type_slug == "consent_withdrawal")
    )
    assert records == 1


def test_a_second_withdrawal_is_refused_and_logged_once(
    app: Flask, world: World, consent_doc: Document
) -> None:
    put_in(consent_doc, DocumentStatus.ACTIVE)
    store = runtime(app).store
    kwargs: dict[str, Any] = {
        "withdrawn_on": date.today(),
        "how": "muntligt",
        "details": "",
        "recorded_by": "Test",
        "actor": world.users["caseworker"],
        "store": store,
    }
    consents.withdraw(db.session.get(Document, consent_doc.id), **kwargs)
    with pytest.raises(consents.NotWithdrawable):
        consents.withdraw(db.session.get(Document, consent_doc.id), **kwargs)
    assert [m["to"] for m in moves(consent_doc)] == ["withdrawn"]


def test_expiry_moves_only_consents_past_their_period_and_logs_each_once(
    world: World, consent_doc: Document
) -> None:
    put_in(consent_doc, DocumentStatus.ACTIVE)
    end = date.fromisoformat(consent_doc.data["period_to"])
    assert consents.expire_due(end) == []
    assert [d.id for d in consents.expire_due(end + timedelta(days=1))] == [consent_doc.id]
    assert consents.expire_due(end + timedelta(days=2)) == []
    assert [(m["from"], m["to"]) for m in moves(consent_doc)] == [("active", "expired")]


class WithdrawnWhileSealing:
    """The real sealer; while it works, the consent is withdrawn in another request."""

    def __init__(self, app: Flask, world: World, doc_id: int) -> None:
        self.app, self.world, self.doc_id = app, world, doc_id
        self.real = get_sealer(app)

    def seal(self, pdf: bytes, **kwargs: Any) -> bytes:
        """The legacy path's seal (a PDF in)."""
        self._withdraw_meanwhile()
        return self.real.seal(pdf, **kwargs)

    def seal_writer(self, writer: Any, **kwargs: Any) -> bytes:
        """The final PDF's seal (ADR 014: the frozen PDF's update in)."""
        self._withdraw_meanwhile()
        return self.real.seal_writer(writer, **kwargs)

    def _withdraw_meanwhile(self) -> None:
        def withdraw() -> None:
            with self.app.app_context():
                consents.withdraw(
                    db.session.get(Document, self.doc_id),
                    withdrawn_on=date.today(),
                    how="muntligt",
                    details="",
                    recorded_by="Test",
                    actor=self.world.users["caseworker"],
                    store=runtime(self.app).store,
                )
                db.session.remove()

        t = threading.Thread(target=withdraw)
        t.start()
        t.join(timeout=120)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_consent_withdrawn_while_it_is_being_sealed_stays_withdrawn(
    app: Flask, world: World, consent_doc: Document
) -> None:
    flow = Flow(app, world, consent_doc)
    for req in flow.send():
        flow.sign(req, req.expected_name)
    sealed = signing.finalise_if_complete(
        flow.doc,
        flow.dtype,
        store=flow.store,
        converter=flow.converter,
        sealer=WithdrawnWhileSealing(app, world, consent_doc.id),  # type: ignore[arg-type]
        settings=app.config,
    )
    db.session.expire_all()
    doc = db.session.get(Document, consent_doc.id)
    assert (sealed, doc.status, doc.sealed_pdf_sha256) == (False, "withdrawn", None)
    assert [m["to"] for m in moves(doc)] == ["awaiting_signatures", "withdrawn"]
