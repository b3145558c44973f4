"""A provider user's pages: find, view, register, update and verify learners.

Each calls the register's domain functions the LearnerService's operations call
(``server/register/learners.py``, the matcher), after the one check (``guard.check``), and
audits its answer with the code the SOAP table gives it.
"""

from __future__ import annotations

from typing import Any

from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from miap.server import exceptions
from miap.server.access.policy import Action
from miap.server.matching.engine import Demographics, VerifyQuery
from miap.server.outcomes import Outcome
from miap.server.portal import accounts, forms, web
from miap.server.portal.app import Context, Page
from miap.server.portal.guard import check, outcome_code
from miap.server.portal.sessions import Sessions
from miap.server.register import learners, merging
from miap.server.register.fields import LEARNER_COLUMNS

#: What each find outcome says on the page.
FIND_MESSAGES = {
    Outcome.EXACT: "One learner matches exactly.",
    Outcome.LINKED: "One learner matches: the ULN was merged into this learner's.",
    Outcome.POSSIBLE: "No exact match. These learners are possible matches.",
    Outcome.TOO_MANY: (
        "Too many learners match these details: add the previous family name or check "
        "the details, and search again."
    ),
    Outcome.NO_MATCH: "No learner matches these details.",
}
VERIFY_MESSAGES = {
    Outcome.VERIFIED: "The details match the learner holding this ULN.",
    Outcome.VERIFIED_LINKED: "The details match: this ULN was merged into another learner's.",
    Outcome.VERIFIED_SIMILAR: "The names are similar to the stored ones: check them.",
    Outcome.VERIFIED_SIMILAR_LINKED: "The names are similar (the ULN was merged): check them.",
    Outcome.NOT_VERIFIED: "The details do not match the learner holding this ULN.",
    Outcome.ULN_NOT_FOUND: "No learner holds this ULN.",
}
SHOWN = (
    "ULN",
    "GivenName",
    "MiddleOtherName",
    "FamilyName",
    "PreviousFamilyName",
    "DateOfBirth",
    "Gender",
    "LastKnownPostCode",
)


def _summary(learner: Any) -> dict[str, Any]:  # noqa: ANN401 - a Learner or a LearnerRow
    return {name: getattr(learner, LEARNER_COLUMNS[name]) for name in SHOWN}


def find(context: Context) -> Response:
    specs = forms.find_fields()
    if context.request.method == "GET":
        return context.render("find.html", specs=specs, submitted=forms.Submitted({}))
    submitted = forms.read(context.request.form, specs)
    db = context.services.db
    with db.reading() as session:
        check(session, context.who, Action.FIND)
        if not submitted.ok:
            return context.render("find.html", 400, specs=specs, submitted=submitted)
        values = forms.details(submitted, specs)
        query = Demographics(
            given_name=values["given_name"],
            family_name=values["family_name"],
            date_of_birth=values["date_of_birth"],
            gender=values["gender"],
            postcode=values["postcode"],
            previous_family_name=values["previous_family_name"],
        )
        result = context.services.matcher.find(session, query)
        found = [_summary(learner) for learner in result.learners]
    ulns = [row["ULN"] for row in found]
    _remember(context, ulns)
    context.audit("findLearner", outcome_code(result.code), ulns)
    return context.render(
        "find.html",
        specs=specs,
        submitted=submitted,
        result=FIND_MESSAGES[result.code],
        code=result.code.name,
        found=found,
    )


def find_by_uln(context: Context) -> Response:
    specs = _uln_specs()
    if context.request.method == "GET":
        return context.render("find_uln.html", specs=specs, submitted=forms.Submitted({}))
    submitted = forms.read(context.request.form, specs)
    with context.services.db.reading() as session:
        check(session, context.who, Action.FIND)
    if not submitted.ok:
        return context.render("find_uln.html", 400, specs=specs, submitted=submitted)
    values = submitted.values
    try:
        result = learners.find_by_uln(
            context.services.reads,
            context.services.matcher,
            values["ULN"],
            values["GivenName"],
            values["FamilyName"],
        )
    except exceptions.InvalidUln as error:
        context.audit("findLearnerByUln", outcome_code(error), [])
        submitted.errors["ULN"] = "Enter a real ULN: its check digit is wrong"
        return context.render("find_uln.html", 400, specs=specs, submitted=submitted)
    found = [_summary(learner) for learner in result.learners]
    ulns = [values["ULN"], *(row["ULN"] for row in found)]
    _remember(context, [row["ULN"] for row in found])
    context.audit("findLearnerByUln", outcome_code(result.code), ulns)
    return context.render(
        "find_uln.html",
        specs=specs,
        submitted=submitted,
        result=FIND_MESSAGES[result.code],
        code=result.code.name,
        found=found,
    )


