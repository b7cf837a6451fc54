"""The locked in-person view in a real browser (issue 10, defect 3): after signing, neither the
back button nor a typed address reaches a staff page; only the caseworker's password opens it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from formsvc.models import Document
from tests.browser import test_signing_flow as flow
from tests.conftest import PASSWORD, World

pytestmark = [pytest.mark.browser, pytest.mark.converter]

consent = flow.consent  # the fixture: a consent draft in force from today
new_page = flow.new_page  # the fixture: a page in its own browser context


def expect_locked(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/unlock$"))
    expect(page.get_by_role("heading", name="Enheten är låst")).to_be_visible()
    expect(page.get_by_role("navigation", name="Huvudmeny")).to_have_count(0)
    assert "Öberg" not in page.content()  # nothing of the participant's record


def test_back_button_and_typed_addresses_after_signing_reach_only_the_unlock_page(
    new_page: flow.NewPage, consent: Document, world: World
) -> None:
    page = new_page(viewport=flow.TABLET)
    flow.log_in(page)
    flow.send_for_signing(page, consent)
    flow.open_in_person(page, "Deltagare")
    for statement in flow.STATEMENTS:
        page.get_by_label(re.compile(statement)).check()
    page.get_by_label("Ditt namn").fill(flow.PARTICIPANT)
    flow.submit_button(page).click()
    expect(page.get_by_role("heading", name="Tack!")).to_be_visible()
    expect(page.get_by_role("link", name="Till dokumentet (för handläggaren)")).to_have_count(0)

    # back: the signing page shows the thank-you, one step further is the staff page: refused
    page.go_back()
    expect(page.get_by_role("heading", name="Tack!")).to_be_visible()
    page.go_back()
    expect_locked(page)
    # typed addresses, a bookmark of the start page, another participant, the document list
    for path in (
        "/",
        "/participants/",
        f"/participants/{world.participant.id}",
        f"/documents/{consent.id}",
        "/documents/",
        "/login",
    ):
        page.goto(path)
        expect_locked(page)

    # a guess at the password keeps the lock and says so
    page.get_by_label("Ditt lösenord").fill("gissning")
    page.get_by_role("button", name="Lås upp").click()
    expect(page.get_by_text("Fel lösenord. Enheten är fortfarande låst")).to_be_visible()
    page.goto("/participants/")
    expect_locked(page)

    # the caseworker's password opens the session again, on the document
    page.get_by_label("Ditt lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Lås upp").click()
    expect(page.get_by_text("Underskriftsläget är avslutat.")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/documents/{consent.id}$"))
    page.goto("/participants/")
    expect(page.get_by_role("link", name=re.compile("Öberg"))).to_be_visible()
