"""Batch files: ``LRB_<UKPRN>_<DDMMYYYYHHMM>.CSV`` or ``.XML``, 50 to 5,000 learners.

* CSV: UTF-8 (a byte-order mark is tolerated), a header row of BatchLearner field names in any
  order (an unknown column refuses the file), one learner a row; empty cells are absent.
* XML: ``xsd/lrb.xsd``: a ``LearnerBatch`` (namespace :data:`LRB_NS`) of ``Learner`` elements
  holding BatchLearner fields.

A malformed row (a field that breaks its BatchLearner type, a date not on the calendar, a
wrong number of cells) is rejected on its own with its line number and the reason; the other
rows go ahead. The output (:func:`write_output`) is the input, row for row in input order,
with ``ULN``, ``ReturnCode`` and ``ReturnReason`` added. Both ``miap-client batch submit`` and
the server's ``miap batch import`` read and write files through this module.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from lxml import etree

LRB_NS = "urn:miap:lrb:1"
BATCHMSG_NS = "http://api.lrs.miap.gov.uk/batchmsg"
_XSD = "http://www.w3.org/2001/XMLSchema"
FILE_NAME = re.compile(r"LRB_(?P<ukprn>[0-9]{8})_(?P<stamp>[0-9]{12})\.(?P<kind>CSV|XML)")
MIN_LEARNERS, MAX_LEARNERS = 50, 5000
#: Columns the output adds after the input's own (ULN is filled in place when the input has it).
OUTPUT_COLUMNS = ("ULN", "ReturnCode", "ReturnReason")
#: The code of a row rejected before it was sent (badly formed).
MALFORMED = "WSEC0001"
_DATES = ("DateOfBirth", "DateOfAddressCapture")


class BatchFileError(Exception):
    """The whole file is refused (its name, its header, its size or its structure)."""


@dataclass
class Row:
    #: Line of the file the learner starts on (1 is the CSV header).
    line: int
    #: Every field as the file gives it (for the output), in the file's column order.
    values: dict[str, str]
    #: Non-empty BatchLearner fields to send, or None when the row is malformed.
    learner: dict[str, str] | None = None
    error: str | None = None


@dataclass
class BatchFile:
    path: Path
    ukprn: str
    kind: str  # "CSV" or "XML"
    columns: list[str]
    rows: list[Row] = field(default_factory=list)

    @property
    def sendable(self) -> list[Row]:
        return [row for row in self.rows if row.learner is not None]


@functools.cache
def batch_fields() -> tuple[str, ...]:
    """BatchLearner's fields in schema order, read from the published ``batchmsg.xsd``."""
    root = etree.parse(str(files("miap.xsd") / "batchmsg.xsd")).getroot()
    sequence = root.find(f"{{{_XSD}}}complexType[@name='BatchLearner']/{{{_XSD}}}sequence")
    return tuple(element.get("name") for element in sequence.iterfind(f"{{{_XSD}}}element"))


@functools.cache
def _learner_schema() -> etree.XMLSchema:
    location = (Path(str(files("miap.xsd"))) / "batchmsg.xsd").as_uri()
    return etree.XMLSchema(
        etree.fromstring(
            f'<xs:schema xmlns:xs="{_XSD}" xmlns:b="{BATCHMSG_NS}">'
            f'<xs:import namespace="{BATCHMSG_NS}" schemaLocation="{location}"/>'
            '<xs:element name="Learner" type="b:BatchLearner"/></xs:schema>'
        )
    )


#: Characters XML 1.0 cannot carry: no SOAP message or XML output could hold the learner.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def check_learner(learner: dict[str, str]) -> str | None:
    """Why ``learner`` (BatchLearner fields) is malformed, or None if it is not."""
    element = etree.Element("Learner")
    for name in batch_fields():
        if learner.get(name) is not None:
            if _NOT_XML.search(learner[name]):
                return f"{name} holds a control character, which XML cannot carry"
            etree.SubElement(element, name).text = learner[name]
    schema = _learner_schema()
    if not schema.validate(element):
        return schema.error_log.last_error.message
    for name in _DATES:
        if learner.get(name):
            try:
                dt.date.fromisoformat(learner[name])
            except ValueError:
                return f"{name} {learner[name]} is not a calendar date"
    return None


def parse_name(path: Path) -> tuple[str, str]:
    """The UKPRN and kind (CSV or XML) a batch file's name gives."""
    match = FILE_NAME.fullmatch(path.name)
    if match is None:
        raise BatchFileError(
            f"{path.name}: a batch file is named LRB_<UKPRN>_<DDMMYYYYHHMM>.CSV or .XML"
        )
    try:
        dt.datetime.strptime(match["stamp"], "%d%m%Y%H%M")
    except ValueError:
        raise BatchFileError(f"{path.name}: {match['stamp']} is not a DDMMYYYYHHMM time") from None
    return match["ukprn"], match["kind"]


