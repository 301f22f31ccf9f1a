"""User agent -> browser, OS, device class, and whether it is a bot. Parses are cached."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import ua_parser
import ua_parser_rs
from crawlerdetect.crawlerdetect import get_compiled_exclusions_regex
from crawlerdetect.providers.crawlers import data as _crawler_patterns
from ua_parser.regex import Resolver as RegexResolver
from user_agents.parsers import UserAgent, parse_browser, parse_device, parse_operating_system

# Automation and HTTP libraries that a crawler list does not always know. A beacon from the
# snippet always comes from a browser, whose agent starts with Mozilla/5.0.
_HEADLESS = re.compile(
    r"HeadlessChrome|PhantomJS|Playwright|Puppeteer|Selenium|Electron/|SlimerJS|Lighthouse", re.I
)
_HTTP_CLIENT = re.compile(
    r"^(curl|wget|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|axios|okhttp|"
    r"java/|apache-httpclient|node-fetch|undici|libwww-perl|ruby|faraday|guzzlehttp|php|"
    r"postmanruntime|insomnia|httpie|powershell|dart|rest-client|http\.rb|reqwest|hackney)",
    re.I,
)

# crawlerdetect's ~1,500 patterns as one Python alternation cost ~280 µs per agent; the same
# patterns in ua-parser-rs's Rust regex set cost ~15 µs (see docs/benchmarks.md). Rust regex has
# no look-around, so the few patterns using it stay in Python.
_crawler_exclusions = get_compiled_exclusions_regex()
_crawler_set = ua_parser_rs.DeviceExtractor(
    [(p, "i", "bot", None, None) for p in _crawler_patterns if "(?" not in p]
)
_crawler_lookaround = re.compile(
    "|".join(p for p in _crawler_patterns if "(?" in p) or "(?!)", re.I
)


def _is_crawler(ua: str) -> bool:
    """Same answer as crawlerdetect's `is_crawler`, via the native regex set."""
    agent = _crawler_exclusions.sub("", ua)
    if not agent:
        return False
    return _crawler_set.extract(agent) is not None or _crawler_lookaround.search(agent) is not None


# ua-parser's native resolver (ua-parser-rs) without the cache its default parser puts in front:
# `parse` below caches the whole answer already (the second cache cost ~2 µs per new agent).
_parser = ua_parser.Parser(RegexResolver(ua_parser.load_lazy_builtins()))


def _user_agent(ua: str) -> UserAgent:
    """`user_agents.parse`, but on ua-parser's native resolver (ua-parser-rs): `user_agents`
    itself calls ua-parser's legacy pure-Python API (~1 ms per uncached agent)."""
    result = _parser.parse(ua)
    b, o, d = result.user_agent, result.os, result.device
    parsed: UserAgent = object.__new__(UserAgent)
    parsed.ua_string = ua
    parsed.browser = (
        parse_browser(b.family, b.major, b.minor, b.patch) if b else parse_browser("Other")
    )
    parsed.os = (
        parse_operating_system(o.family, o.major, o.minor, o.patch, o.patch_minor)
        if o else parse_operating_system("Other")
    )  # fmt: skip
    parsed.device = (
        parse_device(d.family, d.brand, d.model) if d else parse_device("Other", None, None)
    )
    return parsed


@dataclass(frozen=True, slots=True)
class Agent:
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str  # desktop | mobile | tablet | bot | other
    bot: str  # "" or the drop reason: bot:empty, bot:headless, bot:http-client, bot:crawler, bot:ua
    # The row fields above, made once per parse (an agent is cached and reused per request).
    fields: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", {
            "browser": self.browser, "browser_version": self.browser_version, "os": self.os,
            "os_version": self.os_version, "device": self.device,
        })  # fmt: skip


def _bot_reason(ua: str) -> str:
    stripped = ua.strip()
    if not stripped:
        return "bot:empty"
    if _HEADLESS.search(stripped):
        return "bot:headless"
    if _HTTP_CLIENT.match(stripped):
        return "bot:http-client"
    if _is_crawler(stripped):
        return "bot:crawler"
    if not stripped.startswith("Mozilla/"):
        return "bot:ua"
    return ""


@lru_cache(maxsize=20_000)
def parse(ua: str) -> Agent:
    reason = _bot_reason(ua)
    parsed = _user_agent(ua[:1000])
    if not reason and parsed.is_bot:
        reason = "bot:crawler"
    if reason:
        device = "bot"
    elif parsed.is_tablet:
        device = "tablet"
    elif parsed.is_mobile:
        device = "mobile"
    elif parsed.is_pc:
        device = "desktop"
    else:
        device = "other"
    return Agent(
        browser=parsed.browser.family,
        browser_version=parsed.browser.version_string.split(".")[0],
        os=parsed.os.family,
        os_version=parsed.os.version_string,
        device=device,
        bot=reason,
    )


def warm_up() -> None:
    """Compile ua-parser's regexes (~0.3 s) before the first request needs them."""
    parse("Mozilla/5.0 (warm-up)")
    parse.cache_clear()
