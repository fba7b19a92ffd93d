# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The admin REST API (mounted at /api/v1): users, teams, namespaces, robots, repositories, activities.

Every route but ``GET /openapi.json`` (the API's description, public) needs
HTTP Basic credentials of an admin user or of a robot (``robot+<name>``) whose
``api_admin`` is set; they are checked like the token endpoint's, with the
same throttling.

Conventions, the same on every route:

* Every call that changes something (POST, PUT, PATCH, DELETE) is sent with
  ``Content-Type: application/json``, with a body or without (415
  otherwise): no HTML form and no cross-site request a browser sends
  without asking first can carry that type, so a browser holding an
  admin's Basic credentials cannot be made to change anything.
* Bodies of POST, PUT and PATCH are JSON objects; unknown fields, wrong
  types, bad names and bad values are refused with 400.
* Lists take ``offset`` (default 0) and ``limit`` (default 50, at most 500)
  and answer ``{"items": [...], "total": N, "offset": o, "limit": l}``.
* Errors are ``{"errors": [{"code": ..., "message": ...}]}``; the message names
  the field at fault and says what to send instead.
* Times are RFC 3339 in UTC (``2024-05-01T12:00:00Z``).
* The global namespace (repositories without a '/' in their name) is called
  ``_global`` everywhere in the API: in paths, query parameters and bodies.
  No other namespace can be called that, as names cannot start with '_'.
* Password and secret hashes are never returned; a robot's secret is
  returned once, when it is made (created or rotated).
* A robot calling the API has a ceiling (see :mod:`dockyard_auth.ceiling`):
  403 for what lies above it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for

from dockyard_auth.authn import AuthFailed, BadRequest, Throttled, client_address, parse_basic
from dockyard_auth.ceiling import Change, Op, RobotCaller, refusal
from dockyard_auth.names import InvalidName, check_account_name, parse_repository, quote
from dockyard_auth.passwords import new_robot_secret, password_problem
from dockyard_auth.permissions import REPOSITORY_ACTIONS, ROBOT_PREFIX, Role, SubjectKind, Visibility
from dockyard_auth.store import GLOBAL, NotFound, Page, StoreError, utcnow

log = logging.getLogger("dockyard_auth")

GLOBAL_REF = "_global"  # the global namespace's name in the API
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 2**31 - 1
DESCRIPTION_MAX = 255  # the columns' size
ACTOR_MAX = 255
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="dockyard"'}
CHANGING_METHODS = ("POST", "PUT", "PATCH", "DELETE")
JSON_TYPES = {type(None): "null", bool: "true or false", int: "a number", float: "a number", str: "a string"}
RFC3339_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?:\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:\d{2})"
)


class ApiError(Exception):
    """Answered as ``{"errors": [{"code", "message"}]}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", message)


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    response = jsonify({"errors": [{"code": code, "message": message}]})
    response.status_code = status
    response.headers.extend(headers or {})
    return response


STORE_CODES = {400: "INVALID_REQUEST", 404: "NOT_FOUND", 409: "CONFLICT"}


# -- request bodies -------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One field of a request body: its JSON type and whether it must be given."""

    kind: type  # str, bool or list (a list of strings)
    required: bool = False
    nullable: bool = False


