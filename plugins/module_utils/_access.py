# Copyright: Dockyard contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Access on a dockyard-auth server as data: check what is declared, plan the API calls, predict the result.

Pure logic without I/O: the module reads the server's state through the admin
API (see `_auth_api`), passes it here as a `State`, and sends the `Call`s that
`plan` returns, in their order. Private to the collection: the interface may
change without notice.

The order of a plan: users created, users updated (those that take admin or
enabled away last, so an admin always remains), teams created and updated,
members set, members removed, namespaces created and updated, robots created
and updated, grants set and removed, secrets rotated; then what `exclusive`
removes: robots, namespaces, teams, users. So every name a call refers to
exists when the call is sent, and a namespace moves to its new team before its
old team goes.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote as url_quote

GLOBAL = "_global"  # the global namespace's name in the API
ROBOT_PREFIX = "robot+"
KINDS = ("users", "teams", "namespaces", "robots")
ROLES = ("viewer", "contributor", "owner")
VISIBILITIES = ("private", "protected", "public")
ACTIONS = ("pull", "push", "delete")
ALWAYS = "always"  # noqa: S105 - update_password's policy, not a password
UPDATE_PASSWORD = (ALWAYS, "on_create")
HIDDEN = "(hidden)"

# The server's account grammar (services/auth names.py, check_account_name): one repository path component,
# 2 to 64 characters, without '.', and not 'localhost' (either would read as a registry host).
NAME_MIN = 2
NAME_MAX = 64
NAME_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
NAME_RULE = f"use {NAME_MIN} to {NAME_MAX} lowercase letters and digits, with '_', '__' or a run of '-' between them"
DESCRIPTION_MAX = 255
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 256
PASSWORD_MAX_BYTES = 72  # bcrypt reads no further
RFC3339_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?:\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:\d{2})"
)
QUOTE_MAX = 80
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "none", "~"}


def quote(value) -> str:
    """`value` quoted for a message, cut to 80 characters."""
    text = str(value)
    return repr(text if len(text) <= QUOTE_MAX else text[:QUOTE_MAX] + "...")


def name_problem(name) -> str | None:
    """Why `name` cannot name a user, team, namespace or robot on the server (None when it can)."""
    if not isinstance(name, str) or not name:
        return f"the name is empty; {NAME_RULE}"
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return f"the name has {len(name)} characters; {NAME_RULE}"
    if not NAME_RE.fullmatch(name) or "." in name:
        return f"the name is not valid; {NAME_RULE}"
    if name == "localhost":
        return f"the name 'localhost' is reserved (a registry reads it as a host name); {NAME_RULE}"
    return None


def password_problem(value: str) -> str | None:
    """Why the server would refuse `value` as a password (None when it would take it)."""
    if not PASSWORD_MIN_CHARS <= len(value) <= PASSWORD_MAX_CHARS:
        return f"the password has {len(value)} characters; use {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS}"
    if "\0" in value:
        return "the password contains a NUL character, which bcrypt cannot hash; leave it out"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "the password is not valid Unicode"
    if size > PASSWORD_MAX_BYTES:
        return f"the password is {size} bytes in UTF-8; bcrypt uses at most {PASSWORD_MAX_BYTES}: use a shorter one"
    return None


def normalize_time(value: str) -> str:
    """An RFC 3339 time as the server returns it: UTC, to the second, with 'Z'; ValueError says what is wrong."""
    match = RFC3339_RE.fullmatch(value)
    hint = "use RFC 3339 with a time zone, e.g. 2030-01-31T12:00:00Z, or leave it out (null) for no expiry"
    if match is None:
        raise ValueError(f"expires_at {quote(value)} is not a time; {hint}")
    zone = "+00:00" if match["zone"] in ("Z", "z") else match["zone"]
    try:
        moment = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}{zone}").astimezone(dt.timezone.utc)  # noqa: UP017 - targets may run Python < 3.11
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"expires_at {quote(value)} is not a valid time; {hint}") from exc
    if not 1000 <= moment.year <= 9999:
        raise ValueError(f"expires_at {quote(value)} is out of range; use a year from 1000 to 9999")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def api_path(*parts: str) -> str:
    """A path below the API's base, each part quoted: api_path('teams', 'web') is '/teams/web'."""
    return "".join("/" + url_quote(str(part), safe="") for part in parts)


# ---------------------------------------------------------------- what is declared


def _user(item: Mapping) -> dict:
    return {
        "name": item.get("name"),
        "password": item.get("password"),
        "admin": bool(item.get("admin", False)),
        "enabled": bool(item.get("enabled", True)),
    }


