"""The legal paragraphs the consent (3.2) and the information letter (3.0) print, as named texts.

Each text has a key, a version and the legal basis it states (see docs/legal-basis.md, which points
back to these keys). A city adapts a text without a code change through the setting
``LEGAL_TEXTS`` (key -> Swedish text); an adapted text is versioned by its content ("lokal-<hash>").
A document stores the texts it printed when it is saved (``snapshot``), so a later change of a text
or a setting never changes a saved or signed document. Texts may hold ``%(name)s`` placeholders that
the type's ``build_context`` fills in (for example the consent's longest period).

The printed documents are Swedish only, so the texts are not translated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NamedText:
    """One paragraph a city may want to adapt."""

    key: str  #: stable name, e.g. "consent.basis"
    version: int  #: raised whenever the default wording changes
    text: str  #: Swedish, klarspråk, may hold %(placeholders)s
    basis: str  #: the law it states, as in docs/legal-basis.md


_TEXTS = (
    # ------------------------------------------------------------------ consent (bilaga 3.2)
    NamedText(
        "consent.scope",
        1,
        "Medgivandet gäller på två sätt. På mötena i den sociala insatsgruppen får socialtjänsten "
        "och aktörerna i tabellen lämna uppgifter om dig till varandra. Utanför mötena får "
        "socialtjänsten och varje aktör lämna uppgifter till varandra. Det gäller bara de slags "
        "uppgifter som anges nedan och bara i den riktning som anges för varje aktör: en aktör som "
        "bara lämnar uppgifter får inte ta emot uppgifter om dig, och en aktör som bara tar emot "
        "uppgifter får inte lämna några.",
        "OSL 12:2 (eftergivande kan vara helt eller delvis); vägledningen l. 104–108, 186–189",
    ),
    NamedText(
        "consent.not_blanket",
        1,
        "Medgivandet är inte ett generellt medgivande. Det gäller bara de uppgifter som behövs i "
        "arbetet i den sociala insatsgruppen, bara de aktörer och slags uppgifter som anges här "
        "och bara under giltighetstiden.",
        "OSL 12:2 ('helt eller delvis')",
    ),
    NamedText(
        "consent.police",
        1,
        "Polisen är alltid med i en social insatsgrupp och ingår därför alltid i medgivandet, åt "
        "båda hållen. Utan medgivande för polisen kan arbetet i SIG inte genomföras.",
        "Vägledningen l. 554–558, 574–577",
    ),
    NamedText(
        "consent.basis",
        1,
        "Socialtjänsten har sekretess för uppgifter om dig (26 kap. 1 § offentlighets- och "
        "sekretesslagen (2009:400), OSL), och flera av de andra aktörerna har sin egen sekretess. "
        "Den som sekretessen skyddar kan helt eller delvis efterge den (12 kap. 2 § OSL). Det är "
        "det du gör med det här medgivandet. Att uppgifter då får lämnas trots sekretess framgår "
        "också av hänvisningen i 10 kap. 1 § OSL.",
        "OSL 26:1, 12:2, 10:1",
    ),
    NamedText(
        "consent.no_secrecy",
        1,
        "Några mottagare i medgivandet har inte sekretess enligt offentlighets- och "
        "sekretesslagen: %(names)s. Uppgifter som lämnas till dem skyddas alltså inte av "
        "sekretess hos dem. De kan ha tystnadsplikt bara om de har lovat det, till exempel i ett "
        "avtal. Tänk på vilka uppgifter de verkligen behöver.",
        "OSL 2:1–3 (OSL gäller myndigheter och vissa organ), 12:2",
    ),
    NamedText(
        "consent.minor",
        1,
        "Du är under 18 år. Därför lämnar också dina vårdnadshavare sitt medgivande och skriver "
        "under, båda om de har gemensam vårdnad. Sekretessen kan ändå gälla mot dina "
        "vårdnadshavare, om du kan antas lida betydande men av att de får veta en uppgift (12 kap. "
        "3 § OSL). För en sådan uppgift kan de inte lämna medgivande; socialtjänsten prövar det i "
        "varje enskilt fall. Ju äldre och mognare du är, desto mer bestämmer du själv.",
        "OSL 12:3; FB 6:11",
    ),
    NamedText(
        "consent.guardian",
        1,
        "Till dig som är vårdnadshavare: du lämnar medgivandet för uppgifter om ditt barn. Där "
        "texten ovan säger ”du” och ”dig” gäller det ditt barn.",
        "OSL 12:3; FB 6:11",
    ),
    NamedText(
        "consent.period",
        1,
        "Ett medgivande gäller som längst %(months)s månader. Ska arbetet i den sociala "
        "insatsgruppen fortsätta efter det behövs ett nytt medgivande.",
        "Stadens rutin (inställningen CONSENT_MAX_MONTHS); ingen lagregel",
    ),
    NamedText(
        "consent.withdraw",
        1,
        "Det är frivilligt att lämna medgivandet. Du kan när som helst återkalla det, helt eller "
        "för en viss aktör eller ett visst slags uppgifter. Utan medgivande för polisen kan "
        "arbetet i den sociala insatsgruppen inte fortsätta.",
        "OSL 12:2 (eftergivandet är frivilligt och kan återkallas)",
    ),
    NamedText(
        "consent.withdraw_effect",
        1,
        "Återkallelsen gäller från den tidpunkt då socialtjänsten tar emot den. Uppgifter som "
        "redan har lämnats kan inte tas tillbaka. Socialtjänsten berättar för aktörerna att "
        "medgivandet har återkallats.",
        "OSL 12:2",
    ),
    NamedText(
        "consent.without_consent",
        1,
        "Medgivandet gäller bara det som står här. Ibland får eller måste uppgifter lämnas även "
        "utan medgivande, när en lag säger det, till exempel till polisen för att förhindra att "
        "en ung person begår brott (10 kap. 18 a § OSL) eller när en annan lag kräver att "
        "uppgifter lämnas (10 kap. 28 § OSL).",
        "OSL 10:18 a, 10:28",
    ),
    NamedText(
        "consent.personal_data",
        1,
        "Personuppgiftsansvarig är %(controller)s, som är socialnämnd i stadsdelsområdet. "
        "Uppgifterna behandlas för arbetet i den sociala insatsgruppen. Den rättsliga grunden är "
        "att socialtjänsten utför en uppgift av allmänt intresse och myndighetsutövning (artikel "
        "6.1 e i dataskyddsförordningen) – inte det här medgivandet, som bara gäller sekretessen. "
        "Du har rätt att få veta vilka uppgifter vi har om dig, att begära rättelse och att "
        "invända mot behandlingen. Mer finns i informationsbrevet (bilaga 3.0). Du kan klaga hos "
        "Integritetsskyddsmyndigheten (IMY).",
        "GDPR art. 6.1 e, 13, 15, 16, 21, 77; DSL 2:2",
    ),
    # ------------------------------------------------------------ information letter (3.0)
    NamedText(
        "letter.consent",
        1,
        "Socialtjänsten, polisen och flera av de andra aktörerna har sekretess. För att de ska få "
        "dela uppgifter om dig med varandra behöver du lämna ett skriftligt medgivande, "
        "Sekretessbrytande medgivande (bilaga 3.2). Där står vilka aktörer och vilka slags "
        "uppgifter det gäller, i vilken riktning och hur länge. Medgivandet behöver åtminstone "
        "gälla polisen för att arbetet i SIG ska kunna genomföras. Företag, föreningar och "
        "privatpersoner har inte sekretess; om ditt medgivande gäller någon sådan får du veta det "
        "innan du skriver under.",
        "OSL 12:2, 26:1; vägledningen l. 554–558",
    ),
    NamedText(
        "letter.purpose",
        1,
        "Att utreda om du kan få stöd genom SIG, planera och ge stödet tillsammans med de aktörer "
        "som ditt medgivande gäller och följa upp arbetet.",
        "GDPR art. 13.1 c",
    ),
    NamedText(
        "letter.basis",
        1,
        "Vi behandlar uppgifterna för att utföra en uppgift av allmänt intresse och som en del av "
        "vår myndighetsutövning (artikel 6.1 e i dataskyddsförordningen, 2 kap. 2 § "
        "dataskyddslagen). Uppgiften finns i socialtjänstlagen (2025:400). Ditt medgivande till "
        "att dela uppgifter är inte den rättsliga grunden för behandlingen.",
        "GDPR art. 6.1 e, 6.3; DSL 2:2; SoL (2025:400)",
    ),
    NamedText(
        "letter.special",
        1,
        "Vi behandlar också känsliga uppgifter, till exempel om din hälsa, och uppgifter om brott "
        "och misstankar om brott. Det får socialtjänsten göra när det behövs i arbetet (artikel "
        "9.2 h och artikel 10 i dataskyddsförordningen, 3 kap. 5 och 8 §§ dataskyddslagen "
        "(2018:218) och lagen om behandling av personuppgifter inom socialtjänsten).",
        "GDPR art. 9.2 h, 10; DSL 3:5, 3:8; SoLPUL (2001:454) eller dess efterföljare",
    ),
    NamedText(
        "letter.recipients",
        1,
        "Uppgifterna skyddas av sekretess hos socialtjänsten. Vi lämnar dem till de aktörer som "
        "ditt medgivande gäller, för de uppgifter det gäller. Även utan ditt medgivande får eller "
        "måste vi ibland lämna uppgifter, när en lag säger det. Det gäller till exempel till "
        "polisen, om det behövs för att förhindra att en ung person under 21 år begår brott (10 "
        "kap. 18 a § OSL) eller vid misstanke om vissa allvarliga brott, och när en annan lag "
        "kräver att vi lämnar uppgifter, till exempel till en domstol eller en tillsynsmyndighet "
        "(10 kap. 28 § OSL).",
        "GDPR art. 13.1 e; OSL 10:18 a, 10:21–24, 10:28",
    ),
    NamedText(
        "letter.retention",
        1,
        "Uppgifterna sparas i din akt hos socialtjänsten. Akten gallras, det vill säga tas bort, "
        "%(years)s år efter den sista anteckningen i den. Vissa akter sparas längre, till exempel "
        "för forskning, när lagen säger det.",
        "GDPR art. 13.2 a; SoL om gallring av personakter (inställningen RETENTION_YEARS)",
    ),
    NamedText(
        "letter.rights",
        1,
        "Du har rätt att få veta vilka uppgifter vi har om dig (registerutdrag), att få felaktiga "
        "uppgifter rättade och att begära att behandlingen begränsas. Uppgifter som vi måste spara "
        "enligt lag kan inte raderas på begäran.",
        "GDPR art. 13.2 b, 15–18",
    ),
    NamedText(
        "letter.object",
        1,
        "Du har rätt att invända mot att vi behandlar dina personuppgifter (artikel 21 i "
        "dataskyddsförordningen). Då måste vi sluta, om vi inte kan visa att det finns tungt "
        "vägande skäl att fortsätta som väger tyngre än ditt intresse. Säg till din "
        "kontaktperson om du vill invända. Uppgifter som vi måste spara enligt lag sparas ändå.",
        "GDPR art. 21.1, 13.2 b",
    ),
    NamedText(
        "letter.obligation",
        1,
        "Du behöver inte lämna några uppgifter, och det är frivilligt att vara med i SIG. Men "
        "utan uppgifter om din situation kan vi inte utreda om SIG passar dig.",
        "GDPR art. 13.2 e",
    ),
    NamedText(
        "letter.complaint",
        1,
        "Om du är missnöjd med hur vi behandlar dina personuppgifter kan du klaga hos "
        "Integritetsskyddsmyndigheten (IMY), www.imy.se.",
        "GDPR art. 13.2 d, 77",
    ),
)

#: key -> the text's default (newest version)
TEXTS: dict[str, NamedText] = {t.key: t for t in _TEXTS}


def keys(prefix: str) -> tuple[str, ...]:
    """The keys of one document's texts, e.g. ``keys("consent.")``."""
    return tuple(k for k in TEXTS if k.startswith(prefix))


