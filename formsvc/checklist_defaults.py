"""The items each checklist starts with. After the first use they are data an administrator edits.

2.3 and the district checklist follow the guidance (seeds/001, "Kompetenskrav för lotsar/samordnare"
and "Checklista för stadsdelsförvaltningen"); 2.1 and 2.2 are drafted from the guidance's text on
security talks, since the city's own annex files are not available.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: checklist slug -> (title, default item texts in Swedish)
CHECKLISTS: dict[str, tuple[object, tuple[str, ...]]] = {
    "security_general": (
        _l("Generella proaktiva säkerhetsåtgärder (egen checklista)"),
        (
            "Medarbetaren känner till rutinen för att rapportera hot och våld (tillbud, "
            "arbetsskada, polisanmälan).",
            "Privat adress och privat telefonnummer lämnas aldrig ut; tjänstetelefon används.",
            "Skyddade personuppgifter eller spärrmarkering har övervägts där det behövs.",
            "Möten med deltagare och närstående sker i lokaler som är anpassade för det.",
            "Hembesök och andra möten där risk kan finnas görs två och två.",
            "Kollegor eller arbetsledare vet var medarbetaren befinner sig under arbetstid.",
            "Larm och rutin för ensamarbete är kända och fungerar.",
            "Medarbetaren vet när och hur säkerhetsfunktionen och polisen ska kontaktas.",
        ),
    ),
    "security_social_media": (
        _l("Proaktiva säkerhetsåtgärder i sociala medier (egen checklista)"),
        (
            "Privata konton i sociala medier är inte offentliga.",
            "Arbetsgivare och arbetsuppgifter framgår inte av privata profiler.",
            "Bilder visar inte bostad, bil, familj eller vanor som gör medarbetaren lätt att "
            "hitta.",
            "Platsdelning är avstängd i appar och på bilder.",
            "Kontaktförfrågningar från deltagare och deras nätverk accepteras inte.",
            "Sökbarhet via telefonnummer och e-postadress är avstängd.",
            "Medarbetaren har sökt efter sig själv på nätet och hos upplysningstjänster och begärt "
            "borttagning där det går.",
            "Närstående vet varför de bör vara försiktiga med vad de publicerar om medarbetaren.",
        ),
    ),
    "competence": (
        _l("Bilaga 2.3 – Kompetenskrav lots/samordnare"),
        (
            "Adekvat högskoleutbildning eller av arbetsledningen bedömd likvärdig utbildning.",
            "Grundkunskaper om socialtjänstens ansvar och basverksamheter.",
            "Lokalkännedom: god kunskap om lokalområdet, dess resurser och konflikter.",
            "Kännedom om lagstiftning: kommunallag, förvaltningslag, socialtjänstlag, "
            "offentlighets- och sekretesslag och brottsbalk.",
            "Kunskaper i bemötandetekniker: motiverande samtal och lågaffektivt bemötande.",
            "Kunskaper om målgruppen och kriminologi: kriminologisk teori och kriminogena "
            "faktorer.",
            "Kunskaper om våldsbejakande extremism.",
        ),
    ),
    "district": (
        _l("Checklista för stadsdelsförvaltningen"),
        (
            "Finns det ett samverkansforum på övergripande strukturell nivå?",
            "Har det tagits fram en lokal lägesbild av tryggheten i stadsdelen de senaste två "
            "åren?",
            "Finns det lokala överenskommelser med relevanta aktörer?",
            "Har en kontaktlista för samverkan upprättats på strategisk nivå?",
            "Genomförs minst ett säkerhetssamtal med operativ personal per år?",
            "Finns det tydliga strukturer för samverkan på olika nivåer i stadsdelens "
            "organisation?",
            "Finns det en efterfrågan på uppföljning från ledningshåll inom stadsdelen?",
            "Uppfylls de kompetenskrav för lotsar/samordnare som beskrivs i vägledningen?",
        ),
    ),
}

#: Checklists that are our own drafts, not the guidance's text: they are labelled as such wherever
#: they are shown or printed, and never as the city's annexes (whose files are not available).
OWN_DRAFTS: dict[str, object] = {
    "security_general": _l(
        "Egen checklista, skriven utifrån vägledningens text om säkerhetssamtal. Den är inte "
        "stadens bilaga 2.1 och kan ändras av administratören."
    ),
    "security_social_media": _l(
        "Egen checklista, skriven utifrån vägledningens text om säkerhetssamtal. Den är inte "
        "stadens bilaga 2.2 och kan ändras av administratören."
    ),
}
