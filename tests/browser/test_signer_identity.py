"""In a real browser: a guardian cannot sign in person under another name (issue 10, defect 1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from formsvc.models import Document
from tests.browser.test_signing_flow import (
    STATEMENTS,
    leave_locked_view,
    log_in,
    open_in_person,
    send_for_signing,
    submit_button,
)
from tests.conftest import World
from tests.views.test_signer_identity import ANNA, ANNA_PNR, WRONG, with_guardian

pytestmark = [pytest.mark.browser, pytest.mark.converter]


def tick_all(page: Page) -> None:
    for statement in STATEMENTS:
        page.get_by_label(re.compile(statement)).check()


def test_in_person_another_name_is_refused_and_her_own_name_signs_as_designated(
    app: Flask, page: Page, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    doc = with_guardian(app, world, consent_doc, ANNA, ANNA_PNR)
    log_in(page)
    send_for_signing(page, doc)
    open_in_person(page, "Vårdnadshavare 1")
    expect(page.locator("dl.facts").first).to_contain_text(ANNA)
    tick_all(page)
    name = page.get_by_label("Ditt namn")
    expect(name).to_have_value(ANNA)  # prefilled with the designated name
    name.fill(WRONG)
    submit_button(page).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Namnet stämmer inte med den som ska skriva under")
    expect(alert).to_contain_text(f"Bara {ANNA} kan skriva under här")
    expect(page.get_by_label("Ditt namn")).to_have_value(WRONG)  # kept to correct
    expect(page.get_by_role("heading", name="Tack!")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "wrong-name.png"), full_page=True)

    # her own name, typed her way, signs; the document shows the designated name
    tick_all(page)
    page.get_by_label("Ditt namn").fill("anna  LINDQVIST")
    submit_button(page).click()
    expect(page.get_by_role("heading", name="Tack!")).to_be_visible()
    leave_locked_view(page)  # the caseworker's password takes the tablet back
    row = page.locator("section.signatures tbody tr").filter(has_text="Vårdnadshavare 1")
    expect(row).to_contain_text(ANNA)
    expect(row).to_contain_text("signerad")
    expect(page.locator("section.signatures")).not_to_contain_text(WRONG)
