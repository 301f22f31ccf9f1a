"""Bots are answered 202 with the drop reason and counted, never stored; browsers are stored with
browser, OS and device. Real agent strings, the real server, the real database."""

from __future__ import annotations

import httpx

from collector import aiagents, endpoint, useragent
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
    # Monitoring and SEO tools on a browser's agent (issue 16), known to the lists...
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 NewRelicSynthetics/1.0", "bot:crawler"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.6998.35 Safari/537.36 (Checkly, https://www.checklyhq.com)", "bot:crawler"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/97.0.4692.71 Safari/537.36 (ThousandEyes Agent)", "bot:crawler"),
    ("Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.97 Safari/537.36 (Dotcom-Monitor)", "bot:crawler"),
    # ... and the forms no browser's agent takes, for crawlers no list knows yet.
    ("Mozilla/5.0 (compatible; Acme/2.0; +https://acme.example/about)", "bot:ua"),
    ("Mozilla/5.0 (compatible; Acme/2.0; contact: ops@acme.example)", "bot:ua"),
    ("Mozilla/5.0 (Acme)", "bot:ua"),
    ("Mozilla/5.0 (compatible; Acme/1.0)", "bot:ua"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; AcmeRender) Chrome/120.0.0.0 Safari/537.36", "bot:ua"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 AcmeScanner/1.0", "bot:ua"),
    ("AcmeTool/1.0", "bot:ua"),
    # AI crawlers that train models or build an index stay bots (AI agents browsing for a
    # person do not: test_ai_agents_browsing_for_a_person_are_not_bots).
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", "bot:crawler"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "bot:crawler"),
    ("CCBot/2.0 (https://commoncrawl.org/faq/)", "bot:crawler"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", "bot:crawler"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot)", "bot:crawler"),
]  # fmt: skip
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
    # Old and odd, but real: Opera Presto (phones, Wii, desktop), UC Browser and WAP on feature
    # phones, consoles, TVs, in-app browsers and WebViews.
    ("Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54", "Opera Mini", "Symbian OS", "mobile"),
    ("Opera/9.30 (Nintendo Wii; U; ; 3642; en)", "Opera", "Other", "other"),
    ("Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.18", "Opera", "Windows", "desktop"),
    ("UCWEB/2.0 (Java; U; MIDP-2.0; Nokia203/20.37) U2/1.0.0 UCBrowser/8.7.0.218 U2/1.0.0 Mobile", "UC Browser", "Other", "mobile"),
    ("Nokia6300/2.0 (05.00) Profile/MIDP-2.0 Configuration/CLDC-1.1", "Nokia Services (WAP) Browser", "Other", "mobile"),
    ("Mozilla/5.0 (Mobile; LYF/F300B/LYF-F300B-001-01-15-130718-i;Android; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5", "Firefox Mobile", "KaiOS", "other"),
    ("Mozilla/5.0 (PlayStation 4 5.55) AppleWebKit/601.2 (KHTML, like Gecko)", "Other", "Other", "other"),
    ("Mozilla/5.0 (SMART-TV; Linux; Tizen 5.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/2.2 Chrome/63.0.3239.84 TV Safari/537.36", "Samsung Internet", "Tizen", "other"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.50.109;FBBV/612345678;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]", "Facebook", "iOS", "mobile"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/127.0.6533.103 Mobile Safari/537.36 Instagram 343.0.0.33.101 Android (34/14; 420dpi; 1080x2400; Google/google; Pixel 8; shiba; tensor; en_US; 629348195)", "Instagram", "Android", "mobile"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.9.0", "LINE", "iOS", "mobile"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) obsidian/1.11.7 Chrome/142.0.7444.265 Electron/39.5.1 Safari/537.36", "Electron", "Windows", "desktop"),
]  # fmt: skip


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
        r = server.post({"site": site, "url": f"https://example.com/page/{i:02d}"}, ua=ua)
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


