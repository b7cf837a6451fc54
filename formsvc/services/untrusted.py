"""Parse untrusted files in a child process with CPU, memory and wall-clock limits.

Every parser that reads a file from outside (the /verify upload, a paper scan, a Word template)
runs through `Runner.run`, so a hostile file costs at most one bounded, niced child process and
never a web worker for long. See docs/adr/009-untrusted-files.md.

How to use it (e.g. for a template check)::

    from formsvc.services import untrusted
    from formsvc.services.untrusted import N_

    # a module-level function in formsvc.*; it runs in the child: no app, no request, no
    # database. It gets the bytes and JSON-able keyword arguments, and returns an Output.
    def check_docx(data: bytes, *, slug: str) -> untrusted.Output:
        if bad:
            raise untrusted.Refused(N_("Mallen använder %(name)s."), name="x")  # shown to the user
        return untrusted.Output({"pages": 2}, pdf_bytes)  # .value: JSON-able, .data: bytes

    runner = runtime().untrusted  # views: _common.untrusted()
    out = runner.run(check_docx, data, limits=runner.limits.but(cpu_seconds=30), slug="consent")

`run` raises `Refused` (its ``.message`` is a Swedish sentence, translated in the caller's
request) for a refusal, an exceeded limit or any parser failure, and `Busy` (a `Refused` too)
when every slot is taken: answer 503 "försök igen". It logs exactly one line per refusal; the
child's own output (pyHanko, pypdf, qpdf) is discarded. Add the function's module to PRELOAD
so the child does not pay its import under the CPU limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib import import_module
from multiprocessing import forkserver, popen_forkserver, process, reduction, spawn, util
from multiprocessing.connection import Connection
from multiprocessing.context import set_spawning_popen
from typing import Any

from flask_babel import gettext

logger = logging.getLogger(__name__)

EXTENSION_KEY = "formsvc.untrusted"
#: Modules imported once by the fork server, so each child starts in milliseconds.
PRELOAD = (
    "formsvc.services.scans",
    "formsvc.services.sealing",
    "formsvc.services.template_trial",
    "formsvc.services.verification",
)
#: The most a child may send back (a rewritten scan is at most its size limit).
_MAX_REPLY = 64 * 1024 * 1024


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark *message* for the catalogue; `Refused.message` translates it in the caller."""
    return message


class Refused(Exception):
    """An untrusted file was refused; ``.message`` is a Swedish sentence for the user."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params

    @property
    def message(self) -> str:
        """The sentence in the current request's language (Swedish outside a request)."""
        return gettext(self.msgid, **self.params)


class Busy(Refused):
    """Every slot for untrusted files is taken: the caller answers 503 and asks to retry."""

    def __init__(self) -> None:
        super().__init__(
            N_("Servern kontrollerar många filer just nu. Försök igen om en liten stund.")
        )


@dataclass(frozen=True)
class Output:
    """What a child function returns."""

    value: Any = None  #: JSON-able (dict, list, str, number, bool, None)
    data: bytes = b""  #: e.g. the rewritten file


@dataclass(frozen=True)
class Limits:
    """What one child may use; exceeding any is a refusal, never a hung or dead worker."""

    cpu_seconds: int = 10  #: RLIMIT_CPU (the kernel stops the child)
    memory_mb: int = 1024  #: RLIMIT_AS, the child's whole address space
    wall_seconds: float = 30.0  #: the parent kills the child after this (e.g. a sleeping parser)
    nice: int = 10  #: lower CPU priority than the web workers

    def but(self, **changes: Any) -> Limits:
        """These limits with some changed."""
        return replace(self, **changes)


def limits_from(settings: Mapping[str, Any]) -> Limits:
    """The default limits from UNTRUSTED_* settings."""
    return Limits(
        cpu_seconds=int(settings["UNTRUSTED_CPU_SECONDS"]),
        memory_mb=int(settings["UNTRUSTED_MEMORY_MB"]),
        wall_seconds=float(settings["UNTRUSTED_WALL_SECONDS"]),
        nice=int(settings["UNTRUSTED_NICE"]),
    )


