"""What an alert says, by email and in Slack: who, why (the score's reasons), what triggered it
("demo_request on /demo, 40 s ago"), fit and owner, and a link to the company's dashboard page.
Everything a visitor could have written (names, paths) is cleaned to one printable line, and
escaped for Slack's mrkdwn and for HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from collector.settings import Settings
from intent.digest_model import clean
from intent.digest_render import slack_escape, slack_link
from intent.score_words import number

LINK_LABELS = (("website", "Website"), ("linkedin", "LinkedIn"), ("crm", "CRM"))
HEADLINES = {
    "became_hot": "{name} is hot",
    "became_warm": "{name} is warm",
    "event": "{name}: {event}",
    "escalation": "{name} is hot and nobody has claimed it",
}


def ago(seconds: float) -> str:
    """40 s, 12 min, 3 h, 2 days."""
    s = max(0, int(seconds))
    if s < 90:
        return f"{s} s"
    if s < 90 * 60:
        return f"{round(s / 60)} min"
    if s < 36 * 3600:
        return f"{round(s / 3600)} h"
    return f"{round(s / 86400)} days"


@dataclass(frozen=True)
class AlertText:
    headline: str
    lines: tuple[tuple[str, str], ...]  # (label, value), plain text
    link: str
    mention: str  # Slack: <@U...> of the owner, or ''
    # (label, url) of the company's website, LinkedIn search and CRM record (intent.company_links)
    links: tuple[tuple[str, str], ...] = ()


def alert_text(kind: str, body: dict[str, Any], now: datetime, created_at: datetime) -> AlertText:
    name = clean(body.get("company_name") or body.get("company_domain") or body["company_key"])
    where = ", ".join(
        clean(x) for x in (body.get("company_domain"), body.get("country")) if x and x != name
    )
    trigger = body.get("trigger") or {}
    event = clean(trigger.get("event") or "")
    headline = HEADLINES[kind].format(name=name, event=event)
    lines: list[tuple[str, str]] = [
        ("Company", name + (f" ({where})" if where else "")),
        ("Score", f"{number(float(body['score']))}, {body['tier']}"),
    ]
    if event:
        at = datetime.fromisoformat(trigger["at"])
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        page = clean(trigger.get("path") or "")
        lines.append(("Trigger", f"{event} on {page}, {ago((now - at).total_seconds())} ago"))
    if kind == "escalation":
        since = datetime.fromisoformat(body.get("hot_since") or created_at.isoformat())
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        lines.append(("Told", f"{ago((now - since).total_seconds())} ago, nobody has claimed it"))
    lines.append(("Why", "; ".join(clean(r) for r in body.get("reasons", ()))))
    fit = body.get("fit")
    if fit:
        reasons = ", ".join(clean(r) for r in body.get("fit_reasons", ()))
        lines.append(("Fit", fit + (f" ({reasons})" if reasons else "")))
    lines.append(("Owner", clean(body.get("owner") or "nobody (unowned)")))
    mention = f"<@{body['owner_slack']}>" if body.get("owner_slack") else ""
    links = body.get("links") or {}
    acts = tuple((label, str(links[k])) for k, label in LINK_LABELS if links.get(k))
    return AlertText(headline, tuple(lines), str(body.get("link") or ""), mention, acts)


def render_text(text: AlertText) -> str:
    out = [text.headline, ""] + [f"{label}: {value}" for label, value in text.lines]
    out += [f"{label}: {url}" for label, url in text.links]
    if text.link:
        out += ["", f"Open: {text.link}"]
    return "\n".join(out) + "\n"


def render_html(text: AlertText) -> str:
    e = html.escape
    rows = "".join(
        f'<tr><th style="text-align:left;padding-right:12px">{e(label)}</th><td>{e(value)}</td></tr>'
        for label, value in text.lines
    )
    acts = [(label, url) for label, url in text.links]
    acts += [("Open in intent", text.link)] if text.link else []
    link = " · ".join(f'<a href="{e(url)}">{e(label)}</a>' for label, url in acts)
    return f"<h2>{e(text.headline)}</h2><table>{rows}</table>" + (f"<p>{link}</p>" if link else "")


def render_slack(text: AlertText) -> dict[str, Any]:
    """An incoming-webhook payload: the owner @-mentioned, the link as a Slack link."""
    e = slack_escape
    head = (text.mention + " " if text.mention else "") + f"*{e(text.headline)}*"
    body = "\n".join(f"*{e(label)}:* {e(value)}" for label, value in text.lines)
    acts = [*text.links, *([("Open in intent", text.link)] if text.link else [])]
    if acts:
        body += "\n" + " · ".join(slack_link(url, label) for label, url in acts)
    return {
        "text": (text.mention + " " if text.mention else "") + e(text.headline),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": head[:3000]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
        ],
    }


def build_email(
    settings: Settings, alert_id: str, text: AlertText, recipients: list[str]
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = clean(text.headline)
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(datetime.now(UTC))  # "+0000": "-0000" would mean unknown
    domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<{alert_id}@{domain}>"  # the same alert sent again is the same message
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(render_text(text))
    msg.add_alternative(render_html(text), subtype="html")
    return msg