def json_type(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return JSON_TYPES.get(type(value), "a number")


def read_body(fields: dict[str, Field], *, empty_ok: bool = False) -> dict:
    """The request's JSON object, checked against ``fields``; raises ApiError (400 or 415)."""
    data = request.get_data(cache=True)
    if empty_ok and not data:
        return {}
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise invalid(f"the body is not valid JSON (UTF-8): {exc}") from exc
    if not isinstance(body, dict):
        example = ", ".join(f'"{name}": ...' for name in fields)
        raise invalid(f"the body must be a JSON object such as {{{example}}}, not {json_type(body)}")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        allowed = ", ".join(fields) or "none"
        raise invalid(f"unknown field {quote(unknown[0])}: this route takes the fields {allowed}")
    for name, spec in fields.items():
        if name in body:
            _check_field(name, spec, body[name])
        elif spec.required:
            raise invalid(f"field {name!r} is missing; it is required here")
    return body


def _check_field(name: str, spec: Field, value: Any) -> None:
    if value is None and spec.nullable:
        return
    if spec.kind is bool and not isinstance(value, bool):
        raise invalid(f"field {name!r} must be true or false, not {json_type(value)}")
    if spec.kind is str:
        _check_string(name, value)
    if spec.kind is list:
        if not isinstance(value, list):
            raise invalid(f"field {name!r} must be a list of strings, not {json_type(value)}")
        for item in value:
            _check_string(name, item, "every item of ")


def _check_string(name: str, value: Any, what: str = "") -> None:
    if not isinstance(value, str):
        raise invalid(f"{what}field {name!r} must be a string, not {json_type(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise invalid(f"{what}field {name!r} is not valid Unicode (a lone surrogate)") from exc


def require_changes(body: dict, fields: dict[str, Field]) -> None:
    if not body:
        raise invalid(f"nothing to change: give at least one of the fields {', '.join(fields)}")


def description_of(body: dict, default: str | None = None) -> str | None:
    value = body.get("description", default)
    if value is not None and len(value) > DESCRIPTION_MAX:
        raise invalid(f"field 'description' has {len(value)} characters; at most {DESCRIPTION_MAX} are allowed")
    return value


def check_password(value: str) -> str:
    problem = password_problem(value)
    if problem:
        raise invalid(f"field 'password' {problem}")
    return value


def enum_value(field: str, value: str, enum: type) -> Any:
    try:
        return enum(value)
    except ValueError as exc:
        choices = ", ".join(member.value for member in enum)
        raise invalid(f"field {field!r}: {quote(value)} is not one of {choices}") from exc


def actions_of(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - REPOSITORY_ACTIONS)
    if unknown:
        raise invalid(
            f"field 'actions': {', '.join(quote(a) for a in unknown)} unknown; use pull, push and delete "
            "(an empty list removes the grant)"
        )
    return sorted(set(value))


def parse_time(field: str, value: str | None) -> dt.datetime | None:
    """RFC 3339 with a zone (``Z`` or ``+hh:mm``) to naive UTC, to the second; None stays None."""
    if value is None:
        return None
    match = RFC3339_RE.fullmatch(value)
    hint = "use RFC 3339 with a time zone, e.g. 2030-01-31T12:00:00Z, or null for no expiry"
    if match is None:
        raise invalid(f"field {field!r}: {quote(value)} is not a time; {hint}")
    zone = "+00:00" if match["zone"] in ("Z", "z") else match["zone"]
    try:
        moment = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}{zone}")
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError) as exc:
        raise invalid(f"field {field!r}: {quote(value)} is not a valid time; {hint}") from exc
    if not 1000 <= moment.year <= 9999:  # noqa: PLR2004 - the range of a DATETIME column
        raise invalid(f"field {field!r}: {quote(value)} is out of range; use a year from 1000 to 9999")
    return moment


# -- names in paths, query strings and bodies -----------------------------------
def account_name(kind: str, value: str, where: str) -> str:
    try:
        return check_account_name(kind, value)
    except InvalidName as exc:
        raise ApiError(400, "NAME_INVALID", f"{where}: {exc}") from exc


def namespace_name(ref: str, where: str) -> str:
    """The stored name of a namespace given as in the API (``_global`` for the global one)."""
    return GLOBAL if ref == GLOBAL_REF else account_name("namespace", ref, where)


def namespace_ref(name: str) -> str:
    return GLOBAL_REF if name == GLOBAL else name


def repository_name(value: str, where: str) -> str:
    try:
        return parse_repository(value).full
    except InvalidName as exc:
        raise ApiError(400, "NAME_INVALID", f"{where}: {exc}") from exc


# -- query strings and pages -----------------------------------------------------
PAGE = ("offset", "limit")


