"""Census rows proved new without the engine, set-based (PostgreSQL).

In a register of a million learners nearly every pupil has candidates: dozens share the name
pair, others a birth date and a Soundex code. Searching each pupil through the engine costs
about a millisecond. Yet almost none of those candidates could be returned, and the engine
answers "no match" for a row unless one of its candidates could be exact or scores at the
threshold. ``Screen`` proves that for a whole chunk at once, over a superset of the engine's
blocks read by joins, without their limits (every candidate the engine reads is among them):

* learners holding the searched name pair: both names are exact and the pair's rarity is
  the count of its holders, so their scores are bounded in SQL (``ScoreBounds``). Of a
  common pair's holders only those that could reach the threshold are joined: in the
  searched postcode area, born the same day or with day and month swapped, or with a
  postcode unknown on either side (``ScoreBounds.common_holders_apart``), and of those only
  the ones the engine's blocks could read (``_READ_BY_ENGINE``: it reads the pair's holders
  born nearest the searched date, not all of them);
* every other candidate (a given-name variant, the pair crossed, a near birth date with a
  Soundex code, a wide one with both codes, the postcode) whose bound with the most any
  names can weigh reaches the threshold is read and compared by the engine itself
  (``ScoringMatcher.could_return``). A wide birth date is at most two digits away, so one of
  its year, month and day is the searched one's: the joins use each in turn.

A row none of whose candidates could be returned is proved new (``Screen.proved_new``, which
only reads); the others go to the engine as before, which answers them with its own blocks
and limits. ``ScreensAhead`` screens a load's chunks one ahead of their settling, on a
connection of its own, so PostgreSQL screens one chunk while the settling works on another.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Date, Row, text
from sqlalchemy.orm import Session

from miap.server.matching.bounds import (
    ScoreBounds,
    area,
    unknown_postcode,
    wrong_digits,
    yyyymmdd,
)
from miap.server.matching.engine import (
    CANDIDATE_COLUMNS,
    EXACT,
    MANY_PROBES,
    NO_MATCH,
    PAIR_LIMIT,
    Demographics,
    ScoringMatcher,
)
from miap.storage.engine import Database

#: The rows of a chunk: lines ``(:lo, :hi]`` of run ``:r``.
CHUNK_ROWS = "census_rows.run_id = :r AND census_rows.line > :lo AND census_rows.line <= :hi"
#: Rows of the chunk not settled yet (a follower is its leader's).
PENDING = "census_rows.outcome IS NULL AND census_rows.leader_line IS NULL"
#: Where a common pair's holder ``l`` can be among the engine's candidates for row ``r``
#: (pair ``p``, its holders' birth dates in order: ``p.born``): the pair blocks read the
#: ``PAIR_LIMIT`` holders born on or after the searched date, nearest first, and as many
#: born before it (``width_bucket``: how many were born before it; a holder born on the
#: last date read, a tie, counts as read), the date blocks those born on a date at most two
#: digits away or with day and month swapped, the postcode block those at the postcode; and
#: the crossed pair block reads the pair itself when both names are the same.
_READ_BY_ENGINE = (
    "(r.given_key = r.family_key OR l.postcode_key = r.postcode_key "
    f"OR l.date_of_birth = r.swapped OR {wrong_digits('r.digits', 'l.digits')} <= 2 "
    f"OR (l.date_of_birth >= p.born[width_bucket(r.date_of_birth - 1, p.born) - {PAIR_LIMIT - 1}]"
    " IS NOT FALSE "
    f"AND l.date_of_birth <= p.born[width_bucket(r.date_of_birth - 1, p.born) + {PAIR_LIMIT}]"
    " IS NOT FALSE))"
)
#: The parts of a birth date: one of them is the same in dates at most two digits apart.
_PARTS = ("year", "month", "day")
#: A hair of slack under the threshold: SQL adds the weights in another order than Python.
_SLACK = 1e-9
_LIVE = "l.merged_into_id IS NULL AND l.deleted_at IS NULL"
_HOLDS = "l.given_key = r.given_key AND l.family_key = r.family_key"
#: The joined learner's birth date as YYYYMMDD (``d.digits``), computed once per pair:
#: ``OFFSET 0`` keeps the planner from copying the expression into every place naming it.
_DIGITS = f"CROSS JOIN LATERAL (SELECT {yyyymmdd('l.date_of_birth')} AS digits OFFSET 0) AS d"
#: Planner settings for the screen's statements (only): a chunk's rows are hashed and the
#: register scanned once a block. A merge join would read the register in index order, each
#: block; a nested loop, every holder of a common name pair, each of its rows.
_MEMORY = ("work_mem", "256MB")
_NO_JIT = ("jit", "off")
_HASHED = (_MEMORY, _NO_JIT, ("enable_mergejoin", "off"), ("enable_nestloop", "off"))
#: The other candidates' blocks lay a row's keys out beside it (LATERAL: nested loops).
_LAID_OUT = (_MEMORY, _NO_JIT, ("enable_mergejoin", "off"))


@contextmanager
def planner(session: Session, settings: tuple[tuple[str, str], ...]) -> Iterator[None]:
    """PostgreSQL planner ``settings`` for the statements run inside (the transaction's own,
    then reset)."""
    for name, value in settings:
        session.execute(text(f"SET LOCAL {name} = '{value}'"))
    yield
    for name, _ in settings:
        session.execute(text(f"RESET {name}"))


#: A row's outcome, learner (an exact match's) and reason (a possible match's ULNs).
Answer = tuple[str, int | None, str | None]
#: The columns of a row the engine searches (``Demographics.of``), in ``SEARCHED``'s order.
SEARCHED = "line, given_name, family_name, date_of_birth, gender, postcode"


def engine_answers(
    session: Session, matcher: ScoringMatcher, rows: Sequence[Row], high_id: int
) -> dict[int, Answer]:
    """The engine's answer for each row (``SEARCHED``, line first) against the register up
    to learner ``high_id``: ``matched`` with its learner, ``new``, or ``possible`` with the
    candidates' ULNs (too many: said so)."""
    answers: dict[int, Answer] = {}
    for start in range(0, len(rows), MANY_PROBES):
        part = rows[start : start + MANY_PROBES]
        probes = [Demographics.of(row) for row in part]
        searched = matcher.scored_many(session, probes, high_id, decisive=True)
        for row, scored in zip(part, searched, strict=True):
            code, chosen = matcher.decide(scored)
            if code == EXACT:
                answers[row.line] = ("matched", chosen[0].id, None)
            elif code == NO_MATCH:
                answers[row.line] = ("new", None, None)
            elif chosen:
                ulns = ", ".join(item.uln for item in chosen)
                answers[row.line] = ("possible", None, f"possible match: ULN {ulns}"[:255])
            else:
                answers[row.line] = ("possible", None, "too many possible matches")
    return answers


