"""Issue 15, test 3: `kill -9` of instance A while it serves a GET and a POST.

The decision (tests/cluster/haproxy.py): HAProxy sends a GET again to B, and never a POST; the
POST's user gets HAProxy's 502 and the database holds its work once or not at all. Here both
requests wait on A's LibreOffice (stopped), so the POST — sending a consent for signature,
which freezes its PDF — had committed nothing: the document is still a draft. Sent again, it
is sent once (one set of signature requests, one `send` event).
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from formsvc.extensions import db
from formsvc.models import AuditEvent, Document, SignatureRequest
from tests.cluster.conftest import Cluster
from tests.conftest import World
from tests.processes import wait_for


def fresh(http: requests.Session) -> requests.Session:
    """A session with *http*'s cookies and no open connection."""
    new = requests.Session()
    new.cookies.update(http.cookies)
    return new


def sent_count(doc: Document) -> tuple[str, int, int]:
    """(status, places asked to sign, `send` events) of *doc* as the database has them."""
    db.session.rollback()  # a fresh snapshot: the instances wrote, not this session
    mine = SignatureRequest.document_id == doc.id
    requests = select(func.count(func.distinct(SignatureRequest.slot))).where(mine)
    rows = int(db.session.scalar(select(func.count()).where(mine)) or 0)
    assert rows == int(db.session.scalar(requests) or 0)  # no place asked twice
    events = select(func.count()).where(AuditEvent.action == "send")
    status = db.session.scalar(select(Document.status).where(Document.id == doc.id))
    return str(status), int(db.session.scalar(requests) or 0), int(db.session.scalar(events) or 0)


def test_kill_9_mid_request_retries_the_get_on_b_and_never_sends_a_post_twice(
    world: World, consent_doc: Document, cluster: Cluster
) -> None:
    reader, sender = cluster.login("caseworker"), cluster.login("caseworker")
    pdf = cluster.url(f"/documents/{consent_doc.id}/download.pdf")
    send = cluster.url(f"/documents/{consent_doc.id}/send")
    cluster.warm(reader, pdf)  # both converters running: B takes over without a cold start
    for pid in cluster.soffice("a"):  # A's requests now wait for LibreOffice
        os.kill(pid, signal.SIGSTOP)
    with ThreadPoolExecutor(2) as pool:
        # each on a new connection: on a reused one HAProxy answers a failed request by
        # closing the connection without an answer, as a server closing an idle keep-alive
        # connection would, and leaves it to the client whether to send it again
        got = pool.submit(fresh(reader).get, pdf, headers=cluster.pin("a"), timeout=60)
        posted = pool.submit(
            fresh(sender).post, send, headers=cluster.pin("a"), timeout=60, allow_redirects=False
        )
        wait_for(lambda: cluster.in_flight("a") >= 2, 10, "both requests at A")
        before = cluster.retried_from("a")
        cluster.kill_instance("a")
        got_answer, post_answer = got.result(), posted.result()

    assert got_answer.status_code == 200  # sent again, to B
    assert got_answer.content.startswith(b"%PDF")
    assert cluster.retried_from("a") > before
    assert post_answer.status_code == 502  # not sent again
    assert sent_count(consent_doc) == ("draft", 0, 0)

    # the user sends it again (B now): sent once; a third click changes nothing
    for _ in range(2):
        again = sender.post(send, timeout=60, allow_redirects=False)
        assert again.status_code == 302
    status, signature_requests, events = sent_count(consent_doc)
    assert (status, events) == ("awaiting_signatures", 1)
    assert signature_requests >= 1
