"""AI agents browsing on a person's behalf (ChatGPT-User, Claude-User, Google's Mariner...),
recognised by a token in their user agent. The list is data: collector/data/ai_agents.csv, one
token per line with its source; docs/ai-agents.md says how to extend it.

Such a visit is not a bot's (someone asked the agent to research the vendor) and not a buyer's
company (the agent runs in a cloud): the pipeline stores it with traffic class `ai-agent` and no
company, so it is counted per site and page and never scored.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from importlib import resources

import ua_parser_rs

TRAFFIC_CLASS = "ai-agent"


@dataclass(frozen=True, slots=True)
class AIAgent:
    token: str  # as it appears in the user agent
    name: str  # what is stored (the `browser` column)
    operator: str
    source: str  # where the token is documented


def load(text: str | None = None) -> tuple[AIAgent, ...]:
    """The list in data/ai_agents.csv (or `text` in its format)."""
    if text is None:
        text = resources.files("collector").joinpath("data/ai_agents.csv").read_text("utf-8")
    lines = (line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return tuple(
        AIAgent(row["token"], row["name"], row["operator"], row["source"])
        for row in csv.DictReader(lines)
    )


class Recogniser:
    """Finds a listed token in an agent: the whole token ("Google-Agent" is not
    "GoogleAgent-Mariner", "Devin" not "Devine"), in any case. One Rust regex set, like the
    crawler lists: a Python alternation would cost ~10x per agent."""

    def __init__(self, agents: tuple[AIAgent, ...]) -> None:
        self.agents = agents
        self._set = ua_parser_rs.DeviceExtractor(
            [(rf"(?:^|[^\w-]){re.escape(a.token)}(?:$|[^\w-])", "i", a.name, None, None)
             for a in agents]
        )  # fmt: skip

    def name(self, ua: str) -> str:
        """The AI agent's name when `ua` carries a listed token, else ''."""
        found = self._set.extract(ua)
        return str(found.family) if found is not None else ""

    def version(self, ua: str, name: str) -> str:
        """The major version after the agent's token ('ChatGPT-User/1.0' -> '1'), else ''."""
        lowered = ua.lower()
        for agent in self.agents:
            at = lowered.find(agent.token.lower()) if agent.name == name else -1
            if at >= 0:
                found = _VERSION.match(ua, at + len(agent.token))
                return found.group(1) if found else ""
        return ""


_VERSION = re.compile(r"/v?(\d+)")
KNOWN = Recogniser(load())
