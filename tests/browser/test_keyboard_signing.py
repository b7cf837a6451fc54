"""Signing with the keyboard alone, by the names a screen reader reads (issue 13).

The signer moves the focus with Tab and Shift+Tab only, ticks with Space, types, and sends with
Enter: no clicks and no fill() on elements a selector found. Controls are known by the role and
accessible name Chromium's accessibility tree gives them, which is what a screen reader announces
(the focused element's node through the DevTools protocol; whole forms through Playwright's aria
snapshot). The tests check that

- Tab visits every focusable element once, in the order of the page's source and, on the
  screen, from top to bottom; Shift+Tab walks the same way back; every stop has a name;
- after a wrong submit the page opens on what is wrong (the error summary, or the one invalid
  field), each invalid field is aria-invalid and described by its error;
- the typed name alone signs (the drawing pad is optional and takes no keyboard input), and the
  signature ends up recorded: in the database, and for the last signer in the sealed PDF.

The staff member's part (sending, opening the in-person view, issuing the link) is set-up, done
with the mouse or the services; the signer's part is the keyboard's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import CDPSession, Page, expect

from formsvc.extensions import db
from formsvc.models import Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import signing
from tests.browser.test_signing_flow import (
    CONVERSION_MS,
    GUARDIAN_1,
    GUARDIAN_MAIL,
    PARTICIPANT,
    STATEMENTS,
    TABLET,
    NewPage,
    log_in,
    mail_to,
    open_in_person,
    send_for_signing,
)
from tests.conftest import World
from tests.factories import signed_in_person
from tests.helpers import pdf_text
from tests.smtp import SmtpServer
from tests.views.test_signing import starting_today

pytestmark = [pytest.mark.browser, pytest.mark.converter]

PHONE = {"width": 390, "height": 844}
#: Where the focus is, among the elements Tab can reach (focusable, shown, in source order).
FOCUS_JS = """() => {
    // checkVisibility: not display:none, visibility:hidden, nor inside a closed <details>
    const reachable = el => el.tabIndex >= 0 && !el.disabled && el.type !== 'hidden'
        && el.checkVisibility({visibilityProperty: true});
    const all = Array.from(document.body.querySelectorAll('*')).filter(reachable);
    const el = document.activeElement;
    const r = el.getBoundingClientRect();
    return {index: el === document.body ? -1 : all.indexOf(el), count: all.length,
            top: r.top + window.scrollY, left: r.left + window.scrollX};
}"""
#: Chromium's role for a <summary> (a disclosure), as its accessibility tree names it
DISCLOSURE = "DisclosureTriangle"


@pytest.fixture
def config(config: dict[str, Any], smtp_server: SmtpServer) -> dict[str, Any]:
    return {**config, **smtp_server.settings}


@pytest.fixture
def new_page(browser: Any, live_server: str) -> Any:
    """Pages in fresh browser contexts (own cookies), closed at the end."""
    contexts = []

    def open_page(**options: Any) -> Page:
        context = browser.new_context(base_url=live_server, locale="sv-SE", **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def consent(app: Flask, world: World, consent_doc: Document) -> Document:
    """A consent draft for a 16-year-old with joint custody, in force from today."""
    return starting_today(app, world, consent_doc)


@dataclass(frozen=True)
class Stop:
    """One place the focus stopped: which reachable element, what a screen reader says."""

    index: int  #: among the reachable elements in source order; -1: nothing (the page itself)
    count: int  #: how many elements are reachable
    role: str
    name: str
    top: float
    left: float

    def __str__(self) -> str:
        return f"{self.role} {self.name!r}"


class Keyboard:
    """A signer's keyboard and ears: keys, and what is said about the focused element."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("Accessibility.enable")

    def focused(self) -> Stop:
        where = self.page.evaluate(FOCUS_JS)
        found = self.cdp.send("Runtime.evaluate", {"expression": "document.activeElement"})
        # the node first, then its ancestors
        node = self.cdp.send(
            "Accessibility.getAXNodeAndAncestors", {"objectId": found["result"]["objectId"]}
        )["nodes"][0]
        return Stop(
            index=where["index"],
            count=where["count"],
            role=str(node.get("role", {}).get("value", "")),
            name=str(node.get("name", {}).get("value", "")).strip(),
            top=where["top"],
            left=where["left"],
        )

    def press(self, key: str) -> Stop:
        self.page.keyboard.press(key)
        return self.focused()

    def walk(self, key: str = "Tab", most: int = 150) -> list[Stop]:
        """Press *key* from outside the page until the focus leaves it or comes round to where
        it began: each stop once (an inline PDF viewer's own controls are one stop, its frame)."""
        stops: list[Stop] = []
        for _ in range(most):
            stop = self.press(key)
            if stop.index == -1 or (len(stops) > 1 and stop.index == stops[0].index):
                return stops
            if not stops or stops[-1].index != stop.index:
                stops.append(stop)
        raise AssertionError(f"{key} never left the page: {[str(s) for s in stops[-10:]]}")

    def tab_to(self, role: str, name: str | re.Pattern[str], most: int = 80) -> Stop:
        """Tab until the focus is on the *role* named *name*, as a keyboard user would."""
        seen = []
        for _ in range(most):
            stop = self.press("Tab")
            if stop.role == role and named(stop, name):
                return stop
            seen.append(str(stop))
        raise AssertionError(f"Tab does not reach {role} {name!r}; it went {seen}")

    def type(self, text: str) -> None:
        """Replace the focused field's text with *text*, key by key."""
        self.page.keyboard.press("ControlOrMeta+A")
        self.page.keyboard.press("Backspace")
        self.page.keyboard.type(text)

    def submit(self, timeout: float = 30_000) -> None:
        """Enter on the focused button (or field), and wait for the answer page."""
        with self.page.expect_navigation(timeout=timeout):
            self.page.keyboard.press("Enter")


