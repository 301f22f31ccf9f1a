"""The OpenAPI 3.1 document of /api/v1, built from code beside the routes and served at
/api/v1/openapi.json (tests/intent/test_openapi.py checks every route is described and that
responses match it)."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from intent.accounts.api import MAX_ACCOUNTS
from intent.accounts.fields import MAX_EMPLOYEES, MAX_REVENUE, TEXT_LIMITS
from intent.accounts.fit import GRADES
from intent.alerts.claims import MAX_NOTE, MAX_WHO
from intent.api import DEFAULT_LIMIT, DIGEST_PATH, MAX_DAYS, MAX_LIMIT, RENDERED_DIGEST_FORMATS
from intent.digest import SECTIONS
from intent.digest_render import FORMATS
from intent.scoring import TIERS, TRANSITIONS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if headers:
        out["headers"] = headers
    return out


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
ERRORS = {
    "400": _error("an invalid parameter (named in error.field)"),
    "401": _error("missing, invalid or revoked API key"),
    "404": _error("no such site for this key, or no such object"),
    "429": _error("rate limited (per API key)", RETRY_AFTER),
    "503": _error("temporarily unavailable", RETRY_AFTER),
}

SITE = {"name": "site", "in": "path", "required": True, "schema": {"type": "string"},
        "description": "a site this key may read"}  # fmt: skip
NULLABLE_STRING = {"type": "string"}
# Every timestamp the API writes has milliseconds and Z (intent.timestamps).
TIMESTAMP = {"type": "string", "format": "date-time",
             "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"}  # fmt: skip
DAY = {"type": "string", "format": "date"}
# The digest's date as intent.api.parse_day reads it (tests/intent/test_api.py checks both agree).
DIGEST_DAY = {"type": "string", "format": "date",
              "pattern": "^(19[7-9][0-9]|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}$"}  # fmt: skip
# Query parameters that take a moment accept a date (midnight UTC) as well.
DATE_OR_TIME = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}  # fmt: skip
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


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _list_of(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


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
        "required": ["key", "name", "domain", "score", "tier", "reasons", "changed_at"],
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
            "is_customer": {"type": "boolean"},
            "account": {
                "oneOf": [{"type": "null"}, _ref("CompanyAccount")],
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
        },
    },
    "CompanyPage": {
        "type": "object",
        "required": ["data", "has_more", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": _ref("Company")},
            "has_more": {"type": "boolean"},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "CompanyProfile": {
        "allOf": [
            _ref("Company"),
            _object(
                ["score_history", "timeline", "window_visitors", "window_days"],
                window_days=INT,
                window_visitors={**INT, "description": "the most distinct visitors on one day"},
                score_history=_list_of(
                    _object(
                        ["day", "score", "tier"],
                        day=DAY,
                        score={"type": "number"},
                        tier=TIER,
                        transition=TRANSITION,
                        reasons=_list_of(STR),
                    )
                ),
                timeline=_list_of(
                    _object(
                        ["day", "pages", "events"],
                        day=DAY,
                        pages=_list_of(
                            _object(
                                ["path", "hits"],
                                path=STR,
                                hits=INT,
                                engaged_ms=INT,
                                max_scroll=INT,
                                visitors=INT,
                            )
                        ),
                        events=_list_of(
                            _object(["name", "hits"], name=STR, hits=INT, visitors=INT)
                        ),
                    )
                ),
            ),
        ]
    },
    "DigestCompany": _object(
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
        reasons=_list_of(STR),
        visitors=INT,
        active_days=INT,
        first_seen=TIMESTAMP,
        last_seen=TIMESTAMP,
        top_pages=_list_of(STR),
        account={"oneOf": [{"type": "null"}, _ref("CompanyAccount")]},
        fit={"type": ["string", "null"], "enum": [*GRADES, None]},
        fit_reasons=_list_of(STR),
    ),
    "DigestAIAgents": _object(
        ["summary", "days", "reads", "pages", "agents"],
        summary={
            "type": "string",
            "description": "one sentence; empty when no AI agent read the site",
        },
        days=INT,
        reads=INT,
        pages=_list_of(
            _object(
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
        agents=_list_of(_object(["agent", "reads"], agent=STR, reads=INT)),
    ),
    "DigestSection": _object(
        ["key", "title", "total", "companies"],
        key={"type": "string", "enum": [key for key, _ in SECTIONS]},
        title=STR,
        total={
            "type": "integer",
            "description": "companies in the section, including those not listed",
        },
        companies=_list_of(_ref("DigestCompany")),
    ),
    "Digest": _object(
        ["site", "date", "timezone", "generated_at", "summary", "totals", "sections", "ai_agents"],
        site=STR,
        date=DAY,
        timezone=STR,
        generated_at=TIMESTAMP,
        summary=STR,
        totals=_object(
            ["companies", "hot", "warm", "cold", "customers"],
            companies=INT,
            hot=INT,
            warm=INT,
            cold=INT,
            customers=INT,
        ),
        sections=_list_of(_ref("DigestSection")),
        ai_agents=_ref("DigestAIAgents"),
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
    "fit_reasons": _list_of(STR),
}
SCHEMAS["CompanyAccount"] = _object(
    ["crm_id", "name", "domain", "owner", "owner_email", "stage", "fit", "fit_reasons", "match"],
    **ACCOUNT_FIELDS,
    match={"type": "string", "enum": ["domain", "name"], "description": "how the company matched"},
)
SCHEMAS["Account"] = _object(
    ["domain", "name", "owner", "owner_email", "stage", "fit", "fit_reasons", "updated_at"],
    **ACCOUNT_FIELDS,
    industry=STR,
    employees=NULLABLE_INT,
    revenue={"type": ["number", "null"]},
    country={"type": "string", "description": "ISO 3166-1 alpha-2, or empty"},
    updated_at={**TIMESTAMP, "description": "when an import or PUT last changed it"},
)
SCHEMAS["AccountPage"] = _object(
    ["data", "has_more", "next_cursor"],
    data=_list_of(_ref("Account")),
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
SCHEMAS["AccountsWritten"] = _object(
    ["added", "updated", "unchanged", "skipped", "errors", "unmapped_owners"],
    added=INT,
    updated=INT,
    unchanged=INT,
    skipped=INT,
    errors=_list_of(
        _object(
            ["index", "field", "message"],
            index=INT,
            field={"type": ["string", "null"]},
            message=STR,
        )
    ),
    unmapped_owners=_list_of(STR),
)


SCHEMAS["Claim"] = _object(
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
COMPANY = {"name": "company", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "the company key"}  # fmt: skip


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


PATHS: dict[str, Any] = {
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "this document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }
    },
    "/api/v1/sites/{site}/companies": {
        "get": {
            "operationId": "listCompanies",
            "summary": "companies by (changed_at, key): incremental sync with updated_since and cursor",
            "parameters": [
                SITE,
                _query("tier", TIER, "only this tier"),
                _query("min_score", {"type": "number", "minimum": 0, "maximum": 1e9}, "only companies scoring at least this"),
                _query("country", {"type": "string", "pattern": "^[A-Za-z]{2}$"}, "ISO 3166 alpha-2"),
                _query("updated_since", DATE_OR_TIME, "companies whose score, tier or reasons changed at or after this time: an ISO 8601 date-time (UTC without an offset) or date (its midnight UTC)"),
                _query("owner", {"type": "string", "maxLength": 200}, "only companies whose account this owner has (an email address or a name), or `none`: unowned"),
                {**_query("fit", {"type": "array", "items": {"type": "string", "enum": list(GRADES)}}, "only these fit grades: fit=A,B (or fit=A&fit=B); a filtered page may hold fewer than limit companies while has_more is true"),
                 "style": "form", "explode": False},
                _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "page size"),
                _query("cursor", {"type": "string", "minLength": 1}, "next_cursor of the previous page"),
                _query("claimed", {"type": "string", "enum": ["true", "false"]}, "only companies a rep has (true) or has not (false) claimed"),
            ],
            "responses": {
                "200": {"description": "one page", "content": {"application/json": {"schema": _ref("CompanyPage")}}},
                **ERRORS,
            },
        }
    },
    "/api/v1/sites/{site}/companies/{company}": {
        "get": {
            "operationId": "getCompany",
            "summary": "one company: score, tier, reasons, score history, visitors, daily timeline",
            "parameters": [
                SITE,
                {"name": "company", "in": "path", "required": True, "schema": {"type": "string"}, "description": "the company key"},
                _query("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": 30}, "history and timeline window"),
            ],
            "responses": {
                "200": {"description": "the company", "content": {"application/json": {"schema": _ref("CompanyProfile")}}},
                **ERRORS,
            },
        }
    },
    "/api/v1/sites/{site}/companies/{company}/claim": {
        "post": {
            "operationId": "claimCompany",
            "summary": "a rep claims the company (write scope); response time = claim − became hot",
            "parameters": [SITE, COMPANY],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {**_object(
                    ["who"], who={"type": "string", "minLength": 1, "maxLength": MAX_WHO},
                    note={"type": "string", "maxLength": MAX_NOTE}), "additionalProperties": False}}},
            },
            "responses": {
                "200": {"description": "already claimed by the same rep", "content": {"application/json": {"schema": _ref("Claim")}}},
                "201": {"description": "claimed", "content": {"application/json": {"schema": _ref("Claim")}}},
                "403": _error("the key is read-only"),
                "409": _error("claimed by another rep"),
                **ERRORS,
            },
        },
        "delete": {
            "operationId": "unclaimCompany",
            "summary": "release the company's claim (write scope)",
            "parameters": [SITE, COMPANY],
            "responses": {
                "200": {"description": "not claimed now", "content": {"application/json": {"schema": _object(
                    ["company", "claimed"], company=STR, claimed={"type": "boolean"})}}},
                "403": _error("the key is read-only"),
                **ERRORS,
            },
        },
    },
    DIGEST_PATH: {
        "get": {
            "operationId": "getDigest",
            "summary": "the daily digest of a date, as JSON (renderings: GET .../digest/{format})",
            "parameters": [
                SITE,
                _query("date", DIGEST_DAY, "YYYY-MM-DD from 1970-01-01 to 2199-12-31 (default: today in the site's time zone)"),
                _query("format", {"type": "string", "enum": ["json"], "default": "json"}, "json only: each rendering has its own operation"),
            ],
            "responses": {
                "200": {"description": "the digest", "content": {"application/json": {"schema": _ref("Digest")}}},
                **ERRORS,
            },
        }
    },
    DIGEST_PATH + "/{format}": {
        "get": {
            "operationId": "renderDigest",
            "summary": "the daily digest of a date as sales read it: HTML (the email), text, Markdown or CSV",
            "parameters": [
                SITE,
                {"name": "format", "in": "path", "required": True, "schema": {"type": "string", "enum": list(RENDERED_DIGEST_FORMATS)},
                 "description": "html: text/html, text: text/plain, markdown: text/markdown, csv: text/csv (all UTF-8)"},
                _query("date", DIGEST_DAY, "YYYY-MM-DD from 1970-01-01 to 2199-12-31 (default: today in the site's time zone)"),
            ],
            "responses": {
                "200": {
                    "description": "the digest in the format asked for",
                    "content": {FORMATS[fmt].split(";")[0]: {"schema": {"type": "string"}} for fmt in RENDERED_DIGEST_FORMATS},
                },
                **ERRORS,
            },
        }
    },
    "/api/v1/sites/{site}/accounts": {
        "get": {
            "operationId": "listAccounts",
            "summary": "the site's CRM accounts by (updated_at, domain): incremental sync with updated_since and cursor",
            "parameters": [
                SITE,
                _query("updated_since", DATE_OR_TIME, "accounts changed at or after this time: an ISO 8601 date-time (UTC without an offset) or date (its midnight UTC)"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "page size"),
                _query("cursor", {"type": "string", "minLength": 1}, "next_cursor of the previous page"),
            ],
            "responses": {
                "200": {"description": "one page", "content": {"application/json": {"schema": _ref("AccountPage")}}},
                **ERRORS,
            },
        },
        "put": {
            "operationId": "putAccounts",
            "summary": f"add or update up to {MAX_ACCOUNTS} accounts by domain (write scope); a bad one is reported by index, the rest are stored",
            "parameters": [SITE],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _object(
                    ["accounts"], accounts={"type": "array", "maxItems": MAX_ACCOUNTS, "items": _ref("AccountInput")})}},
            },
            "responses": {
                "200": {"description": "what changed, and each object that could not be stored", "content": {"application/json": {"schema": _ref("AccountsWritten")}}},
                "403": _error("the key is read-only"),
                "413": _error("body larger than 4 MiB"),
                **ERRORS,
            },
        },
    },
    "/api/v1/sites/{site}/visitors/{visitor}": {
        "delete": {
            "operationId": "forgetVisitor",
            "summary": "privacy deletion of one visitor's events, activity and identities (write scope)",
            "parameters": [
                SITE,
                {"name": "visitor", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                 "description": "the stored visitor id, or the site's own id for a persistent visitor"},
            ],
            "responses": {
                "200": {"description": "what was deleted", "content": {"application/json": {"schema": _ref("Forgotten")}}},
                "403": _error("the key is read-only"),
                **ERRORS,
            },
        }
    },
}  # fmt: skip


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "intent API",
            "version": "1",
            "description": "CRM sync: companies with buying intent, their scores and timelines. "
            "Authenticate with `Authorization: Bearer int_...` (see docs/api.md).",
        },
        "security": [{"bearerAuth": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


@cache
def document() -> bytes:
    return orjson.dumps(spec())


async def openapi_document(request: Request) -> Response:
    return Response(document(), media_type="application/json")


def routes() -> list[BaseRoute]:
    return [Route("/api/v1/openapi.json", openapi_document, methods=["GET"])]
