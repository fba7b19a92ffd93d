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
BCRYPT_MAX_BYTES = 72


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
        """True when ``secret`` matches ``stored``; with ``stored`` None, the same work and False."""
        if stored is None or len(secret.encode("utf-8")) > BCRYPT_MAX_BYTES:
            # bcrypt reads 72 bytes at most (newer bcrypt refuses more): such a
            # secret was never set, so it is wrong; the check still costs the same.
            self.context.verify("x", self._dummy)
            return False
        try:
            return self.context.verify(secret, stored)
        except (ValueError, TypeError):
            # An unreadable stored hash: the account cannot log in (and the attempt costs as much).
            self.context.verify(secret, self._dummy)
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
        message = "\0".join((kind, name, secret, stored)).encode("utf-8")
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
