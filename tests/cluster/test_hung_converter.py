"""Issue 15, test 5: `kill -STOP` of an instance's LibreOffice while a preview converts.

Staff pages keep answering through HAProxy (from both instances: the stuck preview holds one
thread of A's, not A); the preview ends in the app's own message at CONVERTER_TIMEOUT, and the
converter is started again (a later preview on A works, on a new LibreOffice).
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from formsvc.models import Document
from formsvc.services.conversion import MSG_TIMEOUT
from tests.cluster.conftest import Cluster
from tests.conftest import World
from tests.processes import wait_for


def test_a_hung_libreoffice_leaves_staff_pages_answering_and_is_restarted(
    world: World, consent_doc: Document, cluster: Cluster
) -> None:
    viewer, browser = cluster.login("caseworker"), cluster.login("caseworker")
    pdf = cluster.url(f"/documents/{consent_doc.id}/download.pdf")
    cluster.warm(viewer, pdf)  # each instance's LibreOffice runs
    hung = cluster.soffice("a")
    assert hung
    for pid in hung:
        os.kill(pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(1) as pool:
            preview = pool.submit(viewer.get, pdf, headers=cluster.pin("a"), timeout=60)
            wait_for(lambda: cluster.in_flight("a") >= 1, 10, "the preview at A")
            took = []
            for _ in range(6):  # round robin: three from A, three from B
                start = time.monotonic()
                page = browser.get(cluster.url("/documents/"), timeout=30)
                took.append(time.monotonic() - start)
                assert page.status_code == 200
                assert f"/documents/{consent_doc.id}" in page.text
            answered_while_hung = not preview.done()
            answer = preview.result()
    finally:
        for pid in hung:  # killed by the converter already, unless something went wrong
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert answered_while_hung  # every list page came back before the conversion gave up …
    assert statistics.median(took) < 2  # … and well within the 2 s
    assert answer.status_code == 503
    assert MSG_TIMEOUT.split(";")[0] in answer.text

    later = viewer.get(pdf, headers=cluster.pin("a"), timeout=60)
    assert later.status_code == 200 and later.content.startswith(b"%PDF")
    assert cluster.soffice("a") and not set(cluster.soffice("a")) & set(hung)
