"""Issue 11's acceptance test: while 4 hostile /verify uploads run, staff pages answer in 2 s.

Real HTTP against a live threaded server, on SQLite and PostgreSQL. The hostile file is the
issue's: a 4 MB PDF whose 3,000 signature fields share one signature (~30 s of pyHanko CPU
each). The field limit is lifted here so that all four checks really run until their CPU limit
stops them: what keeps the staff pages fast is the child process, its limits and its nice level.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from formsvc.models import Document
from formsvc.services.sealing import Sealer
from tests import hostile
from tests.conftest import SEAL_PASSPHRASE, World
from tests.views.test_signing_concurrency import session_for

#: The issue's bound for a staff page while hostile uploads run.
BOUND = 2.0


@pytest.fixture
def worst_case(config: dict[str, Any]) -> dict[str, Any]:
    config.update(
        UNTRUSTED_CONCURRENCY=4,
        VERIFY_MAX_SIGNATURES=10**6,
        UNTRUSTED_CPU_SECONDS=8,
        UNTRUSTED_WALL_SECONDS=15,
    )
    return config


@pytest.fixture
def hostile_pdf(tmp_path: Path, seal_pkcs12: bytes) -> bytes:
    path = tmp_path / "seal.p12"
    path.write_bytes(seal_pkcs12)
    sealer = Sealer.from_pkcs12(path, SEAL_PASSPHRASE)
    return hostile.many_signature_fields_pdf(hostile.sealed_pdf(sealer))


def test_staff_pages_answer_within_2_s_while_4_hostile_verify_uploads_run(
    worst_case: dict[str, Any],
    live_server: str,
    world: World,
    consent_doc: Document,
    hostile_pdf: bytes,
) -> None:
    staff = session_for(live_server, "caseworker")
    pages = ["/", f"/participants/{world.participant.id}", f"/documents/{consent_doc.id}"]
    for page in pages:  # warm: templates compiled, connections open
        assert staff.get(live_server + page, timeout=30).status_code == 200
    # the first check starts the fork server; the load below is the steady state
    requests.post(
        f"{live_server}/verify", files={"pdf": ("x.pdf", hostile.plain_pdf())}, timeout=60
    )

    answers: list[requests.Response] = []

    def upload() -> None:
        answers.append(
            requests.post(
                f"{live_server}/verify",
                files={"pdf": ("x.pdf", hostile_pdf, "application/pdf")},
                timeout=120,
            )
        )

    uploads = [threading.Thread(target=upload) for _ in range(4)]
    for t in uploads:
        t.start()
    timings: list[float] = []
    try:
        time.sleep(0.5)  # let the uploads reach their children
        for _ in range(100):  # bounded: the limits (8 s CPU, 15 s clock) stop them before
            if not all(t.is_alive() for t in uploads):
                break
            for page in pages:
                started = time.monotonic()
                assert staff.get(live_server + page, timeout=30).status_code == 200
                timings.append(time.monotonic() - started)
    finally:
        for t in uploads:
            t.join(120)
    assert len(timings) >= 6, "the staff pages were measured while all four uploads ran"
    assert max(timings) < BOUND, sorted(timings)[-5:]
    # each hostile check was stopped by a limit (CPU, or the clock on a busy machine) and
    # answered with a sentence, not a 500
    assert [a.status_code for a in answers] == [200] * 4
    assert all("för mycket beräkning" in a.text or "för lång tid" in a.text for a in answers)
