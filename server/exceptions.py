"""Every refusal the domain can raise, in one place.

Domain code (register, matching, and each capability after them) raises these with a plain
explanation and never a wire code; each transport holds one table from these classes to its own
codes (``server/soap/faults.py`` for the SOAP services). A refusal is raised before anything is
written, so the caller's transaction rolls back nothing half-done.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the register refuses; ``str(error)`` says why, in words safe to show."""


class InvalidDetails(DomainError):
    """The details break a rule no schema can express (a calendar date, a cross-field rule)."""


class InvalidUln(DomainError):
    """A ULN fails its check digit."""


class LearnerNotFound(DomainError):
    """No learner holds the ULN to be changed."""


class VersionConflict(DomainError):
    """The learner changed since the caller read it (optimistic concurrency)."""


class WouldDuplicate(DomainError):
    """The change would make this learner identical to another registered learner."""


class UlnMerged(DomainError):
    """The ULN was merged into a master; change the master instead."""


class UlnWithdrawn(DomainError):
    """The ULN was withdrawn; it answers as never issued and cannot change."""


class DetailsNotStorable(DomainError):
    """The details passed every rule but the register could not store them as given."""


class UlnsExhausted(DomainError):
    """No free ULN could be drawn (a run of collisions that should never happen)."""


class IdentityMissing(DomainError):
    """The caller named no organisation."""


class AuthenticationFailed(DomainError):
    """Unknown organisation or wrong password (the two are not told apart)."""


class ProviderNotActive(DomainError):
    """The organisation exists but its register status does not allow it to call."""


class AdminRefusal(DomainError):
    """An administrator's change refused (merges, withdrawals, the provider register)."""


class BatchCountMismatch(DomainError):
    """A batch's LearnerRecordCount differs from the learners it holds; nothing was queued."""


class JobNotFound(DomainError):
    """No job of the caller's with that JobID (another provider's job answers the same)."""


# -- the access policy (server/access/policy.py): one class per reason a caller is refused ------


class AccessRefused(DomainError):
    """The access policy refuses this caller this action on this learner (``uln``: the
    learner asked about, for the audit entry of the refusal)."""

    def __init__(self, message: str = "", uln: str | None = None) -> None:
        super().__init__(message)
        self.uln = uln


class NotOwnRecord(AccessRefused):
    """A learner (user type LNR) asked for someone else's record."""


class NoRelation(AccessRefused):
    """The organisation has no relation to the learner that allows this (it did not register
    them, report or award an event for them, or identify them by full demographics)."""


class AggregateOnly(AccessRefused):
    """A service or analyst caller (SER) asked for an individual's data: aggregates only."""


class UserTypeNotGranted(AccessRefused):
    """The organisation claimed a user type (LNR, AO) it holds no grant for."""


class ActionNotPermitted(AccessRefused):
    """This user type may never do this action, whoever the learner."""


class LearnerNotVerified(DomainError):
    """The names (and details) given do not verify against the ULN asked for."""
