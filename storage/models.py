"""SQLAlchemy models: the learner register, the provider register and the audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Constraint names are fixed so that migrations and both databases agree on them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Learner(Base):
    """One person on the register. Column names follow the LRS Learner element names."""

    __tablename__ = "learners"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uln: Mapped[str] = mapped_column(String(10), unique=True)
    title: Mapped[str | None] = mapped_column(String(35))
    given_name: Mapped[str] = mapped_column(String(35))
    middle_other_name: Mapped[str | None] = mapped_column(String(35))
    family_name: Mapped[str] = mapped_column(String(35))
    preferred_given_name: Mapped[str | None] = mapped_column(String(35))
    previous_family_name: Mapped[str | None] = mapped_column(String(35))
    family_name_at_age16: Mapped[str | None] = mapped_column(String(35))
    school_at_age16: Mapped[str | None] = mapped_column(String(254))
    address_line1: Mapped[str | None] = mapped_column(String(50))
    address_line2: Mapped[str | None] = mapped_column(String(50))
    address_town: Mapped[str | None] = mapped_column(String(50))
    address_county_or_city: Mapped[str | None] = mapped_column(String(50))
    postcode: Mapped[str] = mapped_column(String(9))
    date_of_address_capture: Mapped[dt.date | None] = mapped_column(Date)
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    place_of_birth: Mapped[str | None] = mapped_column(String(35))
    gender: Mapped[str] = mapped_column(String(1))
    email_address: Mapped[str | None] = mapped_column(String(254))
    nationality: Mapped[str | None] = mapped_column(String(3))
    scottish_candidate_number: Mapped[str | None] = mapped_column(String(9))
    verification_type: Mapped[str] = mapped_column(String(3))
    other_verification_description: Mapped[str | None] = mapped_column(String(255))
    tier_level: Mapped[str] = mapped_column(String(1))
    ability_to_share: Mapped[str] = mapped_column(String(1))
    learner_status: Mapped[str] = mapped_column(String(1))
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    registered_by_ukprn: Mapped[str | None] = mapped_column(String(8))
    #: Set by the learner through the PLR service (UpdateLearnerSubsetFields) only.
    telephone_number: Mapped[str | None] = mapped_column(String(18))

    # Matching keys, maintained by the domain layer on every write (see server/matching/engine.py).
    # A name key is the name transliterated to A-Z, which can be longer than the name (李 is LI).
    given_key: Mapped[str] = mapped_column(String(100))
    family_key: Mapped[str] = mapped_column(String(100))
    previous_family_key: Mapped[str | None] = mapped_column(String(100))
    postcode_key: Mapped[str] = mapped_column(String(9))
    family_at16_key: Mapped[str | None] = mapped_column(String(100))
    # Phonetic (Soundex) codes of the names: blocking keys that survive most typing errors.
    given_sound: Mapped[str | None] = mapped_column(String(8))
    family_sound: Mapped[str | None] = mapped_column(String(8))

    # A duplicate merged into its master by an administrator, and a withdrawn ULN.
    merged_into_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("learners.id"), index=True)
    #: How many duplicates are merged into this learner, so finds query LinkedULNs only when
    #: there are some. Kept by server/register/merging.py under the master's row lock.
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    deletion_reason: Mapped[str | None] = mapped_column(String(255))

    # VersionNumber on the wire: an UPDATE only lands if the row still has the version read.
    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        # One person, one ULN: the same demographics cannot be registered twice, even by two
        # servers racing each other.
        Index(
            "uq_learners_identity",
            "given_key",
            "family_key",
            "date_of_birth",
            "gender",
            "postcode_key",
            unique=True,
        ),
        # Blocking keys for finds (server/matching/engine.py): a candidate is read only through
        # one of these (or the identity index's leading name keys); never a scan.
        Index("ix_learners_dob_family_sound", "date_of_birth", "family_sound"),
        Index("ix_learners_dob_given_sound", "date_of_birth", "given_sound"),
        Index("ix_learners_postcode", "postcode_key"),
        Index("ix_learners_sounds_dob", "family_sound", "given_sound", "date_of_birth"),
        Index("ix_learners_registered_by_ukprn", "registered_by_ukprn"),
    )


class LearnerLink(Base):
    """One merge or unmerge of a duplicate ULN into (or out of) a master, as it happened."""

    __tablename__ = "learner_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    master_id: Mapped[int] = mapped_column(BigId, ForeignKey("learners.id"), index=True)
    duplicate_id: Mapped[int] = mapped_column(BigId, ForeignKey("learners.id"), index=True)
    action: Mapped[str] = mapped_column(String(8))  # "merge" or "unmerge"
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(255))


class Provider(Base):
    """A learning provider allowed to call the service (a row of the provider register)."""

    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ukprn: Mapped[str] = mapped_column(String(8), unique=True)
    organisation_ref: Mapped[str | None] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(3))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditEntry(Base):
    """Who did what to which ULN, when, through which route, and how it ended. Never holds
    demographics. Append-only: nothing in the code updates or deletes a row, and the database
    refuses it too (triggers of migration 0009)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    request_id: Mapped[str] = mapped_column(String(32))
    ukprn: Mapped[str | None] = mapped_column(String(8), index=True)
    user_name: Mapped[str | None] = mapped_column(String(35))
    #: LNR, ORG, AO or SER (``server/access/policy.py``); NULL on rows older than the policy.
    user_type: Mapped[str | None] = mapped_column(String(3))
    #: The way in: LearnerService, batch, PLR, SIF, portal, CLI (``server/register/audit.py``).
    route: Mapped[str | None] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(64))
    uln: Mapped[str | None] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(String(16))

    # A learner's audit is read newest first, a page at a time (ViewAudit, ``miap audit``).
    __table_args__ = (Index("ix_audit_log_uln_at", "uln", "at"),)


