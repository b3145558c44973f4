"""The zone as a ZIS: what each infrastructure message does, inside one transaction.

``handle`` takes an authenticated, schema-valid message of a known agent and answers the
SIF_Ack to send back; everything it queues for other agents (events, requests, responses)
commits with the MsgId that marks the message as received, or not at all.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from miap.server.access.policy import Action, decide
from miap.server.exceptions import DomainError
from miap.server.register import audit
from miap.server.register.auth import Caller
from miap.server.services import Services
from miap.server.sif import outbox, provider, visibility
from miap.server.sif.agents import LEARNER_PERSONAL, may
from miap.server.sif.codes import Problem, SifRefusal, Status, error_for
from miap.server.sif.messages import (
    ZIS_SOURCE_ID,
    Inbound,
    ack,
    add_error,
    child,
    envelope,
    new_guid,
    serialise,
    with_version,
)
from miap.server.sif.schema import VERSIONS, q
from miap.storage.models import Learner, utcnow
from miap.storage.sif import (
    SifAgent,
    SifPermission,
    SifProvision,
    SifReceived,
    SifRequest,
    SifSubscription,
    SifZone,
)

log = logging.getLogger("miap.sif")

#: The smallest SIF_MaxBufferSize an agent may register or request with.
MIN_BUFFER = 4096
#: How long an agent's MsgIds are remembered for duplicate detection (pruned when the agent
#: registers and when its pull queue is found empty).
REMEMBER_MSG_IDS = dt.timedelta(days=7)
#: Event actions and the right each needs.
_EVENT_RIGHTS = {
    "Add": ("add", Problem.NO_PERMISSION_ADD),
    "Change": ("change", Problem.NO_PERMISSION_CHANGE),
    "Delete": ("delete", Problem.NO_PERMISSION_DELETE),
}


@dataclass
class Context:
    session: Session
    services: Services
    zone: SifZone
    agent: SifAgent
    message: Inbound
    request_id: str

    def ack(self, status: Status = Status.SUCCESS, **kwargs) -> etree._Element:  # noqa: ANN003
        return ack(
            answer_version(self.agent, self.message.version),
            self.agent.source_id,
            self.message.msg_id,
            status=status,
            **kwargs,
        )

    def audit(self, operation: str, outcome: str, ulns: list[str]) -> None:
        audit.record(
            self.session,
            request_id=self.request_id,
            ukprn=self.agent.ukprn,
            user_name=self.agent.source_id,
            operation=operation,
            outcome=outcome,
            ulns=ulns,
            route=audit.SIF,
            user_type="ORG",
        )


def answer_version(agent: SifAgent, sent: str) -> str:
    """The version the zone answers an agent in: the one it registered with, else the one it
    sent (if we speak it), else our newest."""
    if agent.registered and agent.version:
        return agent.version
    return sent if sent in VERSIONS else VERSIONS[-1]


def handle(ctx: Context) -> etree._Element:
    """The SIF_Ack for one message (refusals raise ``SifRefusal``)."""
    message, agent = ctx.message, ctx.agent
    if message.version not in VERSIONS:
        raise SifRefusal(
            Problem.UNSUPPORTED_VERSION,
            f"SIF_Message Version {message.version} is not one of {', '.join(VERSIONS)}",
        )
    if ctx.session.get(SifReceived, (agent.id, message.msg_id)) is not None:
        return _duplicate(ctx)
    try:
        # A savepoint: the same MsgId arriving twice at once is refused by the key, not twice
        # processed (on PostgreSQL the second insert waits for the first transaction's end).
        with ctx.session.begin_nested():
            ctx.session.add(
                SifReceived(agent_id=agent.id, msg_id=message.msg_id, received_at=utcnow())
            )
    except IntegrityError:
        return _duplicate(ctx)
    if message.kind != "SIF_Register" and not agent.registered:
        raise SifRefusal(Problem.NOT_REGISTERED, f"SourceId {agent.source_id} is not registered")
    handler = HANDLERS.get(message.kind)
    if handler is None:
        raise SifRefusal(Problem.NOT_SUPPORTED, f"{message.kind} is not supported by this zone")
    return handler(ctx)


def _duplicate(ctx: Context) -> etree._Element:
    return ctx.ack(Status.DUPLICATE, description="already have a message with this MsgId")


def forget_old_msg_ids(session: Session, agent_id: int) -> None:
    session.execute(
        delete(SifReceived).where(
            SifReceived.agent_id == agent_id,
            SifReceived.received_at < utcnow() - REMEMBER_MSG_IDS,
        )
    )


def caller(agent: SifAgent) -> Caller:
    """The agent as the access policy sees it: a provider (ORG) user named by its SourceId."""
    return Caller(agent.ukprn, agent.source_id)


def _objects(body: etree._Element) -> list[str]:
    return [obj.get("ObjectName") for obj in body.iterfind(q("SIF_Object"))]


# -- registration ---------------------------------------------------------------------------


def choose_version(offered: list[str]) -> str | None:
    """The version to speak with an agent: the first it offers that we speak; a wildcard
    (``*``, ``2.*``) takes our newest that fits."""
    for version in offered:
        if version in VERSIONS:
            return version
        if version.endswith("*"):
            prefix = version[:-1]
            fitting = [ours for ours in VERSIONS if ours.startswith(prefix)]
            if fitting:
                return fitting[-1]
    return None


def on_register(ctx: Context) -> etree._Element:
    body, agent = ctx.message.body, ctx.agent
    offered = [v.text for v in body.iterfind(q("SIF_Version"))]
    version = choose_version(offered)
    if version is None:
        raise SifRefusal(
            Problem.UNSUPPORTED_VERSION,
            f"none of {', '.join(offered)[:200]} is one of {', '.join(VERSIONS)}",
        )
    buffer = int(body.findtext(q("SIF_MaxBufferSize")))
    if buffer < MIN_BUFFER:
        raise SifRefusal(Problem.BUFFER_TOO_SMALL, f"SIF_MaxBufferSize below {MIN_BUFFER}")
    mode = body.findtext(q("SIF_Mode"))
    url = body.findtext(f"{q('SIF_Protocol')}/{q('SIF_URL')}")
    if mode == "Push" and not url:
        raise SifRefusal(Problem.REGISTRATION, "a Push agent sends its URL in SIF_Protocol")
    agent = outbox.lock(ctx.session, agent.id)
    agent.registered = True
    agent.name = body.findtext(q("SIF_Name"))
    agent.version, agent.mode, agent.max_buffer = version, mode, buffer
    agent.url = url if mode == "Push" else None
    agent.delivery_failures = 0
    ctx.agent = agent
    forget_old_msg_ids(ctx.session, agent.id)
    if outbox.waiting(ctx.session, agent.id):
        outbox.kick(ctx.session, agent)
    log.info("sif agent %s registered %s %s", agent.source_id, mode, version)
    return ctx.ack()


def on_unregister(ctx: Context) -> etree._Element:
    """Unregistering ends the agent's provision, subscriptions and waiting messages."""
    agent = outbox.lock(ctx.session, ctx.agent.id)
    reply = ctx.ack()
    for model in (SifProvision, SifSubscription):
        ctx.session.execute(delete(model).where(model.agent_id == agent.id))
    outbox.clear(ctx.session, agent.id)
    agent.registered, agent.mode, agent.url, agent.version = False, None, None, None
    agent.asleep = False
    return reply


