"""The one error of a bad setting, from the environment or intent.toml: it names the setting,
so the server refuses to start with one clear line."""

from __future__ import annotations


class SettingsError(Exception):
    """An invalid setting: the message starts with the setting's name."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason
