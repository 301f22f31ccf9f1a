from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from collector import keys
from collector.settings import Settings
from collector.store import Store
from intent.accounts.fit import GRADES
from intent.openapi import spec
from intent.scoring import TIERS, TRANSITIONS, transition
from intent.webhooks import EVENT_OF_TRANSITION
from tests.conftest import LiveServer, SettingsFactory

from .scores import score_row, write_scores

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]  # fmt: skip


def test_every_api_route_is_described(server: LiveServer) -> None:
    doc = httpx.get(server.url + "/api/v1/openapi.json", timeout=10).json()
    assert doc["openapi"] == "3.1.0"
    routes = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path), method.lower())
        for r in server.app.routes
        if isinstance(r, Route) and r.path.startswith("/api/v1/")
        for method in (r.methods or ()) if method != "HEAD"
    }  # fmt: skip
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == described
    for path, ops in doc["paths"].items():
        for op in ops.values():
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"\{(\w+)\}", path)), path
            assert "200" in op["responses"]


def test_schemathesis_no_5xx_and_responses_match_the_schema(
    make_settings: SettingsFactory, serve: Callable[[Settings], LiveServer], store: Store, site: str
) -> None:
    live = serve(
        make_settings(site, INTENT_API_RATE_LIMIT_BURST="100000", INTENT_API_RATE_LIMIT="10000")
    )
    write_scores(store, [score_row(site, f"c{i}.example", score=float(i * 10), tier=("hot", "warm", "cold")[i % 3])
                         for i in range(12)])  # fmt: skip
    token, _ = keys.create(store, [site], "write")
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(live.url + "/api/v1/openapi.json")
    calls: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # Schema-violating cases too: the spec now says exactly what the server accepts, so valid
    # cases alone hardly ever meet a 400.
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode), own_site=st.booleans())
        @settings(max_examples=30, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case: Any, own_site: bool) -> None:
            if "site" in (case.path_parameters or {}) and own_site:
                case.path_parameters["site"] = site  # mostly exercise a site the key can read
            response = case.call(base_url=live.url, headers=headers, timeout=10)
            calls.append(response.status_code)
            case.validate_response(response, checks=CHECKS)

        check()
    assert 200 in calls and 400 in calls and 404 in calls
    assert not [c for c in calls if c >= 500 and c != 503]


def _operations() -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for ops in spec()["paths"].values() for op in ops.values()}


def test_transition_is_one_enum_shared_by_scoring_api_and_webhooks() -> None:
    schemas = spec()["components"]["schemas"]
    declared = schemas["Company"]["properties"]["transition"]["enum"]
    assert declared == [*TRANSITIONS, ""]
    history = schemas["CompanyProfile"]["allOf"][1]["properties"]["score_history"]["items"]
    assert history["properties"]["transition"]["enum"] == declared
    # Everything scoring can write is declared; every webhook event names one of them.
    assert {transition(t, p) for t in TIERS for p in (*TIERS, "")} <= set(declared)
    assert set(EVENT_OF_TRANSITION) <= set(TRANSITIONS)
    assert schemas["Company"]["properties"]["tier"]["enum"] == list(TIERS)


def test_every_enumerated_parameter_is_an_enum() -> None:
    enums = {
        (op_id, p["name"]): p["schema"].get("enum") or p["schema"]["items"]["enum"]
        for op_id, op in _operations().items()
        for p in op.get("parameters", [])
        if "enum" in p["schema"] or "enum" in p["schema"].get("items", {})
    }
    assert enums == {
        ("listCompanies", "tier"): list(TIERS),
        ("listCompanies", "fit"): list(GRADES),
        ("listCompanies", "claimed"): ["true", "false"],
        ("listCompanies", "customer"): ["true", "false"],
        ("listCompanies", "sort"): ["changed", "priority"],
        ("getDigest", "format"): ["json"],
        ("renderDigest", "format"): ["html", "text", "markdown", "csv"],
    }
    since = {p["name"]: p["schema"] for p in _operations()["listCompanies"]["parameters"]}
    assert since["updated_since"] == {
        "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]
    }


def test_each_digest_operation_answers_one_kind_of_body() -> None:
    ops = _operations()
    as_json = ops["getDigest"]["responses"]["200"]["content"]
    assert as_json == {"application/json": {"schema": {"$ref": "#/components/schemas/Digest"}}}
    rendered = ops["renderDigest"]["responses"]["200"]["content"]
    assert set(rendered) == {"text/html", "text/plain", "text/markdown", "text/csv"}
    assert all(media["schema"] == {"type": "string"} for media in rendered.values())
