"""SIF_Message envelopes: reading an inbound message's header, building the zone's own
messages (acks, events, responses) and serialising them, each held to ``xsd/sif/``."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from lxml import etree

from miap.server.sif.codes import Problem, SifRefusal, Status
from miap.server.sif.schema import NS, errors, q

#: The SourceId the zone signs its own messages with.
ZIS_SOURCE_ID = "miap-zis"
#: The longest SIF_Desc the schema allows.
DESC_LIMIT = 1024


def new_guid() -> str:
    """A SIF GUID: 32 upper-case hex characters."""
    return uuid.uuid4().hex.upper()


def timestamp() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Inbound:
    """A schema-valid message as received."""

    root: etree._Element
    version: str
    kind: str  # SIF_Register, SIF_Event, …
    body: etree._Element
    msg_id: str
    source_id: str


def read(root: etree._Element) -> Inbound:
    """An inbound document's header; a document that is not a valid SIF_Message is refused
    with the category 1 code that says why."""
    if root.tag != q("SIF_Message"):
        raise SifRefusal(
            Problem.INVALID, f"the root element must be SIF_Message in {NS}, not {root.tag}"
        )
    problems = errors(root)
    if problems:
        missing = any("Missing child element" in p or "is not allowed" in p for p in problems)
        value = any(
            "is not a valid value" in p
            or "not accepted by the pattern" in p
            or "is not an element of the set" in p
            for p in problems
        )
        problem = (
            Problem.INVALID_VALUE
            if value
            else Problem.MISSING_MANDATORY
            if missing
            else Problem.INVALID
        )
        raise SifRefusal(problem, "; ".join(problems)[:DESC_LIMIT])
    body = root[0]
    header = body.find(q("SIF_Header"))
    return Inbound(
        root=root,
        version=root.get("Version"),
        kind=etree.QName(body).localname,
        body=body,
        msg_id=header.findtext(q("SIF_MsgId")),
        source_id=header.findtext(q("SIF_SourceId")),
    )


def header_ids(root: etree._Element) -> tuple[str | None, str | None]:
    """(SourceId, MsgId) of a document that may not be valid, for acking a refused message."""
    msg_id = root.findtext(f"./*/{q('SIF_Header')}/{q('SIF_MsgId')}")
    source = root.findtext(f"./*/{q('SIF_Header')}/{q('SIF_SourceId')}")
    return source, msg_id


def child(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, q(name))
    if text is not None:
        element.text = text
    return element


def envelope(
    kind: str, version: str, source_id: str = ZIS_SOURCE_ID, msg_id: str | None = None
) -> tuple[etree._Element, etree._Element]:
    """A new SIF_Message holding an empty ``kind`` with its header: (root, body)."""
    root = etree.Element(q("SIF_Message"), nsmap={None: NS})
    root.set("Version", version)
    body = child(root, kind)
    header = child(body, "SIF_Header")
    child(header, "SIF_MsgId", msg_id or new_guid())
    child(header, "SIF_Timestamp", timestamp())
    child(header, "SIF_SourceId", source_id)
    return root, body


def add_error(parent: etree._Element, problem: Problem, description: str) -> None:
    error = child(parent, "SIF_Error")
    child(error, "SIF_Category", str(problem.category))
    child(error, "SIF_Code", str(problem.code))
    child(error, "SIF_Desc", (description or problem.name)[:DESC_LIMIT])


def ack(
    version: str,
    original_source: str,
    original_msg_id: str,
    *,
    status: Status | None = None,
    description: str | None = None,
    data: list[etree._Element] | None = None,
    error: tuple[Problem, str] | None = None,
    source_id: str = ZIS_SOURCE_ID,
) -> etree._Element:
    """A SIF_Ack carrying SIF_Status (code, description, data) or SIF_Error."""
    root, body = envelope("SIF_Ack", version, source_id)
    child(body, "SIF_OriginalSourceId", original_source)
    child(body, "SIF_OriginalMsgId", original_msg_id)
    if error is not None:
        add_error(body, *error)
    else:
        holder = child(body, "SIF_Status")
        child(holder, "SIF_Code", str(int(status if status is not None else Status.SUCCESS)))
        if description:
            child(holder, "SIF_Desc", description)
        if data is not None:
            data_element = child(holder, "SIF_Data")
            for item in data:
                data_element.append(item)
    return root


def serialise(root: etree._Element) -> bytes:
    """The document's bytes, after checking it against our schemas: the zone never sends a
    message that breaks its own contract."""
    problems = errors(root)
    if problems:
        raise RuntimeError("outbound SIF message breaks the schema: " + "; ".join(problems))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def with_version(body: bytes, version: str) -> etree._Element:
    """A stored message re-addressed to a receiver who speaks ``version`` (all UK 2.x
    versions share the namespace, so only the attribute changes)."""
    root = etree.fromstring(body)
    root.set("Version", version)
    return root