def check_overrides(overrides: Any) -> None:
    """Refuse a LEGAL_TEXTS setting with an unknown key or a value that is not text."""
    if overrides is None:
        return
    if not isinstance(overrides, Mapping):
        raise ValueError("LEGAL_TEXTS must map text keys to Swedish text")
    for key, value in overrides.items():
        if key not in TEXTS:
            raise ValueError(f"LEGAL_TEXTS: unknown text {key!r}; known: {', '.join(TEXTS)}")
        if not isinstance(value, str) or not value.strip() or len(value) > 5000:
            raise ValueError(f"LEGAL_TEXTS[{key!r}] must be 1–5000 characters of text")


def snapshot(names: Iterable[str], settings: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The texts a document prints, to store with it: key -> {"version", "text"}."""
    overrides = settings.get("LEGAL_TEXTS") or {}
    out: dict[str, dict[str, str]] = {}
    for key in names:
        local = overrides.get(key) if isinstance(overrides, Mapping) else None
        if isinstance(local, str) and local.strip():
            digest = hashlib.sha256(local.encode()).hexdigest()[:8]
            out[key] = {"version": f"lokal-{digest}", "text": local.strip()}
        else:
            out[key] = {"version": str(TEXTS[key].version), "text": TEXTS[key].text}
    return out


def text_of(data: Mapping[str, Any], key: str, **values: Any) -> str:
    """The text a document stored (today's default for documents saved before), filled in."""
    stored = data.get("texts")
    entry = stored.get(key) if isinstance(stored, Mapping) else None
    raw = entry.get("text") if isinstance(entry, Mapping) else None
    if not isinstance(raw, str):
        raw = TEXTS[key].text
    try:
        filled = raw % values if "%" in raw else raw
    except (KeyError, ValueError, TypeError):
        # an adapted text with a placeholder we do not know prints as written, never fails
        filled = raw
    return _LAW_REF.sub(lambda m: m.group(0).replace(" ", "\u00a0"), filled)


#: "12 kap. 3 §", "10 kap. 18 a §", "3 kap. 5 och 8 §§": never split over two lines
_LAW_REF = re.compile(r"\d+ kap\. \d+(?: [a-z])?(?:(?:–| och )\d+)? §§?")
