from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import jsonschema_rs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector import keys
from collector.pipeline import persistent_visitor_id
from collector.settings import Settings
from collector.store import Store, ch_time
from intent.api_params import BadParam, parse_day, parse_since
from intent.openapi import spec
from tests.conftest import LiveServer, SettingsFactory

from .scores import score_row, tick, write_scores


class Client:
    def __init__(self, live: LiveServer, token: str, site: str) -> None:
        self.live, self.token, self.site = live, token, site

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.live.url}/api/v1/sites/{self.site}{path}", params=params,
                         headers={"Authorization": f"Bearer {self.token}"}, timeout=10)  # fmt: skip

    def delete(self, path: str) -> httpx.Response:
        return httpx.delete(f"{self.live.url}/api/v1/sites/{self.site}{path}",
                            headers={"Authorization": f"Bearer {self.token}"}, timeout=10)  # fmt: skip


@pytest.fixture
def api(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store, site: str
) -> Client:
    live = serve(make_settings(site, INTENT_API_RATE_LIMIT_BURST="10000"))
    token, _ = keys.create(store, [site], "write")
    return Client(live, token, site)


def test_paging_while_scores_change_returns_every_company_exactly_once(
    api: Client, store: Store, site: str
) -> None:
    initial = [f"c{i:02d}.example" for i in range(30)]
    write_scores(store, [score_row(site, k, score=float(i)) for i, k in enumerate(initial)])
    seen: list[str] = []
    added: list[str] = []
    params: dict[str, Any] = {"limit": 7}
    pages = 0
    while True:
        r = api.get("/companies", **params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [c["key"] for c in body["data"]]
        pages += 1
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        # Between pages: rescore companies not yet returned (the ones the next page would hold
        # and some further on) and add new companies. Offset paging would skip some of these.
        unseen = [k for k in initial if k not in seen]
        rescored = unseen[:3] + unseen[-2:]
        new = [f"new{pages}-{j}.example" for j in range(2)]
        added += new
        write_scores(store, [score_row(site, k, score=99.0, tier="hot") for k in rescored + new])
        params = {"limit": 7, "cursor": body["next_cursor"]}
    assert sorted(seen) == sorted(initial + added)
    assert len(seen) == len(set(seen))
    assert pages > 4


def test_a_company_rescored_after_it_was_returned_comes_again_later(
    api: Client, store: Store, site: str
) -> None:
    write_scores(store, [score_row(site, k) for k in ("a.example", "b.example", "c.example")])
    first = api.get("/companies", limit=2).json()
    assert [c["key"] for c in first["data"]] == ["a.example", "b.example"]
    write_scores(store, [score_row(site, "a.example", score=90.0, tier="hot")])
    rest = api.get("/companies", limit=2, cursor=first["next_cursor"]).json()
    assert [(c["key"], c["tier"]) for c in rest["data"]] == [
        ("c.example", "warm"),
        ("a.example", "hot"),
    ]


def test_filters_and_updated_since_use_the_latest_snapshot(
    api: Client, store: Store, site: str
) -> None:
    yesterday = date.today() - timedelta(days=1)
    write_scores(store, [
        score_row(site, "old.example", score=80.0, tier="hot", day=yesterday),
        score_row(site, "fr.example", score=30.0, tier="warm", country="FR"),
        score_row(site, "hot.example", score=85.0, tier="hot"),
    ])  # fmt: skip
    cut = tick()
    write_scores(
        store, [score_row(site, "old.example", score=20.0, tier="cold")]
    )  # today replaces yesterday
    keys_of = lambda r: [c["key"] for c in r.json()["data"]]  # noqa: E731
    assert keys_of(api.get("/companies", tier="hot")) == ["hot.example"]
    assert keys_of(api.get("/companies", min_score=50)) == ["hot.example"]
    assert keys_of(api.get("/companies", country="fr")) == ["fr.example"]
    since = cut.isoformat().replace("+00:00", "Z")
    r = api.get("/companies", updated_since=since)
    assert keys_of(r) == ["old.example"]
    plus = cut.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert keys_of(api.get("/companies", updated_since=plus)) == ["old.example"]
    unencoded = httpx.get(f"{api.live.url}/api/v1/sites/{site}/companies?updated_since={plus}",
                          headers={"Authorization": f"Bearer {api.token}"})  # fmt: skip
    assert keys_of(unencoded) == ["old.example"]  # "+02:00" unencoded arrives as " 02:00"
    company = r.json()["data"][0]
    assert (
        company["score"] == 20.0
        and company["tier"] == "cold"
        and company["day"] == date.today().isoformat()
    )
    assert company["changed_at"].endswith("Z") and company["reasons"] == [
        "old.example read pricing"
    ]


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "abc"}, "limit"), ({"limit": "1001"}, "limit"),
    ({"cursor": "garbage!"}, "cursor"), ({"cursor": "WzEsMl0"}, "cursor"),
    ({"updated_since": "yesterday"}, "updated_since"), ({"updated_since": "2025-02-30"}, "updated_since"),
    ({"updated_since": "2025-01-31T09:00:00"}, "updated_since"),  # RFC 3339 needs the offset
    ({"min_score": "high"}, "min_score"), ({"min_score": "nan"}, "min_score"),
    ({"country": "USA"}, "country"), ({"tier": "<script>"}, "tier"), ({"sort": "score"}, "sort"),
])  # fmt: skip
def test_invalid_parameters_are_400_in_the_one_error_shape(
    api: Client, params: dict[str, str], field: str
) -> None:
    r = api.get("/companies", **params)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (
        error["status"] == 400 and error["code"] == "invalid_parameter" and error["field"] == field
    )
    assert set(error) == {"status", "code", "message", "field"}


