"""One WARNING line per reason per interval, with a count, for what can happen per request.

A flood of refused requests once wrote one line each (33,442 in 20 s): the first of a reason is
logged at once, the repeats within the next `interval_s` are counted and logged as one line when
it ends, and the reason stays quiet for as long as the repeats go on, one line per interval.
Called on the event loop's thread; the line that closes an interval is scheduled there too, so
the last count of a burst is logged even when no request follows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass


@dataclass
class _Window:
    ends: float
    repeats: int = 0
    last: str = ""  # the detail of the latest repeat


class WarningSummary:
    def __init__(self, logger: logging.Logger, what: str, interval_s: float = 10.0) -> None:
        self.logger = logger
        self.what = what  # what is happening, e.g. "answering 503"
        self.interval_s = interval_s
        self._windows: dict[str, _Window] = {}  # reason -> its interval under way

    def note(self, reason: str, detail: str = "") -> None:
        """One more occurrence of `reason` (a short fixed phrase; `detail` may vary)."""
        now = time.monotonic()
        window = self._windows.get(reason)
        if window is not None and now >= window.ends:  # its closing call has not run yet
            self._close(reason)
            window = self._windows.get(reason)
        if window is None:
            self.logger.warning("%s: %s%s", self.what, reason, f" ({detail})" if detail else "")
            self._open(reason, now)
        else:
            window.repeats += 1
            window.last = detail

    def _open(self, reason: str, now: float) -> None:
        self._windows[reason] = _Window(now + self.interval_s)
        with contextlib.suppress(RuntimeError):  # no loop on this thread: the next note closes it
            asyncio.get_running_loop().call_later(self.interval_s, self._close, reason)

    def _close(self, reason: str) -> None:
        """The interval ended: log its repeats in one line (and watch the next interval)."""
        window = self._windows.get(reason)
        if window is None or time.monotonic() < window.ends:
            return  # closed already (and maybe reopened): that window's own call will come
        del self._windows[reason]
        if window.repeats:
            self.logger.warning(
                "%s: %s, %d more time(s) in the last %g s%s", self.what, reason, window.repeats,
                self.interval_s, f" (last: {window.last})" if window.last else "",
            )  # fmt: skip
            self._open(reason, time.monotonic())
