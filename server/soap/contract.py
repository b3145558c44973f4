"""The published contract: WSDL and XSDs, validation against them, and serving them.

The files in ``wsdl/`` and ``xsd/`` are the contract; nothing here generates it. Served copies
have their ``schemaLocation`` and ``soap:address`` rewritten to this server's own URLs.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from pathlib import Path
from typing import NamedTuple

from lxml import etree

from miap.server.namespaces import SCHEMA_FILES, XSD
from miap.server.soap import faults
from miap.server.soap.faults import ServiceFault
from miap.server.xmlschemas import per_thread

XSD_DIR = Path(str(files("miap.xsd")))
WSDL_DIR = Path(str(files("miap.wsdl")))
WSDL_PATH = WSDL_DIR / "LearnerService.wsdl"
SCHEMA_NAMES = frozenset(SCHEMA_FILES.values())

_WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"


def _compile_schema() -> etree.XMLSchema:
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{(XSD_DIR / f"{name}.xsd").as_uri()}"/>'
        for ns, name in SCHEMA_FILES.items()
    )
    return etree.XMLSchema(etree.fromstring(f'<xs:schema xmlns:xs="{XSD}">{imports}</xs:schema>'))


def message_schema() -> etree.XMLSchema:
    """All message schemas in one validator, one per thread (its error log is per object)."""
    return per_thread("learner-service", _compile_schema)


def validate(element: etree._Element) -> None:
    """Raise WSEC0001, naming the rule that failed, unless ``element`` obeys the schemas."""
    schema = message_schema()
    if not schema.validate(element):
        error = schema.error_log.last_error
        raise ServiceFault(faults.BADLY_FORMED, f"line {error.line}: {error.message}")


class Child(NamedTuple):
    """One element of a schema sequence: its name and the local name of its type."""

    name: str
    type: str | None


@functools.cache
def _schema_root(namespace: str) -> etree._Element:
    return etree.parse(str(XSD_DIR / f"{SCHEMA_FILES[namespace]}.xsd")).getroot()


@functools.cache
def sequence(namespace: str, name: str) -> tuple[Child, ...]:
    """The children, in order, of the complex type ``name`` of ``namespace``'s schema (or of
    the global element ``name``'s anonymous type); an extension's base children come first.

    Field orders are read from here, so the schemas are the one place they are written.
    """
    root = _schema_root(namespace)
    found = root.find(f"{{{XSD}}}complexType[@name='{name}']")
    if found is None:
        found = root.find(f"{{{XSD}}}element[@name='{name}']/{{{XSD}}}complexType")
    if found is None:
        raise KeyError(f"no complex type {name} in {namespace}")
    children: list[Child] = []
    extension = found.find(f"{{{XSD}}}complexContent/{{{XSD}}}extension")
    if extension is not None:
        base_namespace, base_name = _resolve(extension, extension.get("base"))
        children += sequence(base_namespace, base_name)
        found = extension
    for element in found.iterfind(f"{{{XSD}}}sequence/{{{XSD}}}element"):
        type_name = element.get("type")
        children.append(Child(element.get("name"), type_name and _resolve(element, type_name)[1]))
    return tuple(children)


def _resolve(element: etree._Element, prefixed: str) -> tuple[str, str]:
    prefix, _, local = prefixed.rpartition(":")
    return element.nsmap[prefix or None], local


@functools.lru_cache(maxsize=32)
def served_document(name: str, service_url: str, wsdl: Path = WSDL_PATH) -> bytes | None:
    """The service's WSDL (``name == "wsdl"``: ``wsdl``, the LearnerService's unless given) or
    one XSD as served from ``service_url``; None if unknown."""
    if name == "wsdl":
        path = wsdl
    elif name in SCHEMA_NAMES:
        path = XSD_DIR / f"{name}.xsd"
    else:
        return None
    tree = etree.parse(str(path))
    for element in tree.iter():
        location = element.get("schemaLocation")
        if location:
            element.set("schemaLocation", f"{service_url}?xsd={Path(location).stem}")
    for address in tree.iter(f"{{{_WSDL_SOAP}}}address"):
        address.set("location", service_url)
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8")
