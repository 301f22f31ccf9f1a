"""Sending the digest: email (multipart text + HTML over SMTP) and Slack (incoming webhook,
Block Kit). Each send is retried with backoff on transient failures and its outcome returned
and logged, never dropped silently.

Logs and results name how many recipients and which Slack host, never the addresses or the
webhook path (the path is the secret).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from collector.settings import Settings
from collector.settings_error import SettingsError
from collector.store import Store, ch_time, utc_now
from intent.digest import build_digest
from intent.digest_model import Digest
from intent.digest_owners import owner_digests, unowned
from intent.digest_render import email_subject, render_html, render_slack, render_text
from intent.scoring import rules_of
from intent.ssrf_guard import Refused, post_checked

log = logging.getLogger("intent.delivery")

ATTEMPTS = 3
BACKOFF_S = 2.0  # waits 2 s, then 4 s between attempts
SMTP_TIMEOUT_S = 30.0
SLACK_TIMEOUT_S = 10.0
USER_AGENT = "intent-digest/1"


@dataclass(frozen=True)
class Delivery:
    """The outcome of one channel's send."""

    channel: str  # email | slack
    target: str  # "2 recipients" | "hooks.slack.com"
    ok: bool
    attempts: int
    error: str = ""

    def __str__(self) -> str:
        tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        if self.ok:
            return f"{self.channel} to {self.target}: sent ({tries})"
        return f"{self.channel} to {self.target}: failed after {tries}: {self.error}"


class Permanent(Exception):
    """A failure that retrying cannot fix (bad credentials, rejected recipients, 4xx)."""


def _retry(
    channel: str, target: str, send: Callable[[], None], attempts: int, backoff_s: float
) -> Delivery:
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            send()
            log.info("%s to %s sent (attempt %d)", channel, target, attempt)
            return Delivery(channel, target, True, attempt)
        except Permanent as exc:
            error = str(exc)
            log.error("%s to %s failed, not retrying: %s", channel, target, error)
            return Delivery(channel, target, False, attempt, error)
        except (OSError, smtplib.SMTPException, httpx.HTTPError, _Transient) as exc:
            error = " ".join(str(exc).split()) or type(exc).__name__
            if attempt < attempts:
                wait = backoff_s * 2 ** (attempt - 1)
                log.warning("%s to %s failed (attempt %d of %d), retrying in %.1fs: %s",
                            channel, target, attempt, attempts, wait, error)  # fmt: skip
                time.sleep(wait)
    log.error("%s to %s failed after %d attempts: %s", channel, target, attempts, error)
    return Delivery(channel, target, False, attempts, error)


class _Transient(Exception):
    """A failure worth another try (5xx, 429, 4xx SMTP replies)."""


