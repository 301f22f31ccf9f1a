from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from functools import partial

import httpx
import pytest

from collector import keys
from collector.ratelimit import RateLimiter
from collector.settings import Settings
from collector.store import Store
from intent import api, cli
from tests.conftest import LiveServer, SettingsFactory

from .scores import score_row, write_scores


def run_cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *argv: str) -> int:
    monkeypatch.setenv("INTENT_CONFIG", str(settings.config_path))
    monkeypatch.setenv("INTENT_CLICKHOUSE_URL", settings.clickhouse_url)
    return cli.main(list(argv))


def get(live: LiveServer, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(live.url + path, headers=headers, timeout=10)


def test_cli_creates_a_key_printed_once_and_stored_hashed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    make_settings: SettingsFactory, store: Store, site: str,
) -> None:  # fmt: skip
    s = make_settings(site)
    assert run_cli(monkeypatch, s, "keys", "create", "--site", site, "--name", "hubspot") == 0
    token = capsys.readouterr().out.splitlines()[0]
    assert token.startswith("int_")
    prefix = keys.parse(token)
    assert prefix is not None
    stored = store.query_dicts(
        "SELECT key_hash, name, sites, scope FROM api_keys FINAL WHERE prefix = {p:String}",
        {"p": prefix[0]},
    )
    assert stored == [
        {
            "key_hash": hashlib.sha256(token.encode()).hexdigest(),
            "name": "hubspot",
            "sites": [site],
            "scope": "read",
        }
    ]
    # The plain key (or its secret part) is in no table of the database.
    tables = [
        r[0]
        for r in store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine NOT LIKE '%View%'"
        )
    ]
    assert "api_keys" in tables
    for table in tables:
        rows = store.query("SELECT * FROM {t:Identifier}", {"t": table})
        assert prefix[1] not in repr(rows), table

    assert run_cli(monkeypatch, s, "keys", "list") == 0
    listed = capsys.readouterr().out
    assert prefix[0] in listed and prefix[1] not in listed and "hubspot" in listed

    assert run_cli(monkeypatch, s, "keys", "revoke", prefix[0]) == 0
    assert keys.verify(store, token) is None
    assert run_cli(monkeypatch, s, "keys", "revoke", prefix[0]) == 1
    assert "no active key" in capsys.readouterr().err


def test_cli_refuses_an_unknown_site_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make_settings: SettingsFactory,
    site: str,
) -> None:
    assert run_cli(monkeypatch, make_settings(site), "keys", "create", "--site", "nope") == 1
    err = capsys.readouterr().err
    assert "unknown site 'nope'" in err and "Traceback" not in err


def test_bearer_auth_wrong_revoked_and_other_site(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store, site: str
) -> None:
    other = site + "-b"
    toml = (
        f'[sites."{site}"]\ndomains = ["a.example"]\n[sites."{other}"]\ndomains = ["b.example"]\n'
    )
    live = serve(make_settings(toml=toml))
    write_scores(store, [score_row(site, "acme.com"), score_row(other, "globex.com")])
    token, _ = keys.create(store, [site])
    path = f"/api/v1/sites/{site}/companies"

    ok = get(live, path, token)
    assert ok.status_code == 200, ok.text
    assert [c["key"] for c in ok.json()["data"]] == ["acme.com"]

    for bad in (
        None,
        "nonsense",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        "int_abcdefgh_" + "x" * 32,
    ):
        r = get(live, path, bad)
        assert r.status_code == 401, bad
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"

    # Another site's data is a 404, exactly like a site that does not exist.
    for name in (other, "no-such-site"):
        r = get(live, f"/api/v1/sites/{name}/companies", token)
        assert r.status_code == 404
        assert r.json() == {
            "error": {
                "status": 404,
                "code": "site_not_found",
                "message": f"no site {name!r}",
                "field": "site",
            }
        }
    assert get(live, f"/api/v1/sites/{other}/companies/globex.com", token).status_code == 404

    metrics = httpx.get(live.url + "/metrics").text
    assert 'intent_api_requests_total{status="401"} 4.0' in metrics
    assert 'intent_api_requests_total{status="404"} 3.0' in metrics
    assert keys.revoke(store, keys.parse(token)[0])  # type: ignore[index]
    assert get(live, path, token).status_code == 401


def test_revocation_reaches_other_processes_within_the_cache_time(
    monkeypatch: pytest.MonkeyPatch, store: Store, site: str
) -> None:
    token, key = keys.create(store, [site])
    assert keys.verify(store, token) == key  # now cached
    # Another process revokes: simulated by writing the revocation without touching this cache.
    row = store.query_dicts(keys.SELECT_ROW, {"prefix": key.prefix})[0]
    store.insert_rows(
        "api_keys",
        [{**row, "revoked_at": "2030-01-01 00:00:00.000", "updated_at": "2030-01-01 00:00:00.000"}],
    )
    assert keys.verify(store, token) == key  # still cached
    monkeypatch.setattr(keys, "CACHE_SECONDS", 0.0)
    keys._cache.clear()
    assert keys.verify(store, token) is None


