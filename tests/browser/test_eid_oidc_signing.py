"""In Chromium: a guardian signs a consent by personal link with e-ID through the OpenID Connect
broker (the real OpenID Provider of tests/idp), and another person's e-ID is refused with the
message on the page (issue 14, ADR 018). The signer's pages are looked at on a 390 px phone."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from formsvc.extensions import db
from formsvc.models import Document
from formsvc.services import signing
from tests.browser.test_signing_flow import (
    GUARDIAN_1,
    GUARDIAN_MAIL,
    STATEMENTS,
    NewPage,
    log_in,
    mail_to,
    send_for_signing,
    submit_button,
)
from tests.idp.oidc import LOA3, PERSONAL_NUMBER, OidcIdp
from tests.smtp import SmtpServer
from tests.views.test_signing import starting_today

pytestmark = [pytest.mark.browser, pytest.mark.converter]

PHONE = {"width": 390, "height": 844}
LABEL = "e-legitimation (BankID, Freja eID+)"
CLIENT_ID = "formsvc-eid-" + secrets.token_hex(4)
CLIENT_SECRET = secrets.token_urlsafe(24)


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer, oidc_idp: OidcIdp) -> dict[str, Any]:
    client = oidc_idp.add_client(
        ["http://localhost/eid/callback"], client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    oidc_idp.add_account("maria", name=GUARDIAN_1, personal_number="198001011231", acr=LOA3)
    oidc_idp.add_account("johan", name="Johan Öberg", personal_number="197901011236", acr=LOA3)
    broker = oidc_idp.provider_conf(
        client, label=LABEL, acr_values=LOA3, personal_number_claim=PERSONAL_NUMBER
    )
    return {**config, **smtp_server.settings, "EID_PROVIDERS": {"broker": broker}}


@pytest.fixture
def phone(browser: Browser, live_server: str) -> Iterator[NewPage]:
    """A fresh browser context (own cookies) on a 390 px phone that trusts the test IdP's CA."""
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(
            base_url=live_server, locale="sv-SE", viewport=PHONE, ignore_https_errors=True
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def idp_login(page: Page, username: str) -> None:
    """The signer signs in at the broker's own page."""
    expect(page.get_by_role("heading", name="Sign in to the test IdP")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("any")
    page.get_by_role("button", name="Sign in").click()


def test_eid_a_guardian_signs_by_link_with_eid_and_another_persons_eid_is_refused(
    app: Flask,
    page: Page,
    phone: NewPage,
    consent_doc: Document,
    world: Any,
    smtp_server: SmtpServer,
    oidc_idp: OidcIdp,
    live_server: str,
    tmp_path: Path,
) -> None:
    # the broker knows this live server's callback address
    oidc_idp.add_client(
        [f"{live_server}/eid/callback"], client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    )
    consent = starting_today(app, world, consent_doc)
    log_in(page)
    send_for_signing(page, consent)
    page.goto(f"/documents/{consent.id}")
    row = page.get_by_role("row").filter(has_text="Vårdnadshavare 1")
    row.get_by_label("E-post för personlig länk").fill(GUARDIAN_MAIL)
    row.get_by_label("e-legitimation (BankID m.fl.)").check()
    row.get_by_role("button", name="Skicka länk").click()
    expect(page.get_by_text(f"Länken är skickad till {GUARDIAN_MAIL}.")).to_be_visible()
    body = mail_to(smtp_server, GUARDIAN_MAIL, "Dokument att skriva under")
    assert "legitimerar du dig med e-legitimation" in body
    found = re.search(re.escape(live_server) + r"/s/\S+", body)
    assert found, body
    link = found.group(0)

    # someone else opens the link and identifies with their own e-ID: refused, on the page
    other = phone()
    other.goto(link)
    expect(other.get_by_role("button", name="Skicka kod till min e-post")).to_have_count(0)
    other.get_by_role("link", name=f"Legitimera med {LABEL}").click()
    idp_login(other, "johan")
    alert = other.get_by_role("alert")
    expect(alert).to_contain_text("Du legitimerade dig som en annan person")
    expect(alert).to_contain_text(f"Bara {GUARDIAN_1} kan skriva under här")
    expect(submit_button(other)).to_have_count(0)
    other.screenshot(path=str(tmp_path / "eid-refused-390.png"), full_page=True)
    assert _fits(other), "the refusal page scrolls sideways at 390 px"

    # Maria, on her phone, identifies and signs
    signer = phone()
    signer.goto(link)
    signer.get_by_role("link", name=f"Legitimera med {LABEL}").click()
    idp_login(signer, "maria")
    expect(signer.locator(".eid-identified")).to_contain_text(f"som {GUARDIAN_1}")
    expect(signer.get_by_role("heading", name="Skriv under")).to_be_visible()
    signer.screenshot(path=str(tmp_path / "eid-identified-390.png"), full_page=True)
    assert _fits(signer), "the signing page scrolls sideways at 390 px"
    for statement in STATEMENTS:
        signer.get_by_label(re.compile(statement)).check()
    signer.get_by_label("Ditt namn").fill(GUARDIAN_1)
    submit_button(signer).click()
    receipt = signer.locator("section.receipt")
    expect(receipt).to_contain_text(f"{GUARDIAN_1} skrev under som Vårdnadshavare 1")

    req = next(r for r in signing.requests(consent) if r.slot == "guardian1")
    db.session.refresh(req)
    assert req.status == "signed" and req.eid and req.eid["personal_number"] == "198001011231"
    page.reload()
    row = page.get_by_role("row").filter(has_text="Vårdnadshavare 1")
    expect(row).to_contain_text("signerad")
    expect(row).to_contain_text("ID-token inbäddad")


def _fits(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))
