"""/verify answers with one of four states, in words and with an icon that has a text alternative.

The states (services/verification.py): intact and sealed by us / sealed by us but changed / not
sealed by us / not a PDF (or unreadable). Every test uploads a real file over HTTP and reads what
a visitor (or a screen reader) gets: the heading, the icon's text alternative, the explanation and
the words that replaced "Betrott certifikat: nej". A demo seal is labelled, never plainly trusted.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import pem
from flask import Flask

from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services.sealing import (
    Sealer,
    generate_demo_pkcs12,
    generate_self_signed_pkcs12,
    get_sealer,
)
from tests import factories, final_pdf, hostile
from tests.conftest import SEAL_PASSPHRASE, World

pytestmark = pytest.mark.converter

INTACT = "Dokumentet är äkta och oförändrat"
CHANGED = "Dokumentet har ändrats efter att vi förseglade det"
FOREIGN = "Dokumentet är inte förseglat av Stockholms stad"
UNREADABLE = "Filen är inte en PDF eller kan inte läsas"
DEMO_HEADING = "Oförändrat, men förseglat med ett demosigill"
DEMO_LABEL = "Demo – inte för verklig användning"
HEADINGS = (INTACT, CHANGED, FOREIGN, UNREADABLE, DEMO_HEADING)


@dataclass
class Answer:
    """What the page shows about the file, as a visitor reads it."""

    status: int
    icon_text: str  #: the status icon's text alternative (aria-label)
    heading: str  #: the status heading's words after the icon
    text: str  #: the whole result, tags removed
    body: str  #: the raw page


def _words(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def upload(app: Flask, pdf: bytes, name: str = "dok.pdf") -> Answer:
    resp = app.test_client().post(
        "/verify", data={"pdf": (io.BytesIO(pdf), name)}, content_type="multipart/form-data"
    )
    body = resp.get_data(as_text=True)
    heading = re.search(r'<h2 id="verdict-h">(.*?)</h2>', body, re.S)
    assert heading, body
    icon = re.search(r'<svg[^>]*\brole="img"[^>]*\baria-label="([^"]+)"', heading.group(1))
    assert icon, heading.group(1)
    after_icon = heading.group(1).split("</svg>", 1)[1]
    result = body[body.index('<div role="status">') :]
    return Answer(
        resp.status_code, html.unescape(icon.group(1)), _words(after_icon), _words(result), body
    )


def assert_only(answer: Answer, heading: str) -> None:
    """*heading* is the one state shown: no other state's heading is on the page."""
    assert answer.heading == heading
    for other in HEADINGS:
        if other != heading:
            assert other not in answer.text
    assert "Betrott certifikat" not in answer.body


@pytest.fixture
def sealed(app: Flask, world: World, consent_doc: Document) -> tuple[Document, bytes]:
    """A consent signed in person and sealed by the service with this instance's seal."""
    doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    return doc, runtime(app).store.get(doc.sealed_pdf_sha256)


def other_sealer(tmp_path: Path, *, demo: bool = False) -> Sealer:
    """A seal made with another key, under the same name as ours (or a demo seal)."""
    path = tmp_path / "other.p12"
    path.write_bytes(
        generate_demo_pkcs12(b"other")
        if demo
        else generate_self_signed_pkcs12(
            b"other", organisation="Stockholms stad", common_name="formsvc test seal"
        )
    )
    return Sealer.from_pkcs12(path, b"other")


def use_demo_seal(app: Flask) -> None:
    """Make a demo seal the active one, as `make run` (scripts/setup_instance.py) does."""
    seal_dir = Path(app.config["SEAL_PKCS12_PATH"]).parent
    (seal_dir / "demo-seal.p12").write_bytes(generate_demo_pkcs12(SEAL_PASSPHRASE.encode()))
    (seal_dir / "active.txt").write_text("demo-seal.p12\n", encoding="utf-8")
    assert "(DEMO)" in get_sealer(app).subject


