"""What signed checkpoints cost an audit append, side by side in one run.

Run: `.venv/bin/python bench/audit_checkpoints.py [--events 2000] [--database-url URL]`.
For each setting (checkpoints off; every 100, 10 and 1 events) builds a fresh database (SQLite
in a temp dir unless --database-url, whose public schema is DROPPED), then appends --events
events one transaction each, as requests do, and prints the median and p95 time per append,
appends per second, checkpoints written and the time `flask audit verify`'s log check takes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import text

from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import AuditCheckpoint
from formsvc.services import audit, checkpoints
from formsvc.services.checkpoints import create_key
from formsvc.services.keys import create_keyring

SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("off", {"AUDIT_CHECKPOINTS": False}),
    ("every 100", {"AUDIT_CHECKPOINT_EVERY": 100}),
    ("every 10", {"AUDIT_CHECKPOINT_EVERY": 10}),
    ("every 1", {"AUDIT_CHECKPOINT_EVERY": 1}),
]


def run(tmp: Path, url: str | None, events: int, overrides: dict[str, Any]) -> dict[str, float]:
    create_keyring(tmp / "keys.json")
    create_key(tmp / "audit-key.pem")
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{tmp / 'bench.sqlite'}",
            "STORAGE_DIR": str(tmp / "files"),
            "STORAGE_KEYRING_PATH": str(tmp / "keys.json"),
            "AUDIT_KEY_PATH": str(tmp / "audit-key.pem"),
            "AUDIT_CHECKPOINT_FILE": str(tmp / "checkpoints.jsonl"),
            **overrides,
        }
    )
    with app.app_context():
        if url:
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        times = []
        for i in range(events):
            start = time.perf_counter()
            audit.record(
                "view",
                actor_id=1,
                actor_label="bench",
                object_type="document",
                object_id=i,
                district_id=1,
                details={"format": "pdf"},
            )
            db.session.commit()
            times.append(time.perf_counter() - start)
        written = db.session.query(AuditCheckpoint).count()
        start = time.perf_counter()
        anchor = audit.anchor()
        if anchor is not None:
            report = checkpoints.verify_log(anchor)
            assert not report.problems, report.problems
        else:
            assert audit.verify()[1] is None
        verify_s = time.perf_counter() - start
        db.session.remove()
        db.engine.dispose()
    times.sort()
    return {
        "median_ms": statistics.median(times) * 1000,
        "p95_ms": times[int(len(times) * 0.95)] * 1000,
        "per_s": len(times) / sum(times),
        "checkpoints": written,
        "verify_s": verify_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url
    if url and url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    results = []
    for name, overrides in SETTINGS:
        with tempfile.TemporaryDirectory() as tmp:
            results.append((name, run(Path(tmp), url, args.events, overrides)))
    backend = "postgresql" if url else "sqlite"
    print(f"{args.events} appends, one commit each, on {backend}")
    print(f"{'checkpoints':<12} {'median ms':>10} {'p95 ms':>8} {'appends/s':>10} "
          f"{'written':>8} {'verify s':>9}")  # fmt: skip
    for name, r in results:
        print(
            f"{name:<12} {r['median_ms']:>10.2f} {r['p95_ms']:>8.2f} {r['per_s']:>10.0f} "
            f"{r['checkpoints']:>8} {r['verify_s']:>9.2f}"
        )


if __name__ == "__main__":
    main()