# -- provision and subscription --------------------------------------------------------------


def on_provide(ctx: Context) -> etree._Element:
    names = _objects(ctx.message.body)
    _may_provide(ctx, names)
    _provide(ctx, names)
    return ctx.ack()


def _may_provide(ctx: Context, names: list[str]) -> None:
    """Refuse unless the agent holds the right and nobody else provides any of ``names``."""
    for name in names:
        if not may(ctx.session, ctx.agent, name, "provide"):
            raise SifRefusal(Problem.NO_PERMISSION_PROVIDE, f"may not provide {name}")
        if name == LEARNER_PERSONAL:
            raise SifRefusal(Problem.ALREADY_PROVIDED, f"the zone itself provides {name}")
        held = ctx.session.get(SifProvision, (ctx.zone.id, name))
        if held is not None and held.agent_id != ctx.agent.id:
            raise SifRefusal(Problem.ALREADY_PROVIDED, f"{name} already has a provider")


def _provide(ctx: Context, names: list[str]) -> None:
    for name in names:
        if ctx.session.get(SifProvision, (ctx.zone.id, name)) is None:
            ctx.session.add(
                SifProvision(zone_id=ctx.zone.id, object_name=name, agent_id=ctx.agent.id)
            )
            ctx.session.flush()


def on_unprovide(ctx: Context) -> etree._Element:
    names = _objects(ctx.message.body)
    held = [ctx.session.get(SifProvision, (ctx.zone.id, name)) for name in names]
    for name, provision in zip(names, held, strict=True):
        if provision is None or provision.agent_id != ctx.agent.id:
            raise SifRefusal(Problem.NOT_PROVIDER, f"this agent does not provide {name}")
    for provision in held:
        ctx.session.delete(provision)
    return ctx.ack()


