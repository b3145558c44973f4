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

# The PLR service (LearnerServiceR9), a .NET data-contract service.
TEMPURI = "http://tempuri.org/"
PLR_INTERFACE = "http://schemas.datacontract.org/2004/07/Amor.Qcf.Service.Interface"
PLR_MODEL = "http://api.lrs.qcf.gov.uk/model"
PLR_FAULTS = "http://api.lrs.qcf.gov.uk/faults"

#: Schema file name (without ``.xsd``) for each message namespace we publish.
#: The UK Register of Learning Providers' provider query (retrieveAllProviders).
UKRLP = "http://ukrlp.co.uk.server.ws.v3"

SCHEMA_FILES = {
    LEARNER: "learner",
    FINDMSG: "findmsg",
    REGMSG: "regmsg",
    BATCHMSG: "batchmsg",
    VLDMSG: "vldmsg",
    REPORTMSG: "reportmsg",
    LEARNERREC: "learnerrec",
    EXCEPTIONS: "exceptions",
    TEMPURI: "plr",
    PLR_INTERFACE: "plr_interface",
    PLR_MODEL: "plr_model",
    PLR_FAULTS: "plr_faults",
    UKRLP: "ukrlp",
}


def qname(namespace: str, local: str) -> str:
    """Clark notation ``{ns}local`` as lxml uses it."""
    return f"{{{namespace}}}{local}"
