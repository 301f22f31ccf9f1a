"""The dashboard's follow-up: the claim button on a company's page (a form, CSRF-checked like
sign-out: the session's token and a same-origin POST), and the follow-up page: hot companies
nobody has claimed with how long they have been hot, and each owner's median response time over
30 days. Pages and answers go through intent.dashboard_http's session check and headers."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from collector.state import store_of
from collector.store import Store
from intent import users
from intent.alerts import claims
from intent.alerts.message import ago
from intent.clock import clock_of
from intent.dashboard_http import (
    SESSION_COOKIE,
    allowed_sites,
    collector_of,
    not_found,
    page,
    render,
    security_headers,
    site_page,
)
from intent.signin import same_origin


def follow_up_page(request: Request, store: Store, session: users.Session, site: str) -> Response:
    now = clock_of(request).now()
    waiting = claims.unclaimed_hot(store, site, now)
    for w in waiting:
        w["age"] = ago(w["age_s"]) if w["age_s"] is not None else "before alerts were kept"
    medians = claims.medians(store, site, now)
    for m in medians:
        m["median"] = ago(m["median_s"])
    return page(request, "follow_up.html", session, site, "follow-up", waiting=waiting,
                medians=medians, days=claims.MEDIAN_DAYS)  # fmt: skip


def _claim_endpoint(release: bool) -> Any:
    async def endpoint(request: Request) -> Response:
        store = store_of(request.app)
        session = await asyncio.to_thread(
            users.session, store, request.cookies.get(SESSION_COOKIE, "")
        )
        site = request.path_params["site"]
        company = request.path_params["company"]
        if session is None or site not in allowed_sites(request, session):
            return not_found(request, session)
        form = await request.form()
        if not secrets.compare_digest(session.csrf, str(form.get("csrf", ""))) or not same_origin(
            request
        ):
            return render(request, "error.html", 403, session=session,
                          message="The form expired. Please go back and try again.")  # fmt: skip
        config = collector_of(request).settings.sites[site]
        now: datetime = clock_of(request).now()
        if await asyncio.to_thread(claims.company, store, site, company) is None:
            return not_found(request, session)
        if release:
            await asyncio.to_thread(claims.unclaim, store, config, company, session.label, now,
                                    "dashboard")  # fmt: skip
        else:
            try:
                who, note = claims.parse_body({"who": str(form.get("who", "")),
                                               "note": str(form.get("note", ""))})  # fmt: skip
            except claims.ClaimError as exc:
                return render(request, "error.html", 400, session=session, message=exc.message)
            await asyncio.to_thread(claims.claim, store, config, company, who, note, now,
                                    "dashboard")  # fmt: skip
        back = f"/dashboard/sites/{quote(site, safe='')}/companies/{quote(company, safe='')}"
        return security_headers(RedirectResponse(back, status_code=303))

    return endpoint


def routes() -> list[BaseRoute]:
    base = "/dashboard/sites/{site}"
    return [
        Route(base + "/follow-up", site_page("follow_up", follow_up_page), methods=["GET"]),
        Route(base + "/companies/{company:path}/claim", _claim_endpoint(False), methods=["POST"]),
        Route(base + "/companies/{company:path}/unclaim", _claim_endpoint(True), methods=["POST"]),
    ]
