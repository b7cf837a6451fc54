"""Through HTTP on loopback: the last signature's POST until the sealed PDF is downloaded, against
one draft PDF preview of the same document, alternating, medians and their ratio.

Run: `.venv/bin/python bench/sign_http.py [--rounds 7] [--port 23630]` (or `make bench`). One
process: the app (real configuration, CSRF on) served by werkzeug's threaded server on
127.0.0.1 (an ephemeral port) in a thread, a warm LibreOffice, the demo ECDSA P-256 seal, a
throw-away SQLite database. Each round a new consent (sample data, 3 signers) is sent for
signature and its first two signers sign through the services (not timed); then, in turn:

- the last signer signs in person: GET the signing page (not timed), then time POST of the form
  (name, statements, a drawn signature) plus GET of /documents/<id>/signed.pdf until it is there
  (the caseworker's unlock of the in-person view in between is not timed);
- one draft preview: time GET /documents/<id>/download.pdf of a draft consent (render + convert).

Goal (issue 12): last signature -> sealed PDF no longer than one draft preview (ratio <= 1).
Requests go to 127.0.0.1 only; the number of rounds is bounded (at most 30).
"""

from __future__ import annotations

import argparse
import base64
import logging
import re
import statistics
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import requests
from finalise import NAMES, drawn  # bench/finalise.py, next to this file
from werkzeug.serving import make_server

from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import Participant, User
from formsvc.services import documents, signing, users
from formsvc.services.checkpoints import create_key
from formsvc.services.conversion import get_pool
from formsvc.services.keys import create_keyring
from formsvc.services.sealing import generate_demo_pkcs12

PASSWORD = "Bench-losen-1"  # noqa: S105 - a throw-away bench database
_CSRF = re.compile(r'name="((?:[a-z]-)?csrf_token)"[^>]*value="([^"]+)"')
TIMEOUT = 120  # seconds, any one request


