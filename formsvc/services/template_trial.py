"""Fill an untrusted Word template in a child process with CPU, memory and time limits.

A minimal bounded runner, for template uploads only (docs/adr/010). The "uploads" work adds a
general runner (formsvc/services/untrusted.py); when both are on main, this should use it.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LIMITS", "TrialFailed", "TrialLimits", "render_bounded"]

_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding the formsvc package
_TEMPLATE_ERROR = 3


@dataclass(frozen=True)
class TrialLimits:
    """What one trial render may use."""

    cpu_seconds: int = 20  #: CPU time of the child (RLIMIT_CPU)
    memory_mb: int = 1024  #: address space of the child (RLIMIT_AS)
    wall_seconds: float = 60.0  #: then the child is killed, whatever it does


DEFAULT_LIMITS = TrialLimits()


class TrialFailed(Exception):
    """The template could not be filled within the limits; ``message`` is Swedish."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def render_bounded(
    template: bytes, context: Mapping[str, Any], limits: TrialLimits = DEFAULT_LIMITS
) -> bytes:
    """Render *template* with *context* in a limited child process and return the DOCX."""
    # Our own context and template go to the child; only bytes and a JSON message come back.
    payload = pickle.dumps((template, dict(context), limits))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, _ROOT],
            input=payload,
            capture_output=True,
            timeout=limits.wall_seconds,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TrialFailed(
            f"Mallen gick inte att fylla i med exempeldata inom {limits.wall_seconds:.0f} sekunder."
        ) from None
    if done.returncode == 0 and done.stdout.startswith(b"PK"):
        return done.stdout
    if done.returncode == _TEMPLATE_ERROR:
        message = json.loads(done.stderr.decode(errors="replace").strip().splitlines()[-1])
        raise TrialFailed(str(message["message"]))
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL) or b"MemoryError" in done.stderr:
        raise TrialFailed(
            "Mallen kräver för mycket beräkningstid eller minne för att fyllas i "
            f"(högst {limits.cpu_seconds} sekunder och {limits.memory_mb} MB)."
        )
    tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
    raise TrialFailed(f"Mallen gick inte att fylla i med exempeldata ({' '.join(tail)[:200]}).")


def _limit_self(limits: TrialLimits) -> None:
    """In the child, first of all: cap CPU and memory, so a bomb kills only the child."""
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _child_main() -> None:
    template, context, limits = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from our parent
    _limit_self(limits)
    from formsvc.services.rendering import TemplateError, render_docx

    try:
        out = render_docx(template, context)
    except TemplateError as exc:
        sys.stderr.write("\n" + json.dumps({"message": exc.message}) + "\n")
        sys.exit(_TEMPLATE_ERROR)
    sys.stdout.buffer.write(out)


# -I (isolated) ignores PYTHONPATH, so the child puts our package on sys.path itself.
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from formsvc.services.template_trial import _child_main; _child_main()"
)
