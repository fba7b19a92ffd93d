# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Password and robot-secret hashing (bcrypt through passlib's API) and the verified-credentials cache.

A bcrypt check costs tens of milliseconds by design, and a docker pull asks
for a token per repository, so a credential once verified is remembered for a
short time. The cache is keyed by an HMAC (with a per-process random key) of
the name, the password and the stored hash: no password is kept, and a
changed password or secret (a new stored hash) misses the cache at once, in
every worker process, because the stored hash is read from the database on
every request. A disabled account is refused by that same read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from passlib.context import CryptContext

ROBOT_SECRET_BYTES = 32
BCRYPT_MAX_BYTES = 72  # bcrypt reads no further (and bcrypt >= 5 refuses longer secrets)
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 256


def password_problem(value: str) -> str | None:
    """Why ``value`` cannot be a password (None when it can): the rules for every password the server sets.

    The API, the bootstrap admin and anything else that sets a password use
    these rules, so every stored password can also be typed at a login.
    """
    if not PASSWORD_MIN_CHARS <= len(value) <= PASSWORD_MAX_CHARS:
        return f"has {len(value)} characters; use {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS}"
    if "\0" in value:
        return "contains a NUL character, which bcrypt cannot hash: leave it out"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate)"
    if size > BCRYPT_MAX_BYTES:
        return f"is {size} bytes in UTF-8; bcrypt uses at most {BCRYPT_MAX_BYTES}: use a shorter one"
    return None


def _hashable(secret: str) -> bool:
    """Whether bcrypt can take ``secret`` at all: UTF-8, no NUL, at most 72 bytes.

    No stored hash was ever made from any other secret (see password_problem),
    so such a secret is simply wrong, for every account alike.
    """
    if "\0" in secret:
        return False
    try:
        return len(secret.encode("utf-8")) <= BCRYPT_MAX_BYTES
    except UnicodeEncodeError:
        return False


class Hasher:
    """bcrypt hashes at a fixed cost; verifies a missing account against a dummy hash."""

    def __init__(self, rounds: int = 10) -> None:
        self.rounds = rounds
        self.context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=rounds, bcrypt__ident="2b")
        # Same cost as real hashes, so an unknown name takes as long as a wrong password.
        self._dummy = self.context.hash(secrets.token_urlsafe(16))

    def hash(self, secret: str) -> str:
        return self.context.hash(secret)

    def verify(self, secret: str, stored: str | None) -> bool:
        """True when ``secret`` matches ``stored``; anything else is False after the same bcrypt work.

        One path for every input: a missing account (``stored`` None), a secret
        bcrypt cannot take (NUL, over 72 bytes, not UTF-8) and an unreadable
        stored hash each cost one check against the dummy hash and answer
        False, never an exception, so no input tells a known account from an
        unknown one.
        """
        if stored is not None and _hashable(secret):
            try:
                return self.context.verify(secret, stored)
            except (ValueError, TypeError):
                pass  # an unreadable stored hash: the account cannot log in
        self.context.verify("x", self._dummy)
        return False


def new_robot_secret() -> str:
    return secrets.token_urlsafe(ROBOT_SECRET_BYTES)


class CredentialCache:
    """Remembers verified (name, password, stored hash) triples for ``ttl`` seconds."""

    def __init__(self, ttl: int, max_entries: int = 10000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, kind: str, name: str, secret: str, stored: str) -> bytes:
        # surrogatepass: a secret holding lone surrogates (bytes that were not UTF-8) still has a digest.
        message = "\0".join((kind, name, secret, stored)).encode("utf-8", errors="surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def hit(self, kind: str, name: str, secret: str, stored: str) -> bool:
        if self.ttl <= 0:
            return False
        digest = self._digest(kind, name, secret, stored)
        now = time.monotonic()
        with self._lock:
            expires = self._entries.get(digest)
            if expires is None:
                return False
            if expires < now:
                del self._entries[digest]
                return False
            return True

    def remember(self, kind: str, name: str, secret: str, stored: str) -> None:
        if self.ttl <= 0:
            return
        digest = self._digest(kind, name, secret, stored)
        with self._lock:
            self._entries[digest] = time.monotonic() + self.ttl
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