def query(*known: str) -> dict[str, str]:
    """The query parameters, each at most once and all ``known`` to the route."""
    values = {}
    for key in request.args:
        if key not in known:
            takes = f"takes {', '.join(known)}" if known else "takes no query parameters"
            raise invalid(f"unknown query parameter {quote(key)}: this route {takes}")
        given = request.args.getlist(key)
        if len(given) > 1:
            raise invalid(f"query parameter {key!r} is given {len(given)} times; give it once")
        values[key] = given[0]
    return values


def page_window(args: dict[str, str]) -> tuple[int, int]:
    def number(key: str, default: int, low: int, high: int) -> int:
        text = args.get(key)
        if text is None:
            return default
        if not re.fullmatch(r"[0-9]{1,10}", text) or not low <= int(text) <= high:
            raise invalid(f"query parameter {key!r}: {quote(text)} is not a whole number from {low} to {high}")
        return int(text)

    return number("offset", 0, 0, MAX_OFFSET), number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def page_json(page: Page, render: Callable[[dict], dict]) -> Response:
    items = [render(item) for item in page.items]
    return jsonify({"items": items, "total": page.total, "offset": page.offset, "limit": page.limit})


def created(body: dict, location: str) -> Response:
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


def no_content() -> Response:
    return Response(status=204)