@dataclass
class Screened:
    """What screening a chunk found: the lines proved new, and the engine's answers for
    some of the others (``ScreensAhead.ANSWERED``)."""

    new: set[int]
    answers: dict[int, Answer] = field(default_factory=dict)


class Screen:
    """The screening of one chunk's pending rows (``where`` and its ``values``)."""

    def __init__(
        self, session: Session, where: str, values: dict[str, object], matcher: ScoringMatcher
    ) -> None:
        self.session = session
        self.values = {**values, "threshold": matcher.weights.threshold - _SLACK}
        self.matcher = matcher
        self.bounds = ScoreBounds(matcher.weights)
        day, month = "date_part('day', date_of_birth)", "date_part('month', date_of_birth)"
        self.pending_rows = (
            "SELECT line, given_name, family_name, gender, postcode, "
            "given_key, family_key, given_sound, family_sound, date_of_birth, postcode_key, "
            "string_to_array(sounds, ',') AS sounds, string_to_array(givens, ',') AS givens, "
            f"{yyyymmdd('date_of_birth')} AS digits, {area('postcode_key')} AS area, "
            f"CASE WHEN {day} <= 12 THEN make_date(date_part('year', date_of_birth)::int, "
            f"{day}::int, {month}::int) END AS swapped "
            f"FROM census_rows WHERE {where} AND {PENDING}"
        )

    def proved_new(self) -> set[int]:
        """The pending rows no candidate of which the engine could return (reads only: its
        working tables are temporary, dropped when the transaction ends)."""
        self._lay_out()
        screened = set(self.session.scalars(text("SELECT line FROM rows")))
        with planner(self.session, _HASHED):
            reaching = self._holders_reaching()
        reaching |= self._others_reaching()
        return screened - reaching

    def _lay_out(self) -> None:
        """The chunk's pending rows (``rows``) and each row twice with its Soundex codes
        either way round and its birth date's parts (``sounds``), as temporary tables whose
        join columns are analysed: with their statistics the planner hashes them, not the
        register."""
        parts = ", ".join(f"date_part('{part}', date_of_birth) AS {part}" for part in _PARTS)
        kept = "line, given_key, family_key, date_of_birth, digits, swapped, gender, postcode_key"
        for name, select, joined in [
            ("rows", self.pending_rows, "line, given_key, family_key, postcode_key"),
            (
                "sounds",
                f"SELECT {kept}, first, second, {parts} FROM (SELECT *, family_sound AS first, "
                "given_sound AS second FROM rows UNION ALL SELECT *, given_sound, family_sound "
                "FROM rows) AS both_ways",
                f"first, second, {', '.join(_PARTS)}",
            ),
        ]:
            self.session.execute(
                text(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}"), self.values
            )
            self.session.execute(text(f"ANALYZE {name} ({joined})"))

    def _fields(self, digits: str) -> str:
        """The bound of the birth date (``digits``: the candidate's as YYYYMMDD), postcode and
        gender of candidate ``l`` for row ``r``."""
        b = self.bounds
        return (
            f"{b.dob('r.digits', digits)} + {b.postcode('r.postcode_key', 'l.postcode_key')} "
            f"+ {b.gender('r.gender', 'l.gender')}"
        )

    @staticmethod
    def _could_be_exact() -> str:
        """What every exact candidate meets: the birth date and the postcode."""
        return "(r.date_of_birth = l.date_of_birth AND r.postcode_key = l.postcode_key)"

    def _holders_reaching(self) -> set[int]:
        """Rows a holder of whose name pair could be returned, scored in SQL."""
        b = self.bounds
        joined = f"JOIN holders l ON {_HOLDS} AND l.alive"
        if b.common_holders_apart():
            # a common pair's holders that could reach the threshold (and no others)
            common = [
                f"AND {area('l.postcode_key')} = r.area",
                "AND l.date_of_birth = r.date_of_birth",
                "AND l.date_of_birth = r.swapped",
                f"AND {unknown_postcode('l.postcode_key')}",
                f"WHERE {unknown_postcode('r.postcode_key')}",
            ]
        else:
            common = [""]
        common = [f"{more} {'AND' if more else 'WHERE'} {_READ_BY_ENGINE}" for more in common]
        held = " UNION ALL ".join(
            "SELECT r.line, p.live, p.read, l.date_of_birth AS born, l.digits, l.gender AS sex, "
            "l.postcode_key AS postcode FROM rows r JOIN pairs p ON p.given_key = r.given_key "
            f"AND p.family_key = r.family_key AND {which} {joined} {more}"
            for which, more in [("NOT p.common", ""), *(("p.common", more) for more in common)]
        )
        score = (
            f"{b.exact_names!r}::float8 + {b.pair('l.live', 'l.read')} "
            f"+ {b.dob('r.digits', 'l.digits')} "
            f"+ {b.postcode('r.postcode_key', 'l.postcode')} + {b.gender('r.gender', 'l.sex')}"
        )
        exact = "(r.date_of_birth = l.born AND r.postcode_key = l.postcode)"
        return set(
            self.session.scalars(
                text(
                    f"WITH holders AS MATERIALIZED (SELECT l.given_key, "
                    "l.family_key, l.date_of_birth, l.gender, l.postcode_key, "
                    f"{yyyymmdd('l.date_of_birth')} AS digits, {_LIVE} AS alive FROM learners l "
                    "JOIN (SELECT DISTINCT given_key, family_key FROM rows) k "
                    "ON l.given_key = k.given_key AND l.family_key = k.family_key "
                    "WHERE l.id <= :high_id), "
                    # (the birth dates hashed per pair, then sorted per common pair: sorting
                    # the holders by pair costs more)
                    "pairs AS MATERIALIZED (SELECT given_key, family_key, live, read, common, "
                    "CASE WHEN born IS NOT NULL THEN ARRAY(SELECT unnest(born) ORDER BY 1) END "
                    "AS born FROM (SELECT given_key, family_key, "
                    "COUNT(*) FILTER (WHERE alive) AS live, COUNT(*) AS read, "
                    f"COUNT(*) FILTER (WHERE alive) >= {PAIR_LIMIT} "
                    "AND COUNT(*) FILTER (WHERE alive) = COUNT(*) AS common, "
                    f"CASE WHEN COUNT(*) >= {PAIR_LIMIT} THEN array_agg(date_of_birth) END AS born "
                    "FROM holders GROUP BY 1, 2) AS counted), "
                    f"held AS ({held}) "
                    "SELECT DISTINCT l.line FROM held l JOIN rows r USING (line) "
                    f"WHERE {exact} OR {score} >= :threshold"
                ),
                self.values,
            )
        )

    def _others_reaching(self) -> set[int]:
        """Rows another candidate of which could be returned: those whose fields' bound,
        with the most the names of a learner not holding the pair can weigh, reaches the
        threshold are read and compared by the engine. The blocks that lay a row's keys out
        beside it (LATERAL) run in one statement, the plain joins in another."""
        wide = f"({wrong_digits('r.digits', 'd.digits')} <= 2 OR l.date_of_birth = r.swapped)"
        any_sound = "(l.family_sound = ANY(r.sounds) OR l.given_sound = ANY(r.sounds))"
        near = (
            "CROSS JOIN LATERAL (SELECT born, sound FROM unnest(ARRAY[r.date_of_birth, "
            "r.swapped]) AS born, unnest(r.sounds) AS sound) AS k "
        )
        # (the rows read, joins, a condition on the pair); a wide date needs the digits (``d``)
        laid_out = [
            # a variant of the given name with the family name, or the pair crossed
            (
                "rows",
                "CROSS JOIN LATERAL (SELECT given, r.family_key AS family "
                "FROM unnest(array_remove(r.givens, r.given_key)) AS given "
                "UNION ALL SELECT r.family_key, r.given_key) AS k "
                "JOIN learners l ON l.given_key = k.given AND l.family_key = k.family",
                "TRUE",
            ),
            # a near birth date (the same, or day and month swapped) with a Soundex code
            *(
                (
                    "rows",
                    f"{near} JOIN learners l ON l.date_of_birth = k.born AND l.{key} = k.sound",
                    "TRUE",
                )
                for key in ("family_sound", "given_sound")
            ),
        ]
        joined = [
            # a wide birth date with both Soundex codes, either way round (each row twice,
            # its codes in both orders): at most two of its digits differ, so its year, month
            # or day is the searched one's (a join each)
            *(
                (
                    "sounds",
                    "JOIN learners l ON l.family_sound = r.first AND l.given_sound = r.second "
                    f"AND date_part('{part}', l.date_of_birth) = r.{part}",
                    wide,
                )
                for part in _PARTS
            ),
            # the same known postcode with a Soundex code or a wide birth date
            (
                "rows",
                "JOIN learners l ON l.postcode_key = r.postcode_key "
                f"AND NOT {unknown_postcode('r.postcode_key')}",
                f"({any_sound} OR {wide})",
            ),
        ]
        with planner(self.session, _LAID_OUT):
            reaching = self._compared(laid_out)
        with planner(self.session, _HASHED):
            return reaching | self._compared(joined)

    def _compared(self, blocks: list[tuple[str, str, str]]) -> set[int]:
        """Rows a candidate of ``blocks`` (not holding the pair) of which the engine could
        return, once its fields' bound leaves room for its names."""
        columns = ", ".join(f"l.{name}" for name in CANDIDATE_COLUMNS)
        names = self.bounds.names_apart
        reaching_bound = (
            f"({self._could_be_exact()} "
            f"OR {self._fields('d.digits')} + {names!r}::float8 >= :threshold)"
        )
        found = " UNION ".join(
            f"SELECT r.line, {columns}, d.digits FROM {source} r {joins} {_DIGITS} "
            f"WHERE l.id <= :high_id AND {_LIVE} AND NOT ({_HOLDS}) AND {condition} "
            f"AND {reaching_bound}"
            for source, joins, condition in blocks
        )
        result = self.session.execute(
            text(
                f"WITH found AS ({found}) "
                "SELECT r.given_name AS searched_given, r.family_name AS searched_family, "
                "r.date_of_birth AS searched_born, r.gender AS searched_gender, "
                "r.postcode AS searched_postcode, l.* FROM found l JOIN rows r USING (line) "
                "ORDER BY l.line"
            ).columns(searched_born=Date, date_of_birth=Date),
            self.values,
        )
        reaching: set[int] = set()
        line, probe = None, None
        for row in result:
            if row.line in reaching:
                continue
            if row.line != line:
                line = row.line
                probe = self.matcher.probe(
                    Demographics(
                        given_name=row.searched_given,
                        family_name=row.searched_family,
                        date_of_birth=row.searched_born,
                        gender=row.searched_gender,
                        postcode=row.searched_postcode,
                    )
                )
            if self.matcher.could_return(probe, row):
                reaching.add(row.line)
        return reaching