def on_subscribe(ctx: Context) -> etree._Element:
    names = _objects(ctx.message.body)
    for name in names:
        if not may(ctx.session, ctx.agent, name, "subscribe"):
            raise SifRefusal(Problem.NO_PERMISSION_SUBSCRIBE, f"may not subscribe to {name}")
    _subscribe(ctx, names)
    return ctx.ack()


def _subscribe(ctx: Context, names: list[str]) -> None:
    for name in dict.fromkeys(names):
        if ctx.session.get(SifSubscription, (ctx.agent.id, name)) is None:
            ctx.session.add(SifSubscription(agent_id=ctx.agent.id, object_name=name))
            ctx.session.flush()


#: SIF_Provision's lists in the schema's order: the right each object needs, and the
#: refusal without it (as for the single messages: SIF_Provide, SIF_Subscribe, SIF_Event…).
_PROVISION_LISTS = (
    ("SIF_ProvideObjects", "provide", Problem.NO_PERMISSION_PROVIDE),
    ("SIF_SubscribeObjects", "subscribe", Problem.NO_PERMISSION_SUBSCRIBE),
    ("SIF_PublishAddObjects", "add", Problem.NO_PERMISSION_ADD),
    ("SIF_PublishChangeObjects", "change", Problem.NO_PERMISSION_CHANGE),
    ("SIF_PublishDeleteObjects", "delete", Problem.NO_PERMISSION_DELETE),
    ("SIF_RequestObjects", "request", Problem.NO_PERMISSION_REQUEST),
    ("SIF_RespondObjects", "respond", Problem.NO_PERMISSION_RESPOND),
)


def on_provision(ctx: Context) -> etree._Element:
    """SIF 2.x: the agent's whole provision in one message. Every object of every list must
    be within the agent's rights, and what it provides free (as SIF_Provide), or nothing
    changes; then what it provides and subscribes to becomes exactly the lists' (objects
    left out are unprovided and unsubscribed). Publishing, requesting and responding need
    no more than the right, which the zone checks again on each message."""
    lists = {
        element: _objects(ctx.message.body.find(q(element))) for element, _, _ in _PROVISION_LISTS
    }
    for element, right, problem in _PROVISION_LISTS:
        for name in lists[element]:
            if not may(ctx.session, ctx.agent, name, right):
                raise SifRefusal(problem, f"may not {right} {name}")
    provided, subscribed = lists["SIF_ProvideObjects"], lists["SIF_SubscribeObjects"]
    _may_provide(ctx, provided)
    for model, kept in ((SifProvision, provided), (SifSubscription, subscribed)):
        ctx.session.execute(
            delete(model)
            .where(model.agent_id == ctx.agent.id, model.object_name.not_in(kept))
            .execution_options(synchronize_session="fetch")
        )
    _provide(ctx, provided)
    _subscribe(ctx, subscribed)
    return ctx.ack()


def on_unsubscribe(ctx: Context) -> etree._Element:
    names = _objects(ctx.message.body)
    held = [ctx.session.get(SifSubscription, (ctx.agent.id, name)) for name in names]
    for name, subscription in zip(names, held, strict=True):
        if subscription is None:
            raise SifRefusal(Problem.NOT_SUBSCRIBED, f"this agent is not subscribed to {name}")
    for subscription in held:
        ctx.session.delete(subscription)
    return ctx.ack()


