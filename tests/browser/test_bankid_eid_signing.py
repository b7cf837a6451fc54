"""In Chromium, a guardian signs a consent by personal link with BankID (issue 14).

The BankID app is the protocol test peer (tests/bankid_peer.py): the test reads the QR code's
content from the page, as a phone's camera would read the code, and hands it to the peer, which
checks its HMAC and its age before the "user" completes. The QR code on the screen is checked to
be the code of that content, and to change every second (the animated QR code).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from formsvc.extensions import db
from formsvc.models import Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import signing
from tests.browser.test_signing_flow import (  # noqa: F401 - axe_source: the fixture
    CONVERSION_MS,
    STATEMENTS,
    axe_source,
    axe_violations,
)
from tests.conftest import World
from tests.idp.bankid import (  # noqa: F401 - the fixtures
    BankIdPeer,
    bankid_peer_fixture,
    bankid_peer_session_fixture,
)
from tests.smtp import SmtpServer
from tests.views.test_signing import starting_today

pytestmark = [pytest.mark.browser, pytest.mark.converter]

PHONE = {"width": 390, "height": 844}
MARIA_PNR = "198001011231"
MARIA = "Maria Öberg"
SHOTS = Path("/tmp/formsvc-bankid-shots")


@pytest.fixture
def config(
    config: dict[str, Any], smtp_server: SmtpServer, bankid_peer: BankIdPeer
) -> dict[str, Any]:
    return {**config, **smtp_server.settings, "BANKID": bankid_peer.settings}


@pytest.fixture
def phone(browser: Browser, live_server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server, locale="sv-SE", viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def request_for(doc: Document, role: str) -> SignatureRequest:
    db.session.expire_all()
    return next(r for r in signing.requests(doc) if r.role == role)


def sign_in_person(app: Flask, req: SignatureRequest, actor: Any) -> None:
    dtype = runtime(app).registry["consent"]
    given = signing.Given(
        name=req.expected_name, statements=signing.statements_for(req, dtype), ip="127.0.0.1"
    )
    store = runtime(app).store
    signing.sign(
        req, dtype, given, method="in_person", actor=actor, settings=app.config, store=store
    )


def qr_on_screen(page: Page) -> str:
    """The QR code's content as the page carries it, checked to be what the code shows."""
    box = page.locator("[data-bankid-qr]")
    expect(box.locator("svg")).to_be_visible()
    payload = box.get_attribute("data-qr-payload") or ""
    assert re.fullmatch(r"bankid\.[0-9a-f-]+\.\d+\.[0-9a-f]{64}", payload), payload
    drawn = box.locator("svg path").last.get_attribute("d")
    # the same content drawn the same way gives the same modules: the code shows this content
    expected = segno.make(payload, error="l", micro=False).svg_inline(
        scale=1, border=4, omitsize=True, dark="#000", light="#fff", lineclass=None
    )
    assert f'd="{drawn}"' in expected
    return payload


def test_a_guardian_signs_a_consent_by_personal_link_with_bankid_eid(
    app: Flask,
    world: World,
    consent_doc: Document,
    bankid_peer: BankIdPeer,
    phone: Page,
    live_server: str,
    axe_source: str,  # noqa: F811 - the fixture
) -> None:
    # the caseworker sent the consent; the participant and guardian 2 signed in person; guardian
    # 1 gets a personal link that requires e-ID
    caseworker = world.users["caseworker"]
    dtype = runtime(app).registry["consent"]
    doc = starting_today(app, world, consent_doc)

    signing.send(
        doc,
        dtype,
        actor=caseworker,
        store=runtime(app).store,
        converter=runtime(app).converter,
    )
    sign_in_person(app, request_for(doc, "Deltagare"), caseworker)
    sign_in_person(app, request_for(doc, "Vårdnadshavare 2"), caseworker)
    req = request_for(doc, "Vårdnadshavare 1")
    links: list[str] = []
    signing.issue_link(
        req,
        "maria@example.se",
        settings=app.config,
        link_for=lambda t: links.append(f"{live_server}/s/{t}") or links[-1],
        actor=caseworker,
    )
    req.require_eid = True
    db.session.commit()
    SHOTS.mkdir(exist_ok=True)

    # she opens the link and identifies herself with BankID (no e-mail code for an e-ID link)
    phone.goto(links[-1])
    phone.get_by_role("button", name="Legitimera dig med BankID").click()
    expect(phone.get_by_role("heading", name="Legitimera dig med BankID")).to_be_visible()
    bankid_peer.complete(qr_on_screen(phone), MARIA_PNR, MARIA)  # scans, then identifies
    expect(phone.get_by_text("Du har legitimerat dig med BankID.")).to_be_visible()

    # the ordinary form: ticks and her name, then BankID instead of the plain submit
    for statement in STATEMENTS:
        phone.get_by_role("checkbox", name=re.compile(statement)).check()
    expect(phone.get_by_role("textbox", name="Ditt namn")).to_have_value(MARIA)
    # an e-ID link identified by BankID signs only with BankID: no plain submit
    expect(phone.get_by_role("button", name="Skriv under", exact=True)).to_have_count(0)
    phone.screenshot(path=str(SHOTS / "form-390.png"), full_page=True)
    phone.get_by_role("button", name="Skriv under med BankID").click()

    expect(phone.get_by_role("heading", name="Skriv under med BankID")).to_be_visible()
    expect(phone.get_by_role("status").filter(has_text="Starta BankID-appen.")).to_be_visible()
    expect(phone.get_by_role("link", name="Öppna BankID på den här enheten")).to_have_attribute(
        "href", re.compile(r"^bankid:///\?autostarttoken=[0-9a-f-]+&redirect=null$")
    )
    first = qr_on_screen(phone)
    # the code changes every second (the script fetches the next one from the server)
    expect(phone.locator("[data-bankid-qr]")).not_to_have_attribute(
        "data-qr-payload", first, timeout=10_000
    )
    phone.screenshot(path=str(SHOTS / "bankid-390.png"), full_page=True)
    violations = axe_violations(phone, axe_source)
    assert violations == [], violations

    order_ref = bankid_peer.scan(qr_on_screen(phone))  # the app checks the HMAC and the age
    expect(phone.get_by_role("status").filter(has_text="Skriv in din säkerhetskod")).to_be_visible()
    bankid_peer.complete(order_ref, MARIA_PNR, MARIA)

    # the last signature: the page moves on by itself, and the consent is sealed
    receipt = phone.get_by_role("status").filter(has_text="Kvitto")
    expect(receipt).to_contain_text(
        f"{MARIA} skrev under som Vårdnadshavare 1", timeout=CONVERSION_MS
    )
    phone.screenshot(path=str(SHOTS / "receipt-390.png"), full_page=True)
    req = request_for(doc, "Vårdnadshavare 1")
    assert (req.status, req.method) == ("signed", "link")
    assert req.eid and req.eid["kind"] == "bankid" and req.eid["order_ref"] == order_ref
    db.session.refresh(doc)
    assert doc.sealed_pdf_sha256
