"""Repeatable rows in a real browser: added and removed with JavaScript, and without it."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from formsvc.extensions import db
from formsvc.models import Document
from tests.conftest import PASSWORD, World

URL = "/district/documents/new/contact_list"


def _login(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Användarnamn").fill("caseworker")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()


def _fill_row(page: Page, index: int, actor: str, person: str) -> None:
    page.locator(f"select[name='contacts-{index}-actor']").select_option(label=actor)
    page.locator(f"input[name='contacts-{index}-contact_person']").fill(person)


def test_rows_are_added_and_removed_with_javascript(page: Page, world: World) -> None:
    _login(page)
    page.goto(URL)
    rows = page.locator("table[data-rows='contacts'] tbody tr")
    expect(rows).to_have_count(1)
    _fill_row(page, 0, "Frivården", "Först Person")
    page.get_by_role("button", name="Lägg till rad").click()  # no round trip: JS adds it
    expect(rows).to_have_count(2)
    _fill_row(page, 1, "Jobbtorg", "Andra Person")
    page.get_by_role("button", name="Lägg till rad").click()
    _fill_row(page, 2, "BUP", "Tredje Person")
    rows.nth(1).get_by_role("button", name="Ta bort").click()
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Spara utkast").click()
    expect(page.get_by_text("Utkastet är sparat.")).to_be_visible()
    doc = db.session.scalars(db.select(Document)).one()
    assert [r["contact_person"] for r in doc.data["contacts"]] == ["Först Person", "Tredje Person"]


def test_rows_work_without_javascript(
    browser: Browser, live_server: str, world: World, tmp_path: Path
) -> None:
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    try:
        _login(page)
        page.goto(URL)
        _fill_row(page, 0, "Frivården", "Först Person")
        page.get_by_role("button", name="Lägg till rad").click()  # posts; the server adds a row
        expect(page.locator("table[data-rows='contacts'] tbody tr")).to_have_count(2)
        expect(page.locator("input[name='contacts-0-contact_person']")).to_have_value(
            "Först Person"
        )
        _fill_row(page, 1, "BUP", "Andra Person")
        page.get_by_role("button", name="Spara utkast").click()
        expect(page.get_by_text("Utkastet är sparat.")).to_be_visible()
    finally:
        context.close()
    doc = db.session.scalars(db.select(Document)).one()
    assert [r["contact_person"] for r in doc.data["contacts"]] == ["Först Person", "Andra Person"]