def test_rate_limit_per_key_answers_429_with_retry_after(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store, site: str
) -> None:
    live = serve(make_settings(site, INTENT_API_RATE_LIMIT="0.2", INTENT_API_RATE_LIMIT_BURST="3"))
    token, _ = keys.create(store, [site])
    other_token, _ = keys.create(store, [site])
    statuses = [get(live, f"/api/v1/sites/{site}/companies", token).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = get(live, f"/api/v1/sites/{site}/companies", token)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"
    # The limit is per key: another key is not affected.
    assert get(live, f"/api/v1/sites/{site}/companies", other_token).status_code == 200


def test_scopes_read_key_cannot_delete_or_track(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store, site: str
) -> None:
    live = serve(make_settings(site))
    read, _ = keys.create(store, [site], "read")
    write, _ = keys.create(store, [site], "write")
    r = httpx.delete(
        f"{live.url}/api/v1/sites/{site}/visitors/abc", headers={"Authorization": f"Bearer {read}"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    event = {
        "site": site,
        "type": "pageview",
        "url": "https://example.com/",
        "ip": "203.0.113.9",
        "ua": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
    }
    assert live.post(event, Authorization=f"Bearer {read}").status_code == 401
    assert live.post(event, Authorization=f"Bearer {write}").status_code == 202


def test_an_address_sending_bad_keys_is_slowed_but_valid_keys_still_work(
    monkeypatch: pytest.MonkeyPatch,
    make_settings: SettingsFactory,
    serve: Callable[[Settings], LiveServer],
    store: Store,
    site: str,
) -> None:
    from intent.api import FAILED_AUTH_BURST

    monkeypatch.setattr(keys, "CACHE_SECONDS", 600.0)  # still proved after a slow loop below
    # The API's limiters' clock stands still: a slow machine's requests earn no refill meanwhile.
    monkeypatch.setattr(api, "RateLimiter", partial(RateLimiter, clock=lambda: 0.0))
    live = serve(make_settings(site))
    good, _ = keys.create(store, [site])
    path = f"/api/v1/sites/{site}/companies"
    assert get(live, path, good).status_code == 200  # verified once: now in the cache
    statuses: list[int] = []
    while 429 not in statuses and len(statuses) < 3 * FAILED_AUTH_BURST:
        statuses.append(get(live, path, f"int_abcdefgh_{len(statuses):032d}").status_code)
    assert statuses[:FAILED_AUTH_BURST] == [401] * FAILED_AUTH_BURST
    assert statuses[-1] == 429
    assert get(live, path, good).status_code == 200


def test_bogus_keys_on_the_event_endpoint_are_throttled_per_address(
    monkeypatch: pytest.MonkeyPatch, server: LiveServer, store: Store, site: str
) -> None:
    """Each unknown key costs a database lookup: an address sending many is refused (429) once
    it has used its allowance; a valid key it already proved keeps working."""
    good, _ = keys.create(store, [site], "write")
    event = {"site": site, "url": "https://example.com/"}
    monkeypatch.setattr(keys, "CACHE_SECONDS", 600.0)  # the good key stays proved meanwhile
    keys._failed.rate = 0.01  # refills one lookup per 100 s: whatever the machine's speed
    try:
        assert server.post(event, Authorization=f"Bearer {good}").status_code == 202
        answers: list[httpx.Response] = []
        while len(answers) < 2 * keys.FAILED_LOOKUPS_BURST:
            bogus = f"int_{uuid.uuid4().hex[:8]}_{uuid.uuid4().hex}"  # never seen: a lookup each
            answers.append(server.post(event, Authorization=f"Bearer {bogus}"))
            if answers[-1].status_code == 429:
                break
        statuses = [a.status_code for a in answers]
        assert statuses == [401] * keys.FAILED_LOOKUPS_BURST + [429]
        refused = answers[-1]
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["message"] == "too many unknown API keys from this address"
        assert server.post(event, Authorization=f"Bearer {good}").status_code == 202  # cached
    finally:  # the throttle is per process: leave it as it was for other tests
        keys._failed.rate = keys.FAILED_LOOKUPS_PER_SECOND
        keys._failed.buckets.clear()


def test_unknown_keys_never_evict_valid_ones_from_the_cache(store: Store, site: str) -> None:
    good, key = keys.create(store, [site])
    assert keys.verify(store, good) == key
    for i in range(2 * keys._CACHE_MAX):  # what that many distinct bogus lookups leave behind
        keys._cache.put(hashlib.sha256(b"bogus %d" % i).hexdigest(), None)
    assert keys.cached(good) == (True, key)  # still answered from memory
    assert keys.cached("int_abcdefgh_" + "1" * 32) == (False, None)
    newest = hashlib.sha256(b"bogus %d" % (2 * keys._CACHE_MAX - 1)).hexdigest()
    assert keys._cache.get(newest) == (True, None)  # the negative answers stay bounded, newest kept
    assert len(keys._cache._invalid) == keys._CACHE_MAX