def reachable(page: Page) -> list[str]:
    """What FOCUS_JS counts as reachable, for a failure message."""
    return page.evaluate(
        FOCUS_JS.replace(
            "const el = document.activeElement;", "return all.map(e => e.outerHTML.slice(0, 80));"
        )
    )


def named(stop: Stop, name: str | re.Pattern[str]) -> bool:
    return bool(name.search(stop.name)) if isinstance(name, re.Pattern) else stop.name == name


def check_focus_order(keys: Keyboard, form_part: list[tuple[str, str | re.Pattern[str]]]) -> None:
    """Tab reaches everything reachable once, in source order and top to bottom; Shift+Tab walks
    the same way back; every stop has a name; the sign form's controls come as *form_part*."""
    stops = keys.walk("Tab")
    assert stops, "Tab reaches nothing"
    said = "\n".join(f"{s.index}: {s}" for s in stops)
    # source order, nothing skipped, nothing twice (no positive tabindex, nothing hidden)
    assert [s.index for s in stops] == list(range(stops[0].count)), (
        f"{said}\nreachable:\n" + "\n".join(reachable(keys.page))
    )
    # on the screen: each stop below the one before, or beside it on the same line
    for before, after in zip(stops, stops[1:], strict=False):
        same_line = abs(after.top - before.top) < 4 and after.left > before.left
        assert after.top >= before.top - 1 or same_line, f"{after} is above {before}: {said}"
    nameless = [str(s) for s in stops if not s.name]
    assert not nameless, f"no accessible name: {nameless} in {said}"
    assert (stops[0].role, stops[0].name) == ("link", "Hoppa till innehållet"), said
    back = keys.walk("Shift+Tab")
    assert [s.index for s in back] == [s.index for s in reversed(stops)], [str(s) for s in back]
    # the sign form: the statements, the name, the pad's button, send, and decline
    first = next(i for i, s in enumerate(stops) if s.role == "checkbox")
    part = stops[first : first + len(form_part)]
    assert len(part) == len(form_part), said
    for stop, (role, name) in zip(part, form_part, strict=True):
        assert stop.role == role and named(stop, name), f"{stop} where {role} {name!r}: {said}"
    # the document comes before what the signer agrees to
    assert any(named(s, "Läs dokumentet (PDF)") for s in stops[:first]), said


def form_controls(statements: int, *after: tuple[str, str]) -> list[tuple[str, Any]]:
    """The sign form's stops as Tab meets them."""
    return [
        *[("checkbox", re.compile(STATEMENTS[i])) for i in range(statements)],
        ("textbox", "Ditt namn"),
        ("button", "Rensa"),
        ("button", "Skriv under"),
        (DISCLOSURE, "Jag vill inte skriva under"),
        *after,
    ]


