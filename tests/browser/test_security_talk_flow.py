"""A security talk (bilaga 2.0) in a real browser: from overdue to done.

A manager holds the talk with an employee, both sign as themselves (password re-entered), real
LibreOffice freezes and finalises it, and the security officer sees the employee's row change
from "Försenat" to "Klart" and can download the sealed PDF, without seeing any client data.
CSRF is on.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from formsvc.models import Document
from formsvc.services.signing import today_local
from tests.conftest import PASSWORD, World
from tests.helpers import pdf_text

pytestmark = [pytest.mark.browser, pytest.mark.converter]

#: Sending and the last signature each run LibreOffice (a cold start the first time).
CONVERSION_MS = 120_000
EMPLOYEE, MANAGER = "Test caseworker", "Test manager"
RISK_COMMENT = "Hotad i receptionen i oktober"
MEASURE = "Besök i hemmet görs alltid två och två"
#: The home district's participant (World) and the consent draft about her: client data that
#: must never reach the security function's pages.
CLIENT_DATA = ("Åsa", "Öberg", "Farstasson")


def log_in(page: Page, username: str) -> None:
    """Log in through the login form and land on the start page."""
    page.goto("/login")
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")


def log_out(page: Page) -> None:
    """Log out with the button in the main menu."""
    page.get_by_role("button", name=re.compile(r"^Logga ut")).click()
    expect(page.get_by_role("button", name="Logga in")).to_be_visible()


def talk_row(page: Page, region: str, employee: str) -> Locator:
    """The compliance table's row for *employee* in the start page section named *region*."""
    section = page.get_by_role("region", name=region)
    return section.get_by_role("row").filter(has=page.get_by_role("cell", name=employee))


def sign_as_myself(page: Page, role: str, name: str) -> None:
    """Open the staff signing page of *role*'s row, type the name, re-enter the password, sign."""
    row = page.locator("section.signatures").get_by_role("row").filter(has_text=role)
    row.get_by_role("link", name="Signera", exact=True).click()
    expect(page.locator("dl.facts").first).to_contain_text(f"{role} – {name}")
    page.get_by_label("Ditt namn").fill(name)
    page.get_by_label("Ditt lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Skriv under", exact=True).click()


def fill_talk(page: Page, today: date) -> None:
    """Fill the 2.0 form as a manager would: dates, a risk, every checklist item, one measure."""
    page.get_by_label("Datum för samtalet").fill(today.isoformat())
    page.get_by_label("Arbetsledare", exact=True).fill(MANAGER)
    page.get_by_label("Har tidigare utsatts för hot eller våld").check()
    page.get_by_label("Kommentar om riskfaktorerna").fill(RISK_COMMENT)
    # checklists 2.1 and 2.2: one radio group per item, all answered
    groups = page.locator("table.checklist fieldset.inline-choices")
    count = groups.count()
    assert count >= 2, "the checklists 2.1 and 2.2 have no items"
    for i in range(count):
        answer = "Nej" if i == 0 else "Ja"
        groups.nth(i).get_by_label(answer, exact=True).check()
    page.locator("input[name='measures-0-measure']").fill(MEASURE)
    page.locator("input[name='measures-0-responsible']").fill(MANAGER)
    page.get_by_label("Nästa säkerhetssamtal senast").fill(
        (today + timedelta(days=180)).isoformat()
    )


