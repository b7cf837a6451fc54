"""DOCX to PDF via a supervised pool of warm LibreOffice (unoserver) processes, with fallbacks."""

# Each pool worker is one unoserver process (run by Debian's python, the only one that can import
# uno) with its own LibreOffice, ports and profile directory. LibreOffice converts one document at
# a time, so a worker serves one conversion at a time. Each worker is its own process group, so a
# hung LibreOffice can be killed completely. If unoserver cannot run but soffice exists, the pool
# converts with a new soffice process per document instead (about 10x slower).

from __future__ import annotations

import atexit
import contextlib
import fcntl
import http.client
import io
import ipaddress
import json
import logging
import math
import os
import queue
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import weakref
import xmlrpc.client
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers.expat import ExpatError

from formsvc.metrics import CONVERSIONS, CONVERTER_RESTARTS

logger = logging.getLogger(__name__)

MSG_FAILED = "Dokumentet kunde inte omvandlas till PDF. Word-filen (DOCX) går att ladda ner."
MSG_NOT_DOCX = (
    "Filen är inte ett giltigt Word-dokument (DOCX) och kunde därför inte omvandlas till PDF."
)
MSG_TIMEOUT = (
    "Omvandlingen till PDF tog för lång tid och avbröts. Försök igen; "
    "Word-filen kan laddas ner under tiden."
)
MSG_BUSY = (
    "Många omvandlingar till PDF pågår just nu. Försök igen om en stund; "
    "Word-filen kan laddas ner under tiden."
)
MSG_CRASHED = (
    "LibreOffice avbröts oväntat under omvandlingen till PDF. Försök igen; "
    "Word-filen kan laddas ner under tiden."
)
MSG_UNAVAILABLE = (
    "LibreOffice saknas på servern, så PDF kan inte skapas just nu. "
    "Word-filen (DOCX) går att ladda ner."
)
MSG_RESTART_FAILED = (
    "LibreOffice kunde inte startas om på servern, så PDF kan inte skapas just nu. "
    "Word-filen (DOCX) går att ladda ner."
)
MSG_CLOSED = (
    "PDF-tjänsten stängs av just nu. Försök igen om en stund; Word-filen (DOCX) går att ladda ner."
)

#: Seconds to wait for a new unoserver to answer; unoserver 3.7 sleeps 5 s before it listens.
START_TIMEOUT = 60.0
#: unoserver API version this client speaks (the positional arguments of ``convert``).
UNOSERVER_API = "3"
#: LibreOffice's name for the DOCX import filter; forcing it stops LibreOffice from guessing
#: another format (it would otherwise happily "convert" any bytes as plain text).
DOCX_IMPORT_FILTER = "MS Word 2007 XML"
PDF_EXPORT_FILTER = "writer_pdf_Export"
_HEALTH_TIMEOUT = 5.0
_KILL_GRACE = 5.0

#: A port nothing listens on (discard): LibreOffice is told to reach the net only through it.
DEAD_PROXY_PORT = 9
# Settings written into every LibreOffice profile before it starts (docs/adr/010). A template
# should never reach out (the upload check refuses it), but if one does, LibreOffice must not:
# linked images (http:// and file://) are blocked as "untrusted referer links", every protocol
# goes through a proxy that does not exist, links are never updated and no macro runs.
_LOCKDOWN = {
    "/org.openoffice.Office.Common/Security/Scripting": {
        "BlockUntrustedRefererLinks": "true",
        "DisableMacrosExecution": "true",
        "MacroSecurityLevel": "3",
    },
    "/org.openoffice.Inet/Settings": {
        "ooInetProxyType": "1",  # 1 = manual: ours, never the system's or none
        "ooInetNoProxy": "",  # no host bypasses it
        **{f"ooInet{proto}ProxyName": "127.0.0.1" for proto in ("HTTP", "HTTPS", "FTP")},
        **{f"ooInet{proto}ProxyPort": str(DEAD_PROXY_PORT) for proto in ("HTTP", "HTTPS", "FTP")},
    },
    "/org.openoffice.Office.Writer/Content/Update": {
        "Link": "0",  # 0 = never update links (sw linkenum NEVER)
        "Field": "false",
    },
}
#: Environment for LibreOffice: libcurl would otherwise honour a proxy set for the service.
_DEAD_PROXY_ENV = {
    name: f"http://127.0.0.1:{DEAD_PROXY_PORT}"
    for name in ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy")
} | {"no_proxy": ""}


class ConversionError(Exception):
    """A conversion failed; .message is a clear Swedish sentence for the user."""

    default_message = MSG_FAILED

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class ConverterUnavailable(ConversionError):
    """LibreOffice is absent or cannot be started."""

    default_message = MSG_UNAVAILABLE


