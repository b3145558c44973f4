"""``miap sif``: zones and their agents (wired into ``miap`` by ``server/admin/cli.py``).

miap sif zone add ZONE
miap sif agent add --zone Z --source-id ID --ukprn N [--laestab L] --secret S
miap sif agent list --zone Z
miap sif agent remove --zone Z --source-id ID
miap sif agent permit|deny --zone Z --source-id ID --object NAME --right R [--right R …]
"""

from __future__ import annotations

import argparse

from miap.server.commands import action
from miap.server.settings import Settings
from miap.server.sif import agents
from miap.storage.engine import Database

COMMANDS = ("sif",)


def add_parser(subparsers) -> argparse.ArgumentParser:  # noqa: ANN001 - argparse's private type
    sif = subparsers.add_parser("sif", help="the SIF zone: zones, agents and their rights")
    kinds = sif.add_subparsers(dest="sif_kind", required=True)

    zone = kinds.add_parser("zone", help="zones").add_subparsers(dest="sif_action", required=True)
    action(zone, "add", "add a zone (its agents post to /sif/ZONE)").add_argument("zone")

    agent = kinds.add_parser("agent", help="agents").add_subparsers(
        dest="sif_action", required=True
    )
    add = action(agent, "add", "add an agent acting for a provider (or a school by LAESTAB)")
    add.add_argument("--zone", required=True)
    add.add_argument("--source-id", required=True, help="the agent's SIF_SourceId")
    add.add_argument("--ukprn", required=True, help="the provider it acts for")
    add.add_argument("--laestab", help="the school it acts for (seven digits)")
    add.add_argument(
        "--secret",
        required=True,
        help=f"its HTTP Basic secret (at least {agents.SECRET_MIN_LENGTH} characters)",
    )
    listing = action(agent, "list", "list a zone's agents and their rights")
    listing.add_argument("--zone", required=True)
    remove = action(agent, "remove", "remove an agent with its subscriptions and queue")
    remove.add_argument("--zone", required=True)
    remove.add_argument("--source-id", required=True)
    for name, help_text in (("permit", "grant rights"), ("deny", "withdraw rights")):
        sub = action(agent, name, f"{help_text} on an object ({', '.join(agents.RIGHTS)})")
        sub.add_argument("--zone", required=True)
        sub.add_argument("--source-id", required=True)
        sub.add_argument("--object", required=True, help="a SIF object name, e.g. LearnerPersonal")
        sub.add_argument(
            "--right", required=True, action="append", choices=agents.RIGHTS, dest="rights"
        )
    return sif


def run(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            if args.sif_kind == "zone":
                agents.add_zone(session, args.zone)
                print(f"zone {args.zone}: agents post to /sif/{args.zone}")
            elif args.sif_action == "add":
                agent = agents.add_agent(
                    session, args.zone, args.source_id, args.ukprn, args.secret, args.laestab
                )
                print(f"agent {agent.source_id} added to zone {args.zone}")
            elif args.sif_action == "list":
                for agent, rights in agents.list_agents(session, args.zone):
                    state = f"{agent.mode} {agent.version}" if agent.registered else "unregistered"
                    print(
                        f"{agent.source_id}\tUKPRN {agent.ukprn}\tLAESTAB {agent.laestab or '-'}"
                        f"\t{state}{' asleep' if agent.asleep else ''}\t{' '.join(rights)}"
                    )
            elif args.sif_action == "remove":
                agents.remove_agent(session, args.zone, args.source_id)
                print(f"agent {args.source_id} removed from zone {args.zone}")
            else:
                granted = args.sif_action == "permit"
                agents.set_rights(
                    session, args.zone, args.source_id, args.object, args.rights, granted
                )
                verb = "granted" if granted else "withdrawn"
                print(f"{args.source_id}: {', '.join(args.rights)} on {args.object} {verb}")
    finally:
        db.dispose()
    return 0
