# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back-off after failed logins, per client address and per account.

After ``threshold`` failures in a row, a key must wait before its next
attempt is even checked: 1 s, then twice as long after each further failure,
up to a cap. The cap per account is short (seconds), so an attacker guessing a
robot's secret cannot keep the robot itself out for long, while the cap per
address is long. A success clears the key. State is kept per worker process,
in memory; it resets when the server restarts.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    blocked_until: float = 0.0


class Throttle:
    def __init__(self, threshold: int, max_delay: float, max_keys: int = 100000) -> None:
        self.threshold = threshold
        self.max_delay = max_delay
        self.max_keys = max_keys
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def wait_time(self, key: str, now: float | None = None) -> float:
        """Seconds to wait before ``key`` may try again (0: go ahead)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            state = self._states.get(key)
            return max(0.0, state.blocked_until - now) if state else 0.0

    def failed(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._states) >= self.max_keys and key not in self._states:
                self._forget_expired(now)
            state = self._states.setdefault(key, _State())
            state.failures += 1
            excess = state.failures - self.threshold
            if excess >= 0:
                state.blocked_until = now + min(self.max_delay, 2.0**excess)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._states.pop(key, None)

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, s in self._states.items() if s.blocked_until < now]:
            del self._states[key]
