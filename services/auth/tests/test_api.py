# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The admin API (/api/v1) against a real MariaDB: life cycles, who may call it, bad input, its OpenAPI document."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading

import jwt
import pytest
from conftest import EVENTS_SECRET, SERVICE

from dockyard_auth.store import Conflict

ROOT = ("root", "root-password")
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DIGEST = "sha256:" + "ab" * 32


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Api:
    """Calls the API as root (or as ``auth``), and checks every answer against the OpenAPI document."""

    def __init__(self, test_client, server) -> None:
        self.client, self.server = test_client, server
        self.doc = test_client.get("/api/v1/openapi.json").get_json()

    def __call__(self, method: str, path: str, body=None, *, auth=ROOT, query=None, data=None, content_type=None):
        headers = basic(*auth) if auth else {}
        if body is not None:
            data, content_type = json.dumps(body), content_type or "application/json"
        elif content_type is None and method in ("POST", "PUT", "PATCH", "DELETE"):
            content_type = "application/json"  # every change is sent as JSON, with a body or without
        resp = self.client.open(
            "/api/v1" + path, method=method, headers=headers, query_string=query, data=data, content_type=content_type
        )
        assert resp.status_code < 500, resp.get_data(as_text=True)
        self.check_shape(method, path, resp)
        return resp

    def ok(self, method: str, path: str, body=None, status: int = 200, **kwargs) -> dict | None:
        resp = self(method, path, body, **kwargs)
        assert resp.status_code == status, (method, path, resp.status_code, resp.get_json())
        return resp.get_json()

    def token(self, user: str, password: str, scope: str | None = None):
        query = {"service": SERVICE, **({"scope": scope} if scope else {})}
        return self.client.get("/token", query_string=query, headers=basic(user, password))

    def check_shape(self, method: str, path: str, resp) -> None:
        """The body has the fields the document's schema for this route and status lists, of their types."""
        operation = self.doc["paths"][template_of(path)][method.lower()]
        answer = operation["responses"].get(str(resp.status_code))
        assert answer is not None, f"{method} {path}: status {resp.status_code} is not documented"
        content = resolve(self.doc, answer).get("content")
        if content is None:
            assert resp.get_data() == b""
            return
        assert_matches(self.doc, content["application/json"]["schema"], resp.get_json(), f"{method} {path}")


def template_of(path: str) -> str:
    """The document's path template a concrete API path falls under."""
    path = path.split("?", 1)[0]
    if path.startswith("/repositories/"):
        return "/repositories/{name}/tags" if path.endswith("/tags") else "/repositories/{name}"
    parts = path.strip("/").split("/")
    names = {
        ("users", 2): "/users/{name}",
        ("teams", 2): "/teams/{name}",
        ("teams", 3): "/teams/{name}/members",
        ("teams", 4): "/teams/{name}/members/{user}",
        ("namespaces", 2): "/namespaces/{name}",
        ("robots", 2): "/robots/{name}",
        ("robots", 3): "/robots/{name}/" + parts[-1],
        ("robots", 4): "/robots/{name}/permissions/{namespace}",
    }
    return names.get((parts[0], len(parts)), path)


def resolve(doc: dict, node: dict) -> dict:
    while "$ref" in node:
        target = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


JSON_TYPES = {"string": str, "boolean": bool, "integer": int, "array": list, "object": dict}


def assert_matches(doc: dict, schema: dict, value, where: str) -> None:
    """A small check of ``value`` against an OpenAPI 3.0 schema: types, enums, required and known properties."""
    schema = resolve(doc, schema)
    if "allOf" in schema:
        for part in schema["allOf"]:
            assert_matches(doc, {**resolve(doc, part), "additionalProperties": True}, value, where)
        return
    if value is None:
        assert schema.get("nullable"), f"{where}: null where {schema} is not nullable"
        return
    kind = schema.get("type")
    if kind:
        assert isinstance(value, JSON_TYPES[kind]), f"{where}: {value!r} is not {kind}"
        assert not (kind == "integer" and isinstance(value, bool)), where
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if kind == "array":
        for i, item in enumerate(value):
            assert_matches(doc, schema.get("items", {}), item, f"{where}[{i}]")
    if kind == "object":
        properties = schema.get("properties", {})
        missing = set(schema.get("required", [])) - set(value)
        assert not missing, f"{where}: missing {missing}"
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(properties)
            assert not extra, f"{where}: undocumented {extra}"
        for key, item in value.items():
            if key in properties:
                assert_matches(doc, properties[key], item, f"{where}.{key}")


@pytest.fixture
def api(client):
    test_client, server = client
    server.store.create_user(ROOT[0], server.hasher.hash(ROOT[1]), admin=True)
    return Api(test_client, server)


@pytest.fixture
def seeded(api):
    """root (admin), alice; team web (alice contributor) owning namespace web; robot ci pulling from web."""
    api.ok("POST", "/users", {"name": "alice", "password": "alice-password"}, 201)
    api.ok("POST", "/teams", {"name": "web", "description": "the web team"}, 201)
    api.ok("POST", "/teams/web/members", {"user": "alice", "role": "contributor"}, 201)
    api.ok("POST", "/namespaces", {"name": "web", "team": "web", "visibility": "private"}, 201)
    api.ok("POST", "/robots", {"name": "ci"}, 201)
    api.ok("PUT", "/robots/ci/permissions/web", {"actions": ["pull"]})
    return api


def claims(api: Api, resp) -> dict:
    assert resp.status_code == 200, resp.get_json()
    return jwt.decode(
        resp.get_json()["token"], api.server.signer.certificate.public_key(), algorithms=["RS256"], audience=SERVICE
    )


def names(page: dict) -> list[str]:
    return [item["name"] for item in page["items"]]


