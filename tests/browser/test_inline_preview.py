"""The document inline in Chromium (issue 13): the draft's page frames the PDF, with a title,
and the browser loads it into the frame; the signer's link page shows the PDF to sign inline when
asked (a closed <details> whose lazy frame loads when opened), and signing still works after.

What is tested, honestly: the frame element, its accessible name and size; that Chromium
loaded the framed address (its response: 200, application/pdf, inline, framable by our own
origin only) into the frame rather than refusing it (a refused frame shows chrome-error://);
the PDF's text (the UTKAST mark on every page of the draft). Whether
the viewer paints the pages is left to a person looking at build/screenshots/preview-*.png
(Debian's headless chromium does show them): the viewer is an extension in its own process,
not something a page's checks can read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, expect

from formsvc.extensions import db
from formsvc.models import Document
from formsvc.services import signing
from formsvc.services.overlay import DRAFT_MARK
from tests.browser.test_signing_flow import STATEMENTS
from tests.conftest import PASSWORD, World
from tests.factories import signed_in_person
from tests.helpers import pdf_page_texts
from tests.smtp import SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.converter]

SCREENSHOTS = Path("build/screenshots")
GUARDIAN = "maria.oberg@example.se"


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


def open_framing(page: Page, url: str, framed: str) -> tuple[Response, list[str]]:
    """Go to *url*; the response Chromium got for the frame's address *framed*, and what the
    console said (Chromium says there when it refuses to show a page in a frame)."""
    said: list[str] = []

    def listen(msg: ConsoleMessage) -> None:
        said.append(msg.text)

    page.on("console", listen)
    with page.expect_response(lambda r: r.url.endswith(framed)) as got:
        page.goto(url)
    page.wait_for_load_state("load")
    return got.value, said


def check_framed_pdf(page: Page, response: Response, said: list[str]) -> list[str]:
    """The frame's response is a PDF our own pages may frame and Chromium did not refuse it;
    the text of each of its pages, fetched again with the page's cookies (Chromium hands the
    frame's body to its PDF viewer, not to the page)."""
    assert response.status == 200
    headers = response.all_headers()  # as sent (.headers is Chromium's digest of them)
    assert headers["content-type"] == "application/pdf"
    assert headers["content-disposition"].startswith("inline;")
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self';" in headers["content-security-policy"]
    assert not [s for s in said if "frame" in s.lower() and "refused" in s.lower()], said
    # a frame Chromium refuses shows its own error page (chrome-error://…) instead
    shown = page.locator("iframe.pdf-frame").element_handle().content_frame()
    assert shown is not None and shown.url == response.url, shown and shown.url
    again = page.request.get(response.url)
    assert again.ok and again.headers["content-type"] == "application/pdf"
    return pdf_page_texts(again.body())


def test_the_draft_page_shows_the_draft_inline_marked_utkast(
    page: Page, world: World, consent_doc: Document
) -> None:
    page.goto("/login")
    page.get_by_label("Användarnamn").fill("caseworker")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    framed = f"/documents/{consent_doc.id}/preview.pdf"
    response, said = open_framing(page, f"/documents/{consent_doc.id}", framed)
    frame = page.get_by_title("Förhandsvisning av utkastet (PDF), inte underskrivet")
    expect(frame).to_be_visible()
    expect(frame).to_have_attribute("src", framed)
    box = frame.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 300, box
    pages = check_framed_pdf(page, response, said)
    assert len(pages) >= 2 and all(DRAFT_MARK in p for p in pages)
    expect(page.get_by_role("link", name="Öppna PDF-filen")).to_have_attribute(
        "href", f"/documents/{consent_doc.id}/download.pdf"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "preview-draft-1280.png"), full_page=True)


def test_the_link_page_shows_the_pdf_to_sign_inline_when_asked_and_signing_goes_on(
    app: Flask,
    browser: Browser,
    live_server: str,
    world: World,
    consent_doc: Document,
    smtp_server: SmtpServer,
) -> None:
    # the participant has signed in person; a guardian signs through her personal link
    signed_in_person(app, consent_doc, world.users["caseworker"], seal=False, leave_open=2)
    tokens: list[str] = []
    req = signing.requests(consent_doc)[1]
    signing.issue_link(
        req,
        GUARDIAN,
        settings=app.config,
        link_for=lambda t: tokens.append(t) or f"{live_server}/s/{t}",
        actor=world.users["caseworker"],
    )
    context = browser.new_context(
        base_url=live_server, locale="sv-SE", viewport={"width": 820, "height": 1180}
    )
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        asked: list[str] = []

        def note(request: Request) -> None:
            asked.append(request.url)

        page.on("request", note)
        link = f"/s/{tokens[-1]}"
        framed = f"{link}/document.pdf"
        page.goto(link)
        expect(page.locator("iframe")).to_have_count(0)  # nothing of the document before the code
        page.get_by_role("button", name="Skicka kod till min e-post").click()
        mail = smtp_server.wait_for(
            lambda m: m["To"] == GUARDIAN and m["Subject"] == "Din engångskod"
        )
        body = str(mail.get_body(preferencelist=("plain",)).get_content())
        code = re.search(r"\b(\d{6})\b", body)
        assert code, body
        page.get_by_label("Engångskod").fill(code.group(1))
        page.get_by_role("button", name="Fortsätt").click()
        expect(page.get_by_role("heading", name="Skriv under")).to_be_visible()
        frame = page.get_by_title("Dokumentet att skriva under (PDF)")
        expect(frame).to_be_hidden()  # closed: not shown, and not loaded
        page.wait_for_load_state("load")
        assert not [u for u in asked if u.endswith(framed)], asked
        # opened from the keyboard, the frame loads the PDF to sign, unmarked
        with page.expect_response(lambda r: r.url.endswith(framed)) as got:
            page.get_by_text("Visa dokumentet här på sidan").focus()
            page.keyboard.press("Enter")
        expect(frame).to_be_visible()
        box = frame.bounding_box()
        assert box and box["width"] <= 820 and box["height"] > 300, box
        pages = check_framed_pdf(page, got.value, [])
        assert pages and not any(DRAFT_MARK in p for p in pages)
        assert page.evaluate("document.documentElement.scrollWidth") <= 820
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "preview-link-820.png"), full_page=True)
        # with the document open, the guardian signs (keyboard: the frame does not take her input)
        for statement in STATEMENTS:
            box_ = page.get_by_label(re.compile(statement))
            box_.focus()
            page.keyboard.press("Space")
            expect(box_).to_be_checked()
        page.get_by_label("Ditt namn").fill("Maria Öberg")
        page.get_by_role("button", name="Skriv under", exact=True).focus()
        page.keyboard.press("Enter")
        expect(page.locator("section.receipt")).to_contain_text("Maria Öberg skrev under")
    finally:
        context.close()
    db.session.expire_all()
    assert signing.requests(consent_doc)[1].status == "signed"