# --------------------------------------------------------------------------- intact


def test_a_file_we_sealed_is_intact_with_a_check_icon_and_says_whose_seal_it_is(
    app: Flask, sealed: tuple[Document, bytes]
) -> None:
    doc, pdf = sealed
    answer = upload(app, pdf)
    assert answer.status == 200
    assert_only(answer, INTACT)
    assert answer.icon_text == "Godkänt"
    assert "är byte för byte den fil vi förseglade" in answer.text
    assert "Sigillets certifikat Sigillet från Stockholms stad." in answer.text
    assert DEMO_LABEL not in answer.text and "demosigill" not in answer.text
    assert doc.reference in answer.text  # the record and the state today are shown as before


# --------------------------------------------------------------------------- changed


def _flip_header_byte(pdf: bytes) -> bytes:
    """One byte of the binary comment under %PDF-: signed, but read by no parser."""
    i = pdf.index(b"\n%", 0, 64) + 2
    return pdf[:i] + bytes([pdf[i] ^ 0x01]) + pdf[i + 1 :]


@pytest.mark.parametrize(
    ("change", "explained"),
    [
        (_flip_header_byte, "sigillet stämmer inte längre med innehållet"),
        (final_pdf.update_after_seal, "något har ändrats eller lagts till efter förseglingen"),
    ],
    ids=["bytes-under-the-seal", "update-after-the-seal"],
)
def test_a_file_changed_after_we_sealed_it_says_changed_with_a_cross_and_why(
    app: Flask, sealed: tuple[Document, bytes], change, explained: str
) -> None:
    doc, pdf = sealed
    answer = upload(app, change(pdf))
    assert answer.status == 200
    assert_only(answer, CHANGED)
    assert answer.icon_text == "Ändrat"
    assert "Filen bär sigillet från Stockholms stad" in answer.text
    assert explained in answer.text
    assert "Lita inte på innehållet" in answer.text
    assert doc.reference not in answer.text  # nothing we recorded is vouched for


def test_a_file_changed_and_resealed_with_another_key_is_changed_and_names_the_other_seal(
    app: Flask, sealed: tuple[Document, bytes], tmp_path: Path
) -> None:
    _doc, pdf = sealed
    other = tmp_path / "attacker.p12"
    other.write_bytes(
        generate_self_signed_pkcs12(b"attacker", organisation="Angripare AB", common_name="Eve")
    )
    answer = upload(
        app, final_pdf.tamper_and_reseal(pdf, final_pdf.replace_page_text, other, "attacker")
    )
    assert_only(answer, CHANGED)
    assert "förseglat eller signerat den på nytt med ett annat certifikat (Eve, Angripare AB)" in (
        answer.text
    )
    assert "följt av ett senare sigill eller en underskrift som inte är vår" in answer.text


# --------------------------------------------------------------------------- not ours


def test_a_file_sealed_with_another_key_under_our_name_is_not_ours(
    app: Flask, sealed: tuple[Document, bytes], tmp_path: Path
) -> None:
    doc, _pdf = sealed
    frozen = runtime(app).store.get(doc.frozen_pdf_sha256)
    answer = upload(app, other_sealer(tmp_path).seal(frozen, reason="x", location="x"))
    assert answer.status == 200
    assert_only(answer, FOREIGN)
    assert answer.icon_text == "Inte vårt sigill"
    assert "ett certifikat som inte är sigillet från Stockholms stad" in answer.text
    assert (
        "Sigillets certifikat Inte sigillet från Stockholms stad, utan formsvc test seal, "
        "Stockholms stad" in answer.text
    )
    assert doc.reference not in answer.text


def test_a_pdf_without_a_seal_is_not_ours_and_says_it_has_none(app: Flask) -> None:
    answer = upload(app, hostile.plain_pdf())
    assert_only(answer, FOREIGN)
    assert answer.icon_text == "Inte vårt sigill"
    assert "Filen har inget elektroniskt sigill" in answer.text
    assert "Sigillets certifikat" not in answer.text  # nothing sealed, nothing to name