# -- the document ------------------------------------------------------------------
def test_the_openapi_document_is_public_and_describes_exactly_the_routes(client):
    test_client, _server = client
    resp = test_client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    doc = json.loads(resp.get_data())
    assert re.fullmatch(r"3\.0\.\d+", doc["openapi"])
    assert doc["servers"] == [{"url": "/api/v1"}]

    routes = {}
    for rule in test_client.application.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            template = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes[(template, method.lower())] = rule.endpoint.removeprefix("api.")
    documented = {
        (path, method): operation["operationId"]
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert documented == routes  # the same routes, each documented under its endpoint's name

    def refs(node):
        if isinstance(node, dict):
            yield from [node["$ref"]] if "$ref" in node else []
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in set(refs(doc)):
        assert resolve(doc, {"$ref": ref}), ref
    for (path, method), _endpoint in documented.items():
        operation = doc["paths"][path][method]
        if path != "/openapi.json":
            assert {"401", "403", "429"} <= set(operation["responses"]), (path, method)
        if method in ("post", "put", "patch", "delete"):
            assert "415" in operation["responses"], (path, method)
    assert doc["paths"]["/openapi.json"]["get"]["security"] == []


# -- who may call it ---------------------------------------------------------------
def test_anonymous_and_wrong_credentials_get_401_with_a_challenge(seeded):
    api = seeded
    for auth in (None, ("root", "wrong-password"), ("nobody", "root-password"), ("robot+ci", "not-its-secret")):
        resp = api("GET", "/users", auth=auth)
        assert resp.status_code == 401, auth
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="dockyard"'
        [error] = resp.get_json()["errors"]
        assert error["code"] == "UNAUTHORIZED"
        if auth:
            assert error["message"] == "invalid username or password"
    bearer = api.client.get("/api/v1/users", headers={"Authorization": "Bearer abc"})
    assert bearer.status_code == 401 and "Basic" in bearer.get_json()["errors"][0]["message"]
    # A password bcrypt cannot take (over 72 bytes, NUL) is wrong, not a server error.
    assert api("GET", "/users", auth=("root", "x" * 100)).status_code == 401
    assert api("GET", "/users", auth=("root", "root-password\0")).status_code == 401
    # Nor is a header that is not ASCII, or credentials that are not UTF-8.
    for header in ("Basic ÿÿÿÿ", "Basic " + base64.b64encode(b"root:\xff").decode()):
        resp = api.client.get("/api/v1/users", headers={"Authorization": header})
        assert resp.status_code == 401 and resp.get_json()["errors"][0]["code"] == "UNAUTHORIZED", header


def test_a_non_admin_user_and_a_plain_robot_get_403(seeded):
    api = seeded
    secret = api.ok("POST", "/robots/ci/secret")["secret"]
    for auth in (("alice", "alice-password"), ("robot+ci", secret)):
        resp = api("GET", "/users", auth=auth)
        assert resp.status_code == 403
        [error] = resp.get_json()["errors"]
        assert error["code"] == "DENIED" and auth[0] in error["message"]
        assert api("POST", "/users", {"name": "mallory", "password": "mallory-pw"}, auth=auth).status_code == 403


def test_an_api_admin_robot_uses_the_api_until_the_flag_is_taken_away(seeded):
    api = seeded
    robot = api.ok("POST", "/robots", {"name": "deployer", "api_admin": True}, 201)
    auth = (robot["login"], robot["secret"])
    assert api.ok("POST", "/teams", {"name": "ops"}, 201, auth=auth)["name"] == "ops"
    assert "ops" in names(api.ok("GET", "/teams", auth=auth))
    api.ok("PATCH", "/robots/deployer", {"api_admin": False})
    assert api("GET", "/teams", auth=auth).status_code == 403


def test_an_api_admin_robot_stays_below_its_ceiling(seeded):
    """A leaked automation secret cannot make admins, reach an admin, raise itself, or take other robots' secrets."""
    api = seeded
    robot = api.ok("POST", "/robots", {"name": "deployer", "api_admin": True}, 201)
    api.ok("PUT", "/robots/deployer/permissions/web", {"actions": ["pull", "push"]})
    ci_before = api.ok("GET", "/robots/ci")
    me = (robot["login"], robot["secret"])

    def refused(method: str, path: str, body=None, words: str = "") -> None:
        resp = api(method, path, body, auth=me)
        assert resp.status_code == 403, (method, path, resp.get_json())
        [error] = resp.get_json()["errors"]
        assert error["code"] == "DENIED" and error["message"].startswith("robot+deployer may not"), error
        assert words in error["message"], error

    refused("POST", "/users", {"name": "mallory", "password": "mallory-password", "admin": True}, "admins")
    assert api("GET", "/users/mallory").status_code == 404
    refused("PATCH", "/users/alice", {"admin": True}, "promote admins")
    refused("PATCH", "/users/root", {"password": "taken-over-password"}, "the admin 'root'")
    refused("PATCH", "/users/root", {"enabled": False}, "the admin 'root'")
    refused("DELETE", "/users/root", None, "the admin 'root'")
    assert api.token(*ROOT).status_code == 200
    refused("PUT", "/robots/deployer/permissions/_global", {"actions": ["push"]}, "its own grants")
    refused("DELETE", "/robots/deployer/permissions/web", None, "its own grants")
    refused("PATCH", "/robots/deployer", {"expires_at": "2999-01-01T00:00:00Z"}, "expiry")
    refused("POST", "/robots/ci/secret", None, "the secret of robot 'ci'")
    assert api.ok("GET", "/robots/ci")["secret_changed_at"] == ci_before["secret_changed_at"]
    refused("POST", "/robots", {"name": "twin", "api_admin": True}, "api_admin")
    refused("PATCH", "/robots/ci", {"api_admin": True}, "api_admin")

    # What automation needs below the ceiling still works.
    assert api.ok("POST", "/users", {"name": "carol", "password": "carol-password"}, 201, auth=me)["admin"] is False
    api.ok("PATCH", "/users/carol", {"enabled": False}, auth=me)
    helper = api.ok("POST", "/robots", {"name": "helper"}, 201, auth=me)
    api.ok("PUT", "/robots/helper/permissions/web", {"actions": ["pull", "push"]}, auth=me)
    refused("PUT", "/robots/helper/permissions/web", {"actions": ["delete"]}, "does not hold delete")
    refused("PUT", "/robots/helper/permissions/_global", {"actions": ["pull"]}, "does not hold pull")
    scope = "repository:web/app:pull,push,delete"
    assert claims(api, api.token(helper["login"], helper["secret"], scope))["access"][0]["actions"] == ["pull", "push"]
    rotated = api.ok("POST", "/robots/deployer/secret", auth=me)  # its own secret: yes
    assert api.token(robot["login"], rotated["secret"]).status_code == 200
    assert api.ok("GET", "/robots/deployer")["expires_at"] is None


def test_every_change_needs_the_json_content_type_even_without_a_body(seeded):
    """A page on another site can send a form or a simple POST with the admin's Basic credentials; none of them
    can carry application/json without the browser asking first, so none changes anything."""
    api = seeded
    before = api.ok("GET", "/robots/ci")
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        headers = {**basic(*ROOT), **({"Content-Type": content_type} if content_type else {})}
        for method, path in (("POST", "/robots/ci/secret"), ("DELETE", "/robots/ci"), ("DELETE", "/users/alice")):
            resp = api.client.open("/api/v1" + path, method=method, headers=headers)
            assert resp.status_code == 415, (content_type, method, path)
            assert resp.get_json()["errors"][0]["code"] == "UNSUPPORTED"
    assert api.ok("GET", "/robots/ci") == before
    assert api.ok("GET", "/users/alice")["name"] == "alice"
    assert api("DELETE", "/robots/ci").status_code == 204  # sent as JSON, without a body


def test_an_admin_made_through_the_api_may_use_it_and_one_taken_back_may_not(seeded):
    api = seeded
    alice = ("alice", "alice-password")
    assert api("GET", "/users", auth=alice).status_code == 403
    assert api.ok("PATCH", "/users/alice", {"admin": True})["admin"] is True
    assert api("GET", "/users", auth=alice).status_code == 200
    api.ok("PATCH", "/users/alice", {"admin": False})
    assert api("GET", "/users", auth=alice).status_code == 403


def test_failed_logins_are_throttled_with_retry_after(make_client, config_data):
    config_data["security"]["backoff"] = {"threshold": 2, "max_delay": 60, "account_max_delay": 5}
    test_client, server = make_client(config_data)
    server.store.create_user(ROOT[0], server.hasher.hash(ROOT[1]), admin=True)
    codes = [
        test_client.get("/api/v1/users", headers=basic("root", "guess")).status_code for _ in range(4)
    ]  # fmt: skip
    assert codes[:2] == [401, 401] and codes[-1] == 429
    throttled = test_client.get("/api/v1/users", headers=basic("root", "guess"))
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.get_json()["errors"][0]["code"] == "TOOMANYREQUESTS"


# -- users -----------------------------------------------------------------------
def test_user_life_cycle_and_what_it_does_to_logins(api):
    created = api("POST", "/users", {"name": "alice", "password": "first-password"})
    assert created.status_code == 201 and created.headers["Location"].endswith("/api/v1/users/alice")
    body = created.get_json()
    assert body["name"] == "alice" and body["admin"] is False and body["enabled"] is True
    assert "password" not in json.dumps(body).replace("password_changed_at", "")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["created_at"])
    assert api.ok("GET", "/users/alice") == body
    assert names(api.ok("GET", "/users")) == ["alice", "root"]
    personal = api.ok("GET", "/namespaces/alice")
    assert (personal["kind"], personal["owner"], personal["visibility"]) == ("personal", "alice", "private")

    # The new user gets a token, with their own namespace's rights.
    grant = claims(api, api.token("alice", "first-password", "repository:alice/app:push,pull"))
    assert grant["sub"] == "alice" and grant["access"][0]["actions"] == ["pull", "push"]

    # A changed password: the old one is refused at once (it was just verified and cached).
    changed = api.ok("PATCH", "/users/alice", {"password": "second-password"})
    assert changed["password_changed_at"] >= body["password_changed_at"]
    assert api.token("alice", "first-password").status_code == 401
    assert api.token("alice", "second-password").status_code == 200

    # Disabled: refused at once; enabled again: back.
    assert api.ok("PATCH", "/users/alice", {"enabled": False})["enabled"] is False
    assert api.token("alice", "second-password").status_code == 401
    api.ok("PATCH", "/users/alice", {"enabled": True})
    assert api.token("alice", "second-password").status_code == 200

    assert api("DELETE", "/users/alice").status_code == 204
    assert api("GET", "/users/alice").status_code == 404
    assert api("GET", "/namespaces/alice").status_code == 404  # the personal namespace went with the user
    assert api.token("alice", "second-password").status_code == 401
    assert api("DELETE", "/users/alice").status_code == 404


