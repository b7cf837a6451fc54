"""Everything under instance/ is the owner's only: folders 0700, files 0600 (issue 11).

A fresh instance is made the way `make setup` makes it, by real processes started with the
common umask 022 (which alone would give 0755 and 0644): setup_instance.py, `flask db upgrade`, a
stored file, a mail caught by the demo mail sink and a backup into instance/backups/.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: In the app of the fresh instance: store a file, and send one mail to the demo sink.
STORE_AND_MAIL = """
import smtplib, sys, time
from email.message import EmailMessage
from pathlib import Path
from formsvc import create_app, devmail
from formsvc.extensions import db
from formsvc.runtime import runtime

app = create_app()
with app.app_context():
    runtime(app).store.put(b"personal data", "text/plain")
    db.session.commit()
    mail = Path(app.instance_path) / "mail"
    sink = devmail.start("127.0.0.1", int(sys.argv[1]), mail)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.se", "b@example.se", "Kod"
    msg.set_content("Din kod: 123456")
    with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as smtp:
        smtp.send_message(msg)
    for _ in range(300):
        if mail.is_dir() and any(mail.glob("*.eml")):
            break
        time.sleep(0.1)
    sink.stop()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str, instance: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FORMSVC_INSTANCE_PATH": str(instance),
        "FORMSVC_ARGON2_PROFILE": "CHEAPEST",
    }
    for key in [k for k in env if k.startswith("FORMSVC_TEST")]:
        env.pop(key)
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        umask=0o022,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _wider_than_owner(root: Path) -> list[str]:
    wrong = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        if mode != want:
            wrong.append(f"{path.relative_to(root.parent)} {mode:o}")
    return wrong


def test_a_fresh_instance_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    _run("scripts/setup_instance.py", str(instance), instance=instance)
    _run("-m", "flask", "--app", "formsvc", "db", "upgrade", instance=instance)
    _run("-c", STORE_AND_MAIL, str(_free_port()), instance=instance)
    _run(
        "-m",
        "flask",
        "--app",
        "formsvc",
        "backup",
        str(instance / "backups" / "1"),
        instance=instance,
    )

    database = instance / "formsvc.sqlite"
    assert database.stat().st_size > 0
    assert any((instance / "files").rglob("*")), "a stored file"
    assert any((instance / "mail").glob("*.eml")), "a caught mail"
    assert (instance / "backups" / "1").is_dir()
    assert _wider_than_owner(instance) == []

    # should the database run in WAL mode, its -wal and -shm files take the database's mode
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
        conn.execute("CREATE TABLE probe (x)")
        conn.commit()
        for suffix in ("-wal", "-shm"):
            companion = Path(f"{database}{suffix}")
            assert stat.S_IMODE(companion.stat().st_mode) == 0o600, suffix
    finally:
        conn.close()


def test_an_older_world_readable_database_is_narrowed_at_start(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    _run("scripts/setup_instance.py", str(instance), instance=instance)
    database = instance / "formsvc.sqlite"
    sqlite3.connect(database).close()
    database.chmod(0o644)  # as every install made before issue 11
    _run("-m", "flask", "--app", "formsvc", "db", "upgrade", instance=instance)
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
