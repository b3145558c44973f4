"""The learner's consent (AbilityToShare) and event restrictions: what a caller allowed by the
policy still may not see.

AbilityToShare is stored as the LearnerService sends it (``0|1|2``); the PLR speaks ``-1|0|1``.
The one mapping (``docs/access.md``):

=========  =====  =====================================================
stored     PLR    meaning
=========  =====  =====================================================
``0``      ``0``  the privacy notice has not been seen
``1``      ``1``  notice seen, the learner agrees to share: may share
``2``      ``-1`` no agreement on record (seen and declined; "not provided")
=========  =====  =====================================================

Only ``1`` lets anyone but the learner see the learning record, and it is read on every
request (no cache), so an opt-out takes effect on the next request on every route.

Restriction (a LearningEvent's ``Restriction``; ``docs/plr.md``):

* absent, empty or ``N`` -- no restriction;
* ``P`` -- private to its owner: the learner and the organisation that returned or awarded the
  event only;
* ``L`` -- the learner only;
* anything else is treated as ``L`` (an unknown restriction never widens who sees an event).
"""

from __future__ import annotations

from miap.server.access.policy import AO, LNR
from miap.server.records.reading import Event

STORED_TO_PLR = {"0": 0, "1": 1, "2": -1}
PLR_TO_STORED = {plr: stored for stored, plr in STORED_TO_PLR.items()}
AGREES = "1"

UNRESTRICTED = frozenset({"", "N"})
OWNER_ONLY = "P"
LEARNER_ONLY = "L"


def may_share(ability_to_share: str | None) -> bool:
    """Whether the learner agreed that their record may be shown to others."""
    return ability_to_share == AGREES


def plr_value(stored: str | None) -> int:
    """The PLR's AbilityToShare for a stored value (nothing stored: ``-1``, not provided)."""
    return STORED_TO_PLR.get(stored or "", -1)


def visible(event: Event, user_type: str, ukprn: str) -> bool:
    """Whether a caller of ``user_type`` from ``ukprn`` may see ``event``: its restriction,
    and for an awarding organisation only the events it awarded."""
    owner = ukprn in (event.provider_ukprn, event.awarding_organisation_ukprn)
    if user_type == AO and event.awarding_organisation_ukprn != ukprn:
        return False
    restriction = (event.restriction or "").strip().upper()
    if restriction in UNRESTRICTED or user_type == LNR:
        return True
    return restriction == OWNER_ONLY and owner
