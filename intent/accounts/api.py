"""`/api/v1/sites/{site}/accounts`: CRM sync jobs write accounts (PUT, write key, up to
MAX_ACCOUNTS a call, per-row errors in the answer) and read them back (GET, keyset pages by
(updated_at, domain), like companies). Authentication, the site check, rate limits and the one
error shape are intent.api's (`Api.guarded`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector import keys
from collector.errors import error_response
from collector.site_settings import SiteConfig
from collector.store import Store, ch_time
from intent.accounts.config import AccountsConfig, site_config
from intent.accounts.fields import Account, AccountUpdate, FieldError, parse_update
from intent.accounts.matching import account_object
from intent.accounts.table import page, upsert
from intent.api import Api, json_response
from intent.api_params import (
    DEFAULT_LIMIT,
    EPOCH,
    MAX_LIMIT,
    BadParam,
    decode_cursor,
    encode_cursor,
    int_param,
    parse_since,
    query_params,
)

MAX_ACCOUNTS = 1000
MAX_BODY_BYTES = 4 * 1024 * 1024
PATH = "/api/v1/sites/{site}/accounts"


def _config(request: Request, site: str) -> AccountsConfig:
    sites = request.app.state.collector.settings.sites
    return site_config(sites.get(site) or SiteConfig(name=site, domains=()))


def account_resource(a: Account, updated_at: datetime, config: AccountsConfig) -> dict[str, Any]:
    return {
        **account_object(a, config),
        "industry": a.industry,
        "employees": a.employees,
        "revenue": a.revenue,
        "country": a.country,
        "updated_at": updated_at,
    }


def list_page(
    store: Store, site: str, config: AccountsConfig, bound: dict[str, Any]
) -> dict[str, Any]:
    limit = bound["limit"]
    rows = page(store, site, bound["since"], bound["after_t"], bound["after_k"], limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1][1], rows[-1][0].domain) if more else None
    return {
        "data": [account_resource(a, at, config) for a, at in rows],
        "has_more": more,
        "next_cursor": cursor,
    }


async def list_accounts(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    q = query_params(request, {"updated_since", "limit", "cursor"})
    since = parse_since(q["updated_since"]) if "updated_since" in q else EPOCH
    after_t, after_k = decode_cursor(q["cursor"]) if "cursor" in q else (EPOCH, "")
    bound = {"since": ch_time(since), "after_t": ch_time(after_t), "after_k": after_k,
             "limit": int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)}  # fmt: skip
    config = _config(request, site)
    return json_response(await asyncio.to_thread(list_page, store, site, config, bound))


def write_accounts(
    store: Store, site: str, config: AccountsConfig, items: Sequence[Any]
) -> dict[str, Any]:
    """Upsert the good objects; each bad one is an error naming its index and field."""
    updates: dict[str, AccountUpdate] = {}  # by domain: a later object wins
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append({"index": index, "field": None, "message": "expected an object"})
            continue
        try:
            update = parse_update(item)
        except FieldError as exc:
            errors.append({"index": index, "field": exc.field, "message": exc.message})
            continue
        updates.pop(update.domain, None)
        updates[update.domain] = update
    changes = upsert(store, site, list(updates.values()))
    owners = {str(u.values.get("owner", "")).strip() for u in updates.values()}
    return {
        "added": len(changes.added),
        "updated": len(changes.updated),
        "unchanged": changes.unchanged,
        "skipped": len(errors),
        "errors": errors,
        "unmapped_owners": sorted(o for o in owners if config.owners.unmapped(o)),
    }


async def _body(request: Request) -> bytes | None:
    """The request body, or None past MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


async def put_accounts(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    for name in request.query_params:
        raise BadParam(name, f"unknown parameter {name!r} (this endpoint takes none)")
    body = await _body(request)
    if body is None:
        return error_response(413, f"body larger than {MAX_BODY_BYTES // 1024 // 1024} MiB")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadParam("accounts", 'expected a JSON object {"accounts": [...]}') from None
    if not isinstance(doc, dict) or not isinstance(doc.get("accounts"), list):
        raise BadParam("accounts", 'expected a JSON object {"accounts": [...]}')
    extra = sorted(set(doc) - {"accounts"})
    if extra:
        raise BadParam(extra[0], f"unknown field {extra[0]!r} (known: accounts)")
    items = doc["accounts"]
    if len(items) > MAX_ACCOUNTS:
        raise BadParam("accounts", f"at most {MAX_ACCOUNTS} accounts per call, got {len(items)}")
    config = _config(request, site)
    return json_response(await asyncio.to_thread(write_accounts, store, site, config, items))


def routes(api: Api) -> list[BaseRoute]:
    """The accounts routes, guarded by the API's own keys, site check and rate limiter."""
    return [
        Route(PATH, api.guarded(list_accounts), methods=["GET"]),
        Route(PATH, api.guarded(put_accounts, write=True), methods=["PUT"]),
    ]
