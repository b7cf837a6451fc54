"""Every page of every role fits a phone (390 px), a tablet (820 px) and a laptop (1,280 px).

A page fits when nothing makes it scroll sideways: `document.documentElement.scrollWidth` is
at most the window's width. Each page is kept as a full-page screenshot in build/screenshots/
(<page>-<width>.png) for a person to look at. axe-core checks each page at each of the three
widths against the WCAG 2.0/2.1 A and AA rules (all of them): layout changes what it finds (a table
that scrolls on a phone, text over a background that moved). The pages include the signing views
(in person, the personal link before and after the code, with errors, the receipts), /verify's
answers and the error pages (403, 404, 405, 413, 429, an expired form). Its findings, by page and
width, go to build/axe-wcag21aa.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from formsvc.models import Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import documents, participants, periods, signing
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
INTACT = "Dokumentet är äkta och oförändrat"

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
        registry = runtime(app).registry
        store = runtime(app).store
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

        # a follow-up discharged in June, and that month closed: its page offers a correction
        follow_up_type = registry["follow_up"]
        corrected = documents.create(
            follow_up_type,
            {**follow_up_type.sample(), "assessed_on": "2026-06-20", "discharged_on": "2026-06-15"},
            actor=caseworker,
            participant=participant,
            store=store,
        )
        periods.close(
            date(2026, 6, 1), date(2026, 6, 30), actor=world.users["analyst"], today=today
        )
        self.corrected = corrected


def fits(page: Page, name: str, width: int) -> str | None:
    """None when *page* does not scroll sideways; else what sticks out. Saves a screenshot."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    found = page.evaluate(OVERFLOW_JS)
    if found["scroll"] <= found["inner"]:
        return None
    return f"{name} at {width} px: {found['scroll']} px wide; widest: {found['widest']}"


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on *page*, each with the elements it names.

    Not inside frames: the only ones are inline PDFs in the browser's own viewer, which axe
    cannot enter (it would wait for each to answer); the frame itself (its title) is checked.
    """
    if not page.evaluate("typeof axe !== 'undefined'"):  # once per loaded page
        page.add_script_tag(url=AXE_URL)
    result = page.evaluate(
        "async tags => { const r = await axe.run(document,"
        " {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'], iframes: false});"
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
            ("follow-up-closed", f"/documents/{seeded.corrected.id}"),
            ("correction", f"/documents/{seeded.corrected.id}/correction"),
            *seeded.forms["caseworker"],
        ],
        "manager": [
            ("home", "/"),
            ("participants", "/participants/"),
            *staff_pages,
            ("audit", "/audit/"),
            ("statistics", "/statistics/"),
            ("statistics-periods", "/statistics/periods/"),
            ("threat-assessment", f"/documents/{seeded.docs['threat_assessment'].id}"),
            ("decide", f"/documents/{seeded.docs['threat_assessment'].id}/decide"),
            ("security-talk", f"/documents/{seeded.docs['security_talk'].id}"),
            ("error-403", f"/participants/{world.foreign.id}"),
            *seeded.forms["manager"],
        ],
        "security_officer": [("home", "/"), ("security", "/security/"), *staff_pages[2:]],
        "analyst": [
            ("home", "/"),
            ("statistics", "/statistics/"),
            ("statistics-periods", "/statistics/periods/"),
            *staff_pages[2:],
        ],
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
            ("sso", "/admin/sso"),  # issue 14: ssoadmin (tests/browser/test_sso_admin_page.py too)
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


class Checker:
    """Checks pages at the three widths: overflow and screenshot, and axe-core at each width."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.axe: dict[str, list[dict[str, Any]]] = {}
        self.checked = 0

    def here(self, page: Page, name: str) -> None:
        """The page as it is now (e.g. after a POST), at each width, narrowest first."""
        self.checked += 1
        for width, height in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            self.problems.append(fits(page, name, width) or "")
            found = axe_violations(page)
            if found:
                self.axe[f"{name}-{width}"] = found

    def visit(self, page: Page, role: str, pages: Pages) -> None:
        """Each address, loaded on the phone, then checked as the window widens."""
        for name, url in pages:
            page.set_viewport_size(PHONE)
            response = page.goto(url)
            assert response is not None, url
            self.here(page, f"{role}-{name}")


def submit(page: Page, button: str) -> None:
    """Click *button* and wait for the page the form's POST answers with."""
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()


def tick_all(page: Page) -> None:
    """Tick every statement of the sign form."""
    for box in (
        page.get_by_role("group", name="Kryssa i det du intygar").get_by_role("checkbox").all()
    ):
        box.check()


def verify_upload(page: Page, name: str, mime: str, body: bytes) -> None:
    page.goto("/verify")
    page.get_by_label(re.compile("PDF")).set_input_files(
        {"name": name, "mimeType": mime, "buffer": body}
    )
    submit(page, "Kontrollera")


