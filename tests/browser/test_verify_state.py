"""/verify in a real browser: a partly withdrawn consent reads as such at phone and desktop width;
each of the four answers is a heading with a named icon on a phone.

Screenshots go to $FORMSVC_SCREENSHOT_DIR (or the test's tmp dir) to be looked at.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect

from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services import signing
from tests import factories, final_pdf, hostile
from tests.conftest import Auth, World
from tests.views.test_signing import send, sign_all_in_person, starting_today


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    # the document is prepared through the test client; the browser only uses /verify
    return {**config, "WTF_CSRF_ENABLED": False}


@pytest.mark.parametrize(("width", "height"), [(375, 812), (1280, 900)])
def test_verify_shows_a_partly_withdrawn_consent_in_words_and_with_an_icon(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    world: World,
    consent_doc: Document,
    page: Page,
    tmp_path: Path,
    width: int,
    height: int,
) -> None:
    auth.login("caseworker")
    send(client, starting_today(app, world, consent_doc))
    sign_all_in_person(client, app, consent_doc)
    sealed = tmp_path / "medgivande.pdf"
    sealed.write_bytes(client.get(f"/documents/{consent_doc.id}/signed.pdf").data)
    resp = client.post(
        f"/documents/{consent_doc.id}/withdraw",
        data={
            "withdrawn_on": signing.today_local().isoformat(),
            "how": "written",
            "withdrawn_by": "guardian:0",
            "extent": "part",
            "scope_actors": ["a2"],
            "scope_kinds": ["other"],
        },
    )
    assert resp.status_code == 302

    page.set_viewport_size({"width": width, "height": height})
    page.goto("/verify")
    page.get_by_label("PDF-fil").set_input_files(str(sealed))
    page.get_by_role("button", name="Kontrollera", exact=True).click()
    state = page.locator("section.state")
    expect(state).to_contain_text("Delvis återkallat")
    expect(state).to_contain_text("Fotbollsföreningen IK Kista")
    expect(state.locator("svg.state-icon")).to_be_visible()
    expect(page.locator("section.verify-result")).to_contain_text("äkta och oförändrat")
    out = Path(os.environ.get("FORMSVC_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / f"verify-partly-withdrawn-{width}.png"), full_page=True)
    # nothing overflows sideways on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize(
    ("kind", "icon", "heading"),
    [
        ("intact", "Godkänt", "Dokumentet är äkta och oförändrat"),
        ("changed", "Ändrat", "Dokumentet har ändrats efter att vi förseglade det"),
        ("unsealed", "Inte vårt sigill", "Dokumentet är inte förseglat av Stockholms stad"),
        ("not-a-pdf", "Ingen PDF", "Filen är inte en PDF eller kan inte läsas"),
    ],
)
def test_each_answer_is_a_heading_with_an_icon_a_screen_reader_can_name(
    app: Flask,
    world: World,
    consent_doc: Document,
    page: Page,
    tmp_path: Path,
    kind: str,
    icon: str,
    heading: str,
) -> None:
    doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    sealed = runtime(app).store.get(doc.sealed_pdf_sha256)
    data = {
        "intact": sealed,
        "changed": final_pdf.update_after_seal(sealed),
        "unsealed": hostile.plain_pdf(),
        "not-a-pdf": b"GIF89a" + bytes(200),
    }[kind]
    upload = tmp_path / "dok.pdf"
    upload.write_bytes(data)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/verify")
    page.get_by_label("PDF-fil").set_input_files(str(upload))
    page.get_by_role("button", name="Kontrollera", exact=True).click()
    answer = page.get_by_role("heading", level=2, name=heading)
    expect(answer).to_be_visible()
    # the icon is an image with a name, inside the heading: colour and shape only repeat it
    expect(answer.get_by_role("img", name=icon, exact=True)).to_be_visible()
    out = Path(os.environ.get("FORMSVC_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / f"verify-{kind}-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
