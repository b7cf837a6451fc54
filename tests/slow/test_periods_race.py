"""Closing a statistics period under real parallel requests (live, threaded server; every thread
its own HTTP session and database connection). SQLite and PostgreSQL (FORMSVC_TEST_DB).

- The same period closed by several requests at once: one closed period, everyone else told.
- An edit of a follow-up racing with the close of its period: the edit either lands before the
  snapshot is read (and is in it) or is refused; never saved and missing from the frozen data.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.forms.follow_up import FollowUpForm, sample
from formsvc.models import AuditEvent, ClosedPeriod, Document
from formsvc.runtime import runtime
from formsvc.services import audit, documents
from tests.conftest import World
from tests.helpers import post_data
from tests.views.test_signing_concurrency import at_once, session_for

H1 = {"from": "2025-01-01", "to": "2025-06-30", "confirm": "yes"}
#: parallel closes in one burst
PARALLEL = 8


@pytest.mark.parametrize("attempt", range(2))
def test_the_same_period_closed_at_once_is_closed_once(
    attempt: int, app: Flask, live_server: str, world: World
) -> None:
    sessions = [session_for(live_server, "analyst") for _ in range(PARALLEL)]
    db.session.remove()

    url = f"{live_server}/statistics/periods/"
    out = at_once(
        *(lambda s=s: s.post(url, data=H1, allow_redirects=False, timeout=120) for s in sessions)
    )

    codes = sorted(r.status_code for r in out)
    assert codes == [302] + [409] * (PARALLEL - 1), codes
    for r in out:
        if r.status_code == 409:
            assert "Perioden 2025-01-01–2025-06-30 är redan stängd (av analyst)." in r.text
    db.session.remove()
    assert db.session.scalar(select(func.count(ClosedPeriod.id))) == 1
    closes = select(func.count(AuditEvent.id)).where(AuditEvent.action == "period_close")
    assert db.session.scalar(closes) == 1
    assert audit.verify()[1] is None


@pytest.mark.parametrize("attempt", range(4))
def test_an_edit_racing_with_the_close_is_in_the_snapshot_or_refused(
    attempt: int, app: Flask, live_server: str, world: World
) -> None:
    dtype = runtime(app).registry["follow_up"]
    enrolled: dict[str, Any] = {
        **sample(),
        "assessment": "enrolment",
        "enrolled_on": "2025-03-01",
        "discharged_on": None,
        "discharge_reason": "",
        "discharge_comment": "",
        "gender": "male",
    }
    doc = documents.create(
        dtype,
        enrolled,
        actor=world.users["caseworker"],
        participant=world.participant,
        store=runtime(app).store,
    )
    doc_id = doc.id
    analyst = session_for(live_server, "analyst")
    caseworker = session_for(live_server, "caseworker")
    edited = post_data(FollowUpForm, {**enrolled, "gender": "female"})
    db.session.remove()

    closed, edit = at_once(
        lambda: analyst.post(
            f"{live_server}/statistics/periods/", data=H1, allow_redirects=False, timeout=120
        ),
        lambda: caseworker.post(
            f"{live_server}/documents/{doc_id}/edit",
            data=edited,
            allow_redirects=False,
            timeout=120,
        ),
    )

    assert closed.status_code == 302
    db.session.remove()
    saved = db.session.get(Document, doc_id)
    cp = db.session.scalars(select(ClosedPeriod)).one()
    (person,) = cp.snapshot
    frozen_gender = person["enrolment"]["data"]["gender"]
    if saved.version == 2:  # the edit came first: the frozen data has it
        assert saved.data["gender"] == "female" and frozen_gender == "female"
        assert edit.status_code == 302
        assert edit.headers["Location"].endswith(f"/documents/{doc_id}")
    else:  # the close came first: the edit was refused, the draft and the snapshot agree
        assert saved.version == 1 and saved.data["gender"] == "male"
        assert frozen_gender == "male"
        if edit.status_code == 302:  # refused before the form was read
            assert edit.headers["Location"].endswith(f"/documents/{doc_id}/correction")
        else:  # refused at saving: the correction form, with what was typed
            assert edit.status_code == 200 and "Skäl till rättelsen" in edit.text
    assert audit.verify()[1] is None
