"""LearningEvent elements, for the PLR service (model namespace, qualified) and getLearnerRecord
(learnerrec namespace, unqualified): one builder, the field order read from each schema."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from lxml import etree

from miap.server.namespaces import XSI, qname
from miap.server.records.reading import Event
from miap.server.soap import contract
from miap.server.soap.wire import append

#: Source on the wire for each source as loaded (awarding organisations' data is QCF units).
SOURCE_ON_WIRE = {"ILR": "ILR", "NPD": "NPD", "AO": "QCFU"}
#: The fields a BRIEF answer carries (getType BRIEF); FULL carries them all.
BRIEF = frozenset(
    {
        "ID",
        "Source",
        "Subject",
        "SubjectCode",
        "QualificationType",
        "Level",
        "Grade",
        "AchievementAwardDate",
    }
)
#: Wire fields whose ``Event`` attribute is not the snake case of the name.
_ATTRIBUTES = {"ID": "id", "DateLoaded": "loaded_at"}
_NILLABLE = frozenset({"Level"})
_NIL_TRUE = {qname(XSI, "nil"): "true"}
_XSI_MAP = {"i": XSI}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _attribute(wire: str) -> str:
    return _ATTRIBUTES.get(wire) or _CAMEL.sub("_", wire).lower()


class _Field(NamedTuple):
    tag: str
    attribute: str
    xsd_type: str | None
    nillable: bool


@functools.cache
def _plan(namespace: str, qualified: bool, brief: bool) -> tuple[str, tuple[_Field, ...]]:
    """The LearningEvent tag and its fields as ``namespace``'s schema orders them, worked out
    once per form rather than once per event."""

    def name(local: str) -> str:
        return qname(namespace, local) if qualified else local

    fields = tuple(
        _Field(name(child.name), _attribute(child.name), child.type, child.name in _NILLABLE)
        for child in contract.sequence(namespace, "LearningEvent")
        if not brief or child.name in BRIEF
    )
    return name("LearningEvent"), fields


def event_element(
    parent: etree._Element, event: Event, namespace: str, qualified: bool, brief: bool = False
) -> etree._Element:
    """Append a LearningEvent of ``namespace``'s schema to ``parent``; children qualified in
    that namespace when ``qualified`` (the PLR's data contracts), else unqualified. Absent
    values are left out, except nillable ones (Level), sent nil."""
    tag, fields = _plan(namespace, qualified, brief)
    element = etree.SubElement(parent, tag)
    for field in fields:
        if field.attribute == "source":
            value = SOURCE_ON_WIRE.get(event.source, event.source)
        else:
            value = getattr(event, field.attribute)
        if value is None:
            if field.nillable:
                etree.SubElement(element, field.tag, _NIL_TRUE, nsmap=_XSI_MAP)
        else:
            append(element, field.tag, value, field.xsd_type)
    return element