class Runner:
    """Runs functions on untrusted bytes in limited child processes, a few at a time."""

    def __init__(self, *, concurrency: int, limits: Limits) -> None:
        self.limits = limits
        self._slots = threading.BoundedSemaphore(max(1, concurrency))

    def run(
        self,
        fn: Callable[..., Output],
        data: bytes,
        *,
        limits: Limits | None = None,
        **params: Any,
    ) -> Output:
        """fn(data, **params) in a child under *limits*; raises Refused or Busy."""
        limits = limits or self.limits
        what = f"{fn.__module__}:{fn.__qualname__}"
        if not fn.__module__.startswith("formsvc.") or "<" in fn.__qualname__:
            raise ValueError(f"{what} is not a module-level function of formsvc")
        json.dumps(params)  # fail here, in the caller, if a parameter is not plain data
        if not self._slots.acquire(blocking=False):
            _log_refusal(what, data, "busy")
            raise Busy()
        started = time.monotonic()
        try:
            return self._run(what, data, limits, params)
        except Refused as refusal:
            _log_refusal(what, data, str(refusal), time.monotonic() - started)
            raise
        finally:
            self._slots.release()

    def _run(self, what: str, data: bytes, limits: Limits, params: dict[str, Any]) -> Output:
        receive, send = multiprocessing.Pipe(duplex=False)
        child = _Child(
            target=_child_main,
            args=(send, what, data, params, limits),
            name="formsvc-untrusted",
            daemon=True,
        )
        try:
            child.start()
            send.close()  # the child holds the only writer: its exit ends our wait
            if not receive.poll(limits.wall_seconds):
                raise Refused(N_("Filen tog för lång tid att kontrollera och avvisades."))
            try:
                header = json.loads(receive.recv_bytes(_MAX_REPLY))
                payload = receive.recv_bytes(_MAX_REPLY) if header.get("data") else b""
            except (EOFError, OSError, ValueError):
                child.join(5)
                raise _death(child.exitcode) from None
        finally:
            receive.close()
            if child.pid is not None:  # it started
                if child.is_alive():
                    child.kill()
                child.join(5)
                with contextlib.suppress(ValueError):  # a child that could not be reaped
                    child.close()
        if "refused" in header:
            raise Refused(str(header["refused"]), **dict(header.get("params") or {}))
        if "error" in header:
            raise _failure(str(header["error"]))
        return Output(header.get("value"), payload)


class _Launcher(popen_forkserver.Popen):
    """The fork server's launcher (Python 3.11's `_launch`), minus the parent's __main__.

    multiprocessing re-runs the parent's main script in every child (e.g. the `flask` or
    `waitress-serve` script); a child here needs only the function it runs, so that step is
    left out: no start-up cost, and no surprise from a script without a __main__ guard.
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        parent_w = os.dup(w)  # the child watches it to notice the parent is gone
        self.finalizer = util.Finalize(self, util.close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Child(process.BaseProcess):
    _start_method = "forkserver"

    @staticmethod
    def _Popen(process_obj: Any) -> _Launcher:  # noqa: N802 - multiprocessing's name
        return _Launcher(process_obj)


def _death(exitcode: int | None) -> Refused:
    """The refusal for a child that died without answering."""
    if exitcode in (-signal.SIGXCPU, -signal.SIGKILL):
        return Refused(N_("Filen krävde för mycket beräkning att kontrollera och avvisades."))
    return _failure("crash")


def _failure(kind: str) -> Refused:
    if kind == "memory":
        return Refused(N_("Filen krävde för mycket minne att kontrollera och avvisades."))
    return Refused(N_("Filen kunde inte läsas. Kontrollera att det är rätt fil."))


def _log_refusal(what: str, data: bytes, reason: str, seconds: float = 0.0) -> None:
    # one line per refused file: never the parser's own output, never the file's content
    logger.warning(
        "untrusted file refused by %s: %s (%d bytes, sha256 %s, %.1f s)",
        what,
        reason[:200],
        len(data),
        hashlib.sha256(data).hexdigest()[:16],
        seconds,
    )


def _limit_self(limits: Limits) -> None:
    cpu = max(1, int(limits.cpu_seconds))
    # SIGXCPU at the soft limit, SIGKILL one second later should it be caught
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(limits.memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would otherwise dump core
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # a parser has nothing to write to disk
    os.nice(max(0, int(limits.nice)))


def _child_main(
    conn: Connection, what: str, data: bytes, params: dict[str, Any], limits: Limits
) -> None:
    """The child: limit itself, silence every log, run the function, answer once."""
    _limit_self(limits)
    logging.disable(logging.CRITICAL)  # pyHanko/pypdf write pages of log for a hostile file
    warnings.simplefilter("ignore")
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # qpdf and C libraries write to stdout/stderr directly
        os.dup2(devnull, 2)
        module, _, name = what.partition(":")
        fn = getattr(import_module(module), name)
        out = fn(data, **params)
        header: dict[str, Any] = {"value": out.value, "data": bool(out.data)}
        conn.send_bytes(json.dumps(header).encode())
        if out.data:
            conn.send_bytes(out.data)
    except Refused as refusal:
        conn.send_bytes(json.dumps({"refused": refusal.msgid, "params": refusal.params}).encode())
    except MemoryError:
        conn.send_bytes(b'{"error": "memory"}')
    except Exception:  # noqa: BLE001 - whatever the parser raised, the file is unreadable
        conn.send_bytes(b'{"error": "unreadable"}')
    finally:
        conn.close()


def start(concurrency: int, limits: Limits) -> Runner:
    """A Runner for an app; the fork server preloads PRELOAD when it first starts."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return Runner(concurrency=concurrency, limits=limits)
