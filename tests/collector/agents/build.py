"""Rebuild the agent corpora beside this file from their published packages (README.md says
which, and under which licence). Not run by the tests; run it by hand after fetching them:

    pip download --no-deps --no-binary :all: -d SRC crawlerdetect==0.4.2
    pip download --no-deps -d SRC crawler-user-agents==1.67.0
    (cd SRC && npm pack woothee@1.11.1 top-user-agents@2.1.138)
    python tests/collector/agents/build.py SRC
"""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path

import yaml

from collector import aiagents

HERE = Path(__file__).parent
# Kinds of old or odd real browsers kept whole from crawlerdetect's device list (the rest is
# sampled 1 in 4): Opera Presto, feature phones, UC Browser, consoles, TVs, in-app browsers.
ODD = re.compile(
    r"Presto|MIDP|UCWEB|UCBrowser|NetFront|UP\.Browser|Obigo|PlayStation|Nintendo|Xbox|"
    r"SMART-?TV|SmartTV|Tizen|Web0S|webOS|HbbTV|CrKey|Instagram|Line/|MicroMessenger|KAIOS|"
    r"Snapchat|BlackBerry|Windows Phone|Silk/|Kindle"
)
# woothee categories that are browsers (its "misc" holds feed readers and HTTP libraries).
WOOTHEE_BROWSERS = {"pc", "smartphone", "mobilephone", "appliance"}


def _lines(text: str) -> list[str]:
    return sorted({line.rstrip("\r") for line in text.splitlines() if line.strip()})


def _member(archive: Path, suffix: str) -> str:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            name = next(n for n in z.namelist() if n.endswith(suffix))
            return z.read(name).decode("utf-8", "replace")
    with tarfile.open(archive) as t:
        member = next(m for m in t.getmembers() if m.name.endswith(suffix))
        extracted = t.extractfile(member)
        assert extracted is not None
        return extracted.read().decode("utf-8", "replace")


def _woothee(src: Path) -> tuple[list[str], list[str]]:
    crawlers, browsers = set(), set()
    with tarfile.open(next(src.glob("woothee-*.tgz"))) as t:
        for m in t.getmembers():
            if "/testsets/" not in m.name or not m.name.endswith(".yaml"):
                continue
            extracted = t.extractfile(m)
            assert extracted is not None
            for case in yaml.safe_load(io.TextIOWrapper(extracted, "utf-8")) or []:
                agent, category = case.get("target") or "", case.get("category")
                if not agent.strip():
                    continue
                if category == "crawler":
                    crawlers.add(agent)
                elif category in WOOTHEE_BROWSERS and case.get("name") not in (
                    "UNKNOWN",
                    "Mobile Transcoder",
                ):
                    browsers.add(agent)
    return sorted(crawlers), sorted(browsers)


def main(src: Path) -> None:
    sdist = next(src.glob("crawlerdetect-*.tar.gz"))
    cd_crawlers = _lines(_member(sdist, "fixtures/user_agent/crawlers.txt"))
    cd_devices = _lines(_member(sdist, "fixtures/user_agent/devices.txt"))
    cua = json.loads(
        _member(next(src.glob("crawler_user_agents-*.whl")), "crawler-user-agents.json")
    )
    cua_instances = sorted({i for e in cua for i in e.get("instances", []) if i.strip()})
    woothee_crawlers, woothee_browsers = _woothee(src)
    top = sorted(
        set(json.loads(_member(next(src.glob("top-user-agents-*.tgz")), "src/index.json")))
    )

    crawlers = (
        [("crawlerdetect", a) for a in cd_crawlers]
        + [("crawler-user-agents", a) for a in cua_instances]
        + [("woothee", a) for a in woothee_crawlers]
    )
    first = {a: s for s, a in reversed(crawlers)}  # an agent in two lists counts once
    crawlers = sorted((s, a) for a, s in first.items())
    ai = [(s, a) for s, a in crawlers if aiagents.KNOWN.name(a)]
    crawlers = [(s, a) for s, a in crawlers if not aiagents.KNOWN.name(a)]
    sampled = [a for i, a in enumerate(cd_devices) if i % 4 == 0 or ODD.search(a)]
    seen: set[str] = set()
    browsers = [
        (s, a)
        for s, agents in (("crawlerdetect", sampled), ("woothee", woothee_browsers),
                          ("top-user-agents", top))
        for a in agents
        if not (a in seen or seen.add(a))
    ]  # fmt: skip

    def tsv(rows: list[tuple[str, str]]) -> str:
        return "".join(f"{s}\t{a}\n" for s, a in rows if "\t" not in a and "\n" not in a)

    (HERE / "crawlers.tsv").write_text(tsv(crawlers), encoding="utf-8")
    (HERE / "ai-agents.tsv").write_text(tsv(ai), encoding="utf-8")
    with gzip.GzipFile(HERE / "browsers.tsv.gz", "wb", 9, mtime=0) as out:
        out.write(tsv(browsers).encode("utf-8"))
    print(f"crawlers {len(crawlers)}, ai agents {len(ai)}, browsers {len(browsers)} "
          f"({len(sampled)} of {len(cd_devices)} crawlerdetect devices)")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
