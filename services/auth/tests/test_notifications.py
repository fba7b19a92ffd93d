# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The notifications receiver against a real MariaDB: events as the registry sends them."""

from __future__ import annotations

import pytest
from conftest import EVENTS_SECRET

from dockyard_auth.app import Server, create_app
from dockyard_auth.config import parse
from dockyard_auth.database import make_engine

V1 = "application/vnd.docker.distribution.events.v1+json"
V2 = "application/vnd.docker.distribution.events.v2+json"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DIGEST = "sha256:" + "ab" * 32


def event(event_id: str, action: str = "push", media_type: str = MANIFEST, **target) -> dict:
    return {
        "id": event_id,
        "timestamp": "2026-11-23T10:11:12.123456789+01:00",
        "action": action,
        "target": {"mediaType": media_type, "repository": "web/app", "digest": DIGEST, "tag": "v1", **target},
        "request": {"id": "req-1", "addr": "10.1.2.3:4567", "method": "PUT", "useragent": "docker/20.10"},
        "actor": {"name": "alice"},
        "source": {"addr": "registry:5000", "instanceID": "inst-1"},
    }


def post(test_client, events, content_type=V1, secret=EVENTS_SECRET):
    return test_client.post(
        "/events",
        json={"events": events},
        headers={"Authorization": f"Bearer {secret}", "Content-Type": content_type},
    )


def tags_of(server, repository="web/app"):
    return {t["name"]: t["digest"] for t in server.store.list_tags(repository, 0, 100).items}


def test_a_manifest_push_makes_one_activity_and_a_replay_changes_nothing(client):
    test_client, server = client
    first = post(test_client, [event("e1")])
    assert (first.status_code, first.get_json()) == (200, {"stored": 1, "duplicates": 0, "ignored": 0})
    replay = post(test_client, [event("e1")], content_type=V2)
    assert replay.get_json() == {"stored": 0, "duplicates": 1, "ignored": 0}
    [activity] = server.store.list_activities(0, 10).items
    assert activity["action"] == "push" and activity["actor"] == "alice" and activity["digest"] == DIGEST
    assert activity["occurred_at"].isoformat() == "2026-11-23T09:11:12"  # UTC, to the second
    assert (activity["source_addr"], activity["request_id"]) == ("10.1.2.3:4567", "req-1")
    assert tags_of(server) == {"v1": DIGEST}


def test_a_replay_of_an_old_push_does_not_move_a_tag_back(client):
    test_client, server = client
    newer = "sha256:" + "cd" * 32
    post(test_client, [event("e1"), event("e2", digest=newer)])
    assert tags_of(server) == {"v1": newer}
    post(test_client, [event("e1")])
    assert tags_of(server) == {"v1": newer}


def test_blob_events_mounts_and_unrecorded_pulls_make_nothing(client):
    test_client, server = client
    answer = post(
        test_client,
        [
            event("b1", media_type="application/octet-stream"),
            event("b2", media_type="application/vnd.docker.image.rootfs.diff.tar.gzip"),
            event("m1", action="mount"),
            event("p1", action="pull"),
        ],
    )
    assert answer.get_json() == {"stored": 0, "duplicates": 0, "ignored": 4}
    assert server.store.list_activities(0, 10).total == 0


def test_pulls_are_recorded_when_asked(make_client, config_data):
    config_data["notifications"]["record_pulls"] = True
    test_client, server = make_client(config_data)
    assert post(test_client, [event("p1", action="pull")]).get_json()["stored"] == 1
    assert [a["action"] for a in server.store.list_activities(0, 10).items] == ["pull"]


def test_deletes_remove_the_tag_or_every_tag_of_the_digest(client):
    test_client, server = client
    post(test_client, [event("e1"), event("e2", tag="v2")])
    post(
        test_client, [{**event("d1", action="delete", media_type=""), "target": {"repository": "web/app", "tag": "v2"}}]
    )
    assert tags_of(server) == {"v1": DIGEST}
    post(test_client, [{**event("d2", action="delete"), "target": {"repository": "web/app", "digest": DIGEST}}])
    assert tags_of(server) == {}
    assert [a["action"] for a in server.store.list_activities(0, 10).items] == ["delete", "delete", "push", "push"]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Authorization": "Bearer wrong", "Content-Type": V1}, b'{"events": []}', 401),
        ({"Content-Type": V1}, b'{"events": []}', 401),
        ({"Authorization": f"Bearer {EVENTS_SECRET}", "Content-Type": "text/plain"}, b'{"events": []}', 415),
        ({"Authorization": f"Bearer {EVENTS_SECRET}", "Content-Type": V1}, b"not json", 400),
        ({"Authorization": f"Bearer {EVENTS_SECRET}", "Content-Type": V1}, b'{"events": {}}', 400),
        ({"Authorization": f"Bearer {EVENTS_SECRET}", "Content-Type": V1}, b"[]", 400),
    ],
)
def test_refused_notifications(client, headers, body, status):
    test_client, _server = client
    assert test_client.post("/events", data=body, headers=headers).status_code == status


def test_a_malformed_event_is_skipped_not_retried_forever(client):
    test_client, server = client
    answer = post(test_client, [{"id": "x"}, "nonsense", event("e1")])
    assert answer.status_code == 200
    assert answer.get_json() == {"stored": 1, "duplicates": 0, "ignored": 2}


def test_while_the_database_is_down_the_registry_is_told_to_retry(config_data, signing_files):
    config = parse(config_data)
    # Nothing listens on port 9 of loopback: every connection fails at once.
    dead = make_engine("mysql+pymysql://root@127.0.0.1:9/none", "x", pool_size=1)
    test_client = create_app(config, Server.from_config(config, engine=dead)).test_client()
    answer = post(test_client, [event("e1")])
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert test_client.get("/healthz").status_code == 503


def test_notifications_turned_off(make_client, config_data):
    config_data["notifications"] = {"enabled": False}
    test_client, _server = make_client(config_data)
    assert post(test_client, [event("e1")]).status_code == 404
