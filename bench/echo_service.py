"""A bare spyne SOAP 1.1 echo service: the baseline for lookup_throughput.py.

Its request carries the fields of FindLearnerByULN and its response is shaped like a
FindLearnerResponse holding one Learner of 15 string fields, built from the request alone (no
database, no authentication, no audit) and its input is not validated. It is served by
gunicorn's default sync workers (``miap.server.serving.serve`` with ``worker_class="sync"``),
as many as the miap server it is compared with (``--workers``).

    python bench/echo_service.py --port 8099 --workers 2   # http://127.0.0.1:8099/echo?wsdl
"""

from __future__ import annotations

import argparse
import logging

from spyne import Application, ComplexModel, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from miap.server.serving import serve

TNS = "http://bench.miap/echo"
#: spyne answers on any path; this is the one the benchmark uses.
PATH = "/echo"


class FindLearnerByULN(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("FindType", Unicode(max_len=3)),
        ("UKPRN", Unicode(max_len=8)),
        ("OrgPassword", Unicode(max_len=16)),
        ("UserName", Unicode(max_len=35)),
        ("ULN", Unicode(max_len=10)),
        ("FamilyName", Unicode(max_len=35)),
        ("GivenName", Unicode(max_len=35)),
    ]


#: The Learner children miap returns for a synthetic learner (tests/test_raw_xml.py).
LEARNER_FIELDS = (
    "CreatedDate",
    "LastUpdatedDate",
    "ULN",
    "GivenName",
    "FamilyName",
    "LastKnownAddressLine1",
    "LastKnownAddressTown",
    "LastKnownPostCode",
    "DateOfBirth",
    "Gender",
    "VerificationType",
    "TierLevel",
    "AbilityToShare",
    "LearnerStatus",
    "VersionNumber",
)


class Learner(ComplexModel):
    __namespace__ = TNS
    _type_info = [(name, Unicode) for name in LEARNER_FIELDS]


class FindLearnerResponse(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("ResponseCode", Unicode),
        ("ULN", Unicode),
        ("FamilyName", Unicode),
        ("GivenName", Unicode),
        ("Learner", Learner),
    ]


class EchoService(ServiceBase):
    @rpc(FindLearnerByULN, _returns=FindLearnerResponse, _body_style="bare")
    def FindLearnerByULN(ctx, request):  # noqa: N802, N805 - spyne's naming and signature
        learner = Learner(
            CreatedDate="2026-01-01 00:00:00",
            LastUpdatedDate="2026-01-01 00:00:00",
            ULN=request.ULN,
            GivenName=request.GivenName,
            FamilyName=request.FamilyName,
            LastKnownAddressLine1="1 Example Road",
            LastKnownAddressTown="Leeds",
            LastKnownPostCode="LS1 4AP",
            DateOfBirth="2008-03-14",
            Gender="2",
            VerificationType="1",
            TierLevel="1",
            AbilityToShare="1",
            LearnerStatus="1",
            VersionNumber="1",
        )
        return FindLearnerResponse(
            ResponseCode="WSRC0004",
            ULN=request.ULN,
            FamilyName=request.FamilyName,
            GivenName=request.GivenName,
            Learner=learner,
        )


def application() -> WsgiApplication:
    app = Application(
        [EchoService],
        tns=TNS,
        name="EchoService",
        in_protocol=Soap11(),  # no validation: the bare baseline
        out_protocol=Soap11(),
    )
    return WsgiApplication(app)


def request_xml(uln: str, given_name: str, family_name: str, ukprn: str, password: str) -> bytes:
    """A FindLearnerByULN-sized request for the echo service."""
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:e="{TNS}"><soapenv:Header/><soapenv:Body><e:FindLearnerByULN>'
        f"<e:FindType>FUL</e:FindType><e:UKPRN>{ukprn}</e:UKPRN>"
        f"<e:OrgPassword>{password}</e:OrgPassword><e:UserName>bench.user</e:UserName>"
        f"<e:ULN>{uln}</e:ULN><e:FamilyName>{family_name}</e:FamilyName>"
        f"<e:GivenName>{given_name}</e:GivenName>"
        "</e:FindLearnerByULN></soapenv:Body></soapenv:Envelope>"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=1, help="for --worker-class gthread")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"echo: serving http://{args.host}:{args.port}{PATH}?wsdl", flush=True)
    serve(
        application,
        args.host,
        args.port,
        workers=args.workers,
        threads=args.threads,
        worker_class=args.worker_class,
    )


if __name__ == "__main__":
    main()
