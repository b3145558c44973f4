"""Merged and withdrawn ULNs: the administrator's merge, unmerge and withdrawal, and the reports.

A ULN is in exactly one state: live, merged into a live master, or withdrawn. Merges are one
level deep: a master is never itself merged, and a ULN that is the master of others cannot be
merged (unmerge its duplicates first), nor withdrawn. A withdrawn ULN stays in the register, so
its unique index keeps it from ever being issued again. Every change is written to
``learner_links`` (merges and unmerges, as they happened) and to the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from miap.server import exceptions
from miap.server.register import audit
from miap.server.register.identifiers import is_valid_uln
from miap.storage.models import Learner, LearnerLink, utcnow

MERGE = "merge"
UNMERGE = "unmerge"

#: Longest reason stored (learner_links.reason, learners.deletion_reason).
MAX_REASON = 255
#: Longest administrator name the audit log holds (audit_log.user_name).
MAX_BY = 35


class MergeError(exceptions.AdminRefusal):
    """An administrative change refused; nothing has been written."""


def _lock(session: Session, ulns: Collection[str]) -> dict[str, Learner]:
    """The learners holding ``ulns``, locked against concurrent changes (in id order)."""
    for uln in ulns:
        if not is_valid_uln(uln):
            raise MergeError(f"{uln} is not a valid ULN")
    statement = select(Learner).where(Learner.uln.in_(ulns)).order_by(Learner.id).with_for_update()
    found = {learner.uln: learner for learner in session.scalars(statement)}
    for uln in ulns:
        if uln not in found:
            raise MergeError(f"no learner holds ULN {uln}")
    return found


def _duplicate_ulns(session: Session, master: Learner) -> list[str]:
    statement = select(Learner.uln).where(Learner.merged_into_id == master.id).order_by(Learner.uln)
    return list(session.scalars(statement))


def _check_text(by: str, reason: str | None) -> None:
    if not by.strip() or len(by) > MAX_BY:
        raise MergeError(f"the administrator's name must be 1 to {MAX_BY} characters")
    if reason is not None and len(reason) > MAX_REASON:
        raise MergeError(f"the reason must be at most {MAX_REASON} characters")


def _audit(session: Session, by: str, operation: str, uln: str, outcome: str, route: str) -> None:
    audit.record_administration(
        session, by=by, operation=operation, outcome=outcome, ulns=[uln], route=route
    )


def merge(
    session: Session,
    master_uln: str,
    duplicate_uln: str,
    by: str,
    reason: str | None = None,
    route: str = audit.CLI,
) -> LearnerLink:
    """Merge ``duplicate_uln`` into ``master_uln``: finds of the duplicate answer the master.
    ``route`` (as for ``unmerge`` and ``withdraw``): the way in, for the audit row."""
    _check_text(by, reason)
    if master_uln == duplicate_uln:
        raise MergeError("a ULN cannot be merged into itself")
    found = _lock(session, (master_uln, duplicate_uln))
    master, duplicate = found[master_uln], found[duplicate_uln]
    for learner in (master, duplicate):
        if learner.deleted_at is not None:
            raise MergeError(f"ULN {learner.uln} has been withdrawn")
    if master.merged_into_id is not None:
        raise MergeError(f"ULN {master_uln} is itself merged into another ULN: use that master")
    if duplicate.merged_into_id is not None:
        raise MergeError(f"ULN {duplicate_uln} is already merged into another ULN")
    if held := _duplicate_ulns(session, duplicate):
        raise MergeError(
            f"ULN {duplicate_uln} is the master of {', '.join(held)}: unmerge those first"
        )
    duplicate.merged_into_id = master.id
    duplicate.updated_at = utcnow()
    _count_duplicates(session, master, +1)
    return _link(session, MERGE, master, duplicate, by, reason, route)


def unmerge(
    session: Session,
    master_uln: str,
    duplicate_uln: str,
    by: str,
    reason: str | None = None,
    route: str = audit.CLI,
) -> LearnerLink:
    """Split ``duplicate_uln`` off ``master_uln`` again: both answer for themselves."""
    _check_text(by, reason)
    found = _lock(session, {master_uln, duplicate_uln})
    master, duplicate = found[master_uln], found[duplicate_uln]
    if duplicate.merged_into_id != master.id:
        raise MergeError(f"ULN {duplicate_uln} is not merged into {master_uln}")
    duplicate.merged_into_id = None
    duplicate.updated_at = utcnow()
    _count_duplicates(session, master, -1)
    return _link(session, UNMERGE, master, duplicate, by, reason, route)


def _count_duplicates(session: Session, master: Learner, change: int) -> None:
    """Keep ``duplicate_count`` in step; a Core update, so the master's VersionNumber (which
    guards the fields a MIS sends back) does not move."""
    session.execute(
        update(Learner)
        .where(Learner.id == master.id)
        .values(duplicate_count=Learner.duplicate_count + change)
        .execution_options(synchronize_session=False)
    )
    session.expire(master, ["duplicate_count"])


def _link(
    session: Session,
    action: str,
    master: Learner,
    duplicate: Learner,
    by: str,
    reason: str | None,
    route: str,
) -> LearnerLink:
    link = LearnerLink(
        master_id=master.id, duplicate_id=duplicate.id, action=action, by=by, reason=reason
    )
    session.add(link)
    operation, outcome = (
        ("learnerMerge", "MERGED") if action == MERGE else ("learnerUnmerge", "UNMERGED")
    )
    _audit(session, by, operation, duplicate.uln, outcome, route)
    session.flush()
    return link


def withdraw(session: Session, uln: str, reason: str, by: str, route: str = audit.CLI) -> Learner:
    """Withdraw ``uln``: finds answer no match, and the number is never issued again."""
    _check_text(by, reason)
    if not reason.strip():
        raise MergeError("a reason is required to withdraw a ULN")
    learner = _lock(session, [uln])[uln]
    if learner.deleted_at is not None:
        raise MergeError(f"ULN {uln} is already withdrawn")
    if learner.merged_into_id is not None:
        raise MergeError(f"ULN {uln} is merged into another ULN: unmerge it first")
    if held := _duplicate_ulns(session, learner):
        raise MergeError(f"ULN {uln} is the master of {', '.join(held)}: unmerge those first")
    learner.deleted_at = utcnow()
    learner.deletion_reason = reason
    learner.updated_at = learner.deleted_at
    _audit(session, by, "learnerDelete", uln, "DELETED", route)
    session.flush()
    return learner


# -- reading ----------------------------------------------------------------------------------


def linked_ulns(session: Session, masters: Iterable[Learner]) -> dict[int, list[str]]:
    """The ULNs merged into each of ``masters``, by master id (one query; absent when none)."""
    ids = [learner.id for learner in masters if learner.duplicate_count]
    if not ids:
        return {}
    statement = (
        select(Learner.merged_into_id, Learner.uln)
        .where(Learner.merged_into_id.in_(ids))
        .order_by(Learner.uln)
    )
    linked: dict[int, list[str]] = {}
    for master_id, uln in session.execute(statement):
        linked.setdefault(master_id, []).append(uln)
    return linked


@dataclass(frozen=True)
class LinkEntry:
    """One merge or unmerge in a report: both learners as they are now, and when it happened."""

    action: str
    master: Learner
    duplicate: Learner
    at: dt.datetime


def _bounds(from_date: dt.date, to_date: dt.date | None) -> tuple[dt.datetime, dt.datetime | None]:
    """Both dates inclusive, as a half-open range of UTC timestamps (no end: up to now)."""
    start = dt.datetime.combine(from_date, dt.time.min)
    if to_date is None:
        return start, None
    return start, dt.datetime.combine(to_date + dt.timedelta(days=1), dt.time.min)


def link_report(session: Session, from_date: dt.date, to_date: dt.date | None) -> list[LinkEntry]:
    """Merges and unmerges from ``from_date`` to ``to_date`` (both inclusive), oldest first."""
    start, end = _bounds(from_date, to_date)
    master, duplicate = aliased(Learner), aliased(Learner)
    statement = (
        select(LearnerLink.action, master, duplicate, LearnerLink.at)
        .join(master, master.id == LearnerLink.master_id)
        .join(duplicate, duplicate.id == LearnerLink.duplicate_id)
        .where(LearnerLink.at >= start)
        .order_by(LearnerLink.at, LearnerLink.id)
    )
    if end is not None:
        statement = statement.where(LearnerLink.at < end)
    return [LinkEntry(*row) for row in session.execute(statement)]


def deleted_report(
    session: Session, from_date: dt.date, to_date: dt.date | None
) -> list[tuple[str, dt.datetime]]:
    """``(ULN, withdrawn at)`` from ``from_date`` to ``to_date`` (both inclusive), oldest first."""
    start, end = _bounds(from_date, to_date)
    statement = (
        select(Learner.uln, Learner.deleted_at)
        .where(Learner.deleted_at >= start)
        .order_by(Learner.deleted_at, Learner.uln)
    )
    if end is not None:
        statement = statement.where(Learner.deleted_at < end)
    return [(uln, at) for uln, at in session.execute(statement)]
