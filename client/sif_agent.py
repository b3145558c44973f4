"""A small reference SIF UK agent: registers with a miap zone (push or pull), subscribes to
LearnerPersonal, publishes a pupil from a CSV row and waits for the zone's answer carrying the
ULN. ``SifAgent`` is also the library the tests and the benchmark drive the zone with.

    miap-client sif-agent --url http://127.0.0.1:8000/sif/ZONE --source-id ID --secret S \\
        --csv pupils.csv [--row 1] [--mode pull|push] [--listen 127.0.0.1:0]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import http.server
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
from lxml import etree

NS = "http://www.sifinfo.org/uk/infrastructure/2.x"
CONTENT_TYPE = 'application/xml;charset="utf-8"'
#: SIF_Provision's lists in the schema's order (``SIF_<name>Objects``).
PROVISION_LISTS = (
    "Provide",
    "Subscribe",
    "PublishAdd",
    "PublishChange",
    "PublishDelete",
    "Request",
    "Respond",
)
#: The CSV columns a pupil row has (a school census extract has them all, and more).
CSV_COLUMNS = ("UPN", "Surname", "Forename", "DOB", "Gender", "Postcode")


def q(local: str) -> str:
    return f"{{{NS}}}{local}"


def guid() -> str:
    return uuid.uuid4().hex.upper()


class SifError(Exception):
    """The zone answered with SIF_Error, or not with a SIF_Ack at all."""


@dataclass
class Reply:
    """The zone's SIF_Ack to one message."""

    root: etree._Element
    raw: bytes

    @property
    def status(self) -> int | None:
        code = self.root.findtext(f"{q('SIF_Ack')}/{q('SIF_Status')}/{q('SIF_Code')}")
        return None if code is None else int(code)

    @property
    def error(self) -> tuple[int, int, str] | None:
        error = self.root.find(f"{q('SIF_Ack')}/{q('SIF_Error')}")
        if error is None:
            return None
        return (
            int(error.findtext(q("SIF_Category"))),
            int(error.findtext(q("SIF_Code"))),
            error.findtext(q("SIF_Desc")) or "",
        )

    @property
    def data(self) -> list[etree._Element]:
        holder = self.root.find(f"{q('SIF_Ack')}/{q('SIF_Status')}/{q('SIF_Data')}")
        return [] if holder is None else list(holder)


@dataclass
class Pupil:
    upn: str
    family_name: str
    given_name: str
    birth_date: str
    gender: str  # SIF UK: M, F, U or W
    postcode: str | None
    ref_id: str = ""

    def __post_init__(self) -> None:
        self.ref_id = self.ref_id or guid()


def pupils_from_csv(path: Path) -> list[Pupil]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in CSV_COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the CSV lacks {', '.join(missing)}")
        return [
            Pupil(
                upn=row["UPN"].strip().upper(),
                family_name=row["Surname"].strip(),
                given_name=row["Forename"].strip(),
                birth_date=row["DOB"].strip(),
                gender=row["Gender"].strip().upper(),
                postcode=row["Postcode"].strip() or None,
            )
            for row in reader
        ]


def learner_personal(pupil: Pupil) -> etree._Element:
    element = etree.Element(q("LearnerPersonal"), RefId=pupil.ref_id)
    info = etree.SubElement(element, q("PersonalInformation"))
    name = etree.SubElement(info, q("Name"), Type="C")
    etree.SubElement(name, q("FamilyName")).text = pupil.family_name
    etree.SubElement(name, q("GivenName")).text = pupil.given_name
    demographics = etree.SubElement(info, q("Demographics"))
    etree.SubElement(demographics, q("Gender")).text = pupil.gender
    etree.SubElement(demographics, q("BirthDate")).text = pupil.birth_date
    if pupil.postcode:
        address = etree.SubElement(info, q("Address"), Type="0")
        etree.SubElement(address, q("PostCode")).text = pupil.postcode
    if pupil.upn:
        etree.SubElement(element, q("UPN")).text = pupil.upn
    return element


