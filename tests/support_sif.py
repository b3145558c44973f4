"""SIF zone test helpers: zones and agents made with ``miap sif``, a reference agent that
holds every message it sends and receives to ``xsd/sif/``, and synthetic pupils."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

import xmlschema
from lxml import etree

from miap.client.sif_agent import Pupil, PushListener, Reply, SifAgent, learner_personal
from miap.server.register.identifiers import upn_check_letter
from miap.server.register.providers import add_provider
from miap.server.sif import agents
from miap.storage.engine import Database
from tests.support import REPO, synthetic_name, synthetic_postcode

SIF_SCHEMA = xmlschema.XMLSchema(str(REPO / "xsd" / "sif" / "SIF_Message.xsd"))
_rng = random.Random()


def assert_sif_valid(document: bytes | etree._Element) -> None:
    """A whole SIF_Message obeys our published schemas (a second validator: xmlschema)."""
    raw = document if isinstance(document, bytes) else etree.tostring(document)
    SIF_SCHEMA.validate(raw)


class CheckedAgent(SifAgent):
    """The reference agent, checking every message both ways against the schemas."""

    #: The school it acts for (LAESTAB), if any.
    laestab: str | None = None

    def send(self, root: etree._Element | bytes) -> Reply:
        raw = root if isinstance(root, bytes) else etree.tostring(root, encoding="UTF-8")
        assert_sif_valid(raw)
        reply = super().send(raw)
        assert_sif_valid(reply.raw)
        return reply

    def send_raw(self, raw: bytes) -> Reply:
        """An arbitrary (possibly invalid) body; only the answer is checked."""
        reply = super().send(raw)
        assert_sif_valid(reply.raw)
        return reply


class CheckedListener(PushListener):
    def receive(self, body: bytes) -> bytes:
        assert_sif_valid(body)
        answer = super().receive(body)
        assert_sif_valid(answer)
        return answer


def zone_url(server_url: str, zone: str) -> str:
    return server_url.rsplit("/", 1)[0] + f"/sif/{zone}"


@dataclass
class Zone:
    """A zone of the test database; agents are added in process (the ``miap sif`` commands
    have their own test), which keeps each test to a few seconds."""

    name: str
    url: str
    db: Database

    def agent(
        self,
        ukprn: str | None = None,
        laestab: str | None = None,
        source_id: str | None = None,
        version: str = "2.4",
    ) -> CheckedAgent:
        """A new agent of the zone, not yet registered; without ``ukprn`` it acts for a
        provider of its own."""
        source_id = source_id or f"agent-{uuid.uuid4().hex[:10]}"
        secret = f"secret-{uuid.uuid4().hex}"
        with self.db.transaction() as session:
            if ukprn is None:
                ukprn = str(_rng.randint(20_000_000, 99_999_999))
                add_provider(session, ukprn, f"Test School {ukprn}", f"Pw{uuid.uuid4().hex[:14]}")
            agents.add_agent(session, self.name, source_id, ukprn, secret, laestab)
        agent = CheckedAgent(self.url, source_id, secret, version=version)
        agent.laestab = laestab
        return agent

    def permit(self, agent: SifAgent, object_name: str, *rights: str) -> None:
        with self.db.transaction() as session:
            agents.set_rights(session, self.name, agent.source_id, object_name, rights, True)

    def deny(self, agent: SifAgent, object_name: str, *rights: str) -> None:
        with self.db.transaction() as session:
            agents.set_rights(session, self.name, agent.source_id, object_name, rights, False)


def new_zone(server_url: str, db: Database) -> Zone:
    name = f"Z{uuid.uuid4().hex[:12]}"
    with db.transaction() as session:
        agents.add_zone(session, name)
    return Zone(name, zone_url(server_url, name), db)


def laestab() -> str:
    return f"{_rng.randint(100, 999)}{_rng.randint(2000, 7999)}"


def upn(school: str) -> str:
    """A valid permanent UPN of a pupil at ``school`` (LAESTAB)."""
    body = f"{school}{_rng.randint(10, 25):02d}{_rng.randint(0, 999):03d}"
    return upn_check_letter(body) + body


def pupil(school: str, **overrides: str) -> Pupil:
    """A synthetic pupil of ``school`` nobody else shares details with."""
    year = _rng.randint(2008, 2018)
    values = {
        "upn": upn(school),
        "family_name": synthetic_name(),
        "given_name": synthetic_name(),
        "birth_date": f"{year}-{_rng.randint(1, 12):02d}-{_rng.randint(1, 28):02d}",
        "gender": _rng.choice("MF"),
        "postcode": synthetic_postcode(),
    }
    values.update(overrides)
    return Pupil(**values)


def lp(p: Pupil) -> etree._Element:
    return learner_personal(p)


def error_of(reply: Reply) -> tuple[int, int] | None:
    return None if reply.error is None else reply.error[:2]


def text(element: etree._Element, path: str) -> str | None:
    ns = "{http://www.sifinfo.org/uk/infrastructure/2.x}"
    return element.findtext("/".join(ns + part for part in path.split("/")))
