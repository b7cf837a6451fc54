"""The half-year report page on a laptop and a phone: readable, nothing sticks out; screenshots.

The screenshots (build/screenshots/statistics-desktop.png, statistics-phone.png) are for a
person to look at: every district and the city in each table, the definitions, hidden cells.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_screen_sizes import OVERFLOW_JS
from tests.city_report_data import HALF_YEAR, VUXNA, generate
from tests.conftest import PASSWORD, World

pytestmark = [pytest.mark.browser]

SHOTS = Path("build/screenshots")
URL = f"/statistics/?from={HALF_YEAR[0]}&to={HALF_YEAR[1]}&group={VUXNA}"


def _login(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Användarnamn").fill("analyst")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()


def test_the_half_year_report_reads_on_a_laptop_and_a_phone(
    app: Flask, world: World, browser: Browser, live_server: str
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # the data set's form posts come from the test client
    generate(app, world)
    app.config["WTF_CSRF_ENABLED"] = True
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, width, height in (("desktop", 1280, 900), ("phone", 390, 844)):
        context = browser.new_context(
            base_url=live_server, viewport={"width": width, "height": height}, locale="sv-SE"
        )
        page = context.new_page()
        _login(page)
        page.goto(URL)
        table = page.get_by_role("table", name="Nya inskrivna under perioden, per kön")
        expect(table).to_be_visible()
        expect(table.get_by_role("rowheader", name="Hela staden")).to_be_visible()
        expect(table.locator("th[scope=col]")).to_have_count(6)
        expect(page.get_by_role("region", name="Utskrivna under perioden, per kön")).to_be_visible()
        expect(page.get_by_text("Så räknas siffrorna")).to_be_visible()
        fits = page.evaluate(OVERFLOW_JS)
        assert fits["scroll"] <= width, fits  # wide tables scroll in their own region
        page.screenshot(path=str(SHOTS / f"statistics-{name}.png"), full_page=True)
        context.close()
    assert (SHOTS / "statistics-phone.png").stat().st_size > 20_000
