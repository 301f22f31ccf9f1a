"""What every dashboard page shares: the security headers (a strict Content-Security-Policy), the
Jinja2 templates (autoescaped), the session and CSRF cookies, and the check that a request is
signed in and may see the site it asks for (intent.signin signs in; intent.dashboard has the pages).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from collector.clientip import is_trusted_proxy, parse_ip
from collector.state import Collector, store_of
from collector.store import Store
from intent import score_words, scoring, users

SESSION_COOKIE = "intent_session"
CSRF_COOKIE = "intent_csrf"
# No script at all; styles only from our own CSS file; no frames.
CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-src 'none'; "
    "frame-ancestors 'none'"
)
# The digest page shows the email's own HTML in the page: its style="" attributes (mail clients
# need them) may apply; a <style> element still may not, and no script runs.
DIGEST_CSP = CSP.replace("style-src 'self';", "style-src 'self'; style-src-attr 'unsafe-inline';")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("intent", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def urlpart(value: str) -> str:
    return quote(value, safe="")


def _wbr(value: str) -> Markup:
    """A domain that may wrap before each dot on a narrow screen (never mid-label)."""
    return Markup("<wbr>.").join(escape(part) for part in str(value).split("."))


_env.filters["urlpart"] = urlpart
_env.filters["wbr"] = _wbr
_env.globals.update(score_label=score_words.score_label, people=score_words.people)


def security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def collector_of(request: Request) -> Collector:
    c: Collector = request.app.state.collector
    return c


def forwarded(request: Request, header: str) -> str:
    """A proxy's X-Forwarded-* value, believed only from INTENT_TRUSTED_PROXIES."""
    peer = parse_ip(request.client.host) if request.client else None
    if peer is None or not is_trusted_proxy(peer, collector_of(request).settings.trusted_proxies):
        return ""
    return request.headers.get(header, "").split(",")[0].strip().lower()


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or forwarded(request, "x-forwarded-proto") == "https"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("session", None)
    context.setdefault("site", None)
    context.setdefault("sites", ())
    context.setdefault("page", "")
    html = _env.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def not_found(request: Request, session: users.Session | None = None) -> HTMLResponse:
    return render(request, "error.html", 404, session=session,
                  message="There is nothing here, or you may not see it.")  # fmt: skip


def set_cookie(response: Response, request: Request, name: str, value: str,
               max_age: int | None, samesite: str = "lax") -> None:  # fmt: skip
    response.set_cookie(name, value, max_age=max_age, path="/dashboard", httponly=True,
                        samesite=samesite, secure=is_https(request))  # type: ignore[arg-type]  # fmt: skip


def allowed_sites(request: Request, session: users.Session) -> list[str]:
    configured = sorted(collector_of(request).settings.sites)
    return [s for s in configured if not session.sites or s in session.sites]


def safe_next(value: str | None) -> str:
    """Only our own pages: never an absolute or scheme-relative URL (open redirect)."""
    if (
        value
        and value.startswith("/dashboard/")
        and not value.startswith("//")
        and "\\" not in value
    ):
        return value
    return "/dashboard/"


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/dashboard/login?" + urlencode({"next": target}), status_code=303)


Page = Callable[[Request, Store, users.Session, str], Response]


def site_page(name: str, handler: Page) -> Callable[[Request], Response]:
    """A page of one site: signed in, and the site must be one this session may see (else 404,
    so site names do not leak)."""

    def endpoint(request: Request) -> Response:
        store = store_of(request.app)
        session = users.session(store, request.cookies.get(SESSION_COOKIE, ""))
        if session is None:
            return login_redirect(request)
        site = request.path_params["site"]
        sites = allowed_sites(request, session)
        if site not in sites:
            return not_found(request, session)
        response = handler(request, store, session, site)
        if isinstance(response, HTMLResponse) and response.status_code == 200:
            return response
        return security_headers(response)

    endpoint.__name__ = name
    return endpoint


def page(request: Request, template: str, session: users.Session, site: str, name: str,
         **context: Any) -> HTMLResponse:  # fmt: skip
    return render(request, template, session=session, site=site, page=name,
                  sites=allowed_sites(request, session),
                  rules=scoring.rules_of(collector_of(request).settings.sites[site]), **context)  # fmt: skip
