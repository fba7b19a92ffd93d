# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry notifications turned into activities (pure parsing; the receiver in app.py stores them).

Only manifest events make activities: a push or delete of an image (and a
pull, when pulls are recorded). Blob events are ignored; so are mounts. A
delete event carries no media type (only a digest, a tag, or the repository
alone), so every delete is an image delete.

The registry may deliver events late and out of order (a retry after an
outage, several registries behind one server), so an event changes a tag only
if it is not older than what the server knows of that tag:
:func:`event_applies` decides, by the registry's own times.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

EVENT_MEDIA_TYPES = (
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
    "application/json",
)
MANIFEST_MEDIA_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    }
)


class EventError(ValueError):
    """The notification body is not what the registry sends."""


@dataclass(frozen=True)
class Activity:
    event_id: str
    action: str  # push, delete, pull
    actor: str
    repository: str
    tag: str | None
    digest: str | None
    media_type: str
    source_addr: str
    source_instance: str
    request_id: str
    occurred_at: dt.datetime  # naive UTC

    def row(self) -> dict:
        return dict(self.__dict__)


# What a DATETIME column holds (MariaDB supports the years 1000 to 9999).
EARLIEST = dt.datetime(1000, 1, 1)  # naive UTC, as stored
LATEST = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)


def parse_timestamp(text: str) -> dt.datetime:
    """RFC 3339 (Go's time format, nanoseconds and all) to naive UTC, to the microsecond.

    ValueError when the text is no such time, has no zone, or lies outside the
    years 1000-9999 once in UTC (what a DATETIME column holds).
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    date_part, _, rest = value.partition("T")
    if "." in rest:
        # Python reads at most microseconds; Go writes up to nine digits.
        clock, _, frac_zone = rest.partition(".")
        digits = frac_zone[: len(frac_zone) - len(frac_zone.lstrip("0123456789"))]
        zone = frac_zone[len(digits) :]
        rest = f"{clock}.{digits[:6].ljust(6, '0')}{zone}"
    moment = dt.datetime.fromisoformat(f"{date_part}T{rest}")
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    try:
        utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError as exc:  # year 1 east of UTC, year 9999 west of it
        raise ValueError(f"timestamp {text!r} is out of range: the years 1000-9999 (UTC) are") from exc
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(f"timestamp {text!r} is out of range: the years 1000-9999 (UTC) are")
    return utc


def event_applies(
    action: str, at: dt.datetime, tag_at: dt.datetime | None, deleted_at: dt.datetime | None = None
) -> bool:
    """Whether a push or delete at the registry's time ``at`` may change a tag, given what the server knows.

    ``tag_at`` is the time of the event or sync run that set the tag as it is
    (None: no such tag, or one set before the server kept times). For a push,
    ``deleted_at`` is the time of the latest delete recorded of the same tag,
    of the pushed digest or of the whole repository (None: none). An event
    older than either is left out: a late old push neither moves a tag back
    nor brings back one deleted after it, and a late old delete does not
    remove a tag set after it. Equal times apply: the later arrival wins.
    """
    if action not in ("push", "delete"):
        raise ValueError(f"action {action!r}: only a push or a delete changes a tag")
    if tag_at is not None and tag_at > at:
        return False
    return action == "delete" or deleted_at is None or deleted_at <= at


def _text(mapping: dict, key: str, limit: int) -> str:
    value = mapping.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EventError(f"{key} is not a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # JSON may escape a lone surrogate, which no database column holds
        raise EventError(f"{key} is not valid Unicode: {exc.reason} at character {exc.start}") from exc
    return value[:limit]


def parse_body(data: bytes) -> list:
    """The events of a notification body; EventError unless it is a JSON object with an "events" list."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to read
        raise EventError(f'the body must be a JSON object with an "events" list: it is not JSON ({exc})') from exc
    return parse_envelope(body)


def parse_envelope(body: object) -> list:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise EventError('the body must be a JSON object with an "events" list')
    return body["events"]


def to_activity(event: object, record_pulls: bool) -> Activity | None:
    """The activity an event makes, None for events that make none; EventError when malformed."""
    if not isinstance(event, dict):
        raise EventError("an event is not an object")
    event_id = _text(event, "id", 1000)
    if not event_id or len(event_id) > 64:
        raise EventError("an event has no id, or one longer than 64 characters")
    action = _text(event, "action", 32)
    target = event.get("target")
    if not isinstance(target, dict):
        raise EventError(f"event {event_id} has no target")
    media_type = _text(target, "mediaType", 255)
    if action == "push" or (action == "pull" and record_pulls):
        if media_type not in MANIFEST_MEDIA_TYPES:
            return None
    elif action != "delete":
        return None
    repository = _text(target, "repository", 255)
    if not repository:
        raise EventError(f"event {event_id} names no repository")
    try:
        occurred = parse_timestamp(_text(event, "timestamp", 64))
    except ValueError as exc:
        raise EventError(f"event {event_id}: {exc}") from exc
    actor = event.get("actor") if isinstance(event.get("actor"), dict) else {}
    request = event.get("request") if isinstance(event.get("request"), dict) else {}
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    return Activity(
        event_id=event_id,
        action=action,
        actor=_text(actor, "name", 255),
        repository=repository,
        tag=_text(target, "tag", 128) or None,
        digest=_text(target, "digest", 160) or None,
        media_type=media_type,
        source_addr=_text(request, "addr", 255),
        source_instance=_text(source, "instanceID", 64),
        request_id=_text(request, "id", 64),
        occurred_at=occurred,
    )
