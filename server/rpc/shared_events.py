"""Each published export event translated once, however many WatchExport streams send it.

The hub hands every watcher of an export the same event object (server.service.events),
so the message built for the first stream serves the others: a hundred watchers cost
one translation per event, not a hundred. gRPC still serialises the message once per
stream, which for these small messages is a twentieth of building it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sluice.server.rpc.convert import event_to_proto
from sluice.server.service.events import JobEvent, Snapshot
from sluice.v1 import export_pb2 as pb

#: Events remembered: the latest few of every export being watched. A watcher far behind
#: (up to events._MAX_PENDING events) only builds its own messages again.
_REMEMBERED = 256


class SharedEventMessages:
    def __init__(self, remembered: int = _REMEMBERED) -> None:
        self._remembered = remembered
        self._lock = threading.Lock()
        # By id(event); the entry holds the event, so no other object takes its id while
        # it is remembered.
        self._messages: OrderedDict[int, tuple[JobEvent, pb.ExportEvent]] = OrderedDict()

    def message(self, event: JobEvent) -> pb.ExportEvent:
        """`event` as a message, shared by all who ask for the same event: never to be
        modified (gRPC only serialises it)."""
        if isinstance(event, Snapshot):
            # Each watcher's own (read when it subscribed), or a requeue's: seldom shared.
            return event_to_proto(event)
        key = id(event)
        with self._lock:
            known = self._messages.get(key)
        if known is not None and known[0] is event:
            return known[1]
        message = event_to_proto(event)
        with self._lock:
            self._messages[key] = (event, message)
            if len(self._messages) > self._remembered:
                self._messages.popitem(last=False)
        return message
