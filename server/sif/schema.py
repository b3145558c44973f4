"""The SIF UK infrastructure namespace, the versions we speak, and our published schemas.

Every message in or out is held to ``xsd/sif/SIF_Message.xsd`` (which includes the data objects
of ``SIF_Data_UK.xsd``); element order of the objects we build is read from the same files.
"""

from __future__ import annotations

import threading
from importlib.resources import files
from pathlib import Path

from lxml import etree

from miap.server.xmlschemas import per_thread

NS = "http://www.sifinfo.org/uk/infrastructure/2.x"
XS = "http://www.w3.org/2001/XMLSchema"
#: SIF_Message Version values of SIF UK 1.0, 1.1, 1.2 and 1.3, oldest first.
VERSIONS = ("2.0r1", "2.1", "2.3", "2.4")
CONTENT_TYPE = 'application/xml;charset="utf-8"'

SCHEMA_DIR = Path(str(files("miap.xsd"))) / "sif"
MESSAGE_SCHEMA = SCHEMA_DIR / "SIF_Message.xsd"
DATA_SCHEMA = SCHEMA_DIR / "SIF_Data_UK.xsd"

_local = threading.local()


def q(local: str) -> str:
    """``{ns}local`` in the SIF UK namespace."""
    return f"{{{NS}}}{local}"


def _schema() -> etree.XMLSchema:
    # lxml schema objects are not safe to share between threads.
    return per_thread("sif", lambda: etree.XMLSchema(etree.parse(str(MESSAGE_SCHEMA))))


def errors(message: etree._Element) -> list[str]:
    """Why ``message`` breaks the schema (empty when it is valid)."""
    schema = _schema()
    if schema.validate(message):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            huge_tree=False,
            collect_ids=False,
            remove_blank_text=True,
        )
    return parser


class NotWellFormed(ValueError):
    """The body is not an XML document we accept (malformed, or carrying a DTD)."""


def parse(body: bytes) -> etree._Element:
    """A message document, refusing DTDs and entity declarations before libxml2 reads them."""
    if not body.strip():
        raise NotWellFormed("the message is empty")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise NotWellFormed("DTDs and entity declarations are not accepted")
    try:
        return etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as error:
        raise NotWellFormed(str(error.msg)) from None


def sequence(type_name: str) -> tuple[str, ...]:
    """The child element names, in order, of a named complex type or global element of the
    data schema (``LearnerPersonal``, ``PersonalInformationType``, ``NameType`` …)."""
    return _SEQUENCES[type_name]


def _read_sequences() -> dict[str, tuple[str, ...]]:
    root = etree.parse(str(DATA_SCHEMA)).getroot()
    found: dict[str, tuple[str, ...]] = {}
    for node in root:
        if node.tag == f"{{{XS}}}complexType":
            holder = node
        elif node.tag == f"{{{XS}}}element":
            holder = node.find(f"{{{XS}}}complexType")
            if holder is None:
                continue
        else:
            continue
        seq = holder.find(f"{{{XS}}}sequence")
        if seq is not None:
            found[node.get("name")] = tuple(
                child.get("name") for child in seq.iterfind(f"{{{XS}}}element")
            )
    return found


_SEQUENCES = _read_sequences()
