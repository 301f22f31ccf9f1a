"""The component schemas of the /api/v1 OpenAPI document (`SCHEMAS`) and the pieces they are
built from; intent.openapi describes the paths with them."""

from __future__ import annotations

from typing import Any

from intent.accounts.fields import MAX_EMPLOYEES, MAX_REVENUE, TEXT_LIMITS
from intent.accounts.fit import GRADES
from intent.digest_model import SECTIONS
from intent.scoring import TIERS, TRANSITIONS


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# Every timestamp the API writes has milliseconds and Z (intent.timestamps).
TIMESTAMP = {"type": "string", "format": "date-time",
             "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"}  # fmt: skip
DAY = {"type": "string", "format": "date"}
TIER = {"type": "string", "enum": list(TIERS)}
PREVIOUS_TIER = {"type": "string", "enum": [*TIERS, ""], "description": "the tier the day before; empty if not seen then"}  # fmt: skip
TRANSITION = {
    "type": "string",
    "enum": [*TRANSITIONS, ""],
    "description": "against the day before: newly_hot, still_hot, newly_warm, cooling (tier dropped), "
    "or empty; webhooks send company.became_hot / became_warm / cooled for the first, third and fourth",
}
STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}


def object_of(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def list_of(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _link(what: str) -> dict[str, Any]:
    return {"type": ["string", "null"], "format": "uri", "description": what}


# intent.company_links: where a rep acts on a company; null for a link that does not exist.
LINKS = object_of(
    ["website", "linkedin", "crm", "dashboard"],
    website=_link("https://DOMAIN; null without a domain"),
    linkedin=_link("LinkedIn's company search for the name"),
    crm=_link("the account's CRM record from the site's crm_url; null without both"),
    dashboard=_link("the company's dashboard page under INTENT_PUBLIC_URL; null when it is unset"),
)

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "code", "message", "field"],
                "properties": {
                    "status": {"type": "integer"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            }
        },
    },
    "Company": {
        "type": "object",
        "required": ["key", "name", "domain", "score", "tier", "reasons", "changed_at", "links"],
        "properties": {
            "key": {"type": "string", "description": "stable id: the domain where known"},
            "name": {"type": "string"},
            "domain": {"type": "string"},
            "country": {"type": "string"},
            "source": {"type": "string", "description": "how the company was identified"},
            "confidence": {"type": "number"},
            "score": {"type": "number"},
            "tier": TIER,
            "previous_tier": PREVIOUS_TIER,
            "previous_score": {"type": "number"},
            "transition": TRANSITION,
            "reasons": {"type": "array", "items": {"type": "string"}},
            "visitors": {
                "type": "integer",
                "description": "the most distinct visitors seen on one day of the scoring window "
                "(visitor ids are salted per day, so this is the number of people that is known)",
            },
            "active_days": {"type": "integer"},
            "first_seen": TIMESTAMP,
            "last_seen": TIMESTAMP,
            "top_pages": {"type": "array", "items": {"type": "string"}},
            "is_customer": {
                "type": "boolean",
                "description": "an existing customer: customer pages or events in the window, or a CRM account with stage customer",
            },
            "buying_signal_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "the latest buying signal (demo_request, demo, pricing by default) in the scoring window; null if none",
            },
            "account": {
                "oneOf": [{"type": "null"}, ref("CompanyAccount")],
                "description": "the CRM account it matched (docs/accounts.md), null if none",
            },
            "fit": {
                "type": ["string", "null"],
                "enum": ["A", "B", "C", "D", "?", None],
                "description": "fit grade from [sites.S.fit] (from the account, else the country); null when no fit is configured",
            },
            "fit_reasons": {"type": "array", "items": {"type": "string"}},
            "day": DAY,
            "changed_at": {**TIMESTAMP, "description": "when score, tier or reasons last changed"},
            "claimed_by": {"type": ["string", "null"], "description": "the rep who claimed it"},
            "claimed_at": {"type": ["string", "null"], "format": "date-time"},
            "links": ref("CompanyLinks"),
        },
    },
    "CompanyLinks": LINKS,
    "CompanyPage": {
        "type": "object",
        "required": ["data", "has_more", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": ref("Company")},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "CompanyProfile": {
        "allOf": [
            ref("Company"),
            object_of(
                ["score_history", "timeline", "window_visitors", "window_days"],
                window_days=INT,
                window_visitors={**INT, "description": "the most distinct visitors on one day"},
                score_history=list_of(
                    object_of(
                        ["day", "score", "tier"],
                        day=DAY,
                        score={"type": "number"},
                        tier=TIER,
                        transition=TRANSITION,
                        reasons=list_of(STR),
                    )
                ),
                timeline=list_of(
                    object_of(
                        ["day", "pages", "events"],
                        day=DAY,
                        pages=list_of(
                            object_of(
                                ["path", "hits"],
                                path=STR,
                                hits=INT,
                                engaged_ms=INT,
                                max_scroll=INT,
                                visitors=INT,
                            )
                        ),
                        events=list_of(
                            object_of(["name", "hits"], name=STR, hits=INT, visitors=INT)
                        ),
                    )
                ),
            ),
        ]
    },
    "DigestCompany": object_of(
        [
            "key",
            "name",
            "domain",
            "country",
            "source",
            "confidence",
            "tier",
            "previous_tier",
            "score",
            "previous_score",
            "change",
            "transition",
            "reasons",
            "visitors",
            "active_days",
            "first_seen",
            "last_seen",
            "top_pages",
            "account",
            "fit",
            "fit_reasons",
            "is_customer",
            "buying_signal_at",
            "links",
        ],
        key=STR,
        name=STR,
        domain=STR,
        country=STR,
        source=STR,
        confidence={"type": "number"},
        tier=TIER,
        previous_tier=PREVIOUS_TIER,
        score={"type": "number"},
        previous_score={"type": "number"},
        change={"type": "number"},
        transition=TRANSITION,
        reasons=list_of(STR),
        visitors=INT,
        active_days=INT,
        first_seen=TIMESTAMP,
        last_seen=TIMESTAMP,
        top_pages=list_of(STR),
        account={"oneOf": [{"type": "null"}, ref("CompanyAccount")]},
        fit={"type": ["string", "null"], "enum": [*GRADES, None]},
        fit_reasons=list_of(STR),
        is_customer={"type": "boolean"},
        buying_signal_at={"type": ["string", "null"], "format": "date-time"},
        links=ref("CompanyLinks"),
    ),
    "DigestAIAgents": object_of(
        ["summary", "days", "reads", "pages", "agents"],
        summary={
            "type": "string",
            "description": "one sentence; empty when no AI agent read the site",
        },
        days=INT,
        reads=INT,
        pages=list_of(
            object_of(
                ["path", "reads", "agents"],
                path=STR,
                reads=INT,
                agents={
                    "type": "object",
                    "additionalProperties": INT,
                    "description": "reads by agent",
                },
            )
        ),
        agents=list_of(object_of(["agent", "reads"], agent=STR, reads=INT)),
    ),
    "DigestSection": object_of(
        ["key", "title", "total", "companies"],
        key={"type": "string", "enum": [key for key, _ in SECTIONS]},
        title=STR,
        total={
            "type": "integer",
            "description": "companies in the section, including those not listed",
        },
        companies=list_of(ref("DigestCompany")),
    ),
    "Digest": object_of(
        ["site", "date", "timezone", "generated_at", "summary", "totals", "sections", "ai_agents"],
        site=STR,
        date=DAY,
        timezone=STR,
        generated_at=TIMESTAMP,
        summary=STR,
        totals=object_of(
            ["companies", "hot", "warm", "cold", "customers", "customers_interested"],
            companies={**INT, "description": "every company scored that day, customers included"},
            hot={**INT, "description": "hot prospects (customers are never counted here)"},
            warm=INT,
            cold=INT,
            customers=INT,
            customers_interested={
                **INT,
                "description": "customers hot or warm: the customers section",
            },
        ),
        sections=list_of(ref("DigestSection")),
        ai_agents=ref("DigestAIAgents"),
    ),
    "Forgotten": {
        "type": "object",
        "required": ["site", "visitor", "deleted"],
        "properties": {
            "site": {"type": "string"},
            "visitor": {"type": "string"},
            "deleted": {
                "type": "object",
                "properties": {
                    "events": {"type": "integer"},
                    "daily_activity": {"type": "integer"},
                    "identities": {"type": "integer"},
                },
            },
        },
    },
}


