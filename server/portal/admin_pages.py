"""The service administrator's pages: the provider register (and providers' status), merges
and withdrawals (with
their reasons, through ``server/register/merging.py``), the merge and withdrawal reports, and
the analysts' published tables (``server/analysis/``: aggregates under disclosure control,
never an individual)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from werkzeug.wrappers import Response

from miap.server import exceptions
from miap.server.analysis import queries
from miap.server.analysis.published import published_rows
from miap.server.portal.app import Context, Page
from miap.server.portal.guard import ADMINISTER, check, outcome_code
from miap.server.register import merging
from miap.server.register import providers as provider_register
from miap.server.register.audit import PORTAL
from miap.storage.models import Provider
from miap.storage.portal import SERVICE

ADMIN = (SERVICE,)


def admin(context: Context) -> Response:
    who = context.who
    message, errors = None, {}
    if context.request.method == "POST":
        form = context.request.form
        action = form.get("action")
        reason = form.get("reason", "").strip()
        by = f"portal {who.name}"[: merging.MAX_BY]
        try:
            with context.services.db.transaction() as session:
                check(session, who, ADMINISTER)
                if action == "merge":
                    master, duplicate = (
                        form.get("master", "").strip(),
                        form.get("duplicate", "").strip(),
                    )
                    merging.merge(
                        session, master, duplicate, reason=reason or None, by=by, route=PORTAL
                    )
                    message = f"ULN {duplicate} is merged into {master}."
                elif action == "withdraw":
                    uln = form.get("uln", "").strip()
                    merging.withdraw(session, uln, reason, by, route=PORTAL)
                    message = f"ULN {uln} is withdrawn."
                elif action == "status":
                    ukprn, status = form.get("ukprn", "").strip(), form.get("status", "")
                    provider_register.set_status(session, ukprn, status, by=by)
                    message = f"Provider {ukprn} now has status {status}."
        except exceptions.DomainError as error:
            field = {"withdraw": "reason", "status": "ukprn"}.get(action, "duplicate")
            errors[field] = str(error)
            context.audit(f"portal {action}"[:64], outcome_code(error))
    with context.services.db.reading() as session:
        check(session, who, ADMINISTER)
        providers = [
            (p.ukprn, p.name, p.status)
            for p in session.scalars(select(Provider).order_by(Provider.ukprn).limit(500))
        ]
        since = dt.date.today() - dt.timedelta(days=30)
        links = merging.link_report(session, since, None)
        deleted = merging.deleted_report(session, since, None)
        report = [(e.action, e.master.uln, e.duplicate.uln, e.at) for e in links]
    return context.render(
        "admin.html",
        400 if errors else 200,
        providers=providers,
        report=report,
        deleted=deleted,
        message=message,
        errors=errors,
    )


def analysis(context: Context) -> Response:
    """One analysts' query, published as ``miap analyse`` writes it (the query's name is the
    only thing in the URL; the table holds counts only)."""
    name = context.request.args.get("query", next(iter(queries.QUERIES)))
    if name not in queries.QUERIES:
        return context.render(
            "error.html", 404, title="Page not found", message=f"There is no table named {name!r}."
        )
    with context.services.db.reading() as session:
        check(session, context.who, ADMINISTER)
        rows = published_rows(queries.run(session, name))
    context.audit(f"portal analysis {name}"[:64], "OK")
    return context.render(
        "analysis.html",
        items=[
            {"value": key, "text": query.description, "selected": key == name}
            for key, query in queries.QUERIES.items()
        ],
        caption=queries.QUERIES[name].description.capitalize(),
        header=rows[0],
        rows=rows[1:],
    )


PAGES = [
    Page("/admin", admin, ("GET", "POST"), kinds=ADMIN),
    Page("/admin/analysis", analysis, kinds=ADMIN),
]
