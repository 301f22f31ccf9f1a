"""Reloading intent.toml in the running server, and `intent reload`.

The server reads intent.toml again when its modification time changes (polled every 2 s), on
SIGHUP, on `intent reload`, and before it runs a forwarded CLI command (so `intent digest --send`
right after an edit uses the edit). The new file is checked like at start-up (sites, rules,
owners, fit, alerts); an invalid one is refused with one log line naming the bad setting and the
server keeps the configuration it has. `INTENT_*` variables are read once, at start-up: a change
to them needs a restart.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from collector.settings import Settings, load_settings
from collector.settings_error import SettingsError
from collector.site_settings import SiteConfig, load_sites
from intent.command import SERVER_RELOAD, CliError, inside_server
from intent.forward import forward, record_path
from intent.settings import check_sites

log = logging.getLogger("intent.reload")
POLL_S = 2.0
Stamp = tuple[int, int]  # mtime_ns, size


def _stamp(path: Path) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def changes(old: Mapping[str, SiteConfig], new: Mapping[str, SiteConfig]) -> str:
    """'shop (changed), blog (added)': what a reload changes, in words."""
    words = [f"{n} (added)" for n in new if n not in old]
    words += [f"{n} (changed)" for n in new if n in old and new[n] != old[n]]
    words += [f"{n} (removed)" for n in old if n not in new]
    return ", ".join(words)


class ConfigReloader:
    """Reads intent.toml again when it changed and hands valid settings to `apply`."""

    def __init__(
        self, settings: Settings, apply: Callable[[Settings], None], poll_s: float = POLL_S
    ) -> None:
        self.settings = settings
        self.apply = apply
        self.poll_s = poll_s
        self.path = settings.config_path
        self._stamp = _stamp(self.path)
        self._digest = _digest(self.path)  # of the file the settings came from (near enough)
        self._lock = threading.Lock()  # the poll, SIGHUP and CLI calls reload in turn
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self, force: bool = True) -> str:
        """Reload if the file changed: its contents when `force`, else its mtime and size.
        Returns what happened in words; SettingsError (logged) when the new file is invalid."""
        with self._lock:
            stamp = _stamp(self.path)
            if not force and stamp == self._stamp:
                return f"{self.path} is unchanged"
            self._stamp = stamp
            digest = _digest(self.path)  # before the read: a write after it is seen next time
            if digest is not None and digest == self._digest:
                return f"{self.path} is unchanged since the server read it"
            try:
                new = replace(self.settings, sites=load_sites(self.path))
                check_sites(new)
            except SettingsError as exc:
                log.error("%s not reloaded, the previous configuration stays: %s", self.path, exc)
                raise
            self._digest = digest
            changed = changes(self.settings.sites, new.sites)
            if not changed:
                return f"{self.path} changed but not its settings"
            self.apply(new)
            self.settings = new
            log.info("reloaded %s: %s", self.path, changed)
            return f"reloaded {self.path}: {changed}"

    def cli_reload(self) -> str:
        """`intent reload` in the server: one line either way."""
        try:
            return self.check(force=True)
        except SettingsError as exc:
            raise CliError(f"{self.path} not reloaded: {exc}; the server keeps its previous "
                           "configuration") from None  # fmt: skip

    def wake(self) -> None:
        """SIGHUP: read the file now, changed mtime or not."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="intent-config", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check(force=woken)
            except SettingsError:
                pass  # logged; the next change is tried again
            except Exception:  # never let the poll die: the next change is tried again
                log.exception("reloading %s failed", self.path)


def cmd_reload(args: argparse.Namespace) -> int:
    """Ask the running server to read intent.toml again (it runs this command itself)."""
    reload = SERVER_RELOAD.get()
    if inside_server():
        if reload is None:
            raise CliError("this server does not reload its configuration")
        print(reload())
        return 0
    code = forward(["reload"])
    if code is not None:
        return code
    settings = load_settings(sites=False)
    if not settings.embedded:
        raise CliError(
            "with a ClickHouse server (INTENT_CLICKHOUSE_URL=http...) the CLI does not reach the "
            "servers: each one reloads intent.toml within seconds of a change, or on SIGHUP"
        )
    raise CliError(
        f"no running server recorded in {record_path(settings)}: nothing to reload "
        "(a server reads intent.toml when it starts)"
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "reload",
        help="make the running server read intent.toml again (INTENT_* settings need a restart)",
    )
    p.set_defaults(func=cmd_reload)