def test_a_user_created_disabled_or_admin(api):
    api.ok("POST", "/users", {"name": "bob", "password": "bob-password", "enabled": False}, 201)
    assert api.token("bob", "bob-password").status_code == 401
    carol = api.ok("POST", "/users", {"name": "carol", "password": "carol-password", "admin": True}, 201)
    assert carol["admin"] is True
    assert api("GET", "/users", auth=("carol", "carol-password")).status_code == 200


def test_the_last_enabled_admin_cannot_be_removed_disabled_or_demoted(api):
    for method, body in (("PATCH", {"enabled": False}), ("PATCH", {"admin": False}), ("DELETE", None)):
        resp = api(method, "/users/root", body)
        assert resp.status_code == 409, (method, body)
        [error] = resp.get_json()["errors"]
        assert error["code"] == "CONFLICT" and "last enabled admin" in error["message"]
    assert api.ok("GET", "/users/root")["admin"] is True
    # A disabled admin does not count.
    api.ok("POST", "/users", {"name": "spare", "password": "spare-password", "admin": True, "enabled": False}, 201)
    assert api("PATCH", "/users/root", {"admin": False}).status_code == 409
    # With a second enabled admin, either may go, but not both.
    api.ok("PATCH", "/users/spare", {"enabled": True})
    assert api("PATCH", "/users/root", {"enabled": False}, auth=("spare", "spare-password")).status_code == 200
    assert api("DELETE", "/users/spare", auth=("spare", "spare-password")).status_code == 409
    # Changes that keep the admin are fine.
    api.ok("PATCH", "/users/spare", {"password": "spare-password-2", "admin": True}, auth=("spare", "spare-password"))