def test_company_profile_has_history_visitors_and_timeline(
    api: Client, store: Store, site: str
) -> None:
    today = date.today()
    write_scores(store, [
        score_row(site, "acme.com", score=20.0, tier="cold", day=today - timedelta(days=2)),
        score_row(site, "acme.com", score=45.0, tier="warm", day=today - timedelta(days=1), transition="newly_warm"),
        score_row(site, "acme.com", score=82.0, tier="hot", day=today, transition="newly_hot",
                  reasons=["3 visitors", "read pricing twice"]),
    ])  # fmt: skip
    ts = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000")
    activity = [
        ("v1", "page", "/pricing", 3, today),
        ("v2", "page", "/pricing", 1, today),
        ("v1", "event", "demo_request", 1, today),
        ("v3", "page", "/docs", 2, today - timedelta(days=1)),
    ]
    store.insert_rows("daily_activity", [
        {"site": site, "day": day, "company_key": "acme.com", "visitor_id": v, "kind": kind, "key": key,
         "hits": hits, "engaged_ms": 1000 * hits, "max_scroll": 50, "first_ts": ts, "last_ts": ts}
        for v, kind, key, hits, day in activity
    ])  # fmt: skip
    r = api.get("/companies/acme.com", days=7)
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["key"], p["score"], p["tier"], p["reasons"]) == (
        "acme.com",
        82.0,
        "hot",
        ["3 visitors", "read pricing twice"],
    )
    assert [(h["day"], h["tier"]) for h in p["score_history"]] == [
        ((today - timedelta(days=2)).isoformat(), "cold"), ((today - timedelta(days=1)).isoformat(), "warm"),
        (today.isoformat(), "hot")]  # fmt: skip
    assert p["window_visitors"] == 2  # the most on one day: ids are daily (v3 came yesterday)
    first = p["timeline"][0]
    assert first["day"] == today.isoformat()
    assert first["pages"] == [
        {"path": "/pricing", "hits": 4, "engaged_ms": 4000, "max_scroll": 50, "visitors": 2}
    ]
    assert first["events"] == [{"name": "demo_request", "hits": 1, "visitors": 1}]
    assert p["timeline"][1]["pages"][0]["path"] == "/docs"

    missing = api.get("/companies/nobody.example")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "company"
    assert api.get("/companies/acme.com", days=0).status_code == 400


def _event(site: str, visitor: str, type_: str = "pageview", domain: str = "") -> dict[str, Any]:
    return {"event_id": f"{abs(hash((site, visitor, type_))) % 10**12:012d}-0000-4000-8000-000000000000"[-36:],
            "site": site, "ts": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000"), "type": type_,
            "path": "/pricing", "visitor_id": visitor, "company_key": "acme.com", "company_domain": domain}  # fmt: skip


