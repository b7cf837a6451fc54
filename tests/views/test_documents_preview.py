"""The document shown inline (issue 13): the document page frames its PDF; only those inline
PDFs may be framed, and only by our own pages; a rendered PDF of a signed type says "UTKAST –
inte underskrivet" on every page, the frozen, sealed and signer's PDFs never do."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from formsvc.extensions import db
from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services import documents, signing
from formsvc.services.overlay import DRAFT_MARK
from tests.conftest import Auth, World
from tests.helpers import pdf_page_texts
from tests.smtp import SmtpServer
from tests.views.test_sign_link import open_with_code, send_link, sign_by_link
from tests.views.test_signing import send, sign_in_person, starting_today

pytestmark = pytest.mark.converter

#: the signer's pages: the PDF inline on request, in a closed <details>, loaded when opened
INLINE = re.compile(
    r'<details class="pdf-inline">\s*<summary>[^<]+</summary>\s*'
    r'<iframe class="pdf-frame" src="([^"]+)" title="([^"]+)" loading="lazy"></iframe>'
)
IFRAME = re.compile(r'<iframe class="pdf-frame" src="([^"]+)" title="([^"]+)"></iframe>')


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


def frame_of(page: TestResponse) -> tuple[str, str]:
    """The address and title of the page's PDF frame; the page itself may not be framed."""
    assert_unframeable(page)
    found = IFRAME.findall(page.get_data(as_text=True))
    assert len(found) == 1, found
    src, title = found[0]
    return unescape(src), unescape(title)


def assert_unframeable(resp: TestResponse) -> None:
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


def framed_pdf(client: FlaskClient, url: str) -> list[str]:
    """GET *url* as the frame does: an inline PDF that our own pages (only) may frame, never
    stored; the text of each of its pages."""
    resp = client.get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("inline; filename=")
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self';" in csp and "frame-ancestors 'none'" not in csp
    assert resp.headers["Cache-Control"] == "no-store"
    return pdf_page_texts(resp.data)


def marked(pages: list[str]) -> list[bool]:
    """Per page: whether it carries the draft mark (the band's text; the diagonal one is drawn
    letter by letter at an angle, checked in tests/services/test_overlay.py)."""
    return [DRAFT_MARK in page for page in pages]


def test_a_draft_page_frames_a_preview_marked_utkast_on_every_page(
    client: FlaskClient, auth: Auth, consent_doc: Document
) -> None:
    auth.login("caseworker")
    page = client.get(f"/documents/{consent_doc.id}")
    src, title = frame_of(page)
    assert src == f"/documents/{consent_doc.id}/preview.pdf"
    assert title == "Förhandsvisning av utkastet (PDF), inte underskrivet"
    # the plain way to the file, for a browser that shows no PDF in a page
    html = page.get_data(as_text=True)
    assert f'<a href="/documents/{consent_doc.id}/download.pdf">Öppna PDF-filen</a>' in html
    pages = framed_pdf(client, src)
    assert len(pages) >= 2 and all(marked(pages)), pages
    assert "Åsa Öberg" in pages[0]  # the document itself is there under the mark
    # downloaded, the draft is marked as well, and a download is never framed
    download = client.get(f"/documents/{consent_doc.id}/download.pdf")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert_unframeable(download)
    assert all(marked(pdf_page_texts(download.data)))


def test_a_type_nobody_signs_is_shown_without_the_mark(
    app: Flask, client: FlaskClient, auth: Auth, world: World
) -> None:
    dtype = runtime(app).registry["contact_list"]
    doc = documents.create(
        dtype,
        dtype.sample(),
        actor=world.users["caseworker"],
        store=runtime(app).store,
    )
    auth.login("caseworker")
    src, title = frame_of(client.get(f"/documents/{doc.id}"))
    assert title == "Förhandsvisning av dokumentet (PDF)"
    pages = framed_pdf(client, src)
    assert pages and not any(DRAFT_MARK in p for p in pages)


def test_once_sent_the_page_frames_the_frozen_pdf_unmarked_and_a_preview_stays_marked(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    consent_doc: Document,
    smtp_server: SmtpServer,
) -> None:
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    frozen = f"/documents/{consent_doc.id}/frozen.pdf"
    src, title = frame_of(client.get(f"/documents/{consent_doc.id}"))
    assert (src, title) == (frozen, "Dokumentet att skriva under (PDF)")
    pages = framed_pdf(client, frozen)
    assert not any(DRAFT_MARK in p for p in pages)
    # a fresh rendering of the sent document is not what is signed: marked
    assert all(marked(pdf_page_texts(client.get(f"/documents/{consent_doc.id}/preview.pdf").data)))


