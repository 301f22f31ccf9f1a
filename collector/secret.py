"""The server secret (INTENT_SECRET): the key of the daily visitor-id salts, kept out of
ClickHouse so that reading the database is not enough to recompute a visitor id from an IP.

Unset, it is read from `intent.secret` beside the config file, which `intent init` writes
(owner-only). With the embedded database (one process by construction) the server writes that
file itself on first start; with a ClickHouse server, replicas must share one secret, so a
server with neither refuses to start (docs/privacy.md, docs/configuration.md).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from collector.settings import SECRET_MIN_LENGTH, Settings
from collector.settings_error import SettingsError

log = logging.getLogger("intent.collector")

SECRET_FILE_NAME = "intent.secret"  # noqa: S105 - a file name, not a password


def secret_path(config_path: Path) -> Path:
    return config_path.parent / SECRET_FILE_NAME


def write_secret(path: Path) -> bool:
    """Create `path` holding a new random secret, readable by its owner only; False if it
    already exists (never overwritten: that would change every visitor id of the day)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
    return True


def server_secret(settings: Settings) -> bytes:
    """INTENT_SECRET, else the secret file (written first with the embedded database)."""
    if settings.secret:
        return settings.secret.encode()
    path = secret_path(settings.config_path)
    if not path.exists():
        if not settings.embedded:
            raise SettingsError(
                "INTENT_SECRET",
                f"not set, and {path} does not exist: with a ClickHouse server every replica "
                "must derive visitor ids from one secret; set the same INTENT_SECRET on each "
                "(`openssl rand -hex 32`), or run `intent init` for a single server",
            )
        try:
            if write_secret(path):
                log.info("wrote a new server secret to %s (keep it; see docs/privacy.md)", path)
        except OSError as exc:
            raise SettingsError(
                "INTENT_SECRET", f"not set, and {path} cannot be written: {exc.strerror}"
            ) from None
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError("INTENT_SECRET", f"cannot read {path}: {exc}") from None
    if len(value) < SECRET_MIN_LENGTH:
        raise SettingsError(
            "INTENT_SECRET", f"{path} holds fewer than {SECRET_MIN_LENGTH} characters"
        )
    if path.stat().st_mode & 0o077:
        log.warning("%s can be read by other users; `chmod 600 %s`", path, path)
    return value.encode()
