"""Refused requests are logged one line per reason per interval, with a count."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import httpx
import pytest

from collector.logsummary import WarningSummary
from collector.settings import Settings
from tests.conftest import CHROME_UA, LiveServer, SettingsFactory, wait_until


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "intent.collector" and r.levelno == logging.WARNING
    ]


def counted(lines: list[str]) -> int:
    """Occurrences the lines stand for: 1 for a first line, N for 'N more time(s)'."""
    total = 0
    for line in lines:
        more = re.search(r", (\d+) more time\(s\) in the last", line)
        total += int(more.group(1)) if more else 1
    return total


def test_a_flood_of_refused_requests_logs_a_line_per_interval_with_the_count(
    make_settings: SettingsFactory,
    serve: Callable[[Settings], LiveServer],
    site: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="intent.collector")
    # no batch below fits; the burst is above the 200 requests, however fast they run
    server = serve(
        make_settings(site, INTENT_SPOOL_MAX_BYTES="1024", INTENT_RATE_LIMIT_BURST="1000")
    )
    server.collector.refusals.interval_s = 1.0  # (10 s in production)
    batch = [{"site": site, "url": f"https://example.com/page/{i}"} for i in range(10)]
    with httpx.Client(headers={"User-Agent": CHROME_UA}) as client:
        started = time.monotonic()
        codes = [client.post(server.url + "/api/event", json=batch).status_code for _ in range(200)]
        took = time.monotonic() - started
    assert codes == [503] * 200
    # The last interval's count is logged when it ends, with no request after it.
    assert wait_until(lambda: counted(refusal_lines(caplog)) == 200)
    lines = refusal_lines(caplog)
    assert lines[0].startswith("answering 503: spool full (")
    assert all("spool full" in line for line in lines)
    assert len(lines) <= took / 1.0 + 2  # one per interval (and the first), not one per request


def test_a_reason_is_quiet_for_an_interval_and_logged_again_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="test.summary")
    summary = WarningSummary(logging.getLogger("test.summary"), "answering 503", interval_s=0.2)
    for _ in range(5):  # no event loop here: the next note closes an ended interval
        summary.note("spool full", "a")
    summary.note("spool disk full", "b")
    time.sleep(0.25)
    summary.note("spool full", "c")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "answering 503: spool full (a)",
        "answering 503: spool disk full (b)",
        "answering 503: spool full, 4 more time(s) in the last 0.2 s (last: a)",
    ]
    time.sleep(0.25)
    summary.note("spool full", "d")  # the interval after the summary had one: c
    assert [r.getMessage() for r in caplog.records][3:] == [
        "answering 503: spool full, 1 more time(s) in the last 0.2 s (last: c)",
    ]
