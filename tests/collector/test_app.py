from __future__ import annotations

from intent.store import Store
from tests.conftest import LiveServer


def test_pageview_over_http_lands_in_events(server: LiveServer, store: Store, site: str) -> None:
    r = server.post(
        {"site": site, "type": "pageview", "url": "https://example.com/pricing?utm_source=ads",
         "title": "Pricing", "referrer": "https://www.google.com/search?q=x"}
    )
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1, "dropped": {}}
    server.flush()
    rows = store.query_dicts(
        "SELECT type, host, path, title, referrer_host, utm_source, browser, device "
        "FROM events WHERE site = {site:String}", {"site": site},
    )
    assert rows == [{"type": "pageview", "host": "example.com", "path": "/pricing",
                     "title": "Pricing", "referrer_host": "www.google.com", "utm_source": "ads",
                     "browser": "Chrome", "device": "desktop"}]
