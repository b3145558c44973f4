"""Provider names from the register, for every route that shows one (LearnerService,
batches, PLR answers): the legal name, as the register holds it now."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from miap.storage.models import Provider


def provider_name(session: Session, ukprn: str | None) -> str | None:
    """The legal name of ``ukprn``, or None when it is not in the register."""
    if not ukprn:
        return None
    return session.scalar(select(Provider.name).where(Provider.ukprn == ukprn))


def provider_names(session: Session, ukprns: Iterable[str | None]) -> dict[str, str]:
    """UKPRN -> legal name for those of ``ukprns`` in the register, in one query."""
    wanted = sorted({ukprn for ukprn in ukprns if ukprn})
    if not wanted:
        return {}
    return dict(
        session.execute(
            select(Provider.ukprn, Provider.name).where(Provider.ukprn.in_(wanted))
        ).all()
    )