def read(path: Path | str) -> BatchFile:
    """Read and check a batch file; malformed rows are marked, not fatal."""
    path = Path(path)
    ukprn, kind = parse_name(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BatchFileError(f"{path}: {exc.strerror}") from None
    batch = _read_csv(path, ukprn, data) if kind == "CSV" else _read_xml(path, ukprn, data)
    if not MIN_LEARNERS <= len(batch.rows) <= MAX_LEARNERS:
        raise BatchFileError(
            f"{path.name}: {len(batch.rows)} learners; a batch file holds "
            f"{MIN_LEARNERS} to {MAX_LEARNERS:,}"
        )
    return batch


def _row(line: int, values: dict[str, str], error: str | None = None) -> Row:
    learner = {name: value.strip() for name, value in values.items() if value.strip()}
    error = error or check_learner(learner)
    return Row(line, values, None if error else learner, error)


def _read_csv(path: Path, ukprn: str, data: bytes) -> BatchFile:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchFileError(f"{path.name}: not UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise BatchFileError(f"{path.name}: empty file") from None
    known = set(batch_fields())
    unknown = [name for name in header if name not in known]
    if unknown:
        raise BatchFileError(
            f"{path.name}: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"the columns are BatchLearner's fields: {', '.join(batch_fields())}"
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise BatchFileError(f"{path.name}: column(s) {', '.join(repeated)} given twice")
    missing = [name for name in ("GivenName", "FamilyName") if name not in header]
    if missing:
        raise BatchFileError(f"{path.name}: no {' or '.join(missing)} column")
    batch = BatchFile(path, ukprn, "CSV", header)
    line = reader.line_num + 1
    for cells in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(cells) != len(header):
            values = dict(zip(header, cells + [""] * len(header), strict=False))
            error = f"{len(cells)} cells where the header has {len(header)}"
            batch.rows.append(_row(start, values, error))
            continue
        batch.rows.append(_row(start, dict(zip(header, cells, strict=True))))
    return batch


def _read_xml(path: Path, ukprn: str, data: bytes) -> BatchFile:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise BatchFileError(f"{path.name}: not well-formed XML ({exc})") from None
    if root.getroottree().docinfo.doctype:
        raise BatchFileError(f"{path.name}: a DOCTYPE is not accepted")
    if root.tag != f"{{{LRB_NS}}}LearnerBatch":
        raise BatchFileError(f"{path.name}: the root element is not {{{LRB_NS}}}LearnerBatch")
    batch = BatchFile(path, ukprn, "XML", list(batch_fields()))
    known = set(batch_fields())
    for element in root:
        if not isinstance(element.tag, str):
            continue
        if element.tag != "Learner":
            raise BatchFileError(
                f"{path.name} line {element.sourceline}: {element.tag} is not a Learner"
            )
        values: dict[str, str] = {}
        error = None
        for child in element:
            if not isinstance(child.tag, str):
                continue
            name = child.tag
            if name not in known:
                error = error or f"{name} is not a BatchLearner field"
                continue
            if len(child):
                error = error or f"{name} holds elements, not text"
            values[name] = child.text or ""
        if error is None:
            order = [
                etree.QName(child).localname for child in element if isinstance(child.tag, str)
            ]
            expected = [name for name in batch_fields() if name in values]
            if order != expected:
                error = f"fields out of order: BatchLearner's order is {', '.join(expected)}"
        batch.rows.append(_row(element.sourceline, values, error))
    return batch


# -- the output -------------------------------------------------------------------------------


@dataclass
class Answer:
    uln: str | None
    code: str
    reason: str | None = None


def default_output(path: Path | str) -> Path:
    """``LRB_…_….CSV`` → ``LRB_…_….out.csv`` (and ``.XML`` → ``.out.xml``)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.out.{path.suffix.lstrip('.').lower()}")


def answers_for(batch: BatchFile, sent: Sequence[Answer]) -> list[Answer]:
    """One answer per row in input order: ``sent`` (one per sendable row, in order) placed
    among the rejections of malformed rows."""
    answers = iter(sent)
    return [
        next(answers) if row.learner is not None else Answer(None, MALFORMED, row.error)
        for row in batch.rows
    ]


def write_output(batch: BatchFile, answers: Sequence[Answer], out: Path | str) -> Path:
    """Write the output file: the input's rows in order, each with its answer."""
    out = Path(out)
    if batch.kind == "CSV":
        columns = list(batch.columns) + [
            name for name in OUTPUT_COLUMNS if name not in batch.columns
        ]
        with out.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(columns)
            for row, answer in zip(batch.rows, answers, strict=True):
                values = dict(row.values)
                values["ULN"] = answer.uln or values.get("ULN") or ""
                values["ReturnCode"] = answer.code
                values["ReturnReason"] = answer.reason or ""
                writer.writerow([values.get(name, "") for name in columns])
        return out
    root = etree.Element(f"{{{LRB_NS}}}LearnerBatchOutput", nsmap={"lrb": LRB_NS})
    for row, answer in zip(batch.rows, answers, strict=True):
        learner = etree.SubElement(root, "Learner", line=str(row.line))
        values = dict(row.values)
        if answer.uln:
            values["ULN"] = answer.uln
        for name in batch_fields():
            if values.get(name):
                etree.SubElement(learner, name).text = values[name]
        etree.SubElement(learner, "ReturnCode").text = answer.code
        if answer.reason:
            etree.SubElement(learner, "ReturnReason").text = answer.reason
    etree.ElementTree(root).write(
        str(out), xml_declaration=True, encoding="utf-8", pretty_print=True
    )
    return out
