"""The console's accounts, sessions and login attempts, in a small SQLite file of their own
(not in the Store, which may be a search cluster): ``state_dir(store)/console.db`` by default.

Passwords are kept as argon2id hashes. A session is a random token handed to the browser once;
the file keeps only its SHA-256, with its user, its CSRF token and its expiry, so that logout and
expiry work server-side and a copy of the file does not let anyone in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ROLES = ("regulator", "telecom", "admin")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 hashes anything; a bound keeps a login form from being a DoS

SESSION_SECONDS = 8 * 3600  # a session ends 8 hours after login …
IDLE_SECONDS = 3600  # … or after an hour without a request
THROTTLE_FAILURES = 5  # failed logins per user name, and per client address, …
THROTTLE_WINDOW = 15 * 60  # … within this many seconds before logins are refused

# verified against when the user name is unknown, so that a wrong name takes as long as a wrong
# password and the timing does not tell which names exist (a hash of a discarded random string,
# with PasswordHasher's default parameters; its result is ignored)
UNKNOWN_USER_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$RQb1aUP2K6N3WToPMimMBg$"
                     "xBICz5nXd8xXrpLAzs9ORq0QeHGnj9eLSVWDiqjsIEw")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
    at REAL NOT NULL,
    username TEXT NOT NULL,
    address TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_user ON login_failures(username, at);
CREATE INDEX IF NOT EXISTS login_failures_address ON login_failures(address, at);
CREATE TABLE IF NOT EXISTS takedown_marks (
    site TEXT NOT NULL,
    mark TEXT NOT NULL,
    user TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS takedown_marks_site ON takedown_marks(site, at);
"""
MARKS = ("closed", "still_online")


class AccountError(Exception):
    """A bad account value (name, role, password) or an account that cannot be found; the
    message names it."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created: str = ""


@dataclass(frozen=True)
class Mark:
    """A telecom account's mark on a site of the takedown list: closed, or still online."""

    site: str
    mark: str
    user: str
    at: str
    note: str = ""


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise AccountError(f"user name {name!r}: 1–64 letters, digits, '_', '.', '@' or '-', "
                           "starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password must have at most {MAX_PASSWORD} characters")
    return password


