"""The bot filter over the agent corpora (tests/collector/agents/, sources and licences in the
README there): at least 98 % of crawler agents dropped, at most 0.5 % of real browsers' agents,
every AI agent recognised, and none of the old or odd browsers it used to drop."""

from __future__ import annotations

from typing import Any

import pytest

from bench import agents


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return agents.figures()


def test_recall_and_false_positives_meet_the_targets(
    figures: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print("\n" + agents.summary(figures))
    recall, fp = figures["crawler_recall"], figures["browser_false_positives"]
    assert recall["n"] > 5000 and fp["n"] > 40_000  # the corpora are all there
    assert recall["share"] >= 0.98, figures["crawlers_missed"][:50]
    assert fp["share"] <= 0.005, figures["browsers_dropped"][:50]
    for source, share in figures["by_source"].items():  # no source hides behind another
        limit = (
            (share["share"] >= 0.98) if source.startswith("crawlers") else (share["share"] <= 0.02)
        )
        assert limit, (source, share)


def test_ai_agents_are_recognised_not_dropped(figures: dict[str, Any]) -> None:
    assert figures["ai_agents_recognised"]["n"] >= 15
    assert figures["ai_agents_missed"] == []


def test_old_and_odd_browsers_are_kept(figures: dict[str, Any]) -> None:
    odd = figures["odd_browsers_dropped"]
    assert odd["Opera Presto"]["n"] > 1000 and odd["Opera Presto"]["hits"] == 0
    for kind, share in odd.items():
        assert share["n"] >= 40, kind  # each kind is really in the corpus
        assert share["share"] <= 0.025, (kind, share)