class SifAgent:
    """One agent of a zone, speaking to the zone at ``url`` (``…/sif/ZONE``)."""

    def __init__(
        self, url: str, source_id: str, secret: str, version: str = "2.4", timeout: float = 30
    ) -> None:
        self.url, self.source_id, self.version, self.timeout = url, source_id, version, timeout
        self.http = requests.Session()
        self.http.auth = (source_id, secret)
        #: Every message sent and received (tests hold each to the schemas).
        self.sent: list[bytes] = []

    # -- building ---------------------------------------------------------------------------

    def message(
        self, kind: str, msg_id: str | None = None
    ) -> tuple[etree._Element, etree._Element]:
        root = etree.Element(q("SIF_Message"), nsmap={None: NS}, Version=self.version)
        body = etree.SubElement(root, q(kind))
        header = etree.SubElement(body, q("SIF_Header"))
        etree.SubElement(header, q("SIF_MsgId")).text = msg_id or guid()
        etree.SubElement(header, q("SIF_Timestamp")).text = dt.datetime.now(
            dt.timezone.utc
        ).isoformat(timespec="seconds")
        etree.SubElement(header, q("SIF_SourceId")).text = self.source_id
        return root, body

    def send(self, root: etree._Element | bytes) -> Reply:
        raw = root if isinstance(root, bytes) else etree.tostring(root, encoding="UTF-8")
        self.sent.append(raw)
        response = self.http.post(
            self.url, data=raw, headers={"Content-Type": CONTENT_TYPE}, timeout=self.timeout
        )
        if response.status_code != 200:
            raise SifError(f"HTTP {response.status_code}: {response.text.strip()[:200]}")
        reply = Reply(etree.fromstring(response.content), response.content)
        if reply.root.find(q("SIF_Ack")) is None:
            raise SifError("the zone did not answer with a SIF_Ack")
        return reply

    # -- messages ---------------------------------------------------------------------------

    def register(
        self,
        mode: str = "Pull",
        url: str | None = None,
        versions: Sequence[str] = ("2.4",),
        max_buffer: int = 65536,
    ) -> Reply:
        root, body = self.message("SIF_Register")
        etree.SubElement(body, q("SIF_Name")).text = f"miap reference agent {self.source_id}"
        for version in versions:
            etree.SubElement(body, q("SIF_Version")).text = version
        etree.SubElement(body, q("SIF_MaxBufferSize")).text = str(max_buffer)
        etree.SubElement(body, q("SIF_Mode")).text = mode
        if url:
            protocol = etree.SubElement(
                body,
                q("SIF_Protocol"),
                Type="HTTPS" if url.startswith("https") else "HTTP",
                Secure="Yes" if url.startswith("https") else "No",
            )
            etree.SubElement(protocol, q("SIF_URL")).text = url
        return self.send(root)

    def unregister(self) -> Reply:
        return self.send(self.message("SIF_Unregister")[0])

    def objects(self, kind: str, *names: str) -> Reply:
        """SIF_Provide, SIF_Unprovide, SIF_Subscribe or SIF_Unsubscribe of ``names``."""
        root, body = self.message(kind)
        for name in names:
            etree.SubElement(body, q("SIF_Object"), ObjectName=name)
        return self.send(root)

    def provision(self, **lists: Sequence[str]) -> Reply:
        """SIF_Provision (SIF 2.x): the agent's whole provision in one message, each list by
        its element's name without ``SIF_`` and ``Objects`` (``Provide``, ``Subscribe``,
        ``PublishAdd``, ``PublishChange``, ``PublishDelete``, ``Request``, ``Respond``);
        lists not given are sent empty."""
        unknown = set(lists) - set(PROVISION_LISTS)
        if unknown:
            raise ValueError(f"no SIF_Provision list {', '.join(sorted(unknown))}")
        root, body = self.message("SIF_Provision")
        for name in PROVISION_LISTS:
            listing = etree.SubElement(body, q(f"SIF_{name}Objects"))
            for object_name in lists.get(name, ()):
                etree.SubElement(listing, q("SIF_Object"), ObjectName=object_name)
        return self.send(root)

    def event(
        self,
        objects: Sequence[etree._Element],
        action: str = "Add",
        object_name: str = "LearnerPersonal",
        msg_id: str | None = None,
    ) -> Reply:
        return self.send(self.event_message(objects, action, object_name, msg_id))

    def event_message(
        self,
        objects: Sequence[etree._Element],
        action: str = "Add",
        object_name: str = "LearnerPersonal",
        msg_id: str | None = None,
    ) -> etree._Element:
        root, body = self.message("SIF_Event", msg_id)
        data = etree.SubElement(body, q("SIF_ObjectData"))
        holder = etree.SubElement(data, q("SIF_EventObject"), ObjectName=object_name, Action=action)
        for element in objects:
            holder.append(element)
        return root

    def request(
        self,
        object_name: str,
        conditions: Sequence[tuple[str, str]] = (),
        max_buffer: int = 65536,
        msg_id: str | None = None,
    ) -> Reply:
        """A SIF_Request of ``object_name`` where every (element, value) is EQ (And)."""
        root, body = self.message("SIF_Request", msg_id)
        etree.SubElement(body, q("SIF_Version")).text = self.version
        etree.SubElement(body, q("SIF_MaxBufferSize")).text = str(max_buffer)
        query = etree.SubElement(body, q("SIF_Query"))
        etree.SubElement(query, q("SIF_QueryObject"), ObjectName=object_name)
        if conditions:
            group = etree.SubElement(query, q("SIF_ConditionGroup"), Type="None")
            listed = etree.SubElement(
                group, q("SIF_Conditions"), Type="And" if len(conditions) > 1 else "None"
            )
            for element, value in conditions:
                condition = etree.SubElement(listed, q("SIF_Condition"))
                etree.SubElement(condition, q("SIF_Element")).text = element
                etree.SubElement(condition, q("SIF_Operator")).text = "EQ"
                etree.SubElement(condition, q("SIF_Value")).text = value
        return self.send(root)

    def respond(
        self,
        request_msg_id: str,
        packet: int,
        more: bool,
        objects: Sequence[etree._Element],
        destination: str | None = None,
    ) -> Reply:
        root, body = self.message("SIF_Response")
        if destination:
            etree.SubElement(body.find(q("SIF_Header")), q("SIF_DestinationId")).text = destination
        etree.SubElement(body, q("SIF_RequestMsgId")).text = request_msg_id
        etree.SubElement(body, q("SIF_PacketNumber")).text = str(packet)
        etree.SubElement(body, q("SIF_MorePackets")).text = "Yes" if more else "No"
        data = etree.SubElement(body, q("SIF_ObjectData"))
        for element in objects:
            data.append(element)
        return self.send(root)

    def ack(self, original: etree._Element, code: int = 1) -> Reply:
        return self.send(ack_for(self, original, code))

    def control(self, command: str) -> Reply:
        """SIF_SystemControl: SIF_Ping, SIF_Sleep, SIF_Wakeup, SIF_GetMessage,
        SIF_GetZoneStatus …"""
        root, body = self.message("SIF_SystemControl")
        data = etree.SubElement(body, q("SIF_SystemControlData"))
        etree.SubElement(data, q(command))
        return self.send(root)

    # -- pull -------------------------------------------------------------------------------

    def pull(self) -> etree._Element | None:
        """The next waiting message (acked, so the zone releases the one after), or None."""
        reply = self.control("SIF_GetMessage")
        if reply.error is not None:
            raise SifError(f"SIF_Error {reply.error}")
        if reply.status == 9:
            return None
        [message] = reply.data
        acked = self.ack(message)
        if acked.error is not None:
            raise SifError(f"SIF_Error {acked.error}")
        return message

    def pull_until(self, wanted, timeout: float = 30.0, poll: float = 0.05) -> list:  # noqa: ANN001
        """Pull messages until ``wanted(messages)`` is true; all messages pulled."""
        pulled: list[etree._Element] = []
        deadline = time.monotonic() + timeout
        while not wanted(pulled):
            if time.monotonic() > deadline:
                raise SifError(f"timed out after {len(pulled)} messages")
            message = self.pull()
            if message is None:
                time.sleep(poll)
            else:
                pulled.append(message)
        return pulled


