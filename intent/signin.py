"""Signing in to the dashboard and out again: an email + password (`intent users create`) or an
API key opens a session (intent.users); the form is CSRF-checked and each address may try ten
times at once, then once every five seconds."""

from __future__ import annotations

import asyncio
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from collector import keys
from collector.clientip import client_ip
from collector.ratelimit import RateLimiter, retry_after
from collector.state import store_of
from intent import users
from intent.dashboard_http import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    collector_of,
    forwarded,
    render,
    safe_next,
    security_headers,
    set_cookie,
)


async def login(request: Request) -> Response:
    c = collector_of(request)
    store = store_of(request.app)
    if request.method == "GET":
        current = await asyncio.to_thread(
            users.session, store, request.cookies.get(SESSION_COOKIE, "")
        )
        if current is not None:  # already signed in: straight on
            return security_headers(
                RedirectResponse(safe_next(request.query_params.get("next")), 303)
            )
        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        response = render(request, "login.html", csrf=token, error="",
                          next=safe_next(request.query_params.get("next")))  # fmt: skip
        set_cookie(response, request, CSRF_COOKIE, token, 3600, samesite="strict")
        return response
    form = await request.form()
    next_url = safe_next(str(form.get("next", "")))
    token = request.cookies.get(CSRF_COOKIE, "")
    if (
        not token
        or not secrets.compare_digest(token, str(form.get("csrf", "")))
        or not same_origin(request)
    ):
        return render(request, "login.html", 403, csrf=secrets.token_urlsafe(24), next=next_url,
                      error="The sign-in form expired. Please try again.")  # fmt: skip
    limiter = _login_limiter(request)
    ip = client_ip(request.client.host if request.client else None,
                   request.headers.get("x-forwarded-for"), c.settings.trusted_proxies)  # fmt: skip
    wait = limiter.allow(str(ip))
    if wait:
        response = render(request, "login.html", 429, csrf=token, next=next_url,
                          error="Too many sign-in attempts. Wait a minute and try again.")  # fmt: skip
        response.headers["Retry-After"] = retry_after(wait)
        return response
    api_key = str(form.get("api_key", "")).strip()
    opened: tuple[str, str] | None = None
    if api_key:
        key = await asyncio.to_thread(keys.verify, store, api_key)
        if key is not None:
            opened = await asyncio.to_thread(
                users.open_session, store, "key", key.prefix, key.sites
            )
    else:
        user = await asyncio.to_thread(users.authenticate, store, str(form.get("email", "")),
                                       str(form.get("password", "")))  # fmt: skip
        if user is not None:
            opened = await asyncio.to_thread(users.open_session, store, "user", user.user_id, ())
    if opened is None:
        return render(request, "login.html", 401, csrf=token, next=next_url,
                      email=str(form.get("email", ""))[:200],
                      error="That email and password, or that API key, did not match.")  # fmt: skip
    signed_in = RedirectResponse(next_url, status_code=303)
    set_cookie(signed_in, request, SESSION_COOKIE, opened[0], None)
    signed_in.delete_cookie(CSRF_COOKIE, path="/dashboard")
    return security_headers(signed_in)


def same_origin(request: Request) -> bool:
    """A form post must come from our own pages (SameSite is the first line; this the second)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    hosts = {request.headers.get("host", "").lower(), forwarded(request, "x-forwarded-host")}
    return origin.split("://", 1)[-1].lower() in hosts - {""}


def _login_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "login_limiter", None)
    if limiter is None:  # ten tries at once, then one every five seconds per address
        limiter = request.app.state.login_limiter = RateLimiter(0.2, 10)
    return limiter


async def logout(request: Request) -> Response:
    store = store_of(request.app)
    token = request.cookies.get(SESSION_COOKIE, "")
    form = await request.form()
    session = await asyncio.to_thread(users.session, store, token)
    if session is not None:
        if not secrets.compare_digest(session.csrf, str(form.get("csrf", ""))) or not same_origin(
            request
        ):
            return render(request, "error.html", 403, session=session,
                          message="The sign-out form expired. Please try again.")  # fmt: skip
        await asyncio.to_thread(users.revoke_session, store, token)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return security_headers(response)


def routes() -> list[BaseRoute]:
    return [
        Route("/dashboard/login", login, methods=["GET", "POST"]),
        Route("/dashboard/logout", logout, methods=["POST"]),
    ]
