"""Demo mode as a newcomer meets it: the accounts on the login page, then the seeded documents."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.factories import demo_seed
from tests.smtp import SmtpServer

#: Copies for a person to look at after the run.
SCREENSHOTS = Path("build/screenshots")


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings, "DEMO_MODE": True}


def test_a_newcomer_logs_in_with_a_listed_account_and_finds_documents_in_every_state(
    app: Flask, page: Page, tmp_path: Path
) -> None:
    assert demo_seed(app).problems == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.goto("/login")
    accounts = page.get_by_role("region", name="Demokonton")
    expect(accounts.get_by_role("cell", name="handlaggare", exact=True)).to_be_visible()
    expect(accounts.get_by_text(app.config["DEMO_PASSWORD"])).to_be_visible()
    accounts.get_by_text("Fler konton").click()
    expect(accounts.get_by_role("cell", name="arbetsledare.farsta", exact=True)).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "demo-login.png"), full_page=True)

    page.get_by_label("Användarnamn").fill("handlaggare")
    page.get_by_label("Lösenord").fill(app.config["DEMO_PASSWORD"])
    page.get_by_role("button", name="Logga in").click()
    page.get_by_role("link", name="Dokument", exact=True).click()
    rows = page.get_by_role("row")
    for title, state in (
        ("Sekretessbrytande medgivande", "Gäller"),
        ("Sekretessbrytande medgivande", "Väntar på underskrift"),
        ("Handlingsplan", "Utkast"),
        ("Hotbildsbedömning", "Utkast"),
        ("Proaktivt säkerhetssamtal", "Signerad"),
        ("Uppföljning", "Utkast"),
    ):
        expect(rows.filter(has_text=title).filter(has_text=state).first).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "demo-documents.png"), full_page=True)
    shutil.copy(SCREENSHOTS / "demo-documents.png", tmp_path / "demo-documents.png")
