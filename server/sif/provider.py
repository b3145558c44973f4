"""The zone's built-in provider of LearnerPersonal: the LRS register seen through SIF UK.

A school's Add or Change event is matched or registered exactly as registerSingleLearner
would (``register/learners.py`` with the shared matcher: an exact duplicate is the learner,
anyone else is registered with a new ULN), and the school's UPN is linked to the learner. A
request is answered from the register under the zone's visibility rule
(``visibility.sees``), or, for a full set of demographics, by the matcher as a find by
demographics would be (at most ten learners).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from miap.server.access.policy import Action, decide
from miap.server.census.pupils import ABILITY_TO_SHARE, UNKNOWN_POSTCODE, VERIFICATION_TYPE
from miap.server.matching.engine import MAX_MATCHES, Demographics, Matcher
from miap.server.outcomes import Outcome
from miap.server.register import learners
from miap.server.register.auth import Caller
from miap.server.register.identifiers import is_valid_uln, is_valid_upn
from miap.server.sif import visibility
from miap.server.sif.codes import Problem, SifRefusal
from miap.server.sif.schema import q, sequence
from miap.storage.models import CensusPupil, Learner, utcnow
from miap.storage.sif import SifAgent, SifPupilLink

#: SIF UK gender and the LRS gender code.
GENDER_TO_LRS = {"M": "1", "F": "2", "U": "0", "W": "9"}
GENDER_TO_SIF = {value: key for key, value in GENDER_TO_LRS.items()}
#: Query paths (SIF_Element of a condition) we answer, and the field each names.
QUERY_FIELDS = {
    "UPN": "upn",
    "ULN": "uln",
    "PersonalInformation/Name/FamilyName": "family_name",
    "PersonalInformation/Name/GivenName": "given_name",
    "PersonalInformation/Demographics/BirthDate": "date_of_birth",
    "PersonalInformation/Demographics/Gender": "gender",
    "PersonalInformation/Address/PostCode": "postcode",
}
#: A query naming all of these searches the whole register, as a find by demographics does.
FULL_DEMOGRAPHICS = frozenset({"family_name", "given_name", "date_of_birth", "gender"})
_RefIdNamespace = uuid.UUID("6f1f8a39-2c8e-4a9b-9a57-52a1d0c6f3b1")


@dataclass
class Pupil:
    """What a LearnerPersonal event says about a pupil."""

    ref_id: str
    upn: str | None
    details: dict


def _text(element: etree._Element, path: str) -> str | None:
    value = element.findtext(path)
    value = value.strip() if value is not None else None
    return value or None


def read_pupil(element: etree._Element) -> Pupil:
    """A schema-valid LearnerPersonal as registration details (LRS gender codes)."""
    name = element.find(f"{q('PersonalInformation')}/{q('Name')}")
    demographics = f"{q('PersonalInformation')}/{q('Demographics')}/"
    given = _text(name, q("GivenName")) if name is not None else None
    family = _text(name, q("FamilyName")) if name is not None else None
    born = _text(element, demographics + q("BirthDate"))
    gender = _text(element, demographics + q("Gender"))
    missing = [
        label
        for label, value in (
            ("PersonalInformation/Name/GivenName", given),
            ("PersonalInformation/Name/FamilyName", family),
            ("PersonalInformation/Demographics/BirthDate", born),
            ("PersonalInformation/Demographics/Gender", gender),
        )
        if value is None
    ]
    if missing:
        raise SifRefusal(Problem.MISSING_MANDATORY, "LearnerPersonal needs " + ", ".join(missing))
    upn = _text(element, q("UPN"))
    if upn is not None and not is_valid_upn(upn):
        raise SifRefusal(Problem.INVALID_VALUE, f"UPN {upn} fails its check letter")
    postcode = _text(element, f"{q('PersonalInformation')}/{q('Address')}/{q('PostCode')}")
    details = {
        "given_name": given,
        "family_name": family,
        "middle_other_name": _text(name, q("MiddleNames")),
        "preferred_given_name": _text(name, q("PreferredGivenName")),
        "title": _text(name, q("Title")),
        "date_of_birth": dt.date.fromisoformat(born),
        "gender": GENDER_TO_LRS[gender],
        "postcode": " ".join(postcode.upper().split()) if postcode else UNKNOWN_POSTCODE,
        "verification_type": VERIFICATION_TYPE,
        "ability_to_share": ABILITY_TO_SHARE,
    }
    return Pupil(ref_id=element.get("RefId"), upn=upn, details=details)


def linked_learner(session: Session, laestab: str, upn: str) -> Learner | None:
    """The learner the school's UPN is linked to (by an event, or by the census)."""
    link = session.get(SifPupilLink, (laestab, upn))
    learner_id = link.learner_id if link is not None else None
    if learner_id is None:
        census = session.get(CensusPupil, upn)
        if census is not None and census.laestab == laestab:
            learner_id = census.learner_id
    return _answering(session, session.get(Learner, learner_id)) if learner_id else None


