"""`/api/v1/sites/{site}/companies/{company}/claim`: a CRM that logs a rep's call claims the
company (POST, write key; body `who`, optional `note`) or releases it (DELETE). Authentication,
the site check, rate limits and the one error shape are intent.api's (`Api.guarded`)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector import keys
from collector.errors import error_response
from collector.site_settings import SiteConfig
from collector.store import Store
from intent.alerts import claims
from intent.api import Api, json_response
from intent.api_params import BadParam
from intent.clock import clock_of

PATH = "/api/v1/sites/{site}/companies/{company:path}/claim"
MAX_BODY_BYTES = 16 * 1024


def _site(request: Request, site: str) -> SiteConfig:
    return request.app.state.collector.settings.sites.get(site) or SiteConfig(site, ())


def _not_found(company: str) -> Response:
    return error_response(404, f"no company {company!r} on this site", code="company_not_found",
                          field="company")  # fmt: skip


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise BadParam("body", f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        return orjson.loads(raw or b"null")
    except orjson.JSONDecodeError:
        raise BadParam("body", "the body is not JSON") from None


async def claim(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    company = request.path_params["company"]
    try:
        who, note = claims.parse_body(await _body(request))
    except claims.ClaimError as exc:
        raise BadParam(exc.field, exc.message) from None
    if await asyncio.to_thread(claims.company, store, site, company) is None:
        return _not_found(company)
    now = clock_of(request).now()
    made, new = await asyncio.to_thread(
        claims.claim, store, _site(request, site), company, who, note, now, "api"
    )
    if not new and made.who != who:
        return error_response(
            409,
            f"already claimed by {made.who} at {made.at:%Y-%m-%d %H:%M} UTC; DELETE the claim first",
            code="already_claimed",
        )
    return json_response(made.json(), 201 if new else 200)


async def unclaim(request: Request, store: Store, key: keys.ApiKey, site: str) -> Response:
    company = request.path_params["company"]
    if await asyncio.to_thread(claims.company, store, site, company) is None:
        return _not_found(company)
    now = clock_of(request).now()
    await asyncio.to_thread(
        claims.unclaim, store, _site(request, site), company, f"key {key.prefix}", now, "api"
    )
    return json_response({"company": company, "claimed": False})


def routes(api: Api) -> list[BaseRoute]:
    return [
        Route(PATH, api.guarded(claim, write=True), methods=["POST"]),
        Route(PATH, api.guarded(unclaim, write=True), methods=["DELETE"]),
    ]
