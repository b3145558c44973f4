"""Signing in and out, activating an account, the second factor, and a provider's users."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from miap.server.exceptions import AdminRefusal
from miap.server.portal import accounts, web
from miap.server.portal.app import Context, Page
from miap.server.portal.guard import MANAGE_USERS, check
from miap.server.portal.sessions import Sessions
from miap.server.register import audit
from miap.server.register.identifiers import is_valid_uln
from miap.storage.portal import LEARNER, PROVIDER, SERVICE, PortalUser

ANYONE = None
SIGNED_IN = (PROVIDER, LEARNER, SERVICE)
HOME = {PROVIDER: "/", LEARNER: "/me", SERVICE: "/admin"}
_FAILED = (
    "The details you entered are not right, or the account is locked after too many "
    "attempts (ask your administrator to unlock it)."
)


def _anonymous(context: Context) -> None:
    """Make sure the browser holds a session, for the form's CSRF token."""
    if context.current is None:
        with context.services.db.transaction() as session:
            context.start_session(session)


def home(context: Context) -> Response:
    user = context.current.user if context.current else None
    if user is None:
        return redirect(f"{web.PREFIX}/sign-in")
    if user.kind != PROVIDER:
        return redirect(web.PREFIX + HOME[user.kind])
    return context.render("home.html")


def sign_in(context: Context) -> Response:
    if context.request.method == "GET":
        _anonymous(context)
        return context.render("sign_in.html", values={}, errors={})
    form = context.request.form
    email, password = form.get("email", "").strip(), form.get("password", "")
    errors = {}
    if not email:
        errors["email"] = "Enter your e-mail address"
    if not password:
        errors["password"] = "Enter your password"  # noqa: S105 - a message
    if errors:
        return context.render("sign_in.html", 400, values={"email": email}, errors=errors)
    with context.services.db.transaction() as session:
        answer = accounts.sign_in_staff(session, email, password)
        if answer.user is not None:
            if answer.needs_code:
                context.start_session(session, pending=answer.user)
            else:
                context.start_session(session, user=answer.user)
    if answer.user is None:
        return context.render(
            "sign_in.html", 400, values={"email": email}, errors={"password": _FAILED}
        )
    if answer.needs_code:
        return redirect(f"{web.PREFIX}/sign-in/code")
    return redirect(web.PREFIX + HOME[answer.user.kind])


def learner_sign_in(context: Context) -> Response:
    if context.request.method == "GET":
        _anonymous(context)
        return context.render("learner_sign_in.html", values={}, errors={})
    form = context.request.form
    values = {name: form.get(name, "").strip() for name in ("uln", "date_of_birth")}
    password = form.get("password", "")
    errors = {}
    if not is_valid_uln(values["uln"]):
        errors["uln"] = "Enter your ULN: 10 digits"
    try:
        born = dt.date.fromisoformat(values["date_of_birth"])
    except ValueError:
        errors["date_of_birth"] = "Enter your date of birth as year-month-day, like 2008-03-27"
    if not password:
        errors["password"] = "Enter your password"  # noqa: S105 - a message
    if errors:
        return context.render("learner_sign_in.html", 400, values=values, errors=errors)
    with context.services.db.transaction() as session:
        answer = accounts.sign_in_learner(session, values["uln"], born, password)
        if answer.user is not None:
            if answer.needs_code:
                context.start_session(session, pending=answer.user)
            else:
                context.start_session(session, user=answer.user)
    if answer.user is None:
        return context.render(
            "learner_sign_in.html", 400, values=values, errors={"password": _FAILED}
        )
    if answer.needs_code:
        return redirect(f"{web.PREFIX}/sign-in/code")
    return redirect(f"{web.PREFIX}/me")


def sign_in_code(context: Context) -> Response:
    current = context.current
    if current is None or current.pending_user_id is None:
        return redirect(f"{web.PREFIX}/sign-in")
    if context.request.method == "GET":
        return context.render("sign_in_code.html", errors={})
    code = context.request.form.get("code", "")
    with context.services.db.transaction() as session:
        user = session.get(PortalUser, current.pending_user_id, with_for_update=True)
        ok = user is not None and accounts.finish_second_factor(user, code)
        if ok:
            context.start_session(session, user=user)
    if not ok:
        return context.render(
            "sign_in_code.html", 400, errors={"code": "Enter the 6-digit code your app shows now"}
        )
    return redirect(web.PREFIX + HOME[user.kind])


def sign_out(context: Context) -> Response:
    with context.services.db.transaction() as session:
        context.start_session(session)
    return redirect(f"{web.PREFIX}/sign-in")


def activate(context: Context) -> Response:
    code = context.args["code"]
    if context.request.method == "GET":
        _anonymous(context)
        return context.render("activate.html", code=code, errors={})
    form = context.request.form
    problem = accounts.check_password_rule(form.get("password", ""), form.get("confirm", ""))
    if problem:
        return context.render("activate.html", 400, code=code, errors={"password": problem})
    with context.services.db.transaction() as session:
        user = accounts.activate(session, code, form["password"])
        if user is not None:
            Sessions.end_all(session, user.id)
            kind = user.kind
    if user is None:
        return context.render(
            "activate.html",
            400,
            code=code,
            errors={"password": "This activation link is not valid: it was used or has expired"},
        )
    return redirect(f"{web.PREFIX}/{'learner/' if kind == LEARNER else ''}sign-in?activated=1")