def _team(item: Mapping) -> dict:
    members = [{"user": m.get("user"), "role": m.get("role", "viewer")} for m in item.get("members") or []]
    return {"name": item.get("name"), "description": item.get("description") or "", "members": members}


def _namespace(item: Mapping) -> dict:
    return {
        "name": item.get("name"),
        "team": item.get("team"),
        "visibility": item.get("visibility") or "private",
        "description": item.get("description") or "",
    }


def _robot(item: Mapping) -> dict:
    grants = [
        {"namespace": g.get("namespace"), "actions": list(g.get("actions") or [])} for g in item.get("grants") or []
    ]
    return {
        "name": item.get("name"),
        "description": item.get("description") or "",
        "api_admin": bool(item.get("api_admin", False)),
        "expires_at": item.get("expires_at"),
        "enabled": bool(item.get("enabled", True)),
        "grants": grants,
    }


@dataclass
class Desired:
    """What the module's options declare, with every default filled in."""

    users: list[dict] = field(default_factory=list)
    teams: list[dict] = field(default_factory=list)
    namespaces: list[dict] = field(default_factory=list)
    robots: list[dict] = field(default_factory=list)
    exclusive: dict[str, bool] = field(default_factory=dict)
    update_password: str = ALWAYS
    caller: str = ""  # api_username: a user's name or robot+<name>
    service: str | None = None
    rotate: list[str] = field(default_factory=list)

    @classmethod
    def from_params(cls, params: Mapping) -> Desired:
        exclusive = params.get("exclusive") or {}
        return cls(
            users=[_user(item) for item in params.get("users") or []],
            teams=[_team(item) for item in params.get("teams") or []],
            namespaces=[_namespace(item) for item in params.get("namespaces") or []],
            robots=[_robot(item) for item in params.get("robots") or []],
            exclusive={kind: bool(exclusive.get(kind)) for kind in KINDS},
            update_password=params.get("update_password") or "always",
            caller=params.get("api_username") or "",
            service=params.get("service"),
            rotate=list(dict.fromkeys(params.get("rotate_robot_secrets") or [])),
        )

    def names(self, kind: str) -> list[str]:
        return [item["name"] for item in getattr(self, kind)]

    def scope(self) -> list[str]:
        """The kinds this run manages: listed, made exclusive, or (robots) with secrets to rotate."""
        wanted = [kind for kind in KINDS if getattr(self, kind) or self.exclusive.get(kind)]
        if self.rotate and "robots" not in wanted:
            wanted.append("robots")
        return wanted

    def caller_user(self) -> str | None:
        return None if self.caller.startswith(ROBOT_PREFIX) else self.caller

    def caller_robot(self) -> str | None:
        return self.caller[len(ROBOT_PREFIX) :] if self.caller.startswith(ROBOT_PREFIX) else None


# ---------------------------------------------------------------- what the server has


@dataclass
class State:
    """The server's users, teams (with members), namespaces and robots (with grants), keyed by name.

    users: {admin, enabled, managed}; teams: {description, managed, members: {user: role}};
    namespaces: {kind, team, owner, visibility, description, managed}; robots: {description, enabled,
    api_admin, expires_at, managed, grants: {namespace: [actions]}}.
    """

    users: dict[str, dict] = field(default_factory=dict)
    teams: dict[str, dict] = field(default_factory=dict)
    namespaces: dict[str, dict] = field(default_factory=dict)
    robots: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_api(
        cls,
        users: list[dict],
        teams: list[dict],
        namespaces: list[dict],
        robots: list[dict],
        members: Mapping[str, list[dict]] | None = None,
        grants: Mapping[str, list[dict]] | None = None,
    ) -> State:
        """The state from the API's list items; members and grants keyed by team and robot (missing: none)."""
        members, grants = members or {}, grants or {}
        return cls(
            users={
                u["name"]: {
                    "admin": bool(u.get("admin")),
                    "enabled": bool(u.get("enabled")),
                    "managed": u.get("managed"),
                }
                for u in users
            },
            teams={
                t["name"]: {
                    "description": t.get("description") or "",
                    "managed": t.get("managed"),
                    "members": {m["user"]: m["role"] for m in members.get(t["name"], [])},
                }
                for t in teams
            },
            namespaces={
                n["name"]: {
                    "kind": n.get("kind") or ("global" if n["name"] == GLOBAL else "team"),
                    "team": n.get("team"),
                    "owner": n.get("owner"),
                    "visibility": n.get("visibility"),
                    "description": n.get("description") or "",
                    "managed": n.get("managed"),
                }
                for n in namespaces
            },
            robots={
                r["name"]: {
                    "description": r.get("description") or "",
                    "enabled": bool(r.get("enabled")),
                    "api_admin": bool(r.get("api_admin")),
                    "expires_at": r.get("expires_at"),
                    "managed": r.get("managed"),
                    "grants": {g["namespace"]: sorted(g["actions"]) for g in grants.get(r["name"], []) if g["actions"]},
                }
                for r in robots
            },
        )