def subscribers(session: Session, zone: SifZone, name: str) -> list[SifAgent]:
    """Registered agents of the zone subscribed to ``name`` that still hold the right."""
    candidates = session.scalars(
        select(SifAgent)
        .join(SifSubscription, SifSubscription.agent_id == SifAgent.id)
        .where(
            SifAgent.zone_id == zone.id,
            SifAgent.registered.is_(True),
            SifSubscription.object_name == name,
        )
        .order_by(SifAgent.id)
    ).all()
    return [agent for agent in candidates if may(session, agent, name, "subscribe")]


# -- events ----------------------------------------------------------------------------------


def on_event(ctx: Context) -> etree._Element:
    event_object = ctx.message.body.find(f"{q('SIF_ObjectData')}/{q('SIF_EventObject')}")
    name, action = event_object.get("ObjectName"), event_object.get("Action")
    right, problem = _EVENT_RIGHTS[action]
    if not may(ctx.session, ctx.agent, name, right):
        raise SifRefusal(problem, f"may not publish {action} events of {name}")
    if name == LEARNER_PERSONAL:
        return _learner_event(ctx, event_object, action)
    for agent in subscribers(ctx.session, ctx.zone, name):
        if agent.id != ctx.agent.id:
            outbox.put(ctx.session, agent.id, copy.deepcopy(ctx.message.root))
    return ctx.ack()


def _learner_event(ctx: Context, event_object: etree._Element, action: str) -> etree._Element:
    """A school's LearnerPersonal: matched or registered, its UPN linked, and a Change event
    with the ULN sent to every subscriber that may see the learner (the sender included)."""
    if action == "Delete":
        raise SifRefusal(Problem.EVENT_NOT_PROCESSED, "the register does not delete learners")
    decide(ctx.session, caller(ctx.agent), Action.REGISTER).enforce()
    objects = event_object.findall(q("LearnerPersonal"))
    if len(objects) != len(event_object):
        raise SifRefusal(Problem.INVALID_OBJECT, "a LearnerPersonal event carries LearnerPersonal")
    pupils = [provider.read_pupil(element) for element in objects]
    listeners = subscribers(ctx.session, ctx.zone, LEARNER_PERSONAL)
    for pupil in pupils:
        learner, outcome = provider.match_or_register(
            ctx.session, ctx.services.matcher, ctx.agent, pupil
        )
        ctx.audit(f"SIF_Event LearnerPersonal {action}", outcome.name, [learner.uln])
        for listener in visibility.audience(ctx.session, listeners, learner):
            notify(ctx, listener, learner, pupil.ref_id)
    return ctx.ack()


def notify(ctx: Context, listener: SifAgent, learner: Learner, ref_id: str) -> None:
    """Queue a Change of ``learner``'s LearnerPersonal (RefId ``ref_id``) for ``listener``."""
    root, body = envelope("SIF_Event", listener.version or VERSIONS[-1])
    data = child(body, "SIF_ObjectData")
    event_object = child(data, "SIF_EventObject")
    event_object.set("ObjectName", LEARNER_PERSONAL)
    event_object.set("Action", "Change")
    event_object.append(
        provider.learner_personal(ctx.session, listener, learner, ref_id, details=False)
    )
    outbox.put(ctx.session, listener.id, root)
    if listener.id != ctx.agent.id:
        audit.record(
            ctx.session,
            request_id=ctx.request_id,
            ukprn=listener.ukprn,
            user_name=listener.source_id,
            operation="SIF_Event LearnerPersonal notify",
            outcome="QUEUED",
            ulns=[learner.uln],
            route=audit.SIF,
            user_type="ORG",
        )


# -- requests and responses ------------------------------------------------------------------