def check_names_of_the_form(page: Page) -> None:
    """What a screen reader reads in the sign form (Playwright's aria snapshot)."""
    expect(page.locator("form.sign-form")).to_match_aria_snapshot(
        f"""
        - heading "Skriv under" [level=2]
        - group "Kryssa i det du intygar":
          - checkbox /{STATEMENTS[0]}/
          - checkbox /{STATEMENTS[1]}/
          - checkbox /{STATEMENTS[2]}/
        - textbox "Ditt namn"
        - img "Yta för namnteckning"
        - button "Rensa"
        - paragraph:
          - button "Skriv under"
        """
    )
    expect(page.get_by_role("textbox", name="Ditt namn")).to_have_accessible_description(
        re.compile("Det skrivna namnet är din underskrift")
    )


def check_the_wrong_submit(page: Page, keys: Keyboard, *, name_error: bool) -> None:
    """The page opens on the error summary; it and each invalid field say what is wrong; its
    first link takes the focus to the first statement to tick."""
    summary = page.get_by_role("alert").filter(has_text="Underskriften är inte klar")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Kryssa i alla påståenden")
    for statement in STATEMENTS:
        box = page.get_by_role("checkbox", name=re.compile(statement))
        expect(box).to_have_attribute("aria-invalid", "true")
        expect(box).to_have_accessible_description(re.compile("Kryssa i alla påståenden"))
    name = page.get_by_role("textbox", name="Ditt namn")
    if name_error:
        expect(summary).to_contain_text("Skriv ditt namn för att skriva under")
        expect(name).to_have_attribute("aria-invalid", "true")
        expect(name).to_have_accessible_description(re.compile("Skriv ditt namn för att skriva"))
    else:
        expect(name).not_to_have_attribute("aria-invalid", "true")
    link = keys.press("Tab")
    assert (link.role, link.name) == (
        "link",
        "Kryssa i alla påståenden för att skriva under, eller avböj.",
    ), link
    first = keys.press("Enter")
    assert first.role == "checkbox" and named(first, re.compile(STATEMENTS[0])), first


def tick_every_statement(page: Page, keys: Keyboard) -> None:
    """From the first statement (focused): Space ticks it, Tab goes to the next."""
    for i, statement in enumerate(STATEMENTS):
        stop = keys.focused() if i == 0 else keys.press("Tab")
        assert stop.role == "checkbox" and named(stop, re.compile(statement)), stop
        page.keyboard.press("Space")
        expect(page.get_by_role("checkbox", name=re.compile(statement))).to_be_checked()


def request_for(doc: Document, role: str) -> SignatureRequest:
    db.session.expire_all()  # the live server wrote it in its own session
    return next(r for r in signing.requests(doc) if r.role == role)


