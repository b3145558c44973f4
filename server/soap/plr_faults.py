"""The PLR service's faults: the same WSEC codes as the LearnerService (``faults.py`` maps
every domain refusal once), sent the PLR's way, as a ``DomainFault`` (ErrorCode, ErrorDetail)
in the faults namespace.

The one PLR-specific rule is the faultcode: ``s:Client`` for anything the caller can fix,
``s:Server`` for our own failures, as ``ErrorCode.faultcode`` says for both services.
"""

from __future__ import annotations

from lxml import etree

from miap.server.namespaces import PLR_FAULTS, SOAP_ENV, qname
from miap.server.soap.faults import ServiceFault


def domain_fault(fault: ServiceFault) -> etree._Element:
    """The ``DomainFault`` detail: the code, and what went wrong in words."""
    detail = etree.Element(qname(PLR_FAULTS, "DomainFault"), nsmap={None: PLR_FAULTS})
    etree.SubElement(detail, qname(PLR_FAULTS, "ErrorCode")).text = fault.error.code
    further = f": {fault.further_details}" if fault.further_details else ""
    etree.SubElement(detail, qname(PLR_FAULTS, "ErrorDetail")).text = (
        fault.error.description + further
    )
    return detail


def fault_envelope(fault: ServiceFault) -> bytes:
    envelope = etree.Element(qname(SOAP_ENV, "Envelope"), nsmap={"s": SOAP_ENV})
    body = etree.SubElement(envelope, qname(SOAP_ENV, "Body"))
    soap_fault = etree.SubElement(body, qname(SOAP_ENV, "Fault"))
    etree.SubElement(soap_fault, "faultcode").text = f"s:{fault.error.faultcode}"
    etree.SubElement(
        soap_fault, "faultstring"
    ).text = f"{fault.error.code}: {fault.error.description}"
    etree.SubElement(soap_fault, "detail").append(domain_fault(fault))
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
