"""Reading request elements and writing response elements, for every SOAP service.

Names and order come from the caller (and so from the schemas, ``contract.sequence``); this
module only knows the wire's rules: unqualified children, empty or nil means absent, dates as
``YYYY-MM-DD`` unless the schema says date-time, domain outcomes as their codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from lxml import etree

from miap.server.outcomes import Outcome
from miap.server.soap import contract
from miap.server.soap.faults import code_of


def fields(element: etree._Element) -> dict[str, str | None]:
    """Child element texts by local name; empty elements are absent (real clients send them)."""
    values: dict[str, str | None] = {}
    for child in element:
        if isinstance(child.tag, str):
            text = (child.text or "").strip()
            values[etree.QName(child).localname] = text or None
    return values


def _text(value: Any, xsd_type: str | None) -> str | None:  # noqa: ANN401
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if xsd_type == "DateTimeType":
            return value.strftime("%Y-%m-%d %H:%M:%S")
        # Every other stamp (CreatedDate, MergedDate, DeletedDate, …) is a date on the wire.
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Outcome):
        return code_of(value)
    return str(value)


def append(
    parent: etree._Element,
    name: str,
    value: Any,
    xsd_type: str | None = None,  # noqa: ANN401
) -> None:
    """Append ``<name>value</name>`` (unqualified) unless the value is absent."""
    text = _text(value, xsd_type)
    if text is not None:
        etree.SubElement(parent, name).text = text


def fill(
    element: etree._Element, namespace: str, type_name: str, values: Mapping[str, Any]
) -> etree._Element:
    """Append ``values`` to ``element`` in the order (and with the date or date-time form) that
    ``type_name`` of ``namespace``'s schema gives them; absent values are left out."""
    for child in contract.sequence(namespace, type_name):
        append(element, child.name, values.get(child.name), child.type)
    return element
