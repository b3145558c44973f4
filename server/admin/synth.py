"""Synthetic, UK-like people for demos, tests and benchmarks. Deterministic for a seed.

Names are drawn with Zipf-like frequencies from lists of common given and family names, with a
long tail of invented family names so that a large population looks like a real register:
a few very common surnames, many rare ones. Most people have a middle name on record and a
few a preferred given name, as MIS records carry them; most who move stay nearby
(``MOVE_SHARES``). Nobody generated here is a real person.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import random
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TextIO

from sqlalchemy import insert, select

from miap.server.matching.engine import Demographics
from miap.server.matching.normalise import NameVariants, name_key
from miap.server.register import learners
from miap.server.register.identifiers import random_uln
from miap.storage.engine import Database
from miap.storage.models import Learner, utcnow

GIVEN = {
    "1": (
        "Oliver George Harry Noah Jack Leo Arthur Muhammad Oscar Charlie Jacob Thomas Henry "
        "William Theo Freddie Alfie Archie James Joshua Isaac Lucas Edward Alexander Joseph "
        "Samuel Daniel Logan Adam Mohammed Dylan Max Ethan Benjamin Mason Harrison Reuben "
        "Sebastian Elijah Finley Tommy Albert Rory Louie Ronnie Toby Jude Arlo Hugo Ezra Robert "
        "Michael David Christopher Matthew Ryan Liam Connor Kieran Callum Jamie Aaron Nathan Luke "
        "Owen"
    ).split(),
    "2": (
        "Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Willow Freya Florence "
        "Emily Ella Poppy Evie Elsie Charlotte Evelyn Sienna Sofia Daisy Phoebe Sophie Alice "
        "Harper Matilda Ruby Emilia Maya Millie Isabelle Eva Luna Jessica Esme Arabella Ellie "
        "Chloe Hannah Katherine Elizabeth Margaret Rebecca Laura Sarah Jennifer Megan Bethany "
        "Lauren Holly Zara Aisha Fatima Amira Niamh Caitlin Siobhan Orla Erin Abigail Jasmine "
        "Layla Maryam Imogen"
    ).split(),
}

FAMILY = (
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson "
    "Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson "
    "Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen "
    "James Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook "
    "Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson "
    "Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali "
    "Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell "
    "Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur "
    "Gibson Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks "
    "West Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose Booth "
    "Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster "
    "Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland "
    "Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah "
    "Dean Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross "
    "Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson "
    "Curtis Hopkins O'Connor Harper Coleman Watkins Moss McCarthy Chambers O'Neill Griffin Sharp "
    "Hardy Wheeler Potter Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson Rowe "
    "Burke May Pritchard Gilbert Willis Higgins Read Miles Stevenson Stephenson Hammond Arnold "
    "Buckley Walters Hewitt Barber Nelson Slater Austin Sullivan Whitehead Mann Frost Lambert "
    "Stephens Blake Akhtar Lynch Goodwin Barton Woodward Thomson Cunningham Quinn Barnett Baxter "
    "Bibi Clayton Nash Greenwood Jennings Holt Kemp Poole Gallagher Bond Stokes Tucker Davidson "
    "Fowler Heath Norman Middleton Lawson Banks French Stanley Jarvis Gibbs Ferguson Hayward "
    "Carroll Douglas Dickinson Todd Barlow Peters Lucas Knowles Hartley Miah Simmons Morton "
    "Alexander Field Morrison Norris Townsend Preston Hancock Thornton Baldwin Burrows Briggs "
    "Storey Pollard Smith-Jones Lloyd-Davies Ward-Thomas"
).split()

#: Postcode areas (letters) of England, Wales, Scotland and Northern Ireland.
AREAS = (
    "AB AL B BA BB BD BH BL BN BR BS CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY E "
    "EC EH EN EX FK FY G GL GU HA HD HG HP HR HS HU HX IG IP IV KA KT KW KY L LA LD LE LL LN LS "
    "LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO "
    "SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO BT"
).split()
#: Letters allowed in the inward unit of a postcode (identifiers.md).
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

_SYLLABLES = (
    "al an ar ber bur by cal car ces dal den don el en ford gan ham har hol ing kin lan ley lin "
    "low mar mer mont nor ock per ran ridge ros sel shaw ston tam ter thorn ton vane wal wick win "
    "worth"
).split()


def _cumulative(weights: list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _zipf_weights(count: int, exponent: float = 1.0) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, count + 1)]


@dataclass(frozen=True)
class Person:
    given_name: str
    family_name: str
    date_of_birth: dt.date
    gender: str
    postcode: str
    previous_family_name: str | None = None
    middle_name: str | None = None
    preferred_given_name: str | None = None


#: Share of synthetic people with a middle name on record (most UK learners have one and MIS
#: records carry it), and with a preferred given name (one they go by instead of the first).
MIDDLE_NAME_SHARE = 0.6
PREFERRED_NAME_SHARE = 0.08
#: Where a moved postcode goes: most moves are local. Shares of a move within the same
#: postcode district (a new street), to another district of the same postcode area (the next
#: town), and anywhere in the country.
MOVE_SHARES = {"district": 0.6, "area": 0.2, "national": 0.2}


class Population:
    """A stream of distinct synthetic people, the same stream for the same seed."""

    def __init__(self, seed: int = 0, reference_date: dt.date = dt.date(2026, 9, 1)) -> None:
        self.rng = random.Random(seed)
        self.reference_date = reference_date
        invented = sorted(
            {
                (a + b + c).capitalize()
                for a in _SYLLABLES
                for b in _SYLLABLES
                for c in ("", "s", "e")
                if a != b
            }
        )
        self.family_names = FAMILY + invented
        self._family_cum = _cumulative(_zipf_weights(len(FAMILY), 0.8) + [0.002] * len(invented))
        self._given_cum = {
            g: _cumulative(_zipf_weights(len(names), 0.7)) for g, names in GIVEN.items()
        }

    def given_name(self, gender: str) -> str:
        """A given name usual for ``gender``; either list for 0/9 (not known / not specified)."""
        key = gender if gender in GIVEN else self.rng.choice("12")
        return self.rng.choices(GIVEN[key], cum_weights=self._given_cum[key])[0]

    def family_name(self) -> str:
        return self.rng.choices(self.family_names, cum_weights=self._family_cum)[0]

    def postcode(self, area: str | None = None, district: str | None = None) -> str:
        """A postcode anywhere, or in postcode ``area`` (and its ``district``) when given."""
        rng = self.rng
        area = area or rng.choice(AREAS)
        district = district or str(rng.randint(1, 9 if len(area) == 1 else 29))
        unit = rng.choice(UNIT_LETTERS) + rng.choice(UNIT_LETTERS)
        return f"{area}{district} {rng.randint(0, 9)}{unit}"

    def moved_postcode(self, postcode: str) -> str:
        """Where someone living at ``postcode`` moved to, in the shares of ``MOVE_SHARES``."""
        outward = postcode.split()[0]
        area = outward.rstrip("0123456789")
        where = self.rng.choices(list(MOVE_SHARES), weights=list(MOVE_SHARES.values()))[0]
        while True:
            if where == "district":
                moved = self.postcode(area, outward[len(area) :])
            elif where == "area":
                moved = self.postcode(area)
            else:
                moved = self.postcode()
            if moved != postcode:
                return moved

    def date_of_birth(self) -> dt.date:
        """Ages 14 to 25 on the reference date."""
        days = self.rng.randint(14 * 365 + 4, 26 * 365 + 5)
        return self.reference_date - dt.timedelta(days=days)

    def person(self) -> Person:
        gender = self.rng.choices("1290", weights=[49, 49, 1, 1])[0]
        family = self.family_name()
        previous = self.family_name() if self.rng.random() < 0.03 else None
        given = self.given_name(gender)
        middle = self.given_name(gender) if self.rng.random() < MIDDLE_NAME_SHARE else None
        preferred = self.given_name(gender) if self.rng.random() < PREFERRED_NAME_SHARE else None
        return Person(
            given_name=given,
            family_name=family,
            date_of_birth=self.date_of_birth(),
            gender=gender,
            postcode=self.postcode(),
            previous_family_name=previous if previous != family else None,
            middle_name=middle if middle != given else None,
            preferred_given_name=preferred if preferred not in (given, middle) else None,
        )

    def people(self, count: int) -> Iterator[Person]:
        """``count`` people, no two with the same identity (names, birth date, gender, postcode)."""
        seen: set[tuple] = set()
        while len(seen) < count:
            person = self.person()
            identity = (
                person.given_name,
                person.family_name,
                person.date_of_birth,
                person.gender,
                person.postcode,
            )
            if identity not in seen:
                seen.add(identity)
                yield person


# -- noisy queries with ground truth ----------------------------------------------------------

#: Every error kind the matcher is built to tolerate, one per real-world slip, with its share
#: of the errors in a search stream (relative weights). Dates: day and month swapped, one
#: digit wrong, two adjacent digits transposed, several digits wrong, and a wholly wrong date
#: (a parent's, the enrolment date, a 1 January placeholder). Names: slips, the two names
#: swapped, one name typed into the other field while the other is new, a changed family name,
#: a nickname from the table, and a first name replaced by another (a middle, preferred or
#: anglicised name, or a nickname the table does not know). Gender not known (0 or 9) is sent
#: by many callers.
KIND_WEIGHTS = {
    "given_typo": 9,
    "family_typo": 9,
    "transposition": 6,
    "swapped_names": 4,
    "name_in_other_field": 3,
    "family_changed": 5,
    "nickname": 7,
    "given_replaced": 8,
    "dob_day_month": 6,
    "dob_digit": 8,
    "dob_transposed": 4,
    "dob_digits": 3,
    "dob_wrong": 4,
    "postcode_moved": 10,
    "postcode_missing": 5,
    "gender_unknown": 9,
}
ERROR_KINDS = tuple(KIND_WEIGHTS)
#: Kinds that change the same thing: a search has at most one of each group.
_GROUPS = {
    **{kind: "dob" for kind in ERROR_KINDS if kind.startswith("dob")},
    **{kind: "postcode" for kind in ERROR_KINDS if kind.startswith("postcode")},
    "swapped_names": "both names",
    "name_in_other_field": "both names",
    "nickname": "other given name",
    "given_replaced": "other given name",
}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: How often a first name replaced by another is the person's own preferred or middle name,
#: when they have one on record.
OWN_NAME_SHARE = 0.75


@dataclass(frozen=True)
class Query:
    """A search for ``truth`` (an index into the register's people, or None: not registered)."""

    person: Person
    truth: int | None
    errors: tuple[str, ...]


def _typo(rng: random.Random, name: str) -> str:
    """One substituted, inserted or deleted letter."""
    position = rng.randrange(len(name))
    kind = rng.choice(("substitute", "insert", "delete") if len(name) > 3 else ("substitute",))
    letter = rng.choice(_LETTERS).lower() if position else rng.choice(_LETTERS)
    if kind == "substitute":
        while letter.upper() == name[position].upper():
            letter = rng.choice(_LETTERS).lower() if position else rng.choice(_LETTERS)
        return name[:position] + letter + name[position + 1 :]
    if kind == "insert":
        return name[:position] + letter + name[position:]
    return name[:position] + name[position + 1 :]


def _transpose(rng: random.Random, name: str) -> str | None:
    spots = [i for i in range(len(name) - 1) if name[i].lower() != name[i + 1].lower()]
    if not spots:
        return None
    i = rng.choice(spots)
    swapped = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return swapped[0].upper() + swapped[1:].lower() if i == 0 else swapped


class Noise:
    """Applies one named error to a person, the way learner data really goes wrong."""

    def __init__(self, population: Population, variants: NameVariants) -> None:
        self.population = population
        self.rng = population.rng
        self.variants = variants

    def apply(self, person: Person, kind: str) -> Person | None:
        """``person`` with error ``kind``, or None when the kind cannot apply to them."""
        rng, p = self.rng, person
        if kind == "given_typo":
            return replace(p, given_name=_typo(rng, p.given_name))
        if kind == "family_typo":
            return replace(p, family_name=_typo(rng, p.family_name))
        if kind == "transposition":
            field = rng.choice(("given_name", "family_name"))
            changed = _transpose(rng, getattr(p, field))
            return replace(p, **{field: changed}) if changed else None
        if kind == "swapped_names":
            return replace(p, given_name=p.family_name, family_name=p.given_name)
        if kind == "family_changed":
            if p.previous_family_name:  # registered under the new name; searched by the old
                return replace(p, family_name=p.previous_family_name, previous_family_name=None)
            new = self.population.family_name()
            if new == p.family_name:
                return None
            return replace(p, family_name=new, previous_family_name=p.family_name)
        if kind == "nickname":
            options = self.variants.alternatives(p.given_name)
            return replace(p, given_name=rng.choice(options)) if options else None
        if kind == "dob_day_month":
            d = p.date_of_birth
            if d.day > 12 or d.day == d.month:
                return None
            return replace(p, date_of_birth=d.replace(month=d.day, day=d.month))
        if kind == "given_replaced":
            return replace(p, given_name=self._other_given_name(p))
        if kind == "name_in_other_field":
            if rng.random() < 0.5:
                new_family = self.population.family_name()
                if name_key(new_family) == name_key(p.family_name):
                    return None
                return replace(p, given_name=p.family_name, family_name=new_family)
            return replace(p, given_name=self._other_given_name(p), family_name=p.given_name)
        if kind.startswith("dob_") and kind != "dob_day_month":
            changed = self._date_error(p.date_of_birth, kind)
            return replace(p, date_of_birth=changed) if changed else None
        if kind == "postcode_moved":
            return replace(p, postcode=self.population.moved_postcode(p.postcode))
        if kind == "postcode_missing":
            return replace(p, postcode="ZZ99 9ZZ")
        if kind == "gender_unknown":
            return replace(p, gender=rng.choice("09")) if p.gender in "12" else None
        raise ValueError(f"unknown error kind {kind}")

    def _other_given_name(self, person: Person) -> str:
        """Another given name that is no variant of the person's own: their preferred or
        middle name when they have one (``OWN_NAME_SHARE`` of the time, the preferred name
        first), else another usual given name (an anglicised name, an unknown nickname)."""
        own = name_key(person.given_name)
        theirs = [
            name
            for name in (person.preferred_given_name, person.middle_name)
            if name and not self.variants.equivalent(name_key(name), own)
        ]
        if theirs and self.rng.random() < OWN_NAME_SHARE:
            return theirs[0]
        while True:
            other = self.population.given_name(person.gender)
            if not self.variants.equivalent(name_key(other), own):
                return other

    def _date_error(self, date: dt.date, kind: str) -> dt.date | None:
        """``date`` with a digit slip, two adjacent digits transposed, two or three digits
        wrong, or replaced by a wrong date; None when ``kind`` cannot apply to it."""
        rng, digits = self.rng, date.strftime("%Y%m%d")
        # A slip in the century is not a slip: digits 2 to 7 of YYYYMMDD.
        if kind == "dob_digit":
            texts = [digits[:i] + str(rng.randrange(10)) + digits[i + 1 :] for i in range(2, 8)]
        elif kind == "dob_transposed":
            texts = [digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :] for i in range(2, 7)]
        elif kind == "dob_digits":
            texts = []
            for _ in range(20):
                text = list(digits)
                for i in rng.sample(range(2, 8), rng.choice((2, 3))):
                    text[i] = rng.choice([d for d in "0123456789" if d != digits[i]])
                texts.append("".join(text))
        elif kind == "dob_wrong":
            texts = [self._wrong_date(date).strftime("%Y%m%d")]
        else:
            raise ValueError(f"unknown error kind {kind}")
        rng.shuffle(texts)
        for text in texts:
            try:
                changed = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                continue
            if changed != date and changed <= self.population.reference_date:
                return changed
        return None

    def _wrong_date(self, date: dt.date) -> dt.date:
        """A parent's birth date, the enrolment date, or a 1 January placeholder."""
        rng = self.rng
        reason = rng.choice(("parent", "enrolment", "placeholder"))
        if reason == "parent":
            year = date.year - rng.randint(18, 40)
            return dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
        if reason == "enrolment":
            year = self.population.reference_date.year - rng.randint(0, 2)
            return dt.date(year, 9, rng.randint(1, 30))
        return dt.date(date.year, 1, 1)

    def with_errors(self, person: Person, count: int) -> tuple[Person, tuple[str, ...]]:
        """``person`` with ``count`` applicable errors of different kinds (at most one per
        group), drawn in the proportions of ``KIND_WEIGHTS``."""
        kinds: list[str] = []
        weights = list(KIND_WEIGHTS.values())
        while len(kinds) < count:
            kind = self.rng.choices(ERROR_KINDS, weights=weights)[0]
            group = _GROUPS.get(kind, kind)
            if any(_GROUPS.get(k, k) == group for k in kinds):
                continue
            changed = self.apply(person, kind)
            if changed is not None:
                person = changed
                kinds.append(kind)
        return person, tuple(kinds)


