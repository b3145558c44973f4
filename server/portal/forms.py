"""Portal forms checked against the published schemas, field by field.

A field typed into the portal obeys the same simple type as the same field of a SOAP message:
each field's type and whether it is required are read from ``xsd/`` (the complex type the
LearnerService's request carries), and each value is validated against that type by the same
schemas, so the portal and the SOAP route accept exactly the same values. Errors are kept by
field, for the page to show beside each one and in its error summary.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from lxml import etree

from miap.server.namespaces import FINDMSG, LEARNER, SCHEMA_FILES
from miap.server.register.fields import LEARNER_COLUMNS
from miap.server.xmlschemas import per_thread

_XSD = "http://www.w3.org/2001/XMLSchema"
_DATE_TYPES = frozenset({"DateType", "OptionalDateType"})

#: What each field is called on a page (the wire name otherwise).
LABELS = {
    "ULN": "ULN",
    "Title": "Title",
    "GivenName": "Given name",
    "MiddleOtherName": "Middle or other names",
    "FamilyName": "Family name",
    "PreferredGivenName": "Preferred given name",
    "PreviousFamilyName": "Previous family name",
    "FamilyNameAtAge16": "Family name at age 16",
    "SchoolAtAge16": "School at age 16",
    "LastKnownAddressLine1": "Address line 1",
    "LastKnownAddressLine2": "Address line 2",
    "LastKnownAddressTown": "Town",
    "LastKnownAddressCountyOrCity": "County or city",
    "LastKnownPostCode": "Postcode",
    "DateOfAddressCapture": "Date the address was given",
    "DateOfBirth": "Date of birth",
    "PlaceOfBirth": "Place of birth",
    "Gender": "Gender",
    "EmailAddress": "Email address",
    "Nationality": "Nationality",
    "ScottishCandidateNumber": "Scottish candidate number",
    "VerificationType": "Verification type",
    "OtherVerificationDescription": "Other verification description",
    "AbilityToShare": "Ability to share",
    "Notes": "Notes",
}
#: Choices offered for coded fields (value, text).
CHOICES = {
    "Gender": (("1", "Male"), ("2", "Female"), ("0", "Not known"), ("9", "Not specified")),
    "AbilityToShare": (
        ("0", "Privacy notice not seen"),
        ("1", "Seen: the learner agrees to share"),
        ("2", "Seen: the learner does not agree"),
    ),
    "VerificationType": (
        ("0", "0 - none"),
        *((str(code), str(code)) for code in range(1, 8)),
        ("999", "999 - other (describe it)"),
    ),
}
HINTS = {
    "DateOfBirth": "For example, 2008-03-27 (year-month-day)",
    "DateOfAddressCapture": "For example, 2024-09-01 (year-month-day)",
    "LastKnownPostCode": "ZZ99 9ZZ when it is not known",
    "ULN": "10 digits",
}
#: The find page's fields: FindLearnerByDemographics's searched fields.
FIND_FIELDS = ("GivenName", "FamilyName", "DateOfBirth", "Gender", "LastKnownPostCode")
FIND_OPTIONAL = ("PreviousFamilyName",)


@dataclass(frozen=True)
class Field:
    name: str
    type_namespace: str
    type_name: str
    required: bool

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)

    @property
    def is_date(self) -> bool:
        return self.type_name in _DATE_TYPES


@functools.cache
def _root(namespace: str) -> etree._Element:
    return etree.parse(str(files("miap.xsd") / f"{SCHEMA_FILES[namespace]}.xsd")).getroot()


@functools.cache
def fields_of(namespace: str, name: str) -> tuple[Field, ...]:
    """The fields of complex type (or global element) ``name``, in schema order."""
    root = _root(namespace)
    found = root.find(f"{{{_XSD}}}complexType[@name='{name}']")
    if found is None:
        found = root.find(f"{{{_XSD}}}element[@name='{name}']/{{{_XSD}}}complexType")
    extension = found.find(f"{{{_XSD}}}complexContent/{{{_XSD}}}extension")
    result: list[Field] = []
    if extension is not None:
        prefix, _, local = extension.get("base").rpartition(":")
        result += fields_of(extension.nsmap[prefix or None], local)
        found = extension
    for element in found.iterfind(f"{{{_XSD}}}sequence/{{{_XSD}}}element"):
        prefix, _, local = element.get("type").rpartition(":")
        namespace_of_type = element.nsmap.get(prefix or None, _XSD)
        required = element.get("minOccurs", "1") != "0"
        result.append(Field(element.get("name"), namespace_of_type, local, required))
    return tuple(result)


def register_fields() -> tuple[Field, ...]:
    return fields_of(LEARNER, "LearnerToRegister")


def update_fields() -> tuple[Field, ...]:
    """An update's details: LearnerToUpdate less its ULN and VersionNumber (in the URL and a
    hidden field)."""
    return tuple(
        f for f in fields_of(LEARNER, "LearnerToUpdate") if f.name not in ("ULN", "VersionNumber")
    )


def uln_field() -> Field:
    """The ULN, typed as LearnerToUpdate types it."""
    return next(f for f in fields_of(LEARNER, "LearnerToUpdate") if f.name == "ULN")


def find_fields() -> tuple[Field, ...]:
    wanted = FIND_FIELDS + FIND_OPTIONAL
    found = {f.name: f for f in fields_of(FINDMSG, "FindLearnerByDemographics")}
    return tuple(found[name] for name in wanted)


def _type_schema() -> etree.XMLSchema:
    """Every schema, plus one global element per simple type a form uses (``T_<type>``)."""
    return per_thread("portal-types", _compile_type_schema)


def _compile_type_schema() -> etree.XMLSchema:
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{(files("miap.xsd") / f"{name}.xsd")}"/>'
        for ns, name in SCHEMA_FILES.items()
        if ns in (LEARNER,)
    )
    types = {"OptionalGenderType", "OptionalDateType"} | {
        f.type_name
        for fields in (register_fields(), update_fields(), find_fields(), (uln_field(),))
        for f in fields
        if f.type_namespace == LEARNER
    }
    elements = "".join(f'<xs:element name="T_{t}" type="l:{t}"/>' for t in sorted(types))
    document = f'<xs:schema xmlns:xs="{_XSD}" xmlns:l="{LEARNER}">{imports}{elements}</xs:schema>'
    return etree.XMLSchema(etree.fromstring(document))


def _check(value: str, spec: Field) -> str | None:
    if spec.type_namespace != LEARNER:
        return None
    element = etree.Element(f"T_{spec.type_name}")
    try:
        element.text = value
    except ValueError:
        return f"{spec.label} holds a character that cannot be stored"
    schema = _type_schema()
    if schema.validate(element):
        return None
    return f"{spec.label} is not in the right form ({_reason(schema.error_log.last_error.message)})"


def _reason(message: str) -> str:
    """The schema's rule, without the value quoted back (it is on the page already)."""
    for marker in ("[facet '", "is not a valid value of"):
        if marker in message:
            facet = message.split("[facet '", 1)[-1].split("'", 1)[0]
            return {
                "pattern": "it does not match the allowed pattern",
                "maxLength": "it is too long",
                "minLength": "it is too short",
                "enumeration": "it is not one of the allowed values",
            }.get(facet, "it breaks the rule for this field")
    return "it breaks the rule for this field"