def _answering(session: Session, learner: Learner | None) -> Learner | None:
    """The learner that answers for ``learner``: its master if merged, None if withdrawn."""
    if learner is None or learner.deleted_at is not None:
        return None
    if learner.merged_into_id is not None:
        return session.get(Learner, learner.merged_into_id)
    return learner


def match_or_register(
    session: Session, matcher: Matcher, agent: SifAgent, pupil: Pupil
) -> tuple[Learner, Outcome]:
    """The learner of a school's event: the one its UPN is linked to, else the exact
    duplicate a registration would be refused for, else a new registration (the school's
    provider registers it); then the UPN is linked. Outcome EXACT or REGISTERED."""
    learner = None
    if pupil.upn is not None and agent.laestab is not None:
        learner = linked_learner(session, agent.laestab, pupil.upn)
    outcome = Outcome.EXACT
    if learner is None:
        person = learners.demographics_of(pupil.details)
        learner = matcher.duplicate_of(session, person)
        if learner is None:
            code, uln = learners.register(
                session, matcher, pupil.details, agent.ukprn, searched=True
            )
            if code == Outcome.REGISTERED:
                learner, outcome = learners.learner_by_uln(session, uln), Outcome.REGISTERED
            else:  # registered by someone else in between: that one is the learner
                learner = matcher.duplicate_of(session, person)
                if learner is None:
                    raise SifRefusal(Problem.EVENT_NOT_PROCESSED, "learner could not be stored")
        learner = _answering(session, learner) or learner
    if pupil.upn is not None and agent.laestab is not None:
        link = session.get(SifPupilLink, (agent.laestab, pupil.upn))
        if link is None:
            session.add(
                SifPupilLink(
                    laestab=agent.laestab,
                    upn=pupil.upn,
                    learner_id=learner.id,
                    ref_id=pupil.ref_id,
                    linked_at=utcnow(),
                )
            )
        else:
            link.learner_id, link.ref_id = learner.id, pupil.ref_id
        session.flush()
    return learner, outcome


# -- LearnerPersonal out ---------------------------------------------------------------------


def _school_link(session: Session, agent: SifAgent, learner: Learner) -> SifPupilLink | None:
    if agent.laestab is None:
        return None
    return session.scalars(
        select(SifPupilLink)
        .join(Learner, Learner.id == SifPupilLink.learner_id)
        .where(
            SifPupilLink.laestab == agent.laestab,
            (Learner.id == learner.id) | (Learner.merged_into_id == learner.id),
        )
        .order_by(SifPupilLink.linked_at.desc())
        .limit(1)
    ).first()


def ref_id_for(learner: Learner) -> str:
    """The zone's own RefId of a learner no school has named: stable, derived from the ULN."""
    return uuid.uuid5(_RefIdNamespace, learner.uln).hex.upper()


def _ordered(parent: etree._Element, type_name: str, values: dict) -> None:
    for name in sequence(type_name):
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, etree._Element):
            parent.append(value)
        else:
            etree.SubElement(parent, q(name)).text = str(value)


def learner_personal(
    session: Session,
    agent: SifAgent,
    learner: Learner,
    ref_id: str | None = None,
    details: bool = True,
) -> etree._Element:
    """A LearnerPersonal for ``agent`` (who may see ``learner``): the school's own RefId and
    UPN when its agent linked one, the ULN, and (``details``) names, birth date, gender and
    postcode; element order from the schema."""
    link = _school_link(session, agent, learner)
    element = etree.Element(q("LearnerPersonal"))
    element.set("RefId", ref_id or (link.ref_id if link and link.ref_id else ref_id_for(learner)))
    values: dict = {"UPN": link.upn if link else None, "ULN": learner.uln}
    if details:
        info = etree.Element(q("PersonalInformation"))
        name = etree.Element(q("Name"), Type="C")
        _ordered(
            name,
            "NameType",
            {
                "Title": learner.title,
                "FamilyName": learner.family_name,
                "GivenName": learner.given_name,
                "MiddleNames": learner.middle_other_name,
                "PreferredGivenName": learner.preferred_given_name,
            },
        )
        demographics = etree.Element(q("Demographics"))
        _ordered(
            demographics,
            "DemographicsType",
            {
                "Gender": GENDER_TO_SIF.get(learner.gender, "U"),
                "BirthDate": learner.date_of_birth.isoformat(),
            },
        )
        address = etree.Element(q("Address"))
        _ordered(address, "AddressType", {"PostCode": learner.postcode})
        _ordered(
            info,
            "PersonalInformationType",
            {"Name": name, "Demographics": demographics, "Address": address},
        )
        values["PersonalInformation"] = info
    _ordered(element, "LearnerPersonal", values)
    return element


# -- requests --------------------------------------------------------------------------------


