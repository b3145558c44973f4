"""Reading a learner's record: the learning events of a ULN and of every ULN merged into it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from miap.storage.models import Learner, Provider
from miap.storage.records import LearningEvent


@dataclass(frozen=True)
class Event:
    """One learning event as the PLR shows it (the LearningEvent wire fields in snake case),
    with the ULN it was loaded for and where it came from."""

    id: int
    uln: str
    source: str
    provider_ukprn: str
    collection: str
    source_event_id: str
    return_key: str
    achievement_award_date: dt.date | None
    achievement_provider_name: str | None
    achievement_provider_ukprn: str | None
    awarding_organisation_name: str | None
    awarding_organisation_ukprn: str | None
    collection_type: str | None
    credits: int | None
    grade: str | None
    language_for_assessment: str | None
    level: str | None
    outcome: str | None
    participation_end_date: dt.date | None
    participation_start_date: dt.date | None
    qualification_type: str | None
    restriction: str | None
    return_number: str | None
    status: str | None
    subject: str | None
    subject_code: str | None
    under_data_challenge: str | None
    loaded_at: dt.datetime


_COLUMNS = [
    getattr(LearningEvent, name)
    for name in Event.__dataclass_fields__
    if name != "achievement_provider_name"
]


def events_of(session: Session, uln: str) -> list[Event]:
    """The live events of ``uln``'s learner and of every ULN merged into it.

    A merged duplicate's ULN resolves to its master first, so asking for either answers the
    same record. Withdrawn events are left out. The achievement provider's name, when the
    return did not carry one, is the provider register's name for its UKPRN. Ordered by
    participation start date (unknown last), then source, data owner and event id.
    """
    learner = session.execute(
        select(Learner.id, Learner.merged_into_id).where(Learner.uln == uln)
    ).first()
    if learner is None:
        return []
    master_id = learner.merged_into_id or learner.id
    ulns = select(Learner.uln).where(
        or_(Learner.id == master_id, Learner.merged_into_id == master_id)
    )
    name = func.coalesce(LearningEvent.achievement_provider_name, Provider.name)
    statement = (
        select(*_COLUMNS, name.label("achievement_provider_name"))
        .outerjoin(Provider, Provider.ukprn == LearningEvent.achievement_provider_ukprn)
        .where(LearningEvent.uln.in_(ulns), LearningEvent.withdrawn_at.is_(None))
        .order_by(
            LearningEvent.participation_start_date.is_(None),
            LearningEvent.participation_start_date,
            LearningEvent.source,
            LearningEvent.provider_ukprn,
            LearningEvent.collection,
            LearningEvent.source_event_id,
        )
    )
    return [Event(**row._asdict()) for row in session.execute(statement)]
