"""Whether a typed name is the designated signer's name (docs/adr/004-signing-evidence.md).

Tolerated, because people type their own name in many ways: letter case, spaces (leading,
trailing, doubled, non-breaking), diacritics ("Asa Oberg" for "Åsa Öberg", also ø/æ/ß that
Unicode does not decompose), Unicode normalisation (a composed or decomposed "Ö"), and hyphen
variants ("-", "‐", "‑", "–", "—", "−" or a space between the parts of a double name).
Not tolerated: another name, a missing or extra name part, initials, another order of names.
A designated name that is wrong is corrected by editing the document (a new version to sign).
"""

from __future__ import annotations

import re
import unicodedata

#: Letters Unicode does not decompose into a base letter and a mark.
_FOLD = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
)
#: Hyphens and dashes people type between the parts of a double name, and every kind of space.
_SEPARATORS = re.compile(r"[\s\u00a0\u2000-\u200a\u202f\u205f\u3000\-\u2010-\u2015\u2212]+")


def name_key(name: str) -> str:
    """The form two names are compared in: lower case, no diacritics, one space as separator."""
    text = unicodedata.normalize("NFKD", name.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c)).translate(_FOLD)
    return _SEPARATORS.sub(" ", text).strip()


def same_name(typed: str, designated: str) -> bool:
    """True when *typed* is *designated* up to case, spacing, diacritics and hyphens."""
    key = name_key(typed)
    return bool(key) and key == name_key(designated)