def test_a_participant_signs_in_person_with_the_keyboard_alone(
    new_page: NewPage, consent: Document
) -> None:
    page = new_page(viewport=TABLET)
    log_in(page)
    send_for_signing(page, consent)
    open_in_person(page, "Deltagare")  # the caseworker hands over the tablet here
    page.reload()  # the signer starts from the top of the page
    keys = Keyboard(page)
    check_names_of_the_form(page)
    check_focus_order(
        keys, form_controls(3, ("link", "Lämna underskriftsläget (för handläggaren)"))
    )

    # send with no statement ticked and the name taken away
    keys.tab_to("textbox", "Ditt namn")
    keys.type("")
    keys.tab_to("button", "Skriv under")
    keys.submit()
    check_the_wrong_submit(page, keys, name_error=True)

    tick_every_statement(page, keys)
    assert str(keys.press("Tab")) == "textbox 'Ditt namn'"
    keys.type("Kalle Anka")  # not the participant's name: refused, and the page opens on why
    keys.tab_to("button", "Skriv under")
    keys.submit()
    expect(page.get_by_role("alert").filter(has_text="Namnet stämmer inte")).to_be_focused()
    for statement in STATEMENTS:  # what was ticked stays ticked
        expect(page.get_by_role("checkbox", name=re.compile(statement))).to_be_checked()

    keys.tab_to("textbox", "Ditt namn")
    keys.type(PARTICIPANT)
    assert str(keys.press("Tab")) == "button 'Rensa'"  # the pad stays empty: the name signs
    assert str(keys.press("Tab")) == "button 'Skriv under'"
    keys.submit()
    expect(page.get_by_role("heading", name="Tack!")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(
        "Underskriften från Deltagare är registrerad"
    )

    req = request_for(consent, "Deltagare")
    assert (req.status, req.method, req.signed_name) == ("signed", "in_person", PARTICIPANT)
    assert req.signature_sha256 is None  # nothing drawn: the typed name was enough
    assert len(req.statements or []) == len(STATEMENTS)


def test_a_guardian_signs_through_the_personal_link_with_the_keyboard_alone(
    app: Flask,
    world: World,
    new_page: NewPage,
    consent: Document,
    smtp_server: SmtpServer,
    live_server: str,
) -> None:
    # the participant and the other guardian have signed in person; guardian 1 gets a link
    caseworker = world.users["caseworker"]
    signed_in_person(app, consent, caseworker, seal=False, leave_open=2)
    dtype = runtime(app).registry["consent"]
    other = request_for(consent, "Vårdnadshavare 2")
    given = signing.Given(
        name=other.expected_name,
        statements=signing.statements_for(other, dtype),
        signature_png=None,
        ip="127.0.0.1",
        user_agent="pytest",
    )
    signing.sign(
        other,
        dtype,
        given,
        method="in_person",
        actor=caseworker,
        settings=app.config,
        store=runtime(app).store,
    )
    links: list[str] = []
    signing.issue_link(
        request_for(consent, "Vårdnadshavare 1"),
        GUARDIAN_MAIL,
        settings=app.config,
        link_for=lambda token: links.append(f"{live_server}/s/{token}") or links[-1],
        actor=caseworker,
    )

    page = new_page(viewport=PHONE)
    keys = Keyboard(page)
    page.goto(links[-1])
    keys.tab_to("button", "Skicka kod till min e-post")
    keys.submit()
    expect(page.get_by_role("status").filter(has_text="En kod är skickad")).to_be_visible()
    code = re.search(r"\b(\d{6})\b", mail_to(smtp_server, GUARDIAN_MAIL, "Din engångskod"))
    assert code, "no six-digit code in the mail"

    # a wrong code: the page opens on the field, which says what is wrong
    field = keys.tab_to("textbox", "Engångskod")
    box = page.get_by_role("textbox", name="Engångskod")
    expect(box).to_have_accessible_description("Sex siffror")
    assert field.index >= 0
    keys.type("000000")
    keys.submit()
    expect(box).to_be_focused()
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(box).to_have_accessible_description(re.compile(r"Sex siffror \S"))
    keys.type(code.group(1))
    keys.submit()

    expect(page.get_by_role("heading", name="Skriv under")).to_be_visible()
    check_names_of_the_form(page)
    check_focus_order(keys, form_controls(3))

    # send with nothing ticked (the name is filled in from the request)
    keys.tab_to("button", "Skriv under")
    keys.submit()
    check_the_wrong_submit(page, keys, name_error=False)
    tick_every_statement(page, keys)
    name = keys.press("Tab")
    assert str(name) == "textbox 'Ditt namn'"
    expect(page.get_by_role("textbox", name="Ditt namn")).to_have_value(GUARDIAN_1)
    keys.tab_to("button", "Skriv under")
    keys.submit(timeout=CONVERSION_MS)  # the last signature: the document is sealed now

    receipt = page.get_by_role("status").filter(has_text="Kvitto")
    expect(receipt).to_contain_text(f"{GUARDIAN_1} skrev under som Vårdnadshavare 1")
    req = request_for(consent, "Vårdnadshavare 1")
    assert (req.status, req.method, req.signed_name) == ("signed", "link", GUARDIAN_1)
    assert req.signature_sha256 is None
    db.session.refresh(consent)
    assert consent.sealed_pdf_sha256, "the last signature seals the document"
    sealed = pdf_text(runtime(app).store.get(consent.sealed_pdf_sha256))
    assert "Underskriftsbevis" in sealed and GUARDIAN_1 in sealed and PARTICIPANT in sealed