def test_a_security_talk_signed_by_manager_and_employee_turns_overdue_into_done(
    page: Page, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    # fixed once: the talk date typed and the date the security officer sees are the same
    today = today_local()
    officer_region = "Proaktiva säkerhetssamtal: vem är försenad?"

    # 1. the security officer: the employee has never had a talk
    log_in(page, "security_officer")
    row = talk_row(page, officer_region, EMPLOYEE)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("aldrig")
    expect(row).to_contain_text("Försenat")
    expect(page.get_by_role("region", name="Signerade säkerhetssamtal")).to_contain_text(
        "Inga ännu."
    )
    log_out(page)

    # 2. the manager sees the same, holds the talk and signs
    log_in(page, "manager")
    row = talk_row(page, "Proaktiva säkerhetssamtal i stadsdelen", EMPLOYEE)
    expect(row).to_contain_text("aldrig")
    expect(row).to_contain_text("Försenat")
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Personal").click()
    expect(page).to_have_url(re.compile(r"/staff/$"))
    person = page.get_by_role("row").filter(has_text=EMPLOYEE)
    person.get_by_role("link", name="Proaktivt säkerhetssamtal").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Proaktivt säkerhetssamtal")
    fill_talk(page, today)
    page.get_by_role("button", name="Spara utkast").click()
    expect(page.get_by_text("Utkastet är sparat.")).to_be_visible()
    expect(page.locator("dl.facts").first).to_contain_text(EMPLOYEE)
    found = re.search(r"/documents/(\d+)$", page.url)
    assert found, page.url
    doc_url = found.group(0)

    page.get_by_role("button", name="Skicka för underskrift").click()
    expect(page.get_by_text("Dokumentet är låst och skickat för underskrift.")).to_be_visible(
        timeout=CONVERSION_MS
    )
    # the employee's place is the employee's own: the manager cannot sign it
    employee_row = (
        page.locator("section.signatures").get_by_role("row").filter(has_text="Medarbetare")
    )
    expect(employee_row).to_contain_text("Väntar på Medarbetare")
    expect(employee_row.get_by_role("link", name="Signera", exact=True)).to_have_count(0)
    sign_as_myself(page, "Arbetsledare", MANAGER)
    expect(page.get_by_role("heading", name="Tack!")).to_be_visible()
    expect(page.get_by_text("Underskriften från Arbetsledare är registrerad")).to_be_visible()
    log_out(page)

    # 3. the employee finds it waiting, signs, and the last signature seals it
    log_in(page, "caseworker")
    waiting = page.get_by_role("region", name="Väntar på underskrifter")
    waiting.get_by_role("link", name="Proaktivt säkerhetssamtal").click()
    expect(page).to_have_url(re.compile(re.escape(doc_url) + "$"))
    sign_as_myself(page, "Medarbetare", EMPLOYEE)
    expect(page.get_by_role("heading", name="Tack!")).to_be_visible(timeout=CONVERSION_MS)
    expect(page.get_by_text("Dokumentet är förseglat och arkiverat")).to_be_visible()
    page.get_by_role("link", name="Till dokumentet").click()
    expect(page.get_by_role("link", name="Ladda ner signerad PDF")).to_be_visible()
    rows = page.locator("section.signatures tbody tr")
    expect(rows).to_have_count(2)
    for r in rows.all():
        expect(r).to_contain_text("signerad")
    log_out(page)

    # 4. the security officer: done, with today's talk, and the signed PDF to download
    log_in(page, "security_officer")
    row = talk_row(page, officer_region, EMPLOYEE)
    expect(row).to_contain_text("Klart")
    expect(row).to_contain_text(today.isoformat())
    expect(row).not_to_contain_text("Försenat")
    # the manager has had no talk of their own: still overdue
    expect(talk_row(page, officer_region, MANAGER)).to_contain_text("Försenat")
    signed = page.get_by_role("region", name="Signerade säkerhetssamtal")
    link = signed.get_by_role("link", name=f"{EMPLOYEE}, {world.home.name}")
    expect(link).to_be_visible()
    body = page.locator("body").inner_text()
    for leaked in CLIENT_DATA:
        assert leaked not in body, leaked
    with page.expect_download() as info:
        link.click()
    text = pdf_text(Path(info.value.path()).read_bytes())
    for expected in ("Underskriftsbevis", EMPLOYEE, MANAGER, RISK_COMMENT, today.isoformat()):
        assert expected in text, expected

    # the full list says the same and holds no client data either
    page.get_by_role("navigation", name="Huvudmeny").get_by_role(
        "link", name="Säkerhetssamtal"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Proaktiva säkerhetssamtal")
    expect(page.get_by_role("row").filter(has_text=EMPLOYEE).first).to_contain_text("Klart")
    body = page.locator("body").inner_text()
    for leaked in CLIENT_DATA:
        assert leaked not in body, leaked