# ---------------------------------------------------------------- checks


def _label(kind: str, index: int, name) -> str:
    return f"{kind}[{index}] {quote(name)}" if isinstance(name, str) and name else f"{kind}[{index}]"


def _duplicates(kind: str, names: list) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for index, name in enumerate(names):
        if name in seen:
            problems.append(f"{_label(kind, index, name)}: listed twice (also {kind}[{seen[name]}]); list it once")
        else:
            seen[name] = index
    return problems


def _description_problem(value) -> str | None:
    if len(value) > DESCRIPTION_MAX:
        return f"the description has {len(value)} characters; at most {DESCRIPTION_MAX} are allowed"
    return None


def check_input(desired: Desired) -> list[str]:
    """Every problem of the declaration alone, one line each naming the item (empty: none)."""
    problems: list[str] = []
    for kind in KINDS:
        for index, item in enumerate(getattr(desired, kind)):
            name = item["name"]
            if kind == "namespaces" and name == GLOBAL:
                continue
            problem = name_problem(name)
            if problem:
                problems.append(f"{_label(kind, index, name)}: {problem}")
        problems += _duplicates(kind, desired.names(kind))
    problems += _check_users(desired)
    problems += _check_teams(desired)
    problems += _check_namespaces(desired)
    problems += _check_robots(desired)
    for name in desired.rotate:
        problem = name_problem(name)
        if problem:
            problems.append(f"rotate_robot_secrets {quote(name)}: {problem}")
    if desired.update_password not in UPDATE_PASSWORD:
        problems.append(f"update_password {quote(desired.update_password)}: use always or on_create")
    return problems


def _check_users(desired: Desired) -> list[str]:
    problems = []
    for index, user in enumerate(desired.users):
        label = _label("users", index, user["name"])
        if user["password"] is not None:
            problem = password_problem(user["password"])
            if problem:
                problems.append(f"{label}: {problem}")
    if desired.update_password == ALWAYS and not desired.service and any(u["password"] for u in desired.users):
        problems.append(
            "service is not set: with update_password=always each listed password is checked at the token "
            "endpoint, which needs the registry's service name (its auth.token.service); set service, or "
            "update_password=on_create"
        )
    return problems


def _check_teams(desired: Desired) -> list[str]:
    problems = []
    for index, team in enumerate(desired.teams):
        label = _label("teams", index, team["name"])
        problem = _description_problem(team["description"])
        if problem:
            problems.append(f"{label}: {problem}")
        seen = set()
        for member in team["members"]:
            user, role = member["user"], member["role"]
            problem = name_problem(user)
            if problem:
                problems.append(f"{label}: member {quote(user)}: {problem}")
            elif user in seen:
                problems.append(f"{label}: member {quote(user)} is listed twice; list each member once")
            seen.add(user)
            if role not in ROLES:
                problems.append(f"{label}: member {quote(user)}: role {quote(role)} is not one of {', '.join(ROLES)}")
    return problems


def _check_namespaces(desired: Desired) -> list[str]:
    problems = []
    for index, namespace in enumerate(desired.namespaces):
        label = _label("namespaces", index, namespace["name"])
        team = namespace["team"]
        if namespace["name"] == GLOBAL:
            if team is not None:
                problems.append(f"{label}: the global namespace belongs to no team; leave team out")
        elif team is None:
            problems.append(f"{label}: team is missing; every namespace but _global belongs to a team")
        elif name_problem(team):
            problems.append(f"{label}: team {quote(team)}: {name_problem(team)}")
        if namespace["visibility"] not in VISIBILITIES:
            problems.append(
                f"{label}: visibility {quote(namespace['visibility'])} is not one of {', '.join(VISIBILITIES)}"
            )
        problem = _description_problem(namespace["description"])
        if problem:
            problems.append(f"{label}: {problem}")
    return problems