# (agent, name, version): AI agents browsing on a person's behalf, as their operators publish them.
AI_AGENTS: list[tuple[str, str, str]] = [
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot", "ChatGPT-User", "1"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Claude-User/1.0; +Claude-User@anthropic.com)", "Claude-User", "1"),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; +https://perplexity.ai/perplexity-user)", "Perplexity-User", "1"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; compatible; GoogleAgent-Mariner) Chrome/142.0.7444.162 Safari/537.36", "GoogleAgent-Mariner", ""),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; compatible; Google-Agent)", "Google-Agent", ""),
    ("Mozilla/5.0 (compatible; Amazon-Bedrock-AgentCore-Browser; +https://aws.amazon.com/bedrock/)", "Amazon-Bedrock-AgentCore-Browser", ""),
    ("Mozilla/5.0 (compatible; AmazonBuyForMe; +https://www.amazon.com/)", "AmazonBuyForMe", ""),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36; Manus-User/1.0", "Manus-User", "1"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/137.0.0.0 Safari/537.36; Devin/1.0; +https://devin.ai", "Devin", "1"),
]  # fmt: skip


def test_ai_agents_browsing_for_a_person_are_not_bots() -> None:
    for ua, name, version in AI_AGENTS:
        agent = useragent.parse(ua)
        assert (agent.bot, agent.ai_agent, agent.browser, agent.browser_version, agent.device) == (
            "",
            name,
            name,
            version,
            "agent",
        ), ua
    # A whole token only: a name that merely contains one is not an AI agent.
    for ua in ("Mozilla/5.0 (Linux; Android 13; Devine X1) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/120.0.0.0 Mobile Safari/537.36", "Mozilla/5.0 (compatible; GoogleAgent-Marinerbot)"):  # fmt: skip
        assert useragent.parse(ua).ai_agent == "", ua


def test_the_ai_agent_list_is_data_with_a_source_for_each_name() -> None:
    listed = aiagents.load()
    assert {"ChatGPT-User", "Claude-User", "Perplexity-User", "GoogleAgent-Mariner", "Google-Agent",
            "Amazon-Bedrock-AgentCore-Browser", "AmazonBuyForMe", "Manus-User", "Devin"} <= {
        a.name for a in listed}  # fmt: skip
    assert all(a.token and a.name and a.operator and a.source for a in listed)
    assert not {"GPTBot", "ClaudeBot", "CCBot", "PerplexityBot"} & {a.token for a in listed}
    extra = aiagents.load(
        "token,name,operator,source\nAcme-User,Acme-User,Acme,https://acme.example/bots\n"
    )
    assert aiagents.Recogniser(extra).name("Mozilla/5.0 (compatible; Acme-User/2.1)") == "Acme-User"


def test_a_huge_agent_is_a_bot_without_being_parsed_or_cached() -> None:
    """Issue 18: a 500 KB agent cost ~0.5 s of regexes and was the key of two caches."""
    huge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) " + "A" * 500_000
    useragent.cache_clear()
    agent = useragent.parse(huge)
    assert (agent.bot, agent.device) == ("bot:too-long", "bot")
    assert useragent.cache_info().currsize == 0  # nothing cached, so nothing parsed under a key
    longest_real = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 " + "x" * 900
    assert len(longest_real) <= useragent.MAX_LENGTH
    assert useragent.parse(longest_real).bot != "bot:too-long"
    assert useragent.cache_info().currsize == 1


def test_the_endpoint_cuts_every_header_it_reads_before_anything_parses_it() -> None:
    huge = b"x" * 500_000
    hops = b", ".join([b"198.51.100.7"] * 50_000) + b", 203.0.113.9"
    scope = {"headers": [(b"user-agent", b"Mozilla/5.0 " + huge), (b"origin", b"https://" + huge),
                         (b"authorization", b"Bearer " + huge), (b"x-forwarded-for", hops),
                         (b"cookie", huge)]}  # fmt: skip
    headers = endpoint._headers(scope)
    assert set(headers) == {"user-agent", "origin", "authorization", "x-forwarded-for"}
    assert all(len(v) == endpoint.MAX_HEADER for v in headers.values())
    assert headers["x-forwarded-for"].endswith(", 203.0.113.9")  # the hops our proxies wrote
    assert useragent.parse(headers["user-agent"]).bot == "bot:too-long"


def test_a_huge_agent_is_answered_and_counted_as_a_bot(
    server: LiveServer, store: Store, site: str
) -> None:
    r = server.post({"site": site, "url": "https://example.com/"}, ua="Mozilla/5.0 " + "A" * 8000)
    assert r.status_code == 202 and r.headers["x-intent-dropped"] == "bot:too-long"
    assert server.collector.context is not None
    keys = list(server.collector.context.visitors._entries)
    assert keys and max(len(key[2]) for key in keys) <= endpoint.MAX_HEADER