def test_delete_visitor_removes_events_activity_and_identities(
    api: Client, store: Store, site: str
) -> None:
    own = persistent_visitor_id(site, "crm-contact-42")
    rows = [_event(site, "aaaa1111aaaa1111"), _event(site, "aaaa1111aaaa1111", "identify", "acme.com"),
            _event(site, own), _event(site, "bbbb2222bbbb2222")]  # fmt: skip
    for i, row in enumerate(rows):
        row["event_id"] = f"00000000-0000-4000-8000-{i:012d}"
    store.insert_rows("events", rows)

    def counts(visitor: str) -> list[int]:
        return [int(store.scalar("SELECT count() FROM {t:Identifier} WHERE site = {s:String} AND visitor_id = {v:String}",
                                 {"t": t, "s": site, "v": visitor})) for t in ("events", "daily_activity", "identities")]  # fmt: skip

    assert counts("aaaa1111aaaa1111") == [2, 1, 1]
    r = api.delete("/visitors/aaaa1111aaaa1111")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "site": site,
        "visitor": "aaaa1111aaaa1111",
        "deleted": {"events": 2, "daily_activity": 1, "identities": 1},
    }
    assert counts("aaaa1111aaaa1111") == [0, 0, 0]
    # The site's own id for a persistent visitor finds the stored (hashed) id.
    assert api.delete("/visitors/crm-contact-42").json()["deleted"]["events"] == 1
    assert counts(own) == [0, 0, 0]
    assert counts("bbbb2222bbbb2222") == [1, 1, 0]
    assert api.delete("/visitors/aaaa1111aaaa1111").json()["deleted"] == {
        "events": 0,
        "daily_activity": 0,
        "identities": 0,
    }


def test_digest_rejects_unknown_format_and_bad_date(api: Client) -> None:
    assert api.get("/digest", format="pdf").json()["error"]["field"] == "format"
    assert api.get("/digest", date="31/12/2026").json()["error"]["field"] == "date"
    assert api.get("/digest", date="2200-01-01").json()["error"]["field"] == "date"


def test_a_parameter_given_empty_is_refused_naming_it(api: Client) -> None:
    """`updated_since=` used to mean "not given"; the spec admits no empty value, so neither
    does the server: every parameter, on every endpoint."""
    for path, name in [("/companies", "updated_since"), ("/companies", "cursor"),
                       ("/companies", "tier"), ("/companies", "limit"), ("/digest", "date"),
                       ("/digest", "format"), ("/companies/acme.com", "days")]:  # fmt: skip
        r = api.get(path, **{name: ""})
        assert r.status_code == 400, (path, name, r.text)
        assert r.json()["error"]["field"] == name
        assert r.json()["error"]["message"] == f"{name} is empty: give it a value or leave it out"
    far = api.get("/companies", updated_since="0001-01-01")  # as a lower bound: 1970
    assert far.status_code == 200 and api.get("/companies", updated_since="9999-12-31T23:59:60Z"
                                               ).json()["data"] == []  # fmt: skip


@functools.cache
def _admits(path: str, name: str) -> Callable[[str], bool]:
    """The spec's own check of one query parameter (formats asserted, as schemathesis does)."""
    operation = spec()["paths"][path]["get"]
    schema = next(p["schema"] for p in operation["parameters"] if p["name"] == name)
    return jsonschema_rs.validator_for(schema, validate_formats=True).is_valid


_MOMENTS = st.one_of(
    st.from_regex(r"\A\d{4}-[01]\d-[0-3]\d([Tt][0-2]\d:[0-6]\d:[0-6]\d(\.\d{1,9})?"
                  r"([Zz]|[+-][0-2]\d:[0-6]\d))?\Z"),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.dates().map(str),
    st.text(max_size=30),
)  # fmt: skip


@given(raw=_MOMENTS)
@example(raw="2025-01-31T09:00:00")  # accepted before: the spec's date-time needs an offset
@example(raw="0001-01-01")  # refused before ("out of range"): the spec admits it
@example(raw="2025-06-30T23:59:60Z")  # a leap second is 23:59:60 UTC...
@example(raw="2025-01-01T10:00:60Z")  # ...only
@example(raw="000\u0660-01-01")  # an Arabic-Indic zero
@example(raw="")
@settings(max_examples=1000, deadline=None, database=None, derandomize=True)
def test_updated_since_accepts_exactly_what_the_spec_admits(raw: str) -> None:
    admitted = _admits("/api/v1/sites/{site}/companies", "updated_since")(raw)
    try:
        parse_since(raw)
        accepted = True
    except BadParam:
        accepted = False
    assert accepted == admitted or (" " in raw and not admitted), raw  # " 01:00": a lost "+"