def ack_for(agent: SifAgent, original: etree._Element, code: int = 1) -> etree._Element:
    """The agent's SIF_Ack of a message it received."""
    header = original[0].find(q("SIF_Header"))
    root, body = agent.message("SIF_Ack")
    etree.SubElement(body, q("SIF_OriginalSourceId")).text = header.findtext(q("SIF_SourceId"))
    etree.SubElement(body, q("SIF_OriginalMsgId")).text = header.findtext(q("SIF_MsgId"))
    status = etree.SubElement(body, q("SIF_Status"))
    etree.SubElement(status, q("SIF_Code")).text = str(code)
    return root


class PushListener:
    """An HTTP endpoint a push agent registers: every message POSTed to it is acked (status
    1, or 7 for a MsgId it already has, or 8 while ``sleeping``) and put on ``received``."""

    def __init__(self, agent: SifAgent, host: str = "127.0.0.1", port: int = 0) -> None:
        self.agent = agent
        self.received: queue.Queue[etree._Element] = queue.Queue()
        self.raw: list[bytes] = []
        self.seen: set[str] = set()
        self.sleeping = False
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                answer = listener.receive(body)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/sif"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def receive(self, body: bytes) -> bytes:
        message = etree.fromstring(body)
        msg_id = message[0].find(q("SIF_Header")).findtext(q("SIF_MsgId"))
        code = 8 if self.sleeping else 7 if msg_id in self.seen else 1
        if code == 1:
            self.seen.add(msg_id)
            self.raw.append(body)
            self.received.put(message)
        return etree.tostring(ack_for(self.agent, message, code), encoding="UTF-8")

    def __enter__(self) -> PushListener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def take(self, count: int, timeout: float = 30.0) -> list[etree._Element]:
        deadline = time.monotonic() + timeout
        taken = []
        while len(taken) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SifError(f"timed out with {len(taken)} of {count} messages")
            try:
                taken.append(self.received.get(timeout=remaining))
            except queue.Empty:
                continue
        return taken


