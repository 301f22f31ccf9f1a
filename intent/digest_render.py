"""The digest in each format: text, Markdown, HTML (the email body, also shown in the dashboard's
digest page), JSON, CSV and Slack Block Kit. `render(digest, fmt)` is `(body, content_type)`.

Every value that came from a visitor's browser or a network database (company names, page
paths, reasons) is escaped for the format it lands in."""

from __future__ import annotations

import csv
import io
import re
from functools import cache
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from intent.digest_model import Digest, clean, iso
from intent.digest_owners import mentions
from intent.score_words import activity_label, number, people, plural, score_label

FORMATS: dict[str, str] = {
    "text": "text/plain; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}
HTML_PER_SECTION = 15  # ~1.3 KB per company: Gmail clips an email past 102 KB
SLACK_PER_SECTION = 8  # Block Kit allows 50 blocks per message


def render(digest: Digest, fmt: str) -> tuple[str, str]:
    """(body, content type) for one of FORMATS."""
    renderers = {
        "text": render_text,
        "markdown": render_markdown,
        "html": render_html,
        "json": render_json,
        "csv": render_csv,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown digest format {fmt!r} (expected {', '.join(FORMATS)})")
    return renderers[fmt](digest), FORMATS[fmt]


def render_text(digest: Digest) -> str:
    lines = [digest.heading, digest.summary]
    for section in digest.sections:
        if not section.total:
            continue
        lines += ["", f"{section.title.upper()} ({section.total})"]
        for c in section.companies:
            where = " · ".join(x for x in (c.domain if c.domain != c.title else "", c.country) if x)
            lines.append(
                f"  {c.title}" + (f" ({where})" if where else "")
                + f" · {c.tier} · score {score_label(c.score, digest.rules)} ({c.change_text()})"
            )  # fmt: skip
            if c.reasons:
                lines.append("    " + " · ".join(c.reasons))
            if c.account_line():
                lines.append("    " + c.account_line())
            lines.append(
                f"    {activity_label(c.visitors, c.active_days)}"
                f" · last seen {digest.seen(c.last_seen)}"
                + (f" · top pages: {', '.join(c.top_pages)}" if c.top_pages else "")
            )
            if c.links.labelled():
                lines.append("    " + " · ".join(f"{k}: {url}" for k, url in c.links.labelled()))
        if section.more:
            lines.append(f"  … and {section.more} more")
    if digest.ai_line:
        lines += ["", digest.ai_line]
    return "\n".join(lines) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(value: str) -> str:
    """Markdown text that renders as exactly `value`: HTML metacharacters become entities and
    inline Markdown punctuation is backslash-escaped, so nothing in a value becomes markup or a
    link. (Values never start a line here, so block markers such as # - + need no escape.)"""
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", value)


_MD_URL_UNSAFE = {c: f"%{ord(c):02X}" for c in ' "()<>[]\\`'}


def md_url(url: str) -> str:
    """A link destination that ends where it should: characters that would end it, or that
    Markdown reads, are percent-encoded (our URLs are already encoded otherwise)."""
    return "".join(_MD_URL_UNSAFE.get(ch, ch) for ch in url)


def render_markdown(digest: Digest) -> str:
    lines = [f"# {md(digest.heading)}", "", md(digest.summary)]
    for section in digest.sections:
        if not section.total:
            continue
        lines += ["", f"## {section.title} ({section.total})"]
        for c in section.companies:
            title = md(c.title) + (f" ({md(c.domain)})" if c.domain and c.domain != c.title else "")
            lines += [
                "",
                f"### {title}",
                "",
                f"- **{md(c.tier)}** · score {md(score_label(c.score, digest.rules))} "
                f"({md(c.change_text())})" + (f" · {md(c.country)}" if c.country else ""),
                f"- {activity_label(c.visitors, c.active_days)} · "
                f"last seen {md(digest.seen(c.last_seen))}",
            ]
            if c.reasons:
                lines.append("- Why: " + " · ".join(md(r) for r in c.reasons))
            if c.account_line():
                lines.append("- Account: " + md(c.account_line()))
            if c.top_pages:
                lines.append("- Top pages: " + ", ".join(md(p) for p in c.top_pages))
            if c.links.labelled():
                lines.append("- Links: " + " · ".join(
                    f"[{md(k)}]({md_url(url)})" for k, url in c.links.labelled(c.domain)))  # fmt: skip
        if section.more:
            lines += ["", f"_… and {section.more} more_"]
    if digest.ai_line:
        lines += ["", "## AI agents", "", md(digest.ai_line)]
    return "\n".join(lines) + "\n"


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("intent", "templates"),
        autoescape=True,  # every value is escaped; nothing in the template is marked safe
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


TIER_COLOURS = {"hot": "#c92a2a", "warm": "#e67700", "cold": "#495057"}


def _html_context(digest: Digest, per_section: int) -> dict[str, Any]:
    return {"digest": digest, "score_label": score_label, "activity": activity_label,
            "colours": TIER_COLOURS, "per_section": per_section}  # fmt: skip


def render_html(digest: Digest, per_section: int = HTML_PER_SECTION) -> str:
    """The email body: the top `per_section` of each section."""
    template = _templates().get_template("digest_email.html")
    return template.render(_html_context(digest, per_section))


def render_html_body(digest: Digest, per_section: int = HTML_PER_SECTION) -> Markup:
    """The email's content without its document (its `digest` block), for the dashboard's
    digest page: the same autoescaped markup, so it is safe to put in a page as it is."""
    template = _templates().get_template("digest_email.html")
    context = template.new_context(_html_context(digest, per_section))
    return Markup("".join(template.blocks["digest"](context)))  # noqa: S704  (autoescaped above)


_JSON_UNSAFE = {b"<": b"\\u003c", b">": b"\\u003e", b"&": b"\\u0026"}


def render_json(digest: Digest) -> str:
    """Indented JSON; < > & are \\u-escaped so it can be inlined into HTML safely."""
    body = orjson.dumps(digest.to_dict(), option=orjson.OPT_INDENT_2)
    for raw, escaped in _JSON_UNSAFE.items():
        body = body.replace(raw, escaped)
    return body.decode() + "\n"


CSV_COLUMNS = (
    "section", "company", "domain", "country", "tier", "score", "change", "previous_tier",
    "visitors", "active_days", "first_seen", "last_seen", "reasons", "top_pages", "company_key",
    "fit", "fit_reasons", "owner", "owner_email", "stage", "crm_id", "reads",
)  # fmt: skip
ACCOUNT_CSV = ("owner", "owner_email", "stage", "crm_id")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A spreadsheet reads a cell starting with = + - @ (or tab/CR) as a formula: OWASP's
    advice is a leading apostrophe, which shows the text as typed."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def render_csv(digest: Digest) -> str:
    """One row per company. Text cells are neutralised; numbers are ours and stay numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for section in digest.sections:
        for c in section.companies:
            writer.writerow([
                section.key, csv_cell(c.title), csv_cell(c.domain), csv_cell(c.country),
                c.tier, number(c.score), number(c.change), c.previous_tier, c.visitors,
                c.active_days, iso(c.first_seen), iso(c.last_seen),
                csv_cell(" · ".join(c.reasons)), csv_cell(" ".join(c.top_pages)), csv_cell(c.key),
                c.fit or "", csv_cell(" · ".join(c.fit_reasons)),
                *(csv_cell(str((c.account or {}).get(k) or "")) for k in ACCOUNT_CSV),
                "",
            ])  # fmt: skip
    ai = digest.to_dict()["ai_agents"]
    for page in ai["pages"]:  # section ai_agents: one row per (page, agent), the page in top_pages
        for agent, reads in page["agents"].items():
            cells = dict.fromkeys(CSV_COLUMNS, "")
            cells.update(section="ai_agents", company=csv_cell(agent), reads=reads,
                         top_pages=csv_cell(page["path"]))  # fmt: skip
            writer.writerow(cells.values())
    return out.getvalue()


def slack_escape(value: str) -> str:
    """Slack mrkdwn: & < > are the control characters (links, @channel); escape exactly those."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str, text: str) -> str:
    """<url|text> in mrkdwn: & < > escaped in both, and | (which ends the URL) kept out."""
    label = slack_escape(text).replace("|", "¦")
    return f"<{slack_escape(url).replace('|', '%7C')}|{label}>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_slack(digest: Digest, per_section: int = SLACK_PER_SECTION) -> dict[str, Any]:
    """An incoming-webhook payload in Block Kit (≤ 50 blocks, section text ≤ 3000 chars)."""
    e = slack_escape
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(digest.heading, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(e(digest.summary), 3000)}},
    ]
    if digest.ai_line:  # before the companies, so the 50-block limit never drops it
        blocks.append({"type": "context",
                       "elements": [{"type": "mrkdwn", "text": _cut(e(digest.ai_line), 3000)}]})  # fmt: skip
    tagged = mentions(digest)  # every owner with a company here is notified, listed or not
    if tagged:
        who = ", ".join(f"<@{slack}> ({n})" for slack, n in tagged[:40])
        blocks.append({"type": "context",
                       "elements": [{"type": "mrkdwn", "text": _cut("For " + who, 3000)}]})  # fmt: skip
    for section in digest.sections:
        if not section.total:
            continue
        blocks.append({"type": "divider"})
        blocks.append({"type": "section",
                       "text": {"type": "mrkdwn", "text": f"*{section.title}* ({section.total})"}})  # fmt: skip
        for c in section.companies[:per_section]:
            where = " · ".join(x for x in (c.domain if c.domain != c.title else "", c.country) if x)
            text = (
                f"*{e(c.title)}*" + (f" ({e(where)})" if where else "")
                + f" · {c.tier} · score {score_label(c.score, digest.rules)} ({e(c.change_text())})"
            )  # fmt: skip
            if c.links.labelled(c.domain):  # before the reasons: a cut at 3000 never splits a link
                text += "\n" + " · ".join(
                    slack_link(url, k) for k, url in c.links.labelled(c.domain)
                )
            if c.reasons:
                text += "\n" + e(" · ".join(c.reasons))
            if c.account_line():  # a member id is [UW][A-Z0-9]+ (intent.accounts.owners)
                text += (
                    "\n" + e(c.account_line()) + (f" <@{c.owner_slack}>" if c.owner_slack else "")
                )
            text += (
                f"\n_{people(c.visitors, c.active_days)} · last seen {e(digest.seen(c.last_seen))}_"
            )
            if c.top_pages:
                text += "\n" + e("top pages: " + ", ".join(c.top_pages))
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}})
        hidden = section.total - min(len(section.companies), per_section)
        if hidden:
            blocks.append({"type": "context",
                           "elements": [{"type": "mrkdwn", "text": f"… and {hidden} more"}]})  # fmt: skip
    return {"text": _cut(e(f"{digest.heading}: {digest.summary}"), 3000), "blocks": blocks[:50]}


def email_subject(digest: Digest) -> str:
    customers = digest.interested_customers
    extra = f", {plural(customers, 'customer')} showing interest" if customers else ""
    return clean(f"{digest.heading}: {digest.news}{extra}")