class AccessGrant(Base):
    """An organisation allowed to act as a user type other than a provider (ORG): a learner
    portal's organisation may send LNR requests, an awarding organisation AO, an analyst's SER.
    Without a grant an organisation's claim of that type is refused (``server/access``)."""

    __tablename__ = "access_grants"

    ukprn: Mapped[str] = mapped_column(String(8), primary_key=True)
    user_type: Mapped[str] = mapped_column(String(3), primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    granted_by: Mapped[str] = mapped_column(String(64))


# -- the durable work queue (server/work/): batches now; census runs and deliveries later -------


class WorkJob(Base):
    """A piece of work that runs later: its items are the queue (``server/work/queue.py``)."""

    __tablename__ = "work_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: Which handler runs its items, e.g. ``batch.register``.
    kind: Mapped[str] = mapped_column(String(64))
    #: Who may see the job (a UKPRN for provider batches); None for the service's own work.
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    #: Enqueueing the same key again returns the job already there (a retried submission).
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    #: The job's parameters as JSON (the job type, who submitted it, …).
    params: Mapped[str] = mapped_column(Text, default="{}")
    item_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class WorkItem(Base):
    """One unit of a job. Its outcome (``result``) is written in the same transaction that
    marks it done, so a worker killed mid-item loses or repeats nothing."""

    __tablename__ = "work_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(BigId, ForeignKey("work_jobs.id"))
    kind: Mapped[str] = mapped_column(String(64))
    #: Position in the job (0-based): outputs keep the order items were sent in.
    seq: Mapped[int] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)
    #: ``pending`` until its outcome is recorded, then ``done``.
    status: Mapped[str] = mapped_column(String(8), default="pending")
    #: The worker holding the item and until when; an expired lease may be taken by another.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires: Mapped[dt.datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    result: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("uq_work_items_job_id_seq", "job_id", "seq", unique=True),
        # Workers claim pending items in id order through this index.
        Index("ix_work_items_status_id", "status", "id"),
    )


# -- the school census (server/census/) ----------------------------------------------------------