class Accounts:
    """Users, sessions and the login throttle in the SQLite file ``path`` (created with mode
    0600 when missing). Safe to share between the server's threads."""

    def __init__(self, path: str | Path, *, session_seconds: int = SESSION_SECONDS,
                 idle_seconds: int = IDLE_SECONDS) -> None:
        self.path = Path(path)
        self.session_seconds = session_seconds
        self.idle_seconds = idle_seconds
        self._hasher = PasswordHasher()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self.path.touch(mode=0o600)
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                        timeout=10)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise AccountError(f"{self.path}: cannot open the accounts file ({exc})") from None

    def close(self) -> None:
        self.conn.close()

    # --- users -----------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password: str) -> User:
        check_name(name)
        check_role(role)
        check_password(password)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._lock:
            try:
                self.conn.execute("INSERT INTO users (name, role, hash, created) VALUES (?,?,?,?)",
                                  (name, role, self._hasher.hash(password), created))
            except sqlite3.IntegrityError:
                raise AccountError(f"user {name!r} already exists") from None
        return User(name, role, created)

    def remove_user(self, name: str) -> None:
        """Delete the account and end its sessions."""
        with self._lock:
            cur = self.conn.execute("DELETE FROM users WHERE name = ?", (name,))
        if cur.rowcount == 0:
            raise AccountError(f"no user {name!r}")

    def users(self) -> list[User]:
        with self._lock:
            rows = self.conn.execute("SELECT name, role, created FROM users ORDER BY name")
            return [User(*r) for r in rows.fetchall()]

    def user(self, name: str) -> User | None:
        with self._lock:
            row = self.conn.execute("SELECT name, role, created FROM users WHERE name = ?",
                                    (name,)).fetchone()
        return User(*row) if row else None

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs; None otherwise (same time either way)."""
        with self._lock:
            row = self.conn.execute("SELECT hash FROM users WHERE name = ?", (name,)).fetchone()
        stored = row[0] if row else UNKNOWN_USER_HASH
        try:
            self._hasher.verify(stored, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(stored):
            with self._lock:
                self.conn.execute("UPDATE users SET hash = ? WHERE name = ?",
                                  (self._hasher.hash(password), name))
        return self.user(name)

    # --- the login throttle ---------------------------------------------------------------

    def throttled(self, name: str, address: str) -> int:
        """Seconds until a login for ``name`` from ``address`` is allowed again; 0 when it is.

        Refused after THROTTLE_FAILURES failures for the name, or from the address, within
        THROTTLE_WINDOW seconds."""
        since = time.time() - THROTTLE_WINDOW
        waits = []
        with self._lock:
            for column, value in (("username", name), ("address", address)):
                rows = self.conn.execute(
                    f"SELECT at FROM login_failures WHERE {column} = ? AND at >= ? "  # noqa: S608
                    "ORDER BY at DESC LIMIT ?", (value, since, THROTTLE_FAILURES)).fetchall()
                if len(rows) >= THROTTLE_FAILURES:
                    waits.append(rows[-1][0] + THROTTLE_WINDOW - time.time())
        return max(1, int(max(waits)) + 1) if waits else 0

    def record_failure(self, name: str, address: str) -> None:
        with self._lock:
            now = time.time()
            self.conn.execute("INSERT INTO login_failures (at, username, address) VALUES (?,?,?)",
                              (now, name[:128], address))
            self.conn.execute("DELETE FROM login_failures WHERE at < ?",
                              (now - THROTTLE_WINDOW,))

    def clear_failures(self, name: str) -> None:
        with self._lock:
            self.conn.execute("DELETE FROM login_failures WHERE username = ?", (name,))

    # --- sessions --------------------------------------------------------------------------

    def start_session(self, user: User) -> str:
        """A new session of ``user``; returns the token for the cookie (kept only hashed)."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self.conn.execute("DELETE FROM sessions WHERE created < ? OR last_seen < ?",
                              (now - self.session_seconds, now - self.idle_seconds))
            self.conn.execute(
                "INSERT INTO sessions (token_sha256, user, csrf, created, last_seen) "
                "VALUES (?,?,?,?,?)", (_digest(token), user.name, secrets.token_urlsafe(32),
                                       now, now))
        return token

    def session(self, token: str) -> Session | None:
        """The live session of ``token`` (its idle time restarts); None when there is none or it
        expired."""
        if not token:
            return None
        now = time.time()
        key = _digest(token)
        with self._lock:
            row = self.conn.execute(
                "SELECT s.csrf, s.created, s.last_seen, u.name, u.role, u.created FROM sessions s "
                "JOIN users u ON u.name = s.user WHERE s.token_sha256 = ?", (key,)).fetchone()
            if row is None:
                return None
            csrf, created, last_seen, name, role, user_created = row
            if created < now - self.session_seconds or last_seen < now - self.idle_seconds:
                self.conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (key,))
                return None
            self.conn.execute("UPDATE sessions SET last_seen = ? WHERE token_sha256 = ?",
                              (now, key))
        return Session(User(name, role, user_created), csrf)

    def end_session(self, token: str) -> None:
        with self._lock:
            self.conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (_digest(token),))


    # --- telecom marks ---------------------------------------------------------------------

    def add_mark(self, site: str, mark: str, user: str, note: str = "") -> Mark:
        """Record that ``user`` found ``site`` closed or still online (kept for the record;
        a "closed" mark also moves the site's hits in the store)."""
        if mark not in MARKS:
            raise AccountError(f"mark {mark!r}: expected one of {', '.join(MARKS)}")
        entry = Mark(site, mark, user, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), note)
        with self._lock:
            self.conn.execute("INSERT INTO takedown_marks (site, mark, user, at, note) "
                              "VALUES (?,?,?,?,?)", (site, mark, user, entry.at, note))
        return entry

    def marks(self, site: str | None = None) -> list[Mark]:
        """Marks (of one site, or of every site), oldest first."""
        sql = "SELECT site, mark, user, at, note FROM takedown_marks"
        args: tuple[str, ...] = ()
        if site is not None:
            sql, args = sql + " WHERE site = ?", (site,)
        with self._lock:
            rows = self.conn.execute(sql + " ORDER BY at, rowid", args).fetchall()
        return [Mark(*r) for r in rows]


def same_token(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens; an empty one never matches."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())