class ConversionTimeout(ConversionError):
    """A conversion took longer than the configured timeout and was killed."""

    default_message = MSG_TIMEOUT


def _default_profile_root() -> str:
    """Per-user directory for LibreOffice profiles when none is configured."""
    return os.path.join(tempfile.gettempdir(), f"formsvc-libreoffice-{os.geteuid()}")


@dataclass(frozen=True)
class ConverterSettings:
    """How to run the LibreOffice pool; hashable, so it keys the process-wide pool cache."""

    processes: int = 1  #: number of unoserver processes (each its own ports + profile dir)
    #: XML-RPC port of process i is base_port + 2*i, its UNO port base_port + 2*i + 1
    base_port: int = 2003
    #: directory under which each process gets its own LibreOffice profile dir
    profile_root: str = field(default_factory=_default_profile_root)
    timeout: float = 60.0  #: seconds per conversion before the process is killed and restarted
    python: str = "/usr/bin/python3"  #: interpreter that can import uno
    soffice: str = "soffice"  #: executable name/path
    #: must be loopback: the unoserver and UNO ports are unauthenticated
    host: str = "127.0.0.1"
    #: run LibreOffice in a network namespace of its own (``unshare -rn``) where the machine
    #: supports it, so it can reach no address at all (docs/adr/010)
    isolate_network: bool = True

    def __post_init__(self) -> None:
        """Refuse settings that would expose LibreOffice or cannot work."""
        try:
            loopback = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"host must be a loopback IP address such as 127.0.0.1, not {self.host!r}: "
                "the unoserver ports are unauthenticated"
            )
        if self.processes < 1:
            raise ValueError("processes must be at least 1")
        if not 1024 <= self.base_port <= 65535 - 2 * self.processes + 1:
            raise ValueError("base_port must leave room for 2 ports per process below 65536")
        if not self.timeout > 0:
            raise ValueError("timeout must be positive")


# ---------------------------------------------------------------------------------------------
# Process-group helpers (Linux /proc; the service runs on Debian)


def _group_members(pgid: int) -> list[tuple[int, str]]:
    """Live (non-zombie) processes in process group *pgid*, as (pid, command name)."""
    members = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue  # the process ended while we looked
        # The command name is in parentheses and may itself contain spaces or ")".
        lparen, rparen = raw.find(b"("), raw.rfind(b")")
        fields = raw[rparen + 2 :].split()
        if len(fields) < 3 or fields[0] == b"Z":
            continue
        if int(fields[2]) == pgid:
            members.append((int(name), raw[lparen + 1 : rparen].decode(errors="replace")))
    return members


def _processes_with_arg(arg: str) -> list[int]:
    """Live processes that have *arg* as one exact command-line argument."""
    wanted = arg.encode()
    pids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        if wanted in args:
            pids.append(int(name))
    return pids


def _signal(pid: int, sig: int, *, group: bool = False) -> None:
    """Send *sig* to a process or group, ignoring ones that are already gone."""
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _exited_unreaped(pid: int, timeout: float) -> bool:
    """Wait up to *timeout* s for child *pid* to exit, without reaping it (keeps its pid taken)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:
            return True  # already reaped
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _terminate_group(proc: subprocess.Popen[bytes], grace: float = _KILL_GRACE) -> None:
    """Kill the process group that *proc* leads (started with start_new_session) and wait."""
    pgid = proc.pid
    if proc.returncode is None:
        # soffice.bin first: its parents (oosplash, unoserver) then reap it and exit on their own,
        # so no zombies are left behind for an init that does not reap orphans (some containers).
        # SIGTERM is no good: it leaves oosplash running with a zombie soffice.bin.
        for pid, name in _group_members(pgid):
            if name == "soffice.bin":
                _signal(pid, signal.SIGKILL)
        _exited_unreaped(pgid, grace)
        # The unreaped leader keeps the group id reserved, so this cannot hit a stranger's group.
        _signal(pgid, signal.SIGKILL, group=True)
    elif _group_members(pgid):
        _signal(pgid, signal.SIGKILL, group=True)  # leader already reaped; orphans remain
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        logger.error("Process %d did not exit after SIGKILL", proc.pid)
    deadline = time.monotonic() + grace
    while _group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Profile lockdown


def lock_down_profile(profile_dir: Path) -> None:
    """Write the no-network, no-links, no-macros settings into a LibreOffice profile."""
    items = [
        f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse">'
        f"<value>{value}</value></prop></item>"
        for path, props in _LOCKDOWN.items()
        for name, value in props.items()
    ]
    xcu = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        + "\n".join(items)
        + "\n</oor:items>\n"
    )
    user = profile_dir / "user"
    user.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Written on every start: LibreOffice rewrites this file on exit, and we want ours back.
    path = user / "registrymodifications.xcu"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)  # the owner's only, like the rest of the profile
        fh.write(xcu)


def _soffice_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for LibreOffice: as given, with every proxy pointing nowhere."""
    env = dict(os.environ if base is None else base)
    for name in list(env):
        if name.lower() in _DEAD_PROXY_ENV:
            del env[name]
    return env | _DEAD_PROXY_ENV


