"""The audit chain under ordinary concurrency: many users opening documents at the same moment.

Real HTTP against the live, threaded server; every thread has its own requests.Session (its own
HTTP connection and login). Runs on SQLite and on PostgreSQL (FORMSVC_TEST_DB).
"""

from __future__ import annotations

import threading

import requests
from flask import Flask
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document
from formsvc.services import audit, users
from tests.conftest import PASSWORD, World

#: parallel requests in one burst (the issue saw forks and 500s at 60)
PARALLEL = 60
#: distinct staff accounts sharing the burst; several sessions per account
ACCOUNTS = 5


def _login(base: str, username: str) -> requests.Session:
    s = requests.Session()
    resp = s.post(f"{base}/login", data={"username": username, "password": PASSWORD}, timeout=60)
    assert resp.status_code == 200 and "Logga ut" in resp.text
    return s


def _burst(sessions: list[requests.Session], url: str) -> list[object]:
    """GET *url* once per session, all released by one barrier; responses (or errors) in order."""
    barrier = threading.Barrier(len(sessions))
    out: list[object] = [None] * len(sessions)

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = sessions[i].get(url, timeout=120).status_code
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            out[i] = repr(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return out


def test_parallel_document_views_by_several_users_keep_one_unbroken_chain(
    app: Flask, live_server: str, world: World, consent_doc: Document
) -> None:
    names = ["caseworker", "manager"]
    for i in range(ACCOUNTS - len(names)):
        users.create_user(
            username=f"kollega{i}",
            full_name=f"Kollega {i}",
            role="caseworker",
            password=PASSWORD,
            district_id=world.home.id,
        )
        names.append(f"kollega{i}")
    doc_id = consent_doc.id
    sessions = [_login(live_server, names[i % ACCOUNTS]) for i in range(PARALLEL)]
    db.session.remove()  # the test's own session holds nothing open during the burst
    before = db.session.scalar(select(func.count(AuditEvent.id)))

    # the same page for everyone: events of one account are identical but for their place in
    # the chain (same second, same actor, same action, same document, same address)
    statuses = _burst(sessions, f"{live_server}/documents/{doc_id}")

    assert statuses == [200] * PARALLEL
    db.session.remove()
    views = db.session.scalar(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "view", AuditEvent.object_id == str(doc_id)
        )
    )
    assert views == PARALLEL
    assert db.session.scalar(select(func.count(AuditEvent.id))) == before + PARALLEL
    assert audit.verify() == (before + PARALLEL, None)
