"""Signatures overlaid on the frozen PDF vs one warm LibreOffice conversion of the same document.

Run: `.venv/bin/python bench/overlay.py [--runs 15] [--port 23640]`. One process, a warm
LibreOffice pool; the consent's sample (3 signers, the first with a drawn signature) is rendered
and converted once as the frozen PDF, then each step is timed alone (median of --runs):
finding the places, overlaying the marks, and converting the same DOCX again (what the old
finalise path does to put signatures in). Prints them side by side with the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

from finalise import drawn  # bench/finalise.py, next to this file

from formsvc import doctypes
from formsvc.services.conversion import ConverterSettings, get_pool
from formsvc.services.overlay import Mark, overlay_marks
from formsvc.services.rendering import render_docx
from formsvc.services.signature_places import find_places


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of *fn* in milliseconds over *runs* calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--port", type=int, default=23640)
    args = parser.parse_args()
    pool = get_pool(
        ConverterSettings(base_port=args.port, profile_root=tempfile.mkdtemp(prefix="bench-lo-"))
    )
    try:
        dtype = doctypes.discover()["consent"]
        docx = render_docx(
            dtype.template_path.read_bytes(), dtype.build_context(doctypes.sample_input(dtype))
        )
        frozen = pool.convert(docx, pdfa=True)
        pool.convert(docx, pdfa=True)  # warm
        places = find_places(frozen)
        marks = {
            slot: Mark(
                f"Signerare {i}",
                "Stockholm 2026-12-07",
                drawn() if i == 0 else None,
                method="e-signerad på plats",
            )
            for i, slot in enumerate(sorted(places))
        }
        overlay_marks(frozen, places, marks)  # first call imports and warms caches
        places_ms = median_ms(lambda: find_places(frozen), args.runs)
        overlay_ms = median_ms(lambda: overlay_marks(frozen, places, marks), args.runs)
        both_ms = median_ms(lambda: overlay_marks(frozen, find_places(frozen), marks), args.runs)
        convert_ms = median_ms(lambda: pool.convert(docx, pdfa=True), args.runs)
    finally:
        pool.close()
    print(
        f"consent sample, {len(places)} signers, {len(frozen)} bytes frozen, median of {args.runs}"
    )
    print(f"{'find_places':<40}{places_ms:8.1f} ms")
    print(f"{'overlay_marks':<40}{overlay_ms:8.1f} ms")
    print(f"{'find_places + overlay_marks':<40}{both_ms:8.1f} ms")
    print(f"{'one warm LibreOffice conversion':<40}{convert_ms:8.1f} ms")
    print(f"{'ratio (places + overlay) / conversion':<40}{both_ms / convert_ms:8.2f}")


if __name__ == "__main__":
    main()
