"""Chromium signs staff in through SimpleSAMLphp's own login form (SAML 2.0, issue 14) and lands
on the start page with the role and district the mapping gives; once with the IdP on the same
site as formsvc, once cross-site, where the IdP's POST comes without our session cookie."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Request

from formsvc.extensions import db
from formsvc.models import User
from tests.conftest import World
from tests.idp.saml import PASSWORD, SamlIdp, saml_idp_fixture  # noqa: F401 - saml_idp

pytestmark = pytest.mark.browser

NAME = "siths"
MAPPINGS = [
    {"claim": "groups", "value": "farsta-chefer", "role": "manager", "district": "Farsta"},
    {
        "claim": "groups",
        "value": "rinkeby-lotsar",
        "role": "caseworker",
        "district": "Rinkeby-Kista",
    },
]
#: where the screenshots go (looked at by whoever runs the browser tests)
SHOTS = Path("build/screenshots")


@pytest.fixture
def idp(saml_idp: SamlIdp) -> SamlIdp:
    saml_idp.add_user("karin", name="Karin Chef", mail="karin@example.se", groups=["farsta-chefer"])
    saml_idp.add_user(
        "lotta", name="Lotta Lots", mail="lotta@example.se", groups=["rinkeby-lotsar", "alla"]
    )
    return saml_idp


@pytest.fixture
def config(config: dict[str, Any], idp: SamlIdp) -> dict[str, Any]:
    return {**config, "SSO_PROVIDERS": {NAME: idp.provider(label="SITHS-kort", mappings=MAPPINGS)}}


def sign_in_at_idp(page: Page, username: str, password: str = PASSWORD) -> None:
    """SimpleSAMLphp's own form, as a person fills it in."""
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=password]").press("Enter")


def test_saml_manager_signs_in_through_the_idp_and_lands_on_her_start_page(
    app: Flask, live_server: str, page: Page, world: World, idp: SamlIdp
) -> None:
    idp.register_sp(live_server, NAME)
    page.goto("/login")
    page.get_by_role("link", name="Logga in med SITHS-kort").click()
    page.wait_for_url(f"{idp.base_url}/**")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "saml-idp-login.png"))
    sign_in_at_idp(page, "karin")
    page.wait_for_url(f"{live_server}/")
    page.get_by_role("heading", name="Välkommen, Karin Chef").wait_for()
    assert page.get_by_text("Stadsdel: Farsta").is_visible()
    # a manager's start page: the decisions waiting and the district's log in the menu
    assert page.get_by_role("heading", name="Hotbildsbedömningar som väntar på beslut").is_visible()
    assert page.get_by_role("link", name="Logg", exact=True).is_visible()
    page.screenshot(path=str(SHOTS / "saml-manager-start.png"), full_page=True)
    user = db.session.query(User).filter_by(sso_provider=NAME, sso_subject="karin").one()
    assert (user.role, user.district_id) == ("manager", world.other.id)
    # logging out goes on to the IdP's single logout and back to our login page
    page.get_by_role("button", name="Logga ut").click()
    page.wait_for_url(f"{live_server}/login")
    assert page.get_by_text("också hos identitetsleverantören").is_visible()
    page.screenshot(path=str(SHOTS / "saml-logged-out.png"), full_page=True)
    # signed out at the IdP too: the next login asks for the password again
    page.get_by_role("link", name="Logga in med SITHS-kort").click()
    page.wait_for_url(f"{idp.base_url}/**")
    assert page.locator("input[name=password]").is_visible()


@pytest.fixture
def cross_site_page(browser: Browser, live_server: str) -> Iterator[Page]:
    # formsvc at localhost, the IdP at 127.0.0.1: two sites, so the session cookie (SameSite=Lax)
    # does not come with the IdP's POST to our ACS
    context = browser.new_context(
        base_url=live_server.replace("127.0.0.1", "localhost"),
        viewport={"width": 1280, "height": 900},
        locale="sv-SE",
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_saml_cross_site_idp_post_is_sent_again_with_our_cookie(
    app: Flask, live_server: str, cross_site_page: Page, world: World, idp: SamlIdp
) -> None:
    base = live_server.replace("127.0.0.1", "localhost")
    app.config["PUBLIC_BASE_URL"] = base
    idp.register_sp(base, NAME)
    page = cross_site_page
    posts: list[Request] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and request.url.endswith(f"/saml/{NAME}/acs"):
            posts.append(request)

    page.on("request", seen)
    page.goto("/login")
    page.get_by_role("link", name="Logga in med SITHS-kort").click()
    page.wait_for_url(f"{idp.base_url}/**")
    sign_in_at_idp(page, "lotta")
    page.wait_for_url(f"{base}/")
    page.get_by_role("heading", name="Välkommen, Lotta Lots").wait_for()
    assert page.get_by_text("Stadsdel: Rinkeby-Kista").is_visible()
    # a caseworker's menu: clients, no district log
    assert page.get_by_role("link", name="Deltagare", exact=True).is_visible()
    assert page.get_by_role("link", name="Logg", exact=True).count() == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "saml-caseworker-start.png"), full_page=True)
    # the IdP's POST came without the cookie; our page sent it again, with the cookie
    sent = [
        ("formsvc_resent" in (r.post_data or ""), "session=" in r.all_headers().get("cookie", ""))
        for r in posts
    ]
    assert sent == [(False, False), (True, True)]