_NETNS_OK: dict[str, bool] = {}
_NETNS_LOCK = threading.Lock()


def network_isolation_works(unshare: str = "unshare") -> bool:
    """True if this machine lets us start a process in a new, empty network namespace."""
    with _NETNS_LOCK:
        if unshare not in _NETNS_OK:
            executable = shutil.which(unshare)
            ok = False
            if executable is not None:
                try:
                    done = subprocess.run(
                        [executable, "-rn", "--", "true"],
                        stdin=subprocess.DEVNULL,
                        capture_output=True,
                        timeout=10,
                        check=False,
                    )
                    ok = done.returncode == 0
                except (OSError, subprocess.TimeoutExpired):
                    ok = False
            if not ok:
                logger.warning(
                    "Network namespaces are not available (unshare -rn); LibreOffice runs "
                    "without one, protected by its locked-down profile only"
                )
            _NETNS_OK[unshare] = ok
        return _NETNS_OK[unshare]


def _isolated(cmd: list[str]) -> list[str]:
    """*cmd* run as "root" of a new user namespace with a new network namespace: no network."""
    unshare = shutil.which("unshare") or "unshare"
    return [unshare, "--user", "--map-root-user", "--net", "--", *cmd]


# Runs unoserver inside the empty network namespace: brings up its loopback (LibreOffice and
# unoserver talk over it) and serves XML-RPC on a socket bound *outside*, inherited as fd argv[1].
_NETNS_UNOSERVER = """\
import fcntl, socket, struct, sys
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(probe, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
fcntl.ioctl(probe, 0x8914, struct.pack("16sH", b"lo", flags | 1))  # SIOCSIFFLAGS: lo up
probe.close()
listener = socket.socket(fileno=int(sys.argv[1]))
import unoserver.server as server
def bind(self):
    self.socket.close()
    self.socket = listener
    self.server_address = listener.getsockname()
server.XMLRPCServer.server_bind = bind
server.XMLRPCServer.server_activate = lambda self: None
sys.argv = ["unoserver", *sys.argv[2:]]
server.main()
"""


# ---------------------------------------------------------------------------------------------
# Input checks and PDF options


def _check_docx(docx: bytes) -> None:
    """Refuse input that is not a DOCX (OPC zip) package before it reaches LibreOffice."""
    if not isinstance(docx, bytes | bytearray | memoryview):
        raise ConversionError(MSG_NOT_DOCX)
    data = bytes(docx)
    if not data.startswith(b"PK\x03\x04"):
        raise ConversionError(MSG_NOT_DOCX)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            names = set(package.namelist())
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise ConversionError(MSG_NOT_DOCX) from exc
    if "[Content_Types].xml" not in names:
        raise ConversionError(MSG_NOT_DOCX)


def _pdf_options(pdfa: bool) -> dict[str, bool | int]:
    """PDF export filter data: lossless images (crisp drawn signatures), a tagged PDF (a
    structure tree screen readers follow: headings, tables, reading order), optionally PDF/A-2b.

    LibreOffice tags a PDF/A-2b export on its own; UseTaggedPDF says so for every PDF, so the
    drafts shown inline and downloaded are read as well as the frozen and sealed ones."""
    options: dict[str, bool | int] = {"UseLosslessCompression": True, "UseTaggedPDF": True}
    if pdfa:
        options["SelectPdfVersion"] = 2  # 2 = PDF/A-2b
    return options


def _unoserver_filter_options(options: dict[str, bool | int]) -> list[str]:
    """Options in unoserver's "Name=value" form; it turns "true" and digits into bool and int."""
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items()]