@given(raw=st.one_of(st.from_regex(r"\A\d{4}-[01]\d-[0-3]\d\Z"), st.dates().map(str),
                     st.text(max_size=12)))  # fmt: skip
@example(raw="2200-01-01")
@example(raw="1969-12-31")
@example(raw="0000-01-01")
@settings(max_examples=500, deadline=None, database=None, derandomize=True)
def test_the_digest_date_accepts_exactly_what_the_spec_admits(raw: str) -> None:
    admitted = _admits("/api/v1/sites/{site}/digest", "date")(raw)
    try:
        parse_day(raw)
        accepted = True
    except BadParam:
        accepted = False
    assert accepted == admitted, raw


def test_data_responses_are_private_and_script_free(api: Client, store: Store, site: str) -> None:
    write_scores(store, [score_row(site, "acme.com")])
    for r in (
        api.get("/companies"),
        api.get("/companies/acme.com"),
        api.get("/companies", limit="x"),
    ):
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in r.headers["content-security-policy"]


def test_digest_in_every_format(api: Client, store: Store, site: str) -> None:
    evil = "<script>alert(1)</script>"
    write_scores(store, [score_row(site, "acme.com", score=88.0, tier="hot", transition="newly_hot",
                                   company_name="Acme " + evil, reasons=["read " + evil])])  # fmt: skip
    today = date.today().isoformat()
    as_json = api.get("/digest", date=today)
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"] == "application/json"
    assert "acme.com" in as_json.text and as_json.json()
    html = api.get("/digest/html", date=today)
    assert html.headers["content-type"].startswith("text/html")
    assert "acme.com" in html.text and evil not in html.text and "&lt;script&gt;" in html.text
    for fmt, media in (("text", "text/plain"), ("markdown", "text/markdown"), ("csv", "text/csv")):
        r = api.get(f"/digest/{fmt}", date=today)
        assert r.status_code == 200 and r.headers["content-type"].startswith(media), fmt
        assert "acme.com" in r.text, fmt
    empty = api.get("/digest/csv", date="2020-01-01")
    assert empty.status_code == 200 and "acme.com" not in empty.text


def test_rescoring_an_earlier_day_does_not_replace_the_latest_snapshot(
    api: Client, store: Store, site: str
) -> None:
    write_scores(store, [score_row(site, "acme.com", score=80.0, tier="hot")])
    write_scores(
        store,
        [
            score_row(
                site, "acme.com", score=10.0, tier="cold", day=date.today() - timedelta(days=3)
            )
        ],
    )
    [company] = api.get("/companies").json()["data"]
    assert (company["score"], company["tier"], company["day"]) == (
        80.0,
        "hot",
        date.today().isoformat(),
    )
    assert api.get("/companies/acme.com").json()["tier"] == "hot"


def _enumerated_parameters() -> list[tuple[str, str, str, list[str]]]:
    """(path, location, name, allowed) of every enumerated parameter in the spec."""
    return [
        (path, p["in"], p["name"], p["schema"].get("enum") or p["schema"]["items"]["enum"])
        for path, ops in spec()["paths"].items()
        for op in ops.values()
        for p in op.get("parameters", [])
        if "enum" in p["schema"] or "enum" in p["schema"].get("items", {})
    ]


def test_an_unknown_value_of_any_enumerated_parameter_is_400_naming_it_and_the_values(
    api: Client,
) -> None:
    checked = set()
    for path, where, name, allowed in _enumerated_parameters():
        for bad in ("purple", "hott", allowed[0].swapcase()):
            url = api.live.url + path.replace("{site}", api.site)
            params = {}
            if where == "path":
                url = url.replace("{" + name + "}", bad)
            else:
                params[name] = bad
            r = httpx.get(url, params=params, headers={"Authorization": f"Bearer {api.token}"})
            assert r.status_code == 400, (path, name, bad, r.text)
            error = r.json()["error"]
            assert error["field"] == name and error["code"] == "invalid_parameter"
            assert repr(bad) in error["message"]
            assert all(value in error["message"] for value in allowed), error["message"]
        checked.add(name)
    assert checked == {"tier", "fit", "format", "claimed", "customer", "sort"}
    message = api.get("/companies", tier="hott").json()["error"]["message"]
    assert message == "tier must be one of hot, warm, cold (got 'hott')"