def uln_events(messages: Sequence[etree._Element]) -> Iterator[tuple[str, str | None, str]]:
    """(RefId, UPN, ULN) of every LearnerPersonal carrying a ULN in ``messages``' events."""
    for message in messages:
        for learner in message.iterfind(f".//{q('SIF_EventObject')}/{q('LearnerPersonal')}"):
            uln = learner.findtext(q("ULN"))
            if uln:
                yield learner.get("RefId"), learner.findtext(q("UPN")), uln


# -- the command ----------------------------------------------------------------------------


def add_parser(commands) -> argparse.ArgumentParser:  # noqa: ANN001 - argparse's private type
    text = "a reference SIF agent: publish pupils from a CSV and print the ULNs the zone sends"
    sub = commands.add_parser("sif-agent", help=text, description=text)
    sub.add_argument("--url", required=True, help="the zone: http://HOST:PORT/sif/ZONE")
    sub.add_argument("--source-id", required=True, help="this agent's SourceId")
    sub.add_argument("--secret", required=True, help="its secret (HTTP Basic)")
    sub.add_argument("--csv", type=Path, required=True, help=f"pupils: {','.join(CSV_COLUMNS)}")
    sub.add_argument("--row", type=int, default=0, help="send only this data row (1 = first)")
    sub.add_argument("--mode", choices=("pull", "push"), default="pull")
    sub.add_argument("--listen", default="127.0.0.1:0", help="push: HOST:PORT to listen on")
    sub.add_argument("--version", default="2.4", choices=("2.0r1", "2.1", "2.3", "2.4"))
    sub.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the ULNs")
    return sub


def run(args: argparse.Namespace) -> int:
    """Register, subscribe, publish the pupils, print ``RefId UPN ULN`` per answer."""
    try:
        pupils = pupils_from_csv(args.csv)
    except (OSError, ValueError) as error:
        print(f"miap-client: error: {error}", file=sys.stderr)
        return 2
    if args.row:
        if not 1 <= args.row <= len(pupils):
            print(
                f"miap-client: error: --row {args.row}: the CSV has {len(pupils)} rows",
                file=sys.stderr,
            )
            return 2
        pupils = [pupils[args.row - 1]]
    agent = SifAgent(args.url, args.source_id, args.secret, args.version)
    host, _, port = args.listen.rpartition(":")
    try:
        if args.mode == "push":
            with PushListener(agent, host or "127.0.0.1", int(port or 0)) as listener:
                _checked(agent.register("Push", listener.url, versions=(args.version,)))
                answers = _publish(agent, pupils, lambda: listener.take(1, args.wait))
        else:
            _checked(agent.register("Pull", versions=(args.version,)))
            answers = _publish(agent, pupils, lambda: agent.pull_until(bool, args.wait))
    except SifError as error:
        print(f"miap-client: error: {error}", file=sys.stderr)
        return 3
    except requests.RequestException as error:
        print(f"miap-client: error: zone unreachable: {type(error).__name__}", file=sys.stderr)
        return 4
    for ref_id, upn, uln in answers:
        print(f"{ref_id}\t{upn or '-'}\t{uln}")
    return 0


def _checked(reply: Reply) -> Reply:
    if reply.error is not None:
        category, code, text = reply.error
        raise SifError(f"SIF_Error {category}/{code}: {text}")
    return reply


def _publish(agent: SifAgent, pupils: list[Pupil], receive) -> list:  # noqa: ANN001
    _checked(agent.objects("SIF_Subscribe", "LearnerPersonal"))
    wanted = {pupil.ref_id for pupil in pupils}
    for pupil in pupils:
        _checked(agent.event([learner_personal(pupil)]))
    answers: dict[str, tuple] = {}
    while wanted - answers.keys():
        for answer in uln_events(receive()):
            if answer[0] in wanted:
                answers[answer[0]] = answer
    return [answers[pupil.ref_id] for pupil in pupils]
