"""Reading a college's ILR XML return (``ILR-<UKPRN>-<YYYY>-<yyyymmdd>-<hhmmss>-<NN>.XML``).

The file is streamed (``lxml.etree.iterparse``, each Learner cleared once read, so memory
stays bounded whatever the file's size) and validated against our schema of its collection
year (``xsd/ilr-<year>.xsd``, picked by the root's namespace): the elements we read are typed
there, the rest of the ILR's elements accepted unchecked. A small file is validated as it is
parsed; a large one by a second process parsing it beside this one (``_Checker``). Either way
libxml2 gives the verdict at the end of the document, so the caller stages the events in a
transaction it rolls back on a refusal. (On PostgreSQL a large return is read in parts by
worker processes instead, each part parsed once with the schema: ``ilr_parts``.) A ``.ZIP``
holding the same-named XML is read the same way. Each LearningDelivery becomes one ``Staged``
event of its Learner's ULN; work-placement aims are not qualifications and are counted, not
staged.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from multiprocessing.connection import Connection
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from miap.server.records.errors import RecordsError
from miap.server.records.events import Staged, rejected, staged
from miap.server.records.streams import Counted, sha256_of
from miap.server.xmlschemas import per_thread


@dataclass(frozen=True)
class Year:
    """One ILR collection year as its files say it."""

    name: str  # 2019-20
    code: str  # 1920, as in Header/CollectionDetails/Year and the file name

    @property
    def schema_file(self) -> str:
        return f"ilr-{self.name}.xsd"


#: The collection years we read, by the namespace of their files' root element.
YEARS = {
    "SFA/ILR/2017-18": Year("2017-18", "1718"),
    "ESFA/ILR/2018-19": Year("2018-19", "1819"),
    "ESFA/ILR/2019-20": Year("2019-20", "1920"),
    "ESFA/ILR/2020-21": Year("2020-21", "2021"),
}
#: Aims that record a work placement, not a qualification.
WORK_PLACEMENT_AIMS = frozenset(
    ("Z0007834", "Z0007835", "Z0007836", "Z0007837", "Z0007838", "Z0002347", "ZWRKX001", "ZWRKX002")
)
#: Returns at least this big (bytes of XML) are checked against the schema by a second
#: process while this one reads their events: the check costs as much as the rest of the
#: parse, and on two cores it then costs no time. Below it, starting the process would.
PARALLEL_VALIDATION_BYTES = 64 << 20
#: A name's date-time may be this far ahead of our clock (time zones, skewed clocks).
FUTURE_TOLERANCE = dt.timedelta(days=1)

_NAME = re.compile(r"ILR-([0-9]{8})-([0-9]{4})-([0-9]{8})-([0-9]{6})-([0-9]{2})\.(XML|ZIP)", re.I)
#: LearningDelivery children that become event fields, by local name.
_DELIVERY_FIELDS = {
    "LearnAimRef": "subject_code",
    "AimSeqNumber": "aim_seq",
    "LearnStartDate": "participation_start_date",
    "CompStatus": "status",
    "LearnActEndDate": "participation_end_date",
    "Outcome": "outcome",
    "AchDate": "achievement_award_date",
    "OutGrade": "grade",
}
#: LearningDelivery children the schema puts after every element we read: reading stops there.
_AFTER_READ = (
    "SWSupAimId",
    "LearningDeliveryFAM",
    "LearningDeliveryWorkPlacement",
    "AppFinRecord",
    "ProviderSpecDeliveryMonitoring",
    "LearningDeliveryHE",
)
_STOP = ""
_DATES = ("participation_start_date", "participation_end_date", "achievement_award_date")
_CODES = ("status", "outcome")


@dataclass(frozen=True)
class ReturnName:
    """What an ILR file's name says about it."""

    ukprn: str
    year_code: str
    prepared: dt.datetime
    serial: int
    zipped: bool