def test_the_rendered_digest_formats_have_their_own_operation(
    api: Client, store: Store, site: str
) -> None:
    write_scores(
        store, [score_row(site, "acme.com", score=88.0, tier="hot", transition="newly_hot")]
    )
    moved = api.get("/digest", format="html")
    assert moved.status_code == 400
    assert "/api/v1/sites/{site}/digest/html" in moved.json()["error"]["message"]
    assert api.get("/digest", format="json").status_code == 200
    html = api.get("/digest/html", date=date.today().isoformat())
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "acme.com" in html.text
    assert api.get("/digest/csv", date="31/12/2026").json()["error"]["field"] == "date"


MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_every_timestamp_is_utc_with_milliseconds(api: Client, store: Store, site: str) -> None:
    whole = datetime(2026, 11, 20, 9, 30, 5, tzinfo=UTC)
    fraction = datetime(2026, 11, 20, 9, 30, 38, 153000, tzinfo=UTC)
    write_scores(store, [
        score_row(site, "whole.example", first_seen=whole, last_seen=whole, tier="hot", transition="newly_hot"),
        score_row(site, "fraction.example", first_seen=fraction, last_seen=fraction),
    ])  # fmt: skip
    companies = {c["key"]: c for c in api.get("/companies").json()["data"]}
    assert companies["whole.example"]["last_seen"] == "2026-11-20T09:30:05.000Z"
    assert companies["fraction.example"]["last_seen"] == "2026-11-20T09:30:38.153Z"
    for c in companies.values():
        assert all(MILLIS.match(c[k]) for k in ("first_seen", "last_seen", "changed_at")), c
    profile = api.get("/companies/whole.example").json()
    assert profile["first_seen"] == "2026-11-20T09:30:05.000Z"
    digest = api.get("/digest", date=date.today().isoformat()).json()
    assert MILLIS.match(digest["generated_at"])
    [company] = digest["sections"][0]["companies"]
    assert company["last_seen"] == "2026-11-20T09:30:05.000Z"


def test_customers_are_a_filter_and_sort_priority_is_the_reps_order(
    api: Client, store: Store, site: str
) -> None:
    now = datetime.now(UTC)
    at = lambda days: ch_time(now - timedelta(days=days))  # noqa: E731
    write_scores(store, [
        score_row(site, "falling.example", score=85.0, tier="hot", buying_at=at(2)),
        score_row(site, "cust.example", score=40.0, tier="warm", is_customer=1),
        score_row(site, "warm.example", score=30.0, tier="warm"),
        score_row(site, "fresh.example", score=60.0, tier="hot", buying_at=at(0)),
        score_row(site, "new.example", score=55.0, tier="hot", transition="newly_hot",
                  buying_at=at(0)),
    ])  # fmt: skip
    keys_of = lambda r: [c["key"] for c in r.json()["data"]]  # noqa: E731
    everyone = keys_of(api.get("/companies"))  # the default stays (changed_at, key)
    assert everyone == ["falling.example", "cust.example", "warm.example", "fresh.example",
                        "new.example"]  # fmt: skip
    assert keys_of(api.get("/companies", customer="true")) == ["cust.example"]
    assert "cust.example" not in keys_of(api.get("/companies", customer="false"))
    rep = ["new.example", "fresh.example", "falling.example", "cust.example", "warm.example"]
    assert keys_of(api.get("/companies", sort="priority")) == rep
    assert keys_of(api.get("/companies", sort="priority", customer="false")) == [
        k for k in rep if k != "cust.example"]  # fmt: skip
    paged: list[str] = []
    params: dict[str, Any] = {"sort": "priority", "limit": 2}
    for _ in range(5):
        body = api.get("/companies", **params).json()
        paged += [c["key"] for c in body["data"]]
        if not body["has_more"]:
            break
        params["cursor"] = body["next_cursor"]
    assert paged == rep
    first = api.get("/companies", sort="priority", limit=1).json()["data"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["buying_signal_at"])
    assert api.get("/companies", customer="false", tier="warm").json()["data"][0][
        "buying_signal_at"] is None  # fmt: skip
    # a keyset cursor is not an offset: refused, naming the parameter
    changed_cursor = api.get("/companies", limit=1).json()["next_cursor"]
    r = api.get("/companies", sort="priority", cursor=changed_cursor)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "cursor")