def _soffice_filter_json(options: dict[str, bool | int]) -> str:
    """Options in the JSON form that ``soffice --convert-to pdf:filter:{...}`` reads (LO >= 7.4)."""
    typed = {
        k: {"type": "boolean", "value": str(v).lower()}
        if isinstance(v, bool)
        else {"type": "long", "value": str(v)}
        for k, v in options.items()
    }
    return json.dumps(typed, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# One-shot conversion


def convert_oneshot(
    docx: bytes,
    *,
    soffice: str = "soffice",
    timeout: float = 120.0,
    pdfa: bool = False,
    isolate_network: bool = True,
) -> bytes:
    """Convert with a new soffice process and its own temporary profile; slow but independent."""
    _check_docx(docx)
    executable = shutil.which(soffice)
    if executable is None:
        raise ConverterUnavailable()
    with tempfile.TemporaryDirectory(prefix="formsvc-soffice-") as tmp:
        work = Path(tmp)
        source = work / "dokument.docx"
        source.write_bytes(docx)
        outdir = work / "out"
        lock_down_profile(work / "profile")
        cmd = [
            executable,
            "--headless",
            "--invisible",
            "--norestore",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            # A profile of its own: two soffice sharing one profile make the second fail silently.
            f"-env:UserInstallation={(work / 'profile').as_uri()}",
            f"--infilter={DOCX_IMPORT_FILTER}",
            "--convert-to",
            f"pdf:{PDF_EXPORT_FILTER}:{_soffice_filter_json(_pdf_options(pdfa))}",
            "--outdir",
            str(outdir),
            str(source),
        ]
        if isolate_network and network_isolation_works():
            cmd = _isolated(cmd)
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=work,
                env=_soffice_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so a timeout can kill soffice.bin too, not just oosplash
            )
        except OSError as exc:
            logger.error("Could not run %s: %s", executable, exc)
            raise ConverterUnavailable() from exc
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("soffice conversion exceeded %.1f s; killing it", timeout)
            _terminate_group(proc)
            proc.communicate()  # drain and close the pipe
            raise ConversionTimeout() from None
        finally:
            if proc.returncode is None:  # an unexpected exception: leave nothing running
                _terminate_group(proc)
                proc.communicate()
        _terminate_group(proc)  # soffice exited; make sure no helper of it lingers
        result = outdir / "dokument.pdf"
        text = output.decode(errors="replace").strip()
        if proc.returncode != 0 or not result.is_file():
            logger.warning("soffice exited %s without a PDF: %s", proc.returncode, text[-500:])
            if "could not be loaded" in text:
                raise ConversionError(MSG_NOT_DOCX)
            raise ConversionError()
        pdf = result.read_bytes()
    if not pdf.startswith(b"%PDF-"):
        raise ConversionError()
    return pdf


# ---------------------------------------------------------------------------------------------
# unoserver workers


class _StartError(Exception):
    """A worker could not be started (internal)."""


class _WorkerTimeout(Exception):
    """The conversion exceeded the timeout (internal)."""


class _WorkerFault(Exception):
    """unoserver answered with an error (internal)."""


class _WorkerCrashed(Exception):
    """The connection to unoserver broke (internal)."""


class _TimeoutTransport(xmlrpc.client.Transport):
    """XML-RPC transport whose socket operations time out, bounding the wait for a conversion."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host: tuple[str, dict[str, str]] | str) -> http.client.HTTPConnection:
        """Return the connection with our timeout (used when it connects, sends and receives)."""
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


def _server_env(pythonpath: str) -> dict[str, str]:
    """Environment for the Debian python: our PYTHONPATH, nothing that points at another python."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONPATH"] = pythonpath
    return _soffice_env(env)


def _unoserver_pythonpath(root: Path) -> str:
    """A directory holding only the unoserver package, to be the Debian python's PYTHONPATH."""
    # Not the whole venv site-packages: PYTHONPATH comes before the standard library, so a venv
    # package could shadow a module of the other interpreter.
    import unoserver  # imported here: only needed once a pool starts

    package = Path(unoserver.__file__).resolve().parent
    site = package.parent
    dists = sorted(site.glob("unoserver-*.dist-info"))  # unoserver reads its version from here
    if not dists:
        return str(site)
    shim = root / "pythonpath"
    shim.mkdir(mode=0o700, exist_ok=True)
    wanted = {package.name: package, dists[-1].name: dists[-1]}
    for entry in shim.iterdir():
        if entry.is_symlink() and entry.name not in wanted:
            entry.unlink()  # e.g. the dist-info of an older unoserver
    for name, target in wanted.items():
        link = shim / name
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.is_symlink():
            link.unlink()
        with contextlib.suppress(FileExistsError):  # another process made it at the same moment
            link.symlink_to(target, target_is_directory=True)
    return str(shim)


