# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every status code the OpenAPI document lists for an operation is one the server really answers.

For each operation the test sends the requests that should give each documented status: the ones every
route shares (400 for an unknown query parameter, 401 without credentials, 403 for a non-admin, 415 for a
change not sent as JSON, 429 for a held-back address) and, from a table typed out by hand, the ones that
depend on the data (2xx, 404, 409). Every answer must be documented and in its documented shape (the
``Api`` helper checks that), and every documented status must have been answered.
"""

from __future__ import annotations

import json

import pytest
from conftest import EVENTS_SECRET
from test_api import ROOT, Api, basic

ALICE = ("alice", "alice-password")
HELD = "198.51.100.99"  # an address that guessed too often
CHANGING = ("POST", "PUT", "PATCH", "DELETE")

# operationId: {status: (method, path, body)} for what depends on the data. The seed below holds root
# (the only admin), alice and bob; team web (alice contributor) owning namespaces web (holding web/app)
# and spare (empty); team ops with no namespace; robot ci granted pull on web.
SPECIFIC = {
    "openapi": {200: ("GET", "/openapi.json", None)},
    "list_users": {200: ("GET", "/users", None)},
    "create_user": {
        201: ("POST", "/users", {"name": "carol", "password": "carol-password"}),
        409: ("POST", "/users", {"name": "alice", "password": "other-password"}),
    },
    "get_user": {200: ("GET", "/users/alice", None), 404: ("GET", "/users/nobody", None)},
    "update_user": {
        200: ("PATCH", "/users/alice", {"enabled": True}),
        404: ("PATCH", "/users/nobody", {"enabled": True}),
        409: ("PATCH", "/users/root", {"admin": False}),
    },
    "delete_user": {
        204: ("DELETE", "/users/bob", None),
        404: ("DELETE", "/users/nobody", None),
        409: ("DELETE", "/users/root", None),
    },
    "list_teams": {200: ("GET", "/teams", None)},
    "create_team": {201: ("POST", "/teams", {"name": "qa"}), 409: ("POST", "/teams", {"name": "web"})},
    "get_team": {200: ("GET", "/teams/web", None), 404: ("GET", "/teams/nope", None)},
    "update_team": {
        200: ("PATCH", "/teams/web", {"description": "d"}),
        404: ("PATCH", "/teams/nope", {"description": "d"}),
    },
    "delete_team": {
        204: ("DELETE", "/teams/ops", None),
        404: ("DELETE", "/teams/nope", None),
        409: ("DELETE", "/teams/web", None),
    },
    "list_members": {200: ("GET", "/teams/web/members", None), 404: ("GET", "/teams/nope/members", None)},
    "add_member": {
        201: ("POST", "/teams/web/members", {"user": "bob", "role": "viewer"}),
        404: ("POST", "/teams/nope/members", {"user": "bob", "role": "viewer"}),
        409: ("POST", "/teams/web/members", {"user": "alice", "role": "viewer"}),
    },
    "set_member": {
        200: ("PUT", "/teams/web/members/alice", {"role": "owner"}),
        201: ("PUT", "/teams/web/members/bob", {"role": "viewer"}),
        404: ("PUT", "/teams/nope/members/bob", {"role": "viewer"}),
    },
    "remove_member": {
        204: ("DELETE", "/teams/web/members/alice", None),
        404: ("DELETE", "/teams/web/members/bob", None),
    },
    "list_namespaces": {200: ("GET", "/namespaces", None)},
    "create_namespace": {
        201: ("POST", "/namespaces", {"name": "qa", "team": "ops", "visibility": "private"}),
        409: ("POST", "/namespaces", {"name": "web", "team": "ops", "visibility": "private"}),
    },
    "get_namespace": {200: ("GET", "/namespaces/web", None), 404: ("GET", "/namespaces/nope", None)},
    "update_namespace": {
        200: ("PATCH", "/namespaces/web", {"visibility": "public"}),
        404: ("PATCH", "/namespaces/nope", {"visibility": "public"}),
    },
    "delete_namespace": {
        204: ("DELETE", "/namespaces/spare", None),
        404: ("DELETE", "/namespaces/nope", None),
        409: ("DELETE", "/namespaces/web", None),
    },
    "list_robots": {200: ("GET", "/robots", None)},
    "create_robot": {201: ("POST", "/robots", {"name": "builder"}), 409: ("POST", "/robots", {"name": "ci"})},
    "get_robot": {200: ("GET", "/robots/ci", None), 404: ("GET", "/robots/nope", None)},
    "update_robot": {
        200: ("PATCH", "/robots/ci", {"description": "d"}),
        404: ("PATCH", "/robots/nope", {"description": "d"}),
    },
    "delete_robot": {204: ("DELETE", "/robots/ci", None), 404: ("DELETE", "/robots/nope", None)},
    "rotate_secret": {200: ("POST", "/robots/ci/secret", None), 404: ("POST", "/robots/nope/secret", None)},
    "list_permissions": {
        200: ("GET", "/robots/ci/permissions", None),
        404: ("GET", "/robots/nope/permissions", None),
    },
    "set_permission": {
        200: ("PUT", "/robots/ci/permissions/web", {"actions": ["pull", "push"]}),
        404: ("PUT", "/robots/nope/permissions/web", {"actions": ["pull"]}),
    },
    "delete_permission": {
        204: ("DELETE", "/robots/ci/permissions/web", None),
        404: ("DELETE", "/robots/ci/permissions/spare", None),
    },
    "list_repositories": {200: ("GET", "/repositories", None)},
    "get_repository": {200: ("GET", "/repositories/web/app", None), 404: ("GET", "/repositories/web/none", None)},
    "list_tags": {
        200: ("GET", "/repositories/web/app/tags", None),
        404: ("GET", "/repositories/web/none/tags", None),
    },
    "list_activities": {200: ("GET", "/activities", None)},
}


def operations() -> list[tuple[str, str, str]]:
    with open(__file__.replace("tests/test_api_statuses.py", "src/dockyard_auth/openapi.json")) as document:
        doc = json.load(document)
    return [
        (path, method.upper(), operation["operationId"])
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    ]


@pytest.fixture
def world(make_client, config_data):
    config_data["security"]["credential_cache_ttl"] = 0  # a held-back address is held even for a known password
    test_client, server = make_client(config_data)
    server.store.create_user(ROOT[0], server.hasher.hash(ROOT[1]), admin=True)
    api = Api(test_client, server)
    api.ok("POST", "/users", {"name": ALICE[0], "password": ALICE[1]}, 201)
    api.ok("POST", "/users", {"name": "bob", "password": "bob-password"}, 201)
    api.ok("POST", "/teams", {"name": "web"}, 201)
    api.ok("POST", "/teams", {"name": "ops"}, 201)
    api.ok("POST", "/teams/web/members", {"user": "alice", "role": "contributor"}, 201)
    for namespace in ("web", "spare"):
        api.ok("POST", "/namespaces", {"name": namespace, "team": "web", "visibility": "private"}, 201)
    api.ok("POST", "/robots", {"name": "ci"}, 201)
    api.ok("PUT", "/robots/ci/permissions/web", {"actions": ["pull"]})
    event = {
        "id": "e1", "timestamp": "2026-11-23T10:00:00Z", "action": "push", "actor": {"name": "alice"},
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "repository": "web/app",
                   "digest": "sha256:" + "ab" * 32, "tag": "1"},
    }  # fmt: skip
    stored = test_client.post("/events", json={"events": [event]}, headers={"Authorization": f"Bearer {EVENTS_SECRET}"})
    assert stored.get_json()["stored"] == 1
    for _ in range(6):  # past the default threshold of five
        test_client.get("/api/v1/users", headers=basic("nobody", "guess"), environ_base={"REMOTE_ADDR": HELD})
    return api


def concrete(template: str) -> str:
    return (
        template.replace("{name}/members/{user}", "web/members/alice")
        .replace("/teams/{name}", "/teams/web")
        .replace("/repositories/{name}", "/repositories/web/app")
        .replace("/robots/{name}/permissions/{namespace}", "/robots/ci/permissions/web")
        .replace("/robots/{name}", "/robots/ci")
        .replace("{name}", "web" if "namespaces" in template else "alice")
    )


@pytest.mark.parametrize(("template", "method", "operation"), operations(), ids=str)
def test_every_documented_status_is_answered(world, template, method, operation):
    api = world
    documented = set(map(int, api.doc["paths"][template][method.lower()]["responses"]))
    path = concrete(template)
    reached: set[int] = set()

    def send(method: str, path: str, body=None, **kwargs) -> None:
        reached.add(api(method, path, body, **kwargs).status_code)

    if operation != "openapi":
        send(method, path, query={"bogus": "1"})
        send(method, path, auth=None)
        send(method, path, auth=ALICE)
        if method in CHANGING:
            send(method, path, data=b"x", content_type="text/plain")
        response = api.client.open("/api/v1" + path, method=method, headers=basic(*ROOT),
                                   environ_base={"REMOTE_ADDR": HELD})  # fmt: skip
        api.check_shape(method, path, response)
        reached.add(response.status_code)
    for _status, (verb, where, body) in sorted(SPECIFIC[operation].items(), key=lambda item: -item[0]):
        assert verb == method, operation
        send(verb, where, body)
    assert reached == documented, f"{method} {template}: answered {sorted(reached)}, documented {sorted(documented)}"