# -- the second factor ------------------------------------------------------------------------


def two_factor(context: Context) -> Response:
    """Enrol an authenticator app: the secret is shown once and kept only when a code made
    from it is entered."""
    who = context.who
    form = context.request.form
    if context.request.method == "GET" or "secret" not in form:
        secret = accounts.new_totp_secret()
        with context.services.db.reading() as session:
            user = session.get(PortalUser, who.id)
            uri = accounts.totp_uri(user, secret)
        return context.render("two_factor.html", secret=secret, uri=uri, errors={})
    secret = form["secret"]
    step = accounts.check_code(secret, form.get("code", ""), None)
    if step is None:
        with context.services.db.reading() as session:
            uri = accounts.totp_uri(session.get(PortalUser, who.id), secret)
        return context.render(
            "two_factor.html",
            400,
            secret=secret,
            uri=uri,
            errors={"code": "That code does not match: enter the code your app shows now"},
        )
    with context.services.db.transaction() as session:
        user = session.get(PortalUser, who.id)
        user.totp_secret = secret
        user.totp_last_step = step
    return context.render(
        "done.html",
        title="Two-step sign-in is on",
        message=("From now on you will be asked for a code from your app when you sign in."),
    )


# -- a provider's users -----------------------------------------------------------------------


def users(context: Context) -> Response:
    who = context.who
    with context.services.db.transaction() as session:
        check(session, who, MANAGE_USERS)
        created = None
        errors: dict[str, str] = {}
        if context.request.method == "POST":
            form = context.request.form
            action, target = form.get("action"), form.get("user_id")
            if action == "add" and form.get("role") not in accounts.PROVIDER_ROLES:
                errors["role"] = "Choose viewer, registrar or administrator"
            elif action == "add":
                try:
                    user, code = accounts.add_staff(
                        session, form.get("email", ""), form.get("role", ""), who.ukprn, who.name
                    )
                    created = (user.email, _activation_link(context, code))
                    _audit_account(context, session, "add", user)
                except AdminRefusal as refusal:
                    errors["email"] = str(refusal)
            elif target and target.isdigit():
                user = session.get(PortalUser, int(target))
                if user is None or user.ukprn != who.ukprn:
                    raise_refused()
                if action == "unlock":
                    accounts.unlock(user)
                    _audit_account(context, session, "unlock", user)
                elif action == "disable" and user.id != who.id:
                    accounts.disable(user)
                    Sessions.end_all(session, user.id)
                    _audit_account(context, session, "disable", user)
                elif action == "reset-two-step" and user.totp_secret:
                    accounts.reset_second_factor(user)
                    Sessions.end_all(session, user.id)
                    _audit_account(context, session, "reset-two-step", user)
        listed = [
            (u.id, u.email, u.role, _state(u), bool(u.totp_secret))
            for u in accounts.users_of(session, who.ukprn)
        ]
    status = 400 if errors else 200
    return context.render(
        "users.html",
        status,
        users=listed,
        created=created,
        errors=errors,
        roles=accounts.PROVIDER_ROLES,
    )


def _audit_account(context: Context, session: Session, action: str, user: PortalUser) -> None:
    """An account change, audited in its own transaction: which account (its number, not its
    e-mail address) and by whom."""
    audit.record(session, **context.entry(accounts.audited_operation(action, user), "OK"))


def raise_refused() -> None:
    from miap.server.exceptions import ActionNotPermitted
    from miap.server.portal.guard import Refused, outcome_code

    refusal = ActionNotPermitted("another provider's user")
    raise Refused("That user is not one of your organisation's.", outcome_code(refusal))


def _state(user: PortalUser) -> str:
    if user.disabled_at is not None:
        return "Disabled"
    if user.locked_at is not None:
        return "Locked"
    if user.password_hash is None:
        return "Not activated"
    return "Active"


def _activation_link(context: Context, code: str) -> str:
    return f"{context.request.host_url.rstrip('/')}{web.PREFIX}/activate/{code}"


PAGES = [
    Page("/", home, kinds=ANYONE),
    Page("/sign-in", sign_in, ("GET", "POST"), kinds=ANYONE),
    Page("/learner/sign-in", learner_sign_in, ("GET", "POST"), kinds=ANYONE),
    Page("/sign-in/code", sign_in_code, ("GET", "POST"), kinds=ANYONE),
    Page("/sign-out", sign_out, ("POST",), kinds=SIGNED_IN),
    Page("/activate/<code>", activate, ("GET", "POST"), kinds=ANYONE),
    Page("/account/two-factor", two_factor, ("GET", "POST"), kinds=SIGNED_IN),
    Page("/users", users, ("GET", "POST")),
]
