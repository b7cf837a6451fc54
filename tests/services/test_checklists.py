"""Checklist items (bilaga 2.1, 2.2, 2.3 and the district checklist) as data."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import delete, func, select

from formsvc.extensions import db
from formsvc.models import ChecklistItem
from formsvc.services import checklists


def test_default_items_created_by_a_reading_request_survive_its_rollback(app: Flask) -> None:
    """A form page only reads: the defaults it creates on first use must not vanish with the
    request's rollback, or the ids the page handed out would not exist when the form is posted."""
    # a database whose checklist has never been used (e.g. after a restore of an empty one)
    db.session.execute(delete(ChecklistItem).where(ChecklistItem.checklist == "security_general"))
    db.session.commit()
    first = [e.item_id for e in checklists.entries("security_general")]
    db.session.rollback()  # what the end of a request without a commit does
    assert db.session.scalar(
        select(func.count(ChecklistItem.id)).where(ChecklistItem.checklist == "security_general")
    ) == len(first)
    assert [e.item_id for e in checklists.entries("security_general")] == first
