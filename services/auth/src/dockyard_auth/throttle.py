# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back-off after failed logins, per client address and per account.

After ``threshold`` failures in a row, a key must wait before its next
attempt is even checked: 1 s, then twice as long after each further failure,
up to a cap. The counts live in the database, so every worker and every server
on it hold back the same callers. A count is forgotten after ``forget_after``
seconds without a failure; a success does not clear it, so a caller cannot
reset its own count by logging in to an account of its own between guesses.

The cap per account is short (seconds), while the cap per address is long.
An account is not held back at all at an address it logged in from within
``known_address_ttl``: someone guessing at a robot's secret from elsewhere
cannot keep the robot out where it runs. Keys are stored as SHA-256 digests,
so no typed-in name or address is kept.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard_auth.store import Store


def hold_seconds(failures: int, threshold: int, cap: float) -> float:
    """How long a key with ``failures`` failures in a row waits (0 below the threshold)."""
    excess = failures - threshold
    return 0.0 if excess < 0 else min(float(cap), 2.0**excess)


def key_hash(kind: str, *values: str) -> str:
    """The stored key for ``kind`` and its values; a JSON list keeps any two value lists apart."""
    return hashlib.sha256(json.dumps([kind, *values]).encode()).hexdigest()


@dataclass
class Backoff:
    store: Store
    threshold: int
    address_max_delay: float
    account_max_delay: float
    forget_after: float
    known_address_ttl: float
    clock: Callable[[], float] = time.time

    def wait_time(self, address: str, account: str) -> float:
        """Seconds ``account`` at ``address`` must wait before its next attempt (0: go ahead)."""
        now = self.clock()
        keys = [key_hash("address", address)]
        known = self.known_address_ttl > 0 and self.store.succeeded_since(
            key_hash("account-at", account, address), _ms(now - self.known_address_ttl)
        )
        if not known:
            keys.append(key_hash("account", account))
        return max(0.0, self.store.blocked_until_ms(keys) / 1000 - now)

    def failed(self, address: str, account: str) -> None:
        now_ms = _ms(self.clock())
        forget_before = now_ms - _ms(self.forget_after)
        self.store.forget_failures(forget_before)
        for key, cap in ((key_hash("address", address), self.address_max_delay),
                         (key_hash("account", account), self.account_max_delay)):  # fmt: skip
            self.store.record_failure(
                key, now_ms, forget_before, lambda n, cap=cap: _ms(hold_seconds(n, self.threshold, cap))
            )

    def succeeded(self, address: str, account: str) -> None:
        if self.known_address_ttl <= 0:
            return
        now_ms = _ms(self.clock())
        self.store.forget_successes(now_ms - _ms(self.known_address_ttl))
        self.store.record_success(key_hash("account-at", account, address), now_ms)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)
