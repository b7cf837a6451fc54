"""The English catalogue covers every user-visible string, with the same placeholders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "formsvc" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_]+\}")


def _catalogue():
    with PO.open("rb") as fh:
        return read_po(fh)


def test_every_entry_is_translated_and_none_is_fuzzy() -> None:
    missing = [
        m.id
        for m in _catalogue()
        if m.id and (m.fuzzy or not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    assert missing == []


def test_translations_keep_the_placeholders() -> None:
    wrong = []
    for m in _catalogue():
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        want = sorted(set(PLACEHOLDER.findall(ids[-1])))
        for s in strings:
            if sorted(set(PLACEHOLDER.findall(s))) != want:
                wrong.append((m.id, s))
    assert wrong == []


def test_the_catalogue_holds_every_string_in_the_source(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg"]
        + ["-k", "_l", "-k", "pgettext:1c,2", "-o", str(pot), "formsvc"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    with pot.open("rb") as fh:
        source = {
            (m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in read_po(fh) if m.id
        }
    have = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in _catalogue() if m.id}
    assert sorted(source - have, key=str) == [], "run `make messages` and translate"
