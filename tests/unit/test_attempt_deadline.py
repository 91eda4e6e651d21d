"""The whole-attempt deadline of a notification (server/notifications/deadline.py): an
attempt that ended is never marked expired afterwards, and connecting gets only the time
left."""

from __future__ import annotations

import time

from sluice.server.notifications.deadline import AttemptDeadline
from sluice.server.notifications.webhook import _WatchedHTTP
from tests.servers.webhook_receiver import WebhookReceiver


def test_a_timer_already_firing_when_the_attempt_ends_marks_nothing() -> None:
    # The timer thread may have entered _expire as the attempt ended in time; cancelling
    # it then is too late, and an attempt marked expired is recorded failed and sent
    # again. _expire is called here as that thread would, after the attempt's end.
    with AttemptDeadline(60) as deadline:
        pass
    deadline._expire()
    assert not deadline.expired


def test_connecting_gets_only_the_time_left() -> None:
    receiver = WebhookReceiver()
    with receiver.running(), AttemptDeadline(30) as deadline:
        # Time already spent in the attempt (looking the name up, say).
        time.sleep(1.0)
        # As post_webhook makes it: the socket's timeout bounds each read.
        connection = _WatchedHTTP("127.0.0.1", receiver.port, timeout=deadline.seconds)
        connection.deadline = deadline
        connection.connect()
        try:
            timeout = connection.sock.gettimeout()
        finally:
            connection.close()
    assert timeout is not None and timeout <= 29.0
