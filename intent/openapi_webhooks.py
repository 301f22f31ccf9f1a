"""The OpenAPI document's `webhooks` (OpenAPI 3.1): each message intent POSTs to a configured
webhook (intent.webhooks, intent.alerts.claims), its body's schema and the Standard Webhooks
signature headers. docs/webhooks.md explains them in words."""

from __future__ import annotations

from typing import Any

from intent.openapi_schemas import (
    DAY,
    GRADE,
    PREVIOUS_TIER,
    STR,
    TIER,
    TIMESTAMP,
    TRANSITION,
    list_of,
    object_of,
    ref,
)
from intent.scoring import TIERS
from intent.webhooks import EVENT_OF_TRANSITION, TEST_EVENT, USER_AGENT

CLAIMED = "company.claimed"
NULLABLE_TIMESTAMP = {"oneOf": [{"type": "null"}, TIMESTAMP]}
_ACCOUNT_OF_COMPANY: dict[str, Any] = {
    "account": {
        "oneOf": [{"type": "null"}, ref("CompanyAccount")],
        "description": "the CRM account the company matched (docs/accounts.md), null if none",
    },
    "fit": {
        **GRADE,
        "description": "fit grade: the account's, else graded from the country; "
        "null when the site has no [fit]",
    },
    "fit_reasons": list_of(STR),
}

SCHEMAS: dict[str, Any] = {
    "WebhookCompany": object_of(
        [
            "key",
            "name",
            "domain",
            "country",
            "score",
            "tier",
            "previous_tier",
            "previous_score",
            "transition",
            "reasons",
            "account",
            "fit",
            "fit_reasons",
        ],
        key={"type": "string", "description": "stable id: the domain where known"},
        name=STR,
        domain=STR,
        country=STR,
        score={"type": "number"},
        tier=TIER,
        previous_tier=PREVIOUS_TIER,
        previous_score={"type": "number"},
        transition=TRANSITION,
        reasons=list_of(STR),
        **_ACCOUNT_OF_COMPANY,
    ),
    "WebhookTrigger": {
        **object_of(["event", "path", "at"], event=STR, path=STR, at=TIMESTAMP),
        "description": "the event that had the company re-scored (incremental runs only): "
        "e.g. demo_request, pageview, identify",
    },
    "WebhookCompanyEvent": object_of(
        ["type", "timestamp", "data"],
        type={"type": "string", "enum": list(EVENT_OF_TRANSITION.values())},
        timestamp=TIMESTAMP,
        data=object_of(
            ["site", "day", "company"],
            site=STR,
            day=DAY,
            company=ref("WebhookCompany"),
            trigger=ref("WebhookTrigger"),
        ),
    ),
    "WebhookClaimEvent": object_of(
        ["type", "timestamp", "data"],
        type={"type": "string", "const": CLAIMED},
        timestamp=TIMESTAMP,
        data=object_of(
            ["site", "company", "claim"],
            site=STR,
            company=object_of(
                [
                    "key",
                    "name",
                    "domain",
                    "country",
                    "score",
                    "tier",
                    "account",
                    "fit",
                    "fit_reasons",
                ],
                key=STR,
                name=STR,
                domain=STR,
                country=STR,
                score={"type": "number"},
                tier={"type": "string", "enum": [*TIERS, ""]},
                **_ACCOUNT_OF_COMPANY,
            ),
            claim=object_of(
                [
                    "company",
                    "claimed",
                    "claimed_by",
                    "claimed_at",
                    "note",
                    "hot_since",
                    "response_seconds",
                ],
                company=STR,
                claimed={"type": "boolean", "const": True},
                claimed_by=STR,
                claimed_at=TIMESTAMP,
                note=STR,
                hot_since=NULLABLE_TIMESTAMP,
                response_seconds={
                    "type": ["number", "null"],
                    "description": "seconds from becoming hot to this first claim; null otherwise",
                },
            ),
        ),
    ),
    "WebhookTestEvent": object_of(
        ["type", "timestamp", "data"],
        type={"type": "string", "const": TEST_EVENT},
        timestamp=TIMESTAMP,
        data=object_of(["site", "test"], site=STR, test={"type": "boolean", "const": True}),
    ),
}

_HEADERS = [
    {"name": "webhook-id", "in": "header", "required": True, "schema": STR,
     "description": "the message's id: the same on every retry and redelivery (deduplicate on it)"},
    {"name": "webhook-timestamp", "in": "header", "required": True, "schema": STR,
     "description": "Unix seconds when this attempt was signed"},
    {"name": "webhook-signature", "in": "header", "required": True, "schema": STR,
     "description": "Standard Webhooks: `v1,` + base64 HMAC-SHA256 over "
     "`{webhook-id}.{webhook-timestamp}.{body}` with the webhook's secret (the bytes after "
     "`whsec_`, base64-decoded; any other secret as its UTF-8 bytes)"},
    {"name": "User-Agent", "in": "header", "required": True,
     "schema": {"type": "string", "const": USER_AGENT}},
]  # fmt: skip
_ANSWERS = {
    "2XX": {"description": "delivered; anything else (a time-out, any 3xx) is retried with "
            "backoff for about 27.5 hours"},
}  # fmt: skip


def _hook(summary: str, schema: str) -> dict[str, Any]:
    return {"post": {
        "summary": summary,
        "parameters": _HEADERS,
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref(schema)}}},
        "responses": _ANSWERS,
        "security": [],
    }}  # fmt: skip


WEBHOOKS: dict[str, Any] = {
    "company.became_hot": _hook("the company's tier is hot and was not the day before",
                                "WebhookCompanyEvent"),
    "company.became_warm": _hook("the company turned warm from cold or from nothing",
                                 "WebhookCompanyEvent"),
    "company.cooled": _hook("the company's tier dropped", "WebhookCompanyEvent"),
    CLAIMED: _hook("a rep claimed the company (dashboard or API)", "WebhookClaimEvent"),
    TEST_EVENT: _hook("`intent webhooks test`: signed like every message, no company",
                      "WebhookTestEvent"),
}  # fmt: skip
