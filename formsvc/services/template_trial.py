"""Fill an untrusted Word template with a type's sample data, and read the signature places of
its PDF, in the bounded child process.

Runs through the shared runner for untrusted files (services/untrusted.py: CPU, memory and
wall-clock limits, one log line per refusal); see docs/adr/010-template-trust.md.
"""

from __future__ import annotations

from formsvc import doctypes
from formsvc.services import untrusted
from formsvc.services.rendering import TemplateError, render_docx
from formsvc.services.signature_places import PlacesError, find_places
from formsvc.services.untrusted import N_, Output, Refused, Runner

__all__ = ["PLACE_MARKER", "check_places", "render_sample"]

#: What a template writes, as white 1 pt text, where each signer signs (ADR 013); the same text
#: as scripts/docx_kit.py: SIGNATURE_PLACE_MARKER (170 x 12 mm: the signature row).
PLACE_MARKER = "[[sig:{{ signer.key }}:170x12]]"


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


def check_places(runner: Runner, pdf: bytes, slots: list[doctypes.SignerSlot]) -> None:
    """Refuse (untrusted.Refused) unless the converted sample *pdf* has exactly one signature
    place for each of *slots* and none for another slot."""
    runner.run(places_match, pdf, slots=[[s.key, s.role] for s in slots])


def places_match(pdf: bytes, *, slots: list[list[str]]) -> untrusted.Output:
    """In the child: the PDF's places against the declared [key, role] pairs."""
    roles = {key: role for key, role in slots}
    try:
        places = find_places(pdf)
    except PlacesError as exc:
        if exc.reason == "duplicate":
            raise Refused(
                N_(
                    "Mallen har fler än en underskriftsplats för %(slot)s. Varje underskrivare "
                    "ska ha exakt en markering %(marker)s: ta bort den extra markeringen."
                ),
                slot=_named(exc.slot, roles),
                marker=PLACE_MARKER,
            ) from None
        if exc.reason == "transformed":
            raise Refused(
                N_(
                    "Underskriftsplatsen för %(slot)s står i en textruta, en figur eller roterad "
                    "text. Skriv markeringen som vanlig text i underskriftsblocket."
                ),
                slot=_named(exc.slot, roles),
            ) from None
        raise Refused(
            N_("PDF-filen som mallen gav kunde inte läsas för att hitta underskriftsplatserna.")
        ) from None
    unknown = sorted(set(places) - set(roles))
    if unknown:
        raise Refused(
            N_(
                "Mallen har en underskriftsplats för %(slots)s, men dokumenttypen har ingen "
                "sådan underskrivare. Underskrivarna är: %(known)s."
            ),
            slots=", ".join(f"”{key}”" for key in unknown),
            known=", ".join(_named(key, roles) for key in roles),
        )
    missing = [key for key in roles if key not in places]
    if missing:
        raise Refused(
            N_(
                "Mallen saknar underskriftsplats för %(slots)s. Skriv markeringen %(marker)s "
                "där underskriften ska stå i underskriftsblocket som upprepas för varje "
                "underskrivare, som vit text i storlek 1 punkt (för en enskild underskrivare "
                "till exempel %(example)s). 170x12 är platsens bredd och höjd i millimeter."
            ),
            slots=", ".join(_named(key, roles) for key in missing),
            marker=PLACE_MARKER,
            example=PLACE_MARKER.replace("{{ signer.key }}", missing[0]),
        )
    return Output(value=sorted(places))


def _named(key: str, roles: dict[str, str]) -> str:
    return f"”{key}” ({roles[key]})" if key in roles else f"”{key}”"
