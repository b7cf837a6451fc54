"""Build the Word templates in formsvc/templates_docx/ from code, so every change is reviewable.

Run ``python scripts/build_templates.py`` (or ``make templates``) after editing a module in
``scripts/docx_templates/``; commit the module and the .docx together. Each module defines
``FILENAME`` and ``build()``; helpers live in ``scripts/docx_kit.py``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import docx_kit  # noqa: E402
import docx_templates  # noqa: E402


def templates() -> dict[str, object]:
    """FILENAME -> module, for every module in scripts/docx_templates/."""
    found = {}
    for info in sorted(pkgutil.iter_modules(docx_templates.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"docx_templates.{info.name}")
        found[module.FILENAME] = module
    return found


def main(argv: list[str] | None = None) -> None:
    """Write every template (or the named ones) to the output directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=docx_kit.OUT_DIR)
    parser.add_argument("names", nargs="*", help="only these files, e.g. consent.docx")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    found = templates()
    for name in args.names or found:
        path = args.out_dir / name
        path.write_bytes(docx_kit.to_bytes(found[name].build()))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
