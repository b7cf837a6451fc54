"""The audit log is append-only and hash-chained; tampering is found."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text

from formsvc.extensions import db
from formsvc.models import AuditEvent
from formsvc.services import audit


def _three_events() -> list[AuditEvent]:
    events = [
        audit.record("login", actor_id=1, actor_label="anna", object_type="user", object_id=1),
        audit.record(
            "view",
            actor_id=1,
            actor_label="anna",
            object_type="document",
            object_id=7,
            district_id=3,
            details={"format": "pdf"},
        ),
        audit.record("logout", actor_id=1, actor_label="anna", object_type="user", object_id=1),
    ]
    db.session.commit()
    return events


def test_chain_links_each_event_to_the_previous(app: Flask) -> None:
    first, second, third = _three_events()
    assert first.prev_hash == audit.GENESIS
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert audit.verify() == (3, None)


def test_orm_refuses_to_change_or_delete_an_event(app: Flask) -> None:
    event = _three_events()[1]
    event.action = "nothing-happened"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, event.id))
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()


def test_a_changed_row_is_reported(app: Flask) -> None:
    event = _three_events()[1]
    db.session.execute(
        text("UPDATE audit_event SET object_id = '8' WHERE id = :id"), {"id": event.id}
    )
    db.session.commit()
    db.session.expire_all()
    checked, broken = audit.verify()
    assert checked == 1 and broken is not None and broken.id == event.id


def test_a_removed_row_is_reported(app: Flask) -> None:
    events = _three_events()
    db.session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": events[1].id})
    db.session.commit()
    db.session.expire_all()
    checked, broken = audit.verify()
    assert checked == 1 and broken is not None and broken.id == events[2].id
