"""Signing in a real browser: in person on a tablet, and through a personal link by e-mail.

Real LibreOffice freezes and finalises the consent, real SMTP (aiosmtpd) carries the link and
the one-time code, and CSRF is on. axe-core checks the signer-facing pages.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Route, expect

from formsvc.models import Document
from tests.conftest import PASSWORD, World
from tests.helpers import pdf_text
from tests.smtp import SmtpServer
from tests.views.test_signing import starting_today

pytestmark = [pytest.mark.browser, pytest.mark.converter]

TABLET = {"width": 768, "height": 1024}
#: Sending and the last signature each run LibreOffice (a cold start the first time).
CONVERSION_MS = 120_000
#: what each signer ticks (guardians in their own words; the sample names a club without secrecy)
STATEMENTS = (
    "Jag (lämnar mitt medgivande|är vårdnadshavare till)",
    "Jag har fått veta att medgivandet är frivilligt",
    "inte har sekretess enligt offentlighets",
)
PARTICIPANT, GUARDIAN_1, GUARDIAN_2 = "Åsa Öberg", "Maria Öberg", "Johan Öberg"
GUARDIAN_MAIL = "maria.oberg@example.se"
#: axe-core's browser build (MPL-2.0, npm `axe-core`, tested with 4.14.1): vendored beside the
#: tests, or wherever FORMSVC_AXE_JS points.
AXE_JS = Path(
    os.environ.get("FORMSVC_AXE_JS", Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js")
)
#: A same-origin address the test serves axe from, so the app's CSP (script-src 'self') stays on.
AXE_URL = "/__axe-core.js"

NewPage = Callable[..., Page]


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


@pytest.fixture
def consent(app: Flask, world: World, consent_doc: Document) -> Document:
    """A consent draft for a 16-year-old with joint custody, in force from today."""
    return starting_today(app, world, consent_doc)


@pytest.fixture
def new_page(browser: Browser, live_server: str) -> Iterator[NewPage]:
    """Open a page in a fresh browser context (own cookies: nobody is logged in)."""
    contexts = []

    def open_page(**options: Any) -> Page:
        context = browser.new_context(
            base_url=live_server, accept_downloads=True, locale="sv-SE", **options
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def log_in(page: Page, username: str = "caseworker") -> None:
    page.goto("/login")
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")


def send_for_signing(page: Page, doc: Document) -> None:
    page.goto(f"/documents/{doc.id}")
    page.get_by_role("button", name="Skicka för underskrift").click()
    expect(page.get_by_text("Dokumentet är låst och skickat för underskrift.")).to_be_visible(
        timeout=CONVERSION_MS
    )


def open_in_person(page: Page, role: str) -> None:
    row = page.get_by_role("row").filter(has_text=role)
    row.get_by_role("link", name="Signera på plats").click()
    expect(page.get_by_text("Du skriver under som")).to_be_visible()
    expect(page.locator("dl.facts").first).to_contain_text(role)


def leave_locked_view(page: Page) -> None:
    """The caseworker takes the tablet back: out of the locked view with their password."""
    page.get_by_role("link", name="Lämna underskriftsläget (för handläggaren)").click()
    expect(page.get_by_role("heading", name="Enheten är låst")).to_be_visible()
    page.get_by_label("Ditt lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Lås upp").click()
    expect(page.get_by_text("Underskriftsläget är avslutat.")).to_be_visible()


def submit_button(page: Page) -> Any:
    return page.get_by_role("button", name="Skriv under", exact=True)


def draw_signature(page: Page) -> None:
    """Draw a zigzag with the mouse, as a finger or pen would on the pad."""
    canvas = page.get_by_role("img", name="Yta för namnteckning")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    x0, y = box["x"] + 30, box["y"] + box["height"] / 2
    page.mouse.move(x0, y)
    page.mouse.down()
    for i in range(1, 9):
        page.mouse.move(x0 + i * 40, y + (40 if i % 2 else -40), steps=6)
    page.mouse.up()


def tab_to(page: Page, target: Any, most: int = 60) -> None:
    """Press Tab until *target* has the focus, as a keyboard user would."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{target} cannot be reached with Tab")


def mail_to(smtp: SmtpServer, address: str, subject: str) -> str:
    """The plain-text body of the first mail to *address* with *subject*."""
    message: EmailMessage = smtp.wait_for(lambda m: m["To"] == address and m["Subject"] == subject)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def image_count(pdf: bytes, tmp_path: Path, name: str) -> int:
    """How many images `pdfimages -list` finds (two header lines, then one line each)."""
    path = tmp_path / name
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdfimages", "-list", str(path)], capture_output=True, check=True, timeout=60
    ).stdout.decode()
    return len(out.splitlines()[2:])


