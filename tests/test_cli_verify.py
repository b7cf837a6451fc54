"""`flask verify FILE`: the /verify findings on the command line, with exit codes 0, 1, 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from formsvc.models import Document
from formsvc.runtime import runtime
from formsvc.services.sealing import generate_demo_pkcs12
from tests import factories, final_pdf, hostile
from tests.conftest import SEAL_PASSPHRASE, World

pytestmark = pytest.mark.converter


@pytest.fixture
def signed(app: Flask, world: World, consent_doc: Document) -> Document:
    return factories.signed_in_person(app, consent_doc, world.users["caseworker"], seal=False)


def test_a_final_pdf_of_ours_exits_0_and_prints_the_findings(
    app: Flask, runner: FlaskCliRunner, signed: Document, tmp_path: Path
) -> None:
    path = tmp_path / "dok.pdf"
    path.write_bytes(final_pdf.seal_document(app, signed))
    result = runner.invoke(args=["verify", str(path)])
    assert result.exit_code == 0, result.output
    assert (
        f"OK: Originalsidorna är oförändrade (SHA-256 {signed.frozen_pdf_sha256})" in result.output
    )
    assert signed.reference in result.output
    assert "FEL" not in result.output
    assert "+ Sida 3: underskrift av" in result.output


def test_changed_pages_exit_1(
    app: Flask, runner: FlaskCliRunner, signed: Document, tmp_path: Path
) -> None:
    path = tmp_path / "dok.pdf"
    path.write_bytes(final_pdf.seal_document(app, signed, before_seal=final_pdf.replace_page_text))
    result = runner.invoke(args=["verify", str(path)])
    assert result.exit_code == 1
    assert "FEL: Originalsidorna har ändrats" in result.output


def test_an_unsealed_pdf_exits_1_and_unreadable_input_exits_2(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(hostile.plain_pdf())
    assert runner.invoke(args=["verify", str(plain)]).exit_code == 1
    garbage = tmp_path / "x.pdf"
    garbage.write_bytes(b"<html>not a pdf</html>")
    result = runner.invoke(args=["verify", str(garbage)])
    assert result.exit_code == 2 and "inte en PDF" in result.output
    assert runner.invoke(args=["verify", str(tmp_path / "missing.pdf")]).exit_code == 2


def test_the_status_line_gives_the_same_four_answers_as_the_page(
    app: Flask, runner: FlaskCliRunner, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    sealed = runtime(app).store.get(doc.sealed_pdf_sha256)
    files = {
        "intact": sealed,
        "changed": final_pdf.update_after_seal(sealed),
        "foreign": hostile.plain_pdf(),
        "truncated": sealed[: len(sealed) // 2],
    }
    out = {}
    for name, data in files.items():
        (tmp_path / f"{name}.pdf").write_bytes(data)
        result = runner.invoke(args=["verify", str(tmp_path / f"{name}.pdf")])
        out[name] = (result.exit_code, result.output)
    assert out["intact"][0] == 0
    assert "Status: Dokumentet är äkta och oförändrat" in out["intact"][1]
    assert "Sigillets certifikat: Sigillet från Stockholms stad." in out["intact"][1]
    assert out["changed"][0] == 1
    assert "Status: Dokumentet har ändrats efter att vi förseglade det" in out["changed"][1]
    assert "Lita inte på innehållet" in out["changed"][1]
    assert out["foreign"][0] == 1
    assert "Status: Dokumentet är inte förseglat av Stockholms stad" in out["foreign"][1]
    assert "Filen har inget elektroniskt sigill" in out["foreign"][1]
    assert out["truncated"][0] == 2
    assert "Status: Filen är inte en PDF eller kan inte läsas" in out["truncated"][1]
    assert all("Betrott" not in text and "DEMO" not in text for _, text in out.values())


def test_a_demo_seal_is_labelled_and_exits_1_not_0(
    app: Flask, runner: FlaskCliRunner, world: World, consent_doc: Document, tmp_path: Path
) -> None:
    seal_dir = Path(app.config["SEAL_PKCS12_PATH"]).parent
    (seal_dir / "demo-seal.p12").write_bytes(generate_demo_pkcs12(SEAL_PASSPHRASE.encode()))
    (seal_dir / "active.txt").write_text("demo-seal.p12\n", encoding="utf-8")
    doc = factories.signed_in_person(app, consent_doc, world.users["caseworker"])
    path = tmp_path / "demo.pdf"
    path.write_bytes(runtime(app).store.get(doc.sealed_pdf_sha256))
    result = runner.invoke(args=["verify", str(path)])
    assert result.exit_code == 1, result.output
    assert "Status: Oförändrat, men förseglat med ett demosigill" in result.output
    assert "DEMO: Demo – inte för verklig användning" in result.output
    assert "OK: Sigillet är äkta" not in result.output
    assert "FEL" not in result.output  # a demo, not a fault