# -- what the API returns --------------------------------------------------------
def timestamp(value: dt.datetime | None) -> str | None:
    """A naive UTC time from the database as RFC 3339 with 'Z'."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def user_json(row: dict) -> dict:
    return {
        "name": row["name"],
        "admin": bool(row["admin"]),
        "enabled": bool(row["enabled"]),
        "managed": bool(row["managed"]),
        "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]),
        "password_changed_at": timestamp(row["password_changed_at"]),
    }


def team_json(row: dict) -> dict:
    return {
        "name": row["name"],
        "description": row["description"],
        "managed": bool(row["managed"]),
        "created_at": timestamp(row["created_at"]),
    }


def member_json(row: dict) -> dict:
    return {"user": row["user"], "role": row["role"]}


def namespace_json(row: dict) -> dict:
    return {
        "name": namespace_ref(row["name"]),
        "kind": row["kind"],
        "visibility": row["visibility"],
        "description": row["description"],
        "team": row["team"],
        "owner": row["owner"],
        "prefix": f"{row['name']}/" if row["name"] != GLOBAL else "",
        "managed": bool(row["managed"]),
        "created_at": timestamp(row["created_at"]),
    }


def robot_json(row: dict) -> dict:
    expires_at = row["expires_at"]
    return {
        "name": row["name"],
        "login": ROBOT_PREFIX + row["name"],
        "description": row["description"],
        "enabled": bool(row["enabled"]),
        "api_admin": bool(row["api_admin"]),
        "expires_at": timestamp(expires_at),
        "expired": expires_at is not None and expires_at <= utcnow(),
        "managed": bool(row["managed"]),
        "created_at": timestamp(row["created_at"]),
        "secret_changed_at": timestamp(row["secret_changed_at"]),
    }


def permission_json(row: dict) -> dict:
    return {"namespace": namespace_ref(row["namespace"]), "actions": row["actions"]}


def repository_json(row: dict) -> dict:
    try:
        namespace = parse_repository(row["name"]).namespace or GLOBAL
    except InvalidName:  # stored before the grammar was checked: shown, with its first component
        namespace = row["name"].split("/", 1)[0] if "/" in row["name"] else GLOBAL
    return {
        "name": row["name"],
        "namespace": namespace_ref(namespace),
        "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]),
    }


def tag_json(row: dict) -> dict:
    return {
        "name": row["name"],
        "digest": row["digest"],
        "media_type": row["media_type"],
        "updated_at": timestamp(row["updated_at"]),
    }


ACTIVITY_FIELDS = (
    "event_id", "action", "actor", "repository", "tag", "digest", "media_type",
    "source_addr", "source_instance", "request_id",
)  # fmt: skip


def activity_json(row: dict) -> dict:
    body = {key: row[key] for key in ACTIVITY_FIELDS}
    body["occurred_at"] = timestamp(row["occurred_at"])
    body["recorded_at"] = timestamp(row["recorded_at"])
    return body


# -- the blueprint ---------------------------------------------------------------
# ``managed`` (users, teams, namespaces, robots): set by the tools that declare the resource (the
# dockyard.registry.registry_access module); informational, the server does not act on it.
USER_CREATE = {
    "name": Field(str, required=True),
    "password": Field(str, required=True),
    "admin": Field(bool),
    "enabled": Field(bool),
    "managed": Field(bool),
}
USER_UPDATE = {"password": Field(str), "admin": Field(bool), "enabled": Field(bool), "managed": Field(bool)}
TEAM_CREATE = {"name": Field(str, required=True), "description": Field(str), "managed": Field(bool)}
TEAM_UPDATE = {"description": Field(str), "managed": Field(bool)}
MEMBER_CREATE = {"user": Field(str, required=True), "role": Field(str, required=True)}
MEMBER_UPDATE = {"role": Field(str, required=True)}
NAMESPACE_CREATE = {
    "name": Field(str, required=True),
    "team": Field(str, required=True),
    "visibility": Field(str, required=True),
    "description": Field(str),
    "managed": Field(bool),
}
NAMESPACE_UPDATE = {"visibility": Field(str), "description": Field(str), "team": Field(str), "managed": Field(bool)}
ROBOT_CREATE = {
    "name": Field(str, required=True),
    "description": Field(str),
    "api_admin": Field(bool),
    "expires_at": Field(str, nullable=True),
    "managed": Field(bool),
}
ROBOT_UPDATE = {
    "description": Field(str),
    "enabled": Field(bool),
    "api_admin": Field(bool),
    "expires_at": Field(str, nullable=True),
    "managed": Field(bool),
}
PERMISSION_SET = {"actions": Field(list, required=True)}


def create_api(server) -> Blueprint:
    """The admin API's routes, for ``server`` (an :class:`dockyard_auth.app.Server`)."""
    bp = Blueprint("api", __name__)
    store = server.store
    document = resources.files("dockyard_auth").joinpath("openapi.json").read_bytes()

    @bp.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @bp.errorhandler(StoreError)
    def _store_error(exc: StoreError):
        return error_response(exc.status, STORE_CODES.get(exc.status, "INVALID_REQUEST"), str(exc))

    @bp.before_request
    def _authorize() -> None:
        if request.endpoint == "api.openapi":
            return
        if request.method not in ("GET", "HEAD") and request.args:
            raise invalid(f"unknown query parameter {quote(next(iter(request.args)))}: {request.method} takes none")
        address = client_address(
            request.remote_addr, request.headers.get("X-Forwarded-For"), server.config.trusted_proxies
        )
        try:
            credentials = parse_basic(request.headers.get("Authorization"))
        except BadRequest as exc:
            raise ApiError(401, "UNAUTHORIZED", str(exc), BASIC_CHALLENGE) from exc
        if credentials is None:
            raise ApiError(
                401, "UNAUTHORIZED", "the admin API needs HTTP Basic credentials of an admin", BASIC_CHALLENGE
            )
        try:
            subject = server.authenticator.authenticate(credentials, address)
        except Throttled as exc:
            raise ApiError(429, "TOOMANYREQUESTS", str(exc), {"Retry-After": str(int(exc.retry_after) + 1)}) from exc
        except AuthFailed as exc:
            log.info("api refused: bad credentials for %s from %s", server.log_name(credentials.username, exc), address)
            raise ApiError(401, "UNAUTHORIZED", "invalid username or password", BASIC_CHALLENGE) from exc
        g.robot_caller = None
        if subject.kind == SubjectKind.USER and subject.admin:
            g.api_caller = subject.login
        elif subject.kind == SubjectKind.ROBOT and (robot := store.get_robot(subject.name)) and robot["api_admin"]:
            g.api_caller = subject.login
            grants = store.robot_permissions(robot["name"])
            grants = {namespace_ref(grant["namespace"]): frozenset(grant["actions"]) for grant in grants}
            g.robot_caller = RobotCaller(robot["name"], grants)
        else:
            log.info("api refused: %r is not an admin (%s %s)", subject.login, request.method, request.path)
            raise ApiError(
                403, "DENIED", f"{subject.login!r} may not use the admin API: it is for admins and api_admin robots"
            )
        if request.method in CHANGING_METHODS and request.mimetype != "application/json":
            given = repr(request.mimetype) if request.mimetype else "none"
            raise ApiError(
                415,
                "UNSUPPORTED",
                f"{request.method} needs 'Content-Type: application/json', with a body or without "
                f"(the type was {given})",
            )

    @bp.get("/openapi.json")
    def openapi():
        return Response(document, content_type="application/json")

    for routes in (_user_routes, _team_routes, _namespace_routes, _robot_routes, _record_routes):
        routes(bp, server)
    return bp


