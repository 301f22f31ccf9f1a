"""User agent -> browser, OS, device class, whether it is a bot (collector/bots.py), and whether
it is an AI agent browsing for a person (collector/aiagents.py). Parses are cached."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import ua_parser
from ua_parser.regex import Resolver as RegexResolver
from user_agents.parsers import UserAgent, parse_browser, parse_device, parse_operating_system

from collector import aiagents, bots

# No real browser's agent comes near this (the longest of ~200,000 in the corpora behind
# docs/collector.md is 681 characters); a longer one is a bot's, decided before anything parses
# or caches it: the regexes cost ~1 µs per character, and a cache keyed by 500 KB agents is an
# attacker's memory.
MAX_LENGTH = 1024

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
    browser: str  # for an AI agent, its name (ChatGPT-User, ...)
    browser_version: str
    os: str
    os_version: str
    device: str  # desktop | mobile | tablet | other | bot | agent (an AI agent)
    # "" or the drop reason: bot:empty, bot:too-long, bot:headless, bot:http-client,
    # bot:crawler, bot:ua (collector/bots.py)
    bot: str
    ai_agent: str = ""  # the AI agent's name when one browses for a person (never a bot)
    # The row fields above, made once per parse (an agent is cached and reused per request).
    fields: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", {
            "browser": self.browser, "browser_version": self.browser_version, "os": self.os,
            "os_version": self.os_version, "device": self.device,
        })  # fmt: skip


TOO_LONG = Agent("Other", "", "Other", "", "bot", "bot:too-long")


def parse(ua: str) -> Agent:
    """The agent's parse, from the cache when seen before; an agent longer than MAX_LENGTH is
    answered without parsing or caching it."""
    if len(ua) > MAX_LENGTH:
        return TOO_LONG
    return _parse(ua)


@lru_cache(maxsize=20_000)
def _parse(ua: str) -> Agent:
    parsed = _user_agent(ua)
    ai_agent = aiagents.KNOWN.name(ua)
    if ai_agent:
        return Agent(
            browser=ai_agent,
            browser_version=aiagents.KNOWN.version(ua, ai_agent),
            os=parsed.os.family,
            os_version=parsed.os.version_string,
            device="agent",
            bot="",
            ai_agent=ai_agent,
        )
    families = (parsed.browser.family, parsed.os.family, parsed.device.family)
    recognised = any(family != "Other" for family in families)
    reason = bots.reason(ua, recognised)
    if not reason and parsed.is_bot:  # ua-parser's "Spider" device
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


cache_clear = _parse.cache_clear
cache_info = _parse.cache_info


def warm_up() -> None:
    """Compile ua-parser's regexes (~0.3 s) before the first request needs them."""
    parse("Mozilla/5.0 (warm-up)")
    cache_clear()
