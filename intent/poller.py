"""A background thread working a queue in the store (webhook deliveries, the alert outbox): it
polls every few seconds, or at once when woken; a store outage or a bug is logged and the next
poll tries again."""

from __future__ import annotations

import logging
import threading

from collector.store import StoreError


class Poller:
    """Started and stopped with the server; a subclass does one round of work in `poll()`."""

    def __init__(self, name: str, poll_s: float, log: logging.Logger, queue: str) -> None:
        self.name = name  # the thread's
        self.poll_s = poll_s
        self._log = log
        self._queue = queue  # what the log calls the queue when polling it fails
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.poll()
            except StoreError as exc:
                self._log.warning("%s unavailable: %s", self._queue, exc)
            except Exception:
                self._log.exception("polling the %s failed unexpectedly", self._queue)
            self._wake.wait(self.poll_s)
