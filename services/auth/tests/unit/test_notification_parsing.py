# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry's timestamps and notification bodies, good and bad, typed out by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from dockyard_auth.notifications import EventError, parse_body, parse_timestamp

# What Go's time.Time marshals to, and the naive UTC kept (to the microsecond).
GOOD_TIMES = [
    ("2026-11-23T10:11:12.123456789+01:00", dt.datetime(2026, 11, 23, 9, 11, 12, 123456)),
    ("2026-11-23T10:11:12.123456789Z", dt.datetime(2026, 11, 23, 10, 11, 12, 123456)),
    ("2026-11-23T10:11:12.1Z", dt.datetime(2026, 11, 23, 10, 11, 12, 100000)),
    ("2026-11-23T10:11:12.000001Z", dt.datetime(2026, 11, 23, 10, 11, 12, 1)),
    ("2026-11-23T10:11:12.000000999Z", dt.datetime(2026, 11, 23, 10, 11, 12)),
    ("2026-11-23T10:11:12Z", dt.datetime(2026, 11, 23, 10, 11, 12)),
    ("2026-11-23T10:11:12z", dt.datetime(2026, 11, 23, 10, 11, 12)),
    ("2026-11-23T00:30:00+14:00", dt.datetime(2026, 11, 22, 10, 30)),
    ("2026-11-23T23:30:00-12:00", dt.datetime(2026, 11, 24, 11, 30)),
    ("1000-01-01T00:00:00Z", dt.datetime(1000, 1, 1)),
    ("1000-01-01T09:00:00+09:00", dt.datetime(1000, 1, 1)),
    ("9999-12-31T23:59:59.999999999Z", dt.datetime(9999, 12, 31, 23, 59, 59, 999999)),
    ("9999-12-31T23:59:59+01:00", dt.datetime(9999, 12, 31, 22, 59, 59)),
    (" 2026-11-23T10:11:12Z ", dt.datetime(2026, 11, 23, 10, 11, 12)),
]

BAD_TIMES = [
    ("2026-11-23T10:11:12", "no time zone"),
    ("2026-11-23T10:11:12.5", "no time zone"),
    ("0001-01-01T00:00:00+14:00", "out of range"),  # year 0 in UTC: Python cannot hold it
    ("0500-06-01T00:00:00Z", "out of range"),  # a DATETIME holds the years 1000-9999
    ("0999-12-31T23:59:59.999999Z", "out of range"),
    ("1000-01-01T00:00:00+00:01", "out of range"),  # 0999 in UTC
    ("9999-12-31T23:00:00-05:00", "out of range"),  # year 10000 in UTC
    ("99999-01-01T00:00:00Z", None),
    ("2026-13-01T00:00:00Z", None),
    ("2026-11-23", None),
    ("", None),
    ("yesterday", None),
]


@pytest.mark.parametrize(("text", "expected"), GOOD_TIMES)
def test_good_timestamps(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(("text", "problem"), BAD_TIMES)
def test_bad_timestamps_raise_value_error(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_timestamp(text)


BAD_BODIES = [
    (b"[" * 100000 + b"]" * 100000, "not JSON"),
    (b'{"events": ' + b"[" * 100000 + b"]" * 100000 + b"}", "not JSON"),
    (b"{" + b'"a": {' * 50000 + b"}" * 50001, "not JSON"),
    (b"not json", "not JSON"),
    (b"", "not JSON"),
    (b"\xff\xfe\x00", "not JSON"),
    (b"[]", 'a JSON object with an "events" list'),
    (b"null", 'a JSON object with an "events" list'),
    (b'{"events": {}}', 'a JSON object with an "events" list'),
    (b'{"event": []}', 'a JSON object with an "events" list'),
]


@pytest.mark.parametrize(("body", "problem"), BAD_BODIES)
def test_bad_bodies_raise_event_error(body, problem):
    with pytest.raises(EventError, match=problem):
        parse_body(body)


def test_a_good_body_gives_its_events():
    assert parse_body(b'{"events": [{"id": "e1"}, "nonsense"]}') == [{"id": "e1"}, "nonsense"]
    assert parse_body('{"events": []}'.encode("utf-16")) == []