def test_every_page_of_every_role_fits_a_phone_a_tablet_and_a_laptop(
    app: Flask, world: World, live_server: str, context: Any, smtp_server: SmtpServer
) -> None:
    seeded = Seeded(app, world, live_server)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    check = Checker()

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
        check.visit(page, role, pages)

    # /verify's answers: intact and ours, changed after the seal, not sealed, not a PDF, nothing
    caseworker = context()
    log_in(caseworker, "caseworker")
    sealed_pdf = caseworker.request.get(f"/documents/{seeded.sealed.id}/signed.pdf")
    assert sealed_pdf.ok
    frozen_pdf = caseworker.request.get(f"/documents/{seeded.sealed.id}/frozen.pdf")
    assert frozen_pdf.ok
    sealed = sealed_pdf.body()
    public = context()
    verify_upload(public, "medgivande.pdf", "application/pdf", sealed)
    expect(public.get_by_role("heading", name=INTACT)).to_be_visible()
    check.here(public, "anonymous-verify-result")
    # one byte inside the sealed range: the PDF's version number in its first line
    changed = sealed[:7] + (b"4" if sealed[7:8] != b"4" else b"5") + sealed[8:]
    for name, mime, body in (
        ("verify-changed", "application/pdf", changed),
        ("verify-unsealed", "application/pdf", frozen_pdf.body()),
        ("verify-not-pdf", "text/plain", b"Detta \xe4r ingen PDF.\n"),
    ):
        verify_upload(public, f"{name}.pdf", mime, body)
        expect(public.get_by_role("heading", name=INTACT)).to_have_count(0)
        check.here(public, f"anonymous-{name}")
    public.goto("/verify")
    submit(public, "Kontrollera")  # no file chosen: the field's error
    check.here(public, "anonymous-verify-no-file")

    # error pages (templates/error.html) that only a request of the wrong kind reaches
    check.visit(public, "anonymous", [("error-405", "/logout")])
    public.goto("/login")
    public.locator("input[name=csrf_token]").evaluate("el => el.value = 'forged'")
    submit(public, "Logga in")
    expect(public.get_by_role("heading", name="Formuläret har gått ut")).to_be_visible()
    check.here(public, "anonymous-error-csrf")
    # 413 as the app answers it, shown from our origin: through the live server the browser would
    # sometimes meet a connection reset instead (Werkzeug drains an oversized upload for only
    # 10 ms at a time before it closes), which would make this test depend on the machine's load
    too_large = b"0" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    answer = app.test_client().post("/verify", data=too_large, content_type="application/pdf")
    assert answer.status_code == 413
    public.route(
        "**/error-413-as-served",
        lambda route: route.fulfill(
            status=413, content_type="text/html; charset=utf-8", body=answer.get_data()
        ),
    )
    public.goto("/error-413-as-served")
    expect(public.get_by_role("heading", name="För stor fil")).to_be_visible()
    check.here(public, "anonymous-error-413")
    # the limit is read at each request: one more upload than it allows
    app.config["VERIFY_RATE_LIMIT"] = "1 per hour"
    try:
        for _ in range(2):
            verify_upload(public, "medgivande.pdf", "application/pdf", frozen_pdf.body())
    finally:
        app.config["VERIFY_RATE_LIMIT"] = "1000 per minute"
    expect(public.get_by_role("heading", name="För många försök")).to_be_visible()
    check.here(public, "anonymous-error-429")

    # the personal link: a wrong code, the sign form, a submit with nothing filled in, the receipt
    public.goto(seeded.link)
    public.get_by_label("Engångskod").fill("000000")
    submit(public, "Fortsätt")
    check.here(public, "anonymous-link-wrong-code")
    public.get_by_role("button", name="Skicka kod till min e-post").click()
    mail = smtp_server.wait_for(
        lambda m: m["To"] == GUARDIAN_MAIL and m["Subject"] == "Din engångskod"
    )
    code = re.search(r"\b(\d{6})\b", str(mail.get_body(preferencelist=("plain",)).get_content()))
    assert code, "no six-digit code in the mail"
    public.get_by_label("Engångskod").fill(code.group(1))
    public.get_by_role("button", name="Fortsätt").click()
    expect(public.get_by_role("heading", name="Skriv under")).to_be_visible()
    check.visit(public, "anonymous", [("link-sign", seeded.link)])
    public.get_by_label("Ditt namn").fill("")
    submit(public, "Skriv under")
    check.here(public, "anonymous-link-sign-error")
    tick_all(public)
    public.get_by_label("Ditt namn").fill("Maria Öberg")
    submit(public, "Skriv under")
    expect(public.locator("section.receipt")).to_contain_text("skrev under som")
    check.here(public, "anonymous-link-receipt")

    # the in-person view locks the caseworker's session to it: last
    in_person = f"/documents/{seeded.awaiting.id}/signatures/{seeded.open_request.id}/in-person"
    check.visit(caseworker, "caseworker", [("in-person", in_person)])
    expect(caseworker.get_by_text("Du skriver under som")).to_be_visible()
    submit(caseworker, "Skriv under")
    check.here(caseworker, "caseworker-in-person-error")
    tick_all(caseworker)
    caseworker.get_by_label("Ditt namn").fill("Johan Öberg")
    # the last signature: the document is finalised and sealed while the page waits
    with caseworker.expect_navigation(timeout=120_000):
        caseworker.get_by_role("button", name="Skriv under", exact=True).click()
    expect(caseworker.get_by_role("heading", name="Tack!")).to_be_visible()
    check.here(caseworker, "caseworker-in-person-done")
    check.visit(caseworker, "caseworker", [("unlock", "/unlock")])

    AXE_REPORT.write_text(
        json.dumps(
            {"pages": check.checked, "widths": list(WIDTHS), "violations": check.axe},
            ensure_ascii=False,
            indent=2,
        )
    )
    problems = [p for p in check.problems if p]
    assert not problems, "pages wider than the screen:\n" + "\n".join(problems)
    assert not check.axe, "WCAG 2.1 A/AA violations (axe-core):\n" + json.dumps(
        check.axe, ensure_ascii=False, indent=2
    )
