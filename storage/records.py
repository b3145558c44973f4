"""SQLAlchemy models of learner records: learning events and the returns that loaded them.

A learning event belongs to the ULN it was loaded for. Events are keyed by where they came
from: ``source`` (``ILR``, ``NPD``, ``AO``), the data owner's UKPRN (``provider_ukprn``), the
``collection`` that owner returns full snapshots of (an ILR collection year such as ``1920``;
for CSV files the collection named on the command line) and the owner's own id for the event
(``source_event_id``; ILR: LearnRefNumber and AimSeqNumber). A later return of the same
collection that no longer holds an event withdraws it (``withdrawn_at``); withdrawn events are
never shown. A merged duplicate's events stay stored under its own ULN and are read under the
master (``miap.server.records.reading``), so an unmerge moves them back without a write.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from miap.storage.models import Base, BigId, utcnow


class LearningEvent(Base):
    """One learning event (a qualification aim, a result) of one ULN. The columns after the
    keys are the LearningEvent wire fields in snake case; ``outcome`` is the ILR Outcome."""

    __tablename__ = "learning_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uln: Mapped[str] = mapped_column(String(10), index=True)
    source: Mapped[str] = mapped_column(String(8))
    provider_ukprn: Mapped[str] = mapped_column(String(8))
    collection: Mapped[str] = mapped_column(String(16))
    source_event_id: Mapped[str] = mapped_column(String(64))
    #: The return that last loaded or changed the event, e.g. ``1920-03`` (year and serial).
    return_key: Mapped[str] = mapped_column(String(32))
    #: A digest of the stored content: a reload compares it instead of every column.
    digest: Mapped[str] = mapped_column(String(32))

    achievement_award_date: Mapped[dt.date | None] = mapped_column(Date)
    achievement_provider_name: Mapped[str | None] = mapped_column(String(255))
    achievement_provider_ukprn: Mapped[str | None] = mapped_column(String(8))
    awarding_organisation_name: Mapped[str | None] = mapped_column(String(255))
    awarding_organisation_ukprn: Mapped[str | None] = mapped_column(String(8))
    collection_type: Mapped[str | None] = mapped_column(String(8))
    credits: Mapped[int | None] = mapped_column(Integer)
    grade: Mapped[str | None] = mapped_column(String(16))
    language_for_assessment: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(2))
    participation_end_date: Mapped[dt.date | None] = mapped_column(Date)
    participation_start_date: Mapped[dt.date | None] = mapped_column(Date)
    qualification_type: Mapped[str | None] = mapped_column(String(64))
    restriction: Mapped[str | None] = mapped_column(String(16))
    return_number: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str | None] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(255))
    subject_code: Mapped[str | None] = mapped_column(String(32))
    under_data_challenge: Mapped[str | None] = mapped_column(String(1))
    #: DateLoaded on the wire: when the event was first loaded or last changed.
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index(
            "uq_learning_events_key",
            "source",
            "provider_ukprn",
            "collection",
            "source_event_id",
            unique=True,
        ),
    )


class RecordReturn(Base):
    """One load of one file: which snapshot it was, what it held, and what it changed."""

    __tablename__ = "record_returns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(8))
    provider_ukprn: Mapped[str] = mapped_column(String(8))
    collection: Mapped[str] = mapped_column(String(16))
    return_key: Mapped[str] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(255))
    #: SHA-256 of the file as read.
    content_hash: Mapped[str] = mapped_column(String(64))
    #: When the sender prepared the return (ILR Source/DateTime); a return older than the
    #: last one loaded for the same collection is refused.
    prepared_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    loaded: Mapped[int] = mapped_column(BigInteger, default=0)
    updated: Mapped[int] = mapped_column(BigInteger, default=0)
    unchanged: Mapped[int] = mapped_column(BigInteger, default=0)
    withdrawn: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Records read that are not learning events (ILR work-placement aims); unknown (NULL)
    #: for returns loaded before it was kept.
    skipped: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_record_returns_scope", "source", "provider_ukprn", "collection", "loaded_at"),
    )


class RecordReject(Base):
    """One event a load rejected, with where it was in the file and why (what the reject
    file says, kept so a reload of the same file can say it again without reading it)."""

    __tablename__ = "record_rejects"

    return_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("record_returns.id", ondelete="CASCADE"), primary_key=True
    )
    #: The event's position in the file (the staging row's ``pos``): the reject file's order.
    pos: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    place: Mapped[str] = mapped_column(Text)
    uln: Mapped[str | None] = mapped_column(Text)
    source_event_id: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