def parse_name(name: str, now: dt.datetime | None = None) -> ReturnName:
    """The parts of an ILR file name; a name breaking the rules is refused."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise RecordsError(
            f"{name}: an ILR return is named ILR-<UKPRN>-<YYYY>-<yyyymmdd>-<hhmmss>-<NN>.XML "
            "(or .ZIP holding that XML)"
        )
    ukprn, year_code, day, time, serial, extension = match.groups()
    try:
        prepared = dt.datetime.strptime(day + time, "%Y%m%d%H%M%S")
    except ValueError:
        raise RecordsError(f"{name}: {day}-{time} is not a date and time") from None
    if int(serial) == 0:
        raise RecordsError(f"{name}: the serial number must not be 00")
    if prepared > (now or dt.datetime.now()) + FUTURE_TOLERANCE:
        raise RecordsError(f"{name}: its date and time are in the future")
    return ReturnName(ukprn, year_code, prepared, int(serial), extension.upper() == "ZIP")


@dataclass(frozen=True)
class Header:
    """The return's identity, from its Header and LearningProvider."""

    year: Year
    ukprn: str
    serial: int

    @property
    def return_key(self) -> str:
        return f"{self.year.code}-{self.serial:02d}"


def _schema(year: Year) -> etree.XMLSchema:
    path = Path(str(files("miap.xsd"))) / year.schema_file
    return per_thread(f"ilr-{year.name}", lambda: etree.XMLSchema(etree.parse(str(path))))


