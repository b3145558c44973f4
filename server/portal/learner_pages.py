"""A learner's own pages: their details, their learning events, who has looked at or changed
their record, and their choice to share it.

The portal acts for the learner as an organisation granted LNR (``guard``), so the access
policy holds them to their own record; the sharing choice is written by the domain function
the PLR's UpdateLearnerSubsetFields calls, and read afresh by every route on its next request.
"""

from __future__ import annotations

from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from miap.server import exceptions
from miap.server.access import audit_view, learner_record, sharing
from miap.server.access.policy import Action
from miap.server.outcomes import Outcome
from miap.server.portal import forms, web
from miap.server.portal.app import Context, Page
from miap.server.portal.guard import LEARNER_PORTAL_UKPRN, caller_of, check, outcome_code
from miap.server.records.reading import events_of
from miap.server.register import audit, learners
from miap.server.register.fields import LEARNER_COLUMNS
from miap.storage.portal import LEARNER

SHOWN = (
    "ULN",
    "GivenName",
    "MiddleOtherName",
    "FamilyName",
    "DateOfBirth",
    "LastKnownPostCode",
    "EmailAddress",
)
SHARING_TEXT = {
    "1": "You agree that organisations may see your learning record.",
    "2": "You do not agree: organisations cannot see your learning record.",
    "0": "You have not yet made a choice: organisations cannot see your learning record.",
}


def me(context: Context) -> Response:
    who = context.who
    with context.services.db.reading() as session:
        check(session, who, Action.READ_LEARNER, who.uln)
        check(session, who, Action.READ_RECORD, who.uln)
        learner, _ = learners.answering_learner(session, who.uln)
        if learner is None:
            return context.render(
                "error.html",
                404,
                title="No record",
                message="Your ULN no longer answers on the register.",
            )
        rows = [
            (forms.LABELS.get(name, name), getattr(learner, LEARNER_COLUMNS[name]) or "")
            for name in SHOWN
        ]
        events = [e for e in events_of(session, learner.uln) if sharing.visible(e, "LNR", "")]
        sharing_choice = learner.ability_to_share or "0"
    context.audit("viewOwnRecord", outcome_code(Outcome.RECORD_FOUND), [who.uln])
    return context.render(
        "me.html",
        rows=rows,
        events=events,
        sharing=SHARING_TEXT.get(sharing_choice, SHARING_TEXT["0"]),
        shares=sharing.may_share(sharing_choice),
        changed=context.request.args.get("changed") == "1",
    )


def my_audit(context: Context) -> Response:
    who = context.who
    page_number = context.request.args.get("page", "1")
    page_number = int(page_number) if page_number.isdigit() else 1
    with context.services.db.reading() as session:
        check(session, who, Action.VIEW_AUDIT, who.uln)
        learner, _ = learners.answering_learner(session, who.uln)
        ulns = learner_record.same_learner_ulns(session, learner) if learner else [who.uln]
        page = audit_view.page_of(session, ulns, page_number)
    context.audit("viewOwnAudit", "OK", [who.uln])
    return context.render("my_audit.html", page=page, portal_ukprn=LEARNER_PORTAL_UKPRN)


def my_sharing(context: Context) -> Response:
    """Agree or decline to share: the PLR's ``-1|0|1`` mapped by ``sharing``."""
    who = context.who
    choice = context.request.form.get("share")
    if choice not in ("yes", "no"):
        return redirect(f"{web.PREFIX}/me")
    wanted = 1 if choice == "yes" else -1
    with context.services.db.transaction() as session:
        learner, _ = learners.answering_learner(session, who.uln)
        values = {name: getattr(learner, name) for name in learner_record.SUBSET_FIELDS}
        try:
            code, _, _ = learner_record.update_subset(
                session, caller_of(who), learner.uln, learner.version, values, wanted
            )
        except exceptions.DomainError as error:
            context.audit("changeSharing", outcome_code(error), [who.uln])
            raise
        audit.record(session, **context.entry("changeSharing", outcome_code(code), [who.uln]))
    return redirect(f"{web.PREFIX}/me?changed=1")


PAGES = [
    Page("/me", me, kinds=(LEARNER,)),
    Page("/me/audit", my_audit, kinds=(LEARNER,)),
    Page("/me/sharing", my_sharing, ("POST",), kinds=(LEARNER,)),
]
