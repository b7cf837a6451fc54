"""Checklist items as data: defaults on first use, then edited by administrators."""

from __future__ import annotations

from sqlalchemy import func, select, text

from formsvc.checklist_defaults import CHECKLISTS
from formsvc.doctypes import ChecklistEntry
from formsvc.extensions import db
from formsvc.models import ChecklistItem, User
from formsvc.services import audit


class ChecklistError(ValueError):
    """A refused checklist change; str(err) is Swedish."""


def ensure_defaults(checklist: str) -> None:
    """Create the default items of *checklist* if it has never had any."""
    if checklist not in CHECKLISTS:
        raise ChecklistError(f"Okänd checklista: {checklist}")

    def count() -> int:
        return db.session.scalar(
            select(func.count(ChecklistItem.id)).where(ChecklistItem.checklist == checklist)
        )

    if count():
        return
    if db.engine.dialect.name == "postgresql":
        # two first uses at once must not both create the defaults (released at commit)
        db.session.execute(text("SELECT pg_advisory_xact_lock(4242002)"))
        if count():
            db.session.commit()
            return
    for position, item_text in enumerate(CHECKLISTS[checklist][1]):
        db.session.add(ChecklistItem(checklist=checklist, text=item_text, position=position))
    # committed at once: a form page that only reads must not hand out ids that its request's
    # rollback takes back (PostgreSQL never reuses them; the next request would make new ones)
    db.session.commit()


def items(checklist: str, *, include_retired: bool = False) -> list[ChecklistItem]:
    """The items of *checklist* in order."""
    ensure_defaults(checklist)
    q = select(ChecklistItem).where(ChecklistItem.checklist == checklist)
    if not include_retired:
        q = q.where(ChecklistItem.active.is_(True))
    return list(db.session.scalars(q.order_by(ChecklistItem.position, ChecklistItem.id)))


def entries(checklist: str) -> list[ChecklistEntry]:
    """What a new document's form goes through: the active items as plain values."""
    return [ChecklistEntry(item_id=i.id, text=i.text) for i in items(checklist)]


def known_texts(checklist: str) -> dict[int, str]:
    """Every item id of *checklist* (retired too) with its current text."""
    return {i.id: i.text for i in items(checklist, include_retired=True)}


def add(checklist: str, text: str, *, actor: User) -> ChecklistItem:
    """Append an item."""
    text = _clean(text)
    ensure_defaults(checklist)
    last = db.session.scalar(
        select(func.max(ChecklistItem.position)).where(ChecklistItem.checklist == checklist)
    )
    item = ChecklistItem(checklist=checklist, text=text, position=(last or 0) + 1)
    db.session.add(item)
    db.session.flush()
    _log("checklist_add", item, actor)
    db.session.commit()
    return item


def edit(item: ChecklistItem, text: str, *, actor: User) -> None:
    """Change an item's text; documents already filled keep the text they had."""
    item.text = _clean(text)
    _log("checklist_edit", item, actor)
    db.session.commit()


def set_active(item: ChecklistItem, active: bool, *, actor: User) -> None:
    """Retire an item (new documents skip it) or bring it back."""
    item.active = active
    _log("checklist_retire" if not active else "checklist_restore", item, actor)
    db.session.commit()


def move(item: ChecklistItem, step: int, *, actor: User) -> None:
    """Swap an item with its neighbour above (step -1) or below (+1)."""
    siblings = items(item.checklist, include_retired=True)
    index = siblings.index(item)
    other = index + step
    if 0 <= other < len(siblings):
        siblings[index], siblings[other] = siblings[other], siblings[index]
        for position, sibling in enumerate(siblings):
            sibling.position = position
        _log("checklist_move", item, actor)
    db.session.commit()


def _clean(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ChecklistError("Skriv punktens text.")
    if len(text) > 1000:
        raise ChecklistError("Högst 1000 tecken.")
    return text


def _log(action: str, item: ChecklistItem, actor: User) -> None:
    audit.record(
        action,
        actor_id=actor.id,
        actor_label=actor.username,
        object_type="checklist_item",
        object_id=item.id,
        details={"checklist": item.checklist, "text": item.text},
    )
