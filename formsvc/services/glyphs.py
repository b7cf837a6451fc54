"""Which characters the installed fonts can print (LibreOffice falls back through fontconfig)."""

from __future__ import annotations

import bisect
import logging
import shutil
import subprocess
from functools import lru_cache

log = logging.getLogger(__name__)

#: Characters that are part of a sequence, not glyphs of their own (variation selectors, the
#: zero-width joiner and tag characters of emoji sequences); fonts need not list them.
_SEQUENCE_PARTS = (
    (0xFE00, 0xFE0F),
    (0x200D, 0x200D),
    (0xE0020, 0xE007F),
)


@lru_cache(maxsize=1)
def _covered() -> tuple[list[int], list[int]] | None:
    """Sorted (starts, ends) of the code points some installed non-colour font covers.

    Colour bitmap fonts (Noto Color Emoji) are left out: LibreOffice 7.4 exports their glyphs as
    blank space in a PDF, so a character only they cover would vanish from the printed copy.
    None when fontconfig is not installed (then nothing is refused for want of a font).
    """
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        log.warning("fc-list not found: characters are not checked against the installed fonts")
        return None
    out = subprocess.run(
        [fc_list, "--format", "%{color}|%{charset}\n"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    ranges: list[tuple[int, int]] = []
    for line in out.splitlines():
        color, _, charset = line.partition("|")
        if color.strip() == "True":
            continue
        for part in charset.split():
            lo, _, hi = part.partition("-")
            try:
                ranges.append((int(lo, 16), int(hi or lo, 16)))
            except ValueError:
                continue
    if not ranges:
        return None
    ranges.sort()
    merged: list[list[int]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [r[0] for r in merged], [r[1] for r in merged]


def _in(cp: int, starts: list[int], ends: list[int]) -> bool:
    i = bisect.bisect_right(starts, cp) - 1
    return i >= 0 and cp <= ends[i]


def unprintable(text: str) -> list[str]:
    """The distinct characters of *text* no installed font can print, in order of appearance."""
    covered = _covered()
    if covered is None:
        return []
    starts, ends = covered
    missing: list[str] = []
    for ch in text:
        cp = ord(ch)
        if ch in "\t\r\n" or ch in missing:
            continue
        if any(lo <= cp <= hi for lo, hi in _SEQUENCE_PARTS):
            continue
        if not _in(cp, starts, ends):
            missing.append(ch)
    return missing
