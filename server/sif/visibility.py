"""Which learners an agent may see: the zone's one visibility rule (``audience``).

An agent acting for a school sees a learner whose UPN that school linked, by a LearnerPersonal
event of its own agent (``sif_pupil_links``) or by returning them in the census
(``census_pupils``). Beyond that, every agent is its provider, and a provider sees what the
project's access policy lets it read (``server/access/policy.py``: the learners it registered
or returned learning for). Never another school's pupils.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select, union
from sqlalchemy.orm import Session

from miap.server.access.policy import Action, decide
from miap.server.register.auth import Caller
from miap.storage.models import CensusPupil, Learner
from miap.storage.sif import SifAgent, SifPupilLink


def _person_ids(learner: Learner):  # noqa: ANN202 - a select of ids
    """The learner and every duplicate merged into it (a UPN may be linked to either)."""
    return select(Learner.id).where(
        or_(Learner.id == learner.id, Learner.merged_into_id == learner.id)
    )


def audience(session: Session, agents: Sequence[SifAgent], learner: Learner) -> list[SifAgent]:
    """Those of ``agents`` that may see ``learner`` (its ULN and details) in this zone: the
    agents of schools that linked the learner's UPN (one query for all of them), then any
    whose provider the access policy lets read the learner (asked once per provider)."""
    ids = _person_ids(learner)
    schools = set(
        session.scalars(
            union(
                select(SifPupilLink.laestab).where(SifPupilLink.learner_id.in_(ids)),
                select(CensusPupil.laestab).where(CensusPupil.learner_id.in_(ids)),
            )
        )
    )
    allowed: dict[str, bool] = {}
    seen = []
    for agent in agents:
        if agent.laestab is not None and agent.laestab in schools:
            seen.append(agent)
            continue
        if agent.ukprn not in allowed:
            caller = Caller(agent.ukprn, agent.source_id)
            allowed[agent.ukprn] = decide(session, caller, Action.READ_LEARNER, learner.uln).allowed
        if allowed[agent.ukprn]:
            seen.append(agent)
    return seen


def sees(session: Session, agent: SifAgent, learner: Learner) -> bool:
    """May ``agent`` see ``learner``? (``audience`` of one.)"""
    return bool(audience(session, [agent], learner))


def candidates(session: Session, agent: SifAgent):  # noqa: ANN201 - a select of ids
    """Ids of the learners ``sees`` may allow without a search: the school's linked pupils
    and the provider's registrations (each still passes through ``sees``)."""
    chosen = [select(Learner.id).where(Learner.registered_by_ukprn == agent.ukprn)]
    if agent.laestab is not None:
        chosen.append(select(SifPupilLink.learner_id).where(SifPupilLink.laestab == agent.laestab))
        chosen.append(select(CensusPupil.learner_id).where(CensusPupil.laestab == agent.laestab))
    return union(*chosen)
