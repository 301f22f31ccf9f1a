"""GET /js/intent.js serves the committed build: JavaScript, gzip, long-lived caching with an ETag."""

from __future__ import annotations

import gzip

import httpx

from tests.conftest import LiveServer
from tests.snippet.browsing import BUILD


def test_snippet_served_gzipped_with_etag(server: LiveServer) -> None:
    r = httpx.get(server.url + "/js/intent.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == BUILD.read_bytes()  # httpx decoded the gzip body
    assert len(gzip.compress(r.content, 9)) <= 1024
    assert "max-age=" in r.headers["cache-control"]
    assert "Accept-Encoding" in r.headers["vary"]
    again = httpx.get(server.url + "/js/intent.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_snippet_served_plain_without_gzip(server: LiveServer) -> None:
    r = httpx.get(server.url + "/js/intent.js", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert "content-encoding" not in r.headers
    assert r.content == BUILD.read_bytes()