NULLABLE_INT: dict[str, Any] = {"type": ["integer", "null"]}
GRADE = {
    "type": ["string", "null"],
    "enum": ["A", "B", "C", "D", "?", None],
    "description": "fit grade from [sites.S.fit]; ? when fields to judge are missing, null when no fit is configured",
}
STAGE = {
    "type": "string",
    "enum": ["customer", "opportunity", "lead", "partner", "other", ""],
    "description": "what the CRM stage means; crm_stage is the CRM's own value",
}
ACCOUNT_FIELDS: dict[str, Any] = {
    "crm_id": STR,
    "name": STR,
    "domain": {"type": "string", "description": "registrable domain"},
    "owner": {"type": "string", "description": "owner's name (or address); empty when none"},
    "owner_email": {
        "type": ["string", "null"],
        "description": "null: unowned (no mapping in [sites.S.owners])",
    },
    "stage": STAGE,
    "crm_stage": STR,
    "fit": GRADE,
    "fit_reasons": list_of(STR),
}
SCHEMAS["CompanyAccount"] = object_of(
    ["crm_id", "name", "domain", "owner", "owner_email", "stage", "fit", "fit_reasons", "match"],
    **ACCOUNT_FIELDS,
    match={"type": "string", "enum": ["domain", "name"], "description": "how the company matched"},
)
SCHEMAS["Account"] = object_of(
    ["domain", "name", "owner", "owner_email", "stage", "fit", "fit_reasons", "updated_at"],
    **ACCOUNT_FIELDS,
    industry=STR,
    employees=NULLABLE_INT,
    revenue={"type": ["number", "null"]},
    country={"type": "string", "description": "ISO 3166-1 alpha-2, or empty"},
    updated_at={**TIMESTAMP, "description": "when an import or PUT last changed it"},
)
SCHEMAS["AccountPage"] = object_of(
    ["data", "has_more", "next_cursor"],
    data=list_of(ref("Account")),
    has_more={"type": "boolean"},
    next_cursor={"type": ["string", "null"]},
)


