"""Errors raised by :class:`miap.client.LrsClient`.

``LrsError`` is the base of them all:

* :class:`LrsFault` - the service answered with a SOAP Fault (an ``MIAPAPIException``: a WSEC
  code such as ``WSEC0136`` invalid ULN or ``WSEC0702`` stale VersionNumber).
* :class:`LrsConnectionError` - the service could not be reached: connection refused, DNS or TLS
  failure, time-out, or an HTTP error status that carries no SOAP Fault (e.g. a proxy's 502).
* :class:`LrsProtocolError` - something answered, but not with a usable WSDL or SOAP message.
* :class:`LrsRequestError` - the request could not be built from the arguments given (unknown or
  missing learner fields, too many ULNs); nothing was sent.
"""

from __future__ import annotations

from lxml import etree

EXCEPTIONS_NS = "http://api.lrs.miap.gov.uk/exceptions"


class LrsError(Exception):
    """Base class of every error the LRS client raises."""


class LrsConnectionError(LrsError):
    """The service could not be reached (or the transport failed part-way)."""


class LrsProtocolError(LrsError):
    """The other end answered, but not with a usable WSDL or SOAP message."""


class LrsRequestError(LrsError, ValueError):
    """The request could not be built from the arguments given; nothing was sent."""


class LrsFault(LrsError):
    """A SOAP Fault from the service, with the fields of its ``MIAPAPIException`` detail.

    ``code`` is the ErrorCode (``WSECnnnn``), or ``None`` when the fault carried no
    MIAPAPIException detail; ``faultcode``/``faultstring`` are the SOAP 1.1 envelope fields.
    """

    def __init__(
        self,
        code: str | None,
        description: str = "",
        further_details: str = "",
        *,
        actor: str | None = None,
        timestamp: str | None = None,
        faultcode: str | None = None,
        faultstring: str | None = None,
    ) -> None:
        self.code = code
        self.description = description
        self.further_details = further_details
        self.actor = actor
        self.timestamp = timestamp
        self.faultcode = faultcode
        self.faultstring = faultstring
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """``WSEC0136 Supplied ULN is invalid — <further details>`` (parts present only)."""
        head = " ".join(part for part in (self.code, self.description) if part)
        if not head:
            head = self.faultstring or "SOAP Fault"
        if self.further_details and self.further_details != self.description:
            return f"{head} — {self.further_details}"
        return head

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"LrsFault(code={self.code!r}, description={self.description!r}, "
            f"further_details={self.further_details!r})"
        )

    def as_dict(self) -> dict[str, str | None]:
        """The MIAPAPIException fields by their wire names (for JSON output)."""
        return {
            "ErrorCode": self.code,
            "ErrorActor": self.actor,
            "Description": self.description,
            "FurtherDetails": self.further_details,
            "ErrorTimestamp": self.timestamp,
            "faultcode": self.faultcode,
            "faultstring": self.faultstring,
        }

    @classmethod
    def from_zeep(cls, fault: Exception) -> LrsFault:
        """Build from a ``zeep.exceptions.Fault`` (reads its ``detail`` element)."""
        detail = getattr(fault, "detail", None)
        exception = _find_exception(detail)
        fields: dict[str, str] = {}
        if exception is not None:
            for child in exception:
                if isinstance(child.tag, str):
                    fields[etree.QName(child).localname] = (child.text or "").strip()
        faultstring = getattr(fault, "message", None) or None
        code = fields.get("ErrorCode") or _code_from_faultstring(faultstring)
        return cls(
            code,
            fields.get("Description", ""),
            fields.get("FurtherDetails", ""),
            actor=fields.get("ErrorActor") or getattr(fault, "actor", None),
            timestamp=fields.get("ErrorTimestamp"),
            faultcode=getattr(fault, "code", None),
            faultstring=faultstring,
        )


def _find_exception(detail: object) -> etree._Element | None:
    """The MIAPAPIException element inside a fault's ``detail`` (or ``detail`` itself)."""
    if not isinstance(detail, etree._Element):
        return None
    candidates = [detail, *detail.iter()]
    for element in candidates:
        if isinstance(element.tag, str) and etree.QName(element).localname == "MIAPAPIException":
            return element
    return None


def _code_from_faultstring(faultstring: str | None) -> str | None:
    """``WSEC0999`` from a faultstring such as ``"WSEC0999: Internal error"``."""
    if not faultstring:
        return None
    head = faultstring.split(":", 1)[0].strip()
    if head.startswith("WSEC") and head[4:].isdigit():
        return head
    return None
