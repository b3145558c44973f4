"""Hardened XML parsing: no DTDs, no entities, no network, bounded size and depth."""

from __future__ import annotations

import threading

from lxml import etree

from miap.server.soap import faults
from miap.server.soap.faults import ServiceFault

_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers must not be shared between threads.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            load_dtd=False,
            dtd_validation=False,
            no_network=True,
            huge_tree=False,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def parse(body: bytes) -> etree._Element:
    """Parse a request document, refusing anything carrying a DTD or entity declarations."""
    if not body.strip():
        raise ServiceFault(faults.EMPTY_REQUEST)
    # Refuse before libxml2 sees the internal subset at all.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ServiceFault(faults.DTD_FORBIDDEN)
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise ServiceFault(faults.NOT_WELL_FORMED, str(exc.msg)) from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise ServiceFault(faults.DTD_FORBIDDEN)
    return root