def caller() -> str:
    """Who is calling the API (for the log): a user name or ``robot+<name>``."""
    return g.api_caller


def admin_user(store, name: str) -> bool:
    row = store.get_user(name)
    return bool(row and row["admin"])


def api_admin_robot(store, name: str) -> bool:
    row = store.get_robot(name)
    return bool(row and row["api_admin"])


def within_ceiling(change: Change) -> None:
    """Refuse (403) a change above a calling robot's ceiling; admin users have none."""
    robot = g.get("robot_caller")
    reason = refusal(robot, change) if robot is not None else None
    if reason:
        log.info("api refused: %s", reason)
        raise ApiError(403, "DENIED", reason)


def _user_routes(bp: Blueprint, server) -> None:
    """The routes of users: a personal namespace comes and goes with each."""
    store, hasher = server.store, server.hasher

    def find_user(name: str) -> dict:
        row = store.get_user(account_name("user", name, "URL path"))
        if row is None:
            raise NotFound(f"no user {name!r}")
        return row

    @bp.get("/users")
    def list_users():
        offset, limit = page_window(query(*PAGE))
        return page_json(store.list_users(offset, limit), user_json)

    @bp.post("/users")
    def create_user():
        body = read_body(USER_CREATE)
        name = account_name("user", body["name"], "field 'name'")
        admin, enabled = body.get("admin", False), body.get("enabled", True)
        within_ceiling(Change(Op.CREATE_USER, name, makes_admin=admin))
        password_hash = hasher.hash(check_password(body["password"]))
        managed = body.get("managed", False)
        row = store.create_user(name, password_hash, admin=admin, enabled=enabled, managed=managed)
        log.info("api: %s created user %r (admin=%s, enabled=%s, managed=%s)", caller(), name, admin, enabled, managed)
        return created(user_json(row), url_for(".get_user", name=name))

    @bp.get("/users/<name>")
    def get_user(name: str):
        query()
        return jsonify(user_json(find_user(name)))

    @bp.patch("/users/<name>")
    def update_user(name: str):
        name = account_name("user", name, "URL path")
        body = read_body(USER_UPDATE)
        require_changes(body, USER_UPDATE)
        within_ceiling(
            Change(Op.UPDATE_USER, name, target_admin=admin_user(store, name), makes_admin=body.get("admin") is True)
        )
        password = body.get("password")
        password_hash = hasher.hash(check_password(password)) if password is not None else None
        row = store.update_user_keeping_an_admin(
            name,
            password_hash=password_hash,
            admin=body.get("admin"),
            enabled=body.get("enabled"),
            managed=body.get("managed"),
        )
        changes = [key if key == "password" else f"{key}={body[key]}" for key in body]
        log.info("api: %s changed user %r: %s", caller(), name, ", ".join(changes))
        return jsonify(user_json(row))

    @bp.delete("/users/<name>")
    def delete_user(name: str):
        name = account_name("user", name, "URL path")
        within_ceiling(Change(Op.DELETE_USER, name, target_admin=admin_user(store, name)))
        store.delete_user_keeping_an_admin(name)
        log.info("api: %s deleted user %r (and their personal namespace)", caller(), name)
        return no_content()


