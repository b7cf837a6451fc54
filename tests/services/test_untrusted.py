"""The bounded runner: a hostile file costs one limited child process, one log line, no more."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from formsvc.services import scans, untrusted
from formsvc.services.sealing import Sealer, verify_untrusted
from formsvc.services.untrusted import Busy, Limits, Refused
from tests import hostile
from tests.conftest import SEAL_PASSPHRASE

SCAN = {"max_pages": 40, "max_objects": 50_000, "max_unpacked": 200 * 1024**2}


@pytest.fixture(scope="module")
def slow_pdf(tmp_path_factory: pytest.TempPathFactory, seal_pkcs12: bytes) -> tuple[bytes, str]:
    """A 4 MB sealed PDF whose 3,000 extra fields share its one signature (pyHanko: ~30 s)."""
    path = Path(tmp_path_factory.mktemp("seal")) / "seal.p12"
    path.write_bytes(seal_pkcs12)
    sealer = Sealer.from_pkcs12(path, SEAL_PASSPHRASE)
    import base64

    return (
        hostile.many_signature_fields_pdf(hostile.sealed_pdf(sealer)),
        base64.b64encode(sealer.certificate.dump()).decode(),
    )


def _verify_all(runner: untrusted.Runner, pdf: bytes, trust: str, limits: Limits) -> None:
    """Validate every field (no field limit): the work the issue measured at ~30 s CPU."""
    runner.run(
        verify_untrusted,
        pdf,
        limits=limits,
        trust=[trust],
        max_pages=500,
        max_objects=1_000_000,
        max_unpacked=10**9,
        max_pixels=10**9,
        max_signatures=10**6,
    )


def test_a_scan_is_rewritten_in_the_child_and_comes_back_clean() -> None:
    runner = untrusted.start(2, Limits())
    out = runner.run(scans.clean_scan, hostile.javascript_pdf(), max_pixels=10**7, **SCAN)
    assert out.value == {"content_type": "application/pdf", "pages": 1}
    assert out.data.startswith(b"%PDF-") and hostile.active_keys(out.data) == set()


def test_the_cpu_limit_stops_a_costly_check_with_a_clear_refusal(
    slow_pdf: tuple[bytes, str], caplog: pytest.LogCaptureFixture
) -> None:
    runner = untrusted.start(2, Limits())
    with caplog.at_level(logging.DEBUG), pytest.raises(Refused) as refused:
        # not niced here and a generous clock: on a busy machine the CPU limit still comes first
        _verify_all(runner, *slow_pdf, Limits(cpu_seconds=1, wall_seconds=300, nice=0))
    assert "för mycket beräkning" in refused.value.message  # killed after 1 s of CPU, not 30
    # exactly one line, from the runner: nothing of pyHanko's own output
    assert [r.name for r in caplog.records] == ["formsvc.services.untrusted"]
    assert len(caplog.text) < 500


def test_the_wall_clock_limit_stops_a_check_that_takes_too_long(
    slow_pdf: tuple[bytes, str],
) -> None:
    runner = untrusted.start(2, Limits())
    with pytest.raises(Refused) as refused:
        _verify_all(runner, *slow_pdf, Limits(cpu_seconds=60, wall_seconds=1))
    assert "tog för lång tid" in refused.value.message


def test_the_memory_limit_stops_a_decompression_bomb_image() -> None:
    runner = untrusted.start(2, Limits())
    bomb = hostile.png_bomb()
    assert len(bomb) < 1024 * 1024
    with pytest.raises(Refused) as refused:
        # no pixel limit: only the child's memory limit stands between the bomb and the server
        runner.run(scans.clean_scan, bomb, limits=Limits(memory_mb=600), max_pixels=10**10, **SCAN)
    assert "för mycket minne" in refused.value.message


def test_beyond_the_concurrency_limit_an_upload_is_told_to_try_again(
    slow_pdf: tuple[bytes, str],
) -> None:
    runner = untrusted.start(1, Limits())
    running = threading.Thread(
        target=lambda: pytest.raises(Refused, _verify_all, runner, *slow_pdf, Limits(cpu_seconds=3))
    )
    running.start()
    time.sleep(0.5)
    try:
        with pytest.raises(Busy) as busy:
            runner.run(scans.clean_scan, hostile.plain_pdf(), max_pixels=10**7, **SCAN)
        assert "Försök igen" in busy.value.message
    finally:
        running.join(60)
    # the slot is free again once the first check ended
    assert runner.run(scans.clean_scan, hostile.plain_pdf(), max_pixels=10**7, **SCAN).data


def test_only_module_level_functions_of_formsvc_run_in_the_child() -> None:
    runner = untrusted.start(1, Limits())
    with pytest.raises(ValueError, match="not a module-level function"):
        runner.run(hostile.plain_pdf, b"")  # type: ignore[arg-type]


def test_the_child_does_not_run_the_servers_main_script_again(tmp_path: Path) -> None:
    # e.g. `flask serve` or a deployment script without an `if __name__ == "__main__"` guard:
    # multiprocessing would re-run it in every child (slow, or a fork bomb)
    script = tmp_path / "serve.py"
    script.write_text(
        "from formsvc.services import scans, untrusted\n"
        "from tests import hostile\n"
        "runner = untrusted.start(1, untrusted.Limits())\n"
        "out = runner.run(scans.clean_scan, hostile.plain_pdf(), max_pages=1, max_objects=100,\n"
        "                 max_unpacked=10**6, max_pixels=10**6)\n"
        "print('pages', out.value['pages'])\n"
    )
    root = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": root},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.decode().split() == ["pages", "1"], result.stderr.decode()[-2000:]