@dataclass
class Submitted:
    """A form as typed (``values``) and what is wrong with it, by field."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def read(form: Any, specs: tuple[Field, ...]) -> Submitted:  # noqa: ANN401 - a werkzeug form
    """Each field's value (trimmed) checked against its type; an empty field is absent."""
    submitted = Submitted({spec.name: (form.get(spec.name) or "").strip() for spec in specs})
    for spec in specs:
        value = submitted.values[spec.name]
        if not value:
            if spec.required:
                submitted.errors[spec.name] = f"Enter the {spec.label.lower()}"
            continue
        error = _check(value, spec)
        if error is None and spec.is_date:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                error = f"{spec.label} must be a real date, as year-month-day"
        if error:
            submitted.errors[spec.name] = error
    return submitted


def details(submitted: Submitted, specs: tuple[Field, ...]) -> dict[str, Any]:
    """The domain's column values of a valid form (dates as dates, empty fields None)."""
    result: dict[str, Any] = {}
    for spec in specs:
        value = submitted.values.get(spec.name) or None
        if value is not None and spec.is_date:
            value = dt.date.fromisoformat(value)
        result[LEARNER_COLUMNS[spec.name]] = value
    return result


def field_of_message(message: str, specs: tuple[Field, ...]) -> str | None:
    """Which field a domain refusal's message is about (it starts with the field's name)."""
    for spec in specs:
        if message.startswith(spec.name):
            return spec.name
    return None
