"""What AI agents browsing on a person's behalf read of a site (traffic class `ai-agent`,
collector/aiagents.py): reads per page and per agent over a window of days, from the
`daily_ai_agent_reads` rollup (migration 0005). Such visits are stored and counted here, never
attributed or scored to a company. The digest, `intent coverage` and the dashboard's coverage
page show it (docs/ai-agents.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from collector.store import Store

# Reads per (page, agent) in the window; the rollup's rows are summed here (SummingMergeTree
# merges them only eventually).
AI_AGENT_READS = """
SELECT path, agent, toUInt64(sum(reads)) AS reads
FROM daily_ai_agent_reads
WHERE site = {site:String} AND day BETWEEN {start:Date} AND {end:Date}
GROUP BY path, agent
ORDER BY reads DESC, path, agent
"""


@dataclass
class AIReads:
    site: str
    start: date
    end: date
    total: int = 0
    pages: list[tuple[str, int]] = field(default_factory=list)  # most read first
    agents: list[tuple[str, int]] = field(default_factory=list)  # most reads first
    by_page: dict[str, dict[str, int]] = field(default_factory=dict)  # path -> agent -> reads

    def summary(self, period: str = "this week", top: int = 3) -> str:
        """One sentence: 'AI agents read /pricing 14 times this week; top pages: ...'."""
        if not self.total:
            return f"No AI agent read the site {period}."
        path, reads = self.pages[0]
        times = "once" if reads == 1 else f"{reads} times"
        pages = ", ".join(f"{p} {n}" for p, n in self.pages[:top])
        agents = ", ".join(f"{a} {n}" for a, n in self.agents[:top])
        return (f"AI agents read {path} {times} {period}; top pages: {pages} "
                f"({self.total} reads by {agents})")  # fmt: skip


def ai_agent_reads(store: Store, site: str, end: date, days: int = 7) -> AIReads:
    """AI agents' reads of `site` in the `days` days up to and including `end`."""
    start = end - timedelta(days=days - 1)
    result = AIReads(site, start, end)
    pages: dict[str, int] = {}
    agents: dict[str, int] = {}
    for path, agent, reads in store.query(
        AI_AGENT_READS, {"site": site, "start": start, "end": end}
    ):
        n = int(reads)
        result.total += n
        pages[path] = pages.get(path, 0) + n
        agents[agent] = agents.get(agent, 0) + n
        result.by_page.setdefault(path, {})[agent] = n
    result.pages = sorted(pages.items(), key=lambda kv: (-kv[1], kv[0]))
    result.agents = sorted(agents.items(), key=lambda kv: (-kv[1], kv[0]))
    return result