class _Worker:
    """One unoserver + LibreOffice process group; used by one conversion at a time."""

    def __init__(self, index: int, settings: ConverterSettings, soffice: str, pythonpath: str):
        self.index = index
        self.settings = settings
        self.port = settings.base_port + 2 * index
        self.uno_port = self.port + 1
        root = Path(os.path.abspath(settings.profile_root))
        self.profile_dir = root / str(index)
        self.temp_dir = root / f"tmp-{index}"  # unoserver's input/output files, emptied on start
        self._soffice = soffice
        self._pythonpath = pythonpath
        self._proc: subprocess.Popen[bytes] | None = None
        self._relay: threading.Thread | None = None
        self._lock = threading.Lock()  # guards _proc and _closed
        self._closed = False
        self._stopping = False  # while we kill it, its complaints about dying are expected
        self._tail: deque[str] = deque(maxlen=40)  # last output lines, for error reports
        self._lock_path = root / f"{index}.lock"
        self._lock_fd: int | None = None
        #: set after a timeout: when the caller lets go, the worker is restarted, then returned
        self.restart_after_use = False
        host = settings.host
        self.url = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        return f"<worker {self.index} port {self.port}>"

    # -- lifecycle -------------------------------------------------------------------------

    def alive(self) -> bool:
        """True while the unoserver process runs (LibreOffice itself may still be dead)."""
        with self._lock:
            return self._proc is not None and self._proc.poll() is None

    def spawn(self) -> None:
        """Start the process group (returns at once; see wait_ready)."""
        with self._lock:
            if self._closed:
                raise _StartError("the pool is closed")
            self._stop_locked()
            self._claim_profile()
            self._kill_stale()
            self._wait_ports_free()
            self.profile_dir.mkdir(mode=0o700, exist_ok=True)
            lock_down_profile(self.profile_dir)
            shutil.rmtree(self.temp_dir, ignore_errors=True)  # leftovers of a killed conversion
            self.temp_dir.mkdir(mode=0o700)
            host = self.settings.host
            cmd = [
                self.settings.python,
                "-m",
                "unoserver.server",
                "--interface",
                host,
                "--uno-interface",
                host,
                "--port",
                str(self.port),
                "--uno-port",
                str(self.uno_port),
                # unoserver 3.7 wants a path here and makes the file:// URL itself.
                "--user-installation",
                str(self.profile_dir),
                "--executable",
                self._soffice,
                "--temp-dir",
                str(self.temp_dir),
                # A backstop for when this client is gone; later than our own timeout so that
                # normally the client side kills and restarts. unoserver takes whole seconds.
                "--conversion-timeout",
                str(math.ceil(self.settings.timeout) + 10),
            ]
            self._tail.clear()
            listener = None
            if self.settings.isolate_network and network_isolation_works():
                # The XML-RPC socket is bound here, in our network namespace, and handed in:
                # inside its own namespace unoserver and LibreOffice can reach no address.
                listener = self._listen()
                cmd = _isolated([cmd[0], "-c", _NETNS_UNOSERVER, str(listener.fileno()), *cmd[3:]])
            try:
                proc = subprocess.Popen(
                    cmd,
                    cwd=self._pythonpath,  # "-m" puts the cwd on sys.path; keep it harmless
                    env=_server_env(self._pythonpath),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: close() kills soffice.bin too
                    umask=0o077,  # its profile and temporary files: the owner's eyes only
                    pass_fds=(listener.fileno(),) if listener else (),
                )
            except OSError as exc:
                raise _StartError(f"cannot run {self.settings.python}: {exc}") from exc
            finally:
                if listener is not None:
                    listener.close()  # the child has its copy
            self._proc = proc
            assert proc.stdout is not None
            self._relay = threading.Thread(
                target=self._relay_output,
                args=(proc.stdout,),
                name=f"formsvc-unoserver-{self.index}-log",
                daemon=True,
            )
            self._relay.start()
            logger.info("Started unoserver %d (pid %d) on port %d", self.index, proc.pid, self.port)

    def wait_ready(self, deadline: float) -> None:
        """Wait until unoserver answers ``info``; raise _StartError if it dies or is too slow."""
        while True:
            with self._lock:
                proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise _StartError(f"unoserver exited with {code}: {self.output_tail()}")
            try:
                with self._proxy(_HEALTH_TIMEOUT) as proxy:
                    info = proxy.info()
            except (OSError, http.client.HTTPException, xmlrpc.client.Error, ExpatError):
                pass  # not listening or not ready yet
            else:
                if str(info.get("api")) != UNOSERVER_API:
                    raise _StartError(f"unoserver speaks API {info.get('api')}, not 3")
                logger.info(
                    "unoserver %d ready: %s, LibreOffice %s",
                    self.index,
                    info.get("unoserver"),
                    info.get("libreoffice_version"),
                )
                return
            if time.monotonic() >= deadline:
                raise _StartError(f"unoserver did not answer in time: {self.output_tail()}")
            time.sleep(0.2)

    def restart(self) -> None:
        """Stop whatever runs and start anew, waiting until it answers."""
        CONVERTER_RESTARTS.inc()
        self.spawn()
        self.wait_ready(time.monotonic() + START_TIMEOUT)

    def stop(self) -> None:
        """Kill the whole process group and wait for it."""
        with self._lock:
            self._stop_locked()

    def close(self) -> None:
        """Stop for good: later starts fail."""
        with self._lock:
            self._closed = True
            self._stop_locked()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the profile claim
                self._lock_fd = None

    def _claim_profile(self) -> None:
        """Hold an flock on the profile for the pool's life, so only one live pool may use it."""
        # The kernel drops the lock when its holder dies, even by SIGKILL: LibreOffice found on a
        # profile we could lock is therefore a leftover, safe to kill (see _kill_stale).
        if self._lock_fd is not None:
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise _StartError(f"{self.profile_dir} is in use by another live process") from exc
        self._lock_fd = fd

    def _stop_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._stopping = True
        try:
            _terminate_group(proc)
            logger.info("Stopped unoserver %d (pid %d)", self.index, proc.pid)
            if self._relay is not None:
                self._relay.join(timeout=5)
                self._relay = None
        finally:
            self._stopping = False

    def _kill_stale(self) -> None:
        """Kill LibreOffice processes left on this profile by a run that died without close()."""
        for arg in (f"-env:UserInstallation={self.profile_dir.as_uri()}", str(self.profile_dir)):
            for pid in _processes_with_arg(arg):
                logger.warning("Killing stale LibreOffice process %d on %s", pid, self.profile_dir)
                _signal(pid, signal.SIGKILL)

    def _wait_ports_free(self) -> None:
        """Make sure nobody else listens on our ports; a stranger there would get our documents."""
        deadline = time.monotonic() + 5  # a just-killed LibreOffice may hold a port briefly
        for port in (self.port, self.uno_port):
            while True:
                with socket.socket(
                    socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
                ) as sock:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        sock.bind((self.settings.host, port))
                        break
                    except OSError as exc:
                        if time.monotonic() >= deadline:
                            raise _StartError(f"port {port} is in use: {exc}") from exc
                time.sleep(0.2)

    def _listen(self) -> socket.socket:
        """A listening socket on our XML-RPC port, for unoserver in its own namespace."""
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.settings.host, self.port))
            sock.listen(16)
        except OSError as exc:
            sock.close()
            raise _StartError(f"port {self.port} is in use: {exc}") from exc
        return sock

    def _relay_output(self, stream: io.BufferedReader) -> None:
        """Pass unoserver's output to our log and keep the last lines."""
        try:
            with stream:
                for raw in stream:
                    line = raw.decode(errors="replace").rstrip()
                    self._tail.append(line)
                    if line.startswith(("ERROR", "CRITICAL", "Traceback")) and not self._stopping:
                        logger.warning("unoserver %d: %s", self.index, line)
                    else:
                        logger.debug("unoserver %d: %s", self.index, line)
        except Exception:  # a logging thread must never die noisily
            logger.debug("unoserver %d output relay ended", self.index, exc_info=True)

    def output_tail(self) -> str:
        """The last lines unoserver printed, for error messages."""
        return " | ".join(list(self._tail)[-8:])

    # -- conversions -----------------------------------------------------------------------

    def _proxy(self, timeout: float) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(
            self.url, allow_none=True, transport=_TimeoutTransport(timeout)
        )

    def healthy(self) -> bool:
        """True if unoserver runs and LibreOffice answers through it."""
        if not self.alive():
            return False
        try:
            with self._proxy(_HEALTH_TIMEOUT) as proxy:
                proxy.info()  # asks LibreOffice for its version over UNO
        except (OSError, http.client.HTTPException, xmlrpc.client.Error, ExpatError):
            return False
        return True

    def convert(self, docx: bytes, options: list[str], timeout: float) -> bytes:
        """One conversion through unoserver's XML-RPC ``convert`` (API 3 positional arguments)."""
        try:
            with self._proxy(timeout) as proxy:
                result = proxy.convert(
                    None,  # inpath
                    xmlrpc.client.Binary(docx),  # indata
                    None,  # outpath: return the bytes
                    "pdf",  # convert_to
                    PDF_EXPORT_FILTER,  # filtername
                    options,  # filter_options
                    True,  # update_index: tables of contents get right page numbers
                    DOCX_IMPORT_FILTER,  # infiltername
                    None,  # password
                )
        except TimeoutError as exc:
            raise _WorkerTimeout() from exc
        except xmlrpc.client.Fault as fault:
            if "TimeoutError" in fault.faultString:
                raise _WorkerTimeout() from fault  # unoserver's own backstop fired
            raise _WorkerFault(fault.faultString) from fault
        except (OSError, http.client.HTTPException, xmlrpc.client.Error, ExpatError) as exc:
            raise _WorkerCrashed(repr(exc)) from exc
        data = result.data if isinstance(result, xmlrpc.client.Binary) else None
        if not data or not data.startswith(b"%PDF-"):
            raise _WorkerFault("unoserver returned no PDF")
        return data


