"""A learner's record as one caller may see it: the domain behind the PLR service and the
LearnerService's getLearnerRecord.

Each function asks the access policy first (``policy.decide``), then verifies the details
given against the ULN, then applies the learner's consent and the events' restrictions
(``sharing``). Nothing is cached: a learner's opt-out or a restriction takes effect on the
next request. Domain values only; the transports turn them into wire elements and codes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from miap.server import exceptions
from miap.server.access import sharing
from miap.server.access.policy import LNR, Action, Decision, decide
from miap.server.matching.engine import Matcher, VerifyQuery
from miap.server.outcomes import Outcome
from miap.server.records.reading import Event, events_of
from miap.server.register import learners
from miap.server.register.auth import Caller
from miap.server.ukrlp.names import provider_names
from miap.storage.models import Learner, utcnow

_VERIFIED = frozenset({Outcome.VERIFIED, Outcome.VERIFIED_LINKED})


@dataclass
class LearningRecord:
    """The answer to a learning-record request."""

    outcome: Outcome
    incoming_uln: str
    #: The ULN answered for (the master's for a merged duplicate); None when not verified.
    found_uln: str | None = None
    #: The learner's stored details (for getLearnerRecord); None unless the record is shown.
    learner: Learner | None = None
    events: list[Event] = field(default_factory=list)
    user_type: str = "ORG"

    @property
    def disclosed(self) -> list[str]:
        return list(dict.fromkeys(u for u in (self.incoming_uln, self.found_uln) if u))


def read_record(
    session: Session,
    matcher: Matcher,
    caller: Caller,
    uln: str,
    given_name: str,
    family_name: str,
    date_of_birth: dt.date | None = None,
    gender: str | None = None,
) -> LearningRecord:
    """The learning events of the learner holding ``uln``, as ``caller`` may see them.

    Refusals that do not depend on the learner (a service caller, a learner asking for
    someone else, a claim without its grant) come before anything is looked at, so they
    disclose nothing; then the details must verify (``RECORD_NOT_VERIFIED`` otherwise); then
    a provider must be related to the learner or have given full demographics."""
    learners.require_valid_uln(uln)
    first = decide(session, caller, Action.READ_RECORD, uln)
    if first.refusal is not None and first.refusal is not exceptions.NoRelation:
        first.enforce()
    query = VerifyQuery(given_name, family_name, date_of_birth, gender)
    verification = learners.verify(session, matcher, uln, query)
    if verification.code not in _VERIFIED:
        return LearningRecord(Outcome.RECORD_NOT_VERIFIED, uln, user_type=first.user_type)
    learner = verification.learner
    decision = first
    if first.refusal is not None:
        # No relation: full demographics (now verified) may still identify the learner.
        identified = date_of_birth is not None and gender is not None
        decision = decide(session, caller, Action.READ_RECORD, uln, identified=identified)
        decision.enforce()
    linked = verification.code == Outcome.VERIFIED_LINKED
    record = LearningRecord(
        Outcome.RECORD_LINKED if linked else Outcome.RECORD_FOUND,
        uln,
        learner.uln,
        user_type=decision.user_type,
    )
    if decision.user_type != LNR and not sharing.may_share(learner.ability_to_share):
        record.outcome = Outcome.NOT_SHARED
        return record
    record.learner = learner
    record.events = _with_names(
        session,
        [
            event
            for event in events_of(session, learner.uln)
            if sharing.visible(event, decision.user_type, caller.ukprn)
        ],
    )
    return record


def _with_names(session: Session, events: list[Event]) -> list[Event]:
    """Events with the awarding organisation's name from the provider register where the
    return carried none (the achievement provider's is filled by ``events_of``)."""
    wanted = {
        e.awarding_organisation_ukprn
        for e in events
        if e.awarding_organisation_ukprn and not e.awarding_organisation_name
    }
    if not wanted:
        return events
    names = provider_names(session, wanted)
    return [
        dataclasses.replace(e, awarding_organisation_name=names[e.awarding_organisation_ukprn])
        if not e.awarding_organisation_name and e.awarding_organisation_ukprn in names
        else e
        for e in events
    ]


@dataclass
class LearnerAnswer:
    outcome: Outcome
    incoming_uln: str
    learner: Learner | None = None
    user_type: str = "ORG"

    @property
    def disclosed(self) -> list[str]:
        found = self.learner.uln if self.learner is not None else None
        return list(dict.fromkeys(u for u in (self.incoming_uln, found) if u))


def learner_by_uln(
    session: Session,
    matcher: Matcher,
    caller: Caller,
    uln: str,
    given_name: str,
    family_name: str,
) -> LearnerAnswer:
    """The learner's stored details, when the names agree (EXACT, LINKED or NO_MATCH)."""
    learners.require_valid_uln(uln)
    decision = decide(session, caller, Action.READ_LEARNER, uln).enforce()
    found = learners.find_by_uln(session, matcher, uln, given_name, family_name)
    learner = found.learners[0] if found.learners else None
    return LearnerAnswer(found.code, uln, learner, decision.user_type)


#: The fields a learner keeps themselves, as the domain names them (learners' columns).
SUBSET_FIELDS = (
    "email_address",
    "telephone_number",
    "school_at_age16",
    "preferred_given_name",
)


def update_subset(
    session: Session,
    caller: Caller,
    uln: str,
    version: int,
    values: dict[str, str | None],
    ability_to_share: int,
) -> tuple[Outcome, Learner, Decision]:
    """Set the learner's own fields (each as sent: absent clears it) and their consent
    (PLR ``-1|0|1``), only if ``version`` is still the stored VersionNumber."""
    learners.require_valid_uln(uln)
    if ability_to_share not in sharing.PLR_TO_STORED:
        raise exceptions.InvalidDetails(f"abilityToShare {ability_to_share} is not -1, 0 or 1")
    decision = decide(session, caller, Action.UPDATE_SUBSET, uln).enforce()
    learner = learners.learner_by_uln(session, uln)
    if learner is None:
        raise exceptions.LearnerNotFound(f"ULN {uln}")
    if learner.deleted_at is not None:
        raise exceptions.UlnWithdrawn(f"ULN {uln}")
    if learner.merged_into_id is not None:
        raise exceptions.UlnMerged(f"ULN {uln}: update its master")
    if learner.version != version:
        raise exceptions.VersionConflict(f"VersionNumber {version} is stale; ULN {uln}")
    for name in SUBSET_FIELDS:
        setattr(learner, name, values.get(name))
    learner.ability_to_share = sharing.PLR_TO_STORED[ability_to_share]
    learner.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError:
        raise exceptions.VersionConflict(f"VersionNumber {version} is stale; ULN {uln}") from None
    return Outcome.SUBSET_UPDATED, learner, decision


def verified_learner(
    session: Session, matcher: Matcher, uln: str, given_name: str, family_name: str
) -> Learner:
    """The learner holding ``uln`` (its master if merged) when the names agree; refuses
    (``LearnerNotVerified``) otherwise, without saying which part failed."""
    learners.require_valid_uln(uln)
    found = learners.find_by_uln(session, matcher, uln, given_name, family_name)
    if not found.learners:
        raise exceptions.LearnerNotVerified(f"ULN {uln}")
    return found.learners[0]


def same_learner_ulns(session: Session, learner: Learner) -> list[str]:
    """The learner's ULN and every ULN merged into it."""
    master = learner.merged_into_id or learner.id
    rows = session.scalars(
        select(Learner.uln).where(or_(Learner.id == master, Learner.merged_into_id == master))
    )
    return sorted(rows)
