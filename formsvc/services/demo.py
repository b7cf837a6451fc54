"""Demo mode (DEMO_MODE): staff, participants and documents to try on a fresh `make run`.

Everything is made through the same services the views call (participants, documents, signing),
so the audit log, the stored files and the sealed PDFs are as true as in real use. The people are
fictitious and carry birth dates, not identity numbers: a made-up personnummer that passes the
Luhn check may belong to a real person.

Idempotent by natural keys: a participant is found again by district, name and birth date, a
document by participant (or employee) and type, a follow-up by participant and kind of
assessment. A second run adds only what is missing and never changes or removes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from formsvc.doctypes import DocumentType
from formsvc.extensions import db
from formsvc.forms._base import data_to_formdata
from formsvc.forms.consent import INFO_KINDS
from formsvc.forms.follow_up import INDICATORS
from formsvc.models import District, Document, Participant, User
from formsvc.services import documents, facts, participants, signing, statistics, users
from formsvc.services.conversion import ConverterPool
from formsvc.services.mail import MailError
from formsvc.services.sealing import Sealer
from formsvc.services.storage import FileStore


@dataclass(frozen=True)
class Account:
    """A demo account as the login page lists it."""

    username: str  #: what to type
    full_name: str  #: shown in the app
    role: str  #: one of config.ROLES
    district: str | None  #: caseworkers and managers only
    first: bool  #: one of the six every instance has (users.seed_demo), listed before the rest


@dataclass(frozen=True)
class DistrictStaff:
    """Who works in one district in the demo: two caseworkers and a manager."""

    district: str  #: one of users.SIG_DISTRICTS
    caseworker: tuple[str, str]  #: user name, full name (made first; the other's colleague)
    colleague: tuple[str, str]  #: a second caseworker, whose security talk is overdue
    manager: tuple[str, str]  #: the district's manager (arbetsledare/enhetschef)


#: Per district; the first caseworker and manager of Rinkeby-Kista and Farsta are the accounts
#: users.seed_demo has always made, so an instance seeded before demo mode keeps its users.
STAFF = (
    DistrictStaff(
        "Enskede-Årsta-Vantör",
        ("handlaggare.enskede", "Sofia Demoberg"),
        ("lots.enskede", "Amir Provsson"),
        ("arbetsledare.enskede", "Petra Exempelsson"),
    ),
    DistrictStaff(
        "Farsta",
        ("handlaggare2", "Ali Yusuf"),
        ("lots.farsta", "Hanna Demodotter"),
        ("arbetsledare.farsta", "Mats Provberg"),
    ),
    DistrictStaff(
        "Hässelby-Vällingby",
        ("handlaggare.hasselby", "Leila Exempeldal"),
        ("lots.hasselby", "Johan Demoström"),
        ("arbetsledare.hasselby", "Birgitta Provlund"),
    ),
    DistrictStaff(
        "Rinkeby-Kista",
        ("handlaggare", "Karin Lind"),
        ("lots.rinkeby", "Yusuf Demoali"),
        ("arbetsledare", "Omar Haddad"),
    ),
    DistrictStaff(
        "Skarpnäck",
        ("handlaggare.skarpnack", "Erik Exempelgren"),
        ("lots.skarpnack", "Nadia Provholm"),
        ("arbetsledare.skarpnack", "Anders Demovik"),
    ),
    DistrictStaff(
        "Skärholmen",
        ("handlaggare.skarholmen", "Maja Demosjö"),
        ("lots.skarholmen", "Daniel Exempelbäck"),
        ("arbetsledare.skarholmen", "Rana Provquist"),
    ),
    DistrictStaff(
        "Spånga-Tensta",
        ("handlaggare.spanga", "Oscar Provnäs"),
        ("lots.spanga", "Fatima Demohed"),
        ("arbetsledare.spanga", "Lars Exempelkvist"),
    ),
)

#: Fictitious participants per district: first name, family name, age in years today. The first
#: three carry the documents; the last three are followed up (enrolled and discharged) only.
PEOPLE = (
    ("Alva", "Demosson", 15),  # a consent signed by both guardians and sealed; an action plan
    ("Noel", "Exempelsson", 16),  # a consent waiting for the second guardian's link
    ("Liam", "Provsson", 22),  # a threat assessment waiting for the manager's decision
    ("Saga", "Testberg", 19),
    ("Elias", "Påhittad", 24),
    ("Ella", "Fiktiv", 17),
)


@dataclass
class Report:
    """What one run created (a second run: all zero) and what it could not do."""

    staff: int = 0  #: accounts created
    participants: int = 0  #: participants registered
    documents: int = 0  #: documents created (follow-ups included)
    sealed: int = 0  #: documents signed by everyone and sealed
    links: int = 0  #: personal links mailed
    problems: list[str] = field(default_factory=list)  #: e.g. a link that could not be mailed


def accounts() -> list[Account]:
    """The demo accounts that exist and are active, for the login page (demo mode only)."""
    first = [u[0] for u in users.DEMO_USERS] + ["handlaggare2"]
    names = first + [
        name for s in STAFF for name in (s.caseworker[0], s.colleague[0], s.manager[0])
    ]
    found = {
        u.username: u
        for u in db.session.scalars(
            select(User).where(User.username.in_(names), User.active.is_(True))
        )
    }
    out = []
    for name in dict.fromkeys(names):  # the first six, then district by district
        u = found.get(name)
        if u is not None:
            district = u.district.name if u.district else None
            out.append(Account(u.username, u.full_name, u.role, district, name in first))
    return out


def seed(
    *,
    password: str,
    registry: Mapping[str, DocumentType],
    settings: Mapping[str, Any],
    store: FileStore,
    converter: ConverterPool,
    sealer: Sealer,
    link_for: Callable[[str], str],
    today: date,
) -> Report:
    """Seed every SIG district with staff, participants and documents; add only what is missing."""
    report = Report()
    created = users.seed_demo(password)
    report.staff += len([c for c in created if c not in users.SIG_DISTRICTS])
    ctx = _Seeder(registry, settings, store, converter, sealer, link_for, today, report)
    for number, staff in enumerate(STAFF):
        ctx.district(number, staff, password)
    return report


@dataclass
class _Seeder:
    registry: Mapping[str, DocumentType]
    settings: Mapping[str, Any]
    store: FileStore
    converter: ConverterPool
    sealer: Sealer
    link_for: Callable[[str], str]
    today: date
    report: Report

    # ----------------------------------------------------------------------- a district

    def district(self, number: int, staff: DistrictStaff, password: str) -> None:
        where = db.session.scalar(select(District).where(District.name == staff.district))
        assert where is not None  # users.seed_demo made every SIG district
        caseworker = self.user(staff.caseworker, "caseworker", "Lots/samordnare", where, password)
        colleague = self.user(staff.colleague, "caseworker", "Socialsekreterare", where, password)
        manager = self.user(staff.manager, "manager", "Enhetschef", where, password)
        people = [
            self.participant(caseworker, first, last, age, number) for first, last, age in PEOPLE
        ]
        minor, waiting, adult = people[:3]
        self.sealed_consent(minor, caseworker)
        self.action_plan(minor, caseworker)
        self.consent_awaiting_link(waiting, caseworker)
        self.threat_assessment(adult, caseworker)
        self.security_talk(manager, caseworker, days_ago=30)
        self.security_talk(manager, colleague, days_ago=430)  # over 12 months: overdue
        for i, p in enumerate(people):
            self.follow_ups(p, caseworker, number * len(PEOPLE) + i, discharged=i >= 3)

    def user(
        self, who: tuple[str, str], role: str, title: str, where: District, password: str
    ) -> User:
        existing = users.find(who[0])
        if existing is not None:
            return existing
        self.report.staff += 1
        return users.create_user(
            username=who[0],
            full_name=who[1],
            role=role,
            password=password,
            district_id=where.id,
            email=f"{who[0]}@formsvc.example",
            title=title,
            phone="08-508 000 00",
        )

    def participant(
        self, caseworker: User, first: str, last: str, age: int, number: int
    ) -> Participant:
        # born some months after the birthday: the age holds for a while after seeding
        born = _years_before(self.today, age) - timedelta(days=40 + 23 * number)
        existing = db.session.scalar(
            select(Participant).where(
                Participant.district_id == caseworker.district_id,
                Participant.first_name == first,
                Participant.last_name == last,
                Participant.birth_date == born,
            )
        )
        if existing is not None:
            return existing
        self.report.participants += 1
        return participants.create(
            participants.ParticipantInput(
                first_name=first,
                last_name=last,
                id_kind="birth_date",
                id_number="",
                birth_date=born,
                target_group="sig_unga" if age <= 18 else "sig_unga_vuxna",
                protected_identity=False,
            ),
            actor=caseworker,
            today=self.today,
        )

    # ----------------------------------------------------------------------- documents

    def existing(self, slug: str, **where: int) -> Document | None:
        q = select(Document).where(Document.type_slug == slug)
        for column, value in where.items():
            q = q.where(getattr(Document, column) == value)
        return db.session.scalars(q.order_by(Document.id).limit(1)).first()

    def create(
        self,
        slug: str,
        data: dict[str, Any],
        author: User,
        *,
        participant: Participant | None = None,
        employee: User | None = None,
    ) -> Document:
        """Validate *data* with the type's web form, as a caseworker's post would be, and save."""
        dtype = self.registry[slug]
        ctx = documents.form_context(
            dtype,
            author=author,
            district=author.district.name if author.district else "",
            settings=self.settings,
            participant=participant,
            employee=employee,
            # what the web form checks against, e.g. the consents the plan's recipients need
            facts={
                **facts.for_district(
                    author.district_id,
                    today=self.today,
                    contact_list_months=int(self.settings["CONTACT_LIST_CURRENT_MONTHS"]),
                ),
                **facts.for_participant(participant.id if participant else None, self.today),
            },
        )
        form = dtype.form_class(
            formdata=data_to_formdata(dtype.form_class, data), meta={"csrf": False}
        )
        if not documents.validate(dtype, form, ctx):
            # form.errors is cached before the cross-field checks: read each field's own list
            errors = {
                f"{f.name}.{sub.name}": sub.errors
                for f in form
                for sub in (
                    [s for row in f for s in getattr(row, "form", [row])]
                    if hasattr(f, "entries")
                    else [f]
                )
                if sub.errors
            }
            raise ValueError(f"demo data for {slug} fails the form: {errors}")
        self.report.documents += 1
        return documents.create(
            dtype,
            {
                **{k: data[k] for k in dtype.service_data if k in data},
                **documents.to_data(dtype, form, ctx),
            },
            actor=author,
            store=self.store,
            participant=participant,
            employee=employee,
        )

    def consent(self, p: Participant, caseworker: User, guardians: list[str]) -> Document:
        sample = self.registry["consent"].sample()
        data = {
            **sample,
            "period_from": self.today.isoformat(),
            "period_to": (self.today + timedelta(days=330)).isoformat(),
            "police_contact": f"Kommunpolis {caseworker.district.name}",
            "info_kinds": list(INFO_KINDS),  # so the action plan may go to every actor
            "guardians": [
                {
                    "name": f"{name} {p.last_name}",
                    "contact": f"{name.lower()}.{_ascii(p.last_name)}@formsvc.example",
                    "personnummer": "",
                }
                for name in guardians
            ],
            "contact_name": caseworker.full_name,
            "contact_title": caseworker.title or "",
            "contact_phone": caseworker.phone or "",
            "contact_email": caseworker.email or "",
        }
        return self.create("consent", data, caseworker, participant=p)

    def sealed_consent(self, p: Participant, caseworker: User) -> None:
        if self.existing("consent", participant_id=p.id):
            return
        doc = self.consent(p, caseworker, ["Maria", "Johan"])
        self.send_and_sign(doc, caseworker, leave_open=0)

    def consent_awaiting_link(self, p: Participant, caseworker: User) -> None:
        if self.existing("consent", participant_id=p.id):
            return
        doc = self.consent(p, caseworker, ["Lina", "Karim"])
        requests = self.send_and_sign(doc, caseworker, leave_open=1)
        last = requests[-1]
        guardian = doc.data["guardians"][1]["contact"]
        try:
            signing.issue_link(
                last, guardian, settings=self.settings, link_for=self.link_for, actor=caseworker
            )
            self.report.links += 1
        except (signing.SigningError, MailError) as exc:
            db.session.rollback()
            self.report.problems.append(
                f"{doc.reference}: ingen länk skickades till {guardian} ({exc})"
            )

    def send_and_sign(self, doc: Document, witness: User, *, leave_open: int) -> list[Any]:
        """Send *doc* and have its signers sign in person, witnessed, all but the last
        *leave_open*; seal it when everyone has signed."""
        dtype = self.registry[doc.type_slug]
        requests = signing.send(
            doc, dtype, actor=witness, store=self.store, converter=self.converter
        )
        for req in requests[: len(requests) - leave_open]:
            staff = req.kind != "external"
            given = signing.Given(
                name=req.expected_name,
                statements=signing.statements_for(req, dtype),
                signature_png=None,
                ip="127.0.0.1",
                user_agent="formsvc demo (flask seed-demo)",
            )
            # a staff slot is signed by that staff member (the talk's employee, or the manager)
            signer = doc.subject_user if req.staff_role == "employee" else witness
            signing.sign(
                req,
                dtype,
                given,
                method="staff" if staff else "in_person",
                actor=signer,
                settings=self.settings,
                store=self.store,
            )
        if leave_open == 0 and signing.finalise_if_complete(
            doc,
            dtype,
            store=self.store,
            converter=self.converter,
            sealer=self.sealer,
            settings=self.settings,
        ):
            self.report.sealed += 1
        return requests

    def action_plan(self, p: Participant, caseworker: User) -> None:
        if self.existing("action_plan", participant_id=p.id):
            return
        data = self.registry["action_plan"].sample()
        data["plan_date"] = self.today.isoformat()
        data["long_term_goal"] = (
            f"{p.first_name} ska gå i skolan varje dag och ha en meningsfull fritid med vänner "
            "utanför kriminaliteten."
        )
        self.create("action_plan", data, caseworker, participant=p)

    def threat_assessment(self, p: Participant, caseworker: User) -> None:
        if self.existing("threat_assessment", participant_id=p.id):
            return
        data = self.registry["threat_assessment"].sample()  # the decision is left to the manager
        data["assessed_on"] = (self.today - timedelta(days=3)).isoformat()
        # the participant is of age: guardians have no claim, so no menprövning is recorded
        data.update(
            guardian_outcome="",
            guardian_assessed_on=None,
            guardian_assessed_by="",
            guardian_reasoning="",
        )
        self.create("threat_assessment", data, caseworker, participant=p)

    def security_talk(self, manager: User, employee: User, *, days_ago: int) -> None:
        if self.existing("security_talk", subject_user_id=employee.id):
            return
        held = self.today - timedelta(days=days_ago)
        data = self.registry["security_talk"].sample()
        data.update(
            talk_date=held.isoformat(),
            manager_name=manager.full_name,
            manager_title=manager.title or "",
            next_talk=(held + timedelta(days=365)).isoformat(),
        )
        for row in data["measures"]:
            row["due"] = (held + timedelta(days=30)).isoformat()
            if row["responsible"] not in ("Medarbetaren",):
                row["responsible"] = manager.full_name
        doc = self.create("security_talk", data, manager, employee=employee)
        self.send_and_sign(doc, manager, leave_open=0)

    def follow_ups(self, p: Participant, caseworker: User, n: int, *, discharged: bool) -> None:
        """An enrolment assessment in the last full half-year (and a discharge, if *discharged*),
        with answers spread so that the city-wide statistics show every bar."""
        start, end = statistics.default_period(self.today)
        enrolled = start + timedelta(days=3 + n % 40)
        kinds = ["enrolment", "discharge"] if discharged else ["enrolment"]
        for kind in kinds:
            have = [
                d
                for d in db.session.scalars(
                    select(Document).where(
                        Document.type_slug == "follow_up", Document.participant_id == p.id
                    )
                )
                if d.data.get("assessment") == kind
            ]
            if have:
                continue
            later = kind == "discharge"
            out = end - timedelta(days=2 + n % 30)
            data: dict[str, Any] = {
                "assessment": kind,
                "assessed_on": (out if later else enrolled + timedelta(days=7)).isoformat(),
                "enrolled_on": enrolled.isoformat(),
                "discharged_on": out.isoformat() if later else None,
                "discharge_reason": ("planned", "own_request", "moved")[n % 3] if later else "",
                "discharge_comment": "",
                "gender": "female" if n % 4 == 0 else "male",
                "target_group": p.target_group,
            }
            for j, key in enumerate(INDICATORS):
                # a third answer one way and two thirds the other, turned around at discharge
                yes = (n + j) % 3 != 0
                data[key] = "yes" if yes != later else "no"
                data[f"{key}_source"] = "social_services"
            self.create("follow_up", data, caseworker, participant=p)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _ascii(name: str) -> str:
    return name.lower().translate(str.maketrans("åäöé", "aaoe"))


@contextmanager
def mail_sink(settings: Mapping[str, Any], folder: Any) -> Iterator[None]:
    """While seeding, the demo's local mail sink (MAIL_DEMO_SINK) takes the mailed links."""
    controller = None
    if settings.get("MAIL_DEMO_SINK"):
        from formsvc import devmail

        try:
            controller = devmail.start(
                str(settings["MAIL_SERVER"]), int(settings["MAIL_PORT"]), folder
            )
        except OSError:  # `flask serve` already runs the sink on that port
            controller = None
    try:
        yield
    finally:
        if controller is not None:
            controller.stop()
