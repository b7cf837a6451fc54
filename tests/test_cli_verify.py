"""`flask verify FILE`: the /verify findings on the command line, with exit codes 0, 1, 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from formsvc.models import Document
from tests import factories, final_pdf, hostile
from tests.conftest import World

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
