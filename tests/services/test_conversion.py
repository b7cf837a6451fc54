"""The LibreOffice converter pool against real LibreOffice and unoserver (no mocks)."""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pikepdf
import pytest
from docx import Document
from docx.shared import Mm

from formsvc.services.conversion import (
    MSG_TIMEOUT,
    MSG_UNAVAILABLE,
    ConversionError,
    ConversionTimeout,
    ConverterPool,
    ConverterSettings,
    ConverterUnavailable,
    convert_oneshot,
    get_pool,
)
from tests import pdfa

pytestmark = pytest.mark.converter

HAVE_LO = shutil.which("soffice") is not None and os.path.exists("/usr/bin/python3")
HAVE_POPPLER = all(shutil.which(tool) for tool in ("pdftotext", "pdfinfo", "pdfimages"))
needs_lo = pytest.mark.skipif(
    not (HAVE_LO and HAVE_POPPLER), reason="needs LibreOffice, python3-uno and poppler-utils"
)

# High, test-only ports so a developer's own unoserver (default 2003) is never touched.
POOL_PORT = 23110
TIMEOUT_POOL_PORT = 23120
CLOSE_POOL_PORT = 23130
FALLBACK_POOL_PORT = 23140
BUSY_POOL_PORT = 23150
DEAD_POOL_PORT = 23160
STALE_POOL_PORT = 23170

NAME = "Åsa Öberg & <Bo>"


# --- documents ---------------------------------------------------------------------------------


