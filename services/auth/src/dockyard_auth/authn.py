# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who is calling: Basic credentials to a Subject, with the same work whether the account exists or not.

Users log in with their name; robots with ``robot+<name>`` and their secret.
Every failure looks the same to the caller (which of name or password was
wrong is never told), and every failure costs one bcrypt check: a name that
breaks the account grammar, a missing account and a secret bcrypt cannot take
are checked against a dummy hash, a disabled or expired account against its
own. The typed name is checked against the grammar before any lookup, so
only a canonical name (the one stored, byte for byte) ever reaches the
database or a back-off count.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

from dockyard_auth.names import InvalidName, check_account_name
from dockyard_auth.passwords import CredentialCache, Hasher
from dockyard_auth.permissions import ANONYMOUS, ROBOT_PREFIX, Subject, SubjectKind
from dockyard_auth.store import Store, utcnow
from dockyard_auth.throttle import Backoff


class BadRequest(Exception):
    """The Authorization header cannot be read."""


class AuthFailed(Exception):
    """Wrong credentials (deliberately without saying which part).

    ``login`` is the typed name when it names an existing account, else None:
    only such a name may be logged (a password typed into the name field must
    not land in the log).
    """

    def __init__(self, login: str | None = None) -> None:
        super().__init__("invalid username or password")
        self.login = login


class Throttled(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins: retry in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def parse_basic(header: str | None) -> Credentials | None:
    """Credentials from an ``Authorization: Basic ...`` header; None when there is no header.

    A header that is not ``Basic <base64 of user:password>`` raises BadRequest.
    The decoded bytes are read as UTF-8; bytes that are not UTF-8 are kept as
    lone surrogates (``surrogateescape``), which no account name or password
    can hold, so they fail like any wrong credentials instead of as a
    malformed header.
    """
    if header is None or header == "":
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise BadRequest("the Authorization header must be 'Basic <base64 of user:password>'")
    try:
        decoded = base64.b64decode(value.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise BadRequest("the Basic credentials are not valid base64 of 'user:password'") from exc
    username, sep, password = decoded.decode("utf-8", errors="surrogateescape").partition(":")
    if not sep or not username:
        raise BadRequest("the Basic credentials must be 'user:password'")
    return Credentials(username, password)


@dataclass(frozen=True)
class Login:
    """A typed login name that fits the grammar: a user's name or ``robot+<name>``."""

    kind: SubjectKind
    name: str  # the stored name (a robot's without the prefix)

    @property
    def text(self) -> str:
        return ROBOT_PREFIX + self.name if self.kind == SubjectKind.ROBOT else self.name


def parse_login(typed: str) -> Login | None:
    """The login a typed name stands for, or None when it breaks the account grammar (no lookup is made)."""
    kind, name = SubjectKind.USER, typed
    if typed.startswith(ROBOT_PREFIX):
        kind, name = SubjectKind.ROBOT, typed[len(ROBOT_PREFIX) :]
    try:
        check_account_name(kind.value, name)
    except InvalidName:
        return None
    return Login(kind, name)


def name_for_log(typed: str, known: bool, key: bytes) -> str:
    """How a login name appears in the log: as typed when it names an account, else a short keyed hash.

    A password typed into the name field never reaches the log; the hash
    still lets an operator see that one unknown name was tried many times.
    """
    if known:
        return repr(typed)
    digest = hmac.new(key, typed.encode("utf-8", errors="surrogatepass"), hashlib.sha256).hexdigest()
    return f"unknown name #{digest[:12]}"


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
        login = parse_login(credentials.username)
        row, stored, usable = self._account(login)
        robot = login is not None and login.kind == SubjectKind.ROBOT
        if usable and self.cache.hit(login.kind.value, login.name, credentials.password, stored):
            return _subject(login.kind, row)
        account = login.text if login else None
        wait = self.backoff.wait_time(address, account, robot=robot)
        if wait > 0:
            raise Throttled(wait)
        if self.hasher.verify(credentials.password, stored) and usable:
            self.backoff.succeeded(address, account, robot=robot)
            self.cache.remember(login.kind.value, login.name, credentials.password, stored)
            return _subject(login.kind, row)
        self.backoff.failed(address, account, robot=robot)
        raise AuthFailed(login.text if row else None)

    def _account(self, login: Login | None) -> tuple[dict | None, str | None, bool]:
        """The account's row, its stored hash and whether it may log in; (None, None, False) when there is none."""
        if login is None:
            return None, None, False
        if login.kind == SubjectKind.ROBOT:
            row = self.store.get_robot(login.name)
            usable = bool(row) and row["enabled"] and not _expired(row["expires_at"])
            return row, row["secret_hash"] if row else None, usable
        row = self.store.get_user(login.name)
        return row, row["password_hash"] if row else None, bool(row) and row["enabled"]


def _expired(expires_at: dt.datetime | None) -> bool:
    return expires_at is not None and expires_at <= utcnow()


def _subject(kind: SubjectKind, row: dict) -> Subject:
    if kind == SubjectKind.ROBOT:
        return Subject(SubjectKind.ROBOT, name=row["name"])
    return Subject(SubjectKind.USER, name=row["name"], admin=bool(row["admin"]))
