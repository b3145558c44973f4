"""A Python client of the LRS LearnerService, built on zeep (no hand-built XML).

    from miap.client import LrsClient, LrsFault

    with LrsClient(url, ukprn="10000002", password="...", username="mis.sync") as lrs:
        code, uln = lrs.register({"GivenName": "Maren", "FamilyName": "Testwood", ...})
        found = lrs.find_by_uln(uln, "Maren", "Testwood")

Every method returns plain Python data (dicts and lists, ``None`` for an absent element) keyed by
the wire element names, adds the header fields (UKPRN, OrgPassword, UserName, OrganisationRef)
itself, and raises :class:`LrsFault` for a SOAP Fault, :class:`LrsConnectionError` when the
service cannot be reached; see :mod:`miap.client.exceptions`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

import requests
import zeep
import zeep.exceptions
import zeep.helpers
import zeep.proxy
from lxml import etree

from miap.client.exceptions import (
    LrsConnectionError,
    LrsFault,
    LrsProtocolError,
    LrsRequestError,
)

#: The national WSDL's service and its one port; toolkits generated from it bind by these names.
SERVICE = "LearnerService"
PORT = "LearnerService"
LEARNER_NS = "http://api.lrs.miap.gov.uk/learner"

#: The report items (learner:MergedLearner, learner:UnmergedLearner, learner:DeletedLearner) as
#: the spec names their elements, in wire order. Every ``…DateOfBirth`` and ``…Date`` is a date
#: (``YYYY-MM-DD``), never a date-time.
MERGED_FIELDS: tuple[str, ...] = (
    "MasterULN",
    "MasterFamilyName",
    "MasterGivenName",
    "MasterDateOfBirth",
    "MergedULN",
    "MergedFamilyName",
    "MergedGivenName",
    "MergedDateOfBirth",
    "MergedDate",
)
UNMERGED_FIELDS: tuple[str, ...] = tuple(
    name.replace("Merged", "Unmerged") for name in MERGED_FIELDS
)
DELETED_FIELDS: tuple[str, ...] = ("ULN", "DeletedDate")


def _sequence(type_name: str) -> tuple[tuple[str, bool], ...]:
    """(name, required) of each element of ``type_name`` in the published learner schema (the
    copy installed with this package), in wire order; an extension's base comes first. The
    schema is the one place the order is written, for the client as for the server."""
    root = _learner_schema()
    found = root.find(f"{_XS}complexType[@name='{type_name}']")
    if found is None:
        raise KeyError(type_name)
    elements: list[tuple[str, bool]] = []
    extension = found.find(f"{_XS}complexContent/{_XS}extension")
    if extension is not None:
        elements += _sequence(extension.get("base").rpartition(":")[2])
        found = extension
    for element in found.iterfind(f"{_XS}sequence/{_XS}element"):
        elements.append((element.get("name"), element.get("minOccurs") != "0"))
    return tuple(elements)


@functools.cache
def _learner_schema() -> etree._Element:
    return etree.parse(str(files("miap.xsd") / "learner.xsd")).getroot()


_XS = "{http://www.w3.org/2001/XMLSchema}"
#: LearnerToRegister's elements in wire order, and those it requires.
REGISTER_FIELDS: tuple[str, ...] = tuple(name for name, _ in _sequence("LearnerToRegister"))
REQUIRED_REGISTER_FIELDS: tuple[str, ...] = tuple(
    name for name, required in _sequence("LearnerToRegister") if required
)
#: LearnerToUpdate = LearnerToRegister + ULN + VersionNumber.
UPDATE_FIELDS: tuple[str, ...] = tuple(name for name, _ in _sequence("LearnerToUpdate"))
#: Fields of a *returned* Learner that the service sets itself; dropped from update requests so
#: that a learner dict from a find can be edited and sent back as it is.
READ_ONLY_FIELDS: frozenset[str] = frozenset(
    {
        "CreatedDate",
        "LastUpdatedDate",
        "MasterSubstituted",
        "TierLevel",
        "LearnerStatus",
        "LinkedULNs",
    }
)
MAX_ULNS = 200
#: Learners in one submitBatchRegistration.
MAX_BATCH = 200


class LrsClient:
    """A LearnerService client for one organisation (UKPRN + OrgPassword) and user.

    ``url`` is the service endpoint (``…/LearnerService.svc``). The WSDL is read from
    ``url + "?wsdl"`` unless ``wsdl`` (a URL or a file path) is given; either way requests go to
    ``url``, so a client behind a proxy or port-forward works whatever address the WSDL names.
    The WSDL is loaded on the first call. ``timeout`` (seconds) applies to loading the WSDL and
    to each operation. A ``url`` that is not http(s) raises :class:`LrsRequestError`.
    """

    def __init__(
        self,
        url: str,
        ukprn: str | None,
        password: str,
        username: str,
        organisation_ref: str | None = None,
        timeout: float = 30,
        wsdl: str | None = None,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise LrsRequestError(f"the service URL must be an http(s):// address, not {url!r}")
        self.url = url
        self.wsdl = wsdl or f"{url}?wsdl"
        self.ukprn = ukprn
        self.username = username
        self.organisation_ref = organisation_ref
        self.timeout = timeout
        self._password = password
        self._session = requests.Session()
        self._client: zeep.Client | None = None
        self._service: Any = None

    def __repr__(self) -> str:
        return f"LrsClient({self.url!r}, ukprn={self.ukprn!r}, username={self.username!r})"

    def __enter__(self) -> LrsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._session.close()

    # -- operations ---------------------------------------------------------------------------

    def find_by_uln(
        self, uln: str, given_name: str, family_name: str, find_type: str = "FUL"
    ) -> dict[str, Any]:
        """learnerByULN: the FindLearnerResponse as a dict (ResponseCode, echoes, ``Learner``
        list). WSRC0004 exact match, WSRC0022 linked learner, WSRC0001 no match."""
        reply = self._call(
            "learnerByULN",
            FindType=find_type,
            **self._header(),
            ULN=_text(uln),
            FamilyName=family_name,
            GivenName=given_name,
        )
        return _find_result(reply)

    def find_by_demographics(
        self,
        given_name: str,
        family_name: str,
        date_of_birth: str | dt.date,
        gender: str | int,
        postcode: str,
        previous_family_name: str | None = None,
        school_at_age16: str | None = None,
        place_of_birth: str | None = None,
        email: str | None = None,
        find_type: str = "FUL",
    ) -> dict[str, Any]:
        """learnerByDemographics: the FindLearnerResponse as a dict. WSRC0004 exact match,
        WSRC0003 possible matches (1-10 learners), WSRC0002 too many, WSRC0001 no match."""
        reply = self._call(
            "learnerByDemographics",
            FindType=find_type,
            **self._header(),
            FamilyName=family_name,
            GivenName=given_name,
            DateOfBirth=_text(date_of_birth),
            Gender=_text(gender),
            LastKnownPostCode=postcode,
            PreviousFamilyName=previous_family_name,
            SchoolAtAge16=school_at_age16,
            PlaceOfBirth=place_of_birth,
            EmailAddress=email,
        )
        return _find_result(reply)

    def register(self, learner: Mapping[str, Any]) -> tuple[str, str | None]:
        """registerSingleLearner: ``(response code, ULN)``; ``("WSRC0005", uln)`` when
        registered, ``("WSRC0021", None)`` when not (e.g. the same learner already exists).

        ``learner`` is keyed by the LearnerToRegister element names (GivenName, FamilyName,
        DateOfBirth, Gender, LastKnownPostCode, VerificationType, AbilityToShare, ...); ``None``
        values are left out."""
        body = _learner_body(learner, REGISTER_FIELDS, REQUIRED_REGISTER_FIELDS, drop=frozenset())
        reply = _plain(self._call("registerSingleLearner", **self._header(), Learner=body))
        if isinstance(reply, dict):
            return reply.get("ResponseCode"), reply.get("ULN")
        return reply, None

    def update(self, learner: Mapping[str, Any]) -> str:
        """updateSingleLearner: the response code (WSRC0006 updated).

        ``learner`` must hold ``ULN`` and the ``VersionNumber`` last read, and the *whole*
        learner: the service replaces the stored details, so an optional field left out is
        cleared. A Learner dict from a find may be edited and passed back as it is (the fields
        the service sets itself are dropped). A stale VersionNumber raises LrsFault WSEC0702."""
        body = _learner_body(
            learner,
            UPDATE_FIELDS,
            (*REQUIRED_REGISTER_FIELDS, "ULN", "VersionNumber"),
            drop=READ_ONLY_FIELDS,
        )
        try:
            body["VersionNumber"] = int(body["VersionNumber"])
        except (TypeError, ValueError):
            raise LrsRequestError(
                f"VersionNumber must be a whole number, not {body['VersionNumber']!r}"
            ) from None
        reply = _plain(self._call("updateSingleLearner", **self._header(), Learner=body))
        if isinstance(reply, dict):  # zeep unwraps a one-child response; be ready for both
            return reply.get("ResponseCode")
        return reply

    def verify(
        self,
        uln: str,
        given_name: str,
        family_name: str,
        date_of_birth: str | dt.date | None = None,
        gender: str | int | None = None,
    ) -> dict[str, Any]:
        """verifyLearner: the VerifiedLearner dict (Searched* echoes, ResponseCode WSVRC001-006,
        the stored ULN/names/DOB/gender when verified, and a ``FailureFlag`` list)."""
        reply = _plain(
            self._call(
                "verifyLearner",
                **self._header(),
                LearnerToVerify={
                    "ULN": _text(uln),
                    "FamilyName": family_name,
                    "GivenName": given_name,
                    "DateOfBirth": _text(date_of_birth),
                    "Gender": _text(gender),
                },
            )
        )
        if isinstance(reply, dict) and "VerifiedLearner" in reply:
            reply = reply["VerifiedLearner"]
        if isinstance(reply, dict):
            reply["FailureFlag"] = list(reply.get("FailureFlag") or [])
        return reply

    def learner_record(
        self,
        uln: str,
        given_name: str,
        family_name: str,
        date_of_birth: str | dt.date,
        gender: str | int,
        postcode: str = "",
        user_type: str = "ORG",
        contact_type: str = "NKN",
    ) -> dict[str, Any]:
        """getLearnerRecord: ResponseCode (WSRC0004 found, WSRC0022 found under the master of
        a merged ULN, WSEC0206 not shared, WSEC0208 not verified), the Incoming* echoes, and
        ``LearnerRecord`` (``Learner`` and ``LearningEvents["LearningEvent"]``, a list) when
        the record is shown; None otherwise."""
        result = _plain(
            self._call(
                "getLearnerRecord",
                **self._header(),
                UserType=user_type,
                LNRContactType=contact_type,
                ULN=_text(uln),
                FamilyName=family_name,
                GivenName=given_name,
                DateOfBirth=_text(date_of_birth),
                Gender=_text(gender),
                LastKnownPostCode=postcode,
            )
        )
        record = result.get("LearnerRecord")
        if record is not None:
            events = record.get("LearningEvents") or {}
            record["LearningEvents"] = {"LearningEvent": list(events.get("LearningEvent") or [])}
        return result

    def retrieve_ulns(self, ulns: Iterable[str]) -> list[dict[str, Any]]:
        """retrieveULNs: one VerifiedULN dict per ULN asked for, in order (ULN, MasterULN,
        ResponseCode - WSRC0004 found, WSRC0001 not found, WSEC0136 invalid - names, DOB,
        gender). At most 200 ULNs per call."""
        wanted = [_text(uln) for uln in ulns]
        if not 1 <= len(wanted) <= MAX_ULNS:
            raise LrsRequestError(f"retrieveULNs takes 1 to {MAX_ULNS} ULNs, not {len(wanted)}")
        reply = _plain(self._call("retrieveULNs", **self._header(), ULNsToRetrieve={"ULN": wanted}))
        if isinstance(reply, dict) and "RetrievedULNs" in reply:
            reply = reply["RetrievedULNs"]
        if isinstance(reply, dict):
            reply = reply.get("VerifiedULN")
        return list(reply or [])

    def merged_unmerged_report(
        self, from_date: dt.date | str, to_date: dt.date | str | None = None
    ) -> dict[str, Any]:
        """getMergedUnmergedULNsReport: merges and unmerges from ``from_date`` to ``to_date``
        (inclusive; None = until now). ``ULNReport`` is None when nothing happened; otherwise
        ``ULNReport["MergedLearners"]["MergedLearner"]`` lists dicts keyed by
        :data:`MERGED_FIELDS` (MasterULN, …, MergedULN, …, MergedDate) and
        ``ULNReport["UnmergedLearners"]["UnmergedLearner"]`` by :data:`UNMERGED_FIELDS`. Dates
        are ``YYYY-MM-DD`` strings, as on the wire; :func:`report_entries` flattens both."""
        return _plain(
            self._call(
                "getMergedUnmergedULNsReport",
                **self._header(),
                FromDate=_text(from_date),
                ToDate=_text(to_date),
            )
        )

    def deleted_report(
        self, from_date: dt.date | str, to_date: dt.date | str | None = None
    ) -> dict[str, Any]:
        """getDeletedULNsReport: ULNs withdrawn from ``from_date`` to ``to_date`` (inclusive);
        ``ULNReport["DeletedLearners"]["DeletedLearner"]`` lists ``{"ULN", "DeletedDate"}``
        dicts (None when nothing was withdrawn)."""
        return _plain(
            self._call(
                "getDeletedULNsReport",
                **self._header(),
                FromDate=_text(from_date),
                ToDate=_text(to_date),
            )
        )

    # -- batches ------------------------------------------------------------------------------

    def submit_batch(self, learners: Iterable[Mapping[str, Any]], job_type: str = "FUL") -> int:
        """submitBatchRegistration: queue 1-200 learners (dicts keyed by BatchLearner field
        names; ``None`` left out) to register (``FUL``) or only look up (``CHK``); the JobID."""
        sent = [_batch_learner(learner) for learner in learners]
        if not 1 <= len(sent) <= MAX_BATCH:
            raise LrsRequestError(f"a batch holds 1 to {MAX_BATCH} learners, not {len(sent)}")
        reply = self._call(
            "submitBatchRegistration",
            **self._header(),
            JobType=job_type,
            LearnerRecordCount=len(sent),
            Learner=sent,
        )
        return int(reply.JobID)

    def batch_output(self, job_id: int) -> dict[str, Any]:
        """getBatchRegistrationOutput: ResponseCode (WSRC0032 finished, WSRC0031 not yet),
        JobStatus, the counts, the job's times and, once finished, a ``Learner`` list (each
        as sent, with ULN and ReturnCode), in the order sent."""
        result = _plain(self._call("getBatchRegistrationOutput", **self._header(), JobID=job_id))
        result["Learner"] = list(result.get("Learner") or [])
        return result

    def submit_verify_batch(
        self, learners: Iterable[Mapping[str, Any]], org_email: str | None = None
    ) -> int:
        """submitVerifyBatch: queue learners (MISIdentifier, ULN, FamilyName, GivenName,
        DateOfBirth, Gender) to verify; the JobID."""
        sent = [{k: _text(v) for k, v in learner.items() if v is not None} for learner in learners]
        reply = self._call(
            "submitVerifyBatch",
            **self._header(),
            LearnerRecordCount=len(sent),
            OrgEmail=org_email,
            Learner=sent,
        )
        return int(reply.JobID)

    def verify_batch_output(self, job_id: int) -> dict[str, Any]:
        """getVerifyBatchOutput: ResponseCode, JobStatus, times and, once finished, a
        ``VerifiedLearner`` list answered as verifyLearner answers one."""
        result = _plain(self._call("getVerifyBatchOutput", **self._header(), JobID=job_id))
        result["VerifiedLearner"] = list(result.get("VerifiedLearner") or [])
        return result

    # -- plumbing -----------------------------------------------------------------------------

    def _header(self) -> dict[str, str | None]:
        return {
            "OrganisationRef": self.organisation_ref,
            "UKPRN": self.ukprn,
            "OrgPassword": self._password,
            "UserName": self.username,
        }

    @property
    def service(self) -> Any:
        """The zeep service proxy bound to ``url`` (loads the WSDL on first use)."""
        if self._service is None:
            self._service = _translate(self._load, f"load the WSDL from {self.wsdl}", self.timeout)
        return self._service

    def _load(self) -> Any:
        transport = zeep.Transport(
            session=self._session, timeout=self.timeout, operation_timeout=self.timeout
        )
        self._client = zeep.Client(self.wsdl, transport=transport)
        # Bind by the national names, as a toolkit generated from the national WSDL does (a
        # WSDL without service LearnerService / port LearnerService fails here), then post to
        # ``url`` whatever address the WSDL names.
        try:
            port = self._client.wsdl.services[SERVICE].ports[PORT]
            self._client.bind(SERVICE, PORT)
        except (KeyError, ValueError):
            raise LrsProtocolError(
                f"{self.wsdl} has no service {SERVICE} with a port named {PORT}: "
                "not the LearnerService contract"
            ) from None
        return zeep.proxy.ServiceProxy(
            self._client, port.binding, **{**port.binding_options, "address": self.url}
        )

    def _call(self, operation: str, **arguments: Any) -> Any:
        method: Callable[..., Any] = getattr(self.service, operation)
        return _translate(
            lambda: method(**arguments), f"call {operation} at {self.url}", self.timeout
        )


# -- helpers ----------------------------------------------------------------------------------


def _text(value: Any) -> Any:
    """Dates as YYYY-MM-DD, numbers as text (every coded field is a string on the wire).

    Every date a request carries (DateOfBirth, FromDate, …) is a date: a datetime is sent as
    its date, since a time part would break the contract."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        raise LrsRequestError(f"{value!r} is not a valid field value")
    return str(value)


