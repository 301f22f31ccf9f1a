"""Crash safety with real processes: `intent serve` in a subprocess with its own embedded
database, N events posted concurrently, `kill -9`, restart: exactly N events, no loss, no
duplicate. And SIGTERM drains the spool into ClickHouse before the process exits."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import CHROME_UA, free_port, wait_until

pytestmark = pytest.mark.slow


class Deployment:
    """One intent installation in a temporary directory, run as real processes."""

    def __init__(self, root: Path, **env: str) -> None:
        self.root = root
        self.port = free_port()
        config = root / "intent.toml"
        config.write_text('[sites.crash]\ndomains = ["example.com"]\n', encoding="utf-8")
        base = {k: v for k, v in os.environ.items() if not k.startswith("INTENT_")}
        self.env = {
            **base,
            "INTENT_CONFIG": str(config),
            "INTENT_CLICKHOUSE_URL": f"chdb://{root / 'clickhouse'}",
            "INTENT_SPOOL_DIR": str(root / "spool"),
            "INTENT_PORT": str(self.port),
            "INTENT_RDNS": "false",  # no DNS queries to the system resolver from tests
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "intent", "serve"], env=self.env, cwd=self.root,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.stderr()
            try:
                return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(up, timeout=120), "intent serve did not start"

    def stderr(self) -> str:
        if self.proc is None or self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=120)
        self.proc = None
        return code

    def terminate(self) -> None:
        """SIGTERM: uvicorn shuts down gracefully (our lifespan drains the spool), then re-raises
        the signal, so the exit status is the signal's."""
        assert self.signal(signal.SIGTERM) in (0, -signal.SIGTERM)

    def post_concurrently(self, n: int, ids: list[str] | None = None) -> list[int]:
        """n page views from 16 threads; with `ids`, the i-th carries ids[i] (a client's id)."""

        def send(i: int) -> int:
            body = {"site": "crash", "url": f"https://example.com/page/{i}"}
            if ids is not None:
                body["id"] = ids[i]
            return httpx.post(self.url + "/api/event", json=body, timeout=30,
                              headers={"User-Agent": CHROME_UA}).status_code  # fmt: skip

        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(send, range(n)))

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "intent", *args], env=self.env, cwd=self.root,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    def stored(self, what: str = "events") -> int:
        """Events in ClickHouse (or `what` of `intent stats`: "page views", "dropped"), read by
        another process while the server is stopped."""
        done = self.cli("stats")
        assert done.returncode == 0, done.stderr
        if what == "dropped":
            found = re.findall(r"^crash: dropped (\d+) \(duplicate\)", done.stdout, re.M)
            return sum(int(n) for n in found)
        match = re.search(r"^crash: (\d+) events, (\d+) page views", done.stdout, re.M)
        return int(match.group(1 if what == "events" else 2)) if match else 0

    def spooled(self) -> list[Path]:
        spool = self.root / "spool"
        return sorted([*spool.rglob("*.seg"), *spool.rglob("*.open")])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    made: list[Deployment] = []

    def factory(**env: str) -> Deployment:
        d = Deployment(tmp_path, **env)
        made.append(d)
        return d

    yield factory
    for d in made:
        d.stop()


def test_kill_9_loses_nothing_acknowledged_and_duplicates_nothing(
    deployment: Callable[..., Deployment],
) -> None:
    n = 300
    # 1. The writer is asleep (60 s interval): every acknowledged event is only in the spool.
    d = deployment(INTENT_WRITER_INTERVAL_MS="60000")
    d.start()
    assert d.post_concurrently(n // 2) == [202] * (n // 2)
    assert d.spooled()
    assert d.signal(signal.SIGKILL) == -signal.SIGKILL
    # 2. Small segments and a busy writer: at this kill some segments are in ClickHouse, some
    # sealed, one open, and one may have been inserted but not yet deleted.
    d.env.update(INTENT_WRITER_BATCH_ROWS="40", INTENT_WRITER_INTERVAL_MS="100")
    d.start()  # replays what the first run left
    assert d.post_concurrently(n // 2) == [202] * (n // 2)
    assert d.signal(signal.SIGKILL) == -signal.SIGKILL
    # 3. Start again (replay), stop cleanly, count from another process.
    d.start()
    d.terminate()
    assert d.spooled() == []
    assert d.stored() == n


def test_sigterm_drains_the_spool_into_clickhouse(deployment: Callable[..., Deployment]) -> None:
    # The writer would wait a minute: only the drain on SIGTERM can send these.
    d = deployment(INTENT_WRITER_INTERVAL_MS="60000")
    d.start()
    n = 50
    assert d.post_concurrently(n) == [202] * n
    assert d.spooled(), "events should still be in the spool before the stop"
    d.terminate()
    assert d.spooled() == []
    assert d.stored() == n


def test_a_retry_after_a_kill_9_is_stored_once(deployment: Callable[..., Deployment]) -> None:
    """The client's answer was lost in the crash (the event had reached the spool, or already
    ClickHouse), so it sends the same ids again to the restarted server, whose memory of ids
    starts empty: each event is stored once."""
    n = 40
    in_spool = [str(uuid.uuid4()) for _ in range(n)]
    in_clickhouse = [str(uuid.uuid4()) for _ in range(n)]
    # 1. The writer is asleep: at the kill these events are only in the spool.
    d = deployment(INTENT_WRITER_INTERVAL_MS="60000")
    d.start()
    assert d.post_concurrently(n, in_spool) == [202] * n
    assert d.signal(signal.SIGKILL) == -signal.SIGKILL
    # 2. Restart (it replays them) and the retries come; then these reach ClickHouse before the
    # next kill.
    d.env.update(INTENT_WRITER_INTERVAL_MS="100")
    d.start()
    assert d.post_concurrently(n, in_spool) == [202] * n
    assert d.post_concurrently(n, in_clickhouse) == [202] * n
    assert wait_until(lambda: d.spooled() == [], timeout=60)
    assert d.signal(signal.SIGKILL) == -signal.SIGKILL
    # 3. Restart, every id is retried once more, stop cleanly and count from another process.
    d.start()
    assert d.post_concurrently(n, in_clickhouse) == [202] * n
    assert d.post_concurrently(n, in_spool) == [202] * n
    d.terminate()
    assert d.spooled() == []
    assert d.stored("events") == 2 * n
    assert d.stored("page views") == 2 * n
    assert d.stored("dropped") == 3 * n  # every retry, counted as a duplicate