def _check_robots(desired: Desired) -> list[str]:
    problems = []
    for index, robot in enumerate(desired.robots):
        label = _label("robots", index, robot["name"])
        problem = _description_problem(robot["description"])
        if problem:
            problems.append(f"{label}: {problem}")
        if robot["expires_at"] is not None:
            try:
                normalize_time(robot["expires_at"])
            except ValueError as exc:
                problems.append(f"{label}: {exc}")
        seen = set()
        for grant in robot["grants"]:
            namespace, actions = grant["namespace"], grant["actions"]
            where = f"{label}: grant on {quote(namespace)}"
            problem = None if namespace == GLOBAL else name_problem(namespace)
            if problem:
                problems.append(f"{where}: {problem}")
            elif namespace in seen:
                problems.append(f"{where}: listed twice; give each namespace one grant with all its actions")
            seen.add(namespace)
            unknown = [action for action in actions if action not in ACTIONS]
            if unknown:
                problems.append(f"{where}: {', '.join(quote(a) for a in unknown)} unknown; use pull, push and delete")
            elif not actions:
                problems.append(f"{where}: no actions; give at least one of pull, push, delete, or leave the grant out")
    return problems


@dataclass(frozen=True)
class _After:
    """The names that exist once the plan has run (for the checks that need the server's state)."""

    users: set
    teams: set
    robots: set
    namespaces: set  # team namespaces, personal namespaces and _global
    kept_namespaces: set  # the server's team namespaces that stay
    removed_teams: set


def _after(desired: Desired, state: State) -> _After:
    exclusive = desired.exclusive
    users = set(desired.names("users")) | (set() if exclusive.get("users") else set(state.users))
    teams = set(desired.names("teams")) | (set() if exclusive.get("teams") else set(state.teams))
    robots = set(desired.names("robots")) | (set() if exclusive.get("robots") else set(state.robots))
    kept = {name for name, row in state.namespaces.items() if row["kind"] == "team" and not exclusive.get("namespaces")}
    namespaces = set(desired.names("namespaces")) | kept | users | {GLOBAL}
    return _After(users, teams, robots, namespaces, kept, set(state.teams) - teams)


def check_with_state(desired: Desired, state: State) -> list[str]:
    """Every problem of the declaration against the server's state, one line each (empty: none).

    Run after `check_input`: names are assumed valid here.
    """
    after = _after(desired, state)
    problems = _check_caller(desired, state, after)
    problems += _check_new_users(desired, state, after)
    problems += _check_members(desired, state, after)
    problems += _check_namespace_teams(desired, state, after)
    problems += _check_grants(desired, state, after)
    for name in desired.rotate:
        if name not in after.robots:
            problems.append(f"rotate_robot_secrets {quote(name)}: no such robot; list it in robots or remove it here")
    return problems


def _check_new_users(desired: Desired, state: State, after: _After) -> list[str]:
    problems = []
    for index, user in enumerate(desired.users):
        label = _label("users", index, user["name"])
        if user["name"] in state.users:
            continue
        if user["password"] is None:
            problems.append(f"{label}: the user does not exist yet and has no password; give it one to create it")
        if user["name"] in after.kept_namespaces:
            problems.append(
                f"{label}: the server has a namespace called {quote(user['name'])}, and a user's personal "
                "namespace takes the user's name; choose another user name"
            )
    return problems


def _unknown_reference(where: str, kind: str, name: str, kept: set, existing, fix: str) -> list[str]:
    """Why a reference to the user, team or namespace `name` would not hold after the run (empty if it would).

    `kept` is what exists after the run; `existing` what the server has now (then exclusive would remove it).
    """
    if name in kept:
        return []
    if name in existing:
        return [
            f"{where} {quote(name)} is not listed in {kind}s, and exclusive.{kind}s removes every {kind} not listed; "
            f"{fix}"
        ]
    return [f"{where} {quote(name)} is not a {kind}; {fix}"]


def _check_members(desired: Desired, state: State, after: _After) -> list[str]:
    problems = []
    for index, team in enumerate(desired.teams):
        label = _label("teams", index, team["name"])
        for member in team["members"]:
            problems += _unknown_reference(
                f"{label}: member", "user", member["user"], after.users, state.users,
                "list the user in users or remove the member",
            )  # fmt: skip
    return problems


