"""Signer roles: stored in Swedish, shown in the reader's language (services/signer_roles.py)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask_babel import force_locale

from formsvc.runtime import runtime
from formsvc.services import signer_roles
from formsvc.services.template_upload import sample_signers

#: Every role the document types declare, as stored, and its English.
ENGLISH = {
    "Deltagare": "Participant",
    "Lots/samordnare": "Navigator/coordinator",
    "Vårdnadshavare": "Guardian",
    "Vårdnadshavare 1": "Guardian 1",
    "Vårdnadshavare 2": "Guardian 2",
    "Arbetsledare": "Team leader",
    "Arbetsledare, beslut": "Team leader, decision",
    "Medarbetare": "Employee",
}


@pytest.mark.parametrize(("swedish", "english"), ENGLISH.items())
def test_a_stored_role_is_shown_in_english_and_in_swedish_as_stored(
    app: Flask, swedish: str, english: str
) -> None:
    with app.test_request_context(), force_locale("en"):
        assert signer_roles.label(swedish) == english
    with app.test_request_context(), force_locale("sv"):
        assert signer_roles.label(swedish) == swedish


def test_every_role_a_document_type_declares_is_known(app: Flask) -> None:
    """A new role in a form, not added to signer_roles, would stay Swedish in English."""
    declared = set()
    with app.test_request_context(), force_locale("sv"):
        for dtype in runtime(app).registry.values():
            declared |= {slot.role for slot in sample_signers(dtype)}
    assert declared and all(signer_roles.known(role) for role in declared), declared
    assert declared <= set(ENGLISH)


@pytest.mark.parametrize("stored", ["", "Guardian 2", "Okänd roll", "Vårdnadshavare 2x", "<b>"])
def test_an_unknown_role_is_shown_as_stored(app: Flask, stored: str) -> None:
    with app.test_request_context(), force_locale("en"):
        assert signer_roles.label(stored) == stored
