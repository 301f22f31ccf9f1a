"""Traffic class from the address ranges that cloud, hosting, CDN and VPN operators publish,
as bundled by the maintained `iporigin` package (its table names its build date; nothing is
fetched at run time). An address there is a machine or an anonymiser's exit, never a company's
office, whatever its AS is called: this is what keeps a CDN's edge (Akamai's AS 35994 and the
like) from becoming a company when only GeoLite2-ASN is configured.

A consumer VPN or private-relay exit (Apple Private Relay, Mullvad, ProtonVPN) is a person at
home behind a shared address: `isp`, neither a company nor a bot. Tor exits count as `hosting`,
as MaxMind's anonymous flags do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import iporigin

from collector.clientip import IPAddress

log = logging.getLogger("intent.enrich")

CLASSES = {
    iporigin.HOSTING: "hosting",
    iporigin.CDN: "hosting",
    iporigin.BOT: "hosting",  # declared crawlers' published ranges
    iporigin.TOR: "hosting",
    iporigin.VPN: "isp",
}


# The package's functions carry no annotations; these say what they take and give.
_classify: Callable[[IPAddress], Any] = iporigin.classify
_dataset_info: Callable[[], dict[str, Any]] = iporigin.dataset_info


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether the bundled table loads (a broken install is a warning, not a crash)."""
    try:
        info = _dataset_info()
    except iporigin.DatasetError as exc:
        log.warning("published hosting ranges unavailable: %s", exc)
        return False
    log.info("published hosting ranges: %d ranges of %d providers (iporigin %s)",
             info["ranges"], len(info["providers"]), iporigin.__version__)  # fmt: skip
    return True


def published_class(ip: IPAddress) -> str:
    """'hosting' or 'isp' when the address is in an operator's published ranges, else ''
    (a private address is 'reserved' there). ~50 µs: the enricher caches it per address."""
    if not available():
        return ""
    return CLASSES.get(_classify(ip).kind, "")
