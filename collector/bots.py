"""Whether a user agent is a bot's, and the drop reason: maintained pattern lists first, then the
few forms no browser's agent takes. Measured over the corpora in tests/collector/agents/ (their
README says where each came from) by tests/collector/test_bot_corpora.py; docs/collector.md has
the figures and the reasons.

- bot:headless     automation and headless browsers
- bot:http-client  HTTP libraries and command-line clients
- bot:crawler      crawlerdetect's and crawler-user-agents' patterns, ua-parser's "Spider" device
- bot:ua           a URL or address in the agent, `Mozilla/5.0 (Name)` with no platform, a tool's
                   name in the engine's brackets, a bot word, or an agent that is not `Mozilla/`
                   and names no browser, OS or device ua-parser knows
"""

from __future__ import annotations

import re
from typing import Literal

import crawleruseragents
import ua_parser_rs
from crawlerdetect.crawlerdetect import get_compiled_exclusions_regex
from crawlerdetect.providers.crawlers import data as _crawlerdetect_patterns

# Automation and HTTP libraries that a crawler list does not always know. (Unanchored searches
# run as Rust regex sets, as the lists below: a case-blind Python alternation costs ~10x.)
_HEADLESS = ua_parser_rs.DeviceExtractor([(
    "HeadlessChrome|PhantomJS|Playwright|Puppeteer|Selenium|SlimerJS|Lighthouse",
    "i", "headless", None, None,
)])  # fmt: skip
_HTTP_CLIENT = re.compile(
    r"^(curl|wget|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|axios|okhttp|"
    r"java/|apache-httpclient|node-fetch|undici|libwww-perl|ruby|faraday|guzzlehttp|php|"
    r"postmanruntime|insomnia|httpie|powershell|dart|rest-client|http\.rb|reqwest|hackney)",
    re.I,
)

# crawler-user-agents patterns that match real browsers in the corpora: device names and build
# numbers of phones, and browsers or in-app browsers of their own.
_NOT_CRAWLERS = frozenset({
    r"AP3A\.240617\.008",  # an Android build id shared by many phones
    r"008\/",  # Opera Mini and Android build numbers
    "Butterfly", "Sonic", "Fever", "Expanse",  # HTC Butterfly, ViewSonic, Fever and Expanse phones
    "Sogou",  # Sogou's own browser (SogouMSE); Sogou's spiders are in crawlerdetect's list
    "Blackboard", "Viber",  # in-app browsers
    "Fluid", r"Code\/1\.",  # a Mac site browser; VS Code's web views
})  # fmt: skip


def _regex_set(
    patterns: list[str], flags: Literal["i"] | None
) -> tuple[ua_parser_rs.DeviceExtractor, re.Pattern[str]]:
    """Patterns as one Rust regex set (~15 µs for 1,500 patterns, where one Python alternation
    costs ~280 µs; docs/benchmarks.md) plus, in Python, the few that use look-around (Rust
    regex has none)."""
    native = ua_parser_rs.DeviceExtractor(
        [(p, flags, "bot", None, None) for p in patterns if "(?" not in p]
    )
    lookaround = "|".join(p for p in patterns if "(?" in p) or "(?!)"
    return native, re.compile(lookaround, re.I if flags else 0)


_crawlerdetect_exclusions = get_compiled_exclusions_regex()
_crawlerdetect = _regex_set(list(_crawlerdetect_patterns), "i")
# Case-sensitive, as the list's own is_crawler matches them.
_crawler_user_agents = _regex_set(
    [e["pattern"] for e in crawleruseragents.CRAWLER_USER_AGENTS_DATA
     if e["pattern"] not in _NOT_CRAWLERS], None,
)  # fmt: skip


def _matches(regexes: tuple[ua_parser_rs.DeviceExtractor, re.Pattern[str]], ua: str) -> bool:
    return regexes[0].extract(ua) is not None or regexes[1].search(ua) is not None


def is_crawlerdetect(ua: str) -> bool:
    """crawlerdetect's `is_crawler`, via the native regex set. Its exclusions (browser tokens
    such as `Safari/537.36`) only remove text, so they are removed (~10 µs, a Python regex) only
    when a pattern matches the whole agent first: ~4 % of agents; of the 53,049 in the corpora
    none is answered otherwise than by crawlerdetect (tests/bench/test_useragent_equivalence.py)."""
    if not _matches(_crawlerdetect, ua):
        return False
    agent = _crawlerdetect_exclusions.sub("", ua)
    return bool(agent) and _matches(_crawlerdetect, agent)


def is_listed_crawler(ua: str) -> bool:
    """crawlerdetect's list or crawler-user-agents' (less the patterns above)."""
    return is_crawlerdetect(ua) or _matches(_crawler_user_agents, ua)


# What no browser's agent says (measured on ~200,000 browser agents: docs/collector.md).
_NOT_A_BROWSER = ua_parser_rs.DeviceExtractor([
    # A URL or an address, so the owner of a crawler can be found.
    (r"https?://|\bwww\.|@[a-z0-9-]+\.[a-z]|\(at\)|\[at\]", "i", "contact", None, None),
    # A tool's name in the engine's brackets: browsers write "(KHTML, like Gecko)".
    (r"\(KHTML, like Gecko; ", None, "engine note", None, None),
    (r"scanner|research|prospect|monitoring|synthetic|diagnostic|measurement|inspector|checker|"
     r"crawler|spider|scraper", "i", "bot word", None, None),
])  # fmt: skip
# `Mozilla/5.0 (Name)`, `Mozilla/5.0 (compatible; Name/1.0)`, `Mozilla/5.0 Name/1.0`: a
# browser's prefix with no platform after it.
_NO_PLATFORM = re.compile(
    r"Mozilla/\d\.\d\s*(?:\((?:compatible;?\s*)?[^;()]*\)|[\w.-]+(?:/[\w.-]+)?)\Z"
)


def reason(ua: str, recognised: bool) -> str:
    """The drop reason for agent `ua` ('' for a browser). `recognised`: ua-parser named its
    browser, OS or device (what lets Opera Presto, UC Browser and feature phones through
    without the `Mozilla/` prefix every modern browser sends)."""
    stripped = ua.strip()
    if not stripped:
        return "bot:empty"
    if _HEADLESS.extract(stripped) is not None:
        return "bot:headless"
    if _HTTP_CLIENT.match(stripped):
        return "bot:http-client"
    if is_listed_crawler(stripped):
        return "bot:crawler"
    if _NOT_A_BROWSER.extract(stripped) is not None or _NO_PLATFORM.match(stripped):
        return "bot:ua"
    if not recognised and not stripped.startswith("Mozilla/"):
        return "bot:ua"
    return ""