def _text(name: str) -> dict[str, Any]:
    return {"type": ["string", "null"], "maxLength": TEXT_LIMITS[name]}


SCHEMAS["AccountInput"] = {
    "type": "object",
    "required": ["domain"],
    "additionalProperties": False,
    "description": "a field left out keeps its stored value; null or empty clears it",
    "properties": {
        "domain": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
            "description": "a domain or web address; stored as its registrable domain",
        },
        "name": _text("name"),
        "industry": _text("industry"),
        "employees": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_EMPLOYEES},
        "revenue": {"type": ["number", "null"], "minimum": 0, "maximum": MAX_REVENUE},
        "country": {
            "type": ["string", "null"],
            "maxLength": 100,
            "description": "a country name or ISO 3166 code",
        },
        "owner": {
            **_text("owner"),
            "description": "an email address, or a name mapped in [sites.S.owners]",
        },
        "stage": {
            **_text("stage"),
            "description": "HubSpot lifecycle stage or Salesforce type, as the CRM writes it",
        },
        "crm_id": _text("crm_id"),
    },
}
SCHEMAS["AccountsWritten"] = object_of(
    ["added", "updated", "unchanged", "skipped", "errors", "unmapped_owners"],
    added=INT,
    updated=INT,
    unchanged=INT,
    skipped=INT,
    errors=list_of(
        object_of(
            ["index", "field", "message"],
            index=INT,
            field={"type": ["string", "null"]},
            message=STR,
        )
    ),
    unmapped_owners=list_of(STR),
)


SCHEMAS["Claim"] = object_of(
    ["company", "claimed", "claimed_by", "claimed_at", "note", "hot_since", "response_seconds"],
    company=STR,
    claimed={"type": "boolean"},
    claimed_by=STR,
    claimed_at=TIMESTAMP,
    note=STR,
    hot_since={"type": ["string", "null"], "format": "date-time",
               "description": "when the company last became hot"},
    response_seconds={"type": ["number", "null"],
                      "description": "claimed_at − hot_since, for the first claim after it became hot"},
)  # fmt: skip