def noisy_queries(
    population: Population,
    registered: list[Person],
    count: int,
    variants: NameVariants,
    two_errors: float = 0.20,
    three_errors: float = 0.05,
    strangers: float = 0.10,
) -> Iterator[Query]:
    """Queries with ground truth: ``strangers`` of them for people who are not registered
    (searched without errors), ``two_errors`` and ``three_errors`` of them with two and three
    errors, the rest with one."""
    noise = Noise(population, variants)
    rng = population.rng
    known = {(p.given_name, p.family_name, p.date_of_birth) for p in registered}
    for _ in range(count):
        draw = rng.random()
        if draw < strangers:
            stranger = population.person()
            while (stranger.given_name, stranger.family_name, stranger.date_of_birth) in known:
                stranger = population.person()
            yield Query(stranger, None, ())
            continue
        if draw < strangers + three_errors:
            errors = 3
        elif draw < strangers + three_errors + two_errors:
            errors = 2
        else:
            errors = 1
        truth = rng.randrange(len(registered))
        person, kinds = noise.with_errors(registered[truth], errors)
        if person.previous_family_name == registered[truth].previous_family_name:
            # A search carries a previous family name only when the error put one there.
            person = replace(person, previous_family_name=None)
        yield Query(person, truth, kinds)


# -- loading a population ---------------------------------------------------------------------


