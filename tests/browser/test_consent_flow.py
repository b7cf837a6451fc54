"""A caseworker registers a participant, fills a consent, edits it and downloads its PDF."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD, World
from tests.helpers import pdf_text


def test_caseworker_fills_consent_and_downloads_pdf(
    page: Page, world: World, tmp_path: Path
) -> None:
    page.goto("/login")
    page.get_by_label("Användarnamn").fill("caseworker")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")

    page.get_by_role("link", name="Registrera en ny deltagare").click()
    page.get_by_label("Förnamn").fill("Nora")
    page.get_by_label("Efternamn").fill("Al-Amin & Söner")
    page.get_by_label("Personnummer eller samordningsnummer").fill("20100315-1237")
    page.get_by_text("SIG unga (12–20 år)").click()
    page.get_by_role("button", name="Spara").click()
    # a wrong check digit is refused with a Swedish message, and what was typed stays
    expect(page.get_by_text("Numret är inte giltigt")).to_be_visible()
    expect(page.get_by_label("Förnamn")).to_have_value("Nora")
    page.get_by_label("Personnummer eller samordningsnummer").fill("20100315-1238")
    page.get_by_role("button", name="Spara").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nora Al-Amin & Söner")

    page.get_by_role("link", name="Sekretessbrytande medgivande").click()
    page.get_by_label("Gäller från").fill("2026-12-01")
    page.get_by_label("Gäller till och med").fill("2027-12-15")
    page.get_by_label("Kontaktperson hos Polismyndigheten").fill("Kommunpolis Kista")
    page.locator("select[name='actors-0-actor']").select_option(label="Frivården")
    page.locator("input[name='actors-0-contact']").fill("Frivården Solna")
    page.get_by_role("button", name="Lägg till aktör").click()
    page.locator("select[name='actors-1-actor']").select_option(label="Skola/elevhälsa")
    page.locator("input[name='actors-1-contact']").fill("Elevhälsan Kista")
    page.get_by_label("Skolgång och skolnärvaro").check()
    page.get_by_label("Boende").check()
    page.get_by_label("Vårdnad", exact=True).select_option("joint")
    page.get_by_label("Vårdnadshavare 1 – namn").fill("Samira Al-Amin")
    page.get_by_label("Vårdnadshavare 2 – namn").fill("Karim Al-Amin")
    page.get_by_role("button", name="Spara utkast").click()

    # over 12 months: a clear error, and everything typed is still there
    expect(page.get_by_text("Medgivandet får gälla i högst 12 månader")).to_be_visible()
    expect(page.locator("input[name='actors-1-contact']")).to_have_value("Elevhälsan Kista")
    page.get_by_label("Gäller till och med").fill("2027-11-30")
    page.get_by_role("button", name="Spara utkast").click()
    expect(page.get_by_text("Utkastet är sparat.")).to_be_visible()

    page.get_by_role("link", name="Ändra").click()
    page.get_by_label("Kontaktperson hos Polismyndigheten").fill("Kommunpolis Kista, Eva Ek")
    page.get_by_role("button", name="Spara utkast").click()
    expect(page.get_by_text("version 2")).to_be_visible()
    page.screenshot(path=str(tmp_path / "document.png"), full_page=True)
    Path("/tmp/formsvc-shot.png").write_bytes((tmp_path / "document.png").read_bytes())

    with page.expect_download() as info:
        page.get_by_role("link", name="Ladda ner PDF").click()
    download = info.value
    assert download.suggested_filename.endswith("-v2.pdf")
    text = pdf_text(Path(download.path()).read_bytes())
    for expected in (
        "Nora Al-Amin & Söner",
        "20100315-1238",
        "Polismyndigheten",
        "Kommunpolis Kista, Eva Ek",
        "Frivården Solna",
        "Elevhälsan Kista",
        "Samira Al-Amin",
        "Karim Al-Amin",
        "2027-11-30",
    ):
        assert expected in text, expected
