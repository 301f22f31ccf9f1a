"""Beacon validation: a table of invalid bodies -> the exact status and error field, checked once
on the pure parser and once over HTTP against the real server (same shape, nothing stored)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import beacon
from collector.settings import Settings
from collector.store import Store
from tests.conftest import CHROME_UA, LiveServer, SettingsFactory

OK_URL = "https://example.com/pricing"


def ev(**fields: Any) -> dict[str, Any]:
    """A valid page view with some fields replaced; a value of None removes the field."""
    out: dict[str, Any] = {"site": "SITE", "type": "pageview", "url": OK_URL}
    out.update(fields)
    return {k: v for k, v in out.items() if v is not None}


# (name, body: bytes or JSON-able with "SITE" standing for the test's site, status, field)
INVALID: list[tuple[str, Any, int, str | None]] = [
    ("not json", b"{site: localhost", 400, None),
    ("empty body", b"", 400, None),
    ("blank body", b"  \n ", 400, None),
    ("json number", b"42", 400, None),
    ("json string", b'"pageview"', 400, None),
    ("empty array", [], 400, None),
    ("array of non-objects", [ev(), 5], 400, "[1]"),
    ("missing site", ev(site=None), 400, "site"),
    ("site not a string", ev(site=7), 400, "site"),
    ("unknown type", ev(type="click"), 400, "type"),
    ("type not a string", ev(type=["pageview"]), 400, "type"),
    ("pageview without url", ev(url=None), 400, "url"),
    ("url not a string", ev(url=123), 400, "url"),
    ("relative url", ev(url="/pricing"), 400, "url"),
    ("non-http url", ev(url="javascript:alert(1)"), 400, "url"),
    ("url too long", ev(url="https://example.com/" + "a" * 1990), 400, "url"),
    ("title not a string", ev(title={"x": 1}), 400, "title"),
    ("title with NUL", ev(title="a\x00b"), 400, "title"),
    ("event without name", ev(type="event"), 400, "name"),
    ("name too long", ev(type="event", name="n" * 121), 400, "name"),
    ("name with markup", ev(type="event", name="<script>"), 400, "name"),
    ("bad UUID id", ev(id="not-a-uuid"), 400, "id"),
    ("numeric id", ev(id=12345), 400, "id"),
    ("scroll above 100", ev(type="engagement", scroll=101), 400, "scroll"),
    ("scroll below 0", ev(type="engagement", scroll=-1), 400, "scroll"),
    ("scroll as text", ev(type="engagement", scroll="50"), 400, "scroll"),
    ("scroll as bool", ev(type="engagement", scroll=True), 400, "scroll"),
    ("negative engaged_ms", ev(type="engagement", engaged_ms=-5), 400, "engaged_ms"),
    ("props not an object", ev(props=[1, 2]), 400, "props"),
    ("props too large", ev(props={"k": "v" * 3000}), 400, "props"),
    ("visitor too long", ev(visitor="v" * 129), 400, "visitor"),
    ("identify without domain", ev(type="identify", url=None), 400, "domain"),
    ("identify with a bad email", ev(type="identify", url=None, email="bob@"), 400, "email"),
    ("second event of a batch invalid", [ev(), ev(scroll=500)], 400, "[1].scroll"),
    ("batch over 100 events", [ev() for _ in range(101)], 413, None),
    ("body over 64 KiB", [ev(title="t" * 290) for _ in range(100)] * 3, 413, None),
]


def body_for(body: Any, site: str) -> bytes:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return raw.replace(b'"SITE"', orjson.dumps(site))


@pytest.mark.parametrize(("name", "body", "status", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_parser_rejects(name: str, body: Any, status: int, field: str | None) -> None:
    with pytest.raises(beacon.BeaconError) as caught:
        beacon.parse(body_for(body, "localhost"))
    assert (caught.value.status, caught.value.field) == (status, field)


def test_body_over_64k_really_is() -> None:
    assert len(body_for(INVALID[-1][1], "x")) > beacon.MAX_BODY_BYTES
    assert len(body_for(INVALID[-2][1], "x")) <= beacon.MAX_BODY_BYTES


def test_parser_keeps_what_it_should() -> None:
    event_id = str(uuid.uuid4())
    [b] = beacon.parse(orjson.dumps(ev(
        id=event_id, url="https://Example.com/a/b?utm_source=news&utm_campaign=q4&x=1",
        referrer="https://www.google.com/search?q=1", title="T", scroll=40, engaged_ms=1200.7,
        ip="1.2.3.4", ua="evil", unknown_field={"nested": True},
    )))  # fmt: skip
    row = b.row
    assert (row["event_id"], row["host"], row["path"], row["utm_source"], row["utm_campaign"]) == (
        event_id,
        "example.com",
        "/a/b",
        "news",
        "q4",
    )
    assert (row["referrer_host"], row["scroll"], row["engaged_ms"]) == ("www.google.com", 40, 1200)
    assert "unknown_field" not in row and b.client_id
    [identify] = beacon.parse(
        orjson.dumps(ev(type="identify", url=None, email="Jane.Doe@Acme.COM"))
    )
    assert identify.email_domain == "acme.com"
    assert "jane" not in orjson.dumps(identify.row).decode().lower()


def stored(store: Store, site: str) -> int:
    return int(store.scalar("SELECT count() FROM events WHERE site = {s:String}", {"s": site}))


def assert_error_shape(r: httpx.Response, status: int, field: str | None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    doc = r.json()
    assert set(doc) == {"error"}
    assert set(doc["error"]) == {"status", "code", "message", "field"}
    assert doc["error"]["status"] == status
    assert doc["error"]["field"] == field
    assert isinstance(doc["error"]["code"], str) and doc["error"]["code"]
    assert isinstance(doc["error"]["message"], str) and doc["error"]["message"]


def test_http_rejects_each_invalid_body_and_stores_nothing(
    server: LiveServer, store: Store, site: str
) -> None:
    for name, body, status, field in INVALID:
        for content_type in ("text/plain", "application/json"):
            r = server.post(body_for(body, site), **{"Content-Type": content_type})
            assert r.status_code == status, (name, r.text)
            assert_error_shape(r, status, field)
    server.flush()
    assert stored(store, site) == 0
    metrics = httpx.get(server.url + "/metrics").text
    assert 'intent_requests_rejected_total{status="400"}' in metrics


def test_unknown_site_and_foreign_origin_are_403(
    server: LiveServer, store: Store, site: str
) -> None:
    r = server.post(body_for(ev(site="no-such-site"), site))
    assert_error_shape(r, 403, "site")
    assert r.json()["error"]["code"] == "unknown_site"
    # one unknown site in a batch refuses the batch: nothing of it is stored or counted
    r = server.post(body_for([ev(), ev(site="no-such-site")], site))
    assert_error_shape(r, 403, "site")
    r = server.post(body_for(ev(), site), Origin="https://evil.example.org")
    assert_error_shape(r, 403, "origin")
    assert r.json()["error"]["code"] == "origin_not_allowed"
    # the site's domains and their subdomains are allowed
    assert server.post(body_for(ev(), site), Origin="https://www.example.com").status_code == 202
    assert server.post(body_for(ev(), site), Origin="http://localhost:3000").status_code == 202
    server.flush()
    assert stored(store, site) == 2
    dropped = store.scalar(
        "SELECT count() FROM dropped_events WHERE site = {s:String}", {"s": site}
    )
    assert dropped == 0


def test_wrong_method_and_path_use_the_error_shape(server: LiveServer) -> None:
    r = httpx.get(server.url + "/api/event")
    assert_error_shape(r, 405, None)
    assert "POST" in r.headers["allow"]
    assert_error_shape(httpx.put(server.url + "/api/event", content=b"{}"), 405, None)
    assert_error_shape(httpx.get(server.url + "/no/such/page"), 404, None)


def test_unknown_fields_are_ignored_and_client_ip_ua_are_not_believed(
    server: LiveServer, store: Store, site: str
) -> None:
    r = server.post(body_for(ev(future_field=[1, {"a": None}], ip="8.8.8.8", ua="Googlebot/2.1",
                                 browser="Lynx"), site))  # fmt: skip
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 1, "dropped": {}}
    server.flush()
    rows = store.query(
        "SELECT browser, device, ip_prefix FROM events WHERE site = {s:String}", {"s": site}
    )
    assert rows == [("Chrome", "desktop", "")]


def test_a_streamed_body_over_the_limit_is_413_and_stores_nothing(
    server: LiveServer, store: Store, site: str
) -> None:
    """No Content-Length to refuse early (chunked upload): the limit holds while reading."""
    event = orjson.dumps(ev(site=site, title="t" * 200))

    def chunks() -> Any:
        yield b"["
        for i in range(beacon.MAX_BODY_BYTES // len(event) + 2):
            yield (b"," if i else b"") + event
        yield b"]"

    r = httpx.post(server.url + "/api/event", content=chunks(), headers={"User-Agent": CHROME_UA})
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert_error_shape(r, 413, None)
    server.flush()
    assert stored(store, site) == 0


def test_options_preflight_answers_cors(server: LiveServer) -> None:
    r = httpx.options(server.url + "/api/event", headers={"Origin": "https://example.com"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://example.com"


@pytest.fixture
def fast_server(
    site: str, make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer]
) -> LiveServer:
    """A server with no practical rate limit, for many requests from one address."""
    return serve(make_settings(site, INTENT_RATE_LIMIT="100000", INTENT_RATE_LIMIT_BURST="100000"))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELD_VALUES = st.one_of(JSON, st.sampled_from(["SITE", OK_URL, "event", "pageview", "identify",
                                                "engagement", str(uuid.uuid4()), "a@b.co"]))  # fmt: skip
EVENTS = st.dictionaries(
    st.sampled_from(["site", "type", "url", "referrer", "title", "name", "id", "visitor",
                     "engaged_ms", "scroll", "email", "domain", "props", "other"]),
    FIELD_VALUES, max_size=8,
)  # fmt: skip
HEADER = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60)
BODIES = st.one_of(
    st.binary(max_size=200),
    EVENTS.map(orjson.dumps),
    st.lists(EVENTS, max_size=5).map(orjson.dumps),
    JSON.map(lambda v: orjson.dumps(v)),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=BODIES,
    content_type=st.sampled_from(["text/plain", "application/json", "x/y"]),
    origin=st.one_of(
        st.just(""), st.sampled_from(["https://example.com", "null", "http://[::1"]), HEADER
    ),
    forwarded=st.one_of(st.just(""), HEADER),
    ua=st.one_of(st.just(""), HEADER),
)
def test_fuzzed_requests_never_get_a_5xx(
    fast_server: LiveServer,
    site: str,
    body: bytes,
    content_type: str,
    origin: str,
    forwarded: str,
    ua: str,
) -> None:
    headers = {"Content-Type": content_type, "Origin": origin, "X-Forwarded-For": forwarded}
    headers = {k: v for k, v in headers.items() if v}
    r = fast_server.post(body.replace(b'"SITE"', orjson.dumps(site)), ua=ua, **headers)
    assert r.status_code in (202, 400, 403, 413), r.text
    if r.status_code != 202:
        assert_error_shape(r, r.status_code, r.json()["error"]["field"])


def test_long_title_and_referrer_are_cut_not_refused() -> None:
    """A page with a 500-character title is still a page view; only the stored text is cut."""
    [b] = beacon.parse(
        orjson.dumps(ev(title="t" * 500, referrer="https://r.example/" + "x" * 3000))
    )
    assert b.row["title"] == "t" * beacon.MAX_TITLE
    assert len(b.row["referrer"]) == beacon.MAX_URL and b.row["referrer_host"] == "r.example"
