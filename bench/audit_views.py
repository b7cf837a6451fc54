"""Audited document views in parallel: main's unserialised append vs the serialised one, one run.

Run: `.venv/bin/python bench/audit_views.py [--threads 16] [--views 20] [--rounds 3]
[--database-url URL]`.
A throwaway database (SQLite in a temp dir unless --database-url), a threaded HTTP server in this
process, and --threads clients (each its own requests.Session, logged in as one of five staff
accounts) that each open the same document --views times (every view appends one audit event).
Alternately with audit.record as it was before issue 11 (no write lock on SQLite: reads the head,
then appends) and with today's record(); prints requests/s, non-200 answers and whether
`audit.verify()` finds the chain intact, and the ratio after / before.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import requests
from flask_migrate import upgrade
from sqlalchemy import select, text
from werkzeug.serving import make_server

from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import AuditEvent, Participant
from formsvc.models._base import utcnow
from formsvc.services import audit, documents, users
from formsvc.services.keys import create_keyring

PASSWORD = "Bench-losen-1"  # noqa: S105 - a throw-away bench database


def unserialised_record(action: str, **kw: Any) -> AuditEvent:
    """audit.record() before issue 11 on SQLite: the head is read without the write lock."""
    origin = kw.get("origin") or audit.Origin()
    prev = db.session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    object_id = kw.get("object_id")
    ev = AuditEvent(
        actor_id=kw["actor_id"],
        actor_label=kw["actor_label"][:200],
        action=action,
        object_type=kw["object_type"],
        object_id=None if object_id is None else str(object_id),
        district_id=kw.get("district_id"),
        ip=origin.ip[:64],
        user_agent=origin.user_agent[:300],
        details=kw.get("details") or {},
        prev_hash=prev or audit.GENESIS,
    )
    ev.created_at = utcnow().replace(microsecond=0)
    ev.hash = audit._digest(ev.prev_hash, ev)  # noqa: SLF001 - the same digest, on purpose
    db.session.add(ev)
    db.session.flush()
    return ev


def burst(base: str, doc_id: int, names: list[str], threads: int, views: int) -> tuple[float, int]:
    """(seconds, non-200 answers) for threads x views GETs of the document page."""
    sessions = []
    for i in range(threads):
        s = requests.Session()
        s.post(f"{base}/login", data={"username": names[i % len(names)], "password": PASSWORD})
        sessions.append(s)
    barrier = threading.Barrier(threads + 1)
    bad = [0] * threads

    def run(i: int) -> None:
        barrier.wait()
        for _ in range(views):
            try:
                ok = sessions[i].get(f"{base}/documents/{doc_id}", timeout=120).status_code == 200
            except requests.RequestException:
                ok = False
            bad[i] += not ok

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    return time.perf_counter() - start, sum(bad)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--views", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # a 500 is counted, not printed
    tmp = Path(tempfile.mkdtemp(prefix="formsvc-bench-"))
    create_keyring(tmp / "keys.json")
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": args.database_url or f"sqlite:///{tmp / 'bench.sqlite'}",
            "STORAGE_DIR": str(tmp / "files"),
            "STORAGE_KEYRING_PATH": str(tmp / "keys.json"),
            "ARGON2_PROFILE": "CHEAPEST",
            "WTF_CSRF_ENABLED": False,
            "LOGIN_RATE_LIMIT": "10000 per minute",
        }
    )
    with app.app_context():
        upgrade()
        district = users.create_district("Rinkeby-Kista", actor=None)
        names = [f"hl{i}" for i in range(5)]
        staff = [
            users.create_user(
                username=n,
                full_name=f"Handläggare {n}",
                role="caseworker",
                password=PASSWORD,
                district_id=district.id,
            )
            for n in names
        ]
        p = Participant(
            district_id=district.id,
            first_name="Åsa",
            last_name="Öberg",
            id_kind="birth_date",
            birth_date=date(2010, 3, 15),
            target_group="sig_unga",
            created_by_id=staff[0].id,
        )
        db.session.add(p)
        db.session.commit()
        dtype = app.extensions["formsvc.registry"]["consent"]
        doc = documents.create(
            dtype,
            dtype.sample(),
            actor=staff[0],
            participant=p,
            store=app.extensions["formsvc.store"],
        )
        doc_id = doc.id
        db.session.remove()

        app.logger.setLevel(logging.CRITICAL)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        total = args.threads * args.views
        rows: dict[str, list[float]] = {"before (unserialised)": [], "after": []}
        serialised = audit.record
        variants = (("before (unserialised)", unserialised_record), ("after", serialised))
        for label, record in variants * args.rounds:  # alternated: the machine's load drifts
            audit.record = record
            seconds, bad = burst(base, doc_id, names, args.threads, args.views)
            db.session.remove()
            checked, broken = audit.verify()
            rows[label].append(total / seconds)
            chain = "intact" if broken is None else f"BROKEN at event {broken.id}"
            print(
                f"{label:<22} {total} views in {seconds:6.2f} s = {total / seconds:6.1f} views/s, "
                f"{bad} not 200, chain {chain} ({checked} events checked)"
            )
            # the next round starts from an intact chain: no point measuring on a forked one
            db.session.execute(text("DELETE FROM audit_event"))
            db.session.commit()
        audit.record = serialised
        server.shutdown()
        before = rows["before (unserialised)"]
        print(
            f"database {db.engine.dialect.name}, {args.threads} threads x {args.views} views; "
            f"{args.rounds} rounds alternated; median views/s after / before: "
            f"{statistics.median(rows['after']) / statistics.median(before):.2f}x"
        )


if __name__ == "__main__":
    main()