def _learner_body(
    learner: Mapping[str, Any],
    allowed: tuple[str, ...],
    required: tuple[str, ...],
    drop: frozenset[str],
) -> dict[str, Any]:
    if not isinstance(learner, Mapping):
        raise LrsRequestError("the learner must be a dict keyed by wire element names")
    unknown = sorted(set(learner) - set(allowed) - drop)
    if unknown:
        raise LrsRequestError(
            f"unknown learner field(s) {', '.join(unknown)}; expected some of {', '.join(allowed)}"
        )
    body = {name: _text(learner[name]) for name in allowed if learner.get(name) is not None}
    missing = [name for name in required if body.get(name) in (None, "")]
    if missing:
        raise LrsRequestError(f"the learner lacks required field(s) {', '.join(missing)}")
    return body


def _batch_learner(learner: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(learner, Mapping):
        raise LrsRequestError("a batch learner must be a dict keyed by BatchLearner field names")
    return {name: _text(value) for name, value in learner.items() if value not in (None, "")}


def _plain(value: Any) -> Any:
    """zeep objects as plain dicts and lists (OrderedDicts become dicts)."""
    return zeep.helpers.serialize_object(value, target_cls=dict)


def report_entries(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries of a merged/unmerged or deleted report, flattened in wire order: each item
    dict (keyed as on the wire) with an ``"Action"`` of ``"merged"``, ``"unmerged"`` or
    ``"deleted"`` added. Empty when the report has no ``ULNReport``."""
    report = result.get("ULNReport") or {}
    entries: list[dict[str, Any]] = []
    for group, item, action in (
        ("MergedLearners", "MergedLearner", "merged"),
        ("UnmergedLearners", "UnmergedLearner", "unmerged"),
        ("DeletedLearners", "DeletedLearner", "deleted"),
    ):
        for entry in (report.get(group) or {}).get(item) or []:
            entries.append({"Action": action, **entry})
    return entries


def _find_result(reply: Any) -> dict[str, Any]:
    result = _plain(reply)
    result["Learner"] = list(result.get("Learner") or [])
    return result


def _translate(action: Callable[[], Any], doing: str, timeout: float) -> Any:
    """Run ``action``; turn zeep/requests failures into the client's exceptions."""
    try:
        return action()
    except zeep.exceptions.Fault as fault:
        raise LrsFault.from_zeep(fault) from None
    except requests.Timeout as exc:
        note = " (the request may still have been carried out)" if doing.startswith("call") else ""
        raise LrsConnectionError(
            f"could not {doing}: no answer within {timeout:g} s{note}"
        ) from exc
    except requests.HTTPError as exc:
        # The service was reached but did not answer in SOAP: an unusable answer, not a
        # connection failure (a wrong path is HTTP 404, for example).
        status = exc.response.status_code if exc.response is not None else "?"
        raise LrsProtocolError(f"could not {doing}: HTTP status {status}") from exc
    except requests.RequestException as exc:
        raise LrsConnectionError(f"could not {doing}: {_reason(exc)}") from exc
    except zeep.exceptions.TransportError as exc:
        if exc.status_code and exc.status_code != 200:
            raise LrsProtocolError(
                f"could not {doing}: HTTP status {exc.status_code} without a SOAP answer"
            ) from exc
        raise LrsProtocolError(f"could not {doing}: the answer is not a SOAP message") from exc
    except zeep.exceptions.ValidationError as exc:
        raise LrsRequestError(f"could not {doing}: {exc.message}") from exc
    except (zeep.exceptions.Error, etree.LxmlError) as exc:
        raise LrsProtocolError(f"could not {doing}: {exc}") from exc
    except TypeError as exc:  # zeep: an argument the message has no element for
        raise LrsRequestError(f"could not {doing}: {exc}") from exc
    except OSError as exc:  # a local WSDL file that cannot be read
        raise LrsConnectionError(f"could not {doing}: {exc}") from exc


def _reason(exc: BaseException) -> str:
    """The root cause of a requests failure, e.g. ``Connection refused``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    reason = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        nested = getattr(current, "reason", None)
        if isinstance(nested, BaseException):
            current = nested
            continue
        if current.args and isinstance(current.args[0], BaseException):
            current = current.args[0]
            continue
        current = current.__cause__ or current.__context__
    return reason or str(exc)
