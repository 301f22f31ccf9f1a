"""User agent -> browser, OS, device class, and whether it is a bot. Parses are cached."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from crawlerdetect import CrawlerDetect
from user_agents import parse as parse_ua

# Automation and HTTP libraries that a crawler list does not always know. A beacon from the
# snippet always comes from a browser, whose agent starts with Mozilla/5.0.
_HEADLESS = re.compile(r"HeadlessChrome|PhantomJS|Playwright|Puppeteer|Selenium|Electron/|SlimerJS|Lighthouse", re.I)
_HTTP_CLIENT = re.compile(
    r"^(curl|wget|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|axios|okhttp|"
    r"java/|apache-httpclient|node-fetch|undici|libwww-perl|ruby|faraday|guzzlehttp|php|"
    r"postmanruntime|insomnia|httpie|powershell|dart|rest-client|http\.rb|reqwest|hackney)",
    re.I,
)
_crawlers = CrawlerDetect()


@dataclass(frozen=True, slots=True)
class Agent:
    browser: str
    browser_version: str
    os: str
    os_version: str
    device: str  # desktop | mobile | tablet | bot | other
    bot: str  # "" or the drop reason: bot:empty, bot:headless, bot:http-client, bot:crawler, bot:ua


def _bot_reason(ua: str) -> str:
    stripped = ua.strip()
    if not stripped:
        return "bot:empty"
    if _HEADLESS.search(stripped):
        return "bot:headless"
    if _HTTP_CLIENT.match(stripped):
        return "bot:http-client"
    if _crawlers.isCrawler(stripped):
        return "bot:crawler"
    if not stripped.startswith("Mozilla/"):
        return "bot:ua"
    return ""


@lru_cache(maxsize=20_000)
def parse(ua: str) -> Agent:
    reason = _bot_reason(ua)
    parsed = parse_ua(ua[:1000])
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