def _team_routes(bp: Blueprint, server) -> None:
    """The routes of teams and their members."""
    store = server.store

    def team_path(name: str) -> str:
        return account_name("team", name, "URL path")

    @bp.get("/teams")
    def list_teams():
        offset, limit = page_window(query(*PAGE))
        return page_json(store.list_teams(offset, limit), team_json)

    @bp.post("/teams")
    def create_team():
        body = read_body(TEAM_CREATE)
        name = account_name("team", body["name"], "field 'name'")
        row = store.create_team(name, description_of(body, ""), managed=body.get("managed", False))
        log.info("api: %s created team %r", caller(), name)
        return created(team_json(row), url_for(".get_team", name=name))

    @bp.get("/teams/<name>")
    def get_team(name: str):
        query()
        row = store.get_team(team_path(name))
        if row is None:
            raise NotFound(f"no team {name!r}")
        return jsonify(team_json(row))

    @bp.patch("/teams/<name>")
    def update_team(name: str):
        name = team_path(name)
        body = read_body(TEAM_UPDATE)
        require_changes(body, TEAM_UPDATE)
        row = store.update_team(name, description_of(body), body.get("managed"))
        log.info("api: %s changed team %r: %s", caller(), name, ", ".join(sorted(body)))
        return jsonify(team_json(row))

    @bp.delete("/teams/<name>")
    def delete_team(name: str):
        name = team_path(name)
        store.delete_team(name)
        log.info("api: %s deleted team %r", caller(), name)
        return no_content()

    @bp.get("/teams/<name>/members")
    def list_members(name: str):
        offset, limit = page_window(query(*PAGE))
        return page_json(store.list_members(team_path(name), offset, limit), member_json)

    @bp.post("/teams/<name>/members")
    def add_member(name: str):
        name = team_path(name)
        body = read_body(MEMBER_CREATE)
        user = account_name("user", body["user"], "field 'user'")
        role = enum_value("role", body["role"], Role)
        if store.get_member(name, user) is not None:
            raise ApiError(
                409,
                "CONFLICT",
                f"field 'user': {user!r} is a member of team {name!r} already; "
                f"change the role with PUT /api/v1/teams/{name}/members/{user}",
            )
        row = store.set_member(name, user, role)
        log.info("api: %s added %r to team %r as %s", caller(), user, name, role.value)
        return created(row, url_for(".set_member", name=name, user=user))

    @bp.put("/teams/<name>/members/<user>")
    def set_member(name: str, user: str):
        name, user = team_path(name), account_name("user", user, "URL path")
        role = enum_value("role", read_body(MEMBER_UPDATE)["role"], Role)
        new = store.get_member(name, user) is None
        row = store.set_member(name, user, role)
        log.info("api: %s made %r %s of team %r", caller(), user, role.value, name)
        if new:
            return created(row, url_for(".set_member", name=name, user=user))
        return jsonify(row)

    @bp.delete("/teams/<name>/members/<user>")
    def remove_member(name: str, user: str):
        name, user = team_path(name), account_name("user", user, "URL path")
        store.remove_member(name, user)
        log.info("api: %s removed %r from team %r", caller(), user, name)
        return no_content()


