"""Dashboard users and sign-in sessions.

A user signs in with an email address and a password set by `intent users create`. The address
is never stored (only its SHA-256 and a masked hint); the password is an scrypt hash. A session
is a random token in an HttpOnly cookie; the table keeps only the token's SHA-256.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

from collector import keys
from collector.site_settings import EMAIL
from collector.store import Store, StoreLockedError, utc_now
from intent.command import CliError, inside_server, open_store, settings
from intent.forward import forward

# scrypt cost: 2**15 x 8 x 1 uses 32 MiB and ~0.1 s, so a stolen table is slow to crack
# while a sign-in stays quick on a 2-core machine.
SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD = 10
USER_SESSION_DAYS = 14
KEY_SESSION_HOURS = 12

GET_USER = """
SELECT user_id, email_hint, password_hash, sites, deleted, updated_at
FROM dashboard_users FINAL
WHERE email_hash = {email_hash:String}
"""

LIST_USERS = """
SELECT email_hint, user_id, sites, created_at
FROM dashboard_users FINAL
WHERE deleted = 0
ORDER BY created_at
"""

GET_SESSION = """
SELECT s.kind AS kind, s.subject AS subject, s.sites AS session_sites, s.csrf AS csrf,
       s.created_at AS created_at, u.sites AS user_sites, u.deleted AS user_deleted,
       u.updated_at AS user_updated_at, u.email_hint AS email_hint
FROM (
    SELECT * FROM dashboard_sessions FINAL
    WHERE session_hash = {session_hash:String} AND revoked = 0 AND expires_at > now64(3)
) AS s
LEFT JOIN (
    SELECT user_id, sites, deleted, updated_at, email_hint FROM dashboard_users FINAL
) AS u ON u.user_id = s.subject
SETTINGS join_use_nulls = 1
"""

SESSION_BY_HASH = """
SELECT * FROM dashboard_sessions FINAL
WHERE session_hash = {session_hash:String}
"""


class UserError(Exception):
    """A user-facing problem with a user command (bad address, short password...)."""


@dataclass(frozen=True)
class User:
    user_id: str
    email_hint: str
    sites: tuple[str, ...]  # empty: every site


@dataclass(frozen=True)
class Session:
    kind: str  # "user" | "key"
    subject: str  # user id or API key prefix
    label: str  # what the header shows: masked address or key prefix
    sites: tuple[str, ...]  # empty: every site
    csrf: str


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if not EMAIL.match(value):
        raise UserError(f"not an email address: {email!r}")
    return value


def email_hash(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def email_hint(email: str) -> str:
    local, _, domain = normalise_email(email).partition("@")
    return f"{local[0]}…@{domain}"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**SCRYPT_LOG_N, r=SCRYPT_R,
                            p=SCRYPT_P, maxmem=SCRYPT_MAXMEM, dklen=32)  # fmt: skip
    b64 = base64.b64encode
    return (
        f"scrypt${SCRYPT_LOG_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"
    )


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, log_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=2 ** int(log_n),
                             r=int(r), p=int(p), maxmem=SCRYPT_MAXMEM, dklen=len(expected))  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# Checked against when the address is unknown, so a wrong address costs as much as a wrong
# password and timing does not tell which addresses have accounts.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _row(email: str, user_id: str, password_hash: str, sites: tuple[str, ...],
         created: datetime, deleted: bool = False) -> dict[str, object]:  # fmt: skip
    return {
        "email_hash": email_hash(email),
        "email_hint": email_hint(email),
        "user_id": user_id,
        "password_hash": password_hash,
        "sites": list(sites),
        "deleted": int(deleted),
        "created_at": created.isoformat(),
        "updated_at": utc_now().isoformat(),
    }


def _existing(store: Store, email: str) -> dict[str, object] | None:
    rows = store.query_dicts(GET_USER, {"email_hash": email_hash(email)})
    return rows[0] if rows and not rows[0]["deleted"] else None


def create_user(store: Store, email: str, password: str, sites: tuple[str, ...] = ()) -> User:
    _check_strength(password)
    return create_user_hashed(store, email, hash_password(password), sites)


def create_user_hashed(
    store: Store, email: str, password_hash: str, sites: tuple[str, ...] = ()
) -> User:
    if _existing(store, email) is not None:
        raise UserError(f"a user {email_hint(email)} already exists (use `intent users password`)")
    user_id = secrets.token_hex(8)
    store.insert_rows(
        "dashboard_users", [_row(email, user_id, _checked_hash(password_hash), sites, utc_now())]
    )
    return User(user_id, email_hint(email), sites)


def set_password(store: Store, email: str, password: str) -> None:
    """A new password; sessions opened before it end."""
    _check_strength(password)
    set_password_hashed(store, email, hash_password(password))


def set_password_hashed(store: Store, email: str, password_hash: str) -> None:
    row = _existing(store, email)
    if row is None:
        raise UserError(f"no user {email_hint(email)}")
    store.insert_rows("dashboard_users", [_row(email, str(row["user_id"]), _checked_hash(password_hash),
                                               tuple(row["sites"]), utc_now())])  # type: ignore[arg-type]  # fmt: skip


def _checked_hash(password_hash: str) -> str:
    parts = password_hash.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not all(parts[1:]):
        raise UserError("not a password hash made by intent (scrypt$N$r$p$salt$hash)")
    return password_hash


def delete_user(store: Store, email: str) -> None:
    row = _existing(store, email)
    if row is None:
        raise UserError(f"no user {email_hint(email)}")
    store.insert_rows(
        "dashboard_users", [_row(email, str(row["user_id"]), "", (), utc_now(), deleted=True)]
    )


def list_users(store: Store) -> list[User]:
    return [
        User(r["user_id"], r["email_hint"], tuple(r["sites"]))
        for r in store.query_dicts(LIST_USERS)
    ]


def _check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must be at least {MIN_PASSWORD} characters")


def authenticate(store: Store, email: str, password: str) -> User | None:
    try:
        row = _existing(store, email)
    except UserError:
        row = None
    if row is None:
        check_password(password, _DUMMY_HASH)
        return None
    if not check_password(password, str(row["password_hash"])):
        return None
    return User(str(row["user_id"]), str(row["email_hint"]), tuple(row["sites"]))  # type: ignore[arg-type]


def open_session(store: Store, kind: str, subject: str, sites: tuple[str, ...]) -> tuple[str, str]:
    """A new session; returns (token for the cookie, CSRF token for forms)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = utc_now()
    ttl = (
        timedelta(days=USER_SESSION_DAYS) if kind == "user" else timedelta(hours=KEY_SESSION_HOURS)
    )
    store.insert_rows("dashboard_sessions", [{
        "session_hash": keys.hash_key(token), "kind": kind, "subject": subject, "sites": list(sites),
        "csrf": csrf, "created_at": now.isoformat(), "expires_at": (now + ttl).isoformat(),
        "revoked": 0, "updated_at": now.isoformat(),
    }])  # fmt: skip
    return token, csrf


