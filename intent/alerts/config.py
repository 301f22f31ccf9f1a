"""A site's `[sites.S.alerts]`, parsed and checked at start-up (errors name the setting):

    [sites.shop.alerts]
    on = ["became_hot", "demo_request"]   # tier transitions and custom event names
    min_fit = "B"                         # needs accounts; a company of unknown fit passes
    repeat_after_hours = 24               # one alert per company per window
    quiet_hours = ["20:00", "07:00"]      # site time zone: email and Slack wait (webhooks don't)
    escalate_after_hours = 4              # hot and unclaimed this long: the site's recipients
    channels = ["email", "slack"]

No table: the site sends no alerts (its webhooks still fire from the incremental run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from collector.settings import Settings
from collector.settings_error import SettingsError
from collector.site_settings import SiteConfig

TRANSITIONS = {"became_hot": "newly_hot", "became_warm": "newly_warm"}
CHANNELS = ("email", "slack")
FIT_ORDER = ("A", "B", "C", "D")
_EVENT_NAME = re.compile(r"^[A-Za-z0-9_.:/ -]{1,100}$")  # what a beacon's name may hold
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
KEYS = ("on", "min_fit", "repeat_after_hours", "quiet_hours", "escalate_after_hours", "channels")


@dataclass(frozen=True)
class AlertsConfig:
    enabled: bool = False
    on: tuple[str, ...] = ("became_hot",)
    min_fit: str = ""  # "" = every company
    repeat_after_hours: float = 24.0
    quiet_hours: tuple[time, time] | None = None  # (start, end) local; may span midnight
    escalate_after_hours: float = 4.0  # 0 = never
    channels: tuple[str, ...] = CHANNELS

    @property
    def transitions(self) -> tuple[str, ...]:
        """The scoring transitions alerted (newly_hot, newly_warm)."""
        return tuple(TRANSITIONS[k] for k in self.on if k in TRANSITIONS)

    @property
    def events(self) -> frozenset[str]:
        """Custom event names alerted whatever the tier."""
        return frozenset(k for k in self.on if k not in TRANSITIONS)

    def fit_passes(self, grade: str | None) -> bool:
        """A company passes min_fit at that grade or better; unknown fit (?, no grade) passes."""
        if not self.min_fit or grade not in FIT_ORDER:
            return True
        return FIT_ORDER.index(grade) <= FIT_ORDER.index(self.min_fit)


OFF = AlertsConfig()


def alerts_config(site: SiteConfig) -> AlertsConfig:
    """The site's alerts; SettingsError names a bad setting."""
    raw = site.alerts
    if raw is None:
        return OFF
    where = f"sites.{site.name}.alerts"
    for key in raw:
        if key not in KEYS:
            raise SettingsError(f"{where}.{key}", f"unknown setting (known: {', '.join(KEYS)})")
    on = raw.get("on", ["became_hot"])
    if not isinstance(on, list) or not all(isinstance(v, str) and _EVENT_NAME.match(v) for v in on):
        raise SettingsError(f"{where}.on", 'expected a list such as ["became_hot", "demo_request"]')
    min_fit = raw.get("min_fit", "")
    if not isinstance(min_fit, str) or min_fit.upper() not in ("", *FIT_ORDER):
        raise SettingsError(f"{where}.min_fit", "expected one of A, B, C, D")
    channels = raw.get("channels", list(CHANNELS))
    if not isinstance(channels, list) or any(c not in CHANNELS for c in channels):
        raise SettingsError(f"{where}.channels", f"expected a list from {', '.join(CHANNELS)}")
    return AlertsConfig(
        enabled=True,
        on=tuple(dict.fromkeys(on)),
        min_fit=min_fit.upper(),
        repeat_after_hours=_hours(raw, "repeat_after_hours", 24.0, where),
        quiet_hours=_quiet(raw.get("quiet_hours"), f"{where}.quiet_hours"),
        escalate_after_hours=_hours(raw, "escalate_after_hours", 4.0, where),
        channels=tuple(dict.fromkeys(channels)),
    )


def _hours(raw: dict[str, Any] | Any, key: str, default: float, where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 24 * 365:
        raise SettingsError(f"{where}.{key}", "expected hours from 0 to 8760")
    return float(value)


def _quiet(value: Any, where: str) -> tuple[time, time] | None:
    if value is None or value == []:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        raise SettingsError(
            where, 'expected ["HH:MM", "HH:MM"] (start, end), e.g. ["20:00", "07:00"]'
        )
    out = []
    for v in value:
        match = _CLOCK.match(v)
        if match is None:
            raise SettingsError(where, f"expected HH:MM (24-hour), got {v!r}")
        out.append(time(int(match.group(1)), int(match.group(2))))
    if out[0] == out[1]:
        raise SettingsError(where, "start and end are the same time")
    return out[0], out[1]


def check(settings: Settings) -> None:
    for site in settings.sites.values():
        alerts_config(site)
