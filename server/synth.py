"""Synthetic, UK-like people for demos, tests and benchmarks. Deterministic for a seed.

Names are drawn with Zipf-like frequencies from lists of common given and family names, with a
long tail of invented family names so that a large population looks like a real register:
a few very common surnames, many rare ones. Nobody generated here is a real person.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

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

    def postcode(self) -> str:
        rng = self.rng
        area = rng.choice(AREAS)
        district = str(rng.randint(1, 9 if len(area) == 1 else 29))
        unit = rng.choice(UNIT_LETTERS) + rng.choice(UNIT_LETTERS)
        return f"{area}{district} {rng.randint(0, 9)}{unit}"

    def date_of_birth(self) -> dt.date:
        """Ages 14 to 25 on the reference date."""
        days = self.rng.randint(14 * 365 + 4, 26 * 365 + 5)
        return self.reference_date - dt.timedelta(days=days)

    def person(self) -> Person:
        gender = self.rng.choices("1290", weights=[49, 49, 1, 1])[0]
        family = self.family_name()
        previous = self.family_name() if self.rng.random() < 0.03 else None
        return Person(
            given_name=self.given_name(gender),
            family_name=family,
            date_of_birth=self.date_of_birth(),
            gender=gender,
            postcode=self.postcode(),
            previous_family_name=previous if previous != family else None,
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