def session(store: Store, token: str) -> Session | None:
    """The live session for a cookie value, or None (unknown, expired, revoked, user changed)."""
    if not token or len(token) > 100:
        return None
    rows = store.query_dicts(GET_SESSION, {"session_hash": keys.hash_key(token)})
    if not rows:
        return None
    r = rows[0]
    if r["kind"] == "user":
        if r["user_deleted"] is None or r["user_deleted"] or r["user_updated_at"] > r["created_at"]:
            return None
        return Session("user", r["subject"], r["email_hint"], tuple(r["user_sites"]), r["csrf"])
    # a key session lasts only while its key is not revoked
    live = keys.live_key(store, r["subject"])
    if live is None:
        return None
    return Session("key", r["subject"], f"key {r['subject']}…", tuple(live["sites"]), r["csrf"])


def revoke_session(store: Store, token: str) -> None:
    rows = store.query_dicts(SESSION_BY_HASH, {"session_hash": keys.hash_key(token)})
    for r in rows:
        r.update(revoked=1, updated_at=utc_now().isoformat())
        r["created_at"] = r["created_at"].isoformat()
        r["expires_at"] = r["expires_at"].isoformat()
        store.insert_rows("dashboard_sessions", [r])


def _read_password(args: argparse.Namespace) -> str:
    if inside_server():  # run by the server: its stdin is not ours
        raise UserError("the password must come hashed when the server runs this command")
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UserError("no terminal to prompt on: pass the password with --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise UserError("the two passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    s = settings(require_config=False)
    try:
        if args.users_command == "list":
            users = list_users(open_store(s))
            for u in users:
                print(f"{u.email_hint}\t{','.join(u.sites) or 'all sites'}")
            if not users:
                print("no dashboard users (add one with `intent users create --email E`)")
            return 0
        if args.users_command == "delete":
            delete_user(open_store(s), args.email)
            print(f"deleted {email_hint(args.email)}; their sessions have ended")
            return 0
        normalise_email(args.email)
        sites = tuple(args.site or ())
        unknown = [x for x in sites if s.sites and x not in s.sites]
        if unknown:
            raise UserError(f"unknown site {unknown[0]!r} (sites: {', '.join(sorted(s.sites))})")
        password_hash = args.password_hash
        if not password_hash:  # hashed here, so only the hash travels if the server runs it
            password = _read_password(args)
            _check_strength(password)
            password_hash = hash_password(password)
        try:
            store = open_store(s)
        except StoreLockedError:  # the running server holds the database: it runs the command
            argv = [
                "users",
                args.users_command,
                "--email",
                args.email,
                "--password-hash",
                password_hash,
            ]
            argv += [f"--site={x}" for x in sites]
            forwarded = forward(argv)
            if forwarded is None:
                raise
            return forwarded
        if args.users_command == "password":
            set_password_hashed(store, args.email, password_hash)
            print(f"password changed for {email_hint(args.email)}; their sessions have ended")
        else:
            create_user_hashed(store, args.email, password_hash, sites)
            print(f"created {email_hint(args.email)} ({', '.join(sites) or 'all sites'}); "
                  "sign in at /dashboard/")  # fmt: skip
        return 0
    except UserError as exc:
        raise CliError(str(exc)) from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("users", help="dashboard users (email + password sign-in)")
    users = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    for name, help_text in (("create", "add a user"), ("password", "change a user's password")):
        q = users.add_parser(name, help=help_text)
        q.add_argument("--email", required=True)
        q.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input")  # fmt: skip
        q.add_argument("--password-hash", help=argparse.SUPPRESS)  # how a forwarded command gets it
        if name == "create":
            q.add_argument("--site", action="append",
                           help="a site the user may see (repeat; default: every site)")  # fmt: skip
        q.set_defaults(func=cmd_users, site=None)
    q = users.add_parser("list", help="list users (addresses are shown masked)")
    q.set_defaults(func=cmd_users)
    q = users.add_parser("delete", help="remove a user and end their sessions")
    q.add_argument("--email", required=True)
    q.set_defaults(func=cmd_users)