class CensusRun(Base):
    """One load of one census file: the idempotency key is the file's content hash with the
    academic year, and two high-water marks (lines staged, lines settled) make it resumable."""

    __tablename__ = "census_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    academic_year: Mapped[str] = mapped_column(String(9))
    file_name: Mapped[str] = mapped_column(String(255))
    #: ``staging`` (reading the file), ``settling`` (deciding each row), ``done``.
    state: Mapped[str] = mapped_column(String(10), default="staging")
    #: Data lines read into ``census_rows`` so far, and whether the whole file is in.
    staged_lines: Mapped[int] = mapped_column(Integer, default=0)
    total_lines: Mapped[int | None] = mapped_column(Integer)
    #: Rows are settled in line order; every line at or below this one has its outcome.
    settled_line: Mapped[int] = mapped_column(Integer, default=0)
    #: The highest learner id when the run started: rows are matched against the register
    #: as it stood then (plus rows of the same file with the same identity).
    register_high_id: Mapped[int | None] = mapped_column(BigId)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    new: Mapped[int] = mapped_column(Integer, default=0)
    linked: Mapped[int] = mapped_column(Integer, default=0)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    possible: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index(
            "uq_census_runs_content_hash_academic_year",
            "content_hash",
            "academic_year",
            unique=True,
        ),
    )


class CensusRow(Base):
    """A census row staged for its run, with its matching keys, and later its outcome.
    Settled rows are deleted when the run is done; rejected and possible ones are kept."""

    __tablename__ = "census_rows"

    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("census_runs.id"), primary_key=True)
    #: Line number in the file (the header is line 1).
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    upn: Mapped[str | None] = mapped_column(String(13))
    laestab: Mapped[str | None] = mapped_column(String(7))
    nc_year: Mapped[str | None] = mapped_column(String(3))
    given_name: Mapped[str | None] = mapped_column(String(35))
    middle_other_name: Mapped[str | None] = mapped_column(String(35))
    family_name: Mapped[str | None] = mapped_column(String(35))
    preferred_given_name: Mapped[str | None] = mapped_column(String(35))
    preferred_family_name: Mapped[str | None] = mapped_column(String(35))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(1))
    postcode: Mapped[str | None] = mapped_column(String(9))
    given_key: Mapped[str | None] = mapped_column(String(100))
    family_key: Mapped[str | None] = mapped_column(String(100))
    postcode_key: Mapped[str | None] = mapped_column(String(9))
    given_sound: Mapped[str | None] = mapped_column(String(8))
    family_sound: Mapped[str | None] = mapped_column(String(8))
    #: Comma-separated blocking values the set-based candidate check reads: the Soundex codes
    #: of the names (and given-name variants), and the given name's variant keys.
    sounds: Mapped[str | None] = mapped_column(Text)
    givens: Mapped[str | None] = mapped_column(Text)
    #: A ULN drawn for the row at staging (used if it turns out new) or the ULN it got.
    uln: Mapped[str | None] = mapped_column(String(10))
    #: ``new``, ``linked``, ``matched``, ``possible`` or ``rejected``; NULL while pending.
    outcome: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(255))
    learner_id: Mapped[int | None] = mapped_column(BigId)
    #: The first line of the file with the same identity (the same child under another UPN).
    leader_line: Mapped[int | None] = mapped_column(Integer)

    # Migration 0007 leaves half of each page free on PostgreSQL (fillfactor 50), so updating a
    # row is a heap-only update; a storage setting, not part of the model.


class CensusPupil(Base):
    """A UPN linked to the learner (ULN) it belongs to, and the school that last returned it."""

    __tablename__ = "census_pupils"

    upn: Mapped[str] = mapped_column(String(13), primary_key=True)
    learner_id: Mapped[int] = mapped_column(BigId, ForeignKey("learners.id"), index=True)
    laestab: Mapped[str] = mapped_column(String(7), index=True)
    nc_year: Mapped[str | None] = mapped_column(String(3))
    academic_year: Mapped[str] = mapped_column(String(9))
    first_run_id: Mapped[int] = mapped_column(BigId)
    last_run_id: Mapped[int] = mapped_column(BigId)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    # Fillfactor 50 on PostgreSQL (migration 0007), so a reload's update is heap-only.
