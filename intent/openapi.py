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
from intent.accounts.fit import GRADES
from intent.alerts.claims import MAX_NOTE, MAX_WHO
from intent.api import DIGEST_PATH, MAX_DAYS, RENDERED_DIGEST_FORMATS
from intent.api_params import DEFAULT_LIMIT, MAX_LIMIT
from intent.digest_render import FORMATS
from intent.openapi_schemas import SCHEMAS, STR, TIER, object_of, ref
from intent.openapi_webhooks import SCHEMAS as WEBHOOK_SCHEMAS
from intent.openapi_webhooks import WEBHOOKS


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref("Error")}},
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
# The digest's date as intent.api_params.parse_day reads it (tests/intent/test_api.py checks both agree).
DIGEST_DAY = {"type": "string", "format": "date",
              "pattern": "^(19[7-9][0-9]|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}$"}  # fmt: skip
# Query parameters that take a moment accept a date (midnight UTC) as well.
DATE_OR_TIME = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}  # fmt: skip
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


def _updated_since(what: str) -> dict[str, Any]:
    """The incremental-sync filter of a list: `what` changed at or after a moment."""
    return _query("updated_since", DATE_OR_TIME, f"{what} at or after this time: an ISO 8601 date-time (UTC without an offset) or date (its midnight UTC)")  # fmt: skip


# Keyset paging, the same on every list.
PAGE_PARAMS = [
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}, "page size"),
    _query("cursor", {"type": "string", "minLength": 1}, "next_cursor of the previous page"),
]  # fmt: skip
DIGEST_DATE = _query("date", DIGEST_DAY, "YYYY-MM-DD from 1970-01-01 to 2199-12-31 (default: today in the site's time zone)")  # fmt: skip


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
            "summary": "companies by (changed_at, key): incremental sync with updated_since and cursor; sort=priority: the rep's order",
            "description": "Default order `sort=changed`: `(changed_at, key)`, keyset-paged, so a sync that "
            "pages with `cursor` and resumes with `updated_since` never skips a company. `sort=priority` is the "
            "dashboard's and the digest's order, what a rep should do now: newly hot today first, then hot, warm, "
            "cold; within a tier the freshest buying signal (`buying_signal_at`, by the site's day), then fit, "
            "then score; paged by offset (a company rescored while you page may move). Existing customers "
            "(`is_customer`) are listed unless `customer=false`.",
            "parameters": [
                SITE,
                _query("tier", TIER, "only this tier"),
                _query("min_score", {"type": "number", "minimum": 0, "maximum": 1e9}, "only companies scoring at least this"),
                _query("country", {"type": "string", "pattern": "^[A-Za-z]{2}$"}, "ISO 3166 alpha-2"),
                _updated_since("companies whose score, tier or reasons changed"),
                _query("owner", {"type": "string", "maxLength": 200}, "only companies whose account this owner has (an email address or a name), or `none`: unowned"),
                {**_query("fit", {"type": "array", "items": {"type": "string", "enum": list(GRADES)}}, "only these fit grades: fit=A,B (or fit=A&fit=B); a filtered page may hold fewer than limit companies while has_more is true"),
                 "style": "form", "explode": False},
                *PAGE_PARAMS,
                _query("claimed", {"type": "string", "enum": ["true", "false"]}, "only companies a rep has (true) or has not (false) claimed"),
                _query("customer", {"type": "string", "enum": ["true", "false"]}, "only existing customers (true: customer pages or CRM stage customer) or only prospects (false); both when absent"),
                _query("sort", {"type": "string", "enum": ["changed", "priority"], "default": "changed"}, "changed: (changed_at, key), for sync (the default); priority: the rep's order"),
            ],
            "responses": {
                "200": {"description": "one page", "content": {"application/json": {"schema": ref("CompanyPage")}}},
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
                COMPANY,
                _query("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": 30}, "history and timeline window"),
            ],
            "responses": {
                "200": {"description": "the company", "content": {"application/json": {"schema": ref("CompanyProfile")}}},
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
                "content": {"application/json": {"schema": {**object_of(
                    ["who"], who={"type": "string", "minLength": 1, "maxLength": MAX_WHO},
                    note={"type": "string", "maxLength": MAX_NOTE}), "additionalProperties": False}}},
            },
            "responses": {
                "200": {"description": "already claimed by the same rep", "content": {"application/json": {"schema": ref("Claim")}}},
                "201": {"description": "claimed", "content": {"application/json": {"schema": ref("Claim")}}},
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
                "200": {"description": "not claimed now", "content": {"application/json": {"schema": object_of(
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
                DIGEST_DATE,
                _query("format", {"type": "string", "enum": ["json"], "default": "json"}, "json only: each rendering has its own operation"),
            ],
            "responses": {
                "200": {"description": "the digest", "content": {"application/json": {"schema": ref("Digest")}}},
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
                DIGEST_DATE,
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
                _updated_since("accounts changed"),
                *PAGE_PARAMS,
            ],
            "responses": {
                "200": {"description": "one page", "content": {"application/json": {"schema": ref("AccountPage")}}},
                **ERRORS,
            },
        },
        "put": {
            "operationId": "putAccounts",
            "summary": f"add or update up to {MAX_ACCOUNTS} accounts by domain (write scope); a bad one is reported by index, the rest are stored",
            "parameters": [SITE],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": object_of(
                    ["accounts"], accounts={"type": "array", "maxItems": MAX_ACCOUNTS, "items": ref("AccountInput")})}},
            },
            "responses": {
                "200": {"description": "what changed, and each object that could not be stored", "content": {"application/json": {"schema": ref("AccountsWritten")}}},
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
                "200": {"description": "what was deleted", "content": {"application/json": {"schema": ref("Forgotten")}}},
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
        "webhooks": WEBHOOKS,
        "components": {
            "schemas": {**SCHEMAS, **WEBHOOK_SCHEMAS},
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