def test_two_admins_disabled_at_once_leave_one(api):
    store = api.server.store
    store.create_user("second", api.server.hasher.hash("second-password"), admin=True)
    barrier, outcomes = threading.Barrier(2), {}

    def disable(name: str) -> None:
        barrier.wait()
        try:
            store.update_user_keeping_an_admin(name, enabled=False)
            outcomes[name] = "disabled"
        except Conflict:
            outcomes[name] = "refused"

    threads = [threading.Thread(target=disable, args=(name,)) for name in ("root", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes.values()) == ["disabled", "refused"]


def test_pagination_pages_through_every_user_once(api):
    for i in range(7):
        api.ok("POST", "/users", {"name": f"user{i}", "password": f"password-{i}"}, 201)
    pages = [api.ok("GET", "/users", query={"offset": offset, "limit": 3}) for offset in (0, 3, 6, 9)]
    assert [len(page["items"]) for page in pages] == [3, 3, 2, 0]
    assert {page["total"] for page in pages} == {8}
    assert [(page["offset"], page["limit"]) for page in pages] == [(0, 3), (3, 3), (6, 3), (9, 3)]
    everyone = [name for page in pages for name in names(page)]
    assert everyone == sorted([f"user{i}" for i in range(7)] + ["root"])
    default = api.ok("GET", "/users")
    assert (default["offset"], default["limit"], len(default["items"])) == (0, 50, 8)
    assert api.ok("GET", "/users", query={"limit": 500})["limit"] == 500


# -- teams and members ---------------------------------------------------------------
def test_team_and_member_life_cycle(api):
    api.ok("POST", "/users", {"name": "alice", "password": "alice-password"}, 201)
    api.ok("POST", "/users", {"name": "bob", "password": "bob-password"}, 201)
    team = api("POST", "/teams", {"name": "web"})
    assert team.status_code == 201 and team.headers["Location"].endswith("/api/v1/teams/web")
    assert team.get_json()["description"] == ""
    assert api.ok("PATCH", "/teams/web", {"description": "the web team"})["description"] == "the web team"
    assert api.ok("GET", "/teams/web")["description"] == "the web team"
    assert names(api.ok("GET", "/teams")) == ["web"]

    added = api.ok("POST", "/teams/web/members", {"user": "alice", "role": "viewer"}, 201)
    assert added == {"team": "web", "user": "alice", "role": "viewer"}
    again = api("POST", "/teams/web/members", {"user": "alice", "role": "owner"})
    assert again.status_code == 409 and "PUT" in again.get_json()["errors"][0]["message"]
    assert api.ok("PUT", "/teams/web/members/alice", {"role": "contributor"})["role"] == "contributor"
    assert api.ok("PUT", "/teams/web/members/bob", {"role": "owner"}, 201)["role"] == "owner"  # PUT adds, too
    members = api.ok("GET", "/teams/web/members")
    assert members["items"] == [{"user": "alice", "role": "contributor"}, {"user": "bob", "role": "owner"}]
    assert members["total"] == 2

    # The role decides the token's grants in the team's namespace.
    api.ok("POST", "/namespaces", {"name": "web", "team": "web", "visibility": "private"}, 201)
    grant = claims(api, api.token("alice", "alice-password", "repository:web/app:pull,push,delete"))
    assert grant["access"][0]["actions"] == ["pull", "push"]
    assert api("DELETE", "/teams/web/members/alice").status_code == 204
    assert api("DELETE", "/teams/web/members/alice").status_code == 404
    grant = claims(api, api.token("alice", "alice-password", "repository:web/app:pull"))
    assert grant["access"][0]["actions"] == []

    owning = api("DELETE", "/teams/web")
    assert owning.status_code == 409 and "web" in owning.get_json()["errors"][0]["message"]
    api.ok("DELETE", "/namespaces/web", status=204)
    assert api("DELETE", "/teams/web").status_code == 204
    assert api("GET", "/teams/web").status_code == 404
    assert api("GET", "/teams/web/members").status_code == 404


# -- namespaces ------------------------------------------------------------------------
def test_namespace_life_cycle_and_the_global_namespace(api):
    api.ok("POST", "/teams", {"name": "web"}, 201)
    api.ok("POST", "/teams", {"name": "ops"}, 201)
    created = api("POST", "/namespaces", {"name": "pub", "team": "web", "visibility": "public", "description": "x"})
    assert created.status_code == 201 and created.headers["Location"].endswith("/api/v1/namespaces/pub")
    body = created.get_json()
    assert (body["kind"], body["team"], body["owner"], body["prefix"]) == ("team", "web", None, "pub/")
    # Public: anonymous callers pull.
    anonymous = api.client.get("/token", query_string={"service": SERVICE, "scope": "repository:pub/app:pull"})
    assert claims(api, anonymous)["access"][0]["actions"] == ["pull"]

    changed = api.ok("PATCH", "/namespaces/pub", {"visibility": "private", "team": "ops", "description": "moved"})
    assert (changed["visibility"], changed["team"], changed["description"]) == ("private", "ops", "moved")
    anonymous = api.client.get("/token", query_string={"service": SERVICE, "scope": "repository:pub/app:pull"})
    assert claims(api, anonymous)["access"][0]["actions"] == []

    listed = api.ok("GET", "/namespaces")
    assert names(listed) == ["_global", "pub", "root"] and listed["total"] == 3
    glob = api.ok("GET", "/namespaces/_global")
    assert (glob["name"], glob["kind"], glob["prefix"], glob["team"]) == ("_global", "global", "", None)
    assert api.ok("PATCH", "/namespaces/_global", {"visibility": "public"})["visibility"] == "public"
    for ref, fragment in (("_global", "_global"), ("root", "personal")):
        resp = api("DELETE", f"/namespaces/{ref}")
        assert resp.status_code == 409 and fragment in resp.get_json()["errors"][0]["message"]
    taken = api("POST", "/namespaces", {"name": "root", "team": "web", "visibility": "private"})
    assert taken.status_code == 409

    assert api("DELETE", "/namespaces/pub").status_code == 204
    assert api("GET", "/namespaces/pub").status_code == 404
    assert api("DELETE", "/namespaces/pub").status_code == 404


# -- robots ------------------------------------------------------------------------------
def test_robot_life_cycle_secret_and_exact_grants(seeded):
    api = seeded
    api.ok("POST", "/namespaces", {"name": "apps", "team": "web", "visibility": "private"}, 201)
    created = api("POST", "/robots", {"name": "builder", "description": "CI builds"})
    assert created.status_code == 201 and created.headers["Location"].endswith("/api/v1/robots/builder")
    robot = created.get_json()
    assert robot["login"] == "robot+builder" and len(robot["secret"]) >= 40
    assert (robot["enabled"], robot["api_admin"], robot["expires_at"], robot["expired"]) == (True, False, None, False)
    shown = api.ok("GET", "/robots/builder")
    assert "secret" not in shown and "secret_hash" not in shown
    assert shown == {key: value for key, value in robot.items() if key != "secret"}
    assert names(api.ok("GET", "/robots")) == ["builder", "ci"]

    grant = api.ok("PUT", "/robots/builder/permissions/apps", {"actions": ["push", "pull", "push"]})
    assert grant == {"namespace": "apps", "actions": ["pull", "push"]}
    api.ok("PUT", "/robots/builder/permissions/_global", {"actions": ["pull"]})
    listed = api.ok("GET", "/robots/builder/permissions")
    expected = [("_global", ["pull"]), ("apps", ["pull", "push"])]
    assert [(grant["namespace"], grant["actions"]) for grant in listed["items"]] == expected
    second = api.ok("GET", "/robots/builder/permissions", query={"offset": 1, "limit": 1})
    assert (second["items"], second["total"]) == (listed["items"][1:], 2)

    scope = "repository:apps/x:pull,push,delete repository:web/x:pull repository:alice/x:pull repository:top:push"
    access = claims(api, api.token("robot+builder", robot["secret"], scope))["access"]
    assert {a["name"]: a["actions"] for a in access} == {
        "apps/x": ["pull", "push"], "web/x": [], "alice/x": [], "top": [],
    }  # fmt: skip

    # Rotating: the old secret is refused at once, the new one works.
    rotated = api.ok("POST", "/robots/builder/secret")
    assert rotated["secret"] != robot["secret"] and rotated["secret_changed_at"] >= robot["secret_changed_at"]
    assert api.token("robot+builder", robot["secret"]).status_code == 401
    assert api.token("robot+builder", rotated["secret"]).status_code == 200
    assert api.ok("POST", "/robots/builder/secret", {})["secret"] != rotated["secret"]  # an empty object is fine
    secret = api.ok("POST", "/robots/builder/secret")["secret"]

    # An empty list removes a grant; DELETE too.
    assert api.ok("PUT", "/robots/builder/permissions/apps", {"actions": []}) == {"namespace": "apps", "actions": []}
    access = claims(api, api.token("robot+builder", secret, "repository:apps/x:pull"))["access"]
    assert access[0]["actions"] == []
    assert api("DELETE", "/robots/builder/permissions/_global").status_code == 204
    assert api("DELETE", "/robots/builder/permissions/_global").status_code == 404
    assert api.ok("GET", "/robots/builder/permissions")["items"] == []

    # Disabled, expired: refused; the expiry removed: back.
    api.ok("PATCH", "/robots/builder", {"enabled": False})
    assert api.token("robot+builder", secret).status_code == 401
    expired = api.ok("PATCH", "/robots/builder", {"enabled": True, "expires_at": "2020-01-01T01:00:00+01:00"})
    assert (expired["expires_at"], expired["expired"]) == ("2020-01-01T00:00:00Z", True)
    assert api.token("robot+builder", secret).status_code == 401
    later = api.ok("PATCH", "/robots/builder", {"expires_at": "2999-12-31T23:59:59.123456789z", "description": "d"})
    assert (later["expires_at"], later["expired"], later["description"]) == ("2999-12-31T23:59:59Z", False, "d")
    assert api.token("robot+builder", secret).status_code == 200
    assert api.ok("PATCH", "/robots/builder", {"expires_at": None})["expires_at"] is None

    assert api("DELETE", "/robots/builder").status_code == 204
    assert api("GET", "/robots/builder").status_code == 404
    assert api("GET", "/robots/builder/permissions").status_code == 404
    assert api.token("robot+builder", secret).status_code == 401


def test_a_robot_created_with_an_expiry(api):
    robot = api.ok("POST", "/robots", {"name": "temp", "expires_at": "2999-01-01T12:00:00-02:30"}, 201)
    assert robot["expires_at"] == "2999-01-01T14:30:00Z"
    assert api.token(robot["login"], robot["secret"]).status_code == 200


# -- the managed flag ------------------------------------------------------------------
# Each kind: the path of its collection, a body that creates one, and the fields an update must keep.
MANAGED_KINDS = {
    "users": ({"name": "dev", "password": "dev-password"}, ("admin", "enabled")),
    "teams": ({"name": "dev", "description": "the dev team"}, ("description",)),
    "namespaces": ({"name": "apps", "team": "web", "visibility": "public"}, ("visibility", "team", "description")),
    "robots": ({"name": "deployer", "description": "deploys"}, ("description", "enabled", "api_admin")),
}


@pytest.mark.parametrize("kind", MANAGED_KINDS)
def test_the_managed_flag_is_kept_and_changed_on_every_kind(seeded, kind):
    api = seeded
    body, kept = MANAGED_KINDS[kind]
    name = body["name"]
    plain = api.ok("POST", f"/{kind}", body, 201)
    assert plain["managed"] is False  # by default
    api.ok("DELETE", f"/{kind}/{name}", status=204)

    made = api.ok("POST", f"/{kind}", {**body, "managed": True}, 201)
    assert made["managed"] is True
    assert api.ok("GET", f"/{kind}/{name}")["managed"] is True
    listed = {item["name"]: item["managed"] for item in api.ok("GET", f"/{kind}")["items"]}
    assert listed[name] is True and not any(v for k, v in listed.items() if k != name)

    # Alone, it is a change of its own, and it changes nothing else.
    unmarked = api.ok("PATCH", f"/{kind}/{name}", {"managed": False})
    assert unmarked["managed"] is False
    assert {key: unmarked[key] for key in kept} == {key: made[key] for key in kept}
    assert api.ok("GET", f"/{kind}/{name}")["managed"] is False
    assert api.ok("PATCH", f"/{kind}/{name}", {"managed": True})["managed"] is True
    for wrong in ("yes", 1, None):
        resp = api("PATCH", f"/{kind}/{name}", {"managed": wrong})
        assert resp.status_code == 400 and "'managed'" in resp.get_json()["errors"][0]["message"], wrong


def test_personal_and_global_namespaces_carry_the_flag_too(seeded):
    api = seeded
    assert api.ok("GET", "/namespaces/alice")["managed"] is False  # a user's flag is not their namespace's
    api.ok("PATCH", "/users/alice", {"managed": True})
    assert api.ok("GET", "/namespaces/alice")["managed"] is False
    for ref in ("alice", "_global"):
        assert api.ok("PATCH", f"/namespaces/{ref}", {"managed": True})["managed"] is True
        assert api.ok("GET", f"/namespaces/{ref}")["managed"] is True


def test_a_team_update_needs_a_field_and_a_description_is_optional(seeded):
    api = seeded
    empty = api("PATCH", "/teams/web", {})
    assert empty.status_code == 400 and "description, managed" in empty.get_json()["errors"][0]["message"]
    assert api.ok("PATCH", "/teams/web", {"managed": True})["description"] == "the web team"
    changed = api.ok("PATCH", "/teams/web", {"description": "web"})
    assert (changed["description"], changed["managed"]) == ("web", True)


# -- repositories and activities -----------------------------------------------------
def push_event(event_id: str, repository: str, tag: str, actor: str, timestamp: str) -> dict:
    return {
        "id": event_id, "timestamp": timestamp, "action": "push", "actor": {"name": actor},
        "target": {"mediaType": MANIFEST, "repository": repository, "digest": DIGEST, "tag": tag},
    }  # fmt: skip


def test_repositories_tags_and_activities(api):
    events = [
        push_event("e1", "web/app", "1", "alice", "2026-11-23T10:00:00Z"),
        push_event("e2", "web/app", "2", "robot+ci", "2026-11-23T10:05:00Z"),
        push_event("e3", "web/app/tags", "x", "alice", "2026-11-23T10:10:00Z"),
        push_event("e4", "alpine", "3.20", "root", "2026-11-23T10:15:00Z"),
        push_event("e5", "webby/app", "1", "alice", "2026-11-23T10:20:00Z"),
    ]
    resp = api.client.post(
        "/events", json={"events": events}, headers={"Authorization": f"Bearer {EVENTS_SECRET}"}
    )  # fmt: skip
    assert resp.get_json()["stored"] == 5

    everything = api.ok("GET", "/repositories")
    assert names(everything) == ["alpine", "web/app", "web/app/tags", "webby/app"] and everything["total"] == 4
    assert {r["name"]: r["namespace"] for r in everything["items"]}["alpine"] == "_global"
    assert names(api.ok("GET", "/repositories", query={"namespace": "web"})) == ["web/app", "web/app/tags"]
    assert names(api.ok("GET", "/repositories", query={"namespace": "_global"})) == ["alpine"]
    assert api.ok("GET", "/repositories", query={"namespace": "nothing"})["items"] == []

    # Names with slashes route: the repository, and its tags (a trailing /tags lists tags).
    repository = api.ok("GET", "/repositories/web/app")
    assert (repository["name"], repository["namespace"]) == ("web/app", "web")
    tags = api.ok("GET", "/repositories/web/app/tags")
    assert [(t["name"], t["digest"], t["media_type"]) for t in tags["items"]] == [(n, DIGEST, MANIFEST) for n in "12"]
    assert names(api.ok("GET", "/repositories/web/app/tags/tags")) == ["x"]
    assert api.ok("GET", "/repositories/alpine")["name"] == "alpine"
    assert names(api.ok("GET", "/repositories/alpine/tags", query={"limit": 1})) == ["3.20"]
    assert api("GET", "/repositories/web/nothing").status_code == 404
    assert api("GET", "/repositories/web/nothing/tags").status_code == 404

    newest_first = api.ok("GET", "/activities")
    assert [a["event_id"] for a in newest_first["items"]] == ["e5", "e4", "e3", "e2", "e1"]
    first = newest_first["items"][-1]
    assert (first["action"], first["actor"], first["occurred_at"]) == ("push", "alice", "2026-11-23T10:00:00Z")
    assert first["recorded_at"].endswith("Z")
    by_repo = api.ok("GET", "/activities", query={"repository": "web/app"})
    assert [a["event_id"] for a in by_repo["items"]] == ["e2", "e1"] and by_repo["total"] == 2
    by_actor = api.ok("GET", "/activities", query={"actor": "alice", "limit": 2})
    assert [a["event_id"] for a in by_actor["items"]] == ["e5", "e3"] and by_actor["total"] == 3
    both = api.ok("GET", "/activities", query={"actor": "robot+ci", "repository": "web/app"})
    assert [a["event_id"] for a in both["items"]] == ["e2"]
    # Typed by hand, '+' is not encoded and reads as a space: the robot is still found.
    typed = api.client.get("/api/v1/activities?actor=robot+ci", headers=basic(*ROOT))
    assert [a["event_id"] for a in typed.get_json()["items"]] == ["e2"]


# -- bad requests ----------------------------------------------------------------------
BOB = {"name": "bob", "password": "bob-password"}
JSON = "application/json"
NAMESPACE = {"name": "ops", "team": "web", "visibility": "public"}
# (method and path, body: JSON as an object or raw text as a string, content type or query,
#  status and code, what the message must name)
BAD_REQUESTS = [
    ("POST /users", "{not json", JSON, "400 INVALID_REQUEST", "JSON"),
    ("POST /users", "[" * 100000, JSON, "400 INVALID_REQUEST", "JSON"),
    ("POST /users", [BOB], None, "400 INVALID_REQUEST", "JSON object"),
    ("POST /users", {**BOB, "colour": "red"}, None, "400 INVALID_REQUEST", "'colour'"),
    ("POST /users", {**BOB, "admin": "yes"}, None, "400 INVALID_REQUEST", "'admin'"),
    ("POST /users", {**BOB, "managed": 1}, None, "400 INVALID_REQUEST", "'managed'"),
    ("POST /users", {**BOB, "name": 42}, None, "400 INVALID_REQUEST", "'name'"),
    ("POST /users", {**BOB, "name": "Bad Name"}, None, "400 NAME_INVALID", "'name'"),
    ("POST /users", {**BOB, "name": "_global"}, None, "400 NAME_INVALID", "'name'"),
    ("POST /users", {"name": "bob"}, None, "400 INVALID_REQUEST", "'password'"),
    ("POST /users", {**BOB, "password": "short"}, None, "400 INVALID_REQUEST", "'password'"),
    ("POST /users", {**BOB, "password": "p" * 257}, None, "400 INVALID_REQUEST", "'password'"),
    ("POST /users", {**BOB, "password": "p" * 73}, None, "400 INVALID_REQUEST", "'password'"),
    ("POST /users", {**BOB, "password": "nul\0password"}, None, "400 INVALID_REQUEST", "'password'"),
    ("POST /users", '{"name": "bob", "password": "\\ud800-password"}', JSON, "400 INVALID_REQUEST", "'password'"),
    ("POST /users", "name=bob&password=bob-password", "application/x-www-form-urlencoded", "415 UNSUPPORTED", JSON),
    ("POST /users", json.dumps(BOB), "", "415 UNSUPPORTED", JSON),
    ("POST /users", {"name": "alice", "password": "alice-password"}, None, "409 CONFLICT", "alice"),
    ("POST /users", {"name": "web", "password": "web-password"}, None, "409 CONFLICT", "web"),
    ("PATCH /users/alice", {}, None, "400 INVALID_REQUEST", "password, admin, enabled"),
    ("PATCH /users/alice", {"enabled": None}, None, "400 INVALID_REQUEST", "'enabled'"),
    ("PATCH /users/nobody", {"enabled": False}, None, "404 NOT_FOUND", "nobody"),
    ("GET /users/nobody", None, None, "404 NOT_FOUND", "nobody"),
    ("GET /users/alice", None, {"limit": "1"}, "400 INVALID_REQUEST", "'limit'"),
    ("DELETE /users/alice", None, {"force": "yes"}, "400 INVALID_REQUEST", "'force'"),
    ("GET /users/Bad Name", None, None, "400 NAME_INVALID", "Bad Name"),
    ("GET /users", None, {"offset": "-1"}, "400 INVALID_REQUEST", "'offset'"),
    ("GET /users", None, {"limit": "0"}, "400 INVALID_REQUEST", "'limit'"),
    ("GET /users", None, {"limit": "501"}, "400 INVALID_REQUEST", "'limit'"),
    ("GET /users", None, {"limit": "ten"}, "400 INVALID_REQUEST", "'limit'"),
    ("GET /users", None, {"offset": "99999999999"}, "400 INVALID_REQUEST", "'offset'"),
    ("GET /users", None, {"colour": "red"}, "400 INVALID_REQUEST", "'colour'"),
    ("POST /teams", {"name": "web"}, None, "409 CONFLICT", "web"),
    ("POST /teams", {"name": "ops", "description": "d" * 256}, None, "400 INVALID_REQUEST", "'description'"),
    ("PATCH /teams/web", {"name": "new"}, None, "400 INVALID_REQUEST", "'name'"),
    ("PATCH /teams/web", {}, None, "400 INVALID_REQUEST", "description, managed"),
    ("PATCH /teams/web", {"managed": "true"}, None, "400 INVALID_REQUEST", "'managed'"),
    ("PATCH /teams/nope", {"managed": True}, None, "404 NOT_FOUND", "nope"),
    ("DELETE /teams/web", None, None, "409 CONFLICT", "web"),
    ("POST /teams/web/members", {"user": "alice", "role": "boss"}, None, "400 INVALID_REQUEST", "'role'"),
    ("POST /teams/web/members", {"user": "nobody", "role": "viewer"}, None, "404 NOT_FOUND", "nobody"),
    ("POST /teams/nope/members", {"user": "alice", "role": "viewer"}, None, "404 NOT_FOUND", "nope"),
    ("PUT /teams/web/members/alice", {}, None, "400 INVALID_REQUEST", "'role'"),
    ("POST /namespaces", {**NAMESPACE, "visibility": "secret"}, None, "400 INVALID_REQUEST", "'visibility'"),
    ("POST /namespaces", {**NAMESPACE, "team": "nope"}, None, "400 INVALID_REQUEST", "'team'"),
    ("POST /namespaces", {**NAMESPACE, "name": "web"}, None, "409 CONFLICT", "web"),
    ("PATCH /namespaces/alice", {"team": "web"}, None, "400 INVALID_REQUEST", "team"),
    ("PATCH /namespaces/_global", {"visibility": "hidden"}, None, "400 INVALID_REQUEST", "'visibility'"),
    ("PATCH /namespaces/_global", {"team": "web"}, None, "400 INVALID_REQUEST", "'team'"),
    ("GET /namespaces/_nope", None, None, "400 NAME_INVALID", "_nope"),
    ("PUT /robots/ci/permissions/web", {"actions": ["pull", "fly"]}, None, "400 INVALID_REQUEST", "'actions'"),
    ("PUT /robots/ci/permissions/web", {"actions": "pull"}, None, "400 INVALID_REQUEST", "'actions'"),
    ("PUT /robots/ci/permissions/web", {"actions": [1]}, None, "400 INVALID_REQUEST", "'actions'"),
    ("PUT /robots/ci/permissions/nope", {"actions": ["pull"]}, None, "404 NOT_FOUND", "nope"),
    ("PUT /robots/nope/permissions/web", {"actions": ["pull"]}, None, "404 NOT_FOUND", "nope"),
    ("POST /robots", {"name": "ci"}, None, "409 CONFLICT", "ci"),
    ("POST /robots", {"name": "r2", "api_admin": 1}, None, "400 INVALID_REQUEST", "'api_admin'"),
    ("POST /robots", {"name": "r2", "managed": "no"}, None, "400 INVALID_REQUEST", "'managed'"),
    ("POST /namespaces", {**NAMESPACE, "managed": None}, None, "400 INVALID_REQUEST", "'managed'"),
    ("PATCH /robots/ci", {"expires_at": "tomorrow"}, None, "400 INVALID_REQUEST", "'expires_at'"),
    ("PATCH /robots/ci", {"expires_at": "2030-01-01T00:00:00"}, None, "400 INVALID_REQUEST", "'expires_at'"),
    ("PATCH /robots/ci", {"expires_at": "2030-02-30T00:00:00Z"}, None, "400 INVALID_REQUEST", "'expires_at'"),
    ("PATCH /robots/ci", {"expires_at": "0001-01-01T00:00:00Z"}, None, "400 INVALID_REQUEST", "'expires_at'"),
    ("POST /robots/ci/secret", "rotate please", "text/plain", "415 UNSUPPORTED", JSON),
    ("POST /robots/ci/secret", {"secret": "mine"}, None, "400 INVALID_REQUEST", "'secret'"),
    ("DELETE /robots/nobody", None, None, "404 NOT_FOUND", "nobody"),
    ("GET /repositories", None, {"namespace": "Web"}, "400 NAME_INVALID", "'namespace'"),
    ("GET /repositories/Web/App", None, None, "400 NAME_INVALID", "Web/App"),
    ("GET /repositories/web/app", None, None, "404 NOT_FOUND", "web/app"),
    ("GET /activities", None, {"repository": "a//b"}, "400 NAME_INVALID", "'repository'"),
]


@pytest.mark.parametrize(
    ("request_line", "body", "extra", "outcome", "fragment"),
    BAD_REQUESTS,
    ids=[f"{line} {outcome} {fragment}" for line, _body, _extra, outcome, fragment in BAD_REQUESTS],
)
def test_bad_requests_get_a_4xx_that_names_the_field(seeded, request_line, body, extra, outcome, fragment):
    api = seeded
    method, path = request_line.split(" ", 1)
    if isinstance(body, str):
        resp = api(method, path, data=body.encode("utf-8", "surrogatepass"), content_type=extra)
    else:
        resp = api(method, path, body, query=extra)
    status, code = outcome.split()
    assert resp.status_code == int(status), resp.get_json()
    [error] = resp.get_json()["errors"]
    assert error["code"] == code
    assert fragment in error["message"]


def test_unknown_routes_and_methods_answer_in_the_same_shape(seeded):
    api = seeded
    for method, path, status in (("GET", "/nothing", 404), ("DELETE", "/users", 405), ("PUT", "/teams/web", 405)):
        resp = api.client.open("/api/v1" + path, method=method, headers=basic(*ROOT))
        assert resp.status_code == status
        assert resp.get_json()["errors"][0]["code"] in ("NOT_FOUND", "METHOD_NOT_ALLOWED")


# -- the log -------------------------------------------------------------------------
def test_changes_are_logged_with_who_did_them_and_no_secret(api, caplog):
    caplog.set_level(logging.INFO, logger="dockyard_auth")
    api.ok("POST", "/users", {"name": "alice", "password": "alice-password"}, 201)
    api.ok("PATCH", "/users/alice", {"password": "alice-password-2", "enabled": False})
    api.ok("POST", "/teams", {"name": "web", "managed": True}, 201)
    api.ok("PATCH", "/teams/web", {"managed": False})
    robot = api.ok("POST", "/robots", {"name": "ci", "api_admin": True}, 201)
    rotated = api.ok("POST", "/robots/ci/secret")
    api.ok("GET", "/users", auth=(robot["login"], rotated["secret"]))
    api.ok("DELETE", "/users/alice", status=204, auth=(robot["login"], rotated["secret"]))
    text = caplog.text
    assert "root created user 'alice'" in text
    assert "root changed user 'alice': password, enabled=False" in text
    assert "root created team 'web'" in text and "root changed team 'web': managed" in text
    assert "root created robot 'ci'" in text and "root rotated the secret of robot 'ci'" in text
    assert "robot+ci deleted user 'alice'" in text
    for secret in ("alice-password", robot["secret"], rotated["secret"], "$2b$"):
        assert secret not in text