def _namespace_routes(bp: Blueprint, server) -> None:
    """The routes of namespaces (``_global`` for the global one)."""
    store = server.store

    def team_field(body: dict) -> str | None:
        """The ``team`` field's team, which must exist (400 naming the field if not)."""
        if body.get("team") is None:
            return None
        team = account_name("team", body["team"], "field 'team'")
        if store.get_team(team) is None:
            raise invalid(f"field 'team': no team {team!r}; create it first with POST /api/v1/teams")
        return team

    @bp.get("/namespaces")
    def list_namespaces():
        offset, limit = page_window(query(*PAGE))
        return page_json(store.list_namespaces(offset, limit), namespace_json)

    @bp.post("/namespaces")
    def create_namespace():
        body = read_body(NAMESPACE_CREATE)
        name = account_name("namespace", body["name"], "field 'name'")
        visibility = enum_value("visibility", body["visibility"], Visibility)
        row = store.create_namespace(
            name, team_field(body), visibility, description_of(body, ""), managed=body.get("managed", False)
        )
        log.info("api: %s created namespace %r for team %r (%s)", caller(), name, body["team"], visibility.value)
        return created(namespace_json(row), url_for(".get_namespace", name=name))

    @bp.get("/namespaces/<name>")
    def get_namespace(name: str):
        query()
        row = store.get_namespace(namespace_name(name, "URL path"))
        if row is None:
            raise NotFound(f"no namespace {name!r}")
        return jsonify(namespace_json(row))

    @bp.patch("/namespaces/<name>")
    def update_namespace(name: str):
        stored = namespace_name(name, "URL path")
        body = read_body(NAMESPACE_UPDATE)
        require_changes(body, NAMESPACE_UPDATE)
        if stored == GLOBAL and "team" in body:
            raise invalid("field 'team': the global namespace belongs to no team; leave the field out")
        visibility = enum_value("visibility", body["visibility"], Visibility) if "visibility" in body else None
        row = store.update_namespace(
            stored, visibility, description_of(body), team_field(body), managed=body.get("managed")
        )
        log.info("api: %s changed namespace %r: %s", caller(), name, ", ".join(sorted(body)))
        return jsonify(namespace_json(row))

    @bp.delete("/namespaces/<name>")
    def delete_namespace(name: str):
        stored = namespace_name(name, "URL path")
        if stored == GLOBAL:
            raise ApiError(409, "CONFLICT", "the global namespace (_global) is always there: it cannot be deleted")
        store.delete_namespace(stored)
        log.info("api: %s deleted namespace %r", caller(), name)
        return no_content()