def _check_namespace_teams(desired: Desired, state: State, after: _After) -> list[str]:
    problems = []
    users = set(desired.names("users")) | set(state.users)
    for index, namespace in enumerate(desired.namespaces):
        name, team = namespace["name"], namespace["team"]
        label = _label("namespaces", index, name)
        if name == GLOBAL:
            continue
        existing = state.namespaces.get(name)
        if name in users or (existing and existing["kind"] != "team"):
            problems.append(
                f"{label}: {quote(name)} is the personal namespace of the user of that name; choose another name"
            )
        if team is None:  # a missing team is a problem of check_input
            continue
        problems += _unknown_reference(
            f"{label}: team", "team", team, after.teams, state.teams,
            "list the team in teams or give the namespace another team",
        )  # fmt: skip
    for name in sorted(after.kept_namespaces - set(desired.names("namespaces"))):
        team = state.namespaces[name]["team"]
        if team in after.removed_teams:
            problems.append(
                f"exclusive.teams removes team {quote(team)}, which owns namespace {quote(name)}: list the "
                "team in teams, list the namespace in namespaces with another team, or set exclusive.namespaces"
            )
    return problems


def _check_grants(desired: Desired, state: State, after: _After) -> list[str]:
    problems = []
    for index, robot in enumerate(desired.robots):
        label = _label("robots", index, robot["name"])
        for grant in robot["grants"]:
            problems += _unknown_reference(
                f"{label}: grant on namespace", "namespace", grant["namespace"], after.namespaces, state.namespaces,
                "list it in namespaces or remove the grant",
            )  # fmt: skip
    return problems


def _check_caller(desired: Desired, state: State, after: _After) -> list[str]:
    """The API user must stay able to call the API, and an enabled admin must remain."""
    problems = []
    caller_user, caller_robot = desired.caller_user(), desired.caller_robot()
    who = f"{quote(desired.caller)}, which this module logs in as (api_username)"
    if caller_user and caller_user not in after.users:
        problems.append(f"exclusive.users would remove the user {who}; list it in users")
    if caller_robot and caller_robot not in after.robots:
        problems.append(f"exclusive.robots would remove the robot {who}; list it in robots")
    for index, user in enumerate(desired.users):
        if user["name"] == caller_user and not (user["admin"] and user["enabled"]):
            problems.append(
                f"{_label('users', index, user['name'])}: admin false or enabled false would lock out the user {who}; "
                "set admin and enabled to true"
            )
    for index, robot in enumerate(desired.robots):
        if robot["name"] == caller_robot and not (robot["api_admin"] and robot["enabled"]):
            problems.append(
                f"{_label('robots', index, robot['name'])}: api_admin false or enabled false would lock out the robot "
                f"{who}; set api_admin and enabled to true"
            )
    flags = {name: (row["admin"], row["enabled"]) for name, row in state.users.items()}
    flags.update({user["name"]: (user["admin"], user["enabled"]) for user in desired.users})
    kept = after.users | ({caller_user} if caller_user else set())  # a caller removed is reported above
    if not any(flags.get(name) == (True, True) for name in kept):
        problems.append("no enabled admin would be left; list at least one user with admin and enabled true")
    return problems


def passwords_to_check(desired: Desired, state: State) -> list[str]:
    """The listed users whose password must be checked at the token endpoint before `plan`.

    With update_password=always: every listed user with a password who exists and is enabled now. A disabled
    user's password cannot be checked (the server refuses even the right one), see `plan`.
    """
    if desired.update_password != ALWAYS:
        return []
    return [
        user["name"]
        for user in desired.users
        if user["password"] is not None and state.users.get(user["name"], {}).get("enabled")
    ]


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Call:
    """One call of the admin API: method, path below the base, JSON body; what it does, for people and for `apply`.

    kind: user, team, member, namespace, robot, grant or secret; op: create, update, set, remove or rotate;
    target: the names it is about (a member: team and user; a grant: robot and namespace).
    """

    method: str
    path: str
    body: dict | None
    action: str
    kind: str
    op: str
    target: tuple

    @property
    def makes_secret(self) -> str | None:
        """The robot whose new secret the answer carries, or None."""
        if (self.kind, self.op) in (("robot", "create"), ("secret", "rotate")):
            return self.target[0]
        return None

    @property
    def sets_password(self) -> bool:
        return self.kind == "user" and bool(self.body) and "password" in self.body

    def __repr__(self) -> str:  # never a password in a test's or a traceback's output
        body = self.body if not self.sets_password else {**self.body, "password": HIDDEN}
        return f"Call({self.method} {self.path} {body})"


def _changes(wanted: Mapping, current: Mapping, keys) -> dict:
    return {key: wanted[key] for key in keys if current.get(key) != wanted[key]}


def _describe(changes: Mapping) -> str:
    parts = []
    for key, value in changes.items():
        if key == "password":
            parts.append("password")
        else:
            parts.append(f"{key} {_scalar(value)}")
    return ", ".join(parts)


