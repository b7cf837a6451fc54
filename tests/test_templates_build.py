"""The committed Word templates are exactly what scripts/build_templates.py builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from formsvc.doctypes import TEMPLATE_DIR

ROOT = Path(__file__).resolve().parent.parent


def test_committed_templates_match_their_build_scripts(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_templates.py"), "--out-dir", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    built = sorted(p.name for p in tmp_path.glob("*.docx"))
    assert built == sorted(p.name for p in TEMPLATE_DIR.glob("*.docx"))
    for name in built:
        assert (tmp_path / name).read_bytes() == (TEMPLATE_DIR / name).read_bytes(), name