def csrf(html: str, prefix: str = "") -> dict[str, str]:
    """The CSRF field of the form with *prefix* in *html*."""
    for name, value in _CSRF.findall(html):
        if name == f"{prefix}csrf_token":
            return {name: value}
    raise SystemExit(f"no {prefix}csrf_token in the page")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--port", type=int, default=23630, help="LibreOffice's base port")
    args = parser.parse_args()
    rounds = max(1, min(args.rounds, 30))
    tmp = Path(tempfile.mkdtemp(prefix="formsvc-bench-http-"))
    (tmp / "seal").mkdir()
    (tmp / "seal" / "seal.p12").write_bytes(generate_demo_pkcs12(b"bench"))
    create_keyring(tmp / "keys.json")
    create_key(tmp / "audit-key.pem")
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite'}",
            "STORAGE_DIR": str(tmp / "files"),
            "STORAGE_KEYRING_PATH": str(tmp / "keys.json"),
            "AUDIT_KEY_PATH": str(tmp / "audit-key.pem"),
            "AUDIT_CHECKPOINT_FILE": str(tmp / "checkpoints.jsonl"),
            "SEAL_PKCS12_PATH": str(tmp / "seal" / "seal.p12"),
            "SEAL_PKCS12_PASSPHRASE": "bench",
            "CONVERTER_BASE_PORT": args.port,
            "CONVERTER_PROFILE_ROOT": str(tmp / "lo"),
            "ARGON2_PROFILE": "CHEAPEST",
        }
    )
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
        cw_id, participant_id = cw.id, participant.id
        dtype = app.extensions["formsvc.registry"]["consent"]
        store = app.extensions["formsvc.store"]
        converter = get_pool(app.extensions["formsvc.converter_settings"])
        draft = documents.create(
            dtype, dtype.sample(), actor=cw, participant=participant, store=store
        )
        draft_id = draft.id

    def ready_to_sign() -> tuple[int, int, list[str]]:
        """A consent sent for signature with all but its last signer signed: (doc, request)."""
        with app.app_context():
            cw = db.session.get(User, cw_id)
            participant = db.session.get(Participant, participant_id)
            doc = documents.create(
                dtype, dtype.sample(), actor=cw, participant=participant, store=store
            )
            signing.send(doc, dtype, actor=cw, store=store, converter=converter)
            reqs = signing.requests(doc)
            for req, name in zip(reqs[:-1], NAMES, strict=False):
                signing.sign(
                    req,
                    dtype,
                    signing.Given(
                        name=name,
                        statements=signing.statements_for(req, dtype),
                        signature_png=None,
                        ip="127.0.0.1",
                        user_agent="bench",
                    ),
                    method="in_person",
                    verification="bench",
                    actor=cw,
                    settings=app.config,
                    store=store,
                )
            db.session.commit()
            last = reqs[-1]
            return doc.id, last.id, list(signing.statements_for(last, dtype))

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    http = requests.Session()
    signature = "data:image/png;base64," + base64.b64encode(drawn()).decode()
    try:
        page = http.get(f"{base}/login", timeout=TIMEOUT).text
        r = http.post(
            f"{base}/login",
            data={"username": "cw", "password": PASSWORD, **csrf(page)},
            timeout=TIMEOUT,
        )
        r.raise_for_status()

        def preview() -> float:
            start = time.perf_counter()
            r = http.get(f"{base}/documents/{draft_id}/download.pdf", timeout=TIMEOUT)
            elapsed = (time.perf_counter() - start) * 1000
            if r.status_code != 200 or not r.content.startswith(b"%PDF"):
                raise SystemExit(f"preview: HTTP {r.status_code}")
            return elapsed

        def last_signature() -> float:
            doc_id, rid, statements = ready_to_sign()
            url = f"{base}/documents/{doc_id}/signatures/{rid}/in-person"
            form = csrf(http.get(url, timeout=TIMEOUT).text, "s-")
            data = {"s-name": NAMES[-1], "s-statements": statements, "s-signature_png": signature}
            start = time.perf_counter()
            r = http.post(url, data={**data, **form}, timeout=TIMEOUT)
            posted = time.perf_counter() - start
            if r.status_code != 200:
                raise SystemExit(f"sign: HTTP {r.status_code}")
            # the caseworker takes the tablet back: the locked session opens with their password
            # (not timed: a person's step between the signature and the download)
            unlock = http.get(f"{base}/unlock", timeout=TIMEOUT).text
            http.post(f"{base}/unlock", data={"password": PASSWORD, **csrf(unlock)}, timeout=60)
            start = time.perf_counter()
            deadline = start + TIMEOUT
            while True:
                sealed = http.get(
                    f"{base}/documents/{doc_id}/signed.pdf", timeout=TIMEOUT, allow_redirects=False
                )
                if sealed.status_code == 200 and sealed.content.startswith(b"%PDF"):
                    break
                if time.perf_counter() > deadline:
                    raise SystemExit(f"no sealed PDF: HTTP {sealed.status_code}")
                time.sleep(0.01)
            return (posted + time.perf_counter() - start) * 1000

        preview()  # warm-up: imports, templates, the converter
        last_signature()
        signs, previews = [], []
        for i in range(rounds):
            if i % 2:
                previews.append(preview())
                signs.append(last_signature())
            else:
                signs.append(last_signature())
                previews.append(preview())
    finally:
        server.shutdown()
        thread.join(timeout=10)
        converter.close()
    sign_ms, preview_ms = statistics.median(signs), statistics.median(previews)
    print(f"consent sample through HTTP ({base}), {rounds} rounds, alternating, medians")
    print(f"{'last signature POST -> sealed PDF received':<46}{sign_ms:8.1f} ms")
    print(f"{'one draft PDF preview (render + convert)':<46}{preview_ms:8.1f} ms")
    print(f"{'ratio (goal <= 1.00)':<46}{sign_ms / preview_ms:8.2f} x")


if __name__ == "__main__":
    main()
