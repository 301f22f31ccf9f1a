"""What an `/api/v1` query string may say, read and checked: unknown or empty parameters
refused, whole numbers and enums in range, dates and date-times (`updated_since`, a digest's
`date`), keyset cursors, and the companies list's filters. A bad one is a `BadParam` naming it
(a 400 in the one error shape)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request

from collector.store import ch_time
from intent.accounts.fit import GRADES
from intent.scoring import TIERS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2199, 12, 31)  # of a digest
MAX_LIMIT = 1000
# changed: (changed_at, key), what a CRM sync pages through; priority: the rep's order
# (intent.priority), paged by offset.
SORTS = ("changed", "priority")
DEFAULT_LIMIT = 100


class BadParam(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:
        raise BadParam(name, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def enum_param(name: str, value: str, allowed: Sequence[str], hint: str = "") -> str:
    """`value` when it is one of `allowed`; otherwise BadParam naming the parameter and the values."""
    if value not in allowed:
        raise BadParam(name, f"{name} must be one of {', '.join(allowed)} (got {value!r}){hint}")
    return value


# A date, or an RFC 3339 date-time with its offset: what the spec's `format: date` and
# `format: date-time` admit (a leap second and year 0000 included), nothing more.
_SINCE = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[Tt](?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?P<frac>\.\d+)?"
    r"(?:[Zz]|(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2})))?",
    re.ASCII,  # \d is 0-9 only: int() would read other scripts' digits too
)
UNTIL = datetime(2200, 1, 1, tzinfo=UTC)


def _month_days(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]


def _moment(m: re.Match[str]) -> datetime | None:
    """The matched moment in UTC, within [EPOCH, UNTIL]; None if there is no such day or time.
    As a lower bound, a moment before 1970 means 1970 and one after 2199 means 2200."""
    n = {k: int(v) for k, v in m.groupdict("0").items() if k not in ("frac", "sign")}
    if not (1 <= n["mo"] <= 12 and 1 <= n["d"] <= _month_days(n["y"], n["mo"]) and n["h"] <= 23
            and n["mi"] <= 59 and n["s"] <= 60 and n["oh"] <= 23 and n["om"] <= 59):  # fmt: skip
        return None
    sign = -1 if m["sign"] == "-" else 1
    if n["s"] == 60 and (n["h"] * 60 + n["mi"] - sign * (n["oh"] * 60 + n["om"])) % 1440 != 1439:
        return None  # a leap second is 23:59:60 UTC
    if not 1969 <= n["y"] < 2200:
        return EPOCH if n["y"] < 1969 else UNTIL
    offset = timedelta(hours=n["oh"], minutes=n["om"]) * sign
    micro = int((m["frac"] or ".")[1:7].ljust(6, "0"))
    local = datetime(n["y"], n["mo"], n["d"], n["h"], n["mi"], min(n["s"], 59), micro,
                     tzinfo=timezone(offset))  # fmt: skip
    return min(max(local.astimezone(UTC), EPOCH), UNTIL)


def parse_since(raw: str) -> datetime:
    """A date (midnight UTC) or an RFC 3339 date-time with its offset."""
    # An unencoded "+01:00" arrives as " 01:00": the one form read beyond the spec.
    m = _SINCE.fullmatch(re.sub(r" ([0-9]{2}:[0-9]{2})$", r"+\1", raw))
    moment = _moment(m) if m else None
    if moment is None:
        raise BadParam(
            "updated_since",
            "updated_since must be a date (2025-01-31) or an RFC 3339 date-time with its offset "
            "(2025-01-31T09:00:00Z, 2025-01-31T10:00:00+01:00)",
        )
    return moment


def parse_day(raw: str) -> date:
    """A digest's `date`: YYYY-MM-DD from FIRST_DAY to LAST_DAY (the spec's format and pattern)."""
    try:  # fromisoformat alone would also read 20261231 and 2026-W53-4
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            raise ValueError
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadParam("date", "date must be YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadParam("date", f"date must be from {FIRST_DAY} to {LAST_DAY}")
    return day


def encode_cursor(changed_at: datetime, company_key: str) -> str:
    moment = changed_at if changed_at.tzinfo else changed_at.replace(tzinfo=UTC)
    ms = int(moment.timestamp() * 1000)
    raw = orjson.dumps([ms, company_key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ms, key = orjson.loads(raw)
        if not isinstance(ms, int) or not isinstance(key, str) or not 0 <= ms < 7_258_118_400_000:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadParam("cursor", "cursor is not one this API returned") from None
    return EPOCH + timedelta(milliseconds=ms), key


def encode_offset(offset: int) -> str:
    """A `sort=priority` cursor: how many companies the pages before it held."""
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode().rstrip("=")


def decode_offset(cursor: str) -> int:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = raw["offset"] if isinstance(raw, dict) else None
        if not isinstance(offset, int) or not 0 <= offset < 2**32:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadParam("cursor", "cursor is not one this API returned for sort=priority") from None
    return offset


def query_params(request: Request, known: Collection[str]) -> QueryParams:
    """The query string; an unknown name or an empty value (`date=`) is refused, naming it."""
    q = request.query_params
    for name, value in q.multi_items():
        if name not in known:
            raise BadParam(name, f"unknown parameter {name!r} (known: {', '.join(sorted(known))})")
        if not value:
            raise BadParam(name, f"{name} is empty: give it a value or leave it out")
    return q


def company_filters(request: Request) -> dict[str, Any]:
    """Bound parameters for LIST_COMPANIES from the query string; BadParam names a bad one."""
    q = query_params(
        request,
        {
            "tier",
            "min_score",
            "country",
            "updated_since",
            "limit",
            "cursor",
            "owner",
            "fit",
            "claimed",
            "customer",
            "sort",
        },
    )
    tier = q.get("tier", "")
    if tier:
        enum_param("tier", tier, TIERS)
    country = q.get("country", "").upper()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        raise BadParam("country", "country is a two-letter ISO 3166 code")
    min_score = 0.0
    if q.get("min_score"):
        try:
            min_score = float(q["min_score"])
        except ValueError:
            raise BadParam("min_score", "min_score must be a number") from None
        if not 0 <= min_score <= 1e9:
            raise BadParam("min_score", "min_score must be from 0 to 1e9")
    claimed = q.get("claimed", "")
    if claimed:
        enum_param("claimed", claimed, ("true", "false"))
    customer = q.get("customer", "")
    if customer:
        enum_param("customer", customer, ("true", "false"))
    sort = enum_param("sort", q.get("sort", "changed"), SORTS)
    since = parse_since(q["updated_since"]) if "updated_since" in q else EPOCH
    after_t, after_k, offset = EPOCH, "", 0
    if "cursor" in q and sort == "priority":
        offset = decode_offset(q["cursor"])
    elif "cursor" in q:
        after_t, after_k = decode_cursor(q["cursor"])
    owner = q.get("owner", "").strip()
    if len(owner) > 200:
        raise BadParam("owner", "owner is an email address, a name or 'none'")
    # fit=A,B (the spec's form, explode false) or fit=A&fit=B (what generated clients send)
    fits = {f.strip() for raw in q.getlist("fit") for f in raw.split(",") if f.strip()}
    for grade in fits:
        enum_param("fit", grade, GRADES)
    return {
        "tier": tier, "country": country, "min_score": min_score, "since": ch_time(since),
        "claimed": {"": -1, "true": 1, "false": 0}[claimed],
        "customer": {"": -1, "true": 1, "false": 0}[customer],
        "after_t": ch_time(after_t), "after_k": after_k, "sort": sort, "offset": offset,
        "limit": int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        "owner": owner, "fits": sorted(fits),
    }  # fmt: skip