def demographics(person: Person) -> Demographics:
    """What a search for ``person`` says, as the matching engine takes it."""
    return Demographics.of(person)


def learner_details(person: Person) -> dict:
    """A synthetic person as the details a registration would carry."""
    return {
        "given_name": person.given_name,
        "family_name": person.family_name,
        "date_of_birth": person.date_of_birth,
        "gender": person.gender,
        "postcode": person.postcode,
        "previous_family_name": person.previous_family_name,
        "middle_other_name": person.middle_name,
        "preferred_given_name": person.preferred_given_name,
        "verification_type": "1",
        "ability_to_share": "1",
    }


def learner_rows(
    people: Iterable[Person],
    ukprn: str,
    taken: set[str],
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> Iterator[dict]:
    """Learner table rows for ``people``, exactly as a registration would store them, each
    with a fresh ULN not in ``taken`` (which is extended)."""
    now = utcnow()
    for person in people:
        uln = random_uln(randbelow)
        while uln in taken:
            uln = random_uln(randbelow)
        taken.add(uln)
        row = learners.stored_columns(learner_details(person))
        row.update(
            uln=uln,
            learner_status=learners.ACTIVE,
            version=1,
            created_at=now,
            updated_at=now,
            registered_by_ukprn=ukprn,
        )
        yield row


def load(db: Database, people: Iterable[Person], ukprn: str, batch: int = 10_000) -> list[str]:
    """Insert ``people`` as new learners in bulk (fresh ULNs), returning their ULNs in order.

    For seeding demos, staging and benchmarks: no duplicate check beyond the identity index,
    so load distinct people (``Population.people`` yields only distinct ones).
    """
    with db.transaction() as session:
        taken = set(session.scalars(select(Learner.uln)))
    ulns: list[str] = []
    rows = learner_rows(people, ukprn, taken)
    while chunk := list(itertools.islice(rows, batch)):
        with db.transaction() as session:
            session.execute(insert(Learner), chunk)
        ulns += [row["uln"] for row in chunk]
    return ulns


# -- files ------------------------------------------------------------------------------------

PEOPLE_COLUMNS = (
    "index",
    "given_name",
    "family_name",
    "date_of_birth",
    "gender",
    "postcode",
    "previous_family_name",
    "middle_name",
    "preferred_given_name",
)


def write_people(people: Iterable[Person], out: TextIO) -> int:
    """CSV of ``people`` with their index (the ground truth that queries point at)."""
    writer = csv.writer(out)
    writer.writerow(PEOPLE_COLUMNS)
    rows = [[index, *_person_fields(person)] for index, person in enumerate(people)]
    writer.writerows(rows)
    return len(rows)


def write_queries(queries: Iterable[Query], out: TextIO) -> int:
    """CSV of searches: the searched fields, the index of the true person (empty when not
    registered) and the errors injected, ``;``-separated."""
    writer = csv.writer(out)
    writer.writerow([*PEOPLE_COLUMNS[1:], "truth", "errors"])
    rows = [
        [*_person_fields(q.person), "" if q.truth is None else q.truth, ";".join(q.errors)]
        for q in queries
    ]
    writer.writerows(rows)
    return len(rows)


def _person_fields(person: Person) -> list[str]:
    return [
        person.given_name,
        person.family_name,
        person.date_of_birth.isoformat(),
        person.gender,
        person.postcode,
        person.previous_family_name or "",
        person.middle_name or "",
        person.preferred_given_name or "",
    ]
