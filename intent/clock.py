"""The time alert policy reads (quiet hours, repeat windows, escalation, claims): the real time,
plus an offset that tests move forward instead of waiting or patching a function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request


@dataclass
class Clock:
    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        """Now, in UTC, to the millisecond (what DateTime64(3) keeps)."""
        now = datetime.now(UTC) + self.offset
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def set(self, moment: datetime) -> None:
        """From here on, now() is `moment` plus the time that passes."""
        self.offset = moment - datetime.now(UTC)

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def clock_of(request: Request) -> Clock:
    """The server's clock (intent.server.Server.clock)."""
    clock = getattr(request.app.state.collector, "clock", None)
    return clock if isinstance(clock, Clock) else Clock()
