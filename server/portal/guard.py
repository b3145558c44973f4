"""Who may do what in the portal: the one place the portal asks, and audits, before it reads or
changes a learner's data.

Two questions, in this order:

1. the portal role (a viewer changes nothing; only a provider admin manages users; only a
   service administrator administers the service);
2. the access policy every route shares (``server/access/policy.py`` ``decide``), with the
   caller the user acts as: a provider user is their provider (``ORG``); a learner is the
   portal acting for them (``LNR``, the portal's organisation holds the LNR grant that
   migration 0012 gives it), and may reach their own record only.

A learner's page opened by its ULN (``READ_LEARNER``) needs a relation to the learner, as a PLR
``LearnerByUln`` does, unless a find or registration in this session disclosed that ULN (the
user identified the learner with their demographics). Every refusal is audited, route
``portal``, with the code the SOAP table gives the refusal.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from miap.server import exceptions
from miap.server.access.policy import LNR, ORG, Action, Decision, decide
from miap.server.exceptions import DomainError
from miap.server.outcomes import Outcome
from miap.server.portal.sessions import Who
from miap.server.register import audit
from miap.server.register.auth import Caller
from miap.server.soap.faults import code_of, fault_for
from miap.storage.portal import LEARNER, PROVIDER, SERVICE

#: The organisation the portal acts as for learners (granted LNR by migration 0012).
LEARNER_PORTAL_UKPRN = "10000000"

#: Actions of the portal itself (no learner data): managing a provider's users, and the
#: service administrator's pages.
MANAGE_USERS = "manage users"
ADMINISTER = "administer the service"

_VIEWER = frozenset({Action.FIND, Action.READ_LEARNER, Action.BATCH_OUTPUT})
_REGISTRAR = _VIEWER | {Action.REGISTER, Action.UPDATE, Action.SUBMIT_BATCH}
ROLE_ACTIONS: dict[str, frozenset] = {
    "viewer": _VIEWER,
    "registrar": _REGISTRAR,
    "admin": _REGISTRAR | {MANAGE_USERS},
    "service-admin": frozenset({ADMINISTER, Action.REPORT}),
    "learner": frozenset(
        {Action.READ_LEARNER, Action.READ_RECORD, Action.VIEW_AUDIT, Action.UPDATE_SUBSET}
    ),
}


_ACTION_VALUES = frozenset(a.value for a in Action)


class Refused(Exception):
    """The portal answers 403 with ``message``; ``code`` is the audited outcome."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def caller_of(who: Who) -> Caller:
    if who.kind == PROVIDER:
        assert who.ukprn is not None
        return Caller(who.ukprn, who.name, ORG)
    if who.kind == LEARNER:
        assert who.uln is not None
        return Caller(LEARNER_PORTAL_UKPRN, who.uln, LNR)
    raise Refused(
        "Administrators do not read learners' records", _code(exceptions.ActionNotPermitted(""))
    )


def may(who: Who, action: Action | str) -> bool:
    """Whether ``who``'s role allows ``action`` (an ``Action``, its value, or a portal
    action), for showing links and buttons as well as for ``check``."""
    if isinstance(action, str) and action in _ACTION_VALUES:
        action = Action(action)
    return action in ROLE_ACTIONS.get(who.role, frozenset())


def _code(answer: Outcome | DomainError) -> str:
    if isinstance(answer, DomainError):
        return fault_for(answer).error.code
    return code_of(answer)


def outcome_code(answer: Outcome | DomainError) -> str:
    """The code an answer is audited with: the SOAP table's, as the same answer there."""
    return _code(answer)


def check(
    session: Session,
    who: Who,
    action: Action | str,
    uln: str | None = None,
    disclosed: list[str] | None = None,
) -> Decision | None:
    """Raise ``Refused`` unless ``who`` may do ``action`` (to ``uln``'s learner)."""
    if not may(who, action):
        refusal = exceptions.ActionNotPermitted(f"the {who.role} role may not {_name(action)}")
        raise Refused(
            f"Your role ({who.role}) does not allow you to {_name(action)}.", _code(refusal)
        )
    if not isinstance(action, Action):
        return None
    if who.kind == SERVICE:
        return None
    decision = decide(session, caller_of(who), action, uln)
    if decision.allowed:
        return decision
    if (
        action == Action.READ_LEARNER
        and decision.refusal is exceptions.NoRelation
        and uln in (disclosed or [])
    ):
        return Decision(decision.user_type)
    assert decision.refusal is not None
    raise Refused(_explain(decision), _code(decision.refusal(decision.reason)))


def _name(action: Action | str) -> str:
    return action.value if isinstance(action, Action) else action


def _explain(decision: Decision) -> str:
    if decision.refusal is exceptions.NoRelation:
        return (
            "Your organisation has no relation to this learner: find them with their details first."
        )
    if decision.refusal is exceptions.NotOwnRecord:
        return "You can see your own record only."
    return f"This is not allowed: {decision.reason}."


def user_type_of(who: Who) -> str | None:
    return {PROVIDER: ORG, LEARNER: LNR}.get(who.kind)


def entry(
    who: Who | None, request_id: str, operation: str, outcome: str, ulns: list[str] | None = None
) -> dict:
    """An audit entry of one portal answer (``audit.record``'s keywords), route ``portal``."""
    if who is None:
        ukprn, user_name, user_type = None, None, None
    elif who.kind == LEARNER:
        ukprn, user_name, user_type = LEARNER_PORTAL_UKPRN, who.name, LNR
    else:
        ukprn, user_name, user_type = who.ukprn, who.name, user_type_of(who)
    return {
        "request_id": request_id,
        "ukprn": ukprn,
        "user_name": user_name,
        "user_type": user_type,
        "route": audit.PORTAL,
        "operation": operation,
        "outcome": outcome,
        "ulns": list(dict.fromkeys(ulns or [])),
    }