def plan(desired: Desired, state: State, password_ok: Mapping[str, bool | None] | None = None) -> list[Call]:
    """The ordered calls that make the server hold what `desired` declares; empty when it does.

    `password_ok` has the token endpoint's verdict for the users of `passwords_to_check`: True (right),
    False (wrong) or None (unknown, e.g. throttled). A password is sent for a user created now; with
    update_password=always also for an existing user whose password is not known to be right, and for a
    disabled user who is enabled now (whose password could not be checked). A user who stays disabled keeps
    the password the server has.
    """
    password_ok = password_ok or {}
    calls: list[Call] = []
    calls += _user_calls(desired, state, password_ok)
    calls += _team_calls(desired, state)
    calls += _namespace_calls(desired, state)
    calls += _robot_calls(desired, state)
    calls += removals(desired, state)
    return calls


def _user_calls(desired: Desired, state: State, password_ok: Mapping) -> list[Call]:
    created, raising, lowering = [], [], []
    for user in desired.users:
        name, current = user["name"], state.users.get(user["name"])
        if current is None:
            body = {"name": name, "password": user["password"], "admin": user["admin"], "enabled": user["enabled"]}
            body["managed"] = True
            created.append(Call("POST", "/users", body, f"create user {name}", "user", "create", (name,)))
            continue
        changes = _changes(dict(user, managed=True), current, ("admin", "enabled", "managed"))
        if user["password"] is not None and desired.update_password == ALWAYS:
            if current["enabled"]:
                if password_ok.get(name) is not True:
                    changes["password"] = user["password"]
            elif user["enabled"]:
                changes["password"] = user["password"]
        if not changes:
            continue
        body = dict(changes, managed=True)
        call = Call(
            "PATCH",
            api_path("users", name),
            body,
            f"update user {name} ({_describe(changes)})",
            "user",
            "update",
            (name,),
        )
        (lowering if changes.get("admin") is False or changes.get("enabled") is False else raising).append(call)
    return created + raising + lowering


def _team_calls(desired: Desired, state: State) -> list[Call]:
    teams, set_members, removed_members = [], [], []
    for team in desired.teams:
        name, current = team["name"], state.teams.get(team["name"])
        if current is None:
            body = {"name": name, "description": team["description"], "managed": True}
            teams.append(Call("POST", "/teams", body, f"create team {name}", "team", "create", (name,)))
            current_members = {}
        else:
            changes = _changes(dict(team, managed=True), current, ("description", "managed"))
            if changes:
                body = {"description": team["description"], "managed": True}
                action = f"update team {name} ({_describe(changes)})"
                teams.append(Call("PATCH", api_path("teams", name), body, action, "team", "update", (name,)))
            current_members = current["members"]
        wanted = {member["user"]: member["role"] for member in team["members"]}
        for user, role in wanted.items():
            if current_members.get(user) != role:
                path = api_path("teams", name, "members", user)
                action = f"set role {role} for {user} in team {name}"
                set_members.append(Call("PUT", path, {"role": role}, action, "member", "set", (name, user)))
        for user in sorted(set(current_members) - set(wanted)):
            path = api_path("teams", name, "members", user)
            action = f"remove {user} from team {name}"
            removed_members.append(Call("DELETE", path, None, action, "member", "remove", (name, user)))
    return teams + set_members + removed_members


def _namespace_calls(desired: Desired, state: State) -> list[Call]:
    calls = []
    for namespace in desired.namespaces:
        name, current = namespace["name"], state.namespaces.get(namespace["name"])
        keys = (
            ("visibility", "description", "managed")
            if name == GLOBAL
            else ("team", "visibility", "description", "managed")
        )
        if current is None:
            body = {key: namespace[key] for key in ("name", "team", "visibility", "description")}
            body["managed"] = True
            calls.append(Call("POST", "/namespaces", body, f"create namespace {name}", "namespace", "create", (name,)))
            continue
        changes = _changes(dict(namespace, managed=True), current, keys)
        if changes:
            action = f"update namespace {name} ({_describe(changes)})"
            calls.append(
                Call(
                    "PATCH",
                    api_path("namespaces", name),
                    dict(changes, managed=True),
                    action,
                    "namespace",
                    "update",
                    (name,),
                )
            )
    return calls


