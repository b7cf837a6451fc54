"""The `flask --app formsvc` commands: users, demo data, sample and render."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from formsvc import doctypes
from formsvc.extensions import db
from formsvc.models import District, User
from tests.conftest import World
from tests.helpers import docx_text, pdf_text


def test_seed_demo_is_idempotent(runner: FlaskCliRunner) -> None:
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0 and "Rinkeby-Kista" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert "Demodata fanns redan." in second.output
    assert db.session.scalar(db.select(db.func.count(District.id))) == 7
    roles = set(db.session.scalars(db.select(User.role)))
    assert roles == {"caseworker", "manager", "security_officer", "analyst", "admin"}


def test_user_commands(runner: FlaskCliRunner, world: World) -> None:
    out = runner.invoke(
        args=[
            "user",
            "create",
            "kalle",
            "--name",
            "Kalle Ek",
            "--role",
            "manager",
            "--district",
            "Farsta",
            "--password",
            "Kalles-losen-1",
        ]
    )
    assert out.exit_code == 0, out.output
    assert "kalle" in runner.invoke(args=["user", "list"]).output
    bad = runner.invoke(
        args=[
            "user",
            "create",
            "olle",
            "--name",
            "O",
            "--role",
            "caseworker",
            "--password",
            "Olles-losen-1",
        ]
    )
    assert bad.exit_code != 0 and "måste höra till en stadsdel" in bad.output
    assert runner.invoke(args=["user", "deactivate", "kalle"]).exit_code == 0
    assert db.session.scalars(db.select(User).where(User.username == "kalle")).one().active is False
    reset = runner.invoke(args=["user", "reset-password", "kalle"])
    assert reset.exit_code == 0 and "Nytt lösenord för kalle" in reset.output
    role = runner.invoke(args=["user", "set-role", "kalle", "--role", "caseworker"])
    assert role.exit_code == 0
    missing = runner.invoke(args=["user", "deactivate", "finnsinte"])
    assert missing.exit_code != 0 and "Ingen användare" in missing.output


def test_sample_prints_valid_json(runner: FlaskCliRunner) -> None:
    out = runner.invoke(args=["sample", "consent"])
    data = json.loads(out.output)
    assert data["period_from"] == "2026-12-01"
    assert runner.invoke(args=["sample", "nope"]).exit_code != 0


def test_render_sample_to_docx_and_pdf(runner: FlaskCliRunner, tmp_path: Path) -> None:
    sample = tmp_path / "sample.json"
    sample.write_text(runner.invoke(args=["sample", "consent"]).output, encoding="utf-8")
    for suffix in ("docx", "pdf"):
        out = tmp_path / f"out.{suffix}"
        result = runner.invoke(args=["render", "consent", "--data", str(sample), "--out", str(out)])
        assert result.exit_code == 0, result.output
    assert "Fotbollsföreningen IK Kista" in docx_text((tmp_path / "out.docx").read_bytes())
    text = pdf_text((tmp_path / "out.pdf").read_bytes())
    assert "Sekretessbrytande medgivande" in text and "Åsa Öberg" in text


def test_render_refuses_invalid_data_with_field_errors(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    data = json.loads(runner.invoke(args=["sample", "consent"]).output)
    data["period_to"] = "2030-01-01"
    data["contact_name"] = "Anna\x0bBo"
    bad.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(
        args=["render", "consent", "--data", str(bad), "--out", str(tmp_path / "x.pdf")]
    )
    assert result.exit_code != 0
    assert "period_to" in result.output and "contact_name" in result.output
    assert not (tmp_path / "x.pdf").exists()
    garbage = tmp_path / "garbage.json"
    garbage.write_text("[1, 2", encoding="utf-8")
    result = runner.invoke(
        args=["render", "consent", "--data", str(garbage), "--out", str(tmp_path / "x.pdf")]
    )
    assert result.exit_code != 0 and "inte giltig JSON" in result.output


#: Lines of the letterhead and footer, which every document prints whatever its data.
LETTERHEAD = re.compile(
    r"Stockholms stad|stadsdelsförvaltning|^Socialtjänsten, |Dokument: |Avidentifierad utskrift"
    r"|Sida \d+ av \d+"
)
#: Words a sample's PDF must have beyond the letterhead for it to show a meaningful document.
MIN_WORDS = 80


@pytest.mark.parametrize("slug", sorted(doctypes.discover()))
def test_every_types_sample_renders_a_meaningful_pdf_through_sample_and_render(
    runner: FlaskCliRunner, tmp_path: Path, slug: str
) -> None:
    """`flask sample | flask render` shows the sample's values and a real body, for every type."""
    sample = tmp_path / "sample.json"
    out = runner.invoke(args=["sample", slug])
    assert out.exit_code == 0, out.output
    sample.write_text(out.output, encoding="utf-8")
    target = tmp_path / f"{slug}.pdf"
    result = runner.invoke(args=["render", slug, "--data", str(sample), "--out", str(target)])
    assert result.exit_code == 0, result.output
    lines = pdf_text(target.read_bytes()).replace("\u00a0", " ").splitlines()
    everything = " ".join(" ".join(lines).split())
    for expected in doctypes.discover()[slug].sample_expect:
        assert " ".join(expected.replace("\u00a0", " ").split()) in everything, expected
    body = " ".join(line for line in lines if not LETTERHEAD.search(line)).split()
    assert len(body) > MIN_WORDS, body
