"""Load through HAProxy over 1 and 2 app instances (gunicorn, each with its own LibreOffice):
draft PDF previews per second and p50/p95 latency at 1, 4 and 16 concurrent users, and the staff
list page's p95 while previews keep every converter busy (issue 15's benchmark).

Run: `.venv/bin/python bench/load.py [--seconds 8] [--database-url postgresql://…/formsvc_bench]`
(the database is emptied and migrated: never point it at one you keep). One run starts, on
loopback and free ports: a private redis-server, two gunicorn instances (1 worker, 8 threads,
one LibreOffice each, on --port and --port+2) on one PostgreSQL database and one storage
directory, and two HAProxy processes — one balancing over instance a only, one over a and b —
so both columns are measured side by side on the same processes, one after the other. Each user
is a thread with its own logged-in session looping over GET /documents/<id>/download.pdf (render +
convert, no cache) for --seconds; the list-page user loops over GET /documents/. Everything
stops on exit. Uses the test suite's process helpers (tests/processes.py, tests/cluster/haproxy.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import requests
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from formsvc import create_app  # noqa: E402
from formsvc.extensions import db  # noqa: E402
from formsvc.models import Participant  # noqa: E402
from formsvc.runtime import runtime  # noqa: E402
from formsvc.services import documents, users  # noqa: E402
from formsvc.services.checkpoints import create_key  # noqa: E402
from formsvc.services.keys import create_keyring  # noqa: E402
from formsvc.services.sealing import generate_demo_pkcs12  # noqa: E402
from tests.cluster.haproxy import PIN, THREADS, haproxy  # noqa: E402
from tests.processes import gunicorns, redis_server, write_instance  # noqa: E402

PASSWORD = "Bench-losen-1"  # noqa: S105 - a throw-away bench database
TIMEOUT = 120  # seconds, any one request
USERS = (1, 4, 16)


def prepare(tmp: Path, url: str, port: int) -> tuple[dict[str, object], int]:
    """An emptied, migrated database with one caseworker and one consent draft: (config, id)."""
    (tmp / "seal").mkdir()
    (tmp / "seal" / "seal.p12").write_bytes(generate_demo_pkcs12(b"bench"))
    create_keyring(tmp / "keys.json")
    create_key(tmp / "audit-key.pem")
    config: dict[str, object] = {
        "SECRET_KEY": "bench-not-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "STORAGE_DIR": str(tmp / "files"),
        "STORAGE_KEYRING_PATH": str(tmp / "keys.json"),
        "AUDIT_KEY_PATH": str(tmp / "audit-key.pem"),
        "AUDIT_CHECKPOINT_FILE": str(tmp / "checkpoints.jsonl"),
        "SEAL_PKCS12_PATH": str(tmp / "seal" / "seal.p12"),
        "SEAL_PKCS12_PASSPHRASE": "bench",
        "CONVERTER_BASE_PORT": port,
        "ARGON2_PROFILE": "CHEAPEST",
        "WTF_CSRF_ENABLED": False,  # the load is on previews; bench/sign_http.py does CSRF
        "PROXY_FIX_X_FOR": 1,
    }
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    app = create_app(config)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        district = users.create_district("Rinkeby-Kista", actor=None)
        cw = users.create_user(
            username="cw",
            full_name="Karin Lind",
            role="caseworker",
            password=PASSWORD,
            district_id=district.id,
        )
        participant = Participant(
            district_id=district.id,
            first_name="Åsa",
            last_name="Öberg",
            id_kind="birth_date",
            birth_date=date(2010, 3, 15),
            target_group="sig_unga",
            created_by_id=cw.id,
        )
        db.session.add(participant)
        db.session.commit()
        dtype = runtime(app).registry["consent"]
        store = runtime(app).store
        for _ in range(30):  # a list page of some length
            doc = documents.create(
                dtype, dtype.sample(), actor=cw, participant=participant, store=store
            )
        doc_id = doc.id
        db.session.remove()
        db.engine.dispose()
    return config, doc_id


def login(base: str) -> requests.Session:
    http = requests.Session()
    r = http.post(
        f"{base}/login",
        data={"username": "cw", "password": PASSWORD},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    if r.status_code != 302:
        raise SystemExit(f"login: HTTP {r.status_code}")
    return http


ERRORS: list[str] = []


def loop(
    http: requests.Session, url: str, until: float, out: list[float], ok: Callable[[bytes], bool]
) -> None:
    """GET *url* until *until*; the latency of each good answer in ms into *out*."""
    while time.monotonic() < until:
        start = time.perf_counter()
        try:
            r = http.get(url, timeout=TIMEOUT)
        except requests.RequestException as exc:
            ERRORS.append(f"{url}: {exc}")
            return
        if r.status_code != 200 or not ok(r.content):
            text = " ".join(r.text.split())
            ERRORS.append(f"{url}: HTTP {r.status_code} {text[-300:]}")
            return
        out.append((time.perf_counter() - start) * 1000)


def p(values: list[float], q: float) -> float:
    """The *q* quantile (0..1) of *values*, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def run(
    base: str,
    doc_id: int,
    sessions: list[requests.Session],
    users_n: int,
    seconds: float,
    list_user: bool,
) -> tuple[int, float, list[float], list[float]]:
    """*users_n* preview users (and one list-page user) for *seconds*: (n, s, previews, lists)."""
    preview = f"{base}/documents/{doc_id}/download.pdf"
    times: list[list[float]] = [[] for _ in range(users_n)]
    lists: list[float] = []
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=loop, args=(s, preview, until, t, lambda b: b.startswith(b"%PDF")), daemon=True
        )
        for s, t in zip(sessions, times, strict=False)  # one session per user
    ]
    if list_user:
        threads.append(
            threading.Thread(
                target=loop,
                args=(sessions[-1], f"{base}/documents/", until, lists, lambda b: b"<html" in b),
                daemon=True,
            )
        )
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + TIMEOUT)
    elapsed = time.monotonic() - start
    done = [x for t in times for x in t]
    return len(done), elapsed, done, lists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement (1-60)")
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/formsvc_bench"
    )
    parser.add_argument("--port", type=int, default=23640, help="LibreOffice's base port")
    args = parser.parse_args()
    seconds = max(1.0, min(args.seconds, 60.0))
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    tmp = Path(tempfile.mkdtemp(prefix="formsvc-bench-load-"))
    config, doc_id = prepare(tmp, url, args.port)
    with ExitStack() as stack:
        shared = stack.enter_context(redis_server(tmp / "redis"))
        config["RATELIMIT_STORAGE_URI"] = shared.url
        folders = [
            write_instance(
                tmp / name,
                {
                    **config,
                    "CONVERTER_BASE_PORT": args.port + 2 * i,
                    "CONVERTER_PROFILE_ROOT": str(tmp / f"lo-{name}"),
                },
            )
            for i, name in enumerate("ab")
        ]
        a, b = stack.enter_context(gunicorns(*folders, env={"GUNICORN_THREADS": str(THREADS)}))
        ports = [("a", int(urlsplit(a.url).port or 0)), ("b", int(urlsplit(b.url).port or 0))]
        lbs = {
            1: stack.enter_context(haproxy(tmp / "lb1", ports[:1], "/healthz")),
            2: stack.enter_context(haproxy(tmp / "lb2", ports, "/healthz")),
        }
        # logged in once (the login limits count per address), each session one user's
        sessions = [login(lbs[2].url) for _ in range(max(USERS) + 1)]
        warm = sessions[0]
        for name in "ab":  # each LibreOffice started and its filters loaded: not measured
            headers = {PIN: name}
            for _ in range(2):
                warm.get(
                    f"{lbs[2].url}/documents/{doc_id}/download.pdf",
                    headers=headers,
                    timeout=TIMEOUT,
                ).raise_for_status()

        rows = []
        for n in USERS:
            for instances in (1, 2):
                count, elapsed, done, _ = run(
                    lbs[instances].url, doc_id, sessions, n, seconds, False
                )
                rows.append((n, instances, count / elapsed, p(done, 0.5), p(done, 0.95), count))
        saturated = {}
        for instances in (1, 2):
            count, elapsed, done, lists = run(
                lbs[instances].url, doc_id, sessions, 16, seconds, True
            )
            saturated[instances] = (p(lists, 0.5), p(lists, 0.95), len(lists), count / elapsed)

    shutil.rmtree(tmp, ignore_errors=True)
    if ERRORS:
        raise SystemExit("failed requests:\n" + "\n".join(ERRORS[:20]))
    print(f"formsvc load through HAProxy, {seconds:.0f} s per row, consent draft preview")
    print(f"{'users':>5} {'instances':>9} {'previews/s':>11} {'p50 ms':>8} {'p95 ms':>8} {'n':>5}")
    for n, instances, rate, p50, p95, count in rows:
        print(f"{n:>5} {instances:>9} {rate:>11.1f} {p50:>8.0f} {p95:>8.0f} {count:>5}")
    print("ratio 2 instances / 1 (previews/s):")
    by = {(r[0], r[1]): r[2] for r in rows}
    for n in USERS:
        print(f"  {n:>2} users: {by[(n, 2)] / by[(n, 1)]:.2f} x")
    print("staff list page (GET /documents/, one user) while 16 users preview:")
    for instances, (p50, p95, count, rate) in saturated.items():
        print(
            f"  {instances} instance(s): p50 {p50:.0f} ms, p95 {p95:.0f} ms (n={count}),"
            f" previews/s meanwhile {rate:.1f}"
        )


if __name__ == "__main__":
    main()
