"""The zone's queues survive a server restart: a ULN event queued for a pull agent, and a push
delivery retried with back-off while the agent is unreachable, are delivered after the server
is stopped and started again on the same database."""

from __future__ import annotations

import time

import pytest

from miap.client.sif_agent import uln_events
from miap.server.register.identifiers import is_valid_uln
from tests.support import free_port, start_server
from tests.support_sif import CheckedListener, laestab, lp, new_zone, pupil, zone_url

pytestmark = pytest.mark.slow


def test_messages_waiting_for_agents_survive_a_restart(database_url, db, tmp_path):
    school = laestab()
    port = free_port()  # the push agent's address, closed until after the restart
    with start_server(database_url, tmp_path) as server:
        zone = new_zone(server.url, db)
        puller = zone.agent(None, school)
        pusher = zone.agent(None, school)
        assert puller.register("Pull").error is None
        assert pusher.register("Push", f"http://127.0.0.1:{port}/sif").error is None
        for agent in (puller, pusher):
            assert agent.objects("SIF_Subscribe", "LearnerPersonal").error is None
        child = pupil(school)
        assert puller.event([lp(child)]).status == 0
        time.sleep(1.5)  # the first push attempts fail: nobody listens yet
    with start_server(database_url, tmp_path) as server:
        for agent in (puller, pusher):
            agent.url = zone_url(server.url, zone.name)
        [(ref_id, upn, uln)] = list(uln_events(puller.pull_until(bool)))
        assert (ref_id, upn) == (child.ref_id, child.upn) and is_valid_uln(uln)
        assert puller.pull() is None
        with CheckedListener(pusher, port=port) as listener:
            [message] = listener.take(1, timeout=60)
        assert list(uln_events([message])) == [(ref_id, upn, uln)]
