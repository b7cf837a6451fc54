"""Synthetic data in bulk, for measuring lists at realistic sizes (`flask seed-bulk`)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import insert, select

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.models import Document, Participant, User
from formsvc.models._base import utcnow
from formsvc.services.storage import FileStore
from formsvc.services.templates import active_version

FIRST = ("Ali", "Sara", "Mohamed", "Elin", "Hassan", "Nora", "Johan", "Amina", "Leo", "Maja")
LAST = ("Andersson", "Hussein", "Nilsson", "Yusuf", "Karlsson", "Ahmed", "Berg", "Lind")
BATCH = 5_000


def seed(
    *,
    district_id: int,
    documents: int,
    participants: int,
    registry: dict[str, DocumentType],
    store: FileStore,
) -> int:
    """Insert *participants* participants and *documents* drafts spread over them and the types."""
    rng = random.Random(20261122)  # repeatable data, so repeated measurements compare
    author = db.session.scalar(select(User).where(User.district_id == district_id).limit(1))
    if author is None:
        raise ValueError("Stadsdelen har ingen personal att stå som författare.")
    now = utcnow()
    people = [
        {
            "district_id": district_id,
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(LAST),
            "id_kind": "birth_date",
            "id_number": None,
            "birth_date": date(2004, 1, 1) + timedelta(days=rng.randrange(3650)),
            "target_group": rng.choice(("sig_unga", "sig_unga_vuxna")),
            "protected_identity": False,
            "created_by_id": author.id,
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(participants)
    ]
    db.session.execute(insert(Participant), people)
    ids = list(
        db.session.scalars(select(Participant.id).where(Participant.district_id == district_id))
    )
    versions = {slug: active_version(t, store).id for slug, t in registry.items()}
    personal = [slug for slug, t in registry.items() if t.subject == "participant"]
    statuses = ("draft",) * 6 + ("awaiting_signatures", "active", "expired", "withdrawn")
    made = 0
    while made < documents:
        rows = []
        for _ in range(min(BATCH, documents - made)):
            slug = rng.choice(personal)
            changed = now - timedelta(minutes=rng.randrange(5 * 365 * 24 * 60))
            rows.append(
                {
                    "type_slug": slug,
                    "district_id": district_id,
                    "participant_id": rng.choice(ids),
                    "status": rng.choice(statuses),
                    "version": 1,
                    "template_version_id": versions[slug],
                    "data": {"synthetic": True},
                    "created_by_id": author.id,
                    "updated_by_id": author.id,
                    "created_at": changed,
                    "updated_at": changed,
                }
            )
        db.session.execute(insert(Document), rows)
        made += len(rows)
    db.session.commit()
    return made
