"""Our PDF pipeline (docxtpl render + warm LibreOffice) vs one-shot `soffice --convert-to pdf`.

Run: `make bench` or `.venv/bin/python bench/pdf_pipeline.py [--runs 20] [--oneshot-runs 5]`.
Both sides convert the same rendered consent (bilaga 3.2, sample data) in the same run; the figures
are medians, and the ratio is what to compare across machines.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date

from formsvc import doctypes
from formsvc.doctypes import Author, RenderInput
from formsvc.services.conversion import ConverterPool, ConverterSettings, convert_oneshot
from formsvc.services.rendering import render_docx


def median_ms(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    """Median wall time of *fn* in milliseconds over *runs* calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--oneshot-runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=23600)
    args = parser.parse_args()

    dtype = doctypes.discover()["consent"]
    context = dtype.build_context(
        RenderInput(
            data=dtype.sample(),
            district="Rinkeby-Kista",
            author=Author(name="Karin Lind"),
            reference="SIG-2026-000001 v1",
            printed_at=date(2026, 11, 22),
            subject=dtype.sample_subject(),
        )
    )
    template = dtype.template_path.read_bytes()

    with tempfile.TemporaryDirectory() as profiles:
        pool = ConverterPool(ConverterSettings(base_port=args.port, profile_root=profiles))
        try:
            t0 = time.perf_counter()
            pool.start()
            startup = (time.perf_counter() - t0) * 1000
            docx = render_docx(template, context)
            pool.convert(docx)  # first conversion loads filters; not counted
            render_ms, docx = median_ms(lambda: render_docx(template, context), args.runs)
            convert_ms, pdf = median_ms(lambda: pool.convert(docx), args.runs)
            pipeline_ms, _ = median_ms(
                lambda: pool.convert(render_docx(template, context)), args.runs
            )
            pdfa_ms, _ = median_ms(lambda: pool.convert(docx, pdfa=True), args.runs)
            mode = pool.mode
        finally:
            pool.close()
    oneshot_ms, _ = median_ms(lambda: convert_oneshot(docx), args.oneshot_runs)

    print(f"document: consent sample, DOCX {len(docx)} bytes, PDF {len(pdf)} bytes")
    print(f"converter start-up (once)             {startup:8.0f} ms   mode={mode}")
    print(f"render (docxtpl)               median {render_ms:8.1f} ms   n={args.runs}")
    print(f"convert, warm LibreOffice      median {convert_ms:8.1f} ms   n={args.runs}")
    print(f"convert, warm, PDF/A-2b        median {pdfa_ms:8.1f} ms   n={args.runs}")
    print(f"render + convert (ours)        median {pipeline_ms:8.1f} ms   n={args.runs}")
    print(f"one-shot soffice --convert-to  median {oneshot_ms:8.1f} ms   n={args.oneshot_runs}")
    print(f"ratio one-shot / ours                 {oneshot_ms / pipeline_ms:8.1f} x")


if __name__ == "__main__":
    main()
