"""Retried beacons: the client-sent event ids seen lately, so a retry is stored once."""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """Client-sent event ids seen lately (bounded, per process): a retried beacon is stored once."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self.ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, event_id: str) -> bool:
        """True if already seen; otherwise remember it and return False."""
        if event_id in self.ids:
            return True
        self.ids[event_id] = None
        if len(self.ids) > self.size:
            self.ids.popitem(last=False)
        return False

    def forget(self, event_ids: list[str]) -> None:
        """The request that claimed these ids was not accepted: a retry must get through."""
        for event_id in event_ids:
            self.ids.pop(event_id, None)
