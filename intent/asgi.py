"""ASGI entry for several workers against a ClickHouse server: `uvicorn intent.asgi:app`
(what `intent serve --workers N` runs in each worker process)."""

from intent.server import configure_logging, create_app
from intent.settings import load_settings

settings = load_settings()
configure_logging(settings)
app = create_app(settings)
