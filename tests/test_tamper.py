"""An insider with write access to the database (and, for some cases, to the server's files)
tampers with the log, the checkpoints, the exported file, the keys, the signature rows and the
stored files; each change is found by `flask audit verify` or refused by reseal or download.

Everything is done as that insider would: plain SQL, files edited on disk. The app is real
(LibreOffice, pyHanko, the database under test); nothing is mocked.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select, text, update

from formsvc.extensions import db
from formsvc.models import AuditCheckpoint, AuditEvent, Document, SignatureRequest
from formsvc.runtime import runtime
from formsvc.services import audit, checkpoints, documents
from formsvc.services.checkpoints import Checkpoint
from tests.conftest import PASSWORD, World
from tests.factories import signed_in_person
from tests.services.test_signing import drawn_png

EVENT = AuditEvent.__table__
CHECKPOINT = AuditCheckpoint.__table__


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    # small intervals, so the scene has interval checkpoints as well as sign and seal ones
    return {**config, "AUDIT_CHECKPOINT_EVERY": 5}


class Scene:
    """One sealed consent (a drawn signature), one consent with two of three signatures, and
    ordinary events after the newest checkpoint."""

    def __init__(self, app: Flask, world: World, sealed: Document, pending: Document) -> None:
        self.app, self.world, self.sealed, self.pending = app, world, sealed, pending
        self.file = Path(app.config["AUDIT_CHECKPOINT_FILE"])
        self.key_path = Path(app.config["AUDIT_KEY_PATH"])
        self.store_root = Path(app.config["STORAGE_DIR"])

    def events(self) -> list[AuditEvent]:
        return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))

    def checkpoints(self) -> list[AuditCheckpoint]:
        return list(db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))

    def sql(self, statement: Any, params: dict[str, Any] | None = None) -> None:
        db.session.execute(text(statement) if isinstance(statement, str) else statement, params)
        db.session.commit()
        db.session.expire_all()


@pytest.fixture
def scene(app: Flask, world: World, consent_doc: Document) -> Scene:
    cw = world.users["caseworker"]
    sealed = signed_in_person(app, consent_doc, cw, drawn=drawn_png())
    assert sealed.sealed_pdf_sha256
    dtype = runtime(app).registry["consent"]
    pending = documents.create(
        dtype,
        dtype.sample(),
        actor=cw,
        participant=world.participant,
        store=runtime(app).store,
    )
    signed_in_person(app, pending, cw, seal=False, leave_open=1)
    for i in range(2):  # after the newest checkpoint: not yet anchored, and that is fine
        audit.record(
            "view", actor_id=cw.id, actor_label=cw.username, object_type="user", object_id=i
        )
    db.session.commit()
    return Scene(app, world, sealed, pending)


def verify(runner: FlaskCliRunner) -> tuple[int, str, set[str]]:
    result = runner.invoke(args=["audit", "verify"])
    return result.exit_code, result.output, set(re.findall(r"FEL \[(\w+)\]", result.output))


def digest(prev: str, values: dict[str, Any]) -> str:
    return audit._digest(prev, SimpleNamespace(**values))  # type: ignore[arg-type]


FIELDS = (
    "created_at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "district_id",
    "ip",
    "user_agent",
    "details",
)


def rechain(
    scene: Scene, first_id: int, change: Callable[[dict[str, Any]], None]
) -> dict[int, str]:
    """Change event *first_id* and recompute every hash from it on, as a careful insider would;
    returns id -> new hash."""
    prev = audit.GENESIS
    new: dict[int, str] = {}
    for ev in scene.events():
        values = {f: getattr(ev, f) for f in FIELDS}
        if ev.id == first_id:
            change(values)
        if ev.id >= first_id:
            values["hash"] = digest(prev, values)
            values["prev_hash"] = prev
            db.session.execute(update(EVENT).where(EVENT.c.id == ev.id).values(**values))
            new[ev.id] = values["hash"]
            prev = values["hash"]
        else:
            prev = ev.hash
    db.session.commit()
    db.session.expire_all()
    return new


def resign(scene: Scene, new_hashes: dict[int, str], key: Ed25519PrivateKey, key_id: str) -> None:
    """Point every database checkpoint at the rewritten chain and sign it with *key*."""
    for row in scene.checkpoints():
        cp = replace(
            Checkpoint.from_row(row),
            head_hash=new_hashes.get(row.head_id, row.head_hash),
            key=key_id,
        )
        sig = base64.b64encode(key.sign(replace(cp, sig="").payload())).decode()
        db.session.execute(
            update(CHECKPOINT)
            .where(CHECKPOINT.c.seq == row.seq)
            .values(head_hash=cp.head_hash, key_id=key_id, signature=sig)
        )
    db.session.commit()
    db.session.expire_all()


def _first_sign_event(scene: Scene) -> AuditEvent:
    return next(e for e in scene.events() if e.action == "sign")


# --------------------------------------------------------------------------- the tampering


def edit_a_row(scene: Scene) -> None:
    ev = _first_sign_event(scene)
    scene.sql("UPDATE audit_event SET actor_label = 'someone else' WHERE id = :id", {"id": ev.id})


def edit_a_row_and_its_own_hash(scene: Scene) -> None:
    ev = _first_sign_event(scene)
    values = {f: getattr(ev, f) for f in FIELDS}
    values["ip"] = "10.9.9.9"
    scene.sql(
        update(EVENT)
        .where(EVENT.c.id == ev.id)
        .values(ip="10.9.9.9", hash=digest(ev.prev_hash, values))
    )


def delete_a_row_in_the_middle(scene: Scene) -> None:
    ev = _first_sign_event(scene)
    scene.sql("DELETE FROM audit_event WHERE id = :id", {"id": ev.id})


def delete_the_newest_events(scene: Scene) -> None:
    # everything from the seal on: the tail after a checkpoint that stands in the database
    seal = next(e for e in scene.events() if e.action == "seal")
    scene.sql("DELETE FROM audit_event WHERE id >= :id", {"id": seal.id})


def delete_the_newest_events_and_their_checkpoints(scene: Scene) -> None:
    seal = next(e for e in scene.events() if e.action == "seal")
    scene.sql("DELETE FROM audit_checkpoint WHERE head_id >= :id", {"id": seal.id})
    scene.sql("DELETE FROM audit_event WHERE id >= :id", {"id": seal.id})


def rechain_everything(scene: Scene) -> None:
    first = scene.events()[0]
    rechain(scene, first.id, lambda v: v.update(actor_label="rewritten"))


def rechain_and_delete_every_checkpoint(scene: Scene) -> None:
    rechain_everything(scene)
    scene.sql("DELETE FROM audit_checkpoint")


def rechain_and_resign_with_another_key(scene: Scene) -> None:
    ev = _first_sign_event(scene)
    new = rechain(scene, ev.id, lambda v: v["details"].update(name="Någon Annan"))
    mine = Ed25519PrivateKey.generate()
    resign(scene, new, mine, checkpoints.key_id(mine.public_key()))


def rechain_and_resign_under_the_real_key_id(scene: Scene) -> None:
    ev = _first_sign_event(scene)
    new = rechain(scene, ev.id, lambda v: v["details"].update(name="Någon Annan"))
    real_id = scene.checkpoints()[0].key_id
    resign(scene, new, Ed25519PrivateKey.generate(), real_id)


def swap_two_rows(scene: Scene) -> None:
    a, b = (ev.id for ev in scene.events()[3:5])
    scene.sql("UPDATE audit_event SET id = -1 WHERE id = :a", {"a": a})
    scene.sql("UPDATE audit_event SET id = :a WHERE id = :b", {"a": a, "b": b})
    scene.sql("UPDATE audit_event SET id = :b WHERE id = -1", {"b": b})


def insert_a_new_chain_in_the_middle(scene: Scene) -> None:
    ev = scene.events()[2]
    values = {f: getattr(ev, f) for f in FIELDS}
    values["action"] = "login"
    scene.sql(
        update(EVENT)
        .where(EVENT.c.id == ev.id)
        .values(action="login", prev_hash=audit.GENESIS, hash=digest(audit.GENESIS, values))
    )


def forge_a_checkpoint(scene: Scene) -> None:
    last = scene.checkpoints()[-1]
    head = scene.events()[-1]
    scene.sql(
        CHECKPOINT.insert().values(
            seq=last.seq + 1,
            created_at=last.created_at,
            event_count=last.event_count + 50,
            head_id=head.id,
            head_hash=head.hash,
            reason="manual",
            key_id=last.key_id,
            signature=base64.b64encode(b"\0" * 64).decode(),
        )
    )


def edit_a_checkpoint(scene: Scene) -> None:
    first = scene.checkpoints()[0]
    scene.sql(
        "UPDATE audit_checkpoint SET event_count = event_count + 1 WHERE seq = :s", {"s": first.seq}
    )


def delete_a_checkpoint_in_the_middle(scene: Scene) -> None:
    middle = scene.checkpoints()[1]
    scene.sql("DELETE FROM audit_checkpoint WHERE seq = :s", {"s": middle.seq})


def edit_a_line_of_the_exported_file(scene: Scene) -> None:
    lines = scene.file.read_text().splitlines()
    data = json.loads(lines[1])
    data["count"] += 7
    lines[1] = json.dumps(data)
    scene.file.write_text("\n".join(lines) + "\n")


def delete_a_line_of_the_exported_file(scene: Scene) -> None:
    lines = scene.file.read_text().splitlines()
    scene.file.write_text("\n".join(lines[:1] + lines[2:]) + "\n")


def write_garbage_into_the_exported_file(scene: Scene) -> None:
    with scene.file.open("a") as fh:
        fh.write("not a checkpoint\n")


def delete_the_exported_file(scene: Scene) -> None:
    scene.file.unlink()


def replace_the_audit_key(scene: Scene) -> None:
    scene.key_path.unlink()
    checkpoints.create_key(scene.key_path)


def delete_the_audit_key(scene: Scene) -> None:
    scene.key_path.unlink()


def _set_signature(scene: Scene, slot: str, **values: Any) -> None:
    table = SignatureRequest.__table__
    scene.sql(
        update(table)
        .where(table.c.document_id == scene.sealed.id, table.c.slot == slot)
        .values(**values)
    )


def change_a_signed_name(scene: Scene) -> None:
    _set_signature(scene, "guardian1", signed_name="Någon Annan")


def change_a_signature_time(scene: Scene) -> None:
    req = db.session.scalar(
        select(SignatureRequest).where(
            SignatureRequest.document_id == scene.sealed.id, SignatureRequest.slot == "guardian2"
        )
    )
    _set_signature(scene, "guardian2", signed_at=req.signed_at - timedelta(days=1))


def point_a_signature_at_another_image(scene: Scene) -> None:
    _set_signature(scene, "guardian1", signature_sha256=scene.sealed.frozen_pdf_sha256)


def point_a_signers_copy_at_another_file(scene: Scene) -> None:
    _set_signature(scene, "guardian1", copy_sha256=scene.sealed.frozen_pdf_sha256)


def delete_a_signature_row(scene: Scene) -> None:
    scene.sql(
        "DELETE FROM signature_request WHERE document_id = :d AND slot = 'guardian2'",
        {"d": scene.sealed.id},
    )


def forge_a_signature_row(scene: Scene) -> None:
    scene.sql(
        "UPDATE signature_request SET status = 'signed', method = 'in_person', "
        "signed_name = expected_name, typed_name = expected_name, signed_at = created_at "
        "WHERE document_id = :d AND status = 'open'",
        {"d": scene.pending.id},
    )


def forge_a_signature_row_with_a_chained_event(scene: Scene) -> None:
    """The careful insider: the row, and a `sign` event correctly chained onto the head."""
    forge_a_signature_row(scene)
    req = db.session.scalar(
        select(SignatureRequest).where(
            SignatureRequest.document_id == scene.pending.id, SignatureRequest.slot == "guardian2"
        )
    )
    head = scene.events()[-1]
    values = {
        "created_at": head.created_at,
        "actor_id": None,
        "actor_label": req.role,
        "action": "sign",
        "object_type": "document",
        "object_id": str(req.document_id),
        "district_id": scene.pending.district_id,
        "ip": "",
        "user_agent": "",
        "details": {
            "request": req.id,
            "slot": req.slot,
            "role": req.role,
            "method": "in_person",
            "name": req.signed_name,
            "typed": req.typed_name,
            "drawn": False,
            **audit.signature_facts(req.signed_at, None, list(req.statements or [])),
        },
    }
    scene.sql(EVENT.insert().values(prev_hash=head.hash, hash=digest(head.hash, values), **values))


def change_a_sealed_file_reference(scene: Scene) -> None:
    scene.sql(
        "UPDATE document SET sealed_pdf_sha256 = frozen_pdf_sha256 WHERE id = :d",
        {"d": scene.sealed.id},
    )


def replace_the_sealed_file_on_disk(scene: Scene) -> None:
    sealed, frozen = scene.sealed.sealed_pdf_sha256, scene.sealed.frozen_pdf_sha256
    on_disk = lambda sha: scene.store_root / sha[:2] / sha  # noqa: E731
    on_disk(sealed).write_bytes(on_disk(frozen).read_bytes())


def delete_a_drawn_signature_file(scene: Scene) -> None:
    sha = db.session.scalar(
        select(SignatureRequest.signature_sha256).where(
            SignatureRequest.document_id == scene.sealed.id,
            SignatureRequest.signature_sha256.is_not(None),
        )
    )
    (scene.store_root / sha[:2] / sha).unlink()


def change_a_documents_data(scene: Scene) -> None:
    doc = db.session.get(Document, scene.sealed.id)
    data = dict(doc.data, info_other="ändrat i databasen")
    scene.sql(update(Document).where(Document.id == doc.id).values(data=data))


#: tampering -> the kinds of `audit verify` finding, one of which must be reported
TAMPERING: dict[str, tuple[Callable[[Scene], None], set[str]]] = {
    "edit a row": (edit_a_row, {"row_edited"}),
    "edit a row and its own hash": (edit_a_row_and_its_own_hash, {"row_missing", "rechained"}),
    "delete a row in the middle": (delete_a_row_in_the_middle, {"row_missing"}),
    "delete the newest events": (delete_the_newest_events, {"truncated"}),
    "delete the newest events and their checkpoints": (
        delete_the_newest_events_and_their_checkpoints,
        {"truncated"},
    ),
    "rechain everything": (rechain_everything, {"rechained"}),
    "rechain and delete every checkpoint": (rechain_and_delete_every_checkpoint, {"rechained"}),
    "rechain and re-sign with another key": (
        rechain_and_resign_with_another_key,
        {"checkpoint_other_key"},
    ),
    "rechain and re-sign under the real key id": (
        rechain_and_resign_under_the_real_key_id,
        {"checkpoint_forged"},
    ),
    "swap two rows": (swap_two_rows, {"reordered"}),
    "insert a new chain in the middle": (insert_a_new_chain_in_the_middle, {"row_inserted"}),
    "forge a checkpoint": (forge_a_checkpoint, {"checkpoint_forged"}),
    "edit a checkpoint": (edit_a_checkpoint, {"checkpoint_forged"}),
    "delete a checkpoint in the middle": (
        delete_a_checkpoint_in_the_middle,
        {"checkpoint_deleted"},
    ),
    "edit a line of the exported file": (edit_a_line_of_the_exported_file, {"checkpoint_forged"}),
    "delete a line of the exported file": (
        delete_a_line_of_the_exported_file,
        {"file_line_removed"},
    ),
    "write garbage into the exported file": (
        write_garbage_into_the_exported_file,
        {"file_line_bad"},
    ),
    "delete the exported file": (delete_the_exported_file, {"file_missing"}),
    "replace the audit key": (replace_the_audit_key, {"checkpoint_other_key"}),
    "delete the audit key": (delete_the_audit_key, {"key_missing"}),
    "change a signed name": (change_a_signed_name, {"document"}),
    "change a signature time": (change_a_signature_time, {"document"}),
    "point a signature at another image": (point_a_signature_at_another_image, {"document"}),
    "point a signer's copy at another file": (point_a_signers_copy_at_another_file, {"document"}),
    "delete a signature row": (delete_a_signature_row, {"document"}),
    "forge a signature row": (forge_a_signature_row, {"document"}),
    "forge a signature row with a chained event": (
        forge_a_signature_row_with_a_chained_event,
        {"document"},
    ),
    "change a sealed file reference": (change_a_sealed_file_reference, {"document"}),
    "replace the sealed file on disk": (replace_the_sealed_file_on_disk, {"document"}),
    "delete a drawn signature file": (delete_a_drawn_signature_file, {"document"}),
    "change a document's data": (change_a_documents_data, {"document"}),
}


def test_the_untouched_scene_verifies_clean(scene: Scene, runner: FlaskCliRunner) -> None:
    code, output, kinds = verify(runner)
    assert code == 0 and not kinds, output
    assert "Loggen är hel" in output and "signerade kontrollpunkter stämmer" in output
    reasons = {row.reason for row in scene.checkpoints()}
    assert {"sign", "seal", "interval"} <= reasons
    exported = [json.loads(line) for line in scene.file.read_text().splitlines()]
    assert [c["seq"] for c in exported] == [row.seq for row in scene.checkpoints()]


@pytest.mark.parametrize("name", list(TAMPERING))
def test_each_tampering_is_found_by_audit_verify(
    name: str, scene: Scene, runner: FlaskCliRunner
) -> None:
    tamper, expected = TAMPERING[name]
    tamper(scene)
    code, output, kinds = verify(runner)
    assert code == 1, output
    assert kinds & expected, f"{name}: expected one of {expected}, got {kinds}\n{output}"
    assert "Granskningsloggen är INTE hel" in output


@pytest.mark.parametrize(
    "tamper", [forge_a_signature_row, forge_a_signature_row_with_a_chained_event]
)
def test_reseal_refuses_a_forged_signature_and_says_why(
    tamper: Callable[[Scene], None], scene: Scene, runner: FlaskCliRunner
) -> None:
    tamper(scene)
    result = runner.invoke(args=["reseal"])
    assert result.exit_code == 1, result.output
    assert scene.pending.reference in result.output
    assert "förseglas inte" in result.output
    db.session.expire_all()
    doc = db.session.get(Document, scene.pending.id)
    assert doc.sealed_pdf_sha256 is None and doc.status == "awaiting_signatures"
    refused = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "seal_refused", AuditEvent.object_id == str(doc.id)
        )
    )
    assert refused is not None


def test_the_finalise_button_refuses_a_forged_signature(scene: Scene, app: Flask) -> None:
    forge_a_signature_row(scene)
    client = app.test_client()
    client.post("/login", data={"username": "caseworker", "password": PASSWORD})
    resp = client.post(f"/documents/{scene.pending.id}/finalise", follow_redirects=True)
    assert resp.status_code == 200
    assert "förseglas inte" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Document, scene.pending.id).sealed_pdf_sha256 is None


@pytest.mark.parametrize(
    "tamper", [change_a_sealed_file_reference, rechain_everything, delete_the_audit_key]
)
def test_a_sealed_pdf_the_log_does_not_back_is_not_handed_out(
    tamper: Callable[[Scene], None], scene: Scene, app: Flask
) -> None:
    client = app.test_client()
    client.post("/login", data={"username": "caseworker", "password": PASSWORD})
    assert client.get(f"/documents/{scene.sealed.id}/signed.pdf").status_code == 200
    tamper(scene)
    resp = client.get(f"/documents/{scene.sealed.id}/signed.pdf")
    assert resp.status_code == 409
    assert "stämmer inte med granskningsloggen" in resp.get_data(as_text=True)


def test_there_are_at_least_twenty_kinds_of_tampering() -> None:
    assert len(TAMPERING) >= 20