def build_email(settings: Settings, digest: Digest, recipients: Sequence[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = email_subject(digest)
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(datetime.now(UTC))  # "+0000": "-0000" would mean unknown
    domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid("digest", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    msg.set_content(render_text(digest))
    msg.add_alternative(render_html(digest), subtype="html")
    return msg


def send_email(
    settings: Settings,
    message: EmailMessage,
    recipients: Sequence[str],
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
) -> Delivery:
    """SMTP with STARTTLS (INTENT_SMTP_STARTTLS) or implicit TLS on port 465, and AUTH when a
    user is configured."""
    target = f"{len(recipients)} recipient{'s' if len(recipients) != 1 else ''}"
    if not settings.smtp_host:
        error = "INTENT_SMTP_HOST is not set, so email is disabled"
        log.error("email to %s not sent: %s", target, error)
        return Delivery("email", target, False, 0, error)

    def send() -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if settings.smtp_port == 465:
            smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port,
                                    timeout=SMTP_TIMEOUT_S, context=context)  # fmt: skip
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_S)
        with smtp:
            smtp.ehlo()
            if settings.smtp_starttls and settings.smtp_port != 465:
                smtp.starttls(context=context)
                smtp.ehlo()
            if settings.smtp_user:
                try:
                    smtp.login(settings.smtp_user, settings.smtp_password)
                except smtplib.SMTPAuthenticationError as exc:
                    raise Permanent(f"SMTP login refused ({exc.smtp_code})") from None
            try:
                refused = smtp.send_message(message, to_addrs=list(recipients))
            except smtplib.SMTPRecipientsRefused as exc:
                raise Permanent(f"every recipient was refused ({len(exc.recipients)})") from None
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code >= 500:
                    raise Permanent(f"SMTP server refused the message ({exc.smtp_code})") from None
                raise
            if refused:
                raise Permanent(f"{len(refused)} of {len(recipients)} recipients were refused")

    return _retry("email", target, send, attempts, backoff_s)


def post_slack(
    url: str,
    payload: dict[str, Any],
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
    allow_private: bool = False,
) -> Delivery:
    """POST to a Slack incoming webhook; 429 and 5xx are retried, other 4xx are not. The target
    is checked like a webhook's (intent.webhooks): non-public addresses need slack_allow_private."""
    target = urlsplit(url).hostname or "slack"
    body = orjson.dumps(payload)

    def send() -> None:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        try:
            with httpx.Client(
                timeout=SLACK_TIMEOUT_S, follow_redirects=False, trust_env=False
            ) as client:
                response = post_checked(
                    client, url, allow_private, body, headers, "slack_allow_private"
                )
        except Refused as exc:
            raise Permanent(str(exc)) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = " ".join(response.text.split())[:120] or response.reason_phrase
        if status == 429 or status >= 500:
            raise _Transient(f"HTTP {status} {detail}")
        raise Permanent(f"HTTP {status} {detail}")

    return _retry("slack", target, send, attempts, backoff_s)


OWNERS_SENT = """
    SELECT owner FROM digest_owner_sends FINAL WHERE site = {site:String} AND day = {day:Date}
"""


def owners_sent(store: Store, site: str, day: date) -> set[str]:
    """The owners (addresses) who got their own digest of the site for `day`."""
    return {str(r[0]) for r in store.query(OWNERS_SENT, {"site": site, "day": day})}


def record_owner_sent(store: Store, site: str, day: date, owner: str) -> None:
    row = {"site": site, "day": day.isoformat(), "owner": owner, "sent_at": ch_time(utc_now())}
    store.insert_rows("digest_owner_sends", [row])


def send_digest(
    settings: Settings,
    store: Store,
    site_name: str,
    day: date,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
    send_empty: bool = False,
    force: bool = False,
) -> list[Delivery]:
    """Build the site's digest for `day` and send it: each account owner their own companies by
    email (intent.digest_owners), the site's digest_recipients the rest, and the site's Slack
    the whole digest with the owners @-mentioned.

    Called by the scheduler at the site's digest_time for every site. Nothing is sent on a quiet
    day (nothing newly hot, hot, newly warm or cooling) unless `send_empty`; an owner with
    nothing in the digest gets nothing, and an owner already sent that day's digest is skipped
    unless `force`. Failures are logged and returned, never raised."""
    site = settings.sites.get(site_name)
    if site is None:
        raise SettingsError(f"sites.{site_name}", "no such site in the configuration")
    digest = build_digest(store, site_name, day, site.timezone, rules=rules_of(site), config=site,
                          dashboard_base=settings.public_url or None)  # fmt: skip
    if digest.empty and not send_empty:
        log.info("digest for %s on %s: nothing to send", site_name, day)
        return []
    out = []
    if site.digest_recipients:
        rest = unowned(digest)
        if not rest.empty or send_empty:
            message = build_email(settings, rest, site.digest_recipients)
            out.append(send_email(settings, message, site.digest_recipients, attempts, backoff_s))
    if site.slack_webhook:
        out.append(post_slack(site.slack_webhook, render_slack(digest), attempts, backoff_s,
                              site.slack_allow_private))  # fmt: skip
    done = set() if force else owners_sent(store, site_name, day)
    for owner in owner_digests(digest):
        if owner.email in done:
            continue
        message = build_email(settings, owner.digest, [owner.email])
        sent = send_email(settings, message, [owner.email], attempts, backoff_s)
        # results name no addresses (module docstring): the owner's name when it is one
        out.append(replace(sent, target="an owner" if "@" in owner.name else f"owner {owner.name}"))
        if sent.ok:
            record_owner_sent(store, site_name, day, owner.email)
    if not out:
        log.info("digest for %s not sent: no digest_recipients, slack_webhook or owners", site_name)
    return out
