"""The server `intent serve` runs: the collector (collector.app) with the product on top.

`create_app` composes it: the collector's routes, the API and its OpenAPI document, the CLI
endpoint, the sign-in and the dashboard. At start the schema is migrated before ingest opens,
then the webhook deliverer, the CLI record, the scoring schedule and the reload of
intent.toml (intent.reload) start; at stop they end before the collector drains its spool.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette

from collector import app as collector_app
from collector.enrich import Enricher, build_enricher
from collector.settings import Settings
from collector.state import Collector
from collector.store import connect
from intent import api, dashboard, openapi, remote, signin, webhooks
from intent.accounts import api as accounts_api
from intent.alerts import api as claims_api
from intent.alerts import dashboard as alerts_dashboard
from intent.alerts import sender
from intent.alerts.outbox import Outbox
from intent.alerts.rescorer import Rescorer
from intent.clock import Clock
from intent.migrate import migrate
from intent.reload import ConfigReloader
from intent.schedule import AfterScoring, ScoringSchedule, webhooks_enqueue


@dataclass
class Server(Collector):
    """The collector's state and what the product runs beside it."""

    deliverer: webhooks.Deliverer | None = None
    cli_token: str | None = None  # intent.remote: CLI commands run here while we hold chDB
    schedule: ScoringSchedule | None = None
    rescorer: Rescorer | None = None  # re-scores companies an accepted event marked
    alert_sender: sender.AlertSender | None = None
    clock: Clock = field(default_factory=Clock)  # alert policy's time (tests move it)
    outbox: Outbox | None = None
    reloader: ConfigReloader | None = None  # intent.toml read again on change, SIGHUP, CLI


def create_app(settings: Settings, enricher: Enricher | None = None) -> Starlette:
    """The app; the database, spool, writer and background threads open in its lifespan."""
    server = Server(settings=settings, enricher=enricher or build_enricher(settings))
    v1 = api.Api(settings)  # one key check and rate limiter for every /api/v1 route
    routes = (
        openapi.routes()
        + v1.routes()
        + accounts_api.routes(v1)
        + claims_api.routes(v1)
        + remote.routes()
        + signin.routes()
        + alerts_dashboard.routes()
        + dashboard.routes()
    )
    return collector_app.create_app(server, routes, start, stop)


def start(server: Server) -> None:
    s = server.settings
    server.store = connect(s.clickhouse_url)
    migrate(server.store, s)
    collector_app.start(server)
    server.deliverer = webhooks.start(server.store, s, server.metrics)  # sends what was queued
    server.cli_token = remote.publish_record(s)
    outbox = server.outbox = Outbox(s, server.clock)
    server.alert_sender = sender.start(s, server.store, outbox, server.metrics)
    if s.schedule:
        # Marked companies within seconds, every company hourly (and each site's digest at its
        # local time), each run followed by the same hooks: webhooks, the alerts outbox.
        rescorer = server.rescorer = Rescorer(s, server.store, server.writer, (), server.metrics)
        after: tuple[AfterScoring, ...] = (webhooks_enqueue, outbox.after_scoring,
                                           rescorer.remember)  # fmt: skip
        rescorer.after = after
        server.on_accepted.append(rescorer.accept)
        rescorer.start()
        server.schedule = ScoringSchedule(s, server.store, after=after)
        server.schedule.start()
    reloader = server.reloader = ConfigReloader(s, lambda new: reconfigure(server, new))
    reloader.start()
    if server.loop is not None:
        server.loop.call_soon_threadsafe(_on_sighup, server.loop, reloader.wake)
    collector_app.settle(server)


def _on_sighup(loop: asyncio.AbstractEventLoop, handler: Callable[[], None] | None) -> None:
    """SIGHUP reloads intent.toml (where the serving loop runs in the main thread: `intent
    serve`; a test's server in a thread has none). None: forget the handler."""
    try:
        if handler is None:
            loop.remove_signal_handler(signal.SIGHUP)
        else:
            loop.add_signal_handler(signal.SIGHUP, handler)
    except (ValueError, RuntimeError, NotImplementedError):
        pass


def reconfigure(server: Server, new: Settings) -> None:
    """A reloaded intent.toml: every part holding the settings gets the new object (each swap
    is one assignment, so a part reads either the old settings or the new, never a mix), and
    the webhook deliverer and alert sender start if the new file is the first to want them."""
    if server.rescorer is not None:
        server.rescorer.reconfigure(new)
    for part in (server.schedule, server.outbox, server.alert_sender, server.deliverer):
        if part is not None:
            part.settings = new
    server.settings = new
    if server.store is None:
        return
    if server.deliverer is None:
        server.deliverer = webhooks.start(server.store, new, server.metrics)
    if server.alert_sender is None and server.outbox is not None:
        server.alert_sender = sender.start(new, server.store, server.outbox, server.metrics)


def stop(server: Server) -> None:
    """SIGTERM: scheduled scoring first (it feeds webhooks and the store), then deliveries, then
    the collector drains its spool into ClickHouse."""
    if server.reloader is not None:
        if server.loop is not None:
            server.loop.call_soon_threadsafe(_on_sighup, server.loop, None)
        server.reloader.stop()
    if server.schedule is not None:
        server.schedule.stop()
    if server.rescorer is not None:
        server.on_accepted.remove(server.rescorer.accept)
        server.rescorer.stop()
    if server.alert_sender is not None:
        server.alert_sender.stop()
    if server.deliverer is not None:
        server.deliverer.stop()
    remote.withdraw_record(server.settings, server.cli_token)
    collector_app.stop(server)


def configure_logging(s: Settings) -> None:
    """One log format for the server and each of its workers (INTENT_LOG_LEVEL)."""
    logging.basicConfig(
        level=s.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