class IlrReturn:
    """One ILR file: its name is checked when made; ``events()`` streams its learning events
    (``header`` is known once the first is read, ``content_hash`` once all are)."""

    def __init__(self, path: Path, parallel_from: int = PARALLEL_VALIDATION_BYTES) -> None:
        self.path = path
        self.name = parse_name(path.name)
        #: From this size on the schema is checked by a second process (see ``_Checker``).
        self.parallel_from = parallel_from
        self.header: Header | None = None
        self.content_hash = ""
        self.learners = 0
        #: Learning deliveries read so far (an event's ``pos``).
        self.deliveries = 0
        #: Work-placement aims read (not qualifications, so not events).
        self.skipped = 0
        #: Added to the parser's line numbers (a part read apart starts further down).
        self.line_shift = 0

    @property
    def size(self) -> int:
        """Bytes the parser will read (a ZIP's: its XML's, unpacked)."""
        if self.name.zipped:
            try:
                with zipfile.ZipFile(self.path) as archive:
                    return sum(info.file_size for info in archive.infolist())
            except (zipfile.BadZipFile, OSError):
                pass  # reading it says what is wrong
        return self.path.stat().st_size

    @contextmanager
    def _raw(self) -> Iterator[BinaryIO]:
        if not self.name.zipped:
            with self.path.open("rb") as stream:
                yield stream
            return
        try:
            archive = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as error:
            raise RecordsError(f"{self.path.name}: not a readable ZIP file ({error})") from None
        with archive:
            wanted = Path(self.path.name).stem.upper() + ".XML"
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1 or members[0].filename.upper() != wanted:
                raise RecordsError(
                    f"{self.path.name}: the ZIP must hold exactly one file, {Path(wanted).stem}.XML"
                )
            with archive.open(members[0]) as stream:
                yield stream

    def _namespace(self) -> str:
        with self._raw() as stream:
            try:
                for _, element in etree.iterparse(stream, events=("start",)):
                    return etree.QName(element).namespace or ""
            except etree.XMLSyntaxError as error:
                raise RecordsError(f"{self.path.name}: not well-formed XML: {error}") from None
        raise RecordsError(f"{self.path.name}: empty file")

    def events(self, advance: Callable[[int], object] = lambda n: None) -> Iterator[Staged]:
        """The file's events in file order (``advance`` is told each block's size read).

        A file that is not a valid ILR return of one of our years raises ``RecordsError``,
        possibly only at its end (the parser reports schema errors then), so a caller stages
        in a transaction it can roll back."""
        namespace = self._namespace()
        year = YEARS.get(namespace)
        if year is None:
            known = ", ".join(YEARS)
            raise RecordsError(
                f"{self.path.name}: root namespace {namespace!r} is not an ILR year we read "
                f"({known})"
            )
        if year.code != self.name.year_code:
            raise RecordsError(
                f"{self.path.name}: the name says collection year {self.name.year_code}, "
                f"the namespace {namespace} ({year.code})"
            )
        q = "{" + namespace + "}"
        checker = _Checker(self.path, namespace) if self.size >= self.parallel_from else None
        try:
            with self._raw() as raw:
                stream = Counted(raw, advance)
                parsed = _records(stream, q, None if checker else _schema(year))
                try:
                    try:
                        yield from self._walk(parsed, q, year)
                    except (ValueError, TypeError, AttributeError, KeyError):
                        # A value the schema refuses reached us before the schema's report,
                        # which libxml2 gives at the end of the document: read on for it.
                        if checker is None:
                            _drain(parsed)
                        else:
                            self._refuse(checker.verdict(), q)
                        raise RecordsError(
                            f"{self.path.name}: not a valid ILR return (Learner {self.learners})"
                        ) from None
                except etree.XMLSyntaxError as error:
                    self._refuse(str(error.msg or error), q)
                self.content_hash = stream.drain()
            if checker is not None:
                self._refuse(checker.verdict(), q)
        finally:
            if checker is not None:
                checker.close()

    def digest(self) -> str:
        """The SHA-256 of the file as ``events`` reads it (a ZIP's: its XML's)."""
        with self._raw() as raw:
            return sha256_of(raw)

    def peek_header(self) -> Header | None:
        """The return's Header, read without its learners, when it reads plainly; ``None``
        when it does not (reading the whole return then says what is wrong)."""
        try:
            namespace = self._namespace()
            year = YEARS.get(namespace)
            if year is None or year.code != self.name.year_code:
                return None
            q = "{" + namespace + "}"
            with self._raw() as raw:
                for _, element in etree.iterparse(raw, events=("end",)):
                    if element.tag == q + "Header":
                        return self._header(element, q, year)
                    if element.tag == q + "Learner":
                        return None  # the Header comes first in a valid return
        except (RecordsError, etree.XMLSyntaxError, ValueError, TypeError, AttributeError):
            return None
        return None

    def _refuse(self, complaint: str | None, q: str) -> None:
        if complaint is not None:
            message = complaint.replace(q, "")
            raise RecordsError(f"{self.path.name}: not a valid ILR return: {message}")

    def _walk(self, parsed: etree.iterparse, q: str, year: Year) -> Iterator[Staged]:
        learner_tag, delivery_tag = q + "Learner", q + "LearningDelivery"
        provider_ukprn = None
        destinations = 0
        for _, element in parsed:
            tag = element.tag
            if tag == learner_tag:
                self.learners += 1
                yield from self._learner(element, q, delivery_tag)
            elif tag == q + "Header":
                self.header = self._header(element, q, year)
            elif tag == q + "LearningProvider":
                provider_ukprn = element.findtext(q + "UKPRN")
                if self.header is not None and provider_ukprn != self.header.ukprn:
                    raise RecordsError(
                        f"{self.path.name}: LearningProvider/UKPRN {provider_ukprn} is not "
                        f"Source/UKPRN {self.header.ukprn}"
                    )
            else:
                destinations += 1
            _clear(element)
        if self.header is None or provider_ukprn is None:
            raise RecordsError(f"{self.path.name}: not a valid ILR return: no Header")
        if not self.learners and not destinations:
            raise RecordsError(
                f"{self.path.name}: the return holds no Learner and no "
                "LearnerDestinationandProgression record"
            )

    def _header(self, element: etree._Element, q: str, year: Year) -> Header:
        source = element.find(q + "Source")
        ukprn = source.findtext(q + "UKPRN")
        serial = int(source.findtext(q + "SerialNo"))
        if ukprn != self.name.ukprn:
            raise RecordsError(
                f"{self.path.name}: the name says UKPRN {self.name.ukprn}, Source/UKPRN is {ukprn}"
            )
        if serial != self.name.serial:
            raise RecordsError(
                f"{self.path.name}: the name says serial {self.name.serial:02d}, "
                f"Source/SerialNo is {serial:02d}"
            )
        return Header(year, ukprn, serial)

    def _learner(self, learner: etree._Element, q: str, delivery_tag: str) -> Iterator[Staged]:
        """The events of one Learner. The schema has checked every value read here: codes
        are integers (written back without leading zeros or sign), the texts short enough."""
        header = self.header
        if header is None:
            raise RecordsError(
                f"{self.path.name}: not a valid ILR return: a Learner before the Header"
            )
        fields = _fields(q)
        ref = learner.findtext(q + "LearnRefNumber")
        uln = learner.findtext(q + "ULN").strip()
        for delivery in learner.iterchildren(delivery_tag):
            found = {}
            for child in delivery:
                name = fields.get(child.tag)
                if name is _STOP:
                    break
                if name is not None:
                    found[name] = child.text.strip() or None
            seq = int(found.pop("aim_seq"))
            self.deliveries += 1
            place = (
                f"Learner {self.learners} LearnRefNumber {ref} AimSeqNumber {seq} "
                f"(line {delivery.sourceline + self.line_shift})"
            )
            event_id = f"{ref.upper()}/{seq}"
            if found["subject_code"].upper() in WORK_PLACEMENT_AIMS:
                self.skipped += 1
                continue
            bad = [name for name in _DATES if name in found and not _is_date(found[name])]
            if bad:
                reason = f"{bad[0]}: not a YYYY-MM-DD date"
                yield rejected(self.deliveries, place, uln, event_id, reason)
                continue
            for name in _CODES:
                if name in found:
                    found[name] = str(int(found[name]))
            found["achievement_provider_ukprn"] = header.ukprn
            yield staged(self.deliveries, place, uln, event_id, found)