def _robot_routes(bp: Blueprint, server) -> None:
    """The routes of robots, their secrets and their grants."""
    store, hasher = server.store, server.hasher

    def robot_path(name: str) -> str:
        return account_name("robot", name, "URL path")

    @bp.get("/robots")
    def list_robots():
        offset, limit = page_window(query(*PAGE))
        return page_json(store.list_robots(offset, limit), robot_json)

    @bp.post("/robots")
    def create_robot():
        body = read_body(ROBOT_CREATE)
        name = account_name("robot", body["name"], "field 'name'")
        description = description_of(body, "")
        expires_at = parse_time("expires_at", body.get("expires_at"))
        api_admin = body.get("api_admin", False)
        within_ceiling(Change(Op.CREATE_ROBOT, name, makes_admin=api_admin))
        secret = new_robot_secret()
        row = store.create_robot(
            name,
            hasher.hash(secret),
            description,
            api_admin=api_admin,
            expires_at=expires_at,
            managed=body.get("managed", False),
        )
        log.info("api: %s created robot %r (api_admin=%s)", caller(), name, api_admin)
        return created({**robot_json(row), "secret": secret}, url_for(".get_robot", name=name))

    @bp.get("/robots/<name>")
    def get_robot(name: str):
        query()
        row = store.get_robot(robot_path(name))
        if row is None:
            raise NotFound(f"no robot {name!r}")
        return jsonify(robot_json(row))

    @bp.patch("/robots/<name>")
    def update_robot(name: str):
        name = robot_path(name)
        body = read_body(ROBOT_UPDATE)
        require_changes(body, ROBOT_UPDATE)
        within_ceiling(
            Change(
                Op.UPDATE_ROBOT,
                name,
                target_admin=api_admin_robot(store, name),
                makes_admin=body.get("api_admin") is True,
            )
        )
        changes = {key: body[key] for key in ("enabled", "api_admin", "managed") if key in body}
        if "description" in body:
            changes["description"] = description_of(body)
        if "expires_at" in body:
            changes["expires_at"] = parse_time("expires_at", body["expires_at"])
        row = store.update_robot(name, **changes)
        log.info("api: %s changed robot %r: %s", caller(), name, ", ".join(sorted(body)))
        return jsonify(robot_json(row))

    @bp.delete("/robots/<name>")
    def delete_robot(name: str):
        name = robot_path(name)
        within_ceiling(Change(Op.DELETE_ROBOT, name, target_admin=api_admin_robot(store, name)))
        store.delete_robot(name)
        log.info("api: %s deleted robot %r", caller(), name)
        return no_content()

    @bp.post("/robots/<name>/secret")
    def rotate_secret(name: str):
        name = robot_path(name)
        read_body({}, empty_ok=True)
        within_ceiling(Change(Op.ROTATE_SECRET, name))
        secret = new_robot_secret()
        row = store.update_robot(name, secret_hash=hasher.hash(secret))
        log.info("api: %s rotated the secret of robot %r", caller(), name)
        return jsonify({**robot_json(row), "secret": secret})

    @bp.get("/robots/<name>/permissions")
    def list_permissions(name: str):
        offset, limit = page_window(query(*PAGE))
        grants = store.robot_permissions(robot_path(name))
        return page_json(Page(grants[offset : offset + limit], len(grants), offset, limit), permission_json)

    @bp.put("/robots/<name>/permissions/<namespace>")
    def set_permission(name: str, namespace: str):
        name, stored = robot_path(name), namespace_name(namespace, "URL path")
        actions = actions_of(read_body(PERMISSION_SET)["actions"])
        within_ceiling(
            Change(Op.SET_GRANT, name, api_admin_robot(store, name), namespace=namespace, actions=frozenset(actions))
        )
        row = store.set_robot_permission(name, stored, actions)
        log.info("api: %s granted robot %r on namespace %r: %s", caller(), name, namespace, ",".join(actions) or "-")
        return jsonify(permission_json(row))

    @bp.delete("/robots/<name>/permissions/<namespace>")
    def delete_permission(name: str, namespace: str):
        name, stored = robot_path(name), namespace_name(namespace, "URL path")
        within_ceiling(Change(Op.DELETE_GRANT, name, api_admin_robot(store, name), namespace=namespace))
        if not any(grant["namespace"] == stored for grant in store.robot_permissions(name)):
            raise NotFound(f"robot {name!r} has no grant on namespace {namespace!r}")
        store.set_robot_permission(name, stored, [])
        log.info("api: %s removed robot %r's grant on namespace %r", caller(), name, namespace)
        return no_content()


def _record_routes(bp: Blueprint, server) -> None:
    """The routes of repositories, tags and activities, as recorded from the registry's notifications and the sync."""
    store = server.store

    @bp.get("/repositories")
    def list_repositories():
        args = query(*PAGE, "namespace")
        offset, limit = page_window(args)
        namespace = namespace_name(args["namespace"], "query parameter 'namespace'") if "namespace" in args else None
        return page_json(store.list_repositories(offset, limit, namespace), repository_json)

    @bp.get("/repositories/<path:name>")
    def get_repository(name: str):
        query()
        row = store.get_repository(repository_name(name, "URL path"))
        if row is None:
            raise NotFound(f"no repository {name!r}")
        return jsonify(repository_json(row))

    @bp.get("/repositories/<path:name>/tags")
    def list_tags(name: str):
        offset, limit = page_window(query(*PAGE))
        return page_json(store.list_tags(repository_name(name, "URL path"), offset, limit), tag_json)

    @bp.get("/activities")
    def list_activities():
        args = query(*PAGE, "repository", "actor")
        offset, limit = page_window(args)
        repository = args.get("repository")
        if repository is not None:
            repository = repository_name(repository, "query parameter 'repository'")
        actor = args.get("actor")
        if actor is not None:
            # An unencoded '+' in a query string reads as a space, and no name holds one:
            # ?actor=robot+ci means the robot robot+ci.
            actor = actor.replace(" ", "+")
        if actor is not None and not 0 < len(actor) <= ACTOR_MAX:
            raise invalid(f"query parameter 'actor': give a user name or robot+<name>, 1 to {ACTOR_MAX} characters")
        return page_json(store.list_activities(offset, limit, repository, actor), activity_json)