def make_docx(*paragraphs: str, image: bytes | None = None) -> bytes:
    """A DOCX with one paragraph per argument and optionally an image."""
    doc = Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    if image is not None:
        doc.add_picture(io.BytesIO(image), width=Mm(60))
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def noisy_png(width: int = 200, height: int = 80) -> bytes:
    """An RGB PNG of random noise and white squares: LibreOffice's default makes it a JPEG."""
    rnd = random.Random(1)

    def pixel(x: int, y: int) -> int:
        return rnd.randrange(256) if (x // 24 + y // 8) % 2 else 255

    rows = b"".join(b"\x00" + bytes(pixel(x, y) for x in range(width * 3)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def small_docx() -> bytes:
    """A one-page DOCX with Swedish characters and XML specials."""
    return make_docx(NAME, "Samtycke till informationsutbyte.", "Giltigt i tolv månader.")


@pytest.fixture(scope="module")
def big_docx() -> bytes:
    """About 440 pages: LibreOffice needs 5-7 s for it here (2 cores)."""
    line = "Rad med text som fyller sidan, lorem ipsum dolor sit amet. " * 8
    return make_docx("Stort dokument", *(f"{i} {line}" for i in range(2500)))


# --- PDF inspection (poppler, independent of LibreOffice) ---------------------------------------


def _poppler(tool: str, pdf: bytes, tmp_path: Path, *args: str) -> str:
    """Run a poppler tool on *pdf* and return its standard output."""
    path = tmp_path / f"check-{time.monotonic_ns()}.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        [tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout.decode()


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The text of *pdf* as pdftotext reads it."""
    return _poppler("pdftotext", pdf, tmp_path, "-enc", "UTF-8")


def pdf_metadata(pdf: bytes, tmp_path: Path) -> str:
    """The XMP metadata of *pdf* (where PDF/A declares itself)."""
    return _poppler("pdfinfo", pdf, tmp_path, "-meta")


def pdf_image_encodings(pdf: bytes, tmp_path: Path) -> list[str]:
    """The "enc" column of pdfimages -list: "jpeg" for JPEG, "image" for lossless Flate."""
    lines = _poppler("pdfimages", pdf, tmp_path, "-list").splitlines()[2:]
    return [line.split()[8] for line in lines if line.strip()]


# --- processes (read from /proc, not from the pool) -------------------------------------------


def _cmdlines() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of every running, non-zombie process."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if raw:  # zombies have an empty command line
            yield int(name), raw.decode(errors="replace").split("\0")


def soffice_pids(profile: Path) -> list[int]:
    """Running soffice.bin processes that use *profile*."""
    arg = f"-env:UserInstallation={profile.as_uri()}"
    return [pid for pid, args in _cmdlines() if args[0].endswith("soffice.bin") and arg in args]


def processes_using(profile: Path) -> list[int]:
    """Every running process (unoserver, oosplash, soffice.bin) that names *profile*."""
    wanted = {str(profile), f"-env:UserInstallation={profile.as_uri()}"}
    return [pid for pid, args in _cmdlines() if wanted & set(args)]


def the_soffice_pid(profile: Path) -> int:
    """The one soffice.bin on *profile*."""
    pids = soffice_pids(profile)
    assert len(pids) == 1, f"expected one soffice.bin on {profile}, found {pids}"
    return pids[0]


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll *condition* until it holds or *timeout* s pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def port_is_free(port: int) -> bool:
    """True if nothing listens on the loopback *port*."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --- the shared pool ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def profile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Profiles of the shared pool."""
    return tmp_path_factory.mktemp("lo-profiles")


@pytest.fixture(scope="module")
def pool(profile_root: Path) -> Iterator[ConverterPool]:
    """One warm LibreOffice for most tests (starting one takes about 6 s)."""
    # `make test` installs these; their absence is a broken set-up, not a reason to skip
    assert HAVE_LO and HAVE_POPPLER, "needs LibreOffice, python3-uno and poppler-utils"
    converter = ConverterPool(
        ConverterSettings(processes=1, base_port=POOL_PORT, profile_root=str(profile_root))
    )
    converter.start()
    yield converter
    converter.close()
    assert processes_using(profile_root / "0") == []


# --- tests --------------------------------------------------------------------------------------


@needs_lo
def test_docx_becomes_pdf_with_swedish_text(
    pool: ConverterPool, small_docx: bytes, tmp_path: Path
) -> None:
    assert pool.mode == "unoserver"
    pdf = pool.convert(small_docx)
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf, tmp_path)
    assert NAME in text
    assert "Giltigt i tolv månader." in text


@needs_lo
def test_pdfa_option_reaches_libreoffice(
    pool: ConverterPool, small_docx: bytes, tmp_path: Path
) -> None:
    assert "pdfaid:part" not in pdf_metadata(pool.convert(small_docx), tmp_path)
    meta = pdf_metadata(pool.convert(small_docx, pdfa=True), tmp_path)
    assert "<pdfaid:part>2</pdfaid:part>" in meta
    assert "<pdfaid:conformance>B</pdfaid:conformance>" in meta


def structure(pdf: bytes) -> tuple[bool, bool, set[str]]:
    """Whether *pdf* has a structure tree, whether /MarkInfo says /Marked true, and the
    structure types its tree uses (P, H1, Table …): what a screen reader follows."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        root = doc.Root
        marked = bool(root.get("/MarkInfo", {}).get("/Marked", False))
        kinds: set[str] = set()
        tree = root.get("/StructTreeRoot")
        # LibreOffice names its own types ("Standard") and maps them to the standard ones
        roles = tree.get("/RoleMap", {}) if tree is not None else {}
        todo = [tree] if tree is not None else []
        while todo and len(kinds) < 100:
            node = todo.pop()
            if isinstance(node, pikepdf.Array):
                todo.extend(node)
            elif isinstance(node, pikepdf.Dictionary):
                if "/S" in node:
                    kinds.add(str(roles.get(node.S, node.S)))
                if "/K" in node:
                    todo.append(node.K)
        return tree is not None, marked, kinds


@needs_lo
def test_every_pdf_is_tagged_for_screen_readers(pool: ConverterPool) -> None:
    """UseTaggedPDF: the drafts (plain PDF) as well as the frozen ones (PDF/A-2b), which must
    stay valid PDF/A with their tags."""
    docx = make_docx(NAME, "Samtycke till informationsutbyte.")
    for pdf in (pool.convert(docx), pool.convert(docx, pdfa=True), convert_oneshot(docx)):
        tree, marked, kinds = structure(pdf)
        assert tree and marked, "not a tagged PDF"
        assert "/P" in kinds, kinds  # the paragraphs are in the tree
    assert pdfa.problems(pool.convert(docx, pdfa=True), part=2) == []


@needs_lo
def test_images_are_not_turned_into_jpeg(pool: ConverterPool, tmp_path: Path) -> None:
    # Without UseLosslessCompression LibreOffice stores this image as JPEG ("jpeg" below).
    pdf = pool.convert(make_docx("Underskrift:", image=noisy_png()))
    assert pdf_image_encodings(pdf, tmp_path) == ["image"]  # Flate, lossless


@needs_lo
def test_two_threads_share_one_process(pool: ConverterPool, tmp_path: Path) -> None:
    docs = {i: make_docx(f"Dokument nummer {i} för {NAME}") for i in (1, 2)}
    results: dict[int, bytes | BaseException] = {}
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = pool.convert(docs[i])
        except BaseException as exc:  # reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in docs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert set(results) == {1, 2}
    for i, pdf in results.items():
        assert isinstance(pdf, bytes), pdf
        assert f"Dokument nummer {i} för {NAME}" in pdf_text(pdf, tmp_path)


@needs_lo
def test_killed_process_group_is_restarted(
    pool: ConverterPool, profile_root: Path, small_docx: bytes, tmp_path: Path
) -> None:
    old = the_soffice_pid(profile_root / "0")
    os.killpg(os.getpgid(old), signal.SIGKILL)
    assert wait_until(lambda: processes_using(profile_root / "0") == [])

    pdf = pool.convert(small_docx)

    assert NAME in pdf_text(pdf, tmp_path)
    assert the_soffice_pid(profile_root / "0") != old


@needs_lo
def test_crash_during_conversion_is_retried_once(
    pool: ConverterPool, profile_root: Path, big_docx: bytes, tmp_path: Path
) -> None:
    pool.convert(make_docx("uppvärmning"))  # make sure the worker is up before timing anything
    old = the_soffice_pid(profile_root / "0")
    result: list[bytes | BaseException] = []

    def work() -> None:
        try:
            result.append(pool.convert(big_docx))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(1.5)  # the big document keeps LibreOffice busy for several seconds
    assert thread.is_alive(), "the conversion ended before LibreOffice could be killed"
    os.kill(old, signal.SIGKILL)
    thread.join(timeout=180)

    assert len(result) == 1
    assert isinstance(result[0], bytes), result[0]
    assert "Stort dokument" in pdf_text(result[0], tmp_path)
    assert the_soffice_pid(profile_root / "0") != old


@needs_lo
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"detta \x00 \xff ar inte en docx", id="garbage"),
        pytest.param(b"", id="empty"),
        pytest.param(b"PK\x03\x04 avklippt zip", id="truncated-zip"),
        pytest.param("docx som str", id="str-not-bytes"),
        pytest.param("zip-without-content-types", id="zip-not-docx"),
        pytest.param("broken-document-xml", id="broken-document-xml"),  # rejected by LibreOffice
    ],
)
def test_bad_input_is_a_conversion_error(
    pool: ConverterPool, small_docx: bytes, data: bytes | str, tmp_path: Path
) -> None:
    if data == "zip-without-content-types":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as package:
            package.writestr("hej.txt", "hej")
        data = out.getvalue()
    elif data == "broken-document-xml":
        out = io.BytesIO()
        with (
            zipfile.ZipFile(io.BytesIO(small_docx)) as src,
            zipfile.ZipFile(out, "w") as package,
        ):
            for name in src.namelist():
                body = src.read(name)
                package.writestr(name, b"<w:document>" if name == "word/document.xml" else body)
        data = out.getvalue()

    with pytest.raises(ConversionError) as caught:
        pool.convert(data)  # type: ignore[arg-type]

    assert type(caught.value) is ConversionError
    assert "Word-dokument (DOCX)" in caught.value.message
    assert NAME in pdf_text(pool.convert(small_docx), tmp_path)  # the worker is still fine


@needs_lo
def test_timeout_kills_the_conversion_and_the_pool_recovers(
    tmp_path: Path, big_docx: bytes, small_docx: bytes
) -> None:
    root = tmp_path / "profiles"
    # The big document needs 5-7 s here, the small one ~0.3 s even on a fresh LibreOffice.
    settings = ConverterSettings(base_port=TIMEOUT_POOL_PORT, profile_root=str(root), timeout=2.0)
    converter = ConverterPool(settings)
    try:
        converter.start()
        assert converter.mode == "unoserver"
        old = the_soffice_pid(root / "0")
        started = time.monotonic()
        with pytest.raises(ConversionTimeout) as caught:
            converter.convert(big_docx)
        assert time.monotonic() - started < 20
        assert caught.value.message == MSG_TIMEOUT
        assert old not in soffice_pids(root / "0")  # the hung LibreOffice was killed

        pdf = converter.convert(small_docx)  # waits for the restart, then works

        assert NAME in pdf_text(pdf, tmp_path)
    finally:
        converter.close()
    assert processes_using(root / "0") == []


def test_missing_libreoffice_raises_unavailable(tmp_path: Path, small_docx: bytes) -> None:
    converter = ConverterPool(
        ConverterSettings(
            base_port=DEAD_POOL_PORT,
            profile_root=str(tmp_path),
            python="/nonexistent/python3",
            soffice="/nonexistent/soffice",
        )
    )
    try:
        with pytest.raises(ConverterUnavailable) as caught:
            converter.convert(small_docx)
        assert caught.value.message == MSG_UNAVAILABLE
        assert converter.mode == "unavailable"
    finally:
        converter.close()


@needs_lo
def test_falls_back_to_oneshot_when_python_cannot_import_uno(
    tmp_path: Path, small_docx: bytes
) -> None:
    # The venv's python is another build than Debian's and cannot import uno.
    converter = ConverterPool(
        ConverterSettings(
            base_port=FALLBACK_POOL_PORT, profile_root=str(tmp_path / "p"), python=sys.executable
        )
    )
    try:
        converter.start()
        assert converter.mode == "oneshot"
        pdf = converter.convert(small_docx, pdfa=True)
        assert NAME in pdf_text(pdf, tmp_path)
        assert "<pdfaid:part>2</pdfaid:part>" in pdf_metadata(pdf, tmp_path)
    finally:
        converter.close()
    assert port_is_free(FALLBACK_POOL_PORT)


@needs_lo
def test_port_taken_by_a_stranger_is_not_used(tmp_path: Path) -> None:
    # Something else listens on the XML-RPC port: documents must not be sent there.
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", BUSY_POOL_PORT))
        stranger.listen()
        converter = ConverterPool(
            ConverterSettings(base_port=BUSY_POOL_PORT, profile_root=str(tmp_path))
        )
        try:
            converter.start()
            assert converter.mode == "oneshot"
            assert processes_using(tmp_path / "0") == []
        finally:
            converter.close()


@needs_lo
def test_oneshot_conversion(small_docx: bytes, tmp_path: Path) -> None:
    pdf = convert_oneshot(small_docx, pdfa=True)
    assert NAME in pdf_text(pdf, tmp_path)
    assert "<pdfaid:part>2</pdfaid:part>" in pdf_metadata(pdf, tmp_path)
    assert pdf_image_encodings(convert_oneshot(make_docx("x", image=noisy_png())), tmp_path) == [
        "image"
    ]
    with pytest.raises(ConversionError):
        convert_oneshot(b"PK\x03\x04 ingen docx")


def orphaned_oneshot_soffices() -> list[int]:
    """soffice.bin of convert_oneshot calls that have returned (their temp profile is gone)."""
    orphans = []
    for pid, args in _cmdlines():
        for arg in args:
            if arg.startswith("-env:UserInstallation=") and "formsvc-soffice-" in arg:
                profile = Path(unquote(urlparse(arg.split("=", 1)[1]).path))
                if not profile.parent.exists():
                    orphans.append(pid)
    return orphans


@needs_lo
def test_oneshot_timeout_leaves_no_process(small_docx: bytes) -> None:
    # A fresh soffice needs well over a second just to create its profile.
    started = time.monotonic()
    with pytest.raises(ConversionTimeout) as caught:
        convert_oneshot(small_docx, timeout=0.3)
    assert time.monotonic() - started < 15
    assert caught.value.message == MSG_TIMEOUT
    assert orphaned_oneshot_soffices() == []


@needs_lo
def test_close_stops_every_process(tmp_path: Path, small_docx: bytes) -> None:
    root = tmp_path / "profiles"
    converter = ConverterPool(
        ConverterSettings(processes=2, base_port=CLOSE_POOL_PORT, profile_root=str(root))
    )
    converter.start()
    try:
        assert converter.mode == "unoserver"
        assert len(soffice_pids(root / "0")) == 1
        assert len(soffice_pids(root / "1")) == 1
        results: list[bytes] = []
        threads = [
            threading.Thread(target=lambda: results.append(converter.convert(small_docx)))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(results) == 2
        assert all(pdf.startswith(b"%PDF-") for pdf in results)
    finally:
        converter.close()

    assert processes_using(root / "0") == []
    assert processes_using(root / "1") == []
    assert all(port_is_free(CLOSE_POOL_PORT + i) for i in range(4))
    with pytest.raises(ConverterUnavailable):
        converter.convert(small_docx)


APP_SCRIPT = """
import sys, time
from formsvc.services.conversion import ConverterPool, ConverterSettings
pool = ConverterPool(ConverterSettings(base_port=int(sys.argv[1]), profile_root=sys.argv[2]))
pool.start()
open(sys.argv[3], "w").write(pool.mode)
time.sleep(300)
"""


@needs_lo
def test_profile_of_a_live_app_is_not_taken_but_leftovers_of_a_killed_one_are(
    tmp_path: Path, small_docx: bytes
) -> None:
    root, ready = tmp_path / "profiles", tmp_path / "ready"
    settings = ConverterSettings(base_port=STALE_POOL_PORT, profile_root=str(root))
    app = subprocess.Popen(
        [sys.executable, "-c", APP_SCRIPT, str(STALE_POOL_PORT), str(root), str(ready)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(ready.exists, timeout=90)
        assert ready.read_text() == "unoserver"
        first = the_soffice_pid(root / "0")

        # Another process with the same settings must not kill a live app's LibreOffice.
        second = ConverterPool(settings)
        second.start()
        assert second.mode == "oneshot"
        second.close()
        assert the_soffice_pid(root / "0") == first

        # The app dies without close() (SIGKILL): its LibreOffice is left running ...
        app.kill()
        app.wait(timeout=30)
        assert the_soffice_pid(root / "0") == first
        # ... and the next pool on that profile clears it away instead of falling back.
        third = ConverterPool(settings)
        try:
            third.start()
            assert third.mode == "unoserver"
            assert first not in soffice_pids(root / "0")
            assert NAME in pdf_text(third.convert(small_docx), tmp_path)
        finally:
            third.close()
        assert processes_using(root / "0") == []
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(timeout=30)
        for pid in processes_using(root / "0"):  # only if the test failed half-way
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "10.0.0.5", "192.168.1.10", "localhost", "::"],  # noqa: S104 - must be refused
)
def test_settings_refuse_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        ConverterSettings(host=host)


def test_settings_accept_loopback_hosts() -> None:
    assert ConverterSettings(host="127.0.0.1").host == "127.0.0.1"
    assert ConverterSettings(host="::1").host == "::1"


def test_get_pool_returns_one_started_pool_per_settings(tmp_path: Path) -> None:
    # Settings without LibreOffice keep this fast; sharing does not depend on the mode.
    def settings(port: int) -> ConverterSettings:
        return ConverterSettings(
            base_port=port,
            profile_root=str(tmp_path),
            python="/nonexistent/python3",
            soffice="/nonexistent/soffice",
        )

    found: list[ConverterPool] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        found.append(get_pool(settings(DEAD_POOL_PORT + 2)))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(found) == 8
    assert all(p is found[0] for p in found)
    assert found[0].mode == "unavailable"  # started, not "unstarted"
    assert get_pool(settings(DEAD_POOL_PORT + 2)) is found[0]
    other = get_pool(settings(DEAD_POOL_PORT + 4))
    assert other is not found[0]
    found[0].close()
    other.close()
    again = get_pool(settings(DEAD_POOL_PORT + 2))
    assert again is not found[0]  # a closed pool is replaced
    again.close()


@needs_lo
def test_libreoffice_leaves_its_files_to_the_owner_only(
    pool: ConverterPool, profile_root: Path, small_docx: bytes
) -> None:
    # under instance/lo-profiles: whatever the umask of the service, LibreOffice runs with 077
    pool.convert(small_docx)
    wider = []
    for path in [profile_root, *profile_root.rglob("*")]:
        if path.is_symlink():  # the pythonpath shim's links to unoserver: a link has no mode
            continue
        try:
            mode = path.lstat().st_mode & 0o777
        except FileNotFoundError:  # a temporary file LibreOffice removed meanwhile
            continue
        if mode & 0o077:
            wider.append(f"{path.relative_to(profile_root)} {mode:o}")
    assert wider == []