def _records(stream: BinaryIO, q: str, schema: etree.XMLSchema | None) -> etree.iterparse:
    """The return's top-level records (Header, LearningProvider, Learner, destinations) as
    each ends, checked against ``schema`` if given."""
    tags = ("Header", "LearningProvider", "Learner", "LearnerDestinationandProgression")
    return etree.iterparse(
        stream,
        events=("end",),
        tag=[q + tag for tag in tags],
        schema=schema,
        remove_comments=True,
        remove_pis=True,
    )


def check(path: str, namespace: str) -> str | None:
    """The schema's complaint about the return at ``path`` (None when it is valid). A file
    that is not well-formed is the reader's to report: None here too."""
    reader = IlrReturn(Path(path))
    q = "{" + namespace + "}"
    with reader._raw() as raw:
        try:
            _drain(_records(raw, q, _schema(YEARS[namespace])))
        except etree.XMLSyntaxError as error:
            return str(error.msg or error)
    return None


def _check_into(connection: Connection, path: str, namespace: str) -> None:
    try:
        connection.send(("done", check(path, namespace)))
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which refuses
        connection.send(("failed", f"{type(error).__name__}: {error}"))


class _Checker:
    """``check`` of one return in a second process (spawned: this one holds threads and a
    database connection), for its verdict once the reader is done."""

    def __init__(self, path: Path, namespace: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, theirs = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_check_into, args=(theirs, str(path), namespace), daemon=True
        )
        self._process.start()
        theirs.close()

    def verdict(self) -> str | None:
        try:
            outcome, complaint = self._connection.recv()
        except EOFError:
            return "the schema check stopped without a verdict"
        if outcome == "failed":
            return f"the schema check failed ({complaint})"
        return complaint

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._connection.close()


def _is_date(text: str) -> bool:
    """``YYYY-MM-DD`` and a real date (xs:date also allows a time zone and long years)."""
    if len(text) != 10:
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _clear(element: etree._Element) -> None:
    """Free a record once read, with what came before it, so memory stays bounded."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    while element.getprevious() is not None:
        del parent[0]


def _drain(parsed: etree.iterparse) -> None:
    """Parse the rest of the document, clearing as we go."""
    for _, element in parsed:
        _clear(element)


@lru_cache(maxsize=len(YEARS))
def _fields(q: str) -> dict[str, str]:
    """LearningDelivery children that become event fields, by qualified tag (``_STOP`` for
    those after the last one we read)."""
    fields = {q + local: name for local, name in _DELIVERY_FIELDS.items()}
    return fields | {q + local: _STOP for local in _AFTER_READ}
