# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property test of the notifications receiver against a real MariaDB: any body gets a well-formed 200 or 400.

POST /events with the shared secret and arbitrary bodies: random bytes, any JSON value, and envelopes of
events whose fields take any JSON value (timestamps out of range, lone surrogates, deep nesting). The
registry retries anything but a 2xx forever, so the answer must be 200 (malformed events skipped and
counted) or, for a body that is no envelope at all, 400 in distribution's error shape; never a 5xx.
"""

from __future__ import annotations

import json

from conftest import EVENTS_SECRET
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

SECRET = {"Authorization": f"Bearer {EVENTS_SECRET}"}
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
timestamps = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-05:00", "0500-01-01T00:00:00Z", "x"]),
    st.text(max_size=40),
)
events = st.fixed_dictionaries(
    {
        "id": st.text(max_size=70) | anything,
        "timestamp": timestamps | anything,
        "action": st.sampled_from(["push", "pull", "delete", "mount"]) | anything,
        "target": st.fixed_dictionaries(
            {
                "mediaType": st.just(MANIFEST) | anything,
                "repository": st.sampled_from(["web/app", "a", ""]) | st.text(max_size=30) | anything,
                "tag": st.sampled_from(["1", "latest"]) | st.text(max_size=20) | anything,
                "digest": st.just("sha256:" + "ab" * 32) | st.text(max_size=20) | anything,
            }
        )
        | anything,
        "actor": st.fixed_dictionaries({"name": st.text(max_size=20) | anything}) | anything,
    }
)
bodies = st.one_of(
    st.binary(max_size=200),
    anything.map(lambda value: json.dumps(value).encode()),
    st.lists(events, max_size=4).map(lambda items: json.dumps({"events": items}).encode()),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
@example(body=b"[" * 100000 + b"]" * 100000)
@example(body=json.dumps({"events": [{"id": "e", "action": "push", "timestamp": "\ud800"}]}).encode())
def test_any_body_gets_200_or_400_in_the_protocol_shape(client, body):
    test_client, _server = client
    note(f"body {body[:300]!r}")
    resp = test_client.post(
        "/events", data=body, headers=SECRET, content_type="application/vnd.docker.distribution.events.v1+json"
    )
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)[:500]
    answer = resp.get_json()
    if resp.status_code == 200:
        assert set(answer) == {"stored", "duplicates", "ignored"}
    else:
        [error] = answer["errors"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