def _uln_specs() -> tuple[forms.Field, ...]:
    by_name = {f.name: f for f in (*forms.update_fields(), forms.uln_field())}
    return tuple(by_name[name] for name in ("ULN", "GivenName", "FamilyName"))


def _remember(context: Context, ulns: list[str]) -> None:
    if ulns and not set(ulns) <= set(context.current.disclosed):
        with context.services.db.transaction() as session:
            Sessions.disclose(session, context.current, ulns)


def view(context: Context) -> Response:
    uln = context.args["uln"]
    with context.services.db.reading() as session:
        check(session, context.who, Action.READ_LEARNER, uln, context.current.disclosed)
        learner, substituted = learners.answering_learner(session, uln)
        if learner is None:
            context.audit("viewLearner", outcome_code(Outcome.NO_MATCH), [uln])
            return context.render(
                "error.html",
                404,
                title="Learner not found",
                message="No live learner holds this ULN.",
            )
        linked = merging.linked_ulns(session, [learner]).get(learner.id, [])
        rows = _rows(learner)
        version = learner.version
        has_account = accounts.learner_has_account(session, learner.uln)
        answered = learner.uln
    code = outcome_code(Outcome.LINKED if substituted else Outcome.EXACT)
    context.audit("viewLearner", code, list(dict.fromkeys([uln, answered])))
    return context.render(
        "learner.html",
        uln=answered,
        asked=uln,
        substituted=substituted,
        linked=linked,
        rows=rows,
        version=version,
        has_account=has_account,
        registered=context.request.args.get("registered") == "1",
        updated=context.request.args.get("updated") == "1",
    )


def _rows(learner: Any) -> list[tuple[str, str]]:  # noqa: ANN401
    result = []
    for spec in forms.register_fields():
        value = getattr(learner, LEARNER_COLUMNS[spec.name])
        result.append((spec.label, "" if value is None else str(value)))
    return result


def register(context: Context) -> Response:
    specs = forms.register_fields()
    if context.request.method == "GET":
        with context.services.db.reading() as session:
            check(session, context.who, Action.REGISTER)
        defaults = {"VerificationType": "0", "AbilityToShare": "0"}
        return context.render("register.html", specs=specs, submitted=forms.Submitted(defaults))
    submitted = forms.read(context.request.form, specs)
    who = context.who
    with context.services.db.transaction() as session:
        check(session, who, Action.REGISTER)
        if not submitted.ok:
            return context.render("register.html", 400, specs=specs, submitted=submitted)
        try:
            code, uln = learners.register(
                session, context.services.matcher, forms.details(submitted, specs), who.ukprn
            )
        except exceptions.DomainError as error:
            _domain_error(submitted, specs, error)
            context.audit("registerLearner", outcome_code(error), [])
            return context.render("register.html", 400, specs=specs, submitted=submitted)
        from miap.server.register import audit

        audit.record(
            session, **context.entry("registerLearner", outcome_code(code), [uln] if uln else [])
        )
        if uln:
            Sessions.disclose(session, context.current, [uln])
    if code == Outcome.NOT_REGISTERED:
        submitted.errors["GivenName"] = (
            "A learner with these details is already registered: find them instead of "
            "registering them again"
        )
        return context.render(
            "register.html", 409, specs=specs, submitted=submitted, duplicate=True
        )
    return redirect(f"{web.PREFIX}/learners/{uln}?registered=1")


def _domain_error(
    submitted: forms.Submitted, specs: tuple[forms.Field, ...], error: exceptions.DomainError
) -> None:
    message = str(error)
    name = forms.field_of_message(message, specs) or "GivenName"
    submitted.errors[name] = {
        exceptions.DetailsNotStorable: "These details cannot be stored: check each field",
    }.get(type(error), message.replace(name, forms.LABELS.get(name, name), 1))


