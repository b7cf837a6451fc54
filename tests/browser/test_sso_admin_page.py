"""The SSO administration page in Chromium: an administrator adds a rule, meets a field error
with what was typed kept, tries a mapping; each state fits 390, 820 and 1,280 px and passes
axe-core's WCAG 2.1 A/AA rules. Screenshots in build/screenshots/admin-sso-*.png."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from formsvc.extensions import db
from formsvc.models import SsoMappingRule
from tests.browser.test_screen_sizes import (  # noqa: F401 - context is a fixture
    SCREENSHOTS,
    Checker,
    context,
    log_in,
    submit,
)
from tests.conftest import World

pytestmark = pytest.mark.browser

PROVIDERS = {
    "city": {
        "type": "oidc",
        "label": "Stockholms stad (Entra ID)",
        "server_metadata_url": "https://login.example.se/.well-known/openid-configuration",
        "client_id": "formsvc",
        "client_secret": "not-a-secret",
        "mappings": [
            {"claim": "groups", "value": "farsta-chefer", "role": "manager", "district": "Farsta"},
            {
                "claim": "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
                "value": "0b4c6f0e-7a41-4d7e-9a53-2f1c1f7f8f11",
                "role": "caseworker",
                "district": "Kista",
            },
        ],
    },
    "siths": {"type": "saml", "label": "SITHS-kort", "idp_metadata_file": "/nonexistent.xml"},
}


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "SSO_PROVIDERS": PROVIDERS}


def test_sso_admin_page_adds_a_rule_tries_a_mapping_and_fits_every_width(
    world: World,
    context: Any,  # noqa: F811 - the fixture imported above
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    check = Checker()
    page = context()
    log_in(page, "admin")
    page.get_by_role("navigation", name="Huvudmeny").get_by_role(
        "link", name="Inloggning (SSO)"
    ).click()
    expect(page.get_by_role("heading", name="Stockholms stad (Entra ID)")).to_be_visible()
    expect(page.get_by_text("Okänd stadsdel: Kista").first).to_be_visible()
    check.here(page, "admin-sso")

    form = page.locator("form", has=page.get_by_role("button", name="Spara regeln"))
    form.get_by_label("Inloggningstjänst").select_option("*")
    form.get_by_label("Värde", exact=True).fill("rinkeby-lotsar")
    form.get_by_label("Roll").select_option("caseworker")
    form.get_by_label("Prioritet").fill("tio")
    submit(page, "Spara regeln")
    expect(page.get_by_text("Ange ett heltal från 0 till 100 000")).to_be_visible()
    expect(form.get_by_label("Värde", exact=True)).to_have_value("rinkeby-lotsar")
    check.here(page, "admin-sso-errors")

    form.get_by_label("Stadsdel").select_option(label="Rinkeby-Kista")
    form.get_by_label("Prioritet").fill("10")
    submit(page, "Spara regeln")
    expect(page.get_by_text("Regeln är sparad.")).to_be_visible()
    assert db.session.scalar(db.select(SsoMappingRule.value)) == "rinkeby-lotsar"

    page.get_by_label("Attribut, ett per rad").fill("groups=alla\ngroups=rinkeby-lotsar")
    submit(page, "Pröva")
    expect(page.locator("#try-result")).to_contain_text("Roll: Handläggare")
    expect(page.locator("#try-result")).to_contain_text("stadsdel: Rinkeby-Kista")
    check.here(page, "admin-sso-tried")

    problems = [p for p in check.problems if p]
    assert not problems, problems
    assert not check.axe, check.axe
