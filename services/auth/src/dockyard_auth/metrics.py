# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus metrics: requests by route and outcome, their latency, and notification events.

Under gunicorn every worker is a process of its own; with
``PROMETHEUS_MULTIPROC_DIR`` set (the image sets it), the workers write their
samples there and /metrics adds them up, whichever worker answers.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

_REQUESTS = Counter(
    "dockyard_auth_requests_total", "HTTP requests answered, by route and outcome", ["route", "outcome"]
)
_LATENCY = Histogram(
    "dockyard_auth_request_duration_seconds",
    "Time to answer a request, by route",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_EVENTS = Counter("dockyard_auth_notification_events_total", "Registry events received, by result", ["result"])


def outcome(status: int) -> str:
    """A small, fixed set of label values (never anything the caller chose)."""
    return {200: "ok", 401: "unauthorized", 429: "throttled", 503: "unavailable"}.get(
        status, "client_error" if 400 <= status < 500 else ("server_error" if status >= 500 else "ok")
    )


class Metrics:
    def observe(self, route: str, status: int, seconds: float) -> None:
        _REQUESTS.labels(route, outcome(status)).inc()
        _LATENCY.labels(route).observe(seconds)

    def events(self, stored: int, duplicates: int, ignored: int) -> None:
        for result, count in (("stored", stored), ("duplicate", duplicates), ("ignored", ignored)):
            if count:
                _EVENTS.labels(result).inc(count)

    def render(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(), CONTENT_TYPE_LATEST
