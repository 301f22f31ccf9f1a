"""Where a rep acts on a company: its website, a LinkedIn company search, its CRM record (the
site's `crm_url` template with the account's crm_id) and its dashboard page (under
INTENT_PUBLIC_URL). One builder for every place a company appears: the dashboard, the digest in
each format, alerts and the API.

Every URL is built here from parts we check or percent-encode, so a company name or a CRM id
cannot change where a link goes; each format still escapes the URL for where it lands."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from collector.site_settings import SiteConfig

LINKEDIN_SEARCH = "https://www.linkedin.com/search/results/companies/?keywords="
CRM_ID = "{crm_id}"  # the placeholder of a site's crm_url
# A host name we link to as https://DOMAIN: ASCII labels (IDNs arrive as xn--), at least one dot.
_HOST = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
)


@dataclass(frozen=True)
class CompanyLinks:
    """Each link, or '' when there is none."""

    website: str = ""
    linkedin: str = ""
    crm: str = ""
    dashboard: str = ""

    def to_dict(self) -> dict[str, str | None]:
        """The API's `links` object: null for a link that does not exist."""
        return {
            "website": self.website or None,
            "linkedin": self.linkedin or None,
            "crm": self.crm or None,
            "dashboard": self.dashboard or None,
        }

    def labelled(self, domain: str = "", dashboard: bool = True) -> list[tuple[str, str]]:
        """(label, url) of each link there is, in the order a rep reads them: the website
        labelled with its domain; the dashboard page last (left out when `dashboard` is False)."""
        named = [
            (domain or "Website", self.website),
            ("LinkedIn", self.linkedin),
            ("CRM", self.crm),
        ]
        named += [("Open in intent", self.dashboard)] if dashboard else []
        return [(label, url) for label, url in named if url]


def website(domain: str) -> str:
    """https://DOMAIN, or '' when the domain is not a plain host name."""
    host = domain.strip().lower().rstrip(".")
    return f"https://{host}" if _HOST.match(host) else ""


def linkedin(name: str) -> str:
    """LinkedIn's company search for the name (there is no public id to link to)."""
    name = " ".join(name.split())
    return LINKEDIN_SEARCH + quote_plus(name) if name else ""


def crm(template: str, crm_id: str) -> str:
    """The site's crm_url with the account's CRM id, percent-encoded, in place of {crm_id}."""
    crm_id = crm_id.strip()
    if not template or not crm_id:
        return ""
    return template.replace(CRM_ID, quote(crm_id, safe=""))


def dashboard_path(site: str, company: str) -> str:
    return f"/dashboard/sites/{quote(site, safe='')}/companies/{quote(company, safe='')}"


def dashboard_link(public_url: str, site: str, company: str) -> str:
    """The company's dashboard page under INTENT_PUBLIC_URL ('' without it)."""
    return public_url + dashboard_path(site, company) if public_url else ""


def company_links(
    site: SiteConfig,
    key: str,
    domain: str,
    name: str,
    account: Mapping[str, Any] | None,
    dashboard_base: str | None,
) -> CompanyLinks:
    """The links of one company of `site`. `dashboard_base`: INTENT_PUBLIC_URL for what leaves
    the server (email, Slack, API), '' for a link within the dashboard, None for no link."""
    crm_id = str((account or {}).get("crm_id") or "")
    return CompanyLinks(
        website=website(domain),
        linkedin=linkedin(name or domain),
        crm=crm(site.crm_url, crm_id),
        dashboard="" if dashboard_base is None else dashboard_base + dashboard_path(site.name, key),
    )
