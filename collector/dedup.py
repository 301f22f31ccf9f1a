"""Retried beacons: the client-sent event ids seen lately, so a retry is stored once."""

from __future__ import annotations


class RecentIds:
    """Client-sent event ids seen lately (bounded, per process): a retry is answered as a
    duplicate at once. Older ones, and those another process or a previous run accepted, the
    writer leaves out against what is stored (collector.storedids), so this is a fast path, kept
    small: 50,000 ids in a plain dict are ~6 MB (200,000 in an OrderedDict were ~35 MB)."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self.ids: dict[str, None] = {}  # insertion-ordered: the first key is the oldest

    def seen(self, event_id: str) -> bool:
        """True if already seen; otherwise remember it and return False."""
        ids = self.ids
        if event_id in ids:
            return True
        ids[event_id] = None
        if len(ids) > self.size:
            del ids[next(iter(ids))]
        return False

    def forget(self, event_ids: list[str]) -> None:
        """The request that claimed these ids was not accepted: a retry must get through."""
        for event_id in event_ids:
            self.ids.pop(event_id, None)
