# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who is calling: Basic credentials to a Subject, with the same work whether the account exists or not.

Users log in with their name; robots with ``robot+<name>`` and their secret.
Every failure looks the same to the caller (which of name or password was
wrong is never told), and every failure costs one bcrypt check: a missing
account is checked against a dummy hash, a disabled or expired one against
its own.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
from dataclasses import dataclass

from dockyard_auth.passwords import CredentialCache, Hasher
from dockyard_auth.permissions import ANONYMOUS, Subject, SubjectKind
from dockyard_auth.store import Store, utcnow
from dockyard_auth.throttle import Backoff

ROBOT_PREFIX = "robot+"


class BadRequest(Exception):
    """The Authorization header cannot be read."""


class AuthFailed(Exception):
    """Wrong credentials (deliberately without saying which part)."""


class Throttled(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins: retry in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def parse_basic(header: str | None) -> Credentials | None:
    """Credentials from an ``Authorization: Basic ...`` header; None when there is no header."""
    if header is None or header == "":
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise BadRequest("the Authorization header must be 'Basic <base64 of user:password>'")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("the Basic credentials are not valid base64 of UTF-8 'user:password'") from exc
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise BadRequest("the Basic credentials must be 'user:password'")
    return Credentials(username, password)


def client_address(remote: str | None, forwarded_for: str | None, trusted) -> str:
    """The caller's address: X-Forwarded-For is believed only from trusted proxies, right to left."""
    address = remote or ""
    if not forwarded_for or not trusted:
        return address
    chain = [address] + [h.strip() for h in reversed(forwarded_for.split(",")) if h.strip()]
    for hop in chain:
        try:
            ip = ipaddress.ip_address(hop)
        except ValueError:
            return hop
        if not any(ip in net for net in trusted):
            return hop
        address = hop
    return address


@dataclass
class Authenticator:
    store: Store
    hasher: Hasher
    cache: CredentialCache
    backoff: Backoff

    def authenticate(self, credentials: Credentials | None, address: str) -> Subject:
        if credentials is None:
            return ANONYMOUS
        name = credentials.username
        if name.startswith(ROBOT_PREFIX):
            kind, account = SubjectKind.ROBOT, name[len(ROBOT_PREFIX) :]
            row = self.store.get_robot(account) if account else None
            stored = row["secret_hash"] if row else None
            usable = bool(row) and row["enabled"] and not _expired(row["expires_at"])
        else:
            kind, account = SubjectKind.USER, name
            row = self.store.get_user(account)
            stored = row["password_hash"] if row else None
            usable = bool(row) and row["enabled"]

        if usable and self.cache.hit(kind.value, account, credentials.password, stored):
            return _subject(kind, row)
        wait = self.backoff.wait_time(address, name)
        if wait > 0:
            raise Throttled(wait)
        if self.hasher.verify(credentials.password, stored) and usable:
            self.backoff.succeeded(address, name)
            self.cache.remember(kind.value, account, credentials.password, stored)
            return _subject(kind, row)
        self.backoff.failed(address, name)
        raise AuthFailed("invalid username or password")


def _expired(expires_at: dt.datetime | None) -> bool:
    return expires_at is not None and expires_at <= utcnow()


def _subject(kind: SubjectKind, row: dict) -> Subject:
    if kind == SubjectKind.ROBOT:
        return Subject(SubjectKind.ROBOT, name=row["name"])
    return Subject(SubjectKind.USER, name=row["name"], admin=bool(row["admin"]))
