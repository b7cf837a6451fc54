"""Finalising a signed consent (render with signatures + PDF/A + evidence page + seal) vs its parts.

Run: `.venv/bin/python bench/finalise.py [--runs 15]` (or `make bench`). Everything runs in one
process against a throw-away SQLite database, a warm LibreOffice and the demo ECDSA P-256 seal:
each part is timed alone on the same inputs, then the whole pipeline, so the ratio "whole / sum of
parts" shows what the orchestration costs. Loading the PKCS#12 is timed too, to show why the
sealer keeps its key loaded (once per process) instead of per document.
"""

from __future__ import annotations

import argparse
import gc
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path

from PIL import Image, ImageDraw

from formsvc import create_app
from formsvc.extensions import db
from formsvc.models import Participant
from formsvc.services import documents, signing, users
from formsvc.services.checkpoints import create_key
from formsvc.services.conversion import get_pool
from formsvc.services.evidence import append_pages, evidence_pdf
from formsvc.services.keys import create_keyring
from formsvc.services.rendering import render_docx
from formsvc.services.sealing import Sealer, generate_demo_pkcs12, get_sealer
from formsvc.services.templates import template_bytes


def median_ms(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    """Median wall time of *fn* in milliseconds over *runs* calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def drawn() -> bytes:
    img = Image.new("RGBA", (600, 200), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(20, 150), (200, 40), (380, 160), (580, 50)], fill="#1a237e", width=6)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--port", type=int, default=23620)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() after set-up: long-lived objects leave the collector's scans",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="formsvc-bench-"))
    (tmp / "seal").mkdir()
    (tmp / "seal" / "seal.p12").write_bytes(generate_demo_pkcs12(b"bench"))
    create_keyring(tmp / "keys.json")
    create_key(tmp / "audit-key.pem")
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite'}",
            "STORAGE_DIR": str(tmp / "files"),
            "STORAGE_KEYRING_PATH": str(tmp / "keys.json"),
            "AUDIT_KEY_PATH": str(tmp / "audit-key.pem"),
            "AUDIT_CHECKPOINT_FILE": str(tmp / "checkpoints.jsonl"),
            "SEAL_PKCS12_PATH": str(tmp / "seal" / "seal.p12"),
            "SEAL_PKCS12_PASSPHRASE": "bench",
            "CONVERTER_BASE_PORT": args.port,
            "CONVERTER_PROFILE_ROOT": str(tmp / "lo"),
            "ARGON2_PROFILE": "CHEAPEST",
        }
    )
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        district = users.create_district("Rinkeby-Kista", actor=None)
        cw = users.create_user(
            username="cw",
            full_name="Karin Lind",
            role="caseworker",
            password="Bench-losen-1",  # noqa: S106 - a throw-away bench database
            district_id=district.id,
        )
        registry = app.extensions["formsvc.registry"]
        dtype = registry["consent"]
        p = Participant(
            district_id=district.id,
            first_name="Åsa",
            last_name="Öberg",
            id_kind="birth_date",
            birth_date=date(2010, 3, 15),
            target_group="sig_unga",
            created_by_id=cw.id,
        )
        db.session.add(p)
        db.session.commit()
        store = app.extensions["formsvc.store"]
        doc = documents.create(dtype, dtype.sample(), actor=cw, participant=p, store=store)
        t0 = time.perf_counter()
        pool = get_pool(app.extensions["formsvc.converter_settings"])
        startup = (time.perf_counter() - t0) * 1000
        sealer = get_sealer(app)
        signing.send(doc, dtype, actor=cw, store=store, converter=pool)
        for req, name in zip(
            signing.requests(doc), ["Åsa Öberg", "Maria Öberg", "Johan Öberg"], strict=True
        ):
            signing.sign(
                req,
                dtype,
                signing.Given(
                    name=name,
                    statements=signing.statements_for(req, dtype),
                    signature_png=drawn(),
                    ip="127.0.0.1",
                    user_agent="bench",
                ),
                method="in_person",
                verification="bench",
                actor=cw,
                settings=app.config,
                store=store,
            )
        settings = app.config
        # inputs for the parts, computed once
        ri = replace(documents.render_input(doc), signatures=signing.signature_marks(doc, store))
        context = dtype.build_context(ri)
        template = template_bytes(doc.template_version, store)
        docx = render_docx(template, context)
        pool.convert(docx, pdfa=True)  # warm-up, not counted
        evidence = signing.evidence_for(doc, dtype, settings)
        main_pdf = pool.convert(docx, pdfa=True)
        page = evidence_pdf(evidence)
        joined = append_pages(main_pdf, page)
        seal = lambda: sealer.seal(joined, reason="bench", location="Stockholm")  # noqa: E731

        n = args.runs
        if args.gc_freeze:
            gc.collect()
            gc.freeze()  # what `flask serve` does after start-up (see its note)
        parts = {}
        parts["render with 3 signature images"], _ = median_ms(
            lambda: render_docx(template, context), n
        )
        parts["convert to PDF/A-2b (warm)"], _ = median_ms(lambda: pool.convert(docx, pdfa=True), n)
        parts["evidence page (fpdf2)"], _ = median_ms(lambda: evidence_pdf(evidence), n)
        parts["append pages (pypdf)"], _ = median_ms(lambda: append_pages(main_pdf, page), n)
        parts["seal, key loaded (pyHanko)"], _ = median_ms(seal, n)
        whole, final = median_ms(
            lambda: signing.build_final_pdf(
                doc, dtype, store=store, converter=pool, sealer=sealer, settings=settings
            ),
            n,
        )
        load_ms, _ = median_ms(lambda: Sealer.from_pkcs12(settings["SEAL_PKCS12_PATH"], "bench"), n)
        total = sum(parts.values())
        print(
            "document: consent sample with 3 drawn signatures; "
            f"final PDF {len(final.archive)} bytes, {len(final.copies)} signer copies"
        )
        print(f"converter start-up (once)                   {startup:8.0f} ms")
        for name, ms in parts.items():
            print(f"{name:<40} median {ms:8.1f} ms   n={n}")
        print(f"{'sum of the parts':<40}        {total:8.1f} ms")
        print(f"{'finalise (build_final_pdf), whole':<40} median {whole:8.1f} ms   n={n}")
        print(f"ratio whole / sum of parts                  {whole / total:8.2f} x")
        print(f"loading the PKCS#12 (avoided per document)  median {load_ms:6.1f} ms   n={n}")
        pool.close()


if __name__ == "__main__":
    main()
