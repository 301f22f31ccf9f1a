"""Bots are answered 202 with the drop reason and counted, never stored; browsers are stored with
browser, OS and device. Real agent strings, the real server, the real database."""

from __future__ import annotations

import httpx

from collector import useragent
from collector.store import Store
from tests.conftest import LiveServer

# (agent, reason): search engines, AI and social crawlers, HTTP libraries, headless browsers,
# empty agents, feed readers and uptime monitors.
BOTS: list[tuple[str, str]] = [
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot:crawler"),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "bot:crawler",
    ),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot:crawler"),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "bot:crawler"),
    (
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "bot:crawler",
    ),
    ("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", "bot:crawler"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "bot:crawler"),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "bot:crawler"),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        "bot:crawler",
    ),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot:crawler"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "bot:crawler"),
    ("Twitterbot/1.0", "bot:crawler"),
    (
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        "bot:crawler",
    ),
    ("curl/8.5.0", "bot:http-client"),
    ("Wget/1.21.4", "bot:http-client"),
    ("python-requests/2.32.3", "bot:http-client"),
    ("Python-urllib/3.11", "bot:http-client"),
    ("python-httpx/0.27.0", "bot:http-client"),
    ("Go-http-client/1.1", "bot:http-client"),
    ("axios/1.7.7", "bot:http-client"),
    ("okhttp/4.12.0", "bot:http-client"),
    ("Java/17.0.2", "bot:http-client"),
    ("Apache-HttpClient/4.5.14 (Java/17.0.9)", "bot:http-client"),
    ("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "bot:http-client"),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.33 Safari/537.36",
        "bot:headless",
    ),
    (
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
        "bot:headless",
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
        "bot:headless",
    ),
    ("", "bot:empty"),
    ("   ", "bot:empty"),
    (
        "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 16 subscribers; like FeedFetcher-Google)",
        "bot:crawler",
    ),
    ("Mozilla/5.0 (compatible; inoreader.com; 12 subscribers)", "bot:crawler"),
    ("NewsBlur Feed Fetcher - 5 subscribers - https://www.newsblur.com/site/123/x", "bot:crawler"),
    ("Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)", "bot:crawler"),
    ("Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "bot:crawler"),
    ("Mozilla/5.0 (compatible; StatusCake)", "bot:crawler"),
    (
        "Better Uptime Bot Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.93 Safari/537.36",
        "bot:crawler",
    ),
    ("Site24x7", "bot:crawler"),
    ("Datadog/Synthetics", "bot:ua"),
    ("Mozilla/5.0 (compatible; Uptime-Kuma/1.23.0)", "bot:crawler"),
]
# (agent, browser, os, device)
BROWSERS: list[tuple[str, str, str, str]] = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Chrome",
        "Windows",
        "desktop",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox",
        "Linux",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Safari",
        "Mac OS X",
        "desktop",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        "Mobile Safari",
        "iOS",
        "mobile",
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        "Mobile Safari",
        "iOS",
        "tablet",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Edge",
        "Windows",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
        "Samsung Internet",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
        "Chrome Mobile",
        "Android",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Firefox",
        "Windows",
        "desktop",
    ),
]


def test_parser_names_each_bot_and_each_browser() -> None:
    for ua, reason in BOTS:
        agent = useragent.parse(ua)
        assert (agent.bot, agent.device) == (reason, "bot"), ua
    for ua, browser, os, device in BROWSERS:
        agent = useragent.parse(ua)
        assert (agent.bot, agent.browser, agent.os, agent.device) == ("", browser, os, device), ua


def test_bots_are_202_with_a_reason_counted_and_not_stored(
    server: LiveServer, store: Store, site: str
) -> None:
    expected: dict[str, int] = {}
    for ua, reason in BOTS:
        if ua and not ua.strip():
            continue  # an all-blank header cannot be sent (httpx refuses); the parser test has it
        r = server.post({"site": site, "url": "https://example.com/pricing"}, ua=ua)
        assert r.status_code == 202, (ua, r.text)
        assert r.headers["x-intent-dropped"] == reason, ua
        assert r.json() == {"accepted": 0, "dropped": {reason: 1}}
        expected[reason] = expected.get(reason, 0) + 1
    server.flush()
    events = store.scalar("SELECT count() FROM events WHERE site = {s:String}", {"s": site})
    assert events == 0
    counted = store.query(
        "SELECT reason, sum(count) FROM dropped_events WHERE site = {s:String} AND day = today() "
        "GROUP BY reason", {"s": site},
    )  # fmt: skip
    assert dict(counted) == expected
    metrics = httpx.get(server.url + "/metrics").text
    assert (
        f'intent_events_dropped_total{{reason="bot:http-client"}} {float(expected["bot:http-client"])}'
        in metrics
    )


def test_browsers_are_stored_with_browser_os_device(
    server: LiveServer, store: Store, site: str
) -> None:
    for i, (ua, _browser, _os, _device) in enumerate(BROWSERS):
        r = server.post({"site": site, "url": f"https://example.com/page/{i}"}, ua=ua)
        assert r.status_code == 202 and "x-intent-dropped" not in r.headers, r.text
    server.flush()
    rows = store.query(
        "SELECT browser, os, device FROM events WHERE site = {s:String} ORDER BY path", {"s": site}
    )
    assert rows == [(b, o, d) for _ua, b, o, d in BROWSERS]


def test_a_batch_mixes_stored_and_dropped_counts(
    server: LiveServer, store: Store, site: str
) -> None:
    body = [{"site": site, "url": "https://example.com/a", "id": "7c0e8f5e-4a3b-4c1e-9a53-0c2a6e1f0a01"},
            {"site": site, "url": "https://example.com/b", "id": "7c0e8f5e-4a3b-4c1e-9a53-0c2a6e1f0a01"}]  # fmt: skip
    r = server.post(body)
    assert r.status_code == 202
    assert r.json() == {"accepted": 1, "dropped": {"duplicate": 1}}
    assert r.headers["x-intent-dropped"] == "duplicate"
