"""The SIF zone's one table from what went wrong (a zone rule or a domain refusal) to the
SIF_Error category and code an agent is answered with, and the SIF_Status codes.

Zone and provider code raise ``SifRefusal(Problem.X, "why")`` or let a ``DomainError`` through;
``error_for`` turns either into the wire pair, so a code is written here once.
"""

from __future__ import annotations

import enum

from miap.server import exceptions


class Status(enum.IntEnum):
    SUCCESS = 0
    IMMEDIATE = 1
    INTERMEDIATE = 2
    FINAL = 3
    DUPLICATE = 7
    SLEEPING = 8
    NO_MESSAGES = 9


class Problem(enum.Enum):
    """Each value is (SIF_Category, SIF_Code)."""

    # 1 XML validation
    NOT_WELL_FORMED = (1, 2)
    INVALID = (1, 3)
    INVALID_VALUE = (1, 4)
    MISSING_MANDATORY = (1, 6)
    # 3 authentication
    SOURCE_ID_MISMATCH = (3, 1)
    # 4 access and permissions
    NO_PERMISSION_PROVIDE = (4, 3)
    NO_PERMISSION_SUBSCRIBE = (4, 4)
    NO_PERMISSION_REQUEST = (4, 5)
    NO_PERMISSION_RESPOND = (4, 6)
    NOT_REGISTERED = (4, 9)
    NO_PERMISSION_ADD = (4, 10)
    NO_PERMISSION_CHANGE = (4, 11)
    NO_PERMISSION_DELETE = (4, 12)
    ACCESS_REFUSED = (4, 1)
    # 5 registration
    REGISTRATION = (5, 1)
    UNSUPPORTED_VERSION = (5, 4)
    BUFFER_TOO_SMALL = (5, 6)
    # 6 provision
    ALREADY_PROVIDED = (6, 2)
    NOT_PROVIDER = (6, 3)
    # 7 subscription
    NOT_SUBSCRIBED = (7, 2)
    # 8 request and response
    INVALID_OBJECT = (8, 3)
    NO_PROVIDER = (8, 4)
    TOO_MANY_ANSWERS = (8, 1)
    UNSUPPORTED_QUERY = (8, 9)
    INVALID_REQUEST_MSG_ID = (8, 10)
    INVALID_PACKET = (8, 12)
    # 9 event reporting and processing
    EVENT_NOT_PROCESSED = (9, 1)
    # 11 system
    SYSTEM = (11, 1)
    # 12 generic message handling
    NO_MESSAGE_TO_ACK = (12, 1)
    NOT_SUPPORTED = (12, 2)

    @property
    def category(self) -> int:
        return self.value[0]

    @property
    def code(self) -> int:
        return self.value[1]


class SifRefusal(Exception):
    """A message the zone refuses; answered with a SIF_Ack carrying SIF_Error."""

    def __init__(self, problem: Problem, description: str) -> None:
        super().__init__(description)
        self.problem = problem
        self.description = description


#: Domain refusals a LearnerPersonal event or request can meet.
DOMAIN_PROBLEMS: dict[type[exceptions.DomainError], Problem] = {
    exceptions.InvalidDetails: Problem.INVALID_VALUE,
    exceptions.InvalidUln: Problem.INVALID_VALUE,
    exceptions.DetailsNotStorable: Problem.INVALID_VALUE,
    exceptions.UlnsExhausted: Problem.SYSTEM,
    # A deactivated provider's agents (PD1, PD2): refused like any other access.
    exceptions.ProviderNotActive: Problem.ACCESS_REFUSED,
}


def error_for(failure: SifRefusal | exceptions.DomainError) -> tuple[Problem, str]:
    """The problem and description an agent is told for ``failure``."""
    if isinstance(failure, SifRefusal):
        return failure.problem, failure.description
    for cls in type(failure).__mro__:
        if cls in DOMAIN_PROBLEMS:
            return DOMAIN_PROBLEMS[cls], str(failure)
    if isinstance(failure, exceptions.AccessRefused):
        return Problem.ACCESS_REFUSED, str(failure)
    return Problem.EVENT_NOT_PROCESSED, str(failure)
