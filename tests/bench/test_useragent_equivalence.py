"""The fast user-agent path (ua-parser-rs) must answer exactly what the libraries it replaced
answer: `user_agents.parse` on ua-parser's pure-Python API, and crawlerdetect's `is_crawler`."""

from __future__ import annotations

import re

from crawlerdetect import CrawlerDetect
from crawlerdetect.providers.crawlers import data as crawler_patterns
from user_agents import parse as slow_parse

from bench import agents
from bench.workload import COMMON_AGENTS, unique_agents
from collector import bots, useragent

BOTS = [
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Feedly/1.0 (+http://www.feedly.com/fetcher.html; like FeedFetcher-Google)",
    "UptimeRobot/2.0", "YandexBot/3.0", "YandexSearch/1.0", "Slackbot-LinkExpanding 1.0",
    "facebookexternalhit/1.1", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1)",
]  # fmt: skip


def _samples() -> list[str]:
    literal = [p for p in crawler_patterns if re.fullmatch(r"[A-Za-z0-9 _\-/]+", p)]
    made = [f"Mozilla/5.0 (compatible; {p}/1.0)" for p in literal[:400]]
    return COMMON_AGENTS + BOTS + unique_agents(300, seed=42) + made


def _corpora(every: int = 8) -> list[str]:
    """Every `every`-th agent of the crawler and browser corpora (tests/collector/agents/)."""
    return [ua for name in ("crawlers", "browsers") for _, ua in agents.load(name)[::every]]


def test_crawler_answers_match_crawlerdetect() -> None:
    detect = CrawlerDetect()
    samples = _samples()
    assert sum(bots.is_crawlerdetect(ua) for ua in samples) > 300  # the bots are found
    for ua in samples + _corpora():
        assert bots.is_crawlerdetect(ua) == detect.is_crawler(ua), ua


def test_parsed_agent_matches_user_agents() -> None:
    for ua in _samples():
        fast, slow = useragent._user_agent(ua), slow_parse(ua)
        assert (fast.browser, fast.os, fast.device) == (slow.browser, slow.os, slow.device), ua
        flags = ("is_bot", "is_mobile", "is_tablet", "is_pc", "is_touch_capable")
        assert [getattr(fast, f) for f in flags] == [getattr(slow, f) for f in flags], ua