def test_three_signers_sign_in_person_on_a_tablet_and_the_sealed_pdf_has_them(
    new_page: NewPage, consent: Document, tmp_path: Path
) -> None:
    page = new_page(viewport=TABLET, device_scale_factor=2)
    log_in(page)
    send_for_signing(page, consent)

    # the participant ticks, types and draws
    open_in_person(page, "Deltagare")
    expect(page.get_by_role("navigation", name="Huvudmeny")).to_have_count(0)
    expect(page.get_by_role("link", name="Logga ut")).to_have_count(0)
    expect(page.get_by_text("Vittne")).to_be_visible()
    expect(page.get_by_role("img", name="Yta för namnteckning")).to_be_visible()
    # nothing sticks out sideways at tablet width
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    page.screenshot(path=str(tmp_path / "locked-view.png"), full_page=True)
    for statement in STATEMENTS:
        page.get_by_label(re.compile(statement)).check()
    page.get_by_label("Ditt namn").fill(PARTICIPANT)
    draw_signature(page)
    expect(page.locator("input[name='s-signature_png']")).to_have_value(
        re.compile(r"^data:image/png;base64,")
    )
    submit_button(page).click()
    expect(page.get_by_role("heading", name="Tack!")).to_be_visible()
    expect(page.get_by_text("Underskriften från Deltagare är registrerad")).to_be_visible()
    leave_locked_view(page)

    # guardian 1 only types: the typed name is the signature
    open_in_person(page, "Vårdnadshavare 1")
    for statement in STATEMENTS:
        page.get_by_label(re.compile(statement)).check()
    page.get_by_label("Ditt namn").fill(GUARDIAN_1)
    submit_button(page).click()
    expect(page.get_by_role("heading", name="Tack!")).to_be_visible()
    leave_locked_view(page)

    # guardian 2 uses only the keyboard
    open_in_person(page, "Vårdnadshavare 2")
    for statement in STATEMENTS:
        box = page.get_by_label(re.compile(statement))
        tab_to(page, box)
        page.keyboard.press("Space")
        expect(box).to_be_checked()
    name = page.get_by_label("Ditt namn")
    tab_to(page, name)
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(GUARDIAN_2)
    expect(name).to_have_value(GUARDIAN_2)
    tab_to(page, submit_button(page))
    page.keyboard.press("Enter")
    # the last signature finalises: LibreOffice renders, the evidence page is added, one seal
    expect(page.get_by_role("heading", name="Tack!")).to_be_visible(timeout=CONVERSION_MS)
    expect(page.get_by_text("Dokumentet är förseglat och arkiverat")).to_be_visible()
    leave_locked_view(page)

    rows = page.locator("section.signatures tbody tr")
    expect(rows).to_have_count(3)
    for row, signer in zip(rows.all(), (PARTICIPANT, GUARDIAN_1, GUARDIAN_2), strict=True):
        expect(row).to_contain_text(signer)
        expect(row).to_contain_text("signerad")
        expect(row).to_contain_text("På plats")
    with page.expect_download() as info:
        page.get_by_role("link", name="Ladda ner signerad PDF").click()
    sealed = Path(info.value.path()).read_bytes()
    text = pdf_text(sealed)
    for expected in ("Underskriftsbevis", PARTICIPANT, GUARDIAN_1, GUARDIAN_2):
        assert expected in text, expected
    frozen = page.request.get(f"/documents/{consent.id}/frozen.pdf")
    assert frozen.ok
    # the drawn signature is an image the PDF the signers read did not have
    assert image_count(sealed, tmp_path, "sealed.pdf") >= 1
    assert image_count(sealed, tmp_path, "sealed.pdf") > image_count(
        frozen.body(), tmp_path, "frozen.pdf"
    )


def send_link(page: Page, doc: Document, role: str, address: str) -> None:
    page.goto(f"/documents/{doc.id}")
    row = page.get_by_role("row").filter(has_text=role)
    row.get_by_label("E-post för personlig länk").fill(address)
    row.get_by_role("button", name="Skicka länk").click()
    expect(page.get_by_text(f"Länken är skickad till {address}.")).to_be_visible()


def open_link_with_code(signer: Page, smtp: SmtpServer, link: str) -> None:
    """Open a personal link, ask for a code, read it from the mail and enter it."""
    signer.goto(link)
    expect(signer.get_by_text("Vi skickar den till m***@example.se")).to_be_visible()
    signer.get_by_role("button", name="Skicka kod till min e-post").click()
    expect(signer.get_by_text("En kod är skickad till din e-post.")).to_be_visible()
    found = re.search(r"\b(\d{6})\b", mail_to(smtp, GUARDIAN_MAIL, "Din engångskod"))
    assert found, "no six-digit code in the mail"
    signer.get_by_label("Engångskod").fill(found.group(1))
    signer.get_by_role("button", name="Fortsätt").click()