# ---------------------------------------------------------------------------------------------
# The pool


_ALL_POOLS: weakref.WeakSet[ConverterPool] = weakref.WeakSet()


class ConverterPool:
    """N supervised unoserver workers; ``convert`` waits for a free one. Thread-safe."""

    def __init__(self, settings: ConverterSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()  # guards start/close and the mode
        self._mode = "unstarted"
        self._closed = False
        self._workers: list[_Worker] = []
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._soffice: str | None = None
        # In oneshot mode, at most `processes` soffice run at once (each takes ~200 MB).
        self._oneshot_slots = threading.BoundedSemaphore(settings.processes)

    @property
    def mode(self) -> str:
        """Current mode: unoserver, oneshot (fallback), unavailable, unstarted or closed."""
        return self._mode

    @property
    def closed(self) -> bool:
        """True after close()."""
        return self._closed

    def start(self) -> None:
        """Start all processes and wait until each answers; fall back to oneshot if they can't."""
        with self._lock:
            if self._mode != "unstarted" or self._closed:
                return
            _ALL_POOLS.add(self)
            self._mode = self._start_locked()
            logger.info("Converter pool on port %d: mode %s", self.settings.base_port, self._mode)

    def _start_locked(self) -> str:
        settings = self.settings
        self._soffice = shutil.which(settings.soffice)
        if self._soffice is None:
            logger.error("LibreOffice (%s) not found: no PDF conversion", settings.soffice)
            return "unavailable"
        try:
            root = Path(os.path.abspath(settings.profile_root))
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(root)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                raise _StartError(f"{root} is not a directory owned by this user")
            pythonpath = _unoserver_pythonpath(root)
            self._check_python(pythonpath)
            workers = [
                _Worker(i, settings, self._soffice, pythonpath) for i in range(settings.processes)
            ]
            self._workers = workers
            for worker in workers:  # start them all first, so they boot in parallel
                worker.spawn()
            deadline = time.monotonic() + START_TIMEOUT
            for worker in workers:
                worker.wait_ready(deadline)
        except (_StartError, OSError) as exc:
            logger.warning(
                "unoserver could not start (%s); converting with one soffice per document", exc
            )
            for worker in self._workers:
                worker.close()
            self._workers = []
            return "oneshot"
        for worker in workers:
            self._idle.put(worker)
        return "unoserver"

    def _check_python(self, pythonpath: str) -> None:
        """Fail fast (instead of after unoserver's 7 s start) if the python cannot import uno."""
        try:
            done = subprocess.run(
                [self.settings.python, "-c", "import unoserver.server"],
                cwd=pythonpath,
                env=_server_env(pythonpath),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _StartError(f"cannot run {self.settings.python}: {exc}") from exc
        if done.returncode != 0:
            last = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise _StartError(f"{self.settings.python} cannot import unoserver/uno: {last}")

    def close(self) -> None:
        """Stop all processes (no orphans); later conversions raise ConverterUnavailable."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
        for worker in workers:
            worker.close()
        self._mode = "closed"
        self._idle.put(None)  # wakes a waiting caller, which passes it on

    def convert(self, docx: bytes, *, pdfa: bool = False) -> bytes:
        """Return *docx* as PDF bytes; every failure is a ConversionError with a Swedish message."""
        started = time.monotonic()
        try:
            pdf = self._convert(docx, pdfa)
        except ConversionError as exc:
            logger.info("Conversion failed (%s): %s", type(exc).__name__, exc.message)
            CONVERSIONS.labels(outcome="failed").inc()
            raise
        except Exception as exc:  # never hand a raw exception to the caller
            logger.exception("Unexpected error during conversion")
            CONVERSIONS.labels(outcome="failed").inc()
            raise ConversionError() from exc
        CONVERSIONS.labels(outcome="ok").inc()
        logger.debug(
            "Converted %d bytes of DOCX to %d bytes of PDF in %.0f ms",
            len(docx),
            len(pdf),
            (time.monotonic() - started) * 1000,
        )
        return pdf

    def _convert(self, docx: bytes, pdfa: bool) -> bytes:
        _check_docx(docx)
        self.start()
        mode = self._mode
        if self._closed:
            raise ConverterUnavailable(MSG_CLOSED)
        if mode == "unavailable":
            raise ConverterUnavailable()
        if mode == "oneshot":
            with self._oneshot_slots:
                assert self._soffice is not None
                return convert_oneshot(
                    docx,
                    soffice=self._soffice,
                    timeout=self.settings.timeout,
                    pdfa=pdfa,
                    isolate_network=self.settings.isolate_network,
                )
        with self._checkout() as worker:
            return self._convert_on(worker, bytes(docx), pdfa)

    def _convert_on(self, worker: _Worker, docx: bytes, pdfa: bool) -> bytes:
        options = _unoserver_filter_options(_pdf_options(pdfa))
        for attempt in (1, 2):
            if not worker.alive():
                logger.warning("unoserver %d is not running; restarting it", worker.index)
                try:
                    worker.restart()
                except _StartError as exc:
                    logger.error("Restarting unoserver %d failed: %s", worker.index, exc)
                    worker.stop()
                    raise ConverterUnavailable(
                        MSG_CLOSED if self._closed else MSG_RESTART_FAILED
                    ) from exc
            try:
                return worker.convert(docx, options, self.settings.timeout)
            except _WorkerTimeout:
                logger.warning(
                    "Conversion on unoserver %d exceeded %.1f s; killing and restarting it",
                    worker.index,
                    self.settings.timeout,
                )
                worker.stop()  # now, so a hung LibreOffice stops using CPU at once
                worker.restart_after_use = True  # in the background: this caller waited enough
                raise ConversionTimeout() from None
            except _WorkerFault as fault:
                if worker.healthy():  # LibreOffice is fine; the document is the problem
                    logger.info("LibreOffice refused the document: %s", fault)
                    if "Could not load document" in str(fault):
                        raise ConversionError(MSG_NOT_DOCX) from None
                    raise ConversionError() from None
                logger.warning("unoserver %d failed mid-conversion: %s", worker.index, fault)
            except _WorkerCrashed as crash:
                logger.warning("unoserver %d connection broke: %s", worker.index, crash)
            # Crashed: kill what is left; the next attempt restarts it. One retry only, so a
            # document that crashes LibreOffice every time does not keep it restarting.
            worker.stop()
            if self._closed:
                raise ConverterUnavailable(MSG_CLOSED)
            if attempt == 1:
                logger.info("Retrying once on a restarted unoserver %d", worker.index)
        raise ConversionError(MSG_CRASHED)

    @contextlib.contextmanager
    def _checkout(self) -> Iterator[_Worker]:
        """Lend an idle worker, waiting for one; give it back unless a restart took it over."""
        # Generous: a caller may queue behind others and behind a restart.
        try:
            item = self._idle.get(timeout=self.settings.timeout + START_TIMEOUT)
        except queue.Empty:
            raise ConversionTimeout(MSG_BUSY) from None
        if item is None or self._closed:
            self._idle.put(item)  # pass the wake-up (or the worker) on to the next caller
            raise ConverterUnavailable(MSG_CLOSED)
        try:
            yield item
        finally:
            if item.restart_after_use:
                item.restart_after_use = False
                self._restart_in_background(item)
            else:
                self._idle.put(item)

    def _restart_in_background(self, worker: _Worker) -> None:
        """Restart *worker* in a thread; it rejoins the idle queue when done (even if failed)."""

        def run() -> None:
            try:
                worker.restart()
            except _StartError as exc:
                logger.error("Restarting unoserver %d failed: %s", worker.index, exc)
                worker.stop()  # the next caller tries again
            except Exception:  # the worker must get back to the queue regardless
                logger.exception("Restarting unoserver %d failed", worker.index)
            finally:
                self._idle.put(worker)

        name = f"formsvc-unoserver-{worker.index}-restart"
        threading.Thread(target=run, name=name, daemon=True).start()


# ---------------------------------------------------------------------------------------------
# Process-wide cache


_POOLS: dict[ConverterSettings, ConverterPool] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(settings: ConverterSettings) -> ConverterPool:
    """The started pool for *settings*, shared by every caller (and app instance) in the process."""
    with _POOLS_LOCK:
        pool = _POOLS.get(settings)
        if pool is None or pool.closed:
            pool = ConverterPool(settings)
            _POOLS[settings] = pool
    pool.start()  # outside the cache lock: the pool's own lock makes other callers wait
    return pool


def close_all_pools() -> None:
    """Stop every LibreOffice this process started (for signal handlers; atexit does it too)."""
    _close_all_pools()


def _close_all_pools() -> None:
    """atexit: stop every LibreOffice we started."""
    for pool in list(_ALL_POOLS):
        try:
            pool.close()
        except Exception:  # keep closing the others
            logger.exception("Closing a converter pool failed")


atexit.register(_close_all_pools)
