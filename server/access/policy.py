"""The one access policy: may this caller do this action to this learner's data?

Every route asks ``decide`` before it reads or changes a learner's data: the LearnerService
operations, batch submission and output, the PLR service, and (later) the SIF zone and the
portal. ``decide`` answers a ``Decision``: allowed, or refused with a reason (an
``AccessRefused`` subclass from ``server/exceptions.py``) that each transport's one table maps
to its own code. Relation facts (who registered the learner, which organisations returned or
awarded their learning events) are looked up here, never passed in by a transport.

User types (``docs/access.md``):

* ``LNR`` a learner, through an organisation granted to act for learners (a learner portal):
  only their own record. The learner is named by the request's user name, which is their ULN.
* ``ORG`` a provider: what the LRS lets any provider do (find, verify, register, update,
  batches, reports), and a learner's learning record only when it registered the learner, is
  their school in the census, returned an event of theirs, or identified them by full
  demographics.
* ``AO`` an awarding organisation (an organisation granted ``AO``): finds, and only the
  learning events it awarded.
* ``SER`` a service or analyst: aggregates and the provider register only, never a name or a
  ULN.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from miap.server import exceptions
from miap.server.register.auth import Caller
from miap.storage.models import AccessGrant, CensusPupil, Learner
from miap.storage.records import LearningEvent
from miap.storage.ukrlp import ProviderVerification

LNR = "LNR"
ORG = "ORG"
AO = "AO"
SER = "SER"
USER_TYPES = (LNR, ORG, AO, SER)


class Action(enum.Enum):
    """What a caller wants to do, whichever route it comes by."""

    #: Find by ULN or demographics, verify, retrieve ULNs: identification the LRS allows.
    FIND = "find"
    REGISTER = "register"
    #: Replace a learner's details (LearnerService updateSingleLearner).
    UPDATE = "update"
    #: The merged/unmerged and deleted ULN reports (ULNs and names of many learners).
    REPORT = "report"
    SUBMIT_BATCH = "submit batch"
    BATCH_OUTPUT = "batch output"
    #: A learner's learning events (PLR GetLearnerLearningEvents, getLearnerRecord).
    READ_RECORD = "read learning record"
    #: A learner's stored details on their own (PLR LearnerByUln).
    READ_LEARNER = "read learner"
    #: The fields a learner keeps themselves (PLR UpdateLearnerSubsetFields).
    UPDATE_SUBSET = "update own fields"
    #: Who read or changed a learner's record (PLR ViewAudit).
    VIEW_AUDIT = "view audit"
    #: The provider register (PLR GetOrganisation): no learner data.
    ORGANISATION = "organisation"
    #: Counts and statistics, never an individual.
    AGGREGATE = "aggregate"


#: Actions that need no learner and disclose none (every user type may).
_NO_LEARNER = frozenset({Action.ORGANISATION, Action.AGGREGATE})
#: What the LRS lets any provider do, whoever the learner.
_ORG_ANYONE = frozenset(
    {
        Action.FIND,
        Action.REGISTER,
        Action.UPDATE,
        Action.REPORT,
        Action.SUBMIT_BATCH,
        Action.BATCH_OUTPUT,
    }
)
#: The UKRLP verification authority whose VerificationID is a school's LAESTAB.
SCHOOL_AUTHORITY = "DfE"
#: What a provider may do only for a learner it is related to.
_ORG_RELATED = frozenset({Action.READ_RECORD, Action.READ_LEARNER, Action.UPDATE_SUBSET})
#: What a learner may do, to their own record only.
_LNR_OWN = frozenset(
    {Action.READ_RECORD, Action.READ_LEARNER, Action.UPDATE_SUBSET, Action.VIEW_AUDIT}
)


class Relation(enum.Enum):
    """How an organisation is related to a learner (looked up by ``decide``)."""

    REGISTERED = "registered the learner"
    #: The school that returned the learner in the school census (``census_pupils.laestab``),
    #: known by its UKRLP entry's DfE verification (``SCHOOL_AUTHORITY``, VerificationID =
    #: the school's LAESTAB).
    SCHOOL = "the learner's school in the census"
    REPORTED = "returned a learning event of the learner"
    AWARDED = "awarded a learning event of the learner"
    #: Not stored: the domain verified the request's full demographics against the ULN.
    IDENTIFIED = "identified the learner by full demographics"


#: Relations that let a provider see a learner's record and details (AWARDED is an AO's).
_PROVIDER_RELATIONS = frozenset(
    {Relation.REGISTERED, Relation.SCHOOL, Relation.REPORTED, Relation.IDENTIFIED}
)


@dataclass(frozen=True)
class Decision:
    """``decide``'s answer. ``user_type`` is the type the caller acts as (an organisation
    granted AO acts as AO when it claims ORG), for the audit row."""

    user_type: str
    refusal: type[exceptions.AccessRefused] | None = None
    reason: str = ""
    relations: frozenset[Relation] = field(default_factory=frozenset)
    uln: str | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    def enforce(self) -> Decision:
        """Raise the refusal (a ``DomainError`` each transport maps), or return self."""
        if self.refusal is not None:
            raise self.refusal(self.reason, self.uln)
        return self


def decide(
    session: Session,
    caller: Caller,
    action: Action,
    uln: str | None = None,
    *,
    identified: bool = False,
) -> Decision:
    """May ``caller`` do ``action`` to the learner holding ``uln`` (None: no one learner)?

    ``identified`` is set only by domain code that has verified the request's full
    demographics (given and family name, date of birth and gender) against ``uln``. A merged
    duplicate's ULN and its master's are the same learner here.
    """
    return dataclasses.replace(_decide(session, caller, action, uln, identified), uln=uln)


def _decide(
    session: Session, caller: Caller, action: Action, uln: str | None, identified: bool
) -> Decision:
    user_type, refusal = _acting_type(session, caller)
    if refusal is not None:
        return refusal
    if action in _NO_LEARNER:
        return Decision(user_type)
    if user_type == SER:
        return _refuse(user_type, exceptions.AggregateOnly, "aggregate data only")
    if user_type == LNR:
        if action not in _LNR_OWN:
            return _refuse(
                user_type, exceptions.ActionNotPermitted, f"a learner may not {action.value}"
            )
        if uln is None or caller.user_name not in _same_learner(session, uln):
            return _refuse(
                user_type, exceptions.NotOwnRecord, "a learner sees their own record only"
            )
        return Decision(user_type)
    if action == Action.VIEW_AUDIT:
        return _refuse(user_type, exceptions.ActionNotPermitted, "the audit is the learner's")
    if user_type == AO:
        if action == Action.FIND:
            return Decision(user_type)
        if action != Action.READ_RECORD:
            return _refuse(
                user_type, exceptions.ActionNotPermitted, f"an AO may not {action.value}"
            )
        relations = _relations(session, caller.ukprn, uln)
        if Relation.AWARDED not in relations:
            return _refuse(user_type, exceptions.NoRelation, "awarded no event of this learner")
        return Decision(user_type, relations=relations)
    if action in _ORG_ANYONE:
        return Decision(user_type)
    assert action in _ORG_RELATED, action
    relations = _relations(session, caller.ukprn, uln)
    if identified and action == Action.READ_RECORD:
        relations |= {Relation.IDENTIFIED}
    if not relations & _PROVIDER_RELATIONS:
        return _refuse(user_type, exceptions.NoRelation, "no relation to this learner")
    return Decision(user_type, relations=relations)


def _refuse(user_type: str, refusal: type[exceptions.AccessRefused], reason: str) -> Decision:
    return Decision(user_type, refusal, reason)


def _acting_type(session: Session, caller: Caller) -> tuple[str, Decision | None]:
    """The user type the caller acts as, or a refusal of its claim.

    SER needs no grant (it only narrows what a caller may see); LNR and AO need one; an
    organisation granted AO that claims ORG (the PLR's userType has no AO) acts as AO."""
    claimed = caller.user_type
    if claimed not in USER_TYPES:
        return claimed, _refuse(claimed, exceptions.ActionNotPermitted, "unknown user type")
    if claimed == SER:
        return SER, None
    grants = caller.grants
    if grants is None:
        query = select(AccessGrant.user_type).where(AccessGrant.ukprn == caller.ukprn)
        grants = frozenset(session.scalars(query))
    if claimed in (LNR, AO) and claimed not in grants:
        return claimed, _refuse(
            claimed, exceptions.UserTypeNotGranted, f"no {claimed} grant for this organisation"
        )
    if claimed == ORG and AO in grants:
        return AO, None
    return claimed, None


def _same_learner(session: Session, uln: str) -> set[str]:
    """Every ULN of the learner holding ``uln`` (its master's and the merged ones): one query."""
    asked = select(func.coalesce(Learner.merged_into_id, Learner.id)).where(Learner.uln == uln)
    master = asked.scalar_subquery()
    found = session.scalars(
        select(Learner.uln).where(or_(Learner.id == master, Learner.merged_into_id == master))
    )
    return set(found)


def _relations(session: Session, ukprn: str, uln: str | None) -> frozenset[Relation]:
    """How ``ukprn`` is related to the learner holding ``uln``: one query for all three."""
    if uln is None:
        return frozenset()
    ulns = _same_learner(session, uln)
    if not ulns:
        return frozenset()
    live = (LearningEvent.uln.in_(ulns), LearningEvent.withdrawn_at.is_(None))
    checks = {
        Relation.REGISTERED: select(Learner.id).where(
            Learner.uln.in_(ulns), Learner.registered_by_ukprn == ukprn
        ),
        Relation.SCHOOL: select(CensusPupil.upn)
        .join(Learner, Learner.id == CensusPupil.learner_id)
        .join(
            ProviderVerification,
            (ProviderVerification.verification_id == CensusPupil.laestab)
            & (ProviderVerification.authority == SCHOOL_AUTHORITY),
        )
        .where(Learner.uln.in_(ulns), ProviderVerification.ukprn == ukprn),
        Relation.REPORTED: select(LearningEvent.id).where(
            *live, LearningEvent.provider_ukprn == ukprn
        ),
        Relation.AWARDED: select(LearningEvent.id).where(
            *live, LearningEvent.awarding_organisation_ukprn == ukprn
        ),
    }
    row = session.execute(select(*(exists(query) for query in checks.values()))).one()
    return frozenset(relation for relation, held in zip(checks, row, strict=True) if held)
