"""ASGI entry for several workers against a ClickHouse server: `uvicorn intent.asgi:app`
(what `intent serve --workers N` runs in each worker process)."""

from collector.app import create_app
from collector.settings import load_settings
from intent.accounts.config import check
from intent.cli import configure_logging

settings = load_settings()
check(settings)
configure_logging(settings)
app = create_app(settings)
