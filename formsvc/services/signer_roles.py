"""Signer roles in the reader's language.

A role is document text: it is stored in Swedish on the signature request when the document is
sent (documents.in_document_language()) and printed so on the PDF and in its evidence. The
interface shows it in the reader's language: `label` finds the stored Swedish role among the
roles the document types declare and gives its translation from the catalogue ("Vårdnadshavare 2"
is "Guardian 2" in English). A role it does not know (a document type's new role not yet listed
here, or a role stored in English before roles were stored in Swedish) is shown as stored.

The msgids carry the context "signer role": the plain msgid "Deltagare" is the heading
"Participants" elsewhere. tests/services/test_signer_roles.py fails on a role a document type
declares that is not listed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import pgettext

__all__ = ["known", "label"]

#: Each role a document type declares, in Swedish as stored, and its translation in the current
#: locale (functions, not lazy strings: pybabel extracts the literals, the locale is the caller's).
_KNOWN: dict[str, Callable[[], str]] = {
    "Deltagare": lambda: pgettext("signer role", "Deltagare"),
    "Lots/samordnare": lambda: pgettext("signer role", "Lots/samordnare"),
    "Vårdnadshavare": lambda: pgettext("signer role", "Vårdnadshavare"),
    "Arbetsledare": lambda: pgettext("signer role", "Arbetsledare"),
    "Arbetsledare, beslut": lambda: pgettext("signer role", "Arbetsledare, beslut"),
    "Medarbetare": lambda: pgettext("signer role", "Medarbetare"),
}
#: "Vårdnadshavare 1", "Vårdnadshavare 2": consent.py numbers the guardians when there are two.
_NUMBERED = re.compile(r"Vårdnadshavare (\d{1,2})")


def label(stored: str | None) -> str:
    """*stored* (a request's Swedish role) in the current locale; unknown roles as stored."""
    role = (stored or "").strip()
    if role in _KNOWN:
        return _KNOWN[role]()
    numbered = _NUMBERED.fullmatch(role)
    if numbered:
        return pgettext("signer role", "Vårdnadshavare %(n)d", n=int(numbered.group(1)))
    return stored or ""


def known(stored: str) -> bool:
    """Whether *stored* is a role `label` translates."""
    return stored in _KNOWN or _NUMBERED.fullmatch(stored) is not None
