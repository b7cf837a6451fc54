"""In Chromium: staff sign in through the city's OpenID Provider and land on their start page with
the role and district their IdP groups give them; logging out signs them out at the IdP too
(issue 14)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.conftest import World

pytestmark = [pytest.mark.browser]

LABEL = "Stockholms stad (Entra ID)"
MAPPINGS = [
    {"claim": "groups", "value": "farsta-chefer", "role": "manager", "district": "Farsta"},
    {"claim": "groups", "value": "analytiker", "role": "analyst"},
]
CLIENT_ID = "formsvc-browser"


@pytest.fixture
def city_client(oidc_idp: Any) -> dict[str, Any]:
    # registered again below with the live server's address, under the same id and secret
    return oidc_idp.add_client(["http://127.0.0.1/sso/city/callback"], client_id=CLIENT_ID)


@pytest.fixture
def config(config: dict[str, Any], oidc_idp: Any, city_client: dict[str, Any]) -> dict[str, Any]:
    conf = oidc_idp.provider_conf(city_client, label=LABEL, mappings=MAPPINGS)
    return {**config, "SSO_PROVIDERS": {"city": conf}}


@pytest.fixture
def sso_page(
    browser: Browser, live_server: str, oidc_idp: Any, city_client: dict[str, Any]
) -> Iterator[Page]:
    """A browser page on the live app; the IdP's test CA is not the browser's, so its
    certificate errors are ignored (the app itself checks the IdP against the CA)."""
    oidc_idp.add_client(
        [f"{live_server}/sso/city/callback"],
        client_id=CLIENT_ID,
        client_secret=city_client["client_secret"],
        post_logout_redirect_uris=[f"{live_server}/login"],
    )
    context = browser.new_context(
        base_url=live_server,
        ignore_https_errors=True,
        viewport={"width": 1280, "height": 900},
        locale="sv-SE",
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def sign_in_at_idp(page: Page, oidc_idp: Any, username: str) -> None:
    page.goto("/login")
    page.get_by_role("link", name=f"Logga in med {LABEL}").click()
    expect(page).to_have_url(re.compile(re.escape(oidc_idp.issuer) + "/interaction/"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("any")
    page.get_by_role("button", name="Sign in").click()


def test_a_manager_signs_in_through_the_idp_and_lands_on_her_start_page(
    app: Flask, sso_page: Page, live_server: str, oidc_idp: Any, world: World, tmp_path: Path
) -> None:
    page = sso_page
    username = "maria.browser@stad.example"
    oidc_idp.add_account(username, name="Maria Lindqvist", groups=["alla", "farsta-chefer"])
    sign_in_at_idp(page, oidc_idp, username)
    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Välkommen, Maria Lindqvist")
    expect(page.get_by_text("Stadsdel: Farsta")).to_be_visible()
    # a manager's start page and menu
    expect(
        page.get_by_role("heading", name="Hotbildsbedömningar som väntar på beslut")
    ).to_be_visible()
    menu = page.get_by_role("navigation", name="Huvudmeny")
    expect(menu.get_by_role("link", name="Logg")).to_be_visible()
    expect(menu.get_by_role("link", name="Byt lösenord")).to_have_count(0)
    expect(menu.get_by_role("button", name=re.compile(re.escape(username)))).to_be_visible()
    page.screenshot(path=str(tmp_path / "sso-manager-start.png"), full_page=True)

    # logging out ends the session here and at the IdP, and comes back to the login page
    menu.get_by_role("button", name=re.compile("Logga ut")).click()
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Logga in")
    page.get_by_role("link", name=f"Logga in med {LABEL}").click()
    expect(page.get_by_label("Username")).to_be_visible()  # the IdP asks again


def test_an_analyst_signs_in_and_an_unmapped_colleague_is_refused(
    app: Flask, sso_page: Page, live_server: str, oidc_idp: Any, world: World, tmp_path: Path
) -> None:
    page = sso_page
    oidc_idp.add_account("jonas.browser@stad.example", name="Jonas Berg", groups=["analytiker"])
    oidc_idp.add_account("okand.browser@stad.example", name="Okänd Person", groups=["alla"])
    sign_in_at_idp(page, oidc_idp, "jonas.browser@stad.example")
    expect(page.get_by_role("heading", level=1)).to_have_text("Välkommen, Jonas Berg")
    menu = page.get_by_role("navigation", name="Huvudmeny")
    expect(menu.get_by_role("link", name="Statistik")).to_be_visible()
    expect(menu.get_by_role("link", name="Deltagare")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "sso-analyst-start.png"), full_page=True)
    menu.get_by_role("button", name=re.compile("Logga ut")).click()
    expect(page).to_have_url(f"{live_server}/login")

    sign_in_at_idp(page, oidc_idp, "okand.browser@stad.example")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inloggningen nekades")
    expect(page.get_by_role("alert")).to_contain_text("ingen av dina grupper ger tillgång")
    page.screenshot(path=str(tmp_path / "sso-refused.png"), full_page=True)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