def on_request(ctx: Context) -> etree._Element:
    body = ctx.message.body
    query = body.find(q("SIF_Query"))
    name = query.find(q("SIF_QueryObject")).get("ObjectName")
    if not may(ctx.session, ctx.agent, name, "request"):
        raise SifRefusal(Problem.NO_PERMISSION_REQUEST, f"may not request {name}")
    buffer = int(body.findtext(q("SIF_MaxBufferSize")))
    if buffer < MIN_BUFFER:
        raise SifRefusal(Problem.BUFFER_TOO_SMALL, f"SIF_MaxBufferSize below {MIN_BUFFER}")
    if name == LEARNER_PERSONAL:
        _answer_learners(ctx, query, buffer)
        return ctx.ack()
    provision = ctx.session.get(SifProvision, (ctx.zone.id, name))
    if provision is None:
        raise SifRefusal(Problem.NO_PROVIDER, f"no agent provides {name}")
    responder = ctx.session.get(SifAgent, provision.agent_id)
    if responder.asleep:
        return ctx.ack(Status.SLEEPING, description=f"the provider of {name} is sleeping")
    if (
        ctx.session.scalars(
            select(SifRequest.id).where(
                SifRequest.responder_id == responder.id, SifRequest.msg_id == ctx.message.msg_id
            )
        ).first()
        is None
    ):
        ctx.session.add(
            SifRequest(
                zone_id=ctx.zone.id,
                msg_id=ctx.message.msg_id,
                requester_id=ctx.agent.id,
                responder_id=responder.id,
                object_name=name,
                max_buffer=buffer,
                last_packet=0,
                sent_packets=0,
                created_at=utcnow(),
            )
        )
    outbox.put(
        ctx.session, responder.id, with_version(serialise(ctx.message.root), responder.version)
    )
    return ctx.ack()


def _answer_learners(ctx: Context, query: etree._Element, buffer: int) -> None:
    """The zone answers a LearnerPersonal request itself, in packets that fit ``buffer``."""
    version = ctx.agent.version or VERSIONS[-1]
    try:
        found = provider.answer(ctx.session, ctx.services.matcher, ctx.agent, query)
    except (SifRefusal, DomainError) as failure:
        problem, description = error_for(failure)
        root, body = _response(ctx, version, 1, more=False)
        add_error(body, problem, description)
        outbox.put(ctx.session, ctx.agent.id, root)
        ctx.audit("SIF_Request LearnerPersonal", f"{problem.category}/{problem.code}", [])
        return
    objects = [provider.learner_personal(ctx.session, ctx.agent, learner) for learner in found]
    empty, body = _response(ctx, version, 1, more=False)
    child(body, "SIF_ObjectData")
    packets = split(objects, buffer - len(serialise(empty)))
    for number, packet in enumerate(packets, start=1):
        root, body = _response(ctx, version, number, more=number < len(packets))
        data = child(body, "SIF_ObjectData")
        for element in packet:
            data.append(element)
        outbox.put(ctx.session, ctx.agent.id, root)
    ctx.audit("SIF_Request LearnerPersonal", f"{len(found)} FOUND", [lr.uln for lr in found])


def split(objects: list[etree._Element], room: int) -> list[list[etree._Element]]:
    """``objects`` in packets each of at most ``room`` bytes (one object per packet at least;
    always one packet, empty when nothing was found)."""
    packets: list[list[etree._Element]] = [[]]
    used = 0
    for element in objects:
        size = len(etree.tostring(element))
        if packets[-1] and used + size > room:
            packets.append([])
            used = 0
        packets[-1].append(element)
        used += size
    return packets


def _response(
    ctx: Context, version: str, number: int, more: bool
) -> tuple[etree._Element, etree._Element]:
    root, body = envelope("SIF_Response", version)
    child(body.find(q("SIF_Header")), "SIF_DestinationId", ctx.agent.source_id)
    child(body, "SIF_RequestMsgId", ctx.message.msg_id)
    child(body, "SIF_PacketNumber", str(number))
    child(body, "SIF_MorePackets", "Yes" if more else "No")
    return root, body