def update(context: Context) -> Response:
    uln = context.args["uln"]
    specs = forms.update_fields()
    who = context.who
    if context.request.method == "GET":
        with context.services.db.reading() as session:
            check(session, who, Action.READ_LEARNER, uln, context.current.disclosed)
            check(session, who, Action.UPDATE, uln)
            learner, _ = learners.answering_learner(session, uln)
            if learner is None or learner.uln != uln:
                return context.render(
                    "error.html",
                    404,
                    title="Learner not found",
                    message="No live learner holds this ULN (merged ULNs are "
                    "changed through their master).",
                )
            values = _values(learner, specs)
            version = learner.version
        return context.render(
            "update.html", uln=uln, version=version, specs=specs, submitted=forms.Submitted(values)
        )
    form = context.request.form
    submitted = forms.read(form, specs)
    version = form.get("version", "")
    conflict = None
    with context.services.db.transaction() as session:
        check(session, who, Action.READ_LEARNER, uln, context.current.disclosed)
        check(session, who, Action.UPDATE, uln)
        if not submitted.ok or not version.isdigit():
            return context.render(
                "update.html", 400, uln=uln, version=version, specs=specs, submitted=submitted
            )
        try:
            code = learners.update(session, forms.details(submitted, specs), uln, int(version))
        except exceptions.VersionConflict as error:
            stored = learners.learner_by_uln(session, uln)
            now = _values(stored, specs)
            conflict = [
                (spec.label, submitted.values.get(spec.name, ""), now.get(spec.name, ""))
                for spec in specs
                if submitted.values.get(spec.name, "") != now.get(spec.name, "")
            ]
            code_text = outcome_code(error)
            new_version = stored.version
        except exceptions.DomainError as error:
            _domain_error(submitted, specs, error)
            context.audit("updateLearner", outcome_code(error), [uln])
            return context.render(
                "update.html", 400, uln=uln, version=version, specs=specs, submitted=submitted
            )
        else:
            from miap.server.register import audit

            audit.record(session, **context.entry("updateLearner", outcome_code(code), [uln]))
    if conflict is not None:
        context.audit("updateLearner", code_text, [uln])
        return context.render(
            "update.html",
            409,
            uln=uln,
            version=new_version,
            specs=specs,
            submitted=submitted,
            conflict=conflict,
        )
    return redirect(f"{web.PREFIX}/learners/{uln}?updated=1")


def _values(learner: Any, specs: tuple[forms.Field, ...]) -> dict[str, str]:  # noqa: ANN401
    values = {}
    for spec in specs:
        value = getattr(learner, LEARNER_COLUMNS[spec.name])
        values[spec.name] = "" if value is None else str(value)
    return values


def verify(context: Context) -> Response:
    specs = _verify_specs()
    if context.request.method == "GET":
        return context.render("verify.html", specs=specs, submitted=forms.Submitted({}))
    submitted = forms.read(context.request.form, specs)
    with context.services.db.reading() as session:
        check(session, context.who, Action.FIND)
    if not submitted.ok:
        return context.render("verify.html", 400, specs=specs, submitted=submitted)
    values = forms.details(submitted, specs)
    query = VerifyQuery(
        values["given_name"], values["family_name"], values["date_of_birth"], values["gender"]
    )
    uln = submitted.values["ULN"]
    try:
        result = learners.verify(context.services.reads, context.services.matcher, uln, query)
    except exceptions.InvalidUln as error:
        context.audit("verifyLearner", outcome_code(error), [])
        submitted.errors["ULN"] = "Enter a real ULN: its check digit is wrong"
        return context.render("verify.html", 400, specs=specs, submitted=submitted)
    flags = [flag.value for flag in result.failure_flags]
    ulns = [uln]
    if result.learner is not None and result.learner.uln != uln:
        ulns.append(result.learner.uln)
    context.audit("verifyLearner", outcome_code(result.code), ulns)
    return context.render(
        "verify.html",
        specs=specs,
        submitted=submitted,
        result=VERIFY_MESSAGES[result.code],
        code=result.code.name,
        flags=flags,
    )


def _verify_specs() -> tuple[forms.Field, ...]:
    required = {f.name: f for f in (*forms.update_fields(), forms.uln_field())}
    return (
        required["ULN"],
        required["GivenName"],
        required["FamilyName"],
        forms.Field(
            "DateOfBirth", required["DateOfBirth"].type_namespace, "OptionalDateType", False
        ),
        forms.Field("Gender", required["Gender"].type_namespace, "OptionalGenderType", False),
    )


def issue_code(context: Context) -> Response:
    """A learner's activation code for the learner portal, shown once to the provider."""
    uln = context.args["uln"]
    who = context.who
    with context.services.db.transaction() as session:
        check(session, who, Action.READ_LEARNER, uln, context.current.disclosed)
        check(session, who, Action.UPDATE, uln)
        code = accounts.issue_learner_code(session, uln, who.name)
        from miap.server.register import audit

        audit.record(session, **context.entry("issueLearnerCode", "OK", [uln]))
    link = f"{context.request.host_url.rstrip('/')}{web.PREFIX}/activate/{code}"
    return context.render("learner_code.html", uln=uln, link=link)


PAGES = [
    Page("/find", find, ("GET", "POST")),
    Page("/find-uln", find_by_uln, ("GET", "POST")),
    Page("/verify", verify, ("GET", "POST")),
    Page("/register", register, ("GET", "POST")),
    Page("/learners/<uln>", view),
    Page("/learners/<uln>/edit", update, ("GET", "POST")),
    Page("/learners/<uln>/portal-access", issue_code, ("POST",)),
]
