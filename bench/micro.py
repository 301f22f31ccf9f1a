"""Benchmarks 4 (unique user agents parsed per second, cache cold, and the bot filter's recall
and false positives over the agent corpora) and 8 (snippet size)."""

from __future__ import annotations

import gzip
import time
from importlib import resources
from typing import Any

from bench import agents as agent_corpora
from bench import workload


def user_agents(count: int, corpora: bool = True) -> dict[str, Any]:
    import ua_parser
    from user_agents import parse as slow_parse

    from collector import useragent

    agents = workload.unique_agents(count, seed=int(time.time()))
    useragent.parse(workload.COMMON_AGENTS[0])  # load the regexes: start-up, not per-agent cost
    useragent.cache_clear()
    started = time.perf_counter()
    for ua in agents:
        useragent.parse(ua)
    rate = count / (time.perf_counter() - started)
    # What the collector used before: user_agents on ua-parser's pure-Python API + crawlerdetect.
    from crawlerdetect import CrawlerDetect

    detect = CrawlerDetect()
    sample = workload.unique_agents(min(count, 300), seed=int(time.time()) + 1)
    started = time.perf_counter()
    for ua in sample:
        detect.is_crawler(ua)
        slow_parse(ua)
    before = len(sample) / (time.perf_counter() - started)
    resolver = getattr(ua_parser.parser, "resolver", None)
    inner = getattr(resolver, "parser", resolver)
    result: dict[str, Any] = {
        "agents": count, "per_second": rate, "previous_per_second": before,
        "ua_parser_resolver": f"{type(inner).__module__}.{type(inner).__qualname__}",
    }  # fmt: skip
    if corpora:  # ~50,000 agents: skipped by --smoke (tests/collector/test_bot_corpora.py has them)
        figures = agent_corpora.figures()
        result["corpora"] = {k: v[:20] if isinstance(v, list) else v for k, v in figures.items()}
        result["corpora"]["summary"] = agent_corpora.summary(figures)
    return result


def snippet() -> dict[str, Any]:
    try:
        body = resources.files("collector").joinpath("static/intent.js").read_bytes()
    except (FileNotFoundError, OSError):
        return {"bytes": None, "gzip_bytes": None}
    return {"bytes": len(body), "gzip_bytes": len(gzip.compress(body, 9, mtime=0))}
