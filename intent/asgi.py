"""ASGI entry for several workers against a ClickHouse server: `uvicorn intent.asgi:app`."""

from collector.app import create_app
from collector.settings import load_settings

app = create_app(load_settings())
