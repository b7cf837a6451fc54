"""Fill an untrusted Word template with a type's sample data, in the bounded child process.

Runs through the shared runner for untrusted files (services/untrusted.py: CPU, memory and
wall-clock limits, one log line per refusal); see docs/adr/010-template-trust.md.
"""

from __future__ import annotations

from formsvc import doctypes
from formsvc.services import untrusted
from formsvc.services.rendering import TemplateError, render_docx
from formsvc.services.untrusted import N_, Output, Refused, Runner

__all__ = ["render_sample"]


def render_sample(runner: Runner, template: bytes, slug: str) -> bytes:
    """The template filled with the sample data of type *slug*; raises untrusted.Refused."""
    return runner.run(fill_with_sample, template, slug=slug).data


def fill_with_sample(template: bytes, *, slug: str) -> untrusted.Output:
    """In the child: render *template* with the sample data of type *slug*."""
    dtype = doctypes.discover()[slug]
    context = dtype.build_context(doctypes.sample_input(dtype))
    try:
        return Output(data=render_docx(template, context))
    except TemplateError as exc:
        # already Swedish and specific (it names the tag); passed through as it is
        raise Refused(N_("%(reason)s"), reason=exc.message) from None
