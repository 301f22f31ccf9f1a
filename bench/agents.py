"""Bot-filter quality over the agent corpora in tests/collector/agents/ (their README says where
each came from): the share of crawler agents dropped (recall), of AI agents recognised as such,
and of real browsers' agents dropped (false positives), overall, per source and per kind of old
or odd browser. Shared by tests/collector/test_bot_corpora.py and `make bench`."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

from collector import useragent

CORPORA = Path(__file__).resolve().parent.parent / "tests" / "collector" / "agents"
# Kinds of browser the filter used to get wrong or is most likely to (counted within browsers).
ODD_KINDS = {
    "Opera Presto": r"Presto/",
    "feature phones": r"MIDP|UP\.Browser|NetFront|Obigo|KAIOS|DoCoMo|KDDI",
    "UC Browser": r"UCWEB|UCBrowser",
    "consoles": r"PlayStation|Nintendo|Xbox",
    "TVs": r"SMART-?TV|SmartTV|Tizen|Web0S|webOS|HbbTV|CrKey",
    "in-app (FB, Instagram, Line, WeChat...)": r"FBAN|FBAV|Instagram|Line/|MicroMessenger|Snapchat",
    "Android WebViews": r"; wv\)",
}


def load(name: str) -> list[tuple[str, str]]:
    """(source, agent) rows of one corpus: crawlers, ai-agents or browsers."""
    path = CORPORA / f"{name}.tsv"
    raw = (
        gzip.decompress(path.with_suffix(".tsv.gz").read_bytes())
        if not path.exists()
        else path.read_bytes()
    )
    rows = (line.split("\t", 1) for line in raw.decode("utf-8").splitlines() if line)
    return [(source, agent) for source, agent in rows]


def _share(hits: int, total: int) -> dict[str, Any]:
    return {"n": total, "hits": hits, "share": hits / total if total else 0.0}


def figures() -> dict[str, Any]:
    """What useragent.parse makes of every corpus agent: shares and the agents it got wrong."""
    crawlers, ai, browsers = load("crawlers"), load("ai-agents"), load("browsers")
    missed = [a for _, a in crawlers if not useragent.parse(a).bot]
    not_ai = [a for _, a in ai if not useragent.parse(a).ai_agent]
    wrong = []
    for _, a in browsers:
        agent = useragent.parse(a)
        if agent.bot or agent.ai_agent:
            wrong.append((a, agent.bot or "ai-agent"))
    wrong_set = {a for a, _ in wrong}
    by_source: dict[str, dict[str, Any]] = {}
    for label, rows, bad in (
        ("crawlers", crawlers, set(missed)),
        ("browsers", browsers, wrong_set),
    ):
        for source in sorted({s for s, _ in rows}):
            agents = [a for s, a in rows if s == source]
            hits = (
                sum(a not in bad for a in agents)
                if label == "crawlers"
                else sum(a in bad for a in agents)
            )
            by_source[f"{label} from {source}"] = _share(hits, len(agents))
    odd = {}
    for kind, pattern in ODD_KINDS.items():
        agents = [a for _, a in browsers if re.search(pattern, a)]
        odd[kind] = _share(sum(a in wrong_set for a in agents), len(agents))
    return {
        "crawler_recall": _share(len(crawlers) - len(missed), len(crawlers)),
        "ai_agents_recognised": _share(len(ai) - len(not_ai), len(ai)),
        "browser_false_positives": _share(len(wrong), len(browsers)),
        "by_source": by_source,
        "odd_browsers_dropped": odd,
        "crawlers_missed": missed,
        "ai_agents_missed": not_ai,
        "browsers_dropped": wrong,
    }


def summary(f: dict[str, Any]) -> str:
    recall, fp, ai = f["crawler_recall"], f["browser_false_positives"], f["ai_agents_recognised"]
    return (
        f"bot filter: {recall['share']:.2%} of {recall['n']:,} crawler agents dropped, "
        f"{fp['share']:.3%} of {fp['n']:,} browser agents dropped ({fp['hits']}), "
        f"{ai['hits']} of {ai['n']} AI agents recognised"
    )