def _conditions(query: etree._Element) -> dict[str, str]:
    """The query's conditions as {field: value}: one group of EQ conditions joined by And."""
    group = query.find(q("SIF_ConditionGroup"))
    if group is None:
        return {}
    sets = group.findall(q("SIF_Conditions"))
    if len(sets) > 1 and group.get("Type") != "And":
        raise SifRefusal(Problem.UNSUPPORTED_QUERY, "condition sets may only be joined by And")
    wanted: dict[str, str] = {}
    for conditions in sets:
        listed = conditions.findall(q("SIF_Condition"))
        if len(listed) > 1 and conditions.get("Type") != "And":
            raise SifRefusal(Problem.UNSUPPORTED_QUERY, "conditions may only be joined by And")
        for condition in listed:
            path = (condition.findtext(q("SIF_Element")) or "").strip().lstrip("/")
            operator = condition.findtext(q("SIF_Operator"))
            field = QUERY_FIELDS.get(path)
            if field is None or operator != "EQ":
                raise SifRefusal(
                    Problem.UNSUPPORTED_QUERY,
                    f"conditions are EQ on {', '.join(QUERY_FIELDS)}; not {operator} {path[:80]}",
                )
            value = (condition.findtext(q("SIF_Value")) or "").strip()
            if field in wanted and wanted[field] != value:
                raise SifRefusal(Problem.UNSUPPORTED_QUERY, f"two values for {path}")
            wanted[field] = value
    return _typed(wanted)


def _typed(wanted: dict[str, str]) -> dict:
    typed: dict = dict(wanted)
    if "date_of_birth" in wanted:
        try:
            typed["date_of_birth"] = dt.date.fromisoformat(wanted["date_of_birth"])
        except ValueError:
            raise SifRefusal(Problem.INVALID_VALUE, "BirthDate is not a date YYYY-MM-DD") from None
    if "gender" in wanted:
        if wanted["gender"] not in GENDER_TO_LRS:
            raise SifRefusal(Problem.INVALID_VALUE, "Gender is M, F, U or W")
        typed["gender"] = GENDER_TO_LRS[wanted["gender"]]
    if "uln" in wanted and not is_valid_uln(wanted["uln"]):
        raise SifRefusal(Problem.INVALID_VALUE, f"ULN {wanted['uln'][:20]} fails its check digit")
    if "upn" in wanted:
        typed["upn"] = wanted["upn"].upper()
    if "postcode" in wanted:
        typed["postcode"] = " ".join(wanted["postcode"].upper().split())
    return typed


def _agrees(matcher: Matcher, learner: Learner, wanted: dict) -> bool:
    for field, value in wanted.items():
        if field in ("upn", "uln"):
            continue
        if field in ("given_name", "family_name"):
            stored = getattr(learner, field) or ""
            if stored.casefold() != value.casefold():
                return False
        elif getattr(learner, field) != value:
            return False
    return True


def answer(
    session: Session, matcher: Matcher, agent: SifAgent, query: etree._Element
) -> list[Learner]:
    """The learners a LearnerPersonal query finds that ``agent`` may see.

    By UPN: the learner the agent's school linked it to. By ULN: that learner, if visible.
    Full demographics (names, birth date, gender; postcode optional): the matcher's answer,
    as a find by demographics (more than ten is refused). Anything else (or nothing): the
    agent's own learners that agree with every condition."""
    wanted = _conditions(query)
    found: list[Learner]
    if "upn" in wanted:
        learner = linked_learner(session, agent.laestab, wanted["upn"]) if agent.laestab else None
        found = [learner] if learner is not None else []
    elif "uln" in wanted:
        learner, _ = learners.answering_learner(session, wanted["uln"])
        found = [learner] if learner is not None else []
    elif FULL_DEMOGRAPHICS <= wanted.keys():
        decide(session, Caller(agent.ukprn, agent.source_id), Action.FIND).enforce()
        result = matcher.find(
            session,
            Demographics(
                given_name=wanted["given_name"],
                family_name=wanted["family_name"],
                date_of_birth=wanted["date_of_birth"],
                gender=wanted["gender"],
                postcode=wanted.get("postcode", UNKNOWN_POSTCODE),
            ),
        )
        if result.code == Outcome.TOO_MANY:
            raise SifRefusal(
                Problem.TOO_MANY_ANSWERS,
                f"more than {MAX_MATCHES} learners match: add identifying fields",
            )
        # Identified by full demographics: disclosed as a find by demographics would.
        return list(result.learners)
    else:
        ids = visibility.candidates(session, agent).subquery()
        found = list(
            session.scalars(
                select(Learner)
                .where(Learner.id.in_(select(ids.c[0])), Learner.deleted_at.is_(None))
                .order_by(Learner.id)
            )
        )
        found = [_answering(session, learner) or learner for learner in found]
    unique = list({learner.id: learner for learner in found}.values())
    return [
        learner
        for learner in unique
        if _agrees(matcher, learner, wanted) and visibility.sees(session, agent, learner)
    ]