def _robot_calls(desired: Desired, state: State) -> list[Call]:
    robots, grants, rotations = [], [], []
    created = set()
    for robot in desired.robots:
        name, current = robot["name"], state.robots.get(robot["name"])
        wanted = dict(robot, managed=True)
        if wanted["expires_at"] is not None:
            wanted["expires_at"] = normalize_time(wanted["expires_at"])
        if current is None:
            body = {key: wanted[key] for key in ("name", "description", "api_admin", "expires_at", "managed")}
            robots.append(Call("POST", "/robots", body, f"create robot {name}", "robot", "create", (name,)))
            created.add(name)
            # A robot is created enabled: disabling it is a change of its own.
            current = {"description": wanted["description"], "api_admin": wanted["api_admin"], "enabled": True}
            current.update(expires_at=wanted["expires_at"], managed=True, grants={})
        changes = _changes(wanted, current, ("description", "enabled", "api_admin", "expires_at", "managed"))
        if changes:
            action = f"update robot {name} ({_describe(changes)})"
            robots.append(
                Call("PATCH", api_path("robots", name), dict(changes, managed=True), action, "robot", "update", (name,))
            )
        listed = {grant["namespace"]: sorted(set(grant["actions"])) for grant in robot["grants"]}
        for namespace, actions in listed.items():
            if current["grants"].get(namespace) != actions:
                path = api_path("robots", name, "permissions", namespace)
                action = f"grant {','.join(actions)} on namespace {namespace} to robot {name}"
                grants.append(Call("PUT", path, {"actions": actions}, action, "grant", "set", (name, namespace)))
        for namespace in sorted(set(current["grants"]) - set(listed)):
            path = api_path("robots", name, "permissions", namespace)
            action = f"remove the grant on namespace {namespace} from robot {name}"
            grants.append(Call("DELETE", path, None, action, "grant", "remove", (name, namespace)))
    for name in desired.rotate:
        if name not in created:  # a new robot's secret is new already
            action = f"rotate the secret of robot {name}"
            rotations.append(
                Call("POST", api_path("robots", name, "secret"), None, action, "secret", "rotate", (name,))
            )
    return robots + grants + rotations


def removals(desired: Desired, state: State) -> list[Call]:
    """The calls of `exclusive`, the last of a plan: robots, team namespaces, teams, users not listed."""
    calls = []
    exclusive = desired.exclusive
    if exclusive.get("robots"):
        keep = set(desired.names("robots")) | {desired.caller_robot()}
        for name in sorted(set(state.robots) - keep):
            calls.append(
                Call("DELETE", api_path("robots", name), None, f"remove robot {name}", "robot", "remove", (name,))
            )
    if exclusive.get("namespaces"):
        keep = set(desired.names("namespaces"))
        for name in sorted(
            name for name, row in state.namespaces.items() if row["kind"] == "team" and name not in keep
        ):
            calls.append(
                Call(
                    "DELETE",
                    api_path("namespaces", name),
                    None,
                    f"remove namespace {name}",
                    "namespace",
                    "remove",
                    (name,),
                )
            )
    if exclusive.get("teams"):
        for name in sorted(set(state.teams) - set(desired.names("teams"))):
            calls.append(
                Call("DELETE", api_path("teams", name), None, f"remove team {name}", "team", "remove", (name,))
            )
    if exclusive.get("users"):
        keep = set(desired.names("users")) | {desired.caller_user()}
        for name in sorted(set(state.users) - keep):
            calls.append(
                Call("DELETE", api_path("users", name), None, f"remove user {name}", "user", "remove", (name,))
            )
    return calls


def emptied_namespaces(calls: list[Call]) -> dict[str, str]:
    """The namespaces the plan deletes, each with what deletes it ('namespace' or 'user', whose personal one it is).

    The server refuses to delete a namespace that holds repositories; the module asks before it changes anything.
    """
    gone = {}
    for call in calls:
        if call.op == "remove" and call.kind in ("namespace", "user"):
            gone[call.target[0]] = call.kind
    return gone


# ---------------------------------------------------------------- the result, predicted and shown


def apply(state: State, calls: list[Call]) -> State:
    """The state after `calls`, as the server would make it (a new State; `state` is left as it is)."""
    after = copy.deepcopy(state)
    for call in calls:
        _APPLY[call.kind](after, call)
    return after


def _apply_user(state: State, call: Call) -> None:
    name = call.target[0]
    if call.op == "create":
        state.users[name] = {key: call.body[key] for key in ("admin", "enabled", "managed")}
        state.namespaces[name] = {
            "kind": "personal", "team": None, "owner": name, "visibility": "private",
            "description": f"personal namespace of {name}", "managed": None,
        }  # fmt: skip
    elif call.op == "update":
        state.users[name].update({k: v for k, v in call.body.items() if k != "password"})
    else:
        del state.users[name]
        _forget_namespace(state, name)
        for team in state.teams.values():
            team["members"].pop(name, None)


