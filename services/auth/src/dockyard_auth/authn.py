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

The account is read on every request, in the same statement as the caller's
standing in the namespaces a token is asked for (see lookup.py): a changed
password or a disabled account is refused on the very next request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

from dockyard_auth.lookup import Lookup, Standing
from dockyard_auth.names import InvalidName, check_account_name
from dockyard_auth.passwords import CredentialCache, Hasher
from dockyard_auth.permissions import ANONYMOUS, ROBOT_PREFIX, NamespaceView, Subject, SubjectKind
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
    lookup: Lookup
    hasher: Hasher
    cache: CredentialCache
    backoff: Backoff

    def authenticate(self, credentials: Credentials | None, address: str) -> Subject:
        return self.admit(credentials, address)[0]

    def admit(
        self, credentials: Credentials | None, address: str, namespaces: frozenset[str] = frozenset()
    ) -> tuple[Subject, dict[str, NamespaceView | None]]:
        """The caller, and how it stands to each of ``namespaces`` (None: no such namespace), read together.

        AuthFailed or Throttled as ``authenticate``; the views are only for a caller who got in.
        """
        if credentials is None:
            return ANONYMOUS, self.lookup.anonymous(namespaces)
        login = parse_login(credentials.username)
        found = self.lookup.standing(login.kind, login.name, namespaces) if login else Standing(None, {})
        account = found.account
        stored = account.stored_hash if account else None
        usable = account is not None and account.usable
        if usable and self.cache.hit(login.kind.value, login.name, credentials.password, stored):
            return account.subject(), found.views
        robot = login is not None and login.kind == SubjectKind.ROBOT
        name = login.text if login else None
        hold = self.backoff.check(address, name, robot=robot)
        if hold.wait > 0:
            raise Throttled(hold.wait)
        if self.hasher.verify(credentials.password, stored) and usable:
            self.backoff.succeeded(address, name, robot=robot, hold=hold)
            self.cache.remember(login.kind.value, login.name, credentials.password, stored)
            return account.subject(), found.views
        self.backoff.failed(address, name, robot=robot)
        raise AuthFailed(login.text if account else None)