def test_a_guardian_signs_through_a_personal_link_and_then_sees_only_the_receipt(
    page: Page,
    new_page: NewPage,
    consent: Document,
    smtp_server: SmtpServer,
    live_server: str,
) -> None:
    log_in(page)
    send_for_signing(page, consent)
    send_link(page, consent, "Vårdnadshavare 1", GUARDIAN_MAIL)
    body = mail_to(smtp_server, GUARDIAN_MAIL, "Dokument att skriva under")
    found = re.search(re.escape(live_server) + r"/s/\S+", body)
    assert found, body
    link = found.group(0)

    signer = new_page()
    open_link_with_code(signer, smtp_server, link)
    expect(signer.get_by_role("heading", name="Skriv under")).to_be_visible()
    expect(signer.get_by_role("navigation", name="Huvudmeny")).to_have_count(0)
    # the PDF behind "Läs dokumentet" is the one the caseworker froze
    pdf_link = signer.get_by_role("link", name="Läs dokumentet (PDF)")
    read = signer.request.get(str(pdf_link.get_attribute("href")))
    assert read.ok and read.headers["content-type"] == "application/pdf"
    assert "Åsa Öberg" in pdf_text(read.body())
    for statement in STATEMENTS:
        signer.get_by_label(re.compile(statement)).check()
    signer.get_by_label("Ditt namn").fill(GUARDIAN_1)
    submit_button(signer).click()

    receipt = signer.locator("section.receipt")
    expect(receipt).to_contain_text(f"{GUARDIAN_1} skrev under som Vårdnadshavare 1")
    expect(receipt).to_contain_text("Alla har inte skrivit under ännu")
    signer.reload()
    expect(receipt).to_contain_text(f"{GUARDIAN_1} skrev under som Vårdnadshavare 1")
    expect(submit_button(signer)).to_have_count(0)
    expect(signer.get_by_label("Ditt namn")).to_have_count(0)

    # the caseworker sees how and by whom
    page.reload()
    row = page.get_by_role("row").filter(has_text="Vårdnadshavare 1")
    expect(row).to_contain_text("signerad")
    expect(row).to_contain_text("Personlig länk")
    expect(row).to_contain_text(GUARDIAN_MAIL)


# --------------------------------------------------------------------------- accessibility


@pytest.fixture
def axe_source() -> str:
    if not AXE_JS.is_file():
        pytest.fail(
            f"axe-core not found at {AXE_JS}: `cd /tmp && npm pack axe-core@4.14.1`, unpack it "
            "and copy package/axe.min.js there, or point FORMSVC_AXE_JS at it"
        )
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page: Page, source: str) -> list[dict[str, Any]]:
    """axe-core's violations (its default rules: WCAG 2.x A/AA and best practice) on *page*."""

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript", body=source)

    page.route(f"**{AXE_URL}", serve)
    page.add_script_tag(url=AXE_URL)
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document);
            return {violations: r.violations, passes: r.passes.length};
        }"""
    )
    # an empty list must mean "checked and fine", not "axe looked at nothing"
    assert result["passes"] > 10, result
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"]],
        }
        for v in result["violations"]
    ]


def test_the_signer_pages_have_no_serious_accessibility_violations(
    page: Page,
    new_page: NewPage,
    consent: Document,
    smtp_server: SmtpServer,
    live_server: str,
    axe_source: str,
    tmp_path: Path,
) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    tablet = new_page(viewport=TABLET)
    log_in(tablet)
    send_for_signing(tablet, consent)
    open_in_person(tablet, "Deltagare")
    found["locked view"] = axe_violations(tablet, axe_source)
    tablet.goto("/unlock")
    found["unlock page"] = axe_violations(tablet, axe_source)

    log_in(page)
    send_link(page, consent, "Vårdnadshavare 1", GUARDIAN_MAIL)
    body = mail_to(smtp_server, GUARDIAN_MAIL, "Dokument att skriva under")
    link = re.search(re.escape(live_server) + r"/s/\S+", body)
    assert link, body
    signer = new_page()
    signer.goto(link.group(0))
    found["link page, before the code"] = axe_violations(signer, axe_source)
    open_link_with_code(signer, smtp_server, link.group(0))
    expect(signer.get_by_role("heading", name="Skriv under")).to_be_visible()
    found["link page, sign form"] = axe_violations(signer, axe_source)

    (tmp_path / "axe.json").write_text(json.dumps(found, ensure_ascii=False, indent=2))
    serious = {
        where: [v for v in violations if v["impact"] in ("serious", "critical")]
        for where, violations in found.items()
    }
    assert not any(serious.values()), json.dumps(serious, ensure_ascii=False, indent=2)
