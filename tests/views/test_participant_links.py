"""Every link on a participant's page leads somewhere the user may go (no link to a bare 403)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from formsvc.extensions import db
from formsvc.models import ParticipantAssignment
from tests.conftest import Auth, World

#: links that change something or leave the page's purpose are not followed (exports are GETs
#: too, but they are checked by their own tests and would make this slow)
NOT_FOLLOWED = ("/logout", "/export")


def _links(html: str) -> list[str]:
    hrefs = re.findall(r'<a[^>]*href="(/[^"#]*)"', html)
    return sorted(
        {h for h in hrefs if not h.startswith("/static") and not h.endswith(NOT_FOLLOWED)}
    )


@pytest.mark.parametrize("assigned", [False, True], ids=["not_assigned", "assigned"])
def test_a_caseworker_is_offered_only_documents_they_may_start(
    client: FlaskClient, auth: Auth, world: World, assigned: bool
) -> None:
    if assigned:
        db.session.add(
            ParticipantAssignment(
                participant_id=world.participant.id, user_id=world.users["caseworker"].id
            )
        )
        db.session.commit()
    auth.login("caseworker")
    html = client.get(f"/participants/{world.participant.id}").get_data(as_text=True)
    threat_link = f"/participants/{world.participant.id}/documents/new/threat_assessment"
    assert (threat_link in html) is assigned
    if not assigned:
        assert "bara för deltagarens tilldelade personal och chefer" in html
    links = _links(html)
    assert any("/documents/new/" in link for link in links)
    for link in links:
        status = client.get(link).status_code
        assert status in (200, 302), f"{link} answers {status}"