def on_response(ctx: Context) -> etree._Element:
    body = ctx.message.body
    request_msg_id = body.findtext(q("SIF_RequestMsgId"))
    request = ctx.session.scalars(
        select(SifRequest)
        .where(SifRequest.responder_id == ctx.agent.id, SifRequest.msg_id == request_msg_id)
        .with_for_update()
    ).first()
    if request is None:
        raise SifRefusal(
            Problem.INVALID_REQUEST_MSG_ID, f"no request {request_msg_id} is waiting for this agent"
        )
    if not may(ctx.session, ctx.agent, request.object_name, "respond"):
        raise SifRefusal(Problem.NO_PERMISSION_RESPOND, f"may not respond to {request.object_name}")
    number = int(body.findtext(q("SIF_PacketNumber")))
    if number != request.last_packet + 1:
        raise SifRefusal(
            Problem.INVALID_PACKET, f"packet {number}; expected {request.last_packet + 1}"
        )
    requester = ctx.session.get(SifAgent, request.requester_id)
    last = body.findtext(q("SIF_MorePackets")) == "No"
    packets = repacked(ctx.message.root, request.max_buffer)
    for offset, packet in enumerate(packets, start=1):
        packet_body = packet[0]
        packet_body.find(q("SIF_PacketNumber")).text = str(request.sent_packets + offset)
        more = not (last and offset == len(packets))
        packet_body.find(q("SIF_MorePackets")).text = "Yes" if more else "No"
        packet.set("Version", requester.version or VERSIONS[-1])
        outbox.put(ctx.session, requester.id, packet)
    if last:
        ctx.session.delete(request)
    else:
        request.last_packet = number
        request.sent_packets += len(packets)
    return ctx.ack()


def repacked(message: etree._Element, buffer: int) -> list[etree._Element]:
    """A provider's SIF_Response as packets that fit the requester's SIF_MaxBufferSize: the
    message itself when it fits (or carries SIF_Error), else copies of it (each with a MsgId
    of its own) sharing out its objects. Packet numbers are set by the caller."""
    data = message[0].find(q("SIF_ObjectData"))
    if data is None or len(serialise(message)) <= buffer or len(data) < 2:
        return [copy.deepcopy(message)]
    shell = copy.deepcopy(message)
    for element in list(shell[0].find(q("SIF_ObjectData"))):
        shell[0].find(q("SIF_ObjectData")).remove(element)
    packets = []
    for share in split(list(data), buffer - len(serialise(shell))):
        packet = copy.deepcopy(shell)
        packet[0].find(f"{q('SIF_Header')}/{q('SIF_MsgId')}").text = new_guid()
        holder = packet[0].find(q("SIF_ObjectData"))
        for element in share:
            holder.append(copy.deepcopy(element))
        packets.append(packet)
    return packets


# -- acks and system control -----------------------------------------------------------------


def on_ack(ctx: Context) -> etree._Element:
    """A pull agent acks the message it was handed; the next one is released."""
    original = ctx.message.body.findtext(q("SIF_OriginalMsgId"))
    if not outbox.release(ctx.session, ctx.agent.id, original):
        raise SifRefusal(Problem.NO_MESSAGE_TO_ACK, f"no message {original} is waiting for an ack")
    return ctx.ack()


def on_system_control(ctx: Context) -> etree._Element:
    data = ctx.message.body.find(q("SIF_SystemControlData"))
    command = etree.QName(data[0]).localname
    agent = ctx.agent
    if command == "SIF_Ping":
        agent = outbox.lock(ctx.session, agent.id)
        if outbox.waiting(ctx.session, agent.id):
            outbox.kick(ctx.session, agent)
        return ctx.ack(Status.SLEEPING if agent.asleep else Status.SUCCESS)
    if command == "SIF_Sleep":
        outbox.lock(ctx.session, agent.id).asleep = True
        return ctx.ack()
    if command == "SIF_Wakeup":
        agent = outbox.lock(ctx.session, agent.id)
        agent.asleep = False
        agent.delivery_failures = 0
        if outbox.waiting(ctx.session, agent.id):
            outbox.kick(ctx.session, agent)
        return ctx.ack()
    if command == "SIF_GetMessage":
        first = outbox.head(ctx.session, agent.id)
        if first is None:
            forget_old_msg_ids(ctx.session, agent.id)
            return ctx.ack(Status.NO_MESSAGES, description="no messages")
        first.handed_at = utcnow()
        return ctx.ack(data=[with_version(first.body.encode("utf-8"), agent.version)])
    if command == "SIF_GetZoneStatus":
        return ctx.ack(data=[zone_status(ctx.session, ctx.zone)])
    if command == "SIF_GetAgentACL":
        return ctx.ack(data=[agent_acl(ctx.session, agent)])
    raise SifRefusal(Problem.NOT_SUPPORTED, f"{command} is not supported by this zone")


