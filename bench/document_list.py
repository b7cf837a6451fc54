"""The document list with 100 000 documents in one district: page times, with and without indexes.

Run: `.venv/bin/python bench/document_list.py [--documents 100000] [--database-url URL]`.
Builds a throwaway database (SQLite in a temp dir unless --database-url), migrates it, seeds the
demo users and N synthetic documents, then times GET /documents/ through the app as a logged-in
caseworker: medians per filter, first with the migration's indexes and then with the document
indexes dropped, side by side in one run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import text

from formsvc import create_app
from formsvc.extensions import db
from formsvc.services import bulk, users
from formsvc.services.checkpoints import create_key
from formsvc.services.keys import create_keyring

INDEXES = (
    "ix_document_district_type_updated",
    "ix_document_district_status_updated",
    "ix_document_district_updated",
    "ix_document_participant_id",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        create_keyring(Path(tmp) / "keys.json")
        create_key(Path(tmp) / "audit-key.pem")
        app = create_app(
            {
                "SECRET_KEY": "bench",
                "SQLALCHEMY_DATABASE_URI": url,
                "WTF_CSRF_ENABLED": False,
                "STORAGE_DIR": str(Path(tmp) / "files"),
                "STORAGE_KEYRING_PATH": str(Path(tmp) / "keys.json"),
                "AUDIT_KEY_PATH": str(Path(tmp) / "audit-key.pem"),
                "AUDIT_CHECKPOINT_FILE": str(Path(tmp) / "checkpoints.jsonl"),
                "ARGON2_PROFILE": "CHEAPEST",
            }
        )
        with app.app_context():
            if args.database_url:
                db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                db.session.commit()
            upgrade()
            users.seed_demo("Bench-losen-1")
            home = users.districts()[[d.name for d in users.districts()].index("Rinkeby-Kista")]
            start = time.perf_counter()
            bulk.seed(
                district_id=home.id,
                documents=args.documents,
                participants=2000,
                registry=app.extensions["formsvc.registry"],
                store=app.extensions["formsvc.store"],
            )
            print(
                f"seeded {args.documents} documents in {time.perf_counter() - start:.1f} s "
                f"({db.engine.dialect.name})"
            )
            analyze(app)
        client = app.test_client()
        client.post("/login", data={"username": "handlaggare", "password": "Bench-losen-1"})
        queries = {
            "page 1": "/documents/",
            "page 200": "/documents/?page=200",
            "type filter": "/documents/?type=consent",
            "status filter": "/documents/?status=active",
            "participant": "/documents/?participant=17",
            "date range": "/documents/?from=2025-01-01&to=2025-03-31",
        }
        with_idx = {name: median_ms(client, url, args.runs) for name, url in queries.items()}
        with app.app_context():
            for name in INDEXES:
                db.session.execute(text(f"DROP INDEX {name}"))
            db.session.commit()
            analyze(app)
        without = {name: median_ms(client, url, args.runs) for name, url in queries.items()}
        print(f"{'GET /documents/':18} {'indexed':>10} {'no index':>10} {'ratio':>7}")
        for name in queries:
            ratio = without[name] / with_idx[name]
            print(f"{name:18} {with_idx[name]:8.1f}ms {without[name]:8.1f}ms {ratio:6.1f}x")
        with app.app_context():
            db.engine.dispose()


def analyze(app: object) -> None:
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def median_ms(client: object, url: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        resp = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert resp.status_code == 200, resp.status_code
    return statistics.median(times)


if __name__ == "__main__":
    main()