def test_the_signing_link_reads_its_pdf_only_after_the_code_and_only_our_page_frames_it(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    consent_doc: Document,
    smtp_server: SmtpServer,
) -> None:
    """The link page links the PDF and shows it inline on request (a closed <details> with a
    lazy frame): the PDF may be framed by our own pages once the code is given; a refusal is
    never framable."""
    auth.login("caseworker")
    req = send(client, starting_today(app, world, consent_doc))[1]
    token = send_link(client, smtp_server, consent_doc, req, "maria@example.se")
    pdf_url = f"/s/{token}/document.pdf"
    signer, stranger = app.test_client(), app.test_client()
    refused = signer.get(pdf_url)
    assert refused.status_code == 404 and refused.mimetype == "text/html"
    assert_unframeable(refused)
    open_with_code(signer, smtp_server, token, "maria@example.se")
    page = signer.get(f"/s/{token}")
    assert INLINE.search(page.text) is not None, "no inline view of the document on the page"
    assert INLINE.search(page.text).groups() == (pdf_url, "Dokumentet att skriva under (PDF)")
    assert_unframeable(page)
    resp = signer.get(pdf_url)
    assert framed_pdf(signer, pdf_url) == pdf_page_texts(resp.data)
    assert resp.headers["Content-Disposition"].startswith("inline;")
    assert not any(DRAFT_MARK in p for p in pdf_page_texts(resp.data))
    # the code opens it for the session that gave it, not for whoever has the link
    assert stranger.get(pdf_url).status_code == 404
    other = send_link(client, smtp_server, consent_doc, signing.requests(consent_doc)[2], "j@x.se")
    assert signer.get(f"/s/{other}/document.pdf").status_code == 404


def test_a_sealed_document_frames_its_signed_pdf_and_no_signed_copy_is_marked(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    consent_doc: Document,
    smtp_server: SmtpServer,
) -> None:
    auth.login("caseworker")
    reqs = send(client, starting_today(app, world, consent_doc))
    for req, name in zip(reqs[:2], ["Åsa Öberg", "Maria Öberg"], strict=True):
        assert sign_in_person(client, app, consent_doc, req, name).status_code == 200
    token = send_link(client, smtp_server, consent_doc, reqs[2], "johan@example.se")
    signer = app.test_client()
    open_with_code(signer, smtp_server, token, "johan@example.se")
    assert sign_by_link(signer, app, token, reqs[2], "Johan Öberg").status_code == 302
    db.session.refresh(consent_doc)
    assert consent_doc.sealed_pdf_sha256

    page = client.get(f"/documents/{consent_doc.id}")
    src, title = frame_of(page)
    assert (src, title) == (
        f"/documents/{consent_doc.id}/signed-inline.pdf",
        "Det signerade dokumentet (PDF)",
    )
    pages = framed_pdf(client, src)
    assert "Underskriftsbevis" in "".join(pages)
    assert not any(DRAFT_MARK in p for p in pages)
    download = client.get(f"/documents/{consent_doc.id}/signed.pdf")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert_unframeable(download)
    copy = signer.get(f"/s/{token}/copy.pdf")
    assert copy.status_code == 200
    assert_unframeable(copy)
    assert not any(DRAFT_MARK in p for p in pdf_page_texts(copy.data))


def test_other_districts_and_roles_cannot_frame_or_read_a_preview(
    app: Flask, client: FlaskClient, auth: Auth, consent_doc: Document
) -> None:
    for who, code in (("other_caseworker", 404), ("analyst", 403), ("admin", 403)):
        auth.login(who)
        resp = client.get(f"/documents/{consent_doc.id}/preview.pdf")
        assert resp.status_code == code, who
        assert_unframeable(resp)
        auth.logout()
    resp = client.get(f"/documents/{consent_doc.id}/preview.pdf")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.get("/documents/999999/preview.pdf").status_code == 302


def test_the_in_person_page_shows_the_pdf_to_sign_inline_on_request(
    app: Flask, client: FlaskClient, auth: Auth, world: World, consent_doc: Document
) -> None:
    """The tablet's signing view: the link to the frozen PDF and, in a closed <details>, a lazy
    frame of the same PDF, which our own page may frame; the PDF is the frozen one, unmarked."""
    auth.login("caseworker")
    doc = starting_today(app, world, consent_doc)
    req = send(client, doc)[0]
    page = client.get(f"/documents/{doc.id}/signatures/{req.id}/in-person")
    assert page.status_code == 200
    assert_unframeable(page)
    found = INLINE.search(page.get_data(as_text=True))
    assert found is not None, "no inline view of the document on the in-person page"
    src, title = (unescape(g) for g in found.groups())
    assert (src, title) == (f"/documents/{doc.id}/frozen.pdf", "Dokumentet att skriva under (PDF)")
    pages = framed_pdf(client, src)
    assert pages and not any(DRAFT_MARK in p for p in pages)