def zone_status(session: Session, zone: SifZone) -> etree._Element:
    status = etree.Element(q("SIF_ZoneStatus"), ZoneId=zone.name)
    etree.SubElement(status, q("SIF_Name")).text = f"miap zone {zone.name}"
    providers = etree.SubElement(status, q("SIF_Providers"))
    rows = session.execute(
        select(SifAgent.source_id, SifProvision.object_name)
        .join(SifAgent, SifAgent.id == SifProvision.agent_id)
        .where(SifProvision.zone_id == zone.id)
        .order_by(SifAgent.source_id, SifProvision.object_name)
    ).all()
    by_source: dict[str, list[str]] = {ZIS_SOURCE_ID: [LEARNER_PERSONAL]}
    for source, name in rows:
        by_source.setdefault(source, []).append(name)
    for source, names in by_source.items():
        entry = etree.SubElement(providers, q("SIF_Provider"), SourceId=source)
        listing = etree.SubElement(entry, q("SIF_ObjectList"))
        for name in names:
            etree.SubElement(listing, q("SIF_Object"), ObjectName=name)
    nodes = etree.SubElement(status, q("SIF_SIFNodes"))
    for agent in session.scalars(
        select(SifAgent)
        .where(SifAgent.zone_id == zone.id, SifAgent.registered.is_(True))
        .order_by(SifAgent.source_id)
    ):
        node = etree.SubElement(nodes, q("SIF_SIFNode"), Type="Agent")
        etree.SubElement(node, q("SIF_SourceId")).text = agent.source_id
        etree.SubElement(node, q("SIF_Name")).text = agent.name or agent.source_id
        etree.SubElement(node, q("SIF_Version")).text = agent.version
        etree.SubElement(node, q("SIF_Mode")).text = agent.mode
        etree.SubElement(node, q("SIF_Sleeping")).text = "Yes" if agent.asleep else "No"
    versions = etree.SubElement(status, q("SIF_SupportedVersions"))
    for version in VERSIONS:
        etree.SubElement(versions, q("SIF_Version")).text = version
    return status


#: SIF_AgentACL's lists, in order, and the right each lists objects for.
_ACL_LISTS = (
    ("SIF_ProvideAccess", "provide"),
    ("SIF_SubscribeAccess", "subscribe"),
    ("SIF_PublishAddAccess", "add"),
    ("SIF_PublishChangeAccess", "change"),
    ("SIF_PublishDeleteAccess", "delete"),
    ("SIF_RequestAccess", "request"),
    ("SIF_RespondAccess", "respond"),
)


def agent_acl(session: Session, agent: SifAgent) -> etree._Element:
    """The agent's rights as SIF_AgentACL."""
    rights = session.execute(
        select(SifPermission.right, SifPermission.object_name)
        .where(SifPermission.agent_id == agent.id)
        .order_by(SifPermission.object_name)
    ).all()
    acl = etree.Element(q("SIF_AgentACL"))
    for list_name, right in _ACL_LISTS:
        listing = etree.SubElement(acl, q(list_name))
        for held, name in rights:
            if held == right:
                etree.SubElement(listing, q("SIF_Object"), ObjectName=name)
    return acl


HANDLERS: dict[str, Callable[[Context], etree._Element]] = {
    "SIF_Register": on_register,
    "SIF_Unregister": on_unregister,
    "SIF_Provide": on_provide,
    "SIF_Unprovide": on_unprovide,
    "SIF_Subscribe": on_subscribe,
    "SIF_Unsubscribe": on_unsubscribe,
    "SIF_Provision": on_provision,
    "SIF_Event": on_event,
    "SIF_Request": on_request,
    "SIF_Response": on_response,
    "SIF_Ack": on_ack,
    "SIF_SystemControl": on_system_control,
}