def test_another_installations_demo_seal_is_not_ours_and_not_labelled_as_our_demo(
    app: Flask, sealed: tuple[Document, bytes], tmp_path: Path
) -> None:
    doc, _pdf = sealed
    frozen = runtime(app).store.get(doc.frozen_pdf_sha256)
    answer = upload(app, other_sealer(tmp_path, demo=True).seal(frozen, reason="x", location="x"))
    assert_only(answer, FOREIGN)
    assert DEMO_LABEL not in answer.text


# --------------------------------------------------------------------------- not a PDF


@pytest.mark.parametrize(
    "make",
    [
        lambda pdf: b"GIF89a" + bytes(200),
        lambda pdf: b"<html><script>alert(1)</script></html>",
        lambda pdf: pdf[: len(pdf) // 2],
        lambda pdf: pdf[:-40],
    ],
    ids=["gif", "html", "truncated-half", "truncated-end"],
)
def test_a_file_that_is_not_a_pdf_or_is_truncated_says_so_and_what_to_do(
    app: Flask, sealed: tuple[Document, bytes], make
) -> None:
    doc, pdf = sealed
    answer = upload(app, make(pdf))
    assert answer.status == 200
    assert_only(answer, UNREADABLE)
    assert answer.icon_text == "Ingen PDF"
    assert "Filen kunde inte läsas som en PDF" in answer.text
    assert "Hämta filen på nytt" in answer.text
    assert "<script>alert(1)</script>" not in answer.body
    assert doc.reference not in answer.text


# --------------------------------------------------------------------------- demo seal


def test_a_document_sealed_with_the_demo_seal_is_labelled_demo_and_never_plainly_genuine(
    app: Flask, world: World, consent_doc: Document
) -> None:
    use_demo_seal(app)
    doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    answer = upload(app, runtime(app).store.get(doc.sealed_pdf_sha256))
    assert answer.status == 200
    assert_only(answer, DEMO_HEADING)
    assert answer.icon_text == DEMO_LABEL
    assert f'<p class="demo-label"><strong>{DEMO_LABEL}</strong></p>' in answer.body
    assert "Godkänt" not in answer.text
    assert "Det är inte det riktiga sigillet från Stockholms stad" in answer.text
    assert "gäller inte som underlag för något verkligt" in answer.text
    assert (
        "Sigillets certifikat Den här installationens demosigill, inte sigillet från "
        f"Stockholms stad ({DEMO_LABEL})." in answer.text
    )


def test_the_demo_seal_stays_labelled_after_a_real_seal_replaces_it(
    app: Flask, world: World, consent_doc: Document
) -> None:
    """A demo seal moved to trusted/ (still accepted for old files) is still a demo seal."""
    use_demo_seal(app)
    doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    seal_dir = Path(app.config["SEAL_PKCS12_PATH"]).parent
    (seal_dir / "trusted").mkdir()
    demo_cert = get_sealer(app).certificate
    (seal_dir / "trusted" / "demo.pem").write_bytes(pem.armor("CERTIFICATE", demo_cert.dump()))
    (seal_dir / "active.txt").unlink()  # the real seal (SEAL_PKCS12_PATH) is active again
    assert "(DEMO)" not in get_sealer(app).subject
    answer = upload(app, runtime(app).store.get(doc.sealed_pdf_sha256))
    assert_only(answer, DEMO_HEADING)
    assert DEMO_LABEL in answer.text


def test_a_demo_sealed_file_changed_afterwards_is_changed_and_still_says_demo(
    app: Flask, world: World, consent_doc: Document
) -> None:
    use_demo_seal(app)
    doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    pdf = runtime(app).store.get(doc.sealed_pdf_sha256)
    answer = upload(app, final_pdf.update_after_seal(pdf))
    assert_only(answer, CHANGED)
    assert f"Det är ett demosigill: {DEMO_LABEL}." in answer.text