#: A row whose UPN is linked to a live learner: the settling links it before screening.
_LINKED = (
    "EXISTS (SELECT 1 FROM census_pupils p JOIN learners l ON l.id = p.learner_id "
    "WHERE p.upn = census_rows.upn AND l.deleted_at IS NULL)"
)


class ScreensAhead:
    """The settling's chunks screened in order, ahead of it, on a thread and a database
    connection of their own: while the file is still being staged, and then while the
    settling runs a chunk's statements and the engine's Python, PostgreSQL screens the next
    chunks on another core.

    A row's screening depends only on the row and on the register as it stood when the run
    began (learners up to ``high_id``), never on how other rows were settled, so screening
    ahead proves what screening in the chunk's own transaction would. A chunk is screened
    once its rows are staged (``census_runs.staged_lines``), in one snapshot (``REPEATABLE
    READ``); rows whose UPN is linked already are left out (the settling links them first).
    Rows that preparing rejects or makes followers may be screened too: the settling marks
    ``new`` only rows proved new here that are still pending, and a row not screened goes to
    the engine."""

    #: How often to look whether a chunk's rows are staged.
    POLL_SECONDS = 0.2
    #: The share of a chunk's rows not proved new that are searched here, by the engine, in
    #: the screening's snapshot: the settling searches the rest. The two lanes then carry
    #: about the same work (screening here; inserting, linking and auditing there).
    ANSWERED = 0.3

    def __init__(
        self,
        db: Database,
        matcher: ScoringMatcher,
        values: dict[str, object],
        chunks: list[tuple[int, int]],
    ) -> None:
        #: Two screened chunks at most wait for the settling.
        self._queue: queue.Queue[tuple[tuple[int, int], Screened | BaseException]] = queue.Queue(
            maxsize=2
        )
        self._stop = threading.Event()
        self.chunks = chunks
        self._db, self._matcher, self._values = db, matcher, values
        self._thread = threading.Thread(target=self._run, name="census-screen", daemon=True)
        self._thread.start()

    def screened(self, low: int, high: int) -> Screened:
        """What screening chunk ``(low, high]`` found (waits for it)."""
        chunk, found = self._queue.get()
        if isinstance(found, BaseException):
            raise found
        if chunk != (low, high):
            raise RuntimeError(f"screened lines {chunk}, settling {(low, high)}")
        return found

    def close(self) -> None:
        """Stop screening (after the statement running) and wait for the thread."""
        self._stop.set()
        self._thread.join()

    def _staged(self, high: int) -> bool:
        """Wait until the rows up to line ``high`` are staged, or all are; False if stopped
        first. (Line 1 is the header: line ``n`` is the ``n - 1``-th record.)"""
        while not self._stop.is_set():
            with self._db.transaction() as session:
                staged, total = session.execute(
                    text("SELECT staged_lines, total_lines FROM census_runs WHERE id = :r"),
                    self._values,
                ).one()
            if total is not None or staged >= high - 1:
                return True
            self._stop.wait(self.POLL_SECONDS)
        return False

    def _run(self) -> None:
        where = f"{CHUNK_ROWS} AND NOT {_LINKED}"
        chunk = (0, 0)
        try:
            for chunk in self.chunks:
                if not self._staged(chunk[1]):
                    return
                with self._db.transaction() as session:
                    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                    bounds = {**self._values, "lo": chunk[0], "hi": chunk[1]}
                    found = self._screen(session, Screen(session, where, bounds, self._matcher))
                self._put(chunk, found)
        except BaseException as error:  # noqa: BLE001 - raised in the settling's thread
            self._put(chunk, error)

    def _screen(self, session: Session, screen: Screen) -> Screened:
        """The chunk's rows proved new, and the engine's answers for the first ``ANSWERED``
        of the others (in line order)."""
        new = screen.proved_new()
        rows = session.execute(
            text(f"SELECT {SEARCHED} FROM rows ORDER BY line").columns(date_of_birth=Date)
        ).all()
        left = [row for row in rows if row.line not in new]
        share = left[: int(len(left) * self.ANSWERED)]
        return Screened(new, engine_answers(session, self._matcher, share, self._values["high_id"]))

    def _put(self, chunk: tuple[int, int], found: Screened | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put((chunk, found), timeout=0.5)
                return
            except queue.Full:
                continue
