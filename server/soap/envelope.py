"""SOAP 1.1 envelopes: unwrap a request body, wrap a response or a fault."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from miap.server.namespaces import EXCEPTIONS, SOAP12_ENV, SOAP_ENV, qname
from miap.server.soap import faults
from miap.server.soap.faults import ServiceFault

_ENVELOPE = qname(SOAP_ENV, "Envelope")
_HEADER = qname(SOAP_ENV, "Header")
_BODY = qname(SOAP_ENV, "Body")
_MUST_UNDERSTAND = qname(SOAP_ENV, "mustUnderstand")
_NSMAP = {"soapenv": SOAP_ENV}


def body_payload(envelope: etree._Element) -> etree._Element:
    """The single element inside ``soapenv:Body``; faults when the envelope is unusable."""
    if envelope.tag != _ENVELOPE:
        if envelope.tag == qname(SOAP12_ENV, "Envelope"):
            raise ServiceFault(faults.NOT_SOAP11, "SOAP 1.2 envelopes are not supported")
        if etree.QName(envelope).localname == "Envelope":
            raise ServiceFault(faults.NOT_SOAP11, f"Envelope namespace {envelope.tag}")
        raise ServiceFault(faults.BAD_ENVELOPE, f"Root element is {envelope.tag}, not {_ENVELOPE}")
    header = None
    body = None
    for child in envelope:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        if child.tag == _HEADER and header is None and body is None:
            header = child
        elif child.tag == _BODY and body is None:
            body = child
        else:
            raise ServiceFault(faults.BAD_ENVELOPE, f"Unexpected element {child.tag}")
    if body is None:
        raise ServiceFault(faults.BAD_ENVELOPE, "The envelope has no Body")
    if header is not None:
        for block in header:
            if isinstance(block.tag, str) and block.get(_MUST_UNDERSTAND) in ("1", "true"):
                raise ServiceFault(faults.NOT_UNDERSTOOD, f"Header {block.tag}")
    payload = [child for child in body if isinstance(child.tag, str)]
    if len(payload) != 1:
        raise ServiceFault(faults.BAD_ENVELOPE, "The Body must hold exactly one element")
    return payload[0]


def envelope(payload: etree._Element) -> bytes:
    env = etree.Element(_ENVELOPE, nsmap=_NSMAP)
    etree.SubElement(env, _BODY).append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_detail(fault: ServiceFault, now: dt.datetime | None = None) -> etree._Element:
    """The ``MIAPAPIException`` element of a fault's detail."""
    now = now or dt.datetime.now(dt.timezone.utc)
    detail = etree.Element(qname(EXCEPTIONS, "MIAPAPIException"), nsmap={"exc": EXCEPTIONS})
    for name, value in (
        ("ErrorCode", fault.error.code),
        ("ErrorActor", "LearnerService"),
        ("Description", fault.error.description),
        ("FurtherDetails", fault.further_details),
        ("ErrorTimestamp", now.strftime("%Y-%m-%d %H:%M:%S")),
    ):
        etree.SubElement(detail, name).text = value
    return detail


def fault_envelope(fault: ServiceFault) -> bytes:
    env = etree.Element(_ENVELOPE, nsmap=_NSMAP)
    soap_fault = etree.SubElement(etree.SubElement(env, _BODY), qname(SOAP_ENV, "Fault"))
    etree.SubElement(soap_fault, "faultcode").text = f"soapenv:{fault.error.faultcode}"
    etree.SubElement(
        soap_fault, "faultstring"
    ).text = f"{fault.error.code}: {fault.error.description}"
    etree.SubElement(soap_fault, "detail").append(fault_detail(fault))
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")
