"""Every XML namespace the service speaks, in one place."""

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XSD = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

WSDL_TNS = "http://learner.webservice.miap.gov.uk"

_LRS = "http://api.lrs.miap.gov.uk/"
LEARNER = _LRS + "learner"
FINDMSG = _LRS + "findmsg"
REGMSG = _LRS + "regmsg"
BATCHMSG = _LRS + "batchmsg"
VLDMSG = _LRS + "vldmsg"
REPORTMSG = _LRS + "reportmsg"
LEARNERREC = _LRS + "learnerrec"
EXCEPTIONS = _LRS + "exceptions"

#: Schema file name (without ``.xsd``) for each message namespace we publish.
SCHEMA_FILES = {
    LEARNER: "learner",
    FINDMSG: "findmsg",
    REGMSG: "regmsg",
    BATCHMSG: "batchmsg",
    VLDMSG: "vldmsg",
    REPORTMSG: "reportmsg",
    EXCEPTIONS: "exceptions",
}


def qname(namespace: str, local: str) -> str:
    """Clark notation ``{ns}local`` as lxml uses it."""
    return f"{{{namespace}}}{local}"
