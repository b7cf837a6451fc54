"""Every page of every role fits a phone (390 px), a tablet (820 px) and a laptop (1,280 px).

A page fits when nothing makes it scroll sideways: `document.documentElement.scrollWidth` is
at most the window's width. Each page is kept as a full-page screenshot in build/screenshots/
(<page>-<width>.png) for a person to look at. axe-core checks each page once, at 390 px, against
the WCAG 2.0/2.1 A and AA rules (all of them); its findings go to build/axe-wcag21aa.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from formsvc.models import Document, SignatureRequest
from formsvc.services import documents, participants, signing
from tests.browser.test_signing_flow import AXE_JS, AXE_URL
from tests.conftest import PASSWORD, World
from tests.factories import signed_in_person
from tests.smtp import SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.converter]

WIDTHS = {390: 844, 820: 1180, 1280: 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path("build/screenshots")
#: axe-core's findings per page (WCAG 2.0/2.1 A and AA rules), for a person to read
AXE_REPORT = Path("build/axe-wcag21aa.json")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
GUARDIAN_MAIL = "maria.oberg@example.se"

#: page name -> address, per role; "{name}" fields are filled from the seeded world
Pages = list[tuple[str, str]]

#: The widest elements sticking out on the right, for the failure message.
OVERFLOW_JS = """() => {
    const w = window.innerWidth;
    const out = [];
    for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.width && r.right > w + 1) {
            const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                + (el.className && typeof el.className === 'string'
                   ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
            out.push([Math.round(r.right), name]);
        }
    }
    out.sort((a, b) => b[0] - a[0]);
    return {scroll: document.documentElement.scrollWidth, inner: w, widest: out.slice(0, 4)};
}"""


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


class Seeded:
    """One document of every type, a consent awaiting signatures and a sealed one."""

    def __init__(self, app: Flask, world: World, live_server: str) -> None:
        registry = app.extensions["formsvc.registry"]
        store = app.extensions["formsvc.store"]
        caseworker, manager = world.users["caseworker"], world.users["manager"]
        participant = world.participant
        participants.assign(participant, caseworker, actor=manager)
        self.forms: dict[str, Pages] = {"caseworker": [], "manager": []}
        self.docs: dict[str, Document] = {}
        for slug, dtype in registry.items():
            role = next((r for r in ("caseworker", "manager") if r in dtype.editors), None)
            if role is None:  # made by another flow (a withdrawal): no form of its own
                continue
            subject = {
                "participant": {"participant": participant},
                "employee": {"employee": caseworker},
                "district": {},
            }[dtype.subject]
            doc = documents.create(
                dtype, dtype.sample(), actor=world.users[role], store=store, **subject
            )
            self.docs[slug] = doc
            new = {
                "participant": f"/participants/{participant.id}/documents/new/{slug}",
                "employee": f"/staff/{caseworker.id}/documents/new/{slug}",
                "district": f"/district/documents/new/{slug}",
            }[dtype.subject]
            self.forms[role] += [
                (f"{slug}-new", new),
                (f"{slug}-edit", f"/documents/{doc.id}/edit"),
            ]

        today = signing.today_local()
        period = {
            "period_from": today.isoformat(),
            "period_to": (today + timedelta(days=180)).isoformat(),
        }
        consent = self.docs["consent"]
        consent_type = registry["consent"]
        documents.update(
            consent, {**consent.data, **period}, actor=caseworker, store=store, dtype=consent_type
        )
        # the participant has signed in person; both guardians are still to sign
        signed_in_person(app, consent, caseworker, seal=False, leave_open=2)
        self.awaiting = consent
        reqs = signing.requests(consent)
        self.open_request: SignatureRequest = reqs[-1]
        tokens: list[str] = []

        def link_for(token: str) -> str:
            tokens.append(token)
            return f"{live_server}/s/{token}"

        signing.issue_link(
            reqs[1], GUARDIAN_MAIL, settings=app.config, link_for=link_for, actor=caseworker
        )
        self.link = f"/s/{tokens[-1]}"

        sealed = documents.create(
            consent_type,
            {**consent_type.sample(), **period},
            actor=caseworker,
            participant=participant,
            store=store,
        )
        signed_in_person(app, sealed, caseworker)
        self.sealed = sealed


def fits(page: Page, name: str, width: int) -> str | None:
    """None when *page* does not scroll sideways; else what sticks out. Saves a screenshot."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    found = page.evaluate(OVERFLOW_JS)
    if found["scroll"] <= found["inner"]:
        return None
    return f"{name} at {width} px: {found['scroll']} px wide; widest: {found['widest']}"


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on *page*, each with the elements it names."""
    page.add_script_tag(url=AXE_URL)
    result = page.evaluate(
        "async tags => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
        " return {violations: r.violations, passes: r.passes.length}; }",
        AXE_TAGS,
    )
    assert result["passes"] > 5, result  # axe looked at something
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]


def log_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Välkommen")


@pytest.fixture
def context(browser: Browser, live_server: str) -> Iterator[Any]:
    """Fresh browser contexts (own cookies) on the live server, closed at the end."""
    made: list[BrowserContext] = []

    source = AXE_JS.read_text(encoding="utf-8")

    def make() -> Page:
        made.append(browser.new_context(base_url=live_server, locale="sv-SE"))
        # axe is served from the app's own origin, so its CSP (script-src 'self') stays on
        made[-1].route(
            f"**{AXE_URL}",
            lambda route: route.fulfill(content_type="text/javascript", body=source),
        )
        page = made[-1].new_page()
        page.set_default_timeout(30_000)
        return page

    yield make
    for c in made:
        c.close()


def pages_of(seeded: Seeded, world: World) -> dict[str, Pages]:
    """What each role opens (besides the signing views, which change the session)."""
    pid, uid = world.participant.id, world.users["caseworker"].id
    staff_pages = [
        ("documents", "/documents/"),
        ("staff", "/staff/"),
        ("password", "/account/password"),
    ]
    return {
        "caseworker": [
            ("home", "/"),
            ("participants", "/participants/"),
            ("participant-new", "/participants/new"),
            ("participant", f"/participants/{pid}"),
            ("participant-edit", f"/participants/{pid}/edit"),
            *staff_pages,
            ("procurement", "/guidance/procurement"),
            ("document-awaiting", f"/documents/{seeded.awaiting.id}"),
            ("document-sealed", f"/documents/{seeded.sealed.id}"),
            ("paper", f"/documents/{seeded.awaiting.id}/paper"),
            ("withdraw", f"/documents/{seeded.sealed.id}/withdraw"),
            ("error-404", "/documents/999999"),
            *seeded.forms["caseworker"],
        ],
        "manager": [
            ("home", "/"),
            ("participants", "/participants/"),
            *staff_pages,
            ("audit", "/audit/"),
            ("statistics", "/statistics/"),
            ("threat-assessment", f"/documents/{seeded.docs['threat_assessment'].id}"),
            ("decide", f"/documents/{seeded.docs['threat_assessment'].id}/decide"),
            ("security-talk", f"/documents/{seeded.docs['security_talk'].id}"),
            ("error-403", f"/participants/{world.foreign.id}"),
            *seeded.forms["manager"],
        ],
        "security_officer": [("home", "/"), ("security", "/security/"), *staff_pages[2:]],
        "analyst": [("home", "/"), ("statistics", "/statistics/"), *staff_pages[2:]],
        "admin": [
            ("home", "/"),
            ("users", "/admin/users"),
            ("user-new", "/admin/users/new"),
            ("user", f"/admin/users/{uid}"),
            ("districts", "/admin/districts"),
            ("district", f"/admin/districts/{world.home.id}"),
            ("checklists", "/admin/checklists"),
            ("templates", "/admin/templates"),
            ("seal", "/admin/seal"),
            ("admin-audit", "/admin/audit"),
            *staff_pages[2:],
        ],
        "anonymous": [
            ("login", "/login"),
            ("verify", "/verify"),
            ("link-before-code", seeded.link),
            ("link-gone", "/s/not-a-link"),
            ("error-404-public", "/no-such-page"),
        ],
    }


def test_every_page_of_every_role_fits_a_phone_a_tablet_and_a_laptop(
    app: Flask, world: World, live_server: str, context: Any, smtp_server: SmtpServer
) -> None:
    seeded = Seeded(app, world, live_server)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    axe: dict[str, list[dict[str, Any]]] = {}

    def visit(page: Page, role: str, pages: Pages) -> None:
        for name, url in pages:
            page.set_viewport_size(PHONE)
            response = page.goto(url)  # loaded on the phone, then the window widens
            assert response is not None, url
            axe[f"{role}-{name}"] = axe_violations(page)  # once, on the phone
            for width, height in WIDTHS.items():
                page.set_viewport_size({"width": width, "height": height})
                problems.append(fits(page, f"{role}-{name}", width) or "")

    for role, pages in pages_of(seeded, world).items():
        page = context()
        if role != "anonymous":
            log_in(page, role)
            # every page the menu offers is among those checked
            offered = {
                str(a.get_attribute("href")).split("?")[0]
                for a in page.get_by_role("navigation", name="Huvudmeny").get_by_role("link").all()
            }
            missing = offered - {url for _, url in pages} - {"/verify", "/lang/en"}
            assert not missing, f"{role}: the menu offers {missing}, which this test does not visit"
        visit(page, role, pages)

    # /verify with a result: the sealed consent, as its holder would upload it
    caseworker = context()
    log_in(caseworker, "caseworker")
    sealed_pdf = caseworker.request.get(f"/documents/{seeded.sealed.id}/signed.pdf")
    assert sealed_pdf.ok
    public = context()
    public.goto("/verify")
    public.get_by_label(re.compile("PDF")).set_input_files(
        {"name": "medgivande.pdf", "mimeType": "application/pdf", "buffer": sealed_pdf.body()}
    )
    public.get_by_role("button", name="Kontrollera", exact=True).click()
    expect(public.get_by_role("heading", name="Dokumentet är äkta och oförändrat")).to_be_visible()
    for width, height in WIDTHS.items():
        public.set_viewport_size({"width": width, "height": height})
        problems.append(fits(public, "anonymous-verify-result", width) or "")
    axe["anonymous-verify-result"] = axe_violations(public)

    # the personal link after the one-time code
    public.goto(seeded.link)
    public.get_by_role("button", name="Skicka kod till min e-post").click()
    mail = smtp_server.wait_for(
        lambda m: m["To"] == GUARDIAN_MAIL and m["Subject"] == "Din engångskod"
    )
    code = re.search(r"\b(\d{6})\b", str(mail.get_body(preferencelist=("plain",)).get_content()))
    assert code, "no six-digit code in the mail"
    public.get_by_label("Engångskod").fill(code.group(1))
    public.get_by_role("button", name="Fortsätt").click()
    expect(public.get_by_role("heading", name="Skriv under")).to_be_visible()
    visit(public, "anonymous", [("link-sign", seeded.link)])

    # the in-person view locks the caseworker's session to it: last
    visit(
        caseworker,
        "caseworker",
        [
            (
                "in-person",
                f"/documents/{seeded.awaiting.id}/signatures/{seeded.open_request.id}/in-person",
            )
        ],
    )
    expect(caseworker.get_by_text("Du skriver under som")).to_be_visible()

    AXE_REPORT.write_text(json.dumps(axe, ensure_ascii=False, indent=2))
    problems = [p for p in problems if p]
    assert not problems, "pages wider than the screen:\n" + "\n".join(problems)
    failing = {name: found for name, found in axe.items() if found}
    assert not failing, "WCAG 2.1 A/AA violations (axe-core):\n" + json.dumps(
        failing, ensure_ascii=False, indent=2
    )