def _forget_namespace(state: State, name: str) -> None:
    state.namespaces.pop(name, None)
    for robot in state.robots.values():
        robot["grants"].pop(name, None)


def _apply_team(state: State, call: Call) -> None:
    name = call.target[0]
    if call.op == "create":
        state.teams[name] = {"description": call.body["description"], "managed": True, "members": {}}
    elif call.op == "update":
        state.teams[name].update(call.body)
    else:
        del state.teams[name]


def _apply_member(state: State, call: Call) -> None:
    team, user = call.target
    if call.op == "set":
        state.teams[team]["members"][user] = call.body["role"]
    else:
        del state.teams[team]["members"][user]


def _apply_namespace(state: State, call: Call) -> None:
    name = call.target[0]
    if call.op == "create":
        state.namespaces[name] = dict({k: v for k, v in call.body.items() if k != "name"}, kind="team", owner=None)
    elif call.op == "update":
        state.namespaces[name].update(call.body)
    else:
        _forget_namespace(state, name)


def _apply_robot(state: State, call: Call) -> None:
    name = call.target[0]
    if call.op == "create":
        row = {k: v for k, v in call.body.items() if k != "name"}
        state.robots[name] = dict(row, enabled=True, grants={})
    elif call.op == "update":
        state.robots[name].update(call.body)
    else:
        del state.robots[name]


def _apply_grant(state: State, call: Call) -> None:
    robot, namespace = call.target
    if call.op == "set":
        state.robots[robot]["grants"][namespace] = list(call.body["actions"])
    else:
        del state.robots[robot]["grants"][namespace]


_APPLY = {
    "user": _apply_user,
    "team": _apply_team,
    "member": _apply_member,
    "namespace": _apply_namespace,
    "robot": _apply_robot,
    "grant": _apply_grant,
    "secret": lambda state, call: None,
}


def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS and not text[0].isdigit():
        return text
    return json.dumps(text, ensure_ascii=False)


def render(state: State, kinds, passwords=()) -> str:
    """The kinds of `state` as YAML-like text for a diff; `passwords`: users shown with 'password: (set)'.

    Never a password or a secret. Personal namespaces are left out: they come and go with their users.
    """
    lines: list[str] = []
    if "users" in kinds:
        lines.append("users:" + ("" if state.users else " {}"))
        for name, user in sorted(state.users.items()):
            lines.append(f"  {_scalar(name)}:")
            lines += [f"    {key}: {_scalar(user.get(key))}" for key in ("admin", "enabled", "managed")]
            if name in passwords:
                lines.append("    password: (set)")
    if "teams" in kinds:
        lines.append("teams:" + ("" if state.teams else " {}"))
        for name, team in sorted(state.teams.items()):
            lines.append(f"  {_scalar(name)}:")
            lines += [f"    {key}: {_scalar(team.get(key))}" for key in ("description", "managed")]
            lines.append("    members:" + ("" if team["members"] else " {}"))
            lines += [f"      {_scalar(user)}: {role}" for user, role in sorted(team["members"].items())]
    if "namespaces" in kinds:
        shown = {name: row for name, row in state.namespaces.items() if row["kind"] != "personal"}
        lines.append("namespaces:" + ("" if shown else " {}"))
        for name, row in sorted(shown.items()):
            lines.append(f"  {_scalar(name)}:")
            keys = (
                ("visibility", "description", "managed")
                if name == GLOBAL
                else ("team", "visibility", "description", "managed")
            )
            lines += [f"    {key}: {_scalar(row.get(key))}" for key in keys]
    if "robots" in kinds:
        lines.append("robots:" + ("" if state.robots else " {}"))
        for name, robot in sorted(state.robots.items()):
            lines.append(f"  {_scalar(name)}:")
            keys = ("description", "enabled", "api_admin", "expires_at", "managed")
            lines += [f"    {key}: {_scalar(robot.get(key))}" for key in keys]
            lines.append("    grants:" + ("" if robot["grants"] else " {}"))
            lines += [
                f"      {_scalar(ns)}: {_scalar(sorted(actions))}" for ns, actions in sorted(robot["grants"].items())
            ]
    return "\n".join(lines) + "\n" if lines else ""


def diff(state: State, calls: list[Call], kinds) -> dict:
    """`before` and `after` texts of the kinds in `kinds`; 'password: (set)' where a password would be set."""
    passwords = {call.target[0] for call in calls if call.sets_password}
    return {"before": render(state, kinds), "after": render(apply(state, calls), kinds, passwords)}
