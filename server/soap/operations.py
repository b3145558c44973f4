"""What a SOAP operation handler receives and returns, and the registry that dispatches to it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree
from sqlalchemy.orm import Session

from miap.server.access.policy import Action, Decision, decide
from miap.server.matching.engine import Matcher
from miap.server.register.auth import Caller
from miap.storage.reads import Reads

#: Operations that never change the register. They run on the read path: ``Call.reads`` and a
#: read-only ``Call.session`` that never takes SQLite's write lock; their audit entries go
#: through the process's audit writer (group commit).
READ_ONLY = frozenset(
    {
        "learnerByULN",
        "learnerByDemographics",
        "verifyLearner",
        "retrieveULNs",
        "getMergedUnmergedULNsReport",
        "getDeletedULNsReport",
        "getLearnerRecord",
    }
)


@dataclass
class Call:
    """One authenticated request: inside its writing transaction (``session``), or on the
    read path (a read-only ``session`` that connects on first use, and ``reads``)."""

    session: Session
    matcher: Matcher
    caller: Caller
    payload: etree._Element
    reads: Reads | None = None
    #: The user type the access policy let the caller act as (for the audit entry).
    acting: str | None = None

    def allow(self, action: Action, uln: str | None = None) -> Decision:
        """Ask the access policy; raise its refusal, or note the type the caller acts as."""
        decision = decide(self.session, self.caller, action, uln)
        self.acting = decision.user_type
        return decision.enforce()


@dataclass
class Reply:
    element: etree._Element
    #: The answer's code, for the audit log and the request log.
    outcome: str
    #: The ULNs this answer touched or disclosed; each gets an audit entry.
    ulns: list[str] = field(default_factory=list)


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Operation:
    name: str
    request: str  # Clark name of the request body element
    handler: Handler
